// Pays a URL the way an agent does, with the official x402 packages
// (@x402/fetch + @x402/evm + @x402/core 2.27, pinned in package-lock.json),
// and prints one JSON line: the status of every attempt, the decoded
// PAYMENT-REQUIRED of the first 402, the decoded PAYMENT-RESPONSE, the body.
//
//   node t/client/pay.mjs URL [--key 0x..] [--method POST] [--body JSON]
//                            [--from WALLET --erc6492 FACTORY:0xCALLDATA]
//
// --from/--erc6492: a smart wallet that is not deployed yet, as smart-wallet
// SDKs sign for one: the payer is WALLET, each signature the key's wrapped
// by viem's serializeErc6492Signature with the wallet's deployment.  The
// report then also has the PAYMENT-SIGNATURE of the paid attempt.
//
// OPG is not one of the client's default assets, so spend controls are off.
import { x402Client, wrapFetchWithPayment, decodePaymentResponseHeader } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { toClientEvmSigner } from '@x402/evm';
import { privateKeyToAccount } from 'viem/accounts';
import { getAddress, serializeErc6492Signature } from 'viem';

// anvil/hardhat account #0: a public test key, never fund it for real
const DEFAULT_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

function args(argv) {
  const out = { url: null, key: DEFAULT_KEY, method: 'GET', body: undefined, from: null, erc6492: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--key') out.key = argv[++i];
    else if (a === '--method') out.method = argv[++i];
    else if (a === '--body') out.body = argv[++i];
    else if (a === '--from') out.from = argv[++i];
    else if (a === '--erc6492') out.erc6492 = argv[++i].split(':');
    else out.url = a;
  }
  if (!out.url) {
    console.error('usage: pay.mjs URL [--key 0x..] [--method M] [--body B]');
    process.exit(2);
  }
  return out;
}

function decodeB64Json(v) {
  return v ? JSON.parse(Buffer.from(v, 'base64').toString('utf8')) : null;
}

const opt = args(process.argv.slice(2));
const account = privateKeyToAccount(opt.key);
const signer = opt.from
  ? {
      address: getAddress(opt.from),
      async signTypedData(td) {
        const signature = await account.signTypedData(td);
        if (!opt.erc6492) return signature;
        const [address, data] = opt.erc6492;
        return serializeErc6492Signature({ address: getAddress(address), data, signature });
      },
    }
  : toClientEvmSigner(account);
const client = new x402Client()
  .register('eip155:*', new ExactEvmScheme(signer))
  .register('eip155:*', new UptoEvmScheme(signer))
  .setSpendControls(false);

const attempts = [];
const out = { attempts };
let paymentRequired = null;
const recordingFetch = async (input, init) => {
  const res = await fetch(input, init);
  attempts.push(res.status);
  // the client sends a Request whose headers carry the payment
  const sent = input instanceof Request ? input.headers.get('payment-signature') : null;
  if (sent) out.paymentSignature = sent;
  if ((res.status === 402 || res.status === 412) && !paymentRequired) {
    paymentRequired = decodeB64Json(res.headers.get('payment-required'));
  }
  return res;
};

try {
  const pay = wrapFetchWithPayment(recordingFetch, client);
  const init = { method: opt.method };
  if (opt.body !== undefined) {
    init.body = opt.body;
    init.headers = { 'Content-Type': 'application/json' };
  }
  const res = await pay(opt.url, init);
  out.status = res.status;
  const pr = res.headers.get('payment-response');
  out.paymentResponse = pr ? decodePaymentResponseHeader(pr) : null;
  out.finalPaymentRequired = decodeB64Json(res.headers.get('payment-required'));
  out.body = await res.text();
} catch (e) {
  out.error = String(e && e.message ? e.message : e);
}
out.paymentRequired = paymentRequired;
console.log(JSON.stringify(out));
