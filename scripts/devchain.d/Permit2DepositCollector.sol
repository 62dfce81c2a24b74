// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDepositCollector} from "./IDepositCollector.sol";
import {ISignatureTransfer, IERC20Permit} from "./ISignatureTransfer.sol";

/// @notice Permit2DepositCollector for the local test chain, as deployed on
/// Base at 0x4020425FAf3B746C082C2f942b4E5159887B0005 (written here from the
/// x402 batch-settlement specification and a reading of the public contract):
/// the deposit collector x402BatchSettlement calls for Permit2 deposits.  It
/// moves the payer's tokens straight to x402BatchSettlement with
/// permitWitnessTransferFrom, the witness binding the transfer to the channel
/// (DepositWitness{channelId}); the Permit2 spender the payer signs for is
/// this contract.  collectorData is
/// abi.encode(uint256 nonce, uint256 deadline, bytes permit2Signature, bytes eip2612PermitData);
/// a non-empty eip2612PermitData is abi.encode(value, deadline, v, r, s) for an
/// EIP-2612 permit(payer, Permit2) tried first (its failure is logged, not fatal).
///
/// Both addresses are immutables (kept in the runtime code), so the code can be
/// copied to the canonical address with anvil_setCode.  NEVER deploy anywhere
/// but a local test chain.
contract Permit2DepositCollector is IDepositCollector {
    /// @notice The only contract that may call collect, and where the tokens go.
    address public immutable x402BatchSettlement;
    ISignatureTransfer public immutable PERMIT2;

    /// @notice Permit2's witness type string (referenced types in EIP-712 order).
    string public constant DEPOSIT_WITNESS_TYPE_STRING =
        "DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions(address token,uint256 amount)";
    bytes32 public constant DEPOSIT_WITNESS_TYPEHASH = keccak256("DepositWitness(bytes32 channelId)");

    event EIP2612PermitFailedWithReason(address indexed token, address indexed owner, string reason);
    event EIP2612PermitFailedWithPanic(address indexed token, address indexed owner, uint256 errorCode);
    event EIP2612PermitFailedWithData(address indexed token, address indexed owner, bytes data);

    error OnlyX402BatchSettlement();
    error InvalidX402BatchSettlementAddress();
    error InvalidPermit2Address();
    error Permit2612AmountMismatch();

    constructor(address batchSettlement, address permit2) {
        if (batchSettlement == address(0)) revert InvalidX402BatchSettlementAddress();
        if (permit2 == address(0)) revert InvalidPermit2Address();
        x402BatchSettlement = batchSettlement;
        PERMIT2 = ISignatureTransfer(permit2);
    }

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external
        override
    {
        if (msg.sender != x402BatchSettlement) revert OnlyX402BatchSettlement();
        (uint256 nonce, uint256 deadline, bytes memory signature, bytes memory permit2612) =
            abi.decode(collectorData, (uint256, uint256, bytes, bytes));

        if (permit2612.length != 0) _tryPermit2612(payer, token, amount, permit2612);

        PERMIT2.permitWitnessTransferFrom(
            ISignatureTransfer.PermitTransferFrom({
                permitted: ISignatureTransfer.TokenPermissions({token: token, amount: amount}),
                nonce: nonce,
                deadline: deadline
            }),
            ISignatureTransfer.SignatureTransferDetails({to: x402BatchSettlement, requestedAmount: amount}),
            payer,
            keccak256(abi.encode(DEPOSIT_WITNESS_TYPEHASH, channelId)),
            DEPOSIT_WITNESS_TYPE_STRING,
            signature
        );
    }

    /// @dev The permit must be for exactly `amount`; if the token refuses it
    /// (e.g. the allowance is already there, or a front-run used it), that
    /// is logged and Permit2 decides.
    function _tryPermit2612(address payer, address token, uint256 amount, bytes memory data) private {
        (uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) =
            abi.decode(data, (uint256, uint256, uint8, bytes32, bytes32));
        if (value != amount) revert Permit2612AmountMismatch();
        try IERC20Permit(token).permit(payer, address(PERMIT2), value, deadline, v, r, s) {}
        catch Error(string memory reason) {
            emit EIP2612PermitFailedWithReason(token, payer, reason);
        } catch Panic(uint256 code) {
            emit EIP2612PermitFailedWithPanic(token, payer, code);
        } catch (bytes memory other) {
            emit EIP2612PermitFailedWithData(token, payer, other);
        }
    }
}
