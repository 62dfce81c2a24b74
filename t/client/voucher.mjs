// A batch-settlement voucher payload as the official client signs it
// (@x402/evm/batch-settlement/client 2.27: computeChannelId, signVoucher),
// for cumulative amount MAX on the channel the offer ACCEPTS (JSON of one
// accepts[] entry) makes for the payer KEY; the voucher may be signed by
// another key (--signer).  Prints the PAYMENT-SIGNATURE value (base64).
//
//   node t/client/voucher.mjs --accepts JSON --max N [--key 0x..]
//        [--signer 0x..] [--salt 0x..]
import { computeChannelId, signVoucher } from '@x402/evm/batch-settlement/client';
import { toClientEvmSigner } from '@x402/evm';
import { getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const opt = {
  key: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  salt: '0x' + '0'.repeat(64),
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  opt[k] = argv[++i];
}

const accepted = JSON.parse(opt.accepts);
const payer = privateKeyToAccount(opt.key);
const signer = toClientEvmSigner(privateKeyToAccount(opt.signer ?? opt.key));
const config = {
  payer: payer.address,
  payerAuthorizer: payer.address,
  receiver: getAddress(accepted.payTo),
  receiverAuthorizer: getAddress(accepted.extra.receiverAuthorizer),
  token: getAddress(accepted.asset),
  withdrawDelay: accepted.extra.withdrawDelay,
  salt: opt.salt,
};
const channelId = computeChannelId(config, accepted.network);
const voucher = await signVoucher(signer, channelId, String(opt.max), accepted.network);
const payload = { x402Version: 2, accepted, payload: { type: 'voucher', channelConfig: config, voucher } };
console.log(Buffer.from(JSON.stringify(payload)).toString('base64'));
