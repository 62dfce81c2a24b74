/*
 * The per-payment receipt record a gateway keeps (x402.h "receipts").
 */

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


x402_err
x402_receipt_encode(char *out, size_t *out_len, const x402_receipt *rc)
{
    json_t  *root;
    char     net[X402_NETWORK_MAX + 1];

    if (rc == NULL || rc->status == NULL
        || x402_scheme_name(rc->scheme) == NULL)
    {
        return X402_ERR_ARG;
    }

    root = json_object();
    if (root == NULL) {
        return X402_ERR_NOMEM;
    }

    x402_network_format(net, rc->chain_id);

    if (x402_json_set_str(root, "status", rc->status)
        || x402_json_set_str(root, "network", net)
        || x402_json_set_str(root, "scheme", x402_scheme_name(rc->scheme))
        || x402_json_set_address(root, "payer", &rc->payer)
        || x402_json_set_address(root, "payTo", &rc->pay_to)
        || x402_json_set_address(root, "asset", &rc->asset)
        || x402_json_set_u256(root, "amount", &rc->amount)
        || x402_json_set_u256(root, "nonce", &rc->nonce)
        || x402_json_set_u256(root, "deadline", &rc->deadline)
        || (rc->resource != NULL
            && x402_json_set_str(root, "resource", rc->resource))
        || x402_json_set(root, "created",
                         json_integer((json_int_t) rc->created))
        || x402_json_set(root, "updated",
                         json_integer((json_int_t) rc->updated))
        || (rc->transaction != NULL
            && x402_json_set_str(root, "transaction", rc->transaction))
        || (rc->error != NULL && x402_json_set_str(root, "error", rc->error))
        || (rc->has_charged
            && x402_json_set_u256(root, "charged", &rc->charged))
        || (rc->signature_len
            && (x402_json_set_u256(root, "validAfter", &rc->valid_after)
                || x402_json_set_hex(root, "signature", rc->signature,
                                     rc->signature_len))))
    {
        /* bad UTF-8 in the resource, or allocation failure */
        json_decref(root);
        return X402_ERR_ARG;
    }

    return x402_json_dump(out, out_len, root);
}
