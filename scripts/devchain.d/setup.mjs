// Sets up a freshly started anvil (chain id 8453) as a miniature Base for
// the x402 tests:
//   - the real Permit2 runtime code (read from the installed
//     @uniswap/v4-periphery package) at 0x000000000022D473030F116dDEE9F6B43aC78BA3,
//     checked against vectors.json chains.8453.domainSeparator;
//   - the x402 exact/upto Permit2 proxies and the OPG test token, compiled
//     from this folder, deployed normally, then their runtime code copied to
//     the canonical addresses (none of them keeps constructor-set storage);
//   - OPG minted to the payers, Permit2 approved (max) by payer and payer2,
//     not by "noallow";
//   - an EIP-1271 contract wallet (TestWallet.sol) deployed normally by its
//     owner (account #5, nonce 0) at ADDR.wallet, holding 1000 OPG, with
//     Permit2 approved (max) through wallet.execute(token, approve(...)).
// Fails loudly (exit 1) on any mismatch.  Usage: node setup.mjs [RPC_URL]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  createPublicClient, createTestClient, createWalletClient, http, defineChain,
  keccak256, toHex, toFunctionSelector, getAddress, maxUint256, encodeFunctionData,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ADDR, ACCOUNTS, CHAIN_ID, MINT_AMOUNT, rpcUrl } from './accounts.mjs';
import { compileContracts, ROOT } from './compile.mjs';

const T0 = Date.now();
const log = (m) => console.error(`[setup +${Date.now() - T0}ms] ${m}`);
function fail(m) {
  console.error(`devchain setup FAILED: ${m}`);
  process.exit(1);
}
function expectEq(what, got, want) {
  if (String(got).toLowerCase() !== String(want).toLowerCase()) fail(`${what}: got ${got}, want ${want}`);
}

const url = process.argv[2] || rpcUrl();
const vectors = JSON.parse(readFileSync(join(ROOT, 't', 'fixtures', 'vectors.json'), 'utf8'));
const C = vectors.constants;

// ---- Permit2 runtime code, from the installed package (never committed) ----
export function permit2Runtime() {
  const require = createRequire(join(ROOT, 'package.json'));
  const pkgDir = join(require.resolve('@uniswap/v4-periphery/package.json'), '..');
  const file = join(pkgDir, 'lib', 'permit2', 'test', 'utils', 'DeployPermit2.sol');
  const src = readFileSync(file, 'utf8');
  const m = src.match(/hex"([0-9a-fA-F]+)"/);
  if (!m) fail(`no hex"..." Permit2 bytecode literal in ${file}`);
  if (!src.includes('0x000000000022D473030F116dDEE9F6B43aC78BA3')) fail(`${file} does not look like Permit2's DeployPermit2`);
  return { file, code: '0x' + m[1].toLowerCase() };
}

const chain = defineChain({
  id: CHAIN_ID, name: 'devchain-base', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [url] } },
});
const transport = http(url, { retryCount: 0, timeout: 10_000 });
const pub = createPublicClient({ chain, transport, pollingInterval: 50 });
const test = createTestClient({ chain, transport, mode: 'anvil', pollingInterval: 50 });
const wallet = (role) => createWalletClient({ chain, transport, account: privateKeyToAccount(ACCOUNTS[role].key), pollingInterval: 50 });

