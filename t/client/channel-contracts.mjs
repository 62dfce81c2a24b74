// Drives the devchain's x402 batch-settlement contracts
// (scripts/devchain.d/X402BatchSettlement.sol, Permit2DepositCollector.sol)
// with the OFFICIAL client (@x402/evm/batch-settlement/client, pinned
// 2.27.0): its deposit payloads (Permit2), vouchers, channel ids, and the
// ClaimBatch / Refund signatures and contract ABI its server and facilitator
// use, then checks the contracts behave as the scheme says.  Prints one TAP
// line per check ("ok - ..." / "not ok - ... # got/want") and "# done".
//
//   node t/client/channel-contracts.mjs RPC_URL
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchSettlementEvmScheme, computeChannelId, signVoucher } from '@x402/evm/batch-settlement/client';
import { toClientEvmSigner } from '@x402/evm';
import {
  encodeAbiParameters, encodeFunctionData, decodeFunctionResult, keccak256, toHex, zeroAddress, parseAbi,
  hashTypedData, getAddress, toFunctionSelector,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ADDR, ACCOUNTS } from '../../scripts/devchain.d/accounts.mjs';
import { BATCH_ABI, COLLECTOR_ABI } from '../../scripts/devchain.d/batch-abi.mjs';
import { clients, transact, channelState, revertOf, json } from '../../scripts/devchain.d/channel.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CHANNEL = join(ROOT, 'scripts', 'devchain.d', 'channel.mjs');
const url = process.argv[2] || process.env.X402_RPC_URL;
const NETWORK = 'eip155:8453';
const c = clients(url);
const { pub } = c;

