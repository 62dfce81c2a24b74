// Generates lib/test/channel-vectors.json: the x402 `batch-settlement`
// scheme as the official client makes it (@x402/evm 2.27
// BatchSettlementEvmScheme through @x402/core's x402Client, signing with a
// viem local account), the official server's offers and corrective 402, and
// viem's EIP-712 digests and x402BatchSettlement calldata, for
// test_channel.c.
//
//   cd /work/main && node lib/test/gen/channel-vectors.mjs > lib/test/channel-vectors.json
//
// Deterministic: Date.now and crypto.getRandomValues (the Permit2 nonce) are
// fixed below.  The committed JSON is the fixture; regenerate it only by
// hand, and only when the pinned packages change.

import {
  encodeAbiParameters, encodeFunctionData, encodeFunctionResult, getAddress,
  hashTypedData, keccak256, parseAbi, toBytes, toEventSelector,
  toFunctionSelector,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { x402Client } from '@x402/core/client';
import {
  BatchSettlementEvmScheme, InMemoryClientChannelStorage, computeChannelId,
  signVoucher, updateChannelFromSettle,
} from '@x402/evm/batch-settlement/client';
import {
  BatchSettlementEvmScheme as ServerScheme, InMemoryChannelStorage,
} from '@x402/evm/batch-settlement/server';

// --------------------------------------------------------- determinism

const NOW_MS = 1740672089000;
Date.now = () => NOW_MS;

let rnd = 0;
Object.defineProperty(globalThis, 'crypto', {
  configurable: true,
  value: {
    getRandomValues(a) {
      // 0x01 0x02 ... per call, then shifted by the call count
      for (let i = 0; i < a.length; i++) a[i] = (i + 1 + 0x20 * rnd) & 0xff;
      rnd++;
      return a;
    },
  },
});

// ------------------------------------------------------------ constants

// anvil's public test keys 0 and 1
const payer = privateKeyToAccount(
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
const authorizer = privateKeyToAccount(
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');

const BATCH = '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003';
const COLLECTOR = '0x4020425FAf3B746C082C2f942b4E5159887B0005';
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const ASSET = '0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB';
const PAY_TO = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const RECEIVER_AUTHORIZER = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';
const NETWORK = 'eip155:8453';
const CHAIN_ID = 8453;
const RESOURCE = { url: 'http://127.0.0.1:8080/v1/chat/completions' };

// The ABI of x402BatchSettlement, written here from the contract's source
// (contracts/evm/src/x402BatchSettlement.sol), not taken from @x402/evm.
const abi = parseAbi([
  'struct ChannelConfig { address payer; address payerAuthorizer; address receiver; address receiverAuthorizer; address token; uint40 withdrawDelay; bytes32 salt; }',
  'struct Voucher { ChannelConfig channel; uint128 maxClaimableAmount; }',
  'struct VoucherClaim { Voucher voucher; bytes signature; uint128 totalClaimed; }',
  'function deposit(ChannelConfig config, uint128 amount, address collector, bytes collectorData)',
  'function claim(VoucherClaim[] voucherClaims)',
  'function settle(address receiver, address token)',
  'function channels(bytes32 channelId) view returns (uint128 balance, uint128 totalClaimed)',
  'function pendingWithdrawals(bytes32 channelId) view returns (uint128 amount, uint40 initiatedAt)',
  'event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 finalizeAfter)',
]);

const configType = {
  type: 'tuple',
  components: [
    { name: 'payer', type: 'address' },
    { name: 'payerAuthorizer', type: 'address' },
    { name: 'receiver', type: 'address' },
    { name: 'receiverAuthorizer', type: 'address' },
    { name: 'token', type: 'address' },
    { name: 'withdrawDelay', type: 'uint40' },
    { name: 'salt', type: 'bytes32' },
  ],
};

const domain = (chainId) => ({
  name: 'x402 Batch Settlement', version: '1', chainId,
  verifyingContract: BATCH,
});

const voucherDigest = (channelId, max) => hashTypedData({
  domain: domain(CHAIN_ID),
  types: { Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'maxClaimableAmount', type: 'uint128' },
  ] },
  primaryType: 'Voucher',
  message: { channelId, maxClaimableAmount: BigInt(max) },
});

const depositDigest = (auth) => hashTypedData({
  domain: { name: 'Permit2', chainId: CHAIN_ID, verifyingContract: PERMIT2 },
  types: {
    PermitWitnessTransferFrom: [
      { name: 'permitted', type: 'TokenPermissions' },
      { name: 'spender', type: 'address' },
      { name: 'nonce', type: 'uint256' },
      { name: 'deadline', type: 'uint256' },
      { name: 'witness', type: 'DepositWitness' },
    ],
    TokenPermissions: [
      { name: 'token', type: 'address' },
      { name: 'amount', type: 'uint256' },
    ],
    DepositWitness: [{ name: 'channelId', type: 'bytes32' }],
  },
  primaryType: 'PermitWitnessTransferFrom',
  message: {
    permitted: { token: auth.permitted.token,
                 amount: BigInt(auth.permitted.amount) },
    spender: auth.spender,
    nonce: BigInt(auth.nonce),
    deadline: BigInt(auth.deadline),
    witness: { channelId: auth.witness.channelId },
  },
});

const contractConfig = (c) => ({ ...c, withdrawDelay: c.withdrawDelay });

const depositCalldata = (p) => {
  const auth = p.deposit.authorization.permit2Authorization;
  const collectorData = encodeAbiParameters(
    [{ type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' },
     { type: 'bytes' }],
    [BigInt(auth.nonce), BigInt(auth.deadline), auth.signature, '0x']);
  return encodeFunctionData({
    abi, functionName: 'deposit',
    args: [contractConfig(p.channelConfig), BigInt(p.deposit.amount),
           COLLECTOR, collectorData],
  });
};

// -------------------------------------------------------------- cases

// The offer as the official server announces it (enhancePaymentRequirements).
async function offer(withdrawDelay, amount, extra) {
  const server = new ServerScheme(PAY_TO, { withdrawDelay });
  return server.enhancePaymentRequirements(
    { scheme: 'batch-settlement', network: NETWORK, amount, asset: ASSET,
      payTo: PAY_TO, maxTimeoutSeconds: 300, extra },
    { x402Version: 2, scheme: 'batch-settlement', network: NETWORK,
      extra: { receiverAuthorizer: RECEIVER_AUTHORIZER } },
    []);
}

// The accepts[] entry in libx402's key order (channel_api.md), from the
// official offer's values.
function acceptsEntry(req, state) {
  const x = req.extra;
  const extra = {
    receiverAuthorizer: getAddress(x.receiverAuthorizer),
    withdrawDelay: x.withdrawDelay,
    ...(x.minDeposit !== undefined ? { minDeposit: x.minDeposit } : {}),
    ...(x.name !== undefined ? { name: x.name } : {}),
    ...(x.version !== undefined ? { version: x.version } : {}),
    assetTransferMethod: 'permit2',
    ...(state ?? {}),
  };
  return {
    scheme: req.scheme, network: req.network, amount: req.amount,
    asset: getAddress(req.asset), payTo: getAddress(req.payTo),
    maxTimeoutSeconds: req.maxTimeoutSeconds, extra,
  };
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64');

async function makeCase(name, withdrawDelay, amount, extra, salt, voucher) {
  const req = await offer(withdrawDelay, amount, extra);
  const storage = new InMemoryClientChannelStorage();
  const scheme = new BatchSettlementEvmScheme(payer, {
    storage, salt, ...(voucher ? { voucherSigner: voucher } : {}),
  });
  const client = new x402Client().register(NETWORK, scheme);
  client.setSpendControls(false);
  const required = { x402Version: 2, resource: RESOURCE, accepts: [req] };

  // the first request: a deposit and its voucher
  const deposit = await client.createPaymentPayload(required);
  const dp = deposit.payload;
  const channelId = computeChannelId(dp.channelConfig, NETWORK);

  // the deposit settled and the first request charged: the client's record
  await updateChannelFromSettle(storage, {
    server: { chargedAmount: amount },
    local: { channelId, requestAmount: amount,
             depositAmount: dp.deposit.amount },
  });

  // the second request: a voucher only
  const vpay = await client.createPaymentPayload(required);
  const vp = vpay.payload;

  return {
    name,
    offer: req,
    acceptsJson: JSON.stringify([acceptsEntry(req)]),
    deposit: {
      paymentPayload: deposit,
      header: b64(deposit),
      channelId,
      voucherDigest: voucherDigest(channelId, dp.voucher.maxClaimableAmount),
      depositDigest: depositDigest(dp.deposit.authorization.permit2Authorization),
      depositCalldata: depositCalldata(dp),
    },
    voucher: {
      paymentPayload: vpay,
      header: b64(vpay),
      channelId: computeChannelId(vp.channelConfig, NETWORK),
      voucherDigest: voucherDigest(vp.voucher.channelId,
                                   vp.voucher.maxClaimableAmount),
    },
    configEncoding: encodeAbiParameters([configType],
                                        [contractConfig(dp.channelConfig)]),
  };
}

const salt2 = '0x' + 'a5'.repeat(31) + '01';

const cases = [
  await makeCase('delay900', 900, '1000', { assetTransferMethod: 'permit2' },
                 undefined, undefined),
  await makeCase('delay86400-authorizer', 86400, '250000',
                 { assetTransferMethod: 'permit2', name: 'OPG', version: '1' },
                 salt2, authorizer),
];

// a voucher the official helper signs directly, for a large amount
const big = '340282366920938463463374607431768211455';   // 2^128 - 1
const bigVoucher = await signVoucher(payer, cases[0].deposit.channelId, big,
                                     NETWORK);

// claim rows: both channels' vouchers, then one row alone
const row = (c, totalClaimed) => {
  const p = c.voucher.paymentPayload.payload;
  return {
    voucher: { channel: contractConfig(p.channelConfig),
               maxClaimableAmount: BigInt(p.voucher.maxClaimableAmount) },
    signature: p.voucher.signature,
    totalClaimed: BigInt(totalClaimed),
  };
};
const jsonRow = (r) => ({
  config: r.voucher.channel,
  maxClaimableAmount: r.voucher.maxClaimableAmount.toString(),
  signature: r.signature,
  totalClaimed: r.totalClaimed.toString(),
});
const claimSets = [
  [row(cases[0], 2000), row(cases[1], 300000)],
  [row(cases[1], 1)],
  [{ voucher: { channel: contractConfig(cases[0].deposit.paymentPayload
                                        .payload.channelConfig),
                maxClaimableAmount: BigInt(big) },
     signature: bigVoucher.signature, totalClaimed: BigInt(big) },
   row(cases[0], 0)],
];

const claims = claimSets.map((rows) => ({
  rows: rows.map(jsonRow),
  calldata: encodeFunctionData({ abi, functionName: 'claim', args: [rows] }),
}));

// the official server's corrective 402 for a stale voucher base
async function corrective(c) {
  const storage = new InMemoryChannelStorage();
  const server = new ServerScheme(PAY_TO, {
    storage, withdrawDelay: c.offer.extra.withdrawDelay,
  });
  const vp = c.voucher.paymentPayload;
  const state = {
    channelId: c.voucher.channelId,
    balance: '5000',
    totalClaimed: '1000',
    withdrawRequestedAt: 1740670000,
    refundNonce: 3,
    chargedCumulativeAmount: '2000',
    signedMaxClaimable: vp.payload.voucher.maxClaimableAmount,
    signature: vp.payload.voucher.signature,
  };
  await storage.updateChannel(state.channelId, () => ({
    channelConfig: vp.payload.channelConfig,
    lastRequestTimestamp: NOW_MS,
    ...state,
  }));
  const accepts = [JSON.parse(JSON.stringify(c.offer))];
  await server.enrichPaymentRequiredResponse({
    error: 'invalid_batch_settlement_evm_cumulative_amount_mismatch',
    paymentPayload: vp, requirements: accepts,
  });
  return {
    state,
    official: accepts,
    json: JSON.stringify([acceptsEntry(c.offer, {
      channelState: {
        channelId: state.channelId, balance: state.balance,
        totalClaimed: state.totalClaimed,
        withdrawRequestedAt: state.withdrawRequestedAt,
        refundNonce: String(state.refundNonce),
        chargedCumulativeAmount: state.chargedCumulativeAmount,
      },
      voucherState: { signedMaxClaimable: state.signedMaxClaimable,
                      signature: state.signature },
    })]),
  };
}

// SettleResponses in libx402's key order (channel_api.md)
const settleResponses = [
  {
    tx: '0x' + 'ab'.repeat(32), deposit: '5000', charged: '1000',
    state: { channelId: cases[0].deposit.channelId, balance: '5000',
             totalClaimed: '0', withdrawRequestedAt: 0, refundNonce: '0',
             chargedCumulativeAmount: '1000' },
  },
  {
    tx: null, deposit: null, charged: '250000',
    state: { channelId: cases[1].deposit.channelId,
             balance: '340282366920938463463374607431768211455',
             totalClaimed: '12', withdrawRequestedAt: 1740670000,
             refundNonce: '7' },
  },
].map((s) => ({
  ...s,
  json: JSON.stringify({
    success: true, transaction: s.tx ?? '', network: NETWORK,
    payer: payer.address, amount: s.deposit ?? '',
    extra: { chargedAmount: s.charged, channelState: s.state },
  }),
}));

const channelId = cases[0].deposit.channelId;
const replies = {
  channels: encodeFunctionResult({
    abi, functionName: 'channels', result: [5000n, 1000n] }),
  channelsMax: encodeFunctionResult({
    abi, functionName: 'channels',
    result: [BigInt(big), BigInt(big) - 1n] }),
  pendingWithdrawals: encodeFunctionResult({
    abi, functionName: 'pendingWithdrawals',
    result: [4000n, 1740670000] }),
  pendingWithdrawalsMax: encodeFunctionResult({
    abi, functionName: 'pendingWithdrawals',
    result: [BigInt(big), 2 ** 40 - 1] }),
};

console.log(JSON.stringify({
  nowSec: NOW_MS / 1000,
  chainId: CHAIN_ID,
  network: NETWORK,
  payer: payer.address,
  authorizer: authorizer.address,
  addresses: { batchSettlement: BATCH, permit2DepositCollector: COLLECTOR,
               permit2: PERMIT2 },
  selectors: {
    deposit: toFunctionSelector(abi.find((f) => f.name === 'deposit')),
    claim: toFunctionSelector(abi.find((f) => f.name === 'claim')),
    settle: toFunctionSelector(abi.find((f) => f.name === 'settle')),
    channels: toFunctionSelector(abi.find((f) => f.name === 'channels')),
    pendingWithdrawals: toFunctionSelector(
      abi.find((f) => f.name === 'pendingWithdrawals')),
  },
  typehashes: {
    channelConfig: keccak256(toBytes('ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)')),
    voucher: keccak256(toBytes('Voucher(bytes32 channelId,uint128 maxClaimableAmount)')),
  },
  domainSeparator: keccak256(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' },
     { type: 'uint256' }, { type: 'address' }],
    [keccak256(toBytes('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)')),
     keccak256(toBytes('x402 Batch Settlement')), keccak256(toBytes('1')),
     BigInt(CHAIN_ID), BATCH])),
  withdrawTopic: toEventSelector(abi.find((f) => f.name === 'WithdrawInitiated')),
  cases,
  bigVoucher: { channelId: cases[0].deposit.channelId,
                maxClaimableAmount: big, signature: bigVoucher.signature,
                digest: voucherDigest(cases[0].deposit.channelId, big) },
  claims,
  settle: {
    receiver: PAY_TO, token: ASSET,
    calldata: encodeFunctionData({ abi, functionName: 'settle',
                                   args: [PAY_TO, ASSET] }),
  },
  state: {
    channelId,
    channelsCalldata: encodeFunctionData({ abi, functionName: 'channels',
                                           args: [channelId] }),
    pendingWithdrawalsCalldata: encodeFunctionData({
      abi, functionName: 'pendingWithdrawals', args: [channelId] }),
    replies,
  },
  settleResponses,
  corrective: await Promise.all(cases.map(corrective)),
}, null, 2));
