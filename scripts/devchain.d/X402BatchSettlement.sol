// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDepositCollector} from "./IDepositCollector.sol";

/// @notice The two ERC-20 calls the channel contract makes.
interface IERC20BalanceTransfer {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
}

/// @notice x402BatchSettlement for the local test chain: the escrow of the
/// x402 `batch-settlement` scheme (unidirectional payment channels, cumulative
/// vouchers, batched claims, one transfer per settle), as deployed on Base at
/// 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003.  Written here from the scheme
/// specification (x402 specs/schemes/batch-settlement/scheme_batch_settlement_evm.md)
/// and a reading of the public contract; it has the deployed contract's
/// external interface (functions, events, errors, including those of the
/// OpenZeppelin 5.5 helpers it is built on: EIP712 + ERC-5267, Multicall,
/// ReentrancyGuardTransient, SafeERC20, ECDSA, SignatureChecker), its storage
/// slots and its rules, without any library.
///
/// Nothing is set in a constructor: the EIP-712 domain separator is computed
/// at each call from block.chainid and address(this), so the runtime code
/// copied to the canonical address with anvil_setCode signs for that address;
/// the reentrancy flag is transient (EIP-1153).  NEVER deploy anywhere but a
/// local test chain.
contract x402BatchSettlement {
    // ---- types ----------------------------------------------------------

    /// @notice What a channel is; its EIP-712 hash is the channel id.
    struct ChannelConfig {
        address payer;
        address payerAuthorizer; // EOA signing vouchers, or 0: the payer signs (EIP-1271 too)
        address receiver;
        address receiverAuthorizer; // signs claim batches and refunds; never 0
        address token;
        uint40 withdrawDelay; // [MIN_WITHDRAW_DELAY, MAX_WITHDRAW_DELAY], checked at deposit
        bytes32 salt;
    }

    struct ChannelState {
        uint128 balance; // deposited - withdrawn - refunded (claimed funds stay in it)
        uint128 totalClaimed; // cumulative, only grows
    }

    struct WithdrawalState {
        uint128 amount;
        uint40 initiatedAt; // 0: none pending
    }

    struct ReceiverState {
        uint128 totalClaimed;
        uint128 totalSettled;
    }

    struct Voucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    struct VoucherClaim {
        Voucher voucher;
        bytes signature; // the payer side's signature of the Voucher
        uint128 totalClaimed; // the new cumulative total (not a delta)
    }

    // ---- constants ------------------------------------------------------

    uint40 public constant MIN_WITHDRAW_DELAY = 900; // 15 minutes
    uint40 public constant MAX_WITHDRAW_DELAY = 2_592_000; // 30 days

    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 public constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 public constant CLAIM_ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 public constant CLAIM_BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );

    bytes32 private constant _EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    string private constant _NAME = "x402 Batch Settlement";
    string private constant _VERSION = "1";

    // OpenZeppelin ReentrancyGuardTransient's slot (ERC-7201 "openzeppelin.storage.ReentrancyGuard")
    bytes32 private constant _REENTRANCY_SLOT = 0x9b779b17422d0df92223018b32b4d1fa46e071723d6817e2486d003becc55f00;

    // secp256k1n / 2: a larger s is the malleable twin of a valid signature
    uint256 private constant _HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    // ---- storage --------------------------------------------------------

    // Slots 0 and 1 are where the deployed contract's EIP712 base keeps the
    // fallback of a name/version longer than 31 bytes; both are short, so
    // they stay empty there as here.  They keep the mappings at slots 2..5.
    string private _unusedNameFallback;
    string private _unusedVersionFallback;

    mapping(bytes32 channelId => ChannelState) public channels; // slot 2
    /// @notice Next nonce a Refund signature must carry; advanced by every refund.
    mapping(bytes32 channelId => uint256) public refundNonce; // slot 3
    mapping(bytes32 channelId => WithdrawalState) public pendingWithdrawals; // slot 4
    mapping(address receiver => mapping(address token => ReceiverState)) public receivers; // slot 5

    // ---- events ---------------------------------------------------------

    event ChannelCreated(bytes32 indexed channelId, ChannelConfig config);
    event ChannelClosed(bytes32 indexed channelId, ChannelConfig config);
    event Deposited(bytes32 indexed channelId, address indexed sender, uint128 amount, uint128 newBalance);
    event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 newTotalClaimed);
    event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    event Refunded(bytes32 indexed channelId, address indexed sender, uint128 amount);
    event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 finalizeAfter);
    event WithdrawFinalized(bytes32 indexed channelId, address indexed sender, uint128 amount);
    /// @dev ERC-5267 (declared by the deployed contract's EIP712 base; never emitted)
    event EIP712DomainChanged();

    // ---- errors ---------------------------------------------------------

    error InvalidChannel();
    error ZeroDeposit();
    error DepositOverflow();
    error InvalidSignature();
    error NotReceiverAuthorizer();
    error NotAuthorizedToClaim();
    error NotAuthorizedToRefund();
    error ClaimExceedsCeiling();
    error ClaimExceedsBalance();
    error WithdrawalAlreadyPending();
    error WithdrawalNotPending();
    error NotAuthorizedToFinalizeWithdraw();
    error WithdrawDelayNotElapsed();
    error NothingToWithdraw();
    error WithdrawAmountExceedsAvailable();
    error WithdrawDelayOutOfRange();
    error EmptyBatch();
    error DepositCollectionFailed();
    error InvalidCollector();
    error InvalidRefundNonce();
    error ZeroRefund();
    // the errors of the OpenZeppelin helpers, as the deployed contract's ABI has them
    error ReentrancyGuardReentrantCall();
    error ECDSAInvalidSignature();
    error ECDSAInvalidSignatureLength(uint256 length);
    error ECDSAInvalidSignatureS(bytes32 s);
    error SafeERC20FailedOperation(address token);
    error AddressEmptyCode(address target);
    error FailedCall();

    // ---- reentrancy (transient) -----------------------------------------

    modifier nonReentrant() {
        bytes32 slot = _REENTRANCY_SLOT;
        bool entered;
        assembly {
            entered := tload(slot)
        }
        if (entered) revert ReentrancyGuardReentrantCall();
        assembly {
            tstore(slot, 1)
        }
        _;
        assembly {
            tstore(slot, 0)
        }
    }

    // ---- deposit --------------------------------------------------------

    /// @notice Adds exactly `amount` to the channel of `config`, pulled from
    /// the payer by `collector` (given `collectorData`); anyone may submit.
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external
        nonReentrant
    {
        if (
            config.payer == address(0) || config.receiver == address(0) || config.receiverAuthorizer == address(0)
                || config.token == address(0)
        ) revert InvalidChannel();
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert WithdrawDelayOutOfRange();
        }
        if (amount == 0) revert ZeroDeposit();
        if (collector == address(0)) revert InvalidCollector();

        bytes32 channelId = getChannelId(config);
        ChannelState storage ch = channels[channelId];
        if (amount > type(uint128).max - ch.balance) revert DepositOverflow();
        ch.balance += amount;

        IERC20BalanceTransfer token = IERC20BalanceTransfer(config.token);
        uint256 before = token.balanceOf(address(this));
        IDepositCollector(collector).collect(config.payer, config.token, amount, channelId, collectorData);
        // the collector is not trusted: only what actually arrived counts
        if (token.balanceOf(address(this)) != before + amount) revert DepositCollectionFailed();

        if (ch.balance == amount && ch.totalClaimed == 0) emit ChannelCreated(channelId, config);
        emit Deposited(channelId, msg.sender, amount, ch.balance);
    }

    // ---- claim and settle -----------------------------------------------

    /// @notice Records the vouchers' new cumulative totals; the sender must be
    /// the receiver or the receiverAuthorizer of every row's channel.
    function claim(VoucherClaim[] calldata voucherClaims) external nonReentrant {
        uint256 n = voucherClaims.length;
        if (n == 0) revert EmptyBatch();
        for (uint256 i = 0; i < n; ++i) {
            if (!_receiverSide(msg.sender, voucherClaims[i].voucher.channel)) revert NotAuthorizedToClaim();
            _applyClaim(voucherClaims[i]);
        }
    }

    /// @notice As claim, from any sender, authorized by the receiverAuthorizer's
    /// EIP-712 ClaimBatch signature over all rows (which share that authorizer).
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature)
        external
        nonReentrant
    {
        uint256 n = voucherClaims.length;
        if (n == 0) revert EmptyBatch();
        address authorizer = voucherClaims[0].voucher.channel.receiverAuthorizer;
        if (!_isValidSignatureNow(authorizer, getClaimBatchDigest(voucherClaims), authorizerSignature)) {
            revert InvalidSignature();
        }
        for (uint256 i = 0; i < n; ++i) {
            if (voucherClaims[i].voucher.channel.receiverAuthorizer != authorizer) revert NotReceiverAuthorizer();
            _applyClaim(voucherClaims[i]);
        }
    }

    /// @notice Pays `receiver` everything claimed for it in `token` and not yet
    /// paid, in one transfer; anyone may call; nothing to pay is a no-op.
    function settle(address receiver, address token) external nonReentrant {
        ReceiverState storage rs = receivers[receiver][token];
        uint128 due = rs.totalClaimed - rs.totalSettled;
        if (due == 0) return;
        rs.totalSettled = rs.totalClaimed;
        _safeTransfer(token, receiver, due);
        emit Settled(receiver, token, msg.sender, due);
    }

    // ---- timed withdrawal (the payer's escape hatch) --------------------

    /// @notice The payer (or payerAuthorizer) asks for `amount` of the
    /// unclaimed escrow back; finalizeWithdraw pays it after withdrawDelay.
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (!_payerSide(msg.sender, config)) revert InvalidChannel();
        if (amount == 0) revert NothingToWithdraw();
        bytes32 channelId = getChannelId(config);
        WithdrawalState storage w = pendingWithdrawals[channelId];
        if (w.initiatedAt != 0) revert WithdrawalAlreadyPending();
        ChannelState storage ch = channels[channelId];
        if (amount > ch.balance - ch.totalClaimed) revert WithdrawAmountExceedsAvailable();
        uint40 now40 = uint40(block.timestamp);
        w.amount = amount;
        w.initiatedAt = now40;
        emit WithdrawInitiated(channelId, amount, now40 + config.withdrawDelay);
    }

    /// @notice Pays the pending withdrawal once withdrawDelay has passed,
    /// capped at what is unclaimed then (claims made meanwhile come first).
    function finalizeWithdraw(ChannelConfig calldata config) external nonReentrant {
        if (!_payerSide(msg.sender, config)) revert NotAuthorizedToFinalizeWithdraw();
        bytes32 channelId = getChannelId(config);
        WithdrawalState storage w = pendingWithdrawals[channelId];
        uint256 since = w.initiatedAt;
        if (since == 0) revert WithdrawalNotPending();
        if (block.timestamp < since + uint256(config.withdrawDelay)) revert WithdrawDelayNotElapsed();

        ChannelState storage ch = channels[channelId];
        uint128 unclaimed = ch.balance - ch.totalClaimed;
        uint128 pay = w.amount < unclaimed ? w.amount : unclaimed;
        w.amount = 0;
        w.initiatedAt = 0;
        ch.balance -= pay;

        emit WithdrawFinalized(channelId, msg.sender, pay);
        if (ch.balance == 0 && ch.totalClaimed == 0) emit ChannelClosed(channelId, config);
        if (pay != 0) _safeTransfer(config.token, config.payer, pay);
    }

    // ---- cooperative refund ---------------------------------------------

    /// @notice The receiver side returns up to `amount` of the unclaimed escrow.
    function refund(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (!_receiverSide(msg.sender, config)) revert NotAuthorizedToRefund();
        _refund(config, amount);
    }

    /// @notice As refund, from any sender, with the receiverAuthorizer's
    /// EIP-712 Refund signature for the channel's current refund nonce.
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external nonReentrant {
        bytes32 channelId = getChannelId(config);
        if (refundNonce[channelId] != nonce) revert InvalidRefundNonce();
        if (
            !_isValidSignatureNow(
                config.receiverAuthorizer, getRefundDigest(channelId, nonce, amount), receiverAuthorizerSignature
            )
        ) revert InvalidSignature();
        _refund(config, amount);
    }

    // ---- views ----------------------------------------------------------

    /// @notice The channel id: the EIP-712 hash of `config` in this contract's domain.
    function getChannelId(ChannelConfig calldata config) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(CHANNEL_CONFIG_TYPEHASH, config)));
    }

    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, maxClaimableAmount)));
    }

    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(REFUND_TYPEHASH, channelId, nonce, amount)));
    }

    /// @notice EIP-712 digest of ClaimBatch{claims: ClaimEntry[]} for these rows
    /// (defined for an empty list too: the array hash is keccak256("")).
    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) public view returns (bytes32) {
        uint256 n = voucherClaims.length;
        bytes32[] memory entries = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            entries[i] = keccak256(
                abi.encode(
                    CLAIM_ENTRY_TYPEHASH,
                    getChannelId(voucherClaims[i].voucher.channel),
                    voucherClaims[i].voucher.maxClaimableAmount,
                    voucherClaims[i].totalClaimed
                )
            );
        }
        return _typedDataHash(keccak256(abi.encode(CLAIM_BATCH_TYPEHASH, keccak256(abi.encodePacked(entries)))));
    }

    /// @notice ERC-5267: the EIP-712 domain (name, version, chainId, verifyingContract).
    function eip712Domain()
        public
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", _NAME, _VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ---- multicall ------------------------------------------------------

    /// @notice Runs each call on this contract (delegatecall) in order; a
    /// failing call reverts the whole batch with its revert data (or
    /// FailedCall() when it has none).
    function multicall(bytes[] calldata data) public returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            (bool ok, bytes memory ret) = address(this).delegatecall(data[i]);
            if (!ok) {
                if (ret.length == 0) revert FailedCall();
                assembly {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
            results[i] = ret;
        }
    }

    // ---- internals ------------------------------------------------------

    function _receiverSide(address who, ChannelConfig calldata config) private pure returns (bool) {
        return who == config.receiverAuthorizer || who == config.receiver;
    }

    function _payerSide(address who, ChannelConfig calldata config) private pure returns (bool) {
        return who == config.payer || who == config.payerAuthorizer;
    }

    /// @dev One claim row: a total not above the recorded one changes nothing
    /// (a replay); otherwise it must be within the voucher's ceiling and the
    /// balance, and the voucher must be signed by the payer side.
    function _applyClaim(VoucherClaim calldata vc) private {
        ChannelConfig calldata c = vc.voucher.channel;
        bytes32 channelId = getChannelId(c);
        ChannelState storage ch = channels[channelId];
        uint128 newTotal = vc.totalClaimed;
        uint128 oldTotal = ch.totalClaimed;
        if (newTotal <= oldTotal) return;
        if (newTotal > vc.voucher.maxClaimableAmount) revert ClaimExceedsCeiling();
        if (newTotal > ch.balance) revert ClaimExceedsBalance();

        bytes32 digest = getVoucherDigest(channelId, vc.voucher.maxClaimableAmount);
        if (c.payerAuthorizer != address(0)) {
            // a committed EOA key: plain ECDSA, malformed signatures revert
            if (_recover(digest, vc.signature) != c.payerAuthorizer) revert InvalidSignature();
        } else if (!_isValidSignatureNow(c.payer, digest, vc.signature)) {
            revert InvalidSignature();
        }

        uint128 delta = newTotal - oldTotal;
        ch.totalClaimed = newTotal;
        receivers[c.receiver][c.token].totalClaimed += delta;
        emit Claimed(channelId, msg.sender, delta, newTotal);
    }

    /// @dev The refund nonce advances first, whatever is then refunded (even
    /// nothing); a pending withdrawal shrinks by the refund (or ends).
    function _refund(ChannelConfig calldata config, uint128 amount) private {
        if (amount == 0) revert ZeroRefund();
        bytes32 channelId = getChannelId(config);
        unchecked {
            refundNonce[channelId] += 1;
        }
        ChannelState storage ch = channels[channelId];
        uint128 unclaimed = ch.balance - ch.totalClaimed;
        uint128 pay = amount < unclaimed ? amount : unclaimed;
        if (pay == 0) return;
        ch.balance -= pay;

        WithdrawalState storage w = pendingWithdrawals[channelId];
        if (w.initiatedAt != 0) {
            if (pay >= w.amount) {
                w.amount = 0;
                w.initiatedAt = 0;
            } else {
                w.amount -= pay;
            }
        }
        emit Refunded(channelId, msg.sender, pay);
        if (ch.balance == 0 && ch.totalClaimed == 0) emit ChannelClosed(channelId, config);
        _safeTransfer(config.token, config.payer, pay);
    }

    /// @dev keccak256("\x19\x01" ‖ domainSeparator ‖ structHash), the domain
    /// built for this chain and this address at every call.
    function _typedDataHash(bytes32 structHash) private view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                _EIP712_DOMAIN_TYPEHASH, keccak256(bytes(_NAME)), keccak256(bytes(_VERSION)), block.chainid, address(this)
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }

    /// @dev ECDSA recovery as OpenZeppelin's tryRecover: 65-byte r‖s‖v only,
    /// s in the lower half order, ecrecover must find a signer (v 27 or 28).
    /// err: 0 none, 1 no signer, 2 bad length (arg: the length), 3 high s (arg: s).
    function _tryRecover(bytes32 digest, bytes calldata sig)
        private
        pure
        returns (address signer, uint8 err, bytes32 arg)
    {
        if (sig.length != 65) return (address(0), 2, bytes32(sig.length));
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := calldataload(sig.offset)
            s := calldataload(add(sig.offset, 0x20))
            v := byte(0, calldataload(add(sig.offset, 0x40)))
        }
        if (uint256(s) > _HALF_N) return (address(0), 3, s);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) return (address(0), 1, bytes32(0));
        return (signer, 0, bytes32(0));
    }

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        (address signer, uint8 err, bytes32 arg) = _tryRecover(digest, sig);
        if (err == 1) revert ECDSAInvalidSignature();
        if (err == 2) revert ECDSAInvalidSignatureLength(uint256(arg));
        if (err == 3) revert ECDSAInvalidSignatureS(arg);
        return signer;
    }

    /// @dev SignatureChecker.isValidSignatureNow: ECDSA for an address without
    /// code, EIP-1271 isValidSignature(hash, sig) == 0x1626ba7e for a contract.
    function _isValidSignatureNow(address signer, bytes32 digest, bytes calldata sig) private view returns (bool) {
        if (signer.code.length == 0) {
            (address recovered, uint8 err,) = _tryRecover(digest, sig);
            return err == 0 && recovered == signer;
        }
        bytes4 magic = 0x1626ba7e; // isValidSignature(bytes32,bytes)
        bool valid;
        assembly {
            // isValidSignature(digest, sig), the bytes unpadded as OpenZeppelin sends them
            let p := mload(0x40)
            mstore(p, magic)
            mstore(add(p, 0x04), digest)
            mstore(add(p, 0x24), 0x40)
            mstore(add(p, 0x44), sig.length)
            calldatacopy(add(p, 0x64), sig.offset, sig.length)
            let ok := staticcall(gas(), signer, p, add(0x64, sig.length), 0x00, 0x20)
            valid := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0x00), magic)))
        }
        return valid;
    }

    /// @dev SafeERC20.safeTransfer: a revert is passed on; success is a call
    /// that returns true, or returns nothing from a token that has code.
    function _safeTransfer(address token, address to, uint256 value) private {
        bytes memory data = abi.encodeCall(IERC20BalanceTransfer.transfer, (to, value));
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        bool done = ret.length == 0 ? token.code.length > 0 : (ret.length >= 32 && abi.decode(ret, (uint256)) == 1);
        if (!done) revert SafeERC20FailedOperation(token);
    }
}
