// sign: pre-sign a pool of x402 payments with the OFFICIAL client
// (@x402/fetch 2.27 x402Client + @x402/evm ExactEvmScheme or UptoEvmScheme,
// as offered,
// viem account), exactly as t/client/pay.mjs pays: fetch the URL once, take
// its 402 PAYMENT-REQUIRED, and let the client build a PaymentPayload for it,
// N times (each with a fresh random Permit2 nonce).  Writes one
// PAYMENT-SIGNATURE header value (encodePaymentSignatureHeader) per line.
//
//   node scripts/bench.d/sign.mjs URL COUNT OUTFILE [--key 0x..]
import { writeFileSync } from 'node:fs';
import { x402Client } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { toClientEvmSigner } from '@x402/evm';
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from '@x402/core/http';
import { privateKeyToAccount } from 'viem/accounts';

const [url, countArg, out, ...rest] = process.argv.slice(2);
const ki = rest.indexOf('--key');
// anvil/hardhat account #0 (the devchain payer): a public test key
const key = ki >= 0 ? rest[ki + 1] : '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const count = Number(countArg);
if (!url || !out || !Number.isInteger(count) || count < 1) {
  console.error('usage: sign.mjs URL COUNT OUTFILE [--key 0x..]');
  process.exit(2);
}

const res = await fetch(url);
const pr = res.headers.get('payment-required');
if (res.status !== 402 || !pr) {
  console.error(`sign: ${url} answered ${res.status} without PAYMENT-REQUIRED`);
  process.exit(1);
}
const paymentRequired = decodePaymentRequiredHeader(pr);

const signer = toClientEvmSigner(privateKeyToAccount(key));
const client = new x402Client()
  .register('eip155:*', new ExactEvmScheme(signer))
  .register('eip155:*', new UptoEvmScheme(signer))
  .setSpendControls(false);

const t0 = process.hrtime.bigint();
const lines = new Array(count);
for (let i = 0; i < count; i++) {
  lines[i] = encodePaymentSignatureHeader(await client.createPaymentPayload(paymentRequired));
}
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
writeFileSync(out, `${lines.join('\n')}\n`);
console.error(`sign: ${count} payments for ${url} in ${ms.toFixed(0)} ms (${(ms / count).toFixed(2)} ms each)`);
