// The external interface of the x402 batch-settlement contracts as deployed
// on Base (x402BatchSettlement, Permit2DepositCollector), written from the
// public source: every function, event (with its indexed fields) and error.
// setup.mjs checks that the compiled X402BatchSettlement.sol /
// Permit2DepositCollector.sol have exactly this interface; channel.mjs and
// the tests talk to the contracts with it.
import { parseAbi } from 'viem';

const STRUCTS = [
  'struct ChannelConfig { address payer; address payerAuthorizer; address receiver; address receiverAuthorizer; address token; uint40 withdrawDelay; bytes32 salt; }',
  'struct Voucher { ChannelConfig channel; uint128 maxClaimableAmount; }',
  'struct VoucherClaim { Voucher voucher; bytes signature; uint128 totalClaimed; }',
];

export const BATCH_ABI = parseAbi([
  ...STRUCTS,
  'function deposit(ChannelConfig config, uint128 amount, address collector, bytes collectorData)',
  'function claim(VoucherClaim[] voucherClaims)',
  'function claimWithSignature(VoucherClaim[] voucherClaims, bytes authorizerSignature)',
  'function settle(address receiver, address token)',
  'function initiateWithdraw(ChannelConfig config, uint128 amount)',
  'function finalizeWithdraw(ChannelConfig config)',
  'function refund(ChannelConfig config, uint128 amount)',
  'function refundWithSignature(ChannelConfig config, uint128 amount, uint256 nonce, bytes receiverAuthorizerSignature)',
  'function multicall(bytes[] data) returns (bytes[] results)',
  'function getChannelId(ChannelConfig config) view returns (bytes32)',
  'function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) view returns (bytes32)',
  'function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) view returns (bytes32)',
  'function getClaimBatchDigest(VoucherClaim[] voucherClaims) view returns (bytes32)',
  'function channels(bytes32 channelId) view returns (uint128 balance, uint128 totalClaimed)',
  'function refundNonce(bytes32 channelId) view returns (uint256)',
  'function pendingWithdrawals(bytes32 channelId) view returns (uint128 amount, uint40 initiatedAt)',
  'function receivers(address receiver, address token) view returns (uint128 totalClaimed, uint128 totalSettled)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
  'function MIN_WITHDRAW_DELAY() view returns (uint40)',
  'function MAX_WITHDRAW_DELAY() view returns (uint40)',
  'function CHANNEL_CONFIG_TYPEHASH() view returns (bytes32)',
  'function VOUCHER_TYPEHASH() view returns (bytes32)',
  'function REFUND_TYPEHASH() view returns (bytes32)',
  'function CLAIM_ENTRY_TYPEHASH() view returns (bytes32)',
  'function CLAIM_BATCH_TYPEHASH() view returns (bytes32)',
  'event ChannelCreated(bytes32 indexed channelId, ChannelConfig config)',
  'event ChannelClosed(bytes32 indexed channelId, ChannelConfig config)',
  'event Deposited(bytes32 indexed channelId, address indexed sender, uint128 amount, uint128 newBalance)',
  'event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 newTotalClaimed)',
  'event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount)',
  'event Refunded(bytes32 indexed channelId, address indexed sender, uint128 amount)',
  'event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 finalizeAfter)',
  'event WithdrawFinalized(bytes32 indexed channelId, address indexed sender, uint128 amount)',
  'event EIP712DomainChanged()',
  ...['InvalidChannel', 'ZeroDeposit', 'DepositOverflow', 'InvalidSignature', 'NotReceiverAuthorizer',
    'NotAuthorizedToClaim', 'NotAuthorizedToRefund', 'ClaimExceedsCeiling', 'ClaimExceedsBalance',
    'WithdrawalAlreadyPending', 'WithdrawalNotPending', 'NotAuthorizedToFinalizeWithdraw',
    'WithdrawDelayNotElapsed', 'NothingToWithdraw', 'WithdrawAmountExceedsAvailable', 'WithdrawDelayOutOfRange',
    'EmptyBatch', 'DepositCollectionFailed', 'InvalidCollector', 'InvalidRefundNonce', 'ZeroRefund',
    'ReentrancyGuardReentrantCall', 'ECDSAInvalidSignature', 'FailedCall'].map((e) => `error ${e}()`),
  'error ECDSAInvalidSignatureLength(uint256 length)',
  'error ECDSAInvalidSignatureS(bytes32 s)',
  'error SafeERC20FailedOperation(address token)',
  'error AddressEmptyCode(address target)',
]);

