// Captures real anvil JSON-RPC replies for test_settle.c into
// lib/test/anvil-replies.json: the settlement round trip of one exact
// Permit2 payment on the devchain (fees batch, eth_sendRawTransaction,
// receipts) and the node's error replies.
//
//   DEVCHAIN_DIR=/tmp/dc DEVCHAIN_PORT=18645 scripts/devchain start
//   X402_RPC_URL=http://127.0.0.1:18645 \
//       node lib/test/gen/anvil-replies.mjs > lib/test/anvil-replies.json
//   DEVCHAIN_DIR=/tmp/dc scripts/devchain stop
//
// Each entry is {name, request, reply, expect}: `reply` is the node's
// response body verbatim (a string, so its bytes reach the C parser as
// the node sent them) and `expect` what a parser must read from it, worked
// out here with viem / BigInt, independently of libx402.  Hashes, block
// numbers and fees change from run to run; the test only uses `expect`.
// The JSON-RPC ids are those the C builders would use: fees 10..13, send
// 20, receipts 30.

import { encodeFunctionData, keccak256 } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const url = process.env.X402_RPC_URL || 'http://127.0.0.1:8545';
const CHAIN_ID = 8453;
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const PROXY = '0x402085c248EeA27D92E8b30b2C58ed07f9E20001';
const ASSET = '0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB';
const PAY_TO = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const payer = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
const settler = privateKeyToAccount('0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a');
// a key anvil does not fund
const pauper = privateKeyToAccount('0x' + '00'.repeat(31) + '07');

const EXACT_ABI = [{ type: 'function', name: 'settle', stateMutability: 'nonpayable', outputs: [], inputs: [
    { name: 'permit', type: 'tuple', components: [
        { name: 'permitted', type: 'tuple', components: [
            { name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }] },
        { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
    { name: 'owner', type: 'address' },
    { name: 'witness', type: 'tuple', components: [
        { name: 'to', type: 'address' }, { name: 'validAfter', type: 'uint256' }] },
    { name: 'signature', type: 'bytes' }] }];

async function rpc(body) {
    const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
    return res.text();
}

const q = (v) => BigInt(v).toString();
const entries = [];

function feesBatch(data, from) {
    return [
        { jsonrpc: '2.0', id: 10, method: 'eth_maxPriorityFeePerGas', params: [] },
        { jsonrpc: '2.0', id: 11, method: 'eth_getBlockByNumber', params: ['latest', false] },
        { jsonrpc: '2.0', id: 12, method: 'eth_estimateGas',
          params: [{ from: from.toLowerCase(), to: PROXY.toLowerCase(), data }] },
        { jsonrpc: '2.0', id: 13, method: 'eth_getTransactionCount',
          params: [from.toLowerCase(), 'pending'] },
    ];
}

function feesExpect(reply) {
    const byId = Object.fromEntries(JSON.parse(reply).map((e) => [e.id, e]));
    const est = byId[12];
    return {
        priorityFee: q(byId[10].result),
        baseFee: q(byId[11].result.baseFeePerGas),
        estimateOk: est.error ? 0 : 1,
        gasEstimate: est.error ? '0' : q(est.result),
        hasRevert: est.error && typeof est.error.data === 'string' && est.error.data.length >= 10 ? 1 : 0,
        revert: est.error && typeof est.error.data === 'string' ? est.error.data.slice(0, 10) : '',
        pendingNonce: q(byId[13].result),
    };
}

async function capture(name, request, expectFn) {
    const reply = await rpc(request);
    const e = { name, request, reply, expect: expectFn(reply) };
    entries.push(e);
    return e;
}

// a fresh exact Permit2 payment of 1 OPG from the payer to PAY_TO
const block = JSON.parse(await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: ['latest', false] })).result;
const now = BigInt(block.timestamp);
const permit = {
    permitted: { token: ASSET, amount: 10n ** 18n },
    nonce: BigInt(keccak256(new TextEncoder().encode('anvil-replies ' + now))),
    deadline: now + 3600n,
};
const witness = { to: PAY_TO, validAfter: 0n };
const signature = await payer.signTypedData({
    domain: { name: 'Permit2', chainId: CHAIN_ID, verifyingContract: PERMIT2 },
    types: {
        PermitWitnessTransferFrom: [
            { name: 'permitted', type: 'TokenPermissions' }, { name: 'spender', type: 'address' },
            { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
            { name: 'witness', type: 'Witness' }],
        TokenPermissions: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }],
        Witness: [{ name: 'to', type: 'address' }, { name: 'validAfter', type: 'uint256' }],
    },
    primaryType: 'PermitWitnessTransferFrom',
    message: { permitted: permit.permitted, spender: PROXY, nonce: permit.nonce,
               deadline: permit.deadline, witness },
});
const data = encodeFunctionData({ abi: EXACT_ABI, functionName: 'settle',
                                  args: [permit, payer.address, witness, signature] });

