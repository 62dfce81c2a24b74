// Generates lib/test/batch-vectors.json: Multicall3 aggregate3 calldata and
// Result[] return data made by viem, an implementation independent of
// libx402, for test_batch.c.
//
//   cd /work/main && node lib/test/gen/batch-vectors.mjs > lib/test/batch-vectors.json
//
// Needs the pinned viem of package.json in node_modules.  Deterministic;
// the C test only reads the committed JSON.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFunctionData, encodeFunctionResult, parseAbi } from 'viem';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const vectors = JSON.parse(readFileSync(join(root, 't/fixtures/vectors.json'), 'utf8'));

const abi = parseAbi([
  'struct Call3 { address target; bool allowFailure; bytes callData; }',
  'struct Result { bool success; bytes returnData; }',
  'function aggregate3(Call3[] calls) payable returns (Result[] returnData)',
]);

const proxy = vectors.constants.addresses.x402ExactPermit2Proxy;
const a = vectors.chains['8453'].settleCalldata;
const b = vectors.chains['84532'].settleCalldata;
// a call whose length is no multiple of 32, and a one-byte call
const odd = '0x13cd3b53' + 'ab'.repeat(45);
const tiny = '0x01';

const aggregates = [[a], [a, b], [a, odd, tiny, b]].map((calls) => ({
  calls,
  calldata: encodeFunctionData({
    abi, functionName: 'aggregate3',
    args: [calls.map((callData) => ({ target: proxy, allowFailure: true, callData }))],
  }),
}));

// Permit2's InvalidNonce(), a revert string, an empty revert, a success
const results = [
  { success: true, returnData: '0x' },
  { success: false, returnData: '0x756688fe' },
  { success: false,
    returnData: '0x08c379a0' + '0'.repeat(62) + '20' + '0'.repeat(62) + '05' + '6f6f707321' + '0'.repeat(54) },
  { success: false, returnData: '0x' },
  { success: true, returnData: '0x' + '11'.repeat(33) },
];

console.log(JSON.stringify({
  target: proxy,
  aggregates,
  results: {
    items: results,
    data: encodeFunctionResult({ abi, functionName: 'aggregate3', result: results }),
  },
}, null, 2));
