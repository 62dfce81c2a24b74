// Pays a URL the way an agent does, with the official x402 packages
// (@x402/fetch + @x402/evm + @x402/core 2.27, pinned in package-lock.json),
// and prints one JSON line: the status of every attempt, the decoded
// PAYMENT-REQUIRED of the first 402, the decoded PAYMENT-RESPONSE, the body.
//
//   node t/client/pay.mjs URL [--key 0x..] [--method POST] [--body JSON]
//
// OPG is not one of the client's default assets, so spend controls are off.
import { x402Client, wrapFetchWithPayment, decodePaymentResponseHeader } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { toClientEvmSigner } from '@x402/evm';
import { privateKeyToAccount } from 'viem/accounts';

// anvil/hardhat account #0: a public test key, never fund it for real
const DEFAULT_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

function args(argv) {
  const out = { url: null, key: DEFAULT_KEY, method: 'GET', body: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--key') out.key = argv[++i];
    else if (a === '--method') out.method = argv[++i];
    else if (a === '--body') out.body = argv[++i];
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
const signer = toClientEvmSigner(privateKeyToAccount(opt.key));
const client = new x402Client()
  .register('eip155:*', new ExactEvmScheme(signer))
  .register('eip155:*', new UptoEvmScheme(signer))
  .setSpendControls(false);

const attempts = [];
let paymentRequired = null;
const recordingFetch = async (input, init) => {
  const res = await fetch(input, init);
  attempts.push(res.status);
  if ((res.status === 402 || res.status === 412) && !paymentRequired) {
    paymentRequired = decodeB64Json(res.headers.get('payment-required'));
  }
  return res;
};

const out = { attempts };
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