// ---- TAP ------------------------------------------------------------------
let failed = 0;
const ok = (name, cond, detail = '') => {
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} - ${name}${!cond && detail ? ` # ${detail}` : ''}`);
  return cond;
};
const is = (name, got, want) => ok(name, String(got) === String(want), `got ${got}, want ${want}`);
const reverts = (name, r, errorName) => ok(name, r && r.ok === false && r.errorName === errorName,
  `got ${json(r)}, want revert ${errorName}`);

// ---- the official package's internals: its contract ABI (what its
// facilitator calls), its typed-data types and authorizer signing
// (server side), found in the package's own chunks ---------------------------
async function official(names) {
  const dir = join(ROOT, 'node_modules', '@x402', 'evm', 'dist', 'esm');
  const found = {};
  for (const f of readdirSync(dir).filter((f) => /^chunk-.*\.mjs$/.test(f))) {
    const m = readFileSync(join(dir, f), 'utf8').match(/\nexport \{([^}]*)\}/);
    const exported = m ? m[1].split(',').map((s) => s.trim()) : [];
    const here = names.filter((n) => exported.includes(n) && !(n in found));
    if (here.length) {
      const mod = await import(join(dir, f));
      for (const n of here) found[n] = mod[n];
    }
  }
  for (const n of names) if (!(n in found)) throw new Error(`@x402/evm has no internal export ${n}`);
  return found;
}
const O = await official(['batchSettlementABI', 'signClaimBatch', 'signRefund', 'voucherTypes', 'refundTypes',
  'claimBatchTypes', 'batchPermit2WitnessTypes', 'BATCH_SETTLEMENT_ADDRESS', 'PERMIT2_DEPOSIT_COLLECTOR_ADDRESS',
  'MIN_WITHDRAW_DELAY', 'MAX_WITHDRAW_DELAY', 'getBatchSettlementEip712Domain']);
// the ChannelConfig type string, as the package hashes it (a literal in its code)
const channelConfigTypeString = (() => {
  const dir = join(ROOT, 'node_modules', '@x402', 'evm', 'dist', 'esm');
  for (const f of readdirSync(dir).filter((f) => /^chunk-.*\.mjs$/.test(f))) {
    const m = readFileSync(join(dir, f), 'utf8').match(/"(ChannelConfig\([^"]*\))"/);
    if (m) return m[1];
  }
  throw new Error('no ChannelConfig type string in @x402/evm');
})();
// EIP-712 encodeType (primary type, then the referenced ones sorted)
function encodeType(primary, types) {
  const deps = new Set();
  const walk = (t) => {
    for (const f of types[t]) {
      const base = f.type.replace(/\[\d*\]$/, '');
      if (types[base] && !deps.has(base) && base !== primary) { deps.add(base); walk(base); }
    }
  };
  walk(primary);
  return [primary, ...[...deps].sort()].map((t) => `${t}(${types[t].map((f) => `${f.type} ${f.name}`).join(',')})`).join('');
}

const ABI = O.batchSettlementABI; // every call below is encoded with the official ABI
const ERC20 = parseAbi(['function balanceOf(address) view returns (uint256)']);
const bal = (who) => pub.readContract({ address: ADDR.asset, abi: ERC20, functionName: 'balanceOf', args: [who] });
const read = (functionName, args = []) => pub.readContract({ address: ADDR.batchSettlement, abi: BATCH_ABI, functionName, args });
const send = (role, fn, args) => transact(c, ACCOUNTS[role].key, fn, args, ABI);
const cli = (...args) => {
  try {
    return { rc: 0, out: execFileSync('node', [CHANNEL, '--rpc', url, ...args], { encoding: 'utf8' }) };
  } catch (e) {
    return { rc: e.status, out: e.stdout || '' };
  }
};
const rpc = (method, params = []) => pub.request({ method, params });
const names = (r) => (r.events || []).map((e) => e.event).join(',');
const ev = (r, name) => (r.events || []).find((e) => e.event === name)?.args;

const A = ACCOUNTS;
const payer = privateKeyToAccount(A.payer.key);
const authorizer = privateKeyToAccount(A.walletOwner.key); // receiverAuthorizer: an EOA that claims
const P = 10n ** 15n; // the price of one request (0.001 OPG)
const D = 10n * P; // the deposit (extra.minDeposit)
const fromBlock = await pub.getBlockNumber();

// ---- interface and constants ------------------------------------------------
is('client BATCH_SETTLEMENT_ADDRESS is the devchain contract', getAddress(O.BATCH_SETTLEMENT_ADDRESS), ADDR.batchSettlement);
is('client PERMIT2_DEPOSIT_COLLECTOR_ADDRESS is the devchain collector', getAddress(O.PERMIT2_DEPOSIT_COLLECTOR_ADDRESS), ADDR.permit2Collector);
{
  const code = (await pub.getCode({ address: ADDR.batchSettlement })) || '0x';
  const missing = ABI.filter((i) => i.type === 'function')
    .filter((i) => !code.includes(toFunctionSelector(i).slice(2)));
  ok('every function of the official ABI has its selector in the contract', missing.length === 0, missing.map((i) => i.name).join());
}
is('CHANNEL_CONFIG_TYPEHASH == keccak(the client\'s ChannelConfig type)', await read('CHANNEL_CONFIG_TYPEHASH'), keccak256(toHex(channelConfigTypeString)));
is('VOUCHER_TYPEHASH == keccak(encodeType(client voucherTypes))', await read('VOUCHER_TYPEHASH'), keccak256(toHex(encodeType('Voucher', O.voucherTypes))));
is('REFUND_TYPEHASH == keccak(encodeType(client refundTypes))', await read('REFUND_TYPEHASH'), keccak256(toHex(encodeType('Refund', O.refundTypes))));
is('CLAIM_BATCH_TYPEHASH == keccak(encodeType(client claimBatchTypes))', await read('CLAIM_BATCH_TYPEHASH'), keccak256(toHex(encodeType('ClaimBatch', O.claimBatchTypes))));
is('CLAIM_ENTRY_TYPEHASH == keccak(encodeType(ClaimEntry))', await read('CLAIM_ENTRY_TYPEHASH'), keccak256(toHex(encodeType('ClaimEntry', O.claimBatchTypes))));
is('MIN_WITHDRAW_DELAY == client\'s', await read('MIN_WITHDRAW_DELAY'), O.MIN_WITHDRAW_DELAY);
is('MAX_WITHDRAW_DELAY == client\'s', await read('MAX_WITHDRAW_DELAY'), O.MAX_WITHDRAW_DELAY);
{
  const d = await read('eip712Domain');
  const want = O.getBatchSettlementEip712Domain(8453);
  is('eip712Domain() == the client\'s domain', json([d[1], d[2], d[3], getAddress(d[4])]), json([want.name, want.version, 8453n, want.verifyingContract]));
}
is('DEPOSIT_WITNESS_TYPEHASH == keccak(encodeType(client DepositWitness))',
  await pub.readContract({ address: ADDR.permit2Collector, abi: COLLECTOR_ABI, functionName: 'DEPOSIT_WITNESS_TYPEHASH' }),
  keccak256(toHex(encodeType('DepositWitness', O.batchPermit2WitnessTypes))));

// ---- a deposit payload from the official client -------------------------------
const requirements = {
  scheme: 'batch-settlement', network: NETWORK, amount: P.toString(), asset: ADDR.asset, payTo: A.payTo.address,
  maxTimeoutSeconds: 3600,
  extra: { receiverAuthorizer: authorizer.address, withdrawDelay: 900, assetTransferMethod: 'permit2',
    name: 'OpenGradient', version: '1', minDeposit: D.toString() },
};
const salt = keccak256(toHex(`t/047 ${Date.now()} ${process.pid}`));
const payerSigner = toClientEvmSigner(payer, pub);
const scheme = new BatchSettlementEvmScheme(payerSigner, { salt });
const result = await scheme.createPaymentPayload(2, requirements);
const pl = result.payload;
is('client builds a deposit payload', pl.type, 'deposit');
const config = { ...pl.channelConfig, withdrawDelay: Number(pl.channelConfig.withdrawDelay) };
const id = computeChannelId(config, NETWORK);
is('payload voucher channelId == computeChannelId', pl.voucher.channelId, id);
is('getChannelId(config) == client computeChannelId', await read('getChannelId', [config]), id);
is('client config: payerAuthorizer is the payer', config.payerAuthorizer, payer.address);
is('client deposit amount is extra.minDeposit', pl.deposit.amount, D);
const p2 = pl.deposit.authorization.permit2Authorization;
is('Permit2 spender is the collector', getAddress(p2.spender), ADDR.permit2Collector);
console.log(`# channel ${id} ${json(config)}`);