// 1. fees with a good estimate
const fees = await capture('fees-ok', feesBatch(data, settler.address), feesExpect);
const fx = fees.expect;
const maxFee = 2n * BigInt(fx.baseFee) + BigInt(fx.priorityFee);
const gas = BigInt(fx.gasEstimate) * 12n / 10n;

async function signed(account, nonce, g, d, to = PROXY) {
    const raw = await account.signTransaction({
        type: 'eip1559', chainId: CHAIN_ID, nonce, gas: g, to, value: 0n, data: d,
        maxPriorityFeePerGas: BigInt(fx.priorityFee), maxFeePerGas: maxFee,
    });
    return { raw, hash: keccak256(raw) };
}

function sendReq(raw) {
    return { jsonrpc: '2.0', id: 20, method: 'eth_sendRawTransaction', params: [raw] };
}

function sendExpect(reply) {
    const r = JSON.parse(reply);
    return r.error ? { ok: 0, message: r.error.message } : { ok: 1, hash: r.result };
}

function receiptReq(hash) {
    return { jsonrpc: '2.0', id: 30, method: 'eth_getTransactionReceipt', params: [hash] };
}

function receiptExpect(reply) {
    const r = JSON.parse(reply).result;
    return r === null ? { found: 0 }
                      : { found: 1, status: Number(BigInt(r.status)), block: q(r.blockNumber) };
}

// 2. broadcast the settlement (anvil mines it at once) and read its receipt
const tx1 = await signed(settler, Number(fx.pendingNonce), gas, data);
const s1 = await capture('send-ok', sendReq(tx1.raw), sendExpect);
if (s1.expect.hash !== tx1.hash) throw new Error('send-ok: node hash differs from keccak(raw)');
s1.expect.txHash = tx1.hash;
await capture('receipt-success', receiptReq(tx1.hash), receiptExpect);

// 3. the same payment again: the estimate reverts with InvalidNonce()
const fees2 = await capture('fees-revert-invalid-nonce', feesBatch(data, settler.address), feesExpect);

// 4. sent anyway with a fixed gas limit: mined and reverted
const tx2 = await signed(settler, Number(fees2.expect.pendingNonce), 300000n, data);
await capture('send-ok-will-revert', sendReq(tx2.raw), sendExpect);
await capture('receipt-reverted', receiptReq(tx2.hash), receiptExpect);

// 5. errors: a used nonce, an unfunded sender
const tx3 = await signed(settler, 0, 300000n, data);
await capture('send-nonce-too-low', sendReq(tx3.raw), sendExpect);
const tx4 = await signed(pauper, 0, 300000n, data);
await capture('send-insufficient-funds', sendReq(tx4.raw), sendExpect);

// 6. a hash the node does not know
await capture('receipt-null', receiptReq('0x' + '5a'.repeat(32)), receiptExpect);

process.stdout.write(JSON.stringify({
    comment: 'real anvil replies captured by lib/test/gen/anvil-replies.mjs (see there)',
    generator: 'lib/test/gen/anvil-replies.mjs',
    entries,
}, null, 2) + '\n');
