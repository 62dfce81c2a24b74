// Test helper: asks the devchain's Multicall3 (its canonical address) what
// Base's answers, and prints one JSON object: getChainId, getEthBalance of
// an account, aggregate3 with a failing call allowed and not allowed,
// tryAggregate with requireSuccess, aggregate3Value with a wrong value.
//
//   node multicall.mjs --rpc URL --who 0xACCOUNT --token 0xERC20
import { parseArgs } from 'node:util';
import { createPublicClient, http, encodeFunctionData, parseAbi } from 'viem';
import { ADDR } from './accounts.mjs';

const { values: opt } = parseArgs({
  options: { rpc: { type: 'string' }, who: { type: 'string' }, token: { type: 'string' } },
});
const pub = createPublicClient({ transport: http(opt.rpc) });
const abi = parseAbi([
  'struct Call { address target; bytes callData; }',
  'struct Call3 { address target; bool allowFailure; bytes callData; }',
  'struct Call3Value { address target; bool allowFailure; uint256 value; bytes callData; }',
  'struct Result { bool success; bytes returnData; }',
  'function aggregate3(Call3[] calls) payable returns (Result[])',
  'function aggregate3Value(Call3Value[] calls) payable returns (Result[])',
  'function tryAggregate(bool requireSuccess, Call[] calls) payable returns (Result[])',
  'function getChainId() view returns (uint256)',
  'function getEthBalance(address) view returns (uint256)',
]);
const erc20 = parseAbi(['function balanceOf(address) view returns (uint256)',
  'function transfer(address,uint256) returns (bool)']);
const mc = { address: ADDR.multicall3, abi };
const balanceOf = encodeFunctionData({ abi: erc20, functionName: 'balanceOf', args: [opt.who] });
// a transfer from Multicall3, which holds no tokens: reverts
const failing = encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [opt.who, 1n] });

const reason = async (p) => {
  try { await p; return null; } catch (e) { return e.shortMessage || e.message; }
};
const out = {
  chainId: String(await pub.readContract({ ...mc, functionName: 'getChainId' })),
  ethBalance: String(await pub.readContract({ ...mc, functionName: 'getEthBalance', args: [opt.who] })),
  aggregate3: (await pub.simulateContract({ ...mc, functionName: 'aggregate3', args: [[
    { target: opt.token, allowFailure: false, callData: balanceOf },
    { target: opt.token, allowFailure: true, callData: failing },
  ]] })).result.map((r) => ({ success: r.success, returnData: r.returnData })),
  aggregate3Strict: await reason(pub.simulateContract({ ...mc, functionName: 'aggregate3', args: [[
    { target: opt.token, allowFailure: false, callData: failing },
  ]] })),
  tryAggregate: (await pub.simulateContract({ ...mc, functionName: 'tryAggregate', args: [false, [
    { target: opt.token, callData: failing }, { target: opt.token, callData: balanceOf },
  ]] })).result.map((r) => r.success),
  tryAggregateStrict: await reason(pub.simulateContract({ ...mc, functionName: 'tryAggregate', args: [true, [
    { target: opt.token, callData: failing },
  ]] })),
  valueMismatch: await reason(pub.simulateContract({ ...mc, functionName: 'aggregate3Value', value: 1n,
    account: opt.who, args: [[{ target: opt.token, allowFailure: false, value: 0n, callData: balanceOf }]] })),
};
console.log(JSON.stringify(out));