export const COLLECTOR_ABI = parseAbi([
  'function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes collectorData)',
  'function x402BatchSettlement() view returns (address)',
  'function PERMIT2() view returns (address)',
  'function DEPOSIT_WITNESS_TYPE_STRING() view returns (string)',
  'function DEPOSIT_WITNESS_TYPEHASH() view returns (bytes32)',
  'event EIP2612PermitFailedWithReason(address indexed token, address indexed owner, string reason)',
  'event EIP2612PermitFailedWithPanic(address indexed token, address indexed owner, uint256 errorCode)',
  'event EIP2612PermitFailedWithData(address indexed token, address indexed owner, bytes data)',
  'error OnlyX402BatchSettlement()',
  'error InvalidX402BatchSettlementAddress()',
  'error InvalidPermit2Address()',
  'error Permit2612AmountMismatch()',
]);

// Selectors of the deployed contracts (function 4-byte ids), independent of
// the signatures above: setup.mjs checks the compiled code against both.
export const SELECTORS = {
  batch: {
    deposit: '0x140f1e75', claim: '0x29237b0c', claimWithSignature: '0xe43ce1f2', settle: '0x9db32a8f',
    initiateWithdraw: '0xcf5cf3dc', finalizeWithdraw: '0xe88377b1', refund: '0xdce4bfae',
    refundWithSignature: '0xb77433e9', multicall: '0xac9650d8', getChannelId: '0x5e5e0b87',
    getVoucherDigest: '0x862bb199', getRefundDigest: '0xe25cf189', getClaimBatchDigest: '0x488ccc3b',
    channels: '0x7a7ebd7b', refundNonce: '0xf0dc792e', pendingWithdrawals: '0xb7f06ebe', receivers: '0x21ff6389',
    eip712Domain: '0x84b0196e', MIN_WITHDRAW_DELAY: '0xae159439', MAX_WITHDRAW_DELAY: '0x1fc3277d',
    CHANNEL_CONFIG_TYPEHASH: '0x8e4a68ac', VOUCHER_TYPEHASH: '0x94739e87', REFUND_TYPEHASH: '0x1e69ef40',
    CLAIM_ENTRY_TYPEHASH: '0xba94ec0d', CLAIM_BATCH_TYPEHASH: '0x53ab0fae',
  },
  permit2Collector: {
    collect: '0xe416d8d3', x402BatchSettlement: '0x4dec6d95', PERMIT2: '0x6afdd850',
    DEPOSIT_WITNESS_TYPE_STRING: '0x22971aa0', DEPOSIT_WITNESS_TYPEHASH: '0x4f829976',
  },
};

// The EIP-712 type strings of the scheme (as the client's constants.ts
// builds them): the contracts' *_TYPEHASH constants are their keccak256.
export const TYPE_STRINGS = {
  CHANNEL_CONFIG_TYPEHASH: 'ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)',
  VOUCHER_TYPEHASH: 'Voucher(bytes32 channelId,uint128 maxClaimableAmount)',
  REFUND_TYPEHASH: 'Refund(bytes32 channelId,uint256 nonce,uint128 amount)',
  CLAIM_ENTRY_TYPEHASH: 'ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)',
  CLAIM_BATCH_TYPEHASH: 'ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)',
  DEPOSIT_WITNESS_TYPEHASH: 'DepositWitness(bytes32 channelId)',
  // Permit2's full type: its stub + the collector's DEPOSIT_WITNESS_TYPE_STRING
  permit2Deposit: 'PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions(address token,uint256 amount)',
};
export const PERMIT2_STUB = 'PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,';

// A normalized one-line form of an ABI item (name, canonical types, indexed
// flags, outputs, mutability), to compare two ABIs as sets.
export function abiItemKey(it) {
  const t = (p) => (p.type.startsWith('tuple') ? `(${p.components.map(t).join(',')})${p.type.slice(5)}` : p.type);
  const ins = (it.inputs || []).map((p) => t(p) + (p.indexed ? ' indexed' : '')).join(',');
  if (it.type === 'function') {
    return `function ${it.name}(${ins}) ${it.stateMutability} returns (${(it.outputs || []).map(t).join(',')})`;
  }
  return `${it.type} ${it.name ?? ''}(${ins})${it.anonymous ? ' anonymous' : ''}`;
}
