// ERC-6492 test set-up on the devchain: TestWalletFactory.sol's runtime code
// put at FACTORY (a factory is deployed once per chain; its address is what
// operators allow), and a counterfactual wallet of the wallet owner (anvil
// account #5) for a salt, funded with OPG before it exists.  Prints one
// JSON line: { factory, wallet, factoryData, code } (code: the wallet's
// code now, "0x" until deployed).
//
//   node t/client/smart-wallet.mjs --rpc URL --salt N [--fund ATOMIC]
//   node t/client/smart-wallet.mjs --rpc URL --salt N --data-only
//       (the calldata of another salt: a deployment that does not give
//        the first wallet code)
import { createPublicClient, createTestClient, createWalletClient, http, encodeFunctionData,
         getAddress, pad, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ACCOUNTS, ADDR, CHAIN_ID } from '../../scripts/devchain.d/accounts.mjs';
import { compileContracts } from '../../scripts/devchain.d/compile.mjs';

export const FACTORY = getAddress('0x6492fac70a7e5e5e5e5e5e5e5e5e5e5e5e5e6492');

const opt = { rpc: null, salt: '1', fund: (1000n * 10n ** 18n).toString(), dataOnly: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--rpc') opt.rpc = process.argv[++i];
  else if (a === '--salt') opt.salt = process.argv[++i];
  else if (a === '--fund') opt.fund = process.argv[++i];
  else if (a === '--data-only') opt.dataOnly = true;
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
if (!opt.rpc) { console.error('--rpc URL needed'); process.exit(2); }

const chain = { id: CHAIN_ID, name: 'devchain', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
                rpcUrls: { default: { http: [opt.rpc] } } };
const transport = http(opt.rpc, { retryCount: 0, timeout: 10_000 });
const pub = createPublicClient({ chain, transport });
const test = createTestClient({ chain, transport, mode: 'anvil' });
const art = (await compileContracts()).walletFactory;

const owner = ACCOUNTS.walletOwner.address;
const salt = pad(toHex(BigInt(opt.salt)), { size: 32 });
const factoryData = encodeFunctionData({ abi: art.abi, functionName: 'createWallet', args: [owner, ADDR.asset, salt] });

if (opt.dataOnly) {
  console.log(JSON.stringify({ factory: FACTORY, factoryData }));
  process.exit(0);
}

if ((await pub.getCode({ address: FACTORY }) ?? '0x') === '0x') {
  await test.setCode({ address: FACTORY, bytecode: art.deployedBytecode });
}
const wallet = await pub.readContract({ address: FACTORY, abi: art.abi, functionName: 'walletAddress',
                                        args: [owner, ADDR.asset, salt] });
if (BigInt(opt.fund) > 0n) {
  const deployer = createWalletClient({ chain, transport, account: privateKeyToAccount(ACCOUNTS.deployer.key) });
  const hash = await deployer.writeContract({
    address: ADDR.asset, functionName: 'mint', args: [wallet, BigInt(opt.fund)],
    abi: [{ type: 'function', name: 'mint', stateMutability: 'nonpayable',
            inputs: [{ name: 'to', type: 'address' }, { name: 'value', type: 'uint256' }], outputs: [] }],
  });
  const r = await pub.waitForTransactionReceipt({ hash });
  if (r.status !== 'success') throw new Error('mint failed');
}
const code = (await pub.getCode({ address: wallet })) ?? '0x';
console.log(JSON.stringify({ factory: FACTORY, wallet, factoryData, code }));
