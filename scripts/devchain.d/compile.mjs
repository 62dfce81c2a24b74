// Compile the devchain contracts with solc-js (in-process), cached under
// build/devchain/cache/ by a hash of the sources, the compiler version and
// the settings.  Usage as a module: `await compileContracts()`; as a script:
// `node compile.mjs` prints the cache file path.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
const require = createRequire(join(ROOT, 'package.json'));

export const SOLC_VERSION = '0.8.37';
export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] } },
};
export const CONTRACTS = {
  exact: ['X402ExactPermit2Proxy.sol', 'x402ExactPermit2Proxy'],
  upto: ['X402UptoPermit2Proxy.sol', 'x402UptoPermit2Proxy'],
  token: ['TestToken.sol', 'TestToken'],
  wallet: ['TestWallet.sol', 'TestWallet'],
  multicall3: ['Multicall3.sol', 'Multicall3'],
  batch: ['X402BatchSettlement.sol', 'x402BatchSettlement'],
  permit2Collector: ['Permit2DepositCollector.sol', 'Permit2DepositCollector'],
  walletFactory: ['TestWalletFactory.sol', 'TestWalletFactory'],
};

export function cacheDir() {
  return process.env.DEVCHAIN_CACHE_DIR || join(ROOT, 'build', 'devchain', 'cache');
}

export async function compileContracts({ log = () => {} } = {}) {
  const sources = {};
  for (const f of readdirSync(HERE).filter((f) => f.endsWith('.sol')).sort()) {
    sources[f] = { content: readFileSync(join(HERE, f), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const key = createHash('sha256').update(SOLC_VERSION).update(JSON.stringify(input)).digest('hex').slice(0, 24);
  const dir = cacheDir();
  const file = join(dir, `contracts-${key}.json`);
  if (existsSync(file)) {
    log(`compile: cached ${file}`);
    return JSON.parse(readFileSync(file, 'utf8'));
  }
  const t0 = Date.now();
  const solc = require('solc');
  const have = solc.version();
  if (!have.startsWith(SOLC_VERSION + '+')) throw new Error(`solc ${SOLC_VERSION} wanted, have ${have}`);
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  // 2394: the EIP-1153 advisory about transient storage (used on purpose for the reentrancy flag)
  for (const e of out.errors || []) if (e.severity !== 'error' && e.errorCode !== '2394') log(`solc: ${e.formattedMessage.trim()}`);
  if (errors.length) throw new Error('solc failed:\n' + errors.map((e) => e.formattedMessage).join('\n'));
  const result = { solc: have, key };
  for (const [id, [src, name]] of Object.entries(CONTRACTS)) {
    const c = out.contracts?.[src]?.[name];
    if (!c) throw new Error(`solc output lacks ${src}:${name}`);
    result[id] = {
      name,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      methodIdentifiers: c.evm.methodIdentifiers,
    };
  }
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(result));
  renameSync(tmp, file); // atomic: concurrent starts may race harmlessly
  log(`compile: solc ${have} in ${Date.now() - t0} ms -> ${file}`);
  return result;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await compileContracts({ log: (m) => console.error(m) });
  for (const id of Object.keys(CONTRACTS)) {
    console.log(`${r[id].name}: ${(r[id].deployedBytecode.length - 2) / 2} bytes runtime`);
    console.log(JSON.stringify(r[id].methodIdentifiers));
  }
}
