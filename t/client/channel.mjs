// Pays batch-settlement URLs the way an agent does, with the official x402
// packages (@x402/fetch + @x402/evm/batch-settlement/client 2.27): one
// client, so one channel, for every request; prints one JSON line with
// each request's statuses (every attempt), its decoded PAYMENT-RESPONSE
// and the channel id.
//
//   node t/client/channel.mjs --rpc URL [--key 0x..] [--n N] [--c C]
//        [--salt 0x..] [--deposit ATOMIC] URL [URL ...]
//   (request i goes to URL i mod k; --deposit: what the client deposits,
//   through its depositStrategy option, instead of minDeposit)
import { x402Client, wrapFetchWithPayment, decodePaymentResponseHeader } from '@x402/fetch';
import { BatchSettlementEvmScheme } from '@x402/evm/batch-settlement/client';
import { toClientEvmSigner } from '@x402/evm';
import { createPublicClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const DEFAULT_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

const opt = { key: DEFAULT_KEY, n: 1, c: 1, urls: [], rpc: null, salt: undefined, deposit: undefined };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--key') opt.key = argv[++i];
  else if (a === '--n') opt.n = Number(argv[++i]);
  else if (a === '--c') opt.c = Number(argv[++i]);
  else if (a === '--rpc') opt.rpc = argv[++i];
  else if (a === '--salt') opt.salt = argv[++i];
  else if (a === '--deposit') opt.deposit = argv[++i];
  else opt.urls.push(a);
}
if (!opt.urls.length || !opt.rpc) {
  console.error('usage: channel.mjs --rpc URL [--key K] [--n N] [--c C] URL...');
  process.exit(2);
}

const account = privateKeyToAccount(opt.key);
const pub = createPublicClient({ transport: http(opt.rpc) });
const signer = toClientEvmSigner(account, pub);
const options = {};
if (opt.salt) options.salt = opt.salt;
if (opt.deposit) options.depositStrategy = () => opt.deposit;
const scheme = new BatchSettlementEvmScheme(signer, Object.keys(options).length ? options : undefined);
const client = new x402Client().register('eip155:*', scheme).setSpendControls(false);

const results = new Array(opt.n);
let next = 0;

async function one(i) {
  const attempts = [];
  const recordingFetch = async (input, init) => {
    const res = await fetch(input, init);
    attempts.push(res.status);
    return res;
  };
  const pay = wrapFetchWithPayment(recordingFetch, client);
  const r = { attempts };
  try {
    const res = await pay(opt.urls[i % opt.urls.length]);
    r.status = res.status;
    const pr = res.headers.get('payment-response');
    r.paymentResponse = pr ? decodePaymentResponseHeader(pr) : null;
    const req = res.headers.get('payment-required');
    if (req) r.error = JSON.parse(Buffer.from(req, 'base64').toString('utf8')).error;
    r.body = (await res.text()).slice(0, 200);
  } catch (e) {
    r.error = String(e && e.message ? e.message : e);
  }
  results[i] = r;
}

async function worker() {
  while (next < opt.n) {
    await one(next++);
  }
}

await Promise.all(Array.from({ length: Math.max(1, opt.c) }, worker));
console.log(JSON.stringify({ payer: account.address, results }));
