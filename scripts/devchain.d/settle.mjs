// Test helper: settle an x402 Permit2 payment on the devchain, the way a
// facilitator does (exact: settle(permit, owner, witness, sig) 0x13cd3b53;
// upto: settle(permit, amount, owner, witness, sig) 0xff11e7b4).
//
//   node settle.mjs --key 0xSUBMITTER_KEY [--rpc URL] [--payload FILE|-]
//                   [--amount ATOMIC] [--proxy 0x..] [--send-anyway]
//
// --calldata-only: print {"calldata":"0x..."} and exit (no RPC, no key).
// --payload: a PaymentPayload as JSON, or a base64 PAYMENT-SIGNATURE value
//   (default: stdin).  The scheme comes from accepted.scheme (or from the
//   presence of witness.facilitator); --amount is the upto charge (default:
//   the signed cap).
// First simulates with eth_call from the submitter.  If that reverts, prints
// {"ok":false,"stage":"simulate","error":"0x<selector>","errorName":...} and
// exits 3 without sending (or sends anyway with a fixed gas limit when
// --send-anyway is given, to get a mined, reverted transaction).  On success
// prints {"ok":true,"txHash":...,"status":"success",...} and exits 0.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createPublicClient, createWalletClient, http, defineChain, encodeFunctionData, toFunctionSelector,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ADDR, CHAIN_ID, rpcUrl } from './accounts.mjs';

const { values: opt } = parseArgs({
  options: {
    rpc: { type: 'string' }, key: { type: 'string' }, payload: { type: 'string', default: '-' },
    amount: { type: 'string' }, proxy: { type: 'string' }, 'send-anyway': { type: 'boolean', default: false },
    'calldata-only': { type: 'boolean', default: false },
  },
});
function out(obj, code) {
  console.log(JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  process.exit(code);
}
if (!opt.key && !opt['calldata-only']) out({ ok: false, stage: 'usage', message: '--key is required' }, 2);
const url = opt.rpc || rpcUrl();

const PERMIT = { name: 'permit', type: 'tuple', components: [
  { name: 'permitted', type: 'tuple', components: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }] },
  { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] };
const EXACT_ABI = [{ type: 'function', name: 'settle', stateMutability: 'nonpayable', outputs: [], inputs: [
  PERMIT, { name: 'owner', type: 'address' },
  { name: 'witness', type: 'tuple', components: [{ name: 'to', type: 'address' }, { name: 'validAfter', type: 'uint256' }] },
  { name: 'signature', type: 'bytes' }] }];
const UPTO_ABI = [{ type: 'function', name: 'settle', stateMutability: 'nonpayable', outputs: [], inputs: [
  PERMIT, { name: 'amount', type: 'uint256' }, { name: 'owner', type: 'address' },
  { name: 'witness', type: 'tuple', components: [{ name: 'to', type: 'address' }, { name: 'facilitator', type: 'address' }, { name: 'validAfter', type: 'uint256' }] },
  { name: 'signature', type: 'bytes' }] }];

const ERRORS = {};
for (const sig of ['InvalidAmount()', 'InvalidDestination()', 'InvalidOwner()', 'PaymentTooEarly()',
  'Permit2612AmountMismatch()', 'InvalidPermit2Address()', 'ReentrancyGuardReentrantCall()',
  'AmountExceedsPermitted()', 'UnauthorizedFacilitator()', 'SignatureExpired(uint256)', 'InvalidNonce()',
  'InvalidAmount(uint256)', 'InvalidSignature()', 'InvalidSigner()', 'InvalidSignatureLength()',
  'InvalidContractSignature()', 'Error(string)', 'Panic(uint256)',
  'ERC20InsufficientBalance(address,uint256,uint256)', 'ERC20InsufficientAllowance(address,uint256,uint256)']) {
  ERRORS[toFunctionSelector(sig)] = sig;
}

let text = opt.payload === '-' ? readFileSync(0, 'utf8') : readFileSync(opt.payload, 'utf8');
text = text.trim();
if (!text.startsWith('{')) text = Buffer.from(text, 'base64').toString('utf8');
const pp = JSON.parse(text);
const auth = pp.payload?.permit2Authorization;
if (!auth) out({ ok: false, stage: 'usage', message: 'payload.permit2Authorization missing' }, 2);
const upto = (pp.accepted?.scheme ?? (auth.witness.facilitator ? 'upto' : 'exact')) === 'upto';
const proxy = opt.proxy || (upto ? ADDR.uptoProxy : ADDR.exactProxy);
const permit = { permitted: { token: auth.permitted.token, amount: BigInt(auth.permitted.amount) },
  nonce: BigInt(auth.nonce), deadline: BigInt(auth.deadline) };
const amount = upto ? BigInt(opt.amount ?? auth.permitted.amount) : permit.permitted.amount;
const data = upto
  ? encodeFunctionData({ abi: UPTO_ABI, functionName: 'settle', args: [permit, amount, auth.from,
    { to: auth.witness.to, facilitator: auth.witness.facilitator, validAfter: BigInt(auth.witness.validAfter) }, pp.payload.signature] })
  : encodeFunctionData({ abi: EXACT_ABI, functionName: 'settle', args: [permit, auth.from,
    { to: auth.witness.to, validAfter: BigInt(auth.witness.validAfter) }, pp.payload.signature] });

if (opt['calldata-only']) out({ ok: true, stage: 'encode', scheme: upto ? 'upto' : 'exact', proxy, calldata: data }, 0);
const account = privateKeyToAccount(opt.key);
const base = { scheme: upto ? 'upto' : 'exact', proxy, from: account.address, owner: auth.from, to: auth.witness.to, amount };

async function rpc(method, params) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  return r.json();
}

const sim = await rpc('eth_call', [{ from: account.address, to: proxy, data }, 'latest']);
let simError = null;
if (sim.error) {
  let d = sim.error.data;
  if (d && typeof d === 'object') d = d.data;
  const sel = typeof d === 'string' && d.length >= 10 ? d.slice(0, 10).toLowerCase() : null;
  simError = { ok: false, stage: 'simulate', ...base, error: sel, errorName: sel ? ERRORS[sel] ?? null : null,
    data: d ?? null, message: sim.error.message };
  if (!opt['send-anyway']) out(simError, 3);
}

const chain = defineChain({ id: CHAIN_ID, name: 'devchain-base',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } });
const transport = http(url, { retryCount: 0 });
const pub = createPublicClient({ chain, transport, pollingInterval: 50 });
const wallet = createWalletClient({ chain, transport, account, pollingInterval: 50 });
try {
  const hash = await wallet.sendTransaction({ to: proxy, data, ...(simError ? { gas: 1_000_000n } : {}) });
  const r = await pub.waitForTransactionReceipt({ hash, timeout: 20_000 });
  const res = { ...base, txHash: hash, status: r.status, gasUsed: r.gasUsed, blockNumber: r.blockNumber,
    calldataBytes: (data.length - 2) / 2 };
  if (r.status === 'success' && !simError) out({ ok: true, stage: 'mined', ...res }, 0);
  out({ ...(simError || {}), ...res, ok: false, stage: 'mined' }, 3);
} catch (e) {
  out({ ok: false, stage: 'send', ...base, message: e?.shortMessage || e?.message || String(e) }, 1);
}
