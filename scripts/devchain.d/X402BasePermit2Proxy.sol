// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISignatureTransfer, IERC20Permit} from "./ISignatureTransfer.sol";

/// @notice Shared part of the x402 Permit2 proxies, written for the local
/// test chain from the protocol description
/// (docs/protocol.md#settle-on-chain, docs/protocol.md#settle-calldata).
/// Nothing lives in storage: PERMIT2 is immutable and the reentrancy flag is
/// transient (EIP-1153), so the runtime code can be copied to the canonical
/// addresses with anvil_setCode without any storage set-up.
abstract contract X402BasePermit2Proxy {
    /// @notice The canonical Permit2 (constructor argument, kept in code).
    ISignatureTransfer public immutable PERMIT2;

    /// @notice EIP-2612 permit arguments for settleWithPermit.
    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    event Settled();
    event SettledWithPermit();
    event EIP2612PermitFailedWithReason(address indexed token, address indexed owner, bytes reason);

    error InvalidAmount();
    error InvalidDestination();
    error InvalidOwner();
    error PaymentTooEarly();
    error Permit2612AmountMismatch();
    error InvalidPermit2Address();
    error ReentrancyGuardReentrantCall();

    // transient-storage slot of the reentrancy flag
    bytes32 private constant _REENTRANCY_SLOT = bytes32(uint256(keccak256("x402.proxy.reentrancy")) - 1);

    constructor(address permit2) {
        if (permit2 == address(0)) revert InvalidPermit2Address();
        PERMIT2 = ISignatureTransfer(permit2);
    }

    modifier nonReentrant() {
        bytes32 slot = _REENTRANCY_SLOT;
        uint256 entered;
        assembly {
            entered := tload(slot)
        }
        if (entered != 0) revert ReentrancyGuardReentrantCall();
        assembly {
            tstore(slot, 1)
        }
        _;
        assembly {
            tstore(slot, 0)
        }
    }

    function _checkCommon(uint256 amount, address owner, address to, uint256 validAfter) internal view {
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (to == address(0)) revert InvalidDestination();
        if (block.timestamp < validAfter) revert PaymentTooEarly();
    }

    /// @dev Calls token.permit(owner, PERMIT2, ...); a failure is reported
    /// with an event and otherwise ignored (the allowance may already exist).
    function _tryPermit2612(address token, address owner, EIP2612Permit calldata p, uint256 permitted) internal {
        if (p.value != permitted) revert Permit2612AmountMismatch();
        try IERC20Permit(token).permit(owner, address(PERMIT2), p.value, p.deadline, p.v, p.r, p.s) {}
        catch (bytes memory reason) {
            emit EIP2612PermitFailedWithReason(token, owner, reason);
        }
    }
}
