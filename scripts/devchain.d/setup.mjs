// Sets up a freshly started anvil (chain id 8453) as a miniature Base for
// the x402 tests:
//   - the real Permit2 runtime code (read from the installed
//     @uniswap/v4-periphery package) at 0x000000000022D473030F116dDEE9F6B43aC78BA3,
//     checked against vectors.json chains.8453.domainSeparator;
//   - the x402 exact/upto Permit2 proxies and the OPG test token, compiled
//     from this folder, deployed normally, then their runtime code copied to
//     the canonical addresses (none of them keeps constructor-set storage);
//   - the x402 batch-settlement contracts (x402BatchSettlement and its
//     Permit2DepositCollector), likewise copied to their canonical addresses,
//     their interface, typehashes and EIP-712 domain checked;
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
  keccak256, toHex, toFunctionSelector, getAddress, maxUint256, encodeFunctionData, hashTypedData,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ADDR, ACCOUNTS, CHAIN_ID, MINT_AMOUNT, rpcUrl } from './accounts.mjs';
import { compileContracts, ROOT } from './compile.mjs';
import { BATCH_ABI, COLLECTOR_ABI, SELECTORS, TYPE_STRINGS, PERMIT2_STUB, abiItemKey } from './batch-abi.mjs';

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
                    multicall3: ADDR.multicall3, batch: ADDR.batchSettlement,
                    permit2Collector: ADDR.permit2Collector };
  const ctorArgs = { exact: [ADDR.permit2], upto: [ADDR.permit2], token: [], multicall3: [], batch: [],
                     permit2Collector: [ADDR.batchSettlement, ADDR.permit2] };
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
      abi: art[id].abi, bytecode: art[id].bytecode, args: ctorArgs[id],
    });
  }
  for (const [id, target] of Object.entries(targets)) {
    const r = await pub.waitForTransactionReceipt({ hash: hashes[id] });
    if (r.status !== 'success' || !r.contractAddress) fail(`deploying ${id} failed`);
    const code = await pub.getCode({ address: r.contractAddress });
    if (!code || code === '0x') fail(`no code at deployed ${id} ${r.contractAddress}`);
    // none of the contracts writes storage in its constructor: check it
    for (const slot of ['0x0', '0x1']) {
      const v = await pub.getStorageAt({ address: r.contractAddress, slot });
      if (BigInt(v || '0x0') !== 0n) fail(`${id}: constructor wrote storage slot ${slot}; copying the code would lose it`);
    }
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
  await checkBatchSettlement();
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

// The batch-settlement contracts at their canonical addresses answer as
// the deployed ones: immutables, typehashes, the EIP-712 domain of the
// canonical address (a channel id as the client computes it).
async function checkBatchSettlement() {
  const bs = { address: ADDR.batchSettlement, abi: BATCH_ABI };
  const rd = (c, fn, args = []) => pub.readContract({ ...c, functionName: fn, args });
  for (const k of ['CHANNEL_CONFIG_TYPEHASH', 'VOUCHER_TYPEHASH', 'REFUND_TYPEHASH', 'CLAIM_ENTRY_TYPEHASH', 'CLAIM_BATCH_TYPEHASH']) {
    expectEq(`x402BatchSettlement ${k}`, await rd(bs, k), keccak256(toHex(TYPE_STRINGS[k])));
  }
  expectEq('MIN_WITHDRAW_DELAY', await rd(bs, 'MIN_WITHDRAW_DELAY'), 900);
  expectEq('MAX_WITHDRAW_DELAY', await rd(bs, 'MAX_WITHDRAW_DELAY'), 2592000);
  const dom = await rd(bs, 'eip712Domain');
  expectEq('eip712Domain()', JSON.stringify([dom[0], dom[1], dom[2], String(dom[3]), getAddress(dom[4]), dom[5], dom[6].length]),
    JSON.stringify(['0x0f', 'x402 Batch Settlement', '1', String(CHAIN_ID), ADDR.batchSettlement, '0x' + '0'.repeat(64), 0]));
  const config = { payer: ACCOUNTS.payer.address, payerAuthorizer: ACCOUNTS.payer.address, receiver: ACCOUNTS.payTo.address,
    receiverAuthorizer: ACCOUNTS.settler.address, token: ADDR.asset, withdrawDelay: 900, salt: keccak256(toHex('devchain probe')) };
  const domain = { name: 'x402 Batch Settlement', version: '1', chainId: CHAIN_ID, verifyingContract: ADDR.batchSettlement };
  const types = { ChannelConfig: [
    { name: 'payer', type: 'address' }, { name: 'payerAuthorizer', type: 'address' }, { name: 'receiver', type: 'address' },
    { name: 'receiverAuthorizer', type: 'address' }, { name: 'token', type: 'address' },
    { name: 'withdrawDelay', type: 'uint40' }, { name: 'salt', type: 'bytes32' }] };
  expectEq('getChannelId() at the canonical address', await rd(bs, 'getChannelId', [config]),
    hashTypedData({ domain, types, primaryType: 'ChannelConfig', message: config }));
  const none = config.salt; // a channel id nobody has used
  expectEq('channels() of an unused id', (await rd(bs, 'channels', [none])).join(), '0,0');
  expectEq('pendingWithdrawals() of an unused id', (await rd(bs, 'pendingWithdrawals', [none])).join(), '0,0');
  expectEq('refundNonce() of an unused id', await rd(bs, 'refundNonce', [none]), 0n);
  const col = { address: ADDR.permit2Collector, abi: COLLECTOR_ABI };
  expectEq('Permit2DepositCollector x402BatchSettlement()', await rd(col, 'x402BatchSettlement'), ADDR.batchSettlement);
  expectEq('Permit2DepositCollector PERMIT2()', await rd(col, 'PERMIT2'), ADDR.permit2);
  expectEq('DEPOSIT_WITNESS_TYPEHASH', await rd(col, 'DEPOSIT_WITNESS_TYPEHASH'), keccak256(toHex(TYPE_STRINGS.DEPOSIT_WITNESS_TYPEHASH)));
  expectEq('Permit2 stub + DEPOSIT_WITNESS_TYPE_STRING', PERMIT2_STUB + await rd(col, 'DEPOSIT_WITNESS_TYPE_STRING'), TYPE_STRINGS.permit2Deposit);
  log(`x402BatchSettlement, Permit2DepositCollector: typehashes, EIP-712 domain and immutables checked`);
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
  // the batch-settlement contracts: exactly the deployed interface
  for (const [id, want] of [['batch', BATCH_ABI], ['permit2Collector', COLLECTOR_ABI]]) {
    const have = new Set(art[id].abi.filter((i) => i.type !== 'constructor').map(abiItemKey));
    const spec = new Set(want.map(abiItemKey));
    for (const k of have) if (!spec.has(k)) fail(`${art[id].name} has ${k}, which the deployed contract lacks`);
    for (const k of spec) if (!have.has(k)) fail(`${art[id].name} lacks ${k}`);
    const ids = art[id].methodIdentifiers;
    expectEq(`${art[id].name} functions`, Object.keys(ids).length, Object.keys(SELECTORS[id]).length);
    for (const [sig, sel] of Object.entries(ids)) {
      expectEq(`${art[id].name} selector of ${sig}`, '0x' + sel, SELECTORS[id][sig.slice(0, sig.indexOf('('))]);
    }
  }
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
