// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice The part of Uniswap Permit2's ISignatureTransfer the x402 proxies
/// use (test chain only; the real Permit2 runtime code is installed at
/// 0x000000000022D473030F116dDEE9F6B43aC78BA3 by setup.mjs).
interface ISignatureTransfer {
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;

    function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);

    function DOMAIN_SEPARATOR() external view returns (bytes32);
}

/// @notice EIP-2612 permit, used by settleWithPermit.
interface IERC20Permit {
    function permit(
        address owner,
        address spender,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;
}