const collectorData = encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }, { type: 'bytes' }],
  [BigInt(p2.nonce), BigInt(p2.deadline), p2.signature, '0x']);
const payer0 = await bal(payer.address);
const contract0 = await bal(ADDR.batchSettlement);
const receiver0 = await bal(A.payTo.address);
const [rc0, rs0] = await read('receivers', [A.payTo.address, ADDR.asset]); // 0, 0 on a fresh chain

reverts('deposit through a zero collector reverts InvalidCollector', await send('settler', 'deposit', [config, D, zeroAddress, collectorData]), 'InvalidCollector');
reverts('deposit of 0 reverts ZeroDeposit', await send('settler', 'deposit', [config, 0n, ADDR.permit2Collector, collectorData]), 'ZeroDeposit');
reverts('withdrawDelay 899 reverts WithdrawDelayOutOfRange',
  await send('settler', 'deposit', [{ ...config, withdrawDelay: 899 }, D, ADDR.permit2Collector, collectorData]), 'WithdrawDelayOutOfRange');
reverts('withdrawDelay 30 days + 1 reverts WithdrawDelayOutOfRange',
  await send('settler', 'deposit', [{ ...config, withdrawDelay: 2592001 }, D, ADDR.permit2Collector, collectorData]), 'WithdrawDelayOutOfRange');
reverts('receiverAuthorizer 0 reverts InvalidChannel',
  await send('settler', 'deposit', [{ ...config, receiverAuthorizer: zeroAddress }, D, ADDR.permit2Collector, collectorData]), 'InvalidChannel');
{
  const w = c.wallet(A.settler.key);
  let r = null;
  try {
    await pub.simulateContract({ address: ADDR.permit2Collector, abi: COLLECTOR_ABI, functionName: 'collect',
      args: [payer.address, ADDR.asset, D, id, collectorData], account: w.account });
  } catch (e) { r = { ok: false, ...revertOf(e) }; }
  reverts('collect called directly reverts OnlyX402BatchSettlement', r, 'OnlyX402BatchSettlement');
}

