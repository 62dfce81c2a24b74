// channels: batch-settlement load for scripts/bench, with the OFFICIAL
// client (@x402/evm/batch-settlement/client 2.27: BatchSettlementEvmScheme,
// computeChannelId, signVoucher).
//
//   node channels.mjs pool URL OUT --rpc RPC --channels K --count N --threads T [--key 0x..]
//     opens K channels of one payer (salts 1..K; each first request is its
//     deposit, paid through the client), then signs N vouchers into OUT, one
//     PAYMENT-SIGNATURE per line, in the order pool.lua hands them out: wrk
//     thread t takes lines t, t+T, ...; its j-th is step 2 + j div M of its
//     channel t*M + j mod M (M = K/T), so a channel's next voucher is sent
//     only after M - (connections of the thread) others, once its previous
//     one is answered.
//   node channels.mjs gas URL --rpc RPC [--n 100] [--key 0x..]
//     pays N requests through one new channel, waits for its claim and
//     sweep, and prints the gas of its deposit, claim and sweep (from the
//     receipts) as one JSON line.
import { writeFileSync } from 'node:fs';
import { x402Client, wrapFetchWithPayment } from '@x402/fetch';
import { BatchSettlementEvmScheme, computeChannelId, signVoucher } from '@x402/evm/batch-settlement/client';
import { toClientEvmSigner } from '@x402/evm';
import { decodePaymentRequiredHeader } from '@x402/core/http';
import { createPublicClient, http, getAddress, keccak256, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const BS = '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003';
const [mode, url, ...rest] = process.argv.slice(2);
const opt = { key: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', n: '100' };
const pos = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i].startsWith('--')) opt[rest[i].slice(2)] = rest[++i];
  else pos.push(rest[i]);
}
const account = privateKeyToAccount(opt.key);
const pub = createPublicClient({ transport: http(opt.rpc) });
const signer = toClientEvmSigner(account, pub);
const salt = (c) => `0x${c.toString(16).padStart(64, '0')}`;

function payer(s) {
  const client = new x402Client()
    .register('eip155:*', new BatchSettlementEvmScheme(signer, { salt: s }))
    .setSpendControls(false);
  return wrapFetchWithPayment(fetch, client);
}

async function requirements() {
  const res = await fetch(url);
  const pr = res.headers.get('payment-required');
  if (res.status !== 402 || !pr) throw new Error(`${url} answered ${res.status} without PAYMENT-REQUIRED`);
  return decodePaymentRequiredHeader(pr).accepts[0];
}

function configOf(req, s) {
  return {
    payer: account.address, payerAuthorizer: account.address, receiver: getAddress(req.payTo),
    receiverAuthorizer: getAddress(req.extra.receiverAuthorizer), token: getAddress(req.asset),
    withdrawDelay: req.extra.withdrawDelay, salt: s,
  };
}

async function pool(out) {
  const k = Number(opt.channels), count = Number(opt.count), t = Number(opt.threads);
  const m = Math.max(1, Math.floor(k / t));
  const req = await requirements();
  const t0 = Date.now();
  for (let c = 0; c < t * m; c += 32) {
    await Promise.all(Array.from({ length: Math.min(32, t * m - c) }, async (_, i) => {
      const res = await payer(salt(c + i + 1))(url);
      if (res.status !== 200) throw new Error(`channel ${c + i + 1}: its deposit answered ${res.status}`);
    }));
  }
  const t1 = Date.now();
  const ids = Array.from({ length: t * m }, (_, c) => computeChannelId(configOf(req, salt(c + 1)), req.network));
  const price = BigInt(req.amount);
  const lines = new Array(count);
  for (let i = 0; i < count; i++) {
    const th = i % t, j = Math.floor(i / t);
    const c = th * m + (j % m), step = BigInt(2 + Math.floor(j / m));
    const voucher = await signVoucher(signer, ids[c], (step * price).toString(), req.network);
    const payload = { x402Version: 2, accepted: req,
      payload: { type: 'voucher', channelConfig: configOf(req, salt(c + 1)), voucher } };
    lines[i] = Buffer.from(JSON.stringify(payload)).toString('base64');
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
  console.error(`channels: ${t * m} channels opened in ${t1 - t0} ms, ${count} vouchers signed in ${Date.now() - t1} ms`);
}

const topic = (s) => keccak256(toBytes(s));
const T = {
  deposited: topic('Deposited(bytes32,address,uint128,uint128)'),
  claimed: topic('Claimed(bytes32,address,uint128,uint128)'),
  settled: topic('Settled(address,address,address,uint128)'),
};

async function gas() {
  const n = Number(opt.n);
  const s = salt(0xfffff);
  const req = await requirements();
  const id = computeChannelId(configOf(req, s), req.network);
  const from = await pub.getBlockNumber();
  const pay = payer(s);
  for (let i = 0; i < n; i++) {
    const res = await pay(url);
    if (res.status !== 200) throw new Error(`request ${i}: ${res.status}`);
    await res.arrayBuffer();
  }
  const logs = async (t0, t1) => pub.request({ method: 'eth_getLogs',
    params: [{ address: BS, fromBlock: `0x${from.toString(16)}`, toBlock: 'latest', topics: [t0, t1 ?? null] }] });
  let claim, sweep;
  for (let w = 0; w < 240 && !(claim && sweep); w++) {
    await new Promise((r) => setTimeout(r, 500));
    [claim] = await logs(T.claimed, id);
    if (claim) [sweep] = (await logs(T.settled)).filter((l) => BigInt(l.blockNumber) >= BigInt(claim.blockNumber));
  }
  if (!claim || !sweep) throw new Error('no claim and sweep of the channel within 120 s');
  const [dep] = await logs(T.deposited, id);
  const used = async (h) => Number((await pub.getTransactionReceipt({ hash: h })).gasUsed);
  const claimRcpt = await pub.getTransactionReceipt({ hash: claim.transactionHash });
  const rows = claimRcpt.logs.filter((l) => l.topics[0] === T.claimed).length;
  console.log(JSON.stringify({ requests: n, deposit_gas: await used(dep.transactionHash),
    claim_gas: Number(claimRcpt.gasUsed), claim_rows: rows, sweep_gas: await used(sweep.transactionHash) }));
}

if (mode === 'pool' && url && pos[0]) await pool(pos[0]);
else if (mode === 'gas' && url) await gas();
else {
  console.error('usage: channels.mjs pool URL OUT --rpc R --channels K --count N --threads T | gas URL --rpc R [--n N]');
  process.exit(2);
}
