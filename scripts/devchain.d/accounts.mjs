// Roles on the devchain.  All keys are anvil's default-mnemonic accounts
// ("test test ... junk"): PUBLIC test keys, never fund them on a real chain.
export const ADDR = {
  permit2: '0x000000000022D473030F116dDEE9F6B43aC78BA3',
  exactProxy: '0x402085c248EeA27D92E8b30b2C58ed07f9E20001',
  uptoProxy: '0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002',
  asset: '0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB', // OPG on Base
  // a second ERC-20 (the same test token's code): one Permit2 nonce signed
  // for two assets is still one payment
  asset2: '0x2222222222222222222222222222222222222222',
  // TestWallet.sol (EIP-1271), deployed by walletOwner with its nonce 0
  // (CREATE address of #5 at nonce 0; setup.mjs checks it)
  wallet: '0x0116686E2291dbd5e317F47faDBFb43B599786Ef',
  // Multicall3.sol, where Multicall3 is on Base and every other chain
  multicall3: '0xcA11bde05977b3631167028862bE2a173976CA11',
  // the x402 batch-settlement contracts (X402BatchSettlement.sol,
  // Permit2DepositCollector.sol), at their canonical addresses
  batchSettlement: '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003',
  permit2Collector: '0x4020425FAf3B746C082C2f942b4E5159887B0005',
};

export const CHAIN_ID = 8453;

export const ACCOUNTS = {
  // #0 (also the vectors.json signer and x402-pay's default key)
  payer: { index: 0, address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', key: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80' },
  payer2: { index: 1, address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', key: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' },
  // funded with OPG but with NO Permit2 approval
  noallow: { index: 2, address: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', key: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a' },
  // merchant (payTo): holds no OPG at start
  payTo: { index: 3, address: '0x90F79bf6EB2c4f870365E785982E1f101E93b906', key: '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6' },
  // submits settle transactions (has ETH, no OPG)
  settler: { index: 4, address: '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65', key: '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a' },
  // owner of the EIP-1271 contract wallet ADDR.wallet (deploys it; holds no OPG)
  walletOwner: { index: 5, address: '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', key: '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba' },
  // deploys the contracts before their code is copied to the canonical addresses
  deployer: { index: 9, address: '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720', key: '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6' },
};

// OPG minted to each of payer, payer2, noallow and the wallet (atomic units, 18 decimals)
export const MINT_AMOUNT = 1000n * 10n ** 18n;

export function rpcUrl() {
  if (process.env.X402_RPC_URL) return process.env.X402_RPC_URL;
  return `http://127.0.0.1:${process.env.DEVCHAIN_PORT || 8545}`;
}

export function envLines(url = rpcUrl()) {
  const A = ACCOUNTS;
  const v = {
    X402_RPC_URL: url,
    X402_CHAIN_ID: String(CHAIN_ID),
    X402_NETWORK: `eip155:${CHAIN_ID}`,
    X402_PERMIT2: ADDR.permit2,
    X402_EXACT_PROXY: ADDR.exactProxy,
    X402_UPTO_PROXY: ADDR.uptoProxy,
    X402_ASSET: ADDR.asset,
    X402_BATCH_SETTLEMENT: ADDR.batchSettlement,
    X402_PERMIT2_COLLECTOR: ADDR.permit2Collector,
    X402_ASSET2: ADDR.asset2,
    X402_PAY_TO: A.payTo.address,
    X402_SETTLER_ADDRESS: A.settler.address,
    X402_SETTLER_KEY: A.settler.key,
    X402_PAYER_ADDRESS: A.payer.address,
    X402_PAYER_KEY: A.payer.key,
    X402_PAYER2_ADDRESS: A.payer2.address,
    X402_PAYER2_KEY: A.payer2.key,
    X402_NOALLOW_ADDRESS: A.noallow.address,
    X402_NOALLOW_KEY: A.noallow.key,
    X402_WALLET_ADDRESS: ADDR.wallet,
    X402_WALLET_OWNER_ADDRESS: A.walletOwner.address,
    X402_WALLET_OWNER_KEY: A.walletOwner.key,
    X402_MINT_AMOUNT: MINT_AMOUNT.toString(),
  };
  return Object.entries(v).map(([k, val]) => `export ${k}='${val}'`);
}