let r = await send('settler', 'deposit', [config, D, ADDR.permit2Collector, collectorData]);
ok('deposit(config, amount, PERMIT2_COLLECTOR, collectorData) from the settler succeeds', r.ok, json(r));
is('deposit emits ChannelCreated then Deposited', names(r), 'ChannelCreated,Deposited');
is('ChannelCreated carries the channel id and config', json([ev(r, 'ChannelCreated')?.channelId, ev(r, 'ChannelCreated')?.config]), json([id, config]));
is('Deposited(channelId, settler, amount, newBalance)', json(Object.values(ev(r, 'Deposited') || {})), json([id, A.settler.address, D, D]));
is('payer paid exactly the deposit', await bal(payer.address), payer0 - D);
is('contract holds exactly the deposit more', await bal(ADDR.batchSettlement), contract0 + D);
let st = await channelState(pub, id);
is('channel state after deposit', json([st.balance, st.totalClaimed]), json([D, 0n]));
{
  // storage as the deployed contract's: channels is mapping slot 2 (after
  // OpenZeppelin EIP712's two fallback strings), {balance, totalClaimed} in one word
  const slot = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [id, 2n]));
  is('channels[id] is at keccak(id . 2), balance in the low 128 bits', BigInt(await pub.getStorageAt({ address: ADDR.batchSettlement, slot })), D);
}
reverts('replaying the Permit2 deposit (same nonce) reverts InvalidNonce (Permit2)',
  await send('settler', 'deposit', [config, D, ADDR.permit2Collector, collectorData]), 'InvalidNonce');
{
  const fresh = new BatchSettlementEvmScheme(payerSigner, { salt });
  const again = await fresh.createPaymentPayload(2, requirements);
  is('a new client instance recovers the channel from chain: a voucher, no deposit', again.payload.type, 'voucher');
}

// ---- claims -------------------------------------------------------------------
const voucher = async (max, signer = payerSigner) => (await signVoucher(signer, id, max.toString(), NETWORK)).signature;
const row = (max, sig, total, cfg = config) => ({ voucher: { channel: cfg, maxClaimableAmount: max }, signature: sig, totalClaimed: total });
is('getVoucherDigest == client voucher typed-data hash', await read('getVoucherDigest', [id, 3n * P]),
  hashTypedData({ domain: O.getBatchSettlementEip712Domain(8453), types: O.voucherTypes, primaryType: 'Voucher', message: { channelId: id, maxClaimableAmount: 3n * P } }));
const v3 = await voucher(3n * P);
r = await send('walletOwner', 'claim', [[row(3n * P, v3, 2n * P)]]);
ok('claim by the receiverAuthorizer succeeds', r.ok, json(r));
is('Claimed(channelId, sender, claimAmount, newTotalClaimed)', json(Object.values(ev(r, 'Claimed') || {})), json([id, authorizer.address, 2n * P, 2n * P]));
is('a claim moves no tokens', await bal(A.payTo.address), receiver0);
r = await send('walletOwner', 'claim', [[row(3n * P, v3, 2n * P)]]);
ok('the same claim again (same totalClaimed) succeeds', r.ok, json(r));
is('... and is a no-op: no event', names(r), '');
is('... totalClaimed unchanged', (await channelState(pub, id)).totalClaimed, 2n * P);
reverts('totalClaimed > maxClaimableAmount reverts ClaimExceedsCeiling', await send('walletOwner', 'claim', [[row(3n * P, v3, 4n * P)]]), 'ClaimExceedsCeiling');
reverts('totalClaimed > balance reverts ClaimExceedsBalance',
  await send('walletOwner', 'claim', [[row(D + P, await voucher(D + P), D + P)]]), 'ClaimExceedsBalance');
reverts('a voucher signed by another key reverts InvalidSignature',
  await send('walletOwner', 'claim', [[row(3n * P, await voucher(3n * P, toClientEvmSigner(privateKeyToAccount(A.payer2.key))), 3n * P)]]), 'InvalidSignature');
