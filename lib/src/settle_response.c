/*
 * The SettleResponse (docs/protocol.md#settle-response; the
 * PAYMENT-RESPONSE header is its base64) and the errorReason of a
 * settlement revert (docs/protocol.md#revert-reasons, selector form).
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


x402_err
x402_settle_response_encode(char *out, size_t *out_len,
    int success, const char *error_reason, const x402_address *payer,
    const char *transaction, uint64_t chain_id, const x402_u256 *amount)
{
    json_t  *root;
    char     net[X402_NETWORK_MAX + 1];

    if (out_len == NULL || payer == NULL || transaction == NULL) {
        return X402_ERR_ARG;
    }

    root = json_object();
    if (root == NULL) {
        return X402_ERR_NOMEM;
    }

    x402_network_format(net, chain_id);

    /* the reference key order */
    if (x402_json_set(root, "success", json_boolean(success))
        || (error_reason != NULL
            && x402_json_set_str(root, "errorReason", error_reason))
        || x402_json_set_address(root, "payer", payer)
        || x402_json_set_str(root, "transaction", transaction)
        || x402_json_set_str(root, "network", net)
        || (amount != NULL && x402_json_set_u256(root, "amount", amount)))
    {
        /* bad UTF-8 in a text, or allocation failure */
        json_decref(root);
        return X402_ERR_ARG;
    }

    return x402_json_dump(out, out_len, root);
}


/* The proxy's and Permit2's errors with a reason of their own. */
static const struct {
    uint8_t      sel[4];
    const char  *reason;
} x402_settle_errors[] = {
    /* Permit2612AmountMismatch() */
    { { 0x05, 0x0c, 0xda, 0x49 }, "permit2_2612_amount_mismatch" },
    /* InvalidAmount() (proxy), InvalidAmount(uint256) (Permit2) */
    { { 0x2c, 0x52, 0x11, 0xc6 }, "permit2_invalid_amount" },
    { { 0x37, 0x28, 0xb8, 0x3d }, "permit2_invalid_amount" },
    /* InvalidDestination() */
    { { 0xac, 0x6b, 0x05, 0xf5 }, "permit2_invalid_destination" },
    /* InvalidOwner() */
    { { 0x49, 0xe2, 0x7c, 0xff }, "permit2_invalid_owner" },
    /* PaymentTooEarly() */
    { { 0xa6, 0x55, 0x39, 0xfa }, "permit2_payment_too_early" },
    /* InvalidSignature(), SignatureExpired(uint256),
     * InvalidSignatureLength(), InvalidSigner(), InvalidContractSignature() */
    { { 0x8b, 0xaa, 0x57, 0x9f }, "invalid_permit2_signature" },
    { { 0xcd, 0x21, 0xdb, 0x4f }, "invalid_permit2_signature" },
    { { 0x4b, 0xe6, 0x32, 0x1b }, "invalid_permit2_signature" },
    { { 0x81, 0x5e, 0x1d, 0x64 }, "invalid_permit2_signature" },
    { { 0xb0, 0x66, 0x9c, 0xbc }, "invalid_permit2_signature" },
    /* InvalidNonce() */
    { { 0x75, 0x66, 0x88, 0xfe }, "permit2_invalid_nonce" },
    /* AmountExceedsPermitted() */
    { { 0xfe, 0x64, 0xb4, 0xc7 }, "upto_amount_exceeds_permitted" },
    /* UnauthorizedFacilitator() */
    { { 0x0f, 0x6f, 0xae, 0x87 }, "upto_unauthorized_facilitator" }
};


const char *
x402_settle_error_reason(const uint8_t selector[4])
{
    size_t  i;

    if (selector != NULL) {
        for (i = 0;
             i < sizeof(x402_settle_errors) / sizeof(x402_settle_errors[0]);
             i++)
        {
            if (memcmp(selector, x402_settle_errors[i].sel, 4) == 0) {
                return x402_settle_errors[i].reason;
            }
        }
    }

    return "invalid_exact_evm_transaction_failed";
}
