// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What a payment from a wallet not deployed yet (ERC-6492) would
/// meet once its factory has run, asked in ONE eth_call without a `to`: the
/// constructor runs against the node's state, returns, and nothing is kept.
/// It calls the factory (unless the wallet has code already), then reads
/// the wallet's isValidSignature(digest, signature), its balance of the
/// token and its allowance to Permit2.  Returns (never reverts)
///   abi.encode(uint256 deployed, uint256 factoryGas, bytes32 isValidWord,
///              uint256 balance, uint256 allowance)
/// deployed: 1 when the wallet has code after the factory call; factoryGas:
/// what the factory call used (the deployment's gas limit is set from it).
/// lib/src/erc6492_probe.c holds its creation code (scripts/gen-probe.mjs).
contract Erc6492Probe {
    constructor(
        address factory,
        bytes memory factoryData,
        address wallet,
        bytes32 digest,
        bytes memory signature,
        address token,
        address permit2
    ) {
        uint256 deployed = 1;
        uint256 factoryGas;
        bytes32 word;
        uint256 balance;
        uint256 allowance;

        if (wallet.code.length == 0) {
            uint256 before = gasleft();
            (bool ok,) = factory.call(factoryData);
            factoryGas = before - gasleft();
            deployed = (ok && wallet.code.length != 0) ? 1 : 0;
        }

        if (deployed == 1) {
            word = _word(wallet, abi.encodeWithSelector(0x1626ba7e, digest, signature));
            balance = uint256(_word(token, abi.encodeWithSelector(0x70a08231, wallet)));
            allowance = uint256(_word(token, abi.encodeWithSelector(0xdd62ed3e, wallet, permit2)));
        }

        bytes memory out = abi.encode(deployed, factoryGas, word, balance, allowance);
        assembly {
            return(add(out, 32), mload(out))
        }
    }

    /// @dev The first word a view call returns, 0 when it reverts or
    /// returns less.
    function _word(address to, bytes memory data) private view returns (bytes32 w) {
        (bool ok, bytes memory ret) = to.staticcall(data);
        if (ok && ret.length >= 32) {
            assembly {
                w := mload(add(ret, 32))
            }
        }
    }
}