reverts('claim from a non-receiver-side account reverts NotAuthorizedToClaim', await send('settler', 'claim', [[row(3n * P, v3, 3n * P)]]), 'NotAuthorizedToClaim');
reverts('an empty claim batch reverts EmptyBatch', await send('walletOwner', 'claim', [[]]), 'EmptyBatch');
{
  // OpenZeppelin ECDSA for the committed payerAuthorizer key
  const N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141n;
  const s = BigInt('0x' + v3.slice(66, 130));
  const v = parseInt(v3.slice(130, 132), 16);
  const high = v3.slice(0, 66) + (N - s).toString(16).padStart(64, '0') + (v === 27 ? '1c' : '1b');
  reverts('a high-s (malleable) voucher signature reverts ECDSAInvalidSignatureS', await send('walletOwner', 'claim', [[row(3n * P, high, 3n * P)]]), 'ECDSAInvalidSignatureS');
  reverts('v = 0/1 reverts ECDSAInvalidSignature', await send('walletOwner', 'claim', [[row(3n * P, v3.slice(0, 130) + (v - 27).toString(16).padStart(2, '0'), 3n * P)]]), 'ECDSAInvalidSignature');
  reverts('a 64-byte signature reverts ECDSAInvalidSignatureLength', await send('walletOwner', 'claim', [[row(3n * P, v3.slice(0, 130), 3n * P)]]), 'ECDSAInvalidSignatureLength');
  const rows = [row(3n * P, v3, 3n * P)];
  const badSig = await O.signClaimBatch(privateKeyToAccount(A.payer2.key), rows, NETWORK);
  reverts('claimWithSignature signed by another key reverts InvalidSignature', await send('settler', 'claimWithSignature', [rows, badSig]), 'InvalidSignature');
  const batchSig = await O.signClaimBatch(authorizer, rows, NETWORK);
  const hs = BigInt('0x' + batchSig.slice(66, 130));
  const hv = parseInt(batchSig.slice(130, 132), 16);
  reverts('claimWithSignature with the authorizer\'s high-s twin reverts InvalidSignature',
    await send('settler', 'claimWithSignature', [rows, batchSig.slice(0, 66) + (N - hs).toString(16).padStart(64, '0') + (hv === 27 ? '1c' : '1b')]), 'InvalidSignature');
  is('getClaimBatchDigest == the client\'s ClaimBatch typed-data hash', await read('getClaimBatchDigest', [rows]),
    hashTypedData({ domain: O.getBatchSettlementEip712Domain(8453), types: O.claimBatchTypes, primaryType: 'ClaimBatch',
      message: { claims: [{ channelId: id, maxClaimableAmount: 3n * P, totalClaimed: 3n * P }] } }));
  r = await send('settler', 'claimWithSignature', [rows, batchSig]);
  ok('claimWithSignature with the receiverAuthorizer\'s ClaimBatch signature works from any account', r.ok, json(r));
  is('... Claimed by the relayer for the difference', json(Object.values(ev(r, 'Claimed') || {})), json([id, A.settler.address, P, 3n * P]));
}

// ---- settle ------------------------------------------------------------------
r = await send('settler', 'settle', [A.payTo.address, ADDR.asset]);
ok('settle(receiver, token) by anyone succeeds', r.ok, json(r));
is('Settled(receiver, token, sender, amount)', json(Object.values(ev(r, 'Settled') || {})), json([A.payTo.address, ADDR.asset, A.settler.address, 3n * P]));
is('receiver got exactly what was claimed', await bal(A.payTo.address), receiver0 + 3n * P);
is('contract paid exactly that', await bal(ADDR.batchSettlement), contract0 + D - 3n * P);
r = await send('settler', 'settle', [A.payTo.address, ADDR.asset]);
is('settle with nothing due is a no-op', `${r.ok} ${names(r)}`, 'true ');
{
  const o = JSON.parse(cli('receiver', A.payTo.address, ADDR.asset).out || '{}');
  is('channel.mjs receiver: totals', json([o.totalClaimed, o.totalSettled]), json([rc0 + 3n * P, rs0 + 3n * P]));
}

// ---- timed withdrawal ---------------------------------------------------------
const cfgJson = json(config);
const avail = D - 3n * P;
let x = cli('withdraw', 'payer', cfgJson, String(avail + 1n));
ok('initiateWithdraw above the unclaimed balance reverts WithdrawAmountExceedsAvailable',
  x.rc === 3 && /WithdrawAmountExceedsAvailable/.test(x.out), x.out);
