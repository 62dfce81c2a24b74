/*
 * The per-payment receipt record a gateway keeps (x402.h "receipts").
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* "batch":{"size":N,"gasPerItem":G}: non-zero on failure */
static int
x402_receipt_batch(json_t *root, const x402_receipt *rc)
{
    json_t  *b;

    b = json_object();

    if (b == NULL
        || x402_json_set(b, "size", json_integer((json_int_t) rc->batch_size))
        || (rc->batch_gas
            && x402_json_set(b, "gasPerItem",
                             json_integer((json_int_t) rc->batch_gas))))
    {
        json_decref(b);
        return 1;
    }

    return x402_json_set(root, "batch", b);
}


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
                                     rc->signature_len)))
        || (rc->has_facilitator
            && x402_json_set_address(root, "facilitator",
                                     &rc->facilitator))
        || (rc->has_tx_nonce
            && x402_json_set(root, "txNonce",
                             json_integer((json_int_t) rc->tx_nonce)))
        || (rc->has_settler
            && x402_json_set_address(root, "settler", &rc->settler))
        || (rc->mode != NULL && x402_json_set_str(root, "mode", rc->mode))
        || (rc->batch_size && x402_receipt_batch(root, rc)))
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
    json_t  *root;

    if (json == NULL || len > 65536) {
        return NULL;
    }

    (void) x402_json_object(&root, json, len);

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


/* A required text member of a receipt. */
static x402_err
x402_receipt_text(const char **s, size_t *n, json_t *root, const char *key)
{
    json_t  *v;

    v = json_object_get(root, key);

    if (v == NULL) {
        return X402_ERR_MISSING;
    }

    if (!json_is_string(v)) {
        return X402_ERR_TYPE;
    }

    *s = json_string_value(v);
    *n = json_string_length(v);

    return X402_OK;
}


static x402_err
x402_receipt_address(x402_address *a, json_t *root, const char *key)
{
    size_t       n;
    x402_err     rc;
    const char  *s;

    rc = x402_receipt_text(&s, &n, root, key);
    if (rc != X402_OK) {
        return rc;
    }

    return x402_address_parse(a, s, n) == X402_OK ? X402_OK : X402_ERR_VALUE;
}


static x402_err
x402_receipt_u256(x402_u256 *v, json_t *root, const char *key)
{
    size_t       n;
    x402_err     rc;
    const char  *s;

    rc = x402_receipt_text(&s, &n, root, key);
    if (rc != X402_OK) {
        return rc;
    }

    return x402_u256_parse_dec(v, s, n) == X402_OK ? X402_OK : X402_ERR_VALUE;
}


/* A non-negative integer member, or `dflt` when absent. */
static x402_err
x402_receipt_uint(uint64_t *v, json_t *root, const char *key, uint64_t dflt)
{
    json_t  *j;

    j = json_object_get(root, key);

    if (j == NULL) {
        *v = dflt;
        return X402_OK;
    }

    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        return X402_ERR_TYPE;
    }

    *v = (uint64_t) json_integer_value(j);

    return X402_OK;
}


/* "batch":{"size":N}: N, or 0 without one */
static x402_err
x402_receipt_batch_size(uint64_t *size, json_t *root)
{
    json_t  *b;

    b = json_object_get(root, "batch");

    if (b == NULL) {
        *size = 0;
        return X402_OK;
    }

    if (!json_is_object(b)) {
        return X402_ERR_TYPE;
    }

    return x402_receipt_uint(size, b, "size", 0);
}


