// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Minimal EIP-1271 contract wallet for the local test chain: one
/// owner EOA (immutable, set at construction) whose 65-byte r‖s‖v ECDSA
/// signature over a hash (or several of them, concatenated) is the wallet's
/// signature; the owner can make the
/// wallet call anything (used to approve Permit2 on the token).
/// No storage at all, so the runtime code could also be copied with
/// anvil_setCode.  NEVER deploy anywhere but a local test chain.
contract TestWallet {
    /// @notice EIP-1271 magic value: bytes4(keccak256("isValidSignature(bytes32,bytes)"))
    bytes4 internal constant MAGIC = 0x1626ba7e;
    bytes4 internal constant INVALID = 0xffffffff;

    address public immutable owner;

    error NotOwner();
    error CallFailed(bytes reason);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice 0x1626ba7e iff `sig` is one or more 65-byte r‖s‖v signatures
    /// of `hash`, every one by the owner (v 27 or 28, as ecrecover wants),
    /// else 0xffffffff.  Several stand for what multisig and passkey
    /// wallets send: a signature far longer than an EOA's.
    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        if (sig.length == 0 || sig.length % 65 != 0) return INVALID;
        for (uint256 i = 0; i < sig.length; i += 65) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly {
                r := calldataload(add(sig.offset, i))
                s := calldataload(add(sig.offset, add(i, 32)))
                v := byte(0, calldataload(add(sig.offset, add(i, 64))))
            }
            address signer = ecrecover(hash, v, r, s);
            if (signer == address(0) || signer != owner) return INVALID;
        }
        return MAGIC;
    }

    /// @notice The owner makes the wallet call `to` with `data`; reverts
    /// with the callee's revert data wrapped in CallFailed.
    function execute(address to, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert NotOwner();
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) revert CallFailed(ret);
        return ret;
    }
}