x = cli('withdraw', 'settler', cfgJson, '1');
ok('initiateWithdraw by a non-payer reverts InvalidChannel', x.rc === 3 && /"InvalidChannel"/.test(x.out), x.out);
x = cli('withdraw', 'payer', cfgJson, String(avail));
ok('channel.mjs withdraw payer: initiateWithdraw within the available works', x.rc === 0, x.out);
{
  const o = JSON.parse(x.out || '{}');
  const e = (o.events || []).find((e) => e.event === 'WithdrawInitiated');
  const blk = await pub.getBlock({ blockNumber: BigInt(o.blockNumber || 0) });
  is('WithdrawInitiated(channelId, amount, now + withdrawDelay)', json(e && [e.args.channelId, e.args.amount, e.args.finalizeAfter]),
    json([id, avail.toString(), Number(blk.timestamp) + 900]));
  st = JSON.parse(cli('state', id).out || '{}');
  is('channel.mjs state shows the pending withdrawal', json([st.withdrawAmount, st.withdrawInitiatedAt]), json([avail.toString(), Number(blk.timestamp)]));
}
x = cli('withdraw', 'payer', cfgJson, '1');
ok('a second initiateWithdraw reverts WithdrawalAlreadyPending', x.rc === 3 && /WithdrawalAlreadyPending/.test(x.out), x.out);
x = cli('finalize', 'payer', cfgJson);
ok('finalize before the delay reverts WithdrawDelayNotElapsed', x.rc === 3 && /WithdrawDelayNotElapsed/.test(x.out), x.out);
// a claim lands during the window
const v4 = await voucher(4n * P);
r = await send('walletOwner', 'claim', [[row(4n * P, v4, 4n * P)]]);
ok('a claim during the withdraw window succeeds', r.ok, json(r));
await rpc('evm_increaseTime', [901]);
await rpc('evm_mine', []);
x = cli('finalize', 'settler', cfgJson);
ok('finalize by a non-payer reverts NotAuthorizedToFinalizeWithdraw', x.rc === 3 && /NotAuthorizedToFinalizeWithdraw/.test(x.out), x.out);
const payer1 = await bal(payer.address);
x = cli('finalize', 'payer', cfgJson);
ok('channel.mjs finalize payer after evm_increaseTime works', x.rc === 0, x.out);
{
  const o = JSON.parse(x.out || '{}');
  const e = (o.events || []).find((e) => e.event === 'WithdrawFinalized');
  is('WithdrawFinalized pays the requested amount less the claim made meanwhile', json(e && [e.args.channelId, e.args.sender, e.args.amount]),
    json([id, A.payer.address, (avail - P).toString()]));
}
is('payer received exactly that', await bal(payer.address), payer1 + avail - P);
st = await channelState(pub, id);
is('state after finalize: balance = claimed, no withdrawal pending', json(st), json({ balance: 4n * P, totalClaimed: 4n * P, refundNonce: 0n, withdrawAmount: 0n, withdrawInitiatedAt: 0 }));
x = cli('finalize', 'payer', cfgJson);
ok('finalize with nothing pending reverts WithdrawalNotPending', x.rc === 3 && /WithdrawalNotPending/.test(x.out), x.out);

// ---- refunds --------------------------------------------------------------------
reverts('refund from a non-receiver-side account reverts NotAuthorizedToRefund', await send('settler', 'refund', [config, 1n]), 'NotAuthorizedToRefund');
reverts('refund of 0 reverts ZeroRefund', await send('payTo', 'refund', [config, 0n]), 'ZeroRefund');
const refundSig0 = await O.signRefund(authorizer, id, P.toString(), '0', NETWORK);
is('getRefundDigest == the client\'s Refund typed-data hash', await read('getRefundDigest', [id, 0n, P]),
  hashTypedData({ domain: O.getBatchSettlementEip712Domain(8453), types: O.refundTypes, primaryType: 'Refund', message: { channelId: id, nonce: 0n, amount: P } }));
