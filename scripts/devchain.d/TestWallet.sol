// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Minimal EIP-1271 contract wallet for the local test chain: one
/// owner EOA (immutable, set at construction) whose 65-byte r‖s‖v ECDSA
/// signature over a hash is the wallet's signature; the owner can make the
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

    /// @notice 0x1626ba7e iff `sig` is a 65-byte r‖s‖v signature of `hash`
    /// by the owner (v 27 or 28, as ecrecover wants), else 0xffffffff.
    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        if (sig.length != 65) return INVALID;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := calldataload(sig.offset)
            s := calldataload(add(sig.offset, 32))
            v := byte(0, calldataload(add(sig.offset, 64)))
        }
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? MAGIC : INVALID;
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
