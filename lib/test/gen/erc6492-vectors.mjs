// Generates lib/test/erc6492-vectors.json: an `exact` Permit2 payment as
// the official client makes it (@x402/evm 2.27 ExactEvmScheme through
// @x402/core's x402Client) for a smart wallet that is not deployed yet:
// the signer is the wallet's address, its signatures the owner's wrapped
// by viem's serializeErc6492Signature (what smart-wallet SDKs send).  Also
// viem's parse of the wrapper, the Permit2 digest, the probe's eth_call
// data (viem's encodeDeployData of lib/sol/Erc6492Probe.sol) and a probe
// reply, for test_erc6492.c.
//
//   cd /work/main && node lib/test/gen/erc6492-vectors.mjs > lib/test/erc6492-vectors.json
//
// Deterministic: Date.now and crypto.getRandomValues (the Permit2 nonce) are
// fixed below.  Regenerate by hand, only when the pinned packages change.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  encodeAbiParameters, encodeDeployData, encodeFunctionData, getAddress,
  hashTypedData, parseAbi, parseErc6492Signature, serializeErc6492Signature,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { x402Client } from '@x402/core/client';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { ROOT, SOLC_VERSION, SETTINGS } from '../../../scripts/devchain.d/compile.mjs';

const NOW_MS = 1740672089000;
Date.now = () => NOW_MS;
Object.defineProperty(globalThis, 'crypto', {
  configurable: true,
  value: { getRandomValues(a) { for (let i = 0; i < a.length; i++) a[i] = (7 * i + 3) & 0xff; return a; } },
});

// anvil account #5 (a public test key): the wallet's owner
const owner = privateKeyToAccount('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba');
const WALLET = getAddress('0x6b0A7cFa2e9D0e0f2b4A8c6F2a3b1C9d8E7f6A50');
const FACTORY = getAddress('0x0000000000000000000000000000000000006492');
const TOKEN = getAddress('0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB');
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const factoryData = encodeFunctionData({
  abi: parseAbi(['function createWallet(address owner, address token, bytes32 salt) returns (address)']),
  functionName: 'createWallet',
  args: [owner.address, TOKEN, '0x' + '11'.repeat(32)],
});

const signer = {
  address: WALLET,
  async signTypedData(td) {
    const signature = await owner.signTypedData(td);
    return serializeErc6492Signature({ address: FACTORY, data: factoryData, signature });
  },
};

const requirements = {
  scheme: 'exact', network: 'eip155:8453', amount: '1000000000000000', asset: TOKEN,
  payTo: getAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8'), maxTimeoutSeconds: 300,
  extra: { name: 'OPG', version: '1', assetTransferMethod: 'permit2' },
};

const client = new x402Client().register('eip155:*', new ExactEvmScheme(signer)).setSpendControls(false);
const payment = await client.createPaymentPayload({
  x402Version: 2, resource: { url: 'http://127.0.0.1/paid/', description: '', mimeType: '' },
  accepts: [requirements],
});
const a = payment.payload.permit2Authorization;
const parsed = parseErc6492Signature(payment.payload.signature);
const digest = hashTypedData({
  domain: { name: 'Permit2', chainId: 8453, verifyingContract: PERMIT2 },
  types: {
    PermitWitnessTransferFrom: [
      { name: 'permitted', type: 'TokenPermissions' }, { name: 'spender', type: 'address' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
      { name: 'witness', type: 'Witness' }],
    TokenPermissions: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }],
    Witness: [{ name: 'to', type: 'address' }, { name: 'validAfter', type: 'uint256' }],
  },
  primaryType: 'PermitWitnessTransferFrom',
  message: { permitted: { token: a.permitted.token, amount: BigInt(a.permitted.amount) },
             spender: a.spender, nonce: BigInt(a.nonce), deadline: BigInt(a.deadline),
             witness: { to: a.witness.to, validAfter: BigInt(a.witness.validAfter) } },
});

// the probe's creation code, compiled as scripts/gen-probe.mjs does
const require = createRequire(join(ROOT, 'package.json'));
const solc = require('solc');
if (!solc.version().startsWith(SOLC_VERSION + '+')) throw new Error(`solc ${SOLC_VERSION} wanted`);
const src = 'Erc6492Probe.sol';
const out = JSON.parse(solc.compile(JSON.stringify({
  language: 'Solidity', settings: SETTINGS,
  sources: { [src]: { content: readFileSync(join(ROOT, 'lib', 'sol', src), 'utf8') } },
})));
const probe = out.contracts[src].Erc6492Probe;
const probeData = encodeDeployData({
  abi: probe.abi, bytecode: '0x' + probe.evm.bytecode.object,
  args: [FACTORY, factoryData, WALLET, digest, parsed.signature, TOKEN, PERMIT2],
});
const reply = encodeAbiParameters(
  [{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }],
  [1n, 123456n, '0x1626ba7e' + '00'.repeat(28), 10n ** 21n, 2n ** 256n - 1n]);

console.log(JSON.stringify({
  payment,
  header: Buffer.from(JSON.stringify(payment)).toString('base64'),
  wrapped: payment.payload.signature,
  factory: parsed.address, factoryData: parsed.data, inner: parsed.signature,
  digest, probeData, probeReply: reply,
}, null, 2));
