// Generates lib/test/tx-vectors.json: signed EIP-1559 (type 2) transactions
// made by viem, an implementation independent of libx402, for test_settle.c.
//
//   cd /work/main && node lib/test/gen/tx-vectors.mjs > lib/test/tx-vectors.json
//
// Needs the pinned viem of package.json (2.57.20) in node_modules.  The
// output is deterministic (RFC 6979 signatures, fixed inputs); the C test
// only reads the committed JSON, so node is not needed at test time.
//
// Every case holds the inputs (integers as decimal strings, so that JSON
// numbers never lose precision), the serialized signed transaction "raw"
// (viem's signTransaction) and its "hash" (keccak256(raw)), plus the
// signature parts as viem parsed them back, to name what each case covers.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { fromRlp, hexToNumber, keccak256 } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const vectors = JSON.parse(readFileSync(join(root, 't/fixtures/vectors.json'), 'utf8'));
const viemVersion = createRequire(import.meta.url)('viem/package.json').version;

const settleCalldata = vectors.chains['8453'].settleCalldata;
const exactProxy = vectors.constants.addresses.x402ExactPermit2Proxy;
const commonKey = vectors.common.privateKey;
// anvil's public test keys (devchain settler and account 0)
const settlerKey = '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a';
const anvilKey0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const keyOne = '0x' + '00'.repeat(31) + '01';

const U256_MAX = (1n << 256n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

async function sign(name, key, tx) {
    const account = privateKeyToAccount(key);
    const raw = await account.signTransaction({ type: 'eip1559', ...tx });
    // the signature parts, read back from the RLP list after the type byte
    const fields = fromRlp('0x' + raw.slice(4), 'hex');
    const [yParity, r, s] = fields.slice(9);
    return {
        name,
        key,
        from: account.address,
        chainId: String(tx.chainId),
        nonce: String(tx.nonce),
        maxPriorityFeePerGas: String(tx.maxPriorityFeePerGas),
        maxFeePerGas: String(tx.maxFeePerGas),
        gas: String(tx.gas),
        to: tx.to,
        value: String(tx.value),
        data: tx.data ?? '0x',
        yParity: yParity === '0x' ? 0 : hexToNumber(yParity),
        r,
        s,
        raw,
        hash: keccak256(raw),
    };
}

// Searches nonces from `start` for a signature whose r (or s) is below
// 2^248, so that its minimal RLP integer drops a leading zero byte.
async function findShort(name, key, base, part, start) {
    for (let n = start; ; n++) {
        const c = await sign(name, key, { ...base, nonce: n });
        if (BigInt(c[part]) < (1n << 248n)) {
            return c;
        }
    }
}

const base8453 = {
    chainId: 8453,
    maxPriorityFeePerGas: 1000000n,        // 0.001 gwei
    maxFeePerGas: 12000000n,
    gas: 200000n,
    to: exactProxy,
    value: 0n,
    data: settleCalldata,
};

const cases = [];

cases.push(await sign('settle-8453-nonce0', settlerKey, { ...base8453, nonce: 0 }));
cases.push(await sign('settle-8453-nonce1-commonkey', commonKey, { ...base8453, nonce: 1 }));
cases.push(await sign('settle-31337', anvilKey0, {
    ...base8453, chainId: 31337, nonce: 7,
    maxPriorityFeePerGas: 1000000000n, maxFeePerGas: 2875000000n, gas: 134217n,
}));
cases.push(await sign('large-nonce-2^53-1', settlerKey, { ...base8453, nonce: 9007199254740991 }));
cases.push(await sign('nonce-u64-max', settlerKey, { ...base8453, nonce: U64_MAX }));
cases.push(await sign('transfer-zero-value-empty-data', keyOne, {
    chainId: 8453, nonce: 0, maxPriorityFeePerGas: 0n, maxFeePerGas: 0n,
    gas: 21000n, to: vectors.chains['8453'].paymentPayload.accepted.payTo,
    value: 0n,
}));
cases.push(await sign('transfer-value-1eth', anvilKey0, {
    chainId: 31337, nonce: 127, maxPriorityFeePerGas: 1n, maxFeePerGas: 128n,
    gas: 21000n, to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    value: 1000000000000000000n,
}));
cases.push(await sign('high-gas-values', settlerKey, {
    chainId: 8453, nonce: 256, maxPriorityFeePerGas: U256_MAX - 1n,
    maxFeePerGas: U256_MAX, gas: U64_MAX, to: exactProxy,
    value: U256_MAX, data: settleCalldata,
}));
cases.push(await sign('data-55-bytes', commonKey, {
    ...base8453, nonce: 55, data: '0x' + 'ab'.repeat(55),
}));
cases.push(await sign('data-56-bytes', commonKey, {
    ...base8453, nonce: 56, data: '0x' + 'cd'.repeat(56),
}));
cases.push(await sign('data-1-byte-below-0x80', commonKey, {
    ...base8453, nonce: 2, data: '0x7f',
}));
cases.push(await sign('data-1-byte-0x80', commonKey, {
    ...base8453, nonce: 3, data: '0x80',
}));
cases.push(await sign('chain-id-large', settlerKey, {
    ...base8453, chainId: 4503599627370495, nonce: 1,
}));
cases.push(await findShort('short-r', settlerKey, base8453, 'r', 1000));
cases.push(await findShort('short-s', settlerKey, base8453, 's', 2000));

process.stdout.write(JSON.stringify({
    comment: 'EIP-1559 transactions signed by viem ' + viemVersion
        + '; generated by lib/test/gen/tx-vectors.mjs (see there)',
    generator: 'lib/test/gen/tx-vectors.mjs',
    viem: viemVersion,
    cases,
}, null, 2) + '\n');