r = await send('payTo', 'refund', [config, P]);
is('a refund with nothing unclaimed succeeds without a Refunded event', `${r.ok} ${names(r)}`, 'true ');
is('... yet the refund nonce advanced first', await read('refundNonce', [id]), 1n);
reverts('a Refund signed for the old nonce reverts InvalidRefundNonce', await send('settler', 'refundWithSignature', [config, P, 0n, refundSig0]), 'InvalidRefundNonce');
// a top-up with the official client (a fresh instance recovers the channel from chain)
{
  const fresh = new BatchSettlementEvmScheme(payerSigner, { salt });
  const top = (await fresh.createPaymentPayload(2, requirements)).payload;
  is('client tops the drained channel up', top.type, 'deposit');
  const a = top.deposit.authorization.permit2Authorization;
  r = await send('settler', 'deposit', [config, BigInt(top.deposit.amount),
    ADDR.permit2Collector, encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }, { type: 'bytes' }],
      [BigInt(a.nonce), BigInt(a.deadline), a.signature, '0x'])]);
  ok('top-up deposit succeeds', r.ok, json(r));
  is('a top-up emits Deposited only (no ChannelCreated)', names(r), 'Deposited');
  is('Deposited newBalance', ev(r, 'Deposited')?.newBalance, 4n * P + BigInt(top.deposit.amount));
}
st = await channelState(pub, id);
const unclaimed = st.balance - st.totalClaimed;
x = cli('withdraw', 'payer', cfgJson, String(3n * P));
ok('initiateWithdraw of 3P after the top-up', x.rc === 0, x.out);
const payer2 = await bal(payer.address);
const sig1 = await O.signRefund(authorizer, id, P.toString(), '1', NETWORK);
reverts('refundWithSignature signed by another key reverts InvalidSignature',
  await send('settler', 'refundWithSignature', [config, P, 1n, await O.signRefund(privateKeyToAccount(A.payer2.key), id, P.toString(), '1', NETWORK)]), 'InvalidSignature');
r = await send('settler', 'refundWithSignature', [config, P, 1n, sig1]);
ok('refundWithSignature by anyone with the receiverAuthorizer\'s Refund signature', r.ok, json(r));
is('Refunded(channelId, sender, amount)', json(Object.values(ev(r, 'Refunded') || {})), json([id, A.settler.address, P]));
is('refund paid the payer', await bal(payer.address), payer2 + P);
st = await channelState(pub, id);
is('refund nonce 2; the pending withdrawal shrank by the refund', json([st.refundNonce, st.withdrawAmount]), json([2n, 2n * P]));
reverts('replaying the Refund signature reverts InvalidRefundNonce', await send('settler', 'refundWithSignature', [config, P, 1n, sig1]), 'InvalidRefundNonce');
r = await send('walletOwner', 'refund', [config, 10n ** 30n]);
ok('refund of more than unclaimed by the receiverAuthorizer succeeds', r.ok, json(r));
is('... capped at the unclaimed balance', ev(r, 'Refunded')?.amount, unclaimed - P);
st = await channelState(pub, id);
is('state: balance = claimed, refund nonce 3, the withdrawal cancelled', json(st),
  json({ balance: 4n * P, totalClaimed: 4n * P, refundNonce: 3n, withdrawAmount: 0n, withdrawInitiatedAt: 0 }));

// ---- a channel drained by a full refund closes ------------------------------------
{
  const cs = new BatchSettlementEvmScheme(toClientEvmSigner(privateKeyToAccount(A.payer2.key), pub), { salt });
  const cp = (await cs.createPaymentPayload(2, requirements)).payload;
  const ccfg = { ...cp.channelConfig, withdrawDelay: Number(cp.channelConfig.withdrawDelay) };
  const a = cp.deposit.authorization.permit2Authorization;
  r = await send('settler', 'deposit', [ccfg, BigInt(cp.deposit.amount), ADDR.permit2Collector,
    encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }, { type: 'bytes' }],
      [BigInt(a.nonce), BigInt(a.deadline), a.signature, '0x'])]);
  ok('payer2 opens a channel', r.ok && names(r) === 'ChannelCreated,Deposited', json(r));
  r = await send('payTo', 'refund', [ccfg, BigInt(cp.deposit.amount)]);
  is('a full refund with nothing claimed emits Refunded then ChannelClosed', names(r), 'Refunded,ChannelClosed');
  is('ChannelClosed carries the channel id', ev(r, 'ChannelClosed')?.channelId, computeChannelId(ccfg, NETWORK));
}