async function main() {
  for (const [role, a] of Object.entries(ACCOUNTS)) {
    expectEq(`address of ${role}`, privateKeyToAccount(a.key).address, a.address);
  }
  expectEq('eth_chainId', await pub.getChainId(), CHAIN_ID);

  // -- Permit2
  const p2 = permit2Runtime();
  log(`Permit2 runtime: ${(p2.code.length - 2) / 2} bytes, keccak ${keccak256(p2.code)} from ${p2.file}`);
  await test.setCode({ address: ADDR.permit2, bytecode: p2.code });
  const ds = await pub.call({ to: ADDR.permit2, data: C.functionSelectors['DOMAIN_SEPARATOR()'] });
  expectEq('Permit2 DOMAIN_SEPARATOR() on chain 8453', ds.data, vectors.chains['8453'].domainSeparator);

  // -- our contracts
  const art = await compileContracts({ log });
  checkAbi(art);
  const deployer = wallet('deployer');
  const targets = { exact: ADDR.exactProxy, upto: ADDR.uptoProxy, token: ADDR.asset,
                    multicall3: ADDR.multicall3 };
  const hashes = {};
  // the contract wallet: deployed (not copied) by its owner, whose first
  // transaction it is, so its address is fixed (ADDR.wallet)
  const owner = wallet('walletOwner');
  expectEq('nonce of walletOwner before set-up', await pub.getTransactionCount({ address: ACCOUNTS.walletOwner.address }), 0);
  const walletHash = await owner.deployContract({
    abi: art.wallet.abi, bytecode: art.wallet.bytecode, args: [ACCOUNTS.walletOwner.address],
  });
  for (const id of Object.keys(targets)) {
    hashes[id] = await deployer.deployContract({
      abi: art[id].abi, bytecode: art[id].bytecode,
      args: id === 'token' || id === 'multicall3' ? [] : [ADDR.permit2],
    });
  }
  for (const [id, target] of Object.entries(targets)) {
    const r = await pub.waitForTransactionReceipt({ hash: hashes[id] });
    if (r.status !== 'success' || !r.contractAddress) fail(`deploying ${id} failed`);
    const code = await pub.getCode({ address: r.contractAddress });
    if (!code || code === '0x') fail(`no code at deployed ${id} ${r.contractAddress}`);
    // none of the contracts writes storage in its constructor: check it
    const slot0 = await pub.getStorageAt({ address: r.contractAddress, slot: '0x0' });
    if (BigInt(slot0 || '0x0') !== 0n) fail(`${id}: constructor wrote storage slot 0; copying the code would lose it`);
    await test.setCode({ address: target, bytecode: code });
    expectEq(`code copied to ${target}`, await pub.getCode({ address: target }), code);
    log(`${art[id].name}: deployed at ${r.contractAddress}, runtime (${(code.length - 2) / 2} bytes) copied to ${target}`);
    if (id === 'token') {
      await test.setCode({ address: ADDR.asset2, bytecode: code });
      log(`${art[id].name}: also copied to ${ADDR.asset2} (the second asset)`);
    }
  }

  const wr = await pub.waitForTransactionReceipt({ hash: walletHash });
  if (wr.status !== 'success') fail('deploying the wallet failed');
  expectEq('wallet address', wr.contractAddress, ADDR.wallet);
  const wal = { address: ADDR.wallet, abi: art.wallet.abi };
  expectEq('wallet owner()', await pub.readContract({ ...wal, functionName: 'owner' }), ACCOUNTS.walletOwner.address);
  log(`TestWallet: deployed at ${ADDR.wallet}, owner ${ACCOUNTS.walletOwner.address}`);

  // -- checks against the spec constants
  for (const id of ['exact', 'upto']) {
    const rd = (fn) => pub.readContract({ address: targets[id], abi: art[id].abi, functionName: fn });
    expectEq(`${id} proxy PERMIT2()`, await rd('PERMIT2'), ADDR.permit2);
    const wts = await rd('WITNESS_TYPE_STRING');
    const wth = await rd('WITNESS_TYPEHASH');
    const w = id === 'exact' ? 'witnessExact' : 'witnessUpto';
    const full = id === 'exact' ? 'permitWitnessTransferFromExact' : 'permitWitnessTransferFromUpto';
    expectEq(`${id} WITNESS_TYPEHASH`, wth, C.typeHashes[w]);
    expectEq(`${id} keccak(WITNESS type)`, keccak256(toHex(C.typeStrings[w])), C.typeHashes[w]);
    expectEq(`${id} stub+WITNESS_TYPE_STRING`, C.typeStrings.permit2StubPrefix + wts, C.typeStrings[full]);
    expectEq(`${id} keccak(stub+WITNESS_TYPE_STRING)`, keccak256(toHex(C.typeStrings.permit2StubPrefix + wts)), C.typeHashes[full]);
    if (id === 'exact') expectEq('exact WITNESS_TYPE_STRING', wts, C.typeStrings.exactProxyWitnessTypeStringSuffix);
  }
  const tok = { address: ADDR.asset, abi: art.token.abi };
  expectEq('OPG decimals()', await pub.readContract({ ...tok, functionName: 'decimals' }), C.opgDecimals);

  // -- balances and approvals
  const mints = [];
  for (const role of ['payer', 'payer2', 'noallow']) {
    mints.push(await deployer.writeContract({ ...tok, functionName: 'mint', args: [ACCOUNTS[role].address, MINT_AMOUNT] }));
  }
  mints.push(await deployer.writeContract({ ...tok, functionName: 'mint', args: [ADDR.wallet, MINT_AMOUNT] }));
  for (const role of ['payer', 'payer2']) {
    mints.push(await wallet(role).writeContract({ ...tok, functionName: 'approve', args: [ADDR.permit2, maxUint256] }));
  }
  const tok2 = { address: ADDR.asset2, abi: art.token.abi };
  mints.push(await deployer.writeContract({ ...tok2, functionName: 'mint', args: [ACCOUNTS.payer.address, MINT_AMOUNT] }));
  mints.push(await wallet('payer').writeContract({ ...tok2, functionName: 'approve', args: [ADDR.permit2, maxUint256] }));
  const approveData = encodeFunctionData({ abi: art.token.abi, functionName: 'approve', args: [ADDR.permit2, maxUint256] });
  mints.push(await owner.writeContract({ ...wal, functionName: 'execute', args: [ADDR.asset, approveData] }));
  for (const h of mints) {
    const r = await pub.waitForTransactionReceipt({ hash: h });
    if (r.status !== 'success') fail(`setup transaction ${h} reverted`);
  }
  for (const role of ['payer', 'payer2', 'noallow', 'payTo', 'settler']) {
    const a = ACCOUNTS[role].address;
    const bal = await pub.readContract({ ...tok, functionName: 'balanceOf', args: [a] });
    const alw = await pub.readContract({ ...tok, functionName: 'allowance', args: [a, ADDR.permit2] });
    const funded = ['payer', 'payer2', 'noallow'].includes(role);
    expectEq(`OPG balance of ${role}`, bal, funded ? MINT_AMOUNT : 0n);
    expectEq(`Permit2 allowance of ${role}`, alw, role === 'payer' || role === 'payer2' ? maxUint256 : 0n);
    const eth = await pub.getBalance({ address: a });
    if (eth === 0n) fail(`${role} ${a} has no ETH`);
  }
  expectEq('second asset balance of payer', await pub.readContract({ ...tok2, functionName: 'balanceOf', args: [ACCOUNTS.payer.address] }), MINT_AMOUNT);
  expectEq('OPG balance of the wallet', await pub.readContract({ ...tok, functionName: 'balanceOf', args: [ADDR.wallet] }), MINT_AMOUNT);
  expectEq('Permit2 allowance of the wallet',
    await pub.readContract({ ...tok, functionName: 'allowance', args: [ADDR.wallet, ADDR.permit2] }), maxUint256);
  // EIP-1271: the owner's signature is the wallet's, anyone else's is not
  const probe = keccak256(toHex('devchain wallet probe'));
  const isValid = (sig) => pub.readContract({ ...wal, functionName: 'isValidSignature', args: [probe, sig] });
  expectEq('wallet isValidSignature(owner sig)', await isValid(await privateKeyToAccount(ACCOUNTS.walletOwner.key).sign({ hash: probe })), '0x1626ba7e');
  expectEq('wallet isValidSignature(payer sig)', await isValid(await privateKeyToAccount(ACCOUNTS.payer.key).sign({ hash: probe })), '0xffffffff');
  log('ready');
}