static x402_err
x402_receipt_fields(x402_receipt_settlement *out, char *resource,
    size_t resource_cap, json_t *root)
{
    size_t         n;
    x402_err       rc;
    x402_offer    *offer;
    const char    *s;
    x402_payment  *p;

    offer = &out->offer;
    p = &out->payment;

    rc = x402_receipt_text(&s, &n, root, "scheme");
    if (rc != X402_OK) {
        return rc;
    }

    /* a Permit2 payment's: exact or upto (batch-settlement has none) */
    offer->scheme = x402_scheme_parse(s, n);
    if (offer->scheme != X402_SCHEME_EXACT
        && offer->scheme != X402_SCHEME_UPTO)
    {
        return X402_ERR_VALUE;
    }

    rc = x402_receipt_text(&s, &n, root, "network");
    if (rc != X402_OK) {
        return rc;
    }

    if (x402_network_parse(&offer->chain_id, s, n) != X402_OK) {
        return X402_ERR_VALUE;
    }

    if ((rc = x402_receipt_address(&p->from, root, "payer")) != X402_OK
        || (rc = x402_receipt_address(&offer->pay_to, root, "payTo"))
           != X402_OK
        || (rc = x402_receipt_address(&offer->asset, root, "asset"))
           != X402_OK
        || (rc = x402_receipt_u256(&p->amount, root, "amount")) != X402_OK
        || (rc = x402_receipt_u256(&p->nonce, root, "nonce")) != X402_OK
        || (rc = x402_receipt_u256(&p->deadline, root, "deadline"))
           != X402_OK
        || (rc = x402_receipt_u256(&p->valid_after, root, "validAfter"))
           != X402_OK
        || (rc = x402_receipt_uint(&out->created, root, "created", 0))
           != X402_OK
        || (rc = x402_receipt_uint(&out->tx_nonce, root, "txNonce",
                                   UINT64_MAX))
           != X402_OK
        || (rc = x402_receipt_batch_size(&out->batch_size, root))
           != X402_OK)
    {
        return rc;
    }

    if (json_object_get(root, "settler") != NULL) {
        rc = x402_receipt_address(&out->settler, root, "settler");
        if (rc != X402_OK) {
            return rc;
        }

        out->has_settler = 1;
    }

    if (offer->scheme == X402_SCHEME_UPTO) {
        rc = x402_receipt_address(&offer->facilitator, root, "facilitator");
        if (rc != X402_OK) {
            return rc;
        }

        p->witness_facilitator = offer->facilitator;
        p->has_witness_facilitator = 1;
    }

    rc = x402_receipt_text(&s, &n, root, "signature");
    if (rc != X402_OK) {
        return rc;
    }

    if (!x402_signature_from_hex(p, s, n)) {
        return X402_ERR_VALUE;
    }

    if (json_object_get(root, "charged") != NULL) {
        rc = x402_receipt_u256(&out->charged, root, "charged");
        if (rc != X402_OK) {
            return rc;
        }

        out->has_charged = 1;
    }

    out->served = 1;

    if (json_object_get(root, "mode") != NULL) {
        rc = x402_receipt_text(&s, &n, root, "mode");
        if (rc != X402_OK) {
            return rc;
        }

        out->served = !x402_str_eq("sync", s, n);
    }

    s = "";
    n = 0;

    if (json_object_get(root, "resource") != NULL) {
        rc = x402_receipt_text(&s, &n, root, "resource");
        if (rc != X402_OK) {
            return rc;
        }
    }

    if (n >= resource_cap || memchr(s, 0, n) != NULL) {
        return X402_ERR_BUFFER;
    }

    memcpy(resource, s, n);
    resource[n] = '\0';

    offer->amount = p->amount;
    p->token = offer->asset;
    p->to = offer->pay_to;
    p->spender = *x402_scheme_spender(offer->scheme);

    return X402_OK;
}


x402_err
x402_receipt_settlement_decode(x402_receipt_settlement *out, char *resource,
    size_t resource_cap, const char *json, size_t len)
{
    json_t    *root;
    x402_err   rc;

    if (out == NULL || resource == NULL || resource_cap == 0) {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    root = x402_receipt_load(json, len);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    rc = x402_receipt_fields(out, resource, resource_cap, root);

    json_decref(root);

    return rc;
}


void
x402_receipt_init(x402_receipt *rc, const x402_offer *offer,
    const x402_payment *p, const char *resource, uint64_t created,
    uint64_t now)
{
    memset(rc, 0, sizeof(*rc));

    rc->scheme = offer->scheme;
    rc->chain_id = offer->chain_id;
    rc->payer = p->from;
    rc->pay_to = offer->pay_to;
    rc->asset = offer->asset;
    rc->amount = p->amount;
    rc->nonce = p->nonce;
    rc->deadline = p->deadline;
    rc->resource = resource;
    rc->created = created;
    rc->updated = now;
    rc->valid_after = p->valid_after;
    rc->signature = p->signature;
    rc->signature_len = p->signature_len;

    if (offer->scheme == X402_SCHEME_UPTO) {
        /* signed into the witness: needed to settle it again */
        rc->facilitator = offer->facilitator;
        rc->has_facilitator = 1;
    }
}


static const char *const  x402_receipt_statuses[X402_RS_MAX] = {
    NULL, "reserved", "broadcast", "pending", "settled", "failed", "retry"
};


x402_receipt_status
x402_receipt_status_parse(const char *s)
{
    int  st;

    for (st = X402_RS_RESERVED; s != NULL && st < X402_RS_MAX; st++) {
        if (strcmp(x402_receipt_statuses[st], s) == 0) {
            return (x402_receipt_status) st;
        }
    }

    return X402_RS_UNKNOWN;
}


const char *
x402_receipt_status_string(x402_receipt_status st)
{
    return ((unsigned) st < X402_RS_MAX) ? x402_receipt_statuses[st] : NULL;
}
