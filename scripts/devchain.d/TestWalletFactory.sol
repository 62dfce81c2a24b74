// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestWallet} from "./TestWallet.sol";

/// @notice A TestWallet that approves Permit2 on one token as it is built,
/// as smart-wallet factories run an owner's set-up calls: a wallet paid to
/// before it exists can pay through Permit2 from its first transaction.
contract TestCounterfactualWallet is TestWallet {
    error ApproveFailed();

    constructor(address owner_, address token, address permit2) TestWallet(owner_) {
        (bool ok,) = token.call(abi.encodeWithSelector(0x095ea7b3, permit2, type(uint256).max));
        if (!ok) revert ApproveFailed();
    }
}

/// @notice CREATE2 factory of TestCounterfactualWallet, for ERC-6492 tests:
/// the wallet's address is known (walletAddress) before it is deployed, so
/// it can hold tokens and sign payments first.  createWallet of a wallet
/// that exists returns it (as deployed factories do).  Local chain only.
contract TestWalletFactory {
    address public constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;

    event WalletCreated(address indexed wallet, address indexed owner);

    function createWallet(address owner, address token, bytes32 salt) external returns (address wallet) {
        wallet = walletAddress(owner, token, salt);
        if (wallet.code.length != 0) return wallet;
        wallet = address(new TestCounterfactualWallet{salt: salt}(owner, token, PERMIT2));
        emit WalletCreated(wallet, owner);
    }

    function walletAddress(address owner, address token, bytes32 salt) public view returns (address) {
        bytes32 h = keccak256(abi.encodePacked(
            bytes1(0xff), address(this), salt,
            keccak256(abi.encodePacked(type(TestCounterfactualWallet).creationCode,
                                       abi.encode(owner, token, PERMIT2)))));
        return address(uint160(uint256(h)));
    }
}