function checkAbi(art) {
  const sel = C.functionSelectors;
  const have = (id, sig) => art[id].methodIdentifiers[sig];
  const exactSettle = 'settle(((address,uint256),uint256,uint256),address,(address,uint256),bytes)';
  const uptoSettle = 'settle(((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)';
  const swp = 'settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),((address,uint256),uint256,uint256),address,(address,uint256),bytes)';
  expectEq('exact settle selector', '0x' + have('exact', exactSettle), sel[exactSettle]);
  expectEq('exact settleWithPermit selector', '0x' + have('exact', swp), sel[swp]);
  expectEq('upto settle selector', '0x' + have('upto', uptoSettle), sel[uptoSettle]);
  for (const id of ['exact', 'upto']) expectEq(`${id} PERMIT2() selector`, '0x' + have(id, 'PERMIT2()'), sel['PERMIT2()']);
  for (const fn of ['allowance(address,address)', 'balanceOf(address)', 'approve(address,uint256)']) {
    expectEq(`token ${fn}`, '0x' + have('token', fn), sel[fn]);
  }
  // Multicall3's published selectors, as Base's contract answers them
  const mc = {
    'aggregate((address,bytes)[])': '252dba42',
    'tryAggregate(bool,(address,bytes)[])': 'bce38bd7',
    'tryBlockAndAggregate(bool,(address,bytes)[])': '399542e9',
    'blockAndAggregate((address,bytes)[])': 'c3077fa9',
    'aggregate3((address,bool,bytes)[])': '82ad56cb',
    'aggregate3Value((address,bool,uint256,bytes)[])': '174dea71',
    'getBlockHash(uint256)': 'ee82ac5e',
    'getBlockNumber()': '42cbb15c',
    'getCurrentBlockCoinbase()': 'a8b0574e',
    'getCurrentBlockDifficulty()': '72425d9d',
    'getCurrentBlockGasLimit()': '86d516e8',
    'getCurrentBlockTimestamp()': '0f28c97d',
    'getEthBalance(address)': '4d2301cc',
    'getLastBlockHash()': '27e86d6e',
    'getBasefee()': '3e64a696',
    'getChainId()': '3408e470',
  };
  for (const [sig, want] of Object.entries(mc)) expectEq(`Multicall3 ${sig}`, have('multicall3', sig), want);
  expectEq('Multicall3 functions', Object.keys(art.multicall3.methodIdentifiers).length, Object.keys(mc).length);
  const wanted = ['InvalidAmount()', 'InvalidDestination()', 'InvalidOwner()', 'PaymentTooEarly()',
    'Permit2612AmountMismatch()', 'InvalidPermit2Address()', 'ReentrancyGuardReentrantCall()'];
  for (const id of ['exact', 'upto']) {
    const errs = new Set(art[id].abi.filter((e) => e.type === 'error').map((e) => `${e.name}(${e.inputs.map((i) => i.type).join(',')})`));
    const list = id === 'upto' ? [...wanted, 'AmountExceedsPermitted()', 'UnauthorizedFacilitator()'] : wanted;
    for (const e of list) {
      if (!errs.has(e)) fail(`${id} proxy lacks error ${e}`);
      expectEq(`selector of ${e}`, toFunctionSelector(e), C.errorSelectors[e]);
    }
  }
}

main().catch((e) => fail(e?.shortMessage || e?.message || String(e)));
