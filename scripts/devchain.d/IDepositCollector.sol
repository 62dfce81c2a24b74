// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The pluggable deposit collector x402BatchSettlement calls in
/// deposit(): it pulls `amount` of `token` from `payer` into the calling
/// x402BatchSettlement (which then checks that its balance rose by exactly
/// `amount`).  `channelId` is for collectors that bind the pull to the
/// channel (Permit2's witness).  Selector 0xe416d8d3 (setup.mjs checks it).
interface IDepositCollector {
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external;
}
