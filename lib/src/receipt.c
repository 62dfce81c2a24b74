/*
 * The per-payment receipt record a gateway keeps (x402.h "receipts").
 */

#include <string.h>

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


/* Parses a receipt object (bounded like every stored value we read). */
static json_t *
x402_receipt_load(const char *json, size_t len)
{
    json_t       *root;
    json_error_t  e;

    if (json == NULL || len == 0 || len > 65536) {
        return NULL;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);

    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }

    return root;
}


x402_err
x402_receipt_peek(char *status, size_t status_cap, char tx[67],
    uint64_t *updated, const char *json, size_t len)
{
    json_t      *root, *st, *t, *up;
    const char  *s;

    root = x402_receipt_load(json, len);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    st = json_object_get(root, "status");
    t = json_object_get(root, "transaction");
    up = json_object_get(root, "updated");

    if (st == NULL || up == NULL) {
        json_decref(root);
        return X402_ERR_MISSING;
    }

    if (!json_is_string(st) || !json_is_integer(up)
        || json_integer_value(up) < 0
        || (t != NULL && !json_is_string(t))
        || json_string_length(st) >= status_cap
        || (t != NULL && json_string_length(t) > 66))
    {
        json_decref(root);
        return X402_ERR_TYPE;
    }

    memcpy(status, json_string_value(st), json_string_length(st) + 1);

    s = (t != NULL) ? json_string_value(t) : "";
    memcpy(tx, s, strlen(s) + 1);

    *updated = (uint64_t) json_integer_value(up);

    json_decref(root);

    return X402_OK;
}


x402_err
x402_receipt_update(char *out, size_t *out_len, const char *json,
    size_t len, const char *status, const char *error, uint64_t updated)
{
    json_t  *root;

    if (status == NULL) {
        return X402_ERR_ARG;
    }

    root = x402_receipt_load(json, len);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    if (json_object_get(root, "status") == NULL) {
        json_decref(root);
        return X402_ERR_MISSING;
    }

    if (x402_json_set_str(root, "status", status)
        || x402_json_set(root, "updated", json_integer((json_int_t) updated))
        || (error != NULL && x402_json_set_str(root, "error", error)))
    {
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    return x402_json_dump(out, out_len, root);
}


x402_err
x402_receipt_public(char *out, size_t *out_len, const char *json, size_t len)
{
    json_t  *root;

    root = x402_receipt_load(json, len);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    if (json_object_get(root, "status") == NULL) {
        json_decref(root);
        return X402_ERR_MISSING;
    }

    /* whoever holds the signature can submit the settlement */
    (void) json_object_del(root, "signature");

    return x402_json_dump(out, out_len, root);
}