// ---- EIP-1271: a contract wallet payer (payerAuthorizer 0) -----------------------
let walletDeposit = 0n;
{
  const owner = privateKeyToAccount(A.walletOwner.key);
  const walletSigner = toClientEvmSigner({ address: ADDR.wallet, signTypedData: (m) => owner.signTypedData(m) }, pub);
  const ws = new BatchSettlementEvmScheme(walletSigner, { salt, payerAuthorizer: zeroAddress });
  const wp = (await ws.createPaymentPayload(2, requirements)).payload;
  const wcfg = { ...wp.channelConfig, withdrawDelay: Number(wp.channelConfig.withdrawDelay) };
  const wid = computeChannelId(wcfg, NETWORK);
  is('wallet channel: payerAuthorizer 0', wcfg.payerAuthorizer, zeroAddress);
  const a = wp.deposit.authorization.permit2Authorization;
  r = await send('settler', 'deposit', [wcfg, BigInt(wp.deposit.amount), ADDR.permit2Collector,
    encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }, { type: 'bytes' }],
      [BigInt(a.nonce), BigInt(a.deadline), a.signature, '0x'])]);
  ok('deposit from the EIP-1271 wallet (Permit2 checks the wallet)', r.ok, json(r));
  walletDeposit = BigInt(wp.deposit.amount);
  const wrow = (sig, total) => ({ voucher: { channel: wcfg, maxClaimableAmount: BigInt(wp.voucher.maxClaimableAmount) }, signature: sig, totalClaimed: total });
  reverts('wallet voucher signed by a non-owner reverts InvalidSignature (EIP-1271 says no)',
    await send('walletOwner', 'claim', [[wrow((await signVoucher(payerSigner, wid, wp.voucher.maxClaimableAmount, NETWORK)).signature, P)]]), 'InvalidSignature');
  r = await send('walletOwner', 'claim', [[wrow(wp.voucher.signature, P)]]);
  ok('the wallet\'s voucher (owner-signed, EIP-1271) is claimed', r.ok, json(r));
  is('... Claimed', ev(r, 'Claimed')?.newTotalClaimed, P);
}

// ---- multicall (OpenZeppelin Multicall: delegatecalls, bubbles reverts) -------------
{
  const data = [encodeFunctionData({ abi: ABI, functionName: 'getChannelId', args: [config] }),
    encodeFunctionData({ abi: ABI, functionName: 'channels', args: [id] })];
  const { result } = await pub.simulateContract({ address: ADDR.batchSettlement, abi: ABI, functionName: 'multicall', args: [data],
    account: A.settler.address });
  is('multicall returns each call\'s result', json([decodeFunctionResult({ abi: ABI, functionName: 'getChannelId', data: result[0] }),
    decodeFunctionResult({ abi: ABI, functionName: 'channels', data: result[1] })]), json([id, [4n * P, 4n * P]]));
  reverts('multicall bubbles a call\'s revert (claim as the settler: NotAuthorizedToClaim)',
    await send('settler', 'multicall', [[encodeFunctionData({ abi: ABI, functionName: 'claim', args: [[row(4n * P, v4, 4n * P)]] })]]), 'NotAuthorizedToClaim');
  r = await send('walletOwner', 'multicall', [[encodeFunctionData({ abi: ABI, functionName: 'claim', args: [[row(4n * P, v4, 4n * P)]] }),
    encodeFunctionData({ abi: ABI, functionName: 'settle', args: [A.payTo.address, ADDR.asset] })]]);
  ok('multicall(claim, settle) from the receiverAuthorizer (msg.sender kept)', r.ok, json(r));
  is('... settles what was claimed since (P from channel A, P from the wallet channel)', ev(r, 'Settled')?.amount, 2n * P);
}

// ---- the whole log, and the money ------------------------------------------------------
{
  const lines = (cli('logs', String(fromBlock)).out || '').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const seen = new Set(lines.map((l) => l.event));
  for (const e of ['ChannelCreated', 'Deposited', 'Claimed', 'Settled', 'WithdrawInitiated', 'WithdrawFinalized', 'Refunded']) {
    ok(`channel.mjs logs has ${e}`, seen.has(e), [...seen].join());
  }
  is('channel.mjs logs: the first event is ChannelCreated of the channel', json([lines[0]?.event, lines[0]?.args?.channelId]), json(['ChannelCreated', id]));
}
{
  const [rc, rs] = await read('receivers', [A.payTo.address, ADDR.asset]);
  const sA = await channelState(pub, id);
  is('everything claimed is settled', json([rc - rc0, rs - rs0]), json([5n * P, 5n * P]));
  is('the contract holds exactly the channels\' balances less what was settled',
    await bal(ADDR.batchSettlement), contract0 + sA.balance + walletDeposit - (rs - rs0));
}
console.log(failed ? `# ${failed} failed` : '# done');
process.exit(failed ? 1 : 0);
