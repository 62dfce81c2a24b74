// Test helper for the batch-settlement channels on the devchain
// (x402BatchSettlement at ADDR.batchSettlement).  Prints JSON.
//
//   node channel.mjs [--rpc URL] state <channelId>
//        {"balance","totalClaimed","refundNonce","withdrawAmount","withdrawInitiatedAt"}
//   node channel.mjs withdraw <role> <channelConfigJSON> <amount>   initiateWithdraw
//   node channel.mjs finalize <role> <channelConfigJSON>            finalizeWithdraw
//   node channel.mjs receiver <receiver> <token>   {"totalClaimed","totalSettled"}
//   node channel.mjs logs <fromBlock>               the contract's events, one JSON line each
//
// <role> is an account of accounts.mjs (payer, settler, ...).  withdraw and
// finalize simulate first: a revert prints {"ok":false,"error":"0x<selector>",
// "errorName":...} and exits 3; else the transaction is sent and
// {"ok":true,"txHash","status","blockNumber","events":[...]} printed (exit 0).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPublicClient, createWalletClient, http, defineChain, decodeEventLog, parseAbi, BaseError,
  ContractFunctionRevertedError,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ADDR, ACCOUNTS, CHAIN_ID, rpcUrl } from './accounts.mjs';
import { BATCH_ABI, COLLECTOR_ABI } from './batch-abi.mjs';

// the contract's errors, the collector's and Permit2's (bubbled up through a deposit)
export const ERRORS_ABI = [
  ...BATCH_ABI.filter((i) => i.type === 'error'), ...COLLECTOR_ABI.filter((i) => i.type === 'error'),
  ...parseAbi(['error InvalidNonce()', 'error SignatureExpired(uint256 signatureDeadline)', 'error InvalidSigner()',
    'error InvalidAmount(uint256 maxAmount)', 'error InvalidContractSignature()', 'error InvalidSignatureLength()']),
];
const CALL_ABI = [...BATCH_ABI.filter((i) => i.type !== 'error'), ...ERRORS_ABI];

export const json = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

export function clients(url = rpcUrl()) {
  const chain = defineChain({
    id: CHAIN_ID, name: 'devchain-base', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  const transport = http(url, { retryCount: 0, timeout: 10_000 });
  const pub = createPublicClient({ chain, transport, pollingInterval: 50 });
  const wallet = (key) => createWalletClient({ chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 });
  return { pub, wallet };
}

// {error: selector, errorName, args} of a reverted call, or null if it is not a revert
export function revertOf(e) {
  const r = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : null;
  if (!r) return null;
  const raw = r.raw ?? r.data?.raw ?? null;
  return { error: raw ? raw.slice(0, 10) : r.signature ?? null, errorName: r.data?.errorName ?? r.errorName ?? null,
    args: r.data?.args ?? [] };
}

export function decodeLogs(logs) {
  const out = [];
  for (const l of logs) {
    try {
      const d = decodeEventLog({ abi: BATCH_ABI, data: l.data, topics: l.topics });
      out.push({ block: l.blockNumber, tx: l.transactionHash, logIndex: l.logIndex, event: d.eventName, args: d.args });
    } catch { /* not one of the contract's events */ }
  }
  return out;
}

export async function channelState(pub, channelId) {
  const rd = (functionName) => pub.readContract({ address: ADDR.batchSettlement, abi: BATCH_ABI, functionName, args: [channelId] });
  const [[balance, totalClaimed], refundNonce, [withdrawAmount, withdrawInitiatedAt]] =
    await Promise.all([rd('channels'), rd('refundNonce'), rd('pendingWithdrawals')]);
  return { balance, totalClaimed, refundNonce, withdrawAmount, withdrawInitiatedAt };
}

// simulate, then send; {ok:false,...} on a revert in the simulation
// (abi: the functions to encode with; the errors are added)
export async function transact({ pub, wallet }, key, functionName, args, abi = CALL_ABI) {
  const w = wallet(key);
  const call = { address: ADDR.batchSettlement, abi: abi === CALL_ABI ? abi : [...abi, ...ERRORS_ABI], functionName, args,
    account: w.account };
  try {
    await pub.simulateContract(call);
  } catch (e) {
    const r = revertOf(e);
    if (!r) throw e;
    return { ok: false, ...r };
  }
  const hash = await w.writeContract(call);
  const rc = await pub.waitForTransactionReceipt({ hash });
  const events = decodeLogs(rc.logs.filter((l) => l.address.toLowerCase() === ADDR.batchSettlement.toLowerCase()));
  return { ok: rc.status === 'success', txHash: hash, status: rc.status, blockNumber: rc.blockNumber, events };
}

function parseConfig(s) {
  const c = JSON.parse(s);
  return { ...c, withdrawDelay: Number(c.withdrawDelay) };
}

function keyOf(role) {
  if (!ACCOUNTS[role]) throw new Error(`unknown role ${role} (one of ${Object.keys(ACCOUNTS).join(', ')})`);
  return ACCOUNTS[role].key;
}

async function main(argv) {
  let url = rpcUrl();
  if (argv[0] === '--rpc') { url = argv[1]; argv = argv.slice(2); }
  const c = clients(url);
  const [cmd, ...a] = argv;
  const usage = () => { console.error('usage: channel.mjs [--rpc URL] state ID | withdraw ROLE CONFIG AMOUNT | finalize ROLE CONFIG | receiver RECEIVER TOKEN | logs FROM_BLOCK'); process.exit(2); };
  if (cmd === 'state' && a.length === 1) {
    console.log(json(await channelState(c.pub, a[0])));
  } else if (cmd === 'receiver' && a.length === 2) {
    const [totalClaimed, totalSettled] = await c.pub.readContract({
      address: ADDR.batchSettlement, abi: BATCH_ABI, functionName: 'receivers', args: [a[0], a[1]] });
    console.log(json({ totalClaimed, totalSettled }));
  } else if (cmd === 'logs' && a.length === 1) {
    const logs = await c.pub.getLogs({ address: ADDR.batchSettlement, fromBlock: BigInt(a[0]), toBlock: 'latest' });
    for (const l of decodeLogs(logs)) console.log(json(l));
  } else if ((cmd === 'withdraw' && a.length === 3) || (cmd === 'finalize' && a.length === 2)) {
    const args = cmd === 'withdraw' ? [parseConfig(a[1]), BigInt(a[2])] : [parseConfig(a[1])];
    const r = await transact(c, keyOf(a[0]), cmd === 'withdraw' ? 'initiateWithdraw' : 'finalizeWithdraw', args);
    console.log(json(r));
    process.exit(r.ok ? 0 : 3);
  } else {
    usage();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.log(json({ ok: false, stage: 'error', message: e?.shortMessage || e?.message || String(e) }));
    process.exit(1);
  });
}
