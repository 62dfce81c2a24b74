/*
 * The JSON-RPC calls of a direct settlement: the fees batch (priority fee,
 * base fee, gas estimate, pending nonce), eth_sendRawTransaction and
 * eth_getTransactionReceipt, and the parse of their replies.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_FEES_CALLS      4
#define X402_FEES_PRIORITY   0
#define X402_FEES_BLOCK      1
#define X402_FEES_ESTIMATE   2
#define X402_FEES_NONCE      3


/* ------------------------------------------------------------ requests */

/* eth_estimateGas (id) and from's pending transaction count (id + 1) */
static void
x402_rpc_gas_entries(x402_buf *b, const char *open, uint64_t id,
    const x402_address *from, const x402_address *to, const uint8_t *data,
    size_t data_len)
{
    x402_rpc_head(b, open, id, "eth_estimateGas");
    x402_puts(b, "{\"from\":\"");
    x402_put_hex(b, from->b, sizeof(from->b));
    x402_puts(b, "\",\"to\":\"");
    x402_put_hex(b, to->b, sizeof(to->b));
    x402_puts(b, "\",\"data\":\"");
    x402_put_hex(b, data, data_len);
    x402_puts(b, "\"},\"latest\"]}");

    x402_rpc_head(b, ",", id + 1, "eth_getTransactionCount");
    x402_puts(b, "\"");
    x402_put_hex(b, from->b, sizeof(from->b));
    x402_puts(b, "\",\"pending\"]}");
}


x402_err
x402_rpc_fees_request(char *out, size_t *out_len,
    const x402_address *from, const x402_address *to, const uint8_t *data,
    size_t data_len, uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || from == NULL || to == NULL
        || (data == NULL && data_len != 0)
        || id > X402_RPC_ID_MAX - (X402_FEES_CALLS - 1))
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "[", id + X402_FEES_PRIORITY,
                  "eth_maxPriorityFeePerGas");
    x402_puts(&b, "]}");

    x402_rpc_head(&b, ",", id + X402_FEES_BLOCK, "eth_getBlockByNumber");
    x402_puts(&b, "\"latest\",false]}");

    /* X402_FEES_NONCE follows X402_FEES_ESTIMATE */
    x402_rpc_gas_entries(&b, ",", id + X402_FEES_ESTIMATE, from, to, data,
                         data_len);
    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_gas_request(char *out, size_t *out_len, const x402_address *from,
    const x402_address *to, const uint8_t *data, size_t data_len, uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || from == NULL || to == NULL
        || (data == NULL && data_len != 0)
        || id > X402_RPC_ID_MAX - 1)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_gas_entries(&b, "[", id, from, to, data, data_len);
    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


/* {"jsonrpc":"2.0","id":id,"method":method,"params":["0x<hex>"]} */
static x402_err
x402_rpc_hex_request(char *out, size_t *out_len, const char *method,
    const uint8_t *in, size_t len, uint64_t id)
{
    x402_buf  b;

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "", id, method);
    x402_puts(&b, "\"");
    x402_put_hex(&b, in, len);
    x402_puts(&b, "\"]}");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_send_request(char *out, size_t *out_len,
    const uint8_t *raw, size_t raw_len, uint64_t id)
{
    if (out_len == NULL || raw == NULL || raw_len == 0
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    return x402_rpc_hex_request(out, out_len, "eth_sendRawTransaction",
                                raw, raw_len, id);
}


x402_err
x402_rpc_receipt_request(char *out, size_t *out_len,
    const uint8_t hash32[32], uint64_t id)
{
    if (out_len == NULL || hash32 == NULL || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    return x402_rpc_hex_request(out, out_len, "eth_getTransactionReceipt",
                                hash32, 32, id);
}


x402_err
x402_rpc_mined_count_request(char *out, size_t *out_len,
    const x402_address *from, uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || from == NULL || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "", id, "eth_getTransactionCount");
    x402_puts(&b, "\"");
    x402_put_hex(&b, from->b, sizeof(from->b));
    x402_puts(&b, "\",\"latest\"]}");

    return x402_buf_finish(&b, out_len);
}


/* -------------------------------------------------------------- replies */

/* The result of a call that must succeed. */
static x402_err
x402_rpc_result(json_t **res, json_t *e)
{
    json_t  *err;

    if (x402_rpc_entry(res, &err, e) != X402_OK || err != NULL) {
        return X402_ERR_VALUE;
    }

    return X402_OK;
}


/* The estimate and the pending count: the per-transaction part. */
static x402_err
x402_fees_gas(x402_fees *out, json_t *estimate, json_t *nonce)
{
    json_t  *res, *err;

    if (x402_rpc_result(&res, nonce) != X402_OK
        || x402_rpc_quantity_u64(&out->pending_nonce, res) != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    /* the estimate runs the call: a revert is an answer, not a fault */
    if (x402_rpc_entry(&res, &err, estimate) != X402_OK) {
        return X402_ERR_VALUE;
    }

    if (err != NULL) {
        if (!x402_rpc_revert(out->revert, &out->has_revert, err)) {
            return X402_ERR_VALUE;
        }
        out->estimate_ok = 0;
        return X402_OK;
    }

    if (x402_rpc_quantity_u64(&out->gas_estimate, res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    out->estimate_ok = 1;

    return X402_OK;
}


static x402_err
x402_fees_interpret(x402_fees *out, json_t *slot[X402_FEES_CALLS])
{
    json_t  *res;

    if (x402_rpc_result(&res, slot[X402_FEES_PRIORITY]) != X402_OK
        || x402_rpc_quantity(&out->priority_fee, res) != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    /* a block object; null (no such block) or pre-London: no base fee */
    if (x402_rpc_result(&res, slot[X402_FEES_BLOCK]) != X402_OK
        || !json_is_object(res)
        || x402_rpc_quantity(&out->base_fee,
                             json_object_get(res, "baseFeePerGas"))
           != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    return x402_fees_gas(out, slot[X402_FEES_ESTIMATE],
                         slot[X402_FEES_NONCE]);
}


x402_err
x402_rpc_fees_parse(x402_fees *out, const char *json, size_t len,
    uint64_t id)
{
    json_t    *root, *slot[X402_FEES_CALLS];
    x402_err   rc;

    if (out == NULL || (json == NULL && len != 0)
        || id > X402_RPC_ID_MAX - (X402_FEES_CALLS - 1))
    {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, X402_FEES_CALLS, root, id);
    if (rc == X402_OK) {
        rc = x402_fees_interpret(out, slot);
    }

    json_decref(root);

    if (rc != X402_OK) {
        memset(out, 0, sizeof(*out));
    }

    return rc;
}


x402_err
x402_rpc_gas_parse(x402_fees *out, const char *json, size_t len, uint64_t id)
{
    json_t    *root, *slot[2];
    x402_err   rc;

    if (out == NULL || (json == NULL && len != 0) || id > X402_RPC_ID_MAX - 1)
    {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, 2, root, id);
    if (rc == X402_OK) {
        rc = x402_fees_gas(out, slot[0], slot[1]);
    }

    json_decref(root);

    if (rc != X402_OK) {
        memset(out, 0, sizeof(*out));
    }

    return rc;
}


/* Copies s into msg (NUL-terminated), cut at a UTF-8 character boundary. */
static void
x402_copy_message(char *msg, size_t msg_cap, const char *s, size_t len)
{
    if (msg == NULL || msg_cap == 0) {
        return;
    }

    if (len >= msg_cap) {
        len = msg_cap - 1;
        /* do not leave half a character: back off continuation bytes */
        while (len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    memcpy(msg, s, len);
    msg[len] = '\0';
}


int
x402_zero_bytes(const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }

    return 1;
}


x402_err
x402_rpc_send_parse(uint8_t hash32[32], char *msg, size_t msg_cap,
    const char *json, size_t len, uint64_t id)
{
    json_t    *root, *res, *err, *m;
    uint8_t    h[32];
    x402_err   rc;

    if ((json == NULL && len != 0) || (msg == NULL && msg_cap != 0)
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    x402_copy_message(msg, msg_cap, "", 0);

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(root, id);
    if (rc != X402_OK) {
        goto done;
    }

    if (x402_rpc_entry(&res, &err, root) != X402_OK) {
        rc = X402_ERR_VALUE;
        goto done;
    }

    if (err != NULL) {
        m = json_object_get(err, "message");
        if (json_is_string(m)) {
            x402_copy_message(msg, msg_cap, json_string_value(m),
                              json_string_length(m));
        }
        rc = X402_ERR_VALUE;
        goto done;
    }

    /* a broadcast must name its transaction; all zeros names none */
    if (x402_rpc_bytes(h, sizeof(h), res) != X402_OK
        || x402_zero_bytes(h, sizeof(h)))
    {
        rc = X402_ERR_VALUE;
        goto done;
    }

    if (hash32 != NULL) {
        memcpy(hash32, h, sizeof(h));
    }

    rc = X402_OK;

done:

    json_decref(root);

    return rc;
}


x402_err
x402_rpc_receipt_parse(int *found, int *status, uint64_t *block,
    const char *json, size_t len, uint64_t id)
{
    json_t    *root, *res;
    x402_u256  st;
    x402_err   rc;

    if (found == NULL || status == NULL || block == NULL
        || (json == NULL && len != 0) || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    *found = 0;
    *status = 0;
    *block = 0;

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(root, id);
    if (rc != X402_OK) {
        goto done;
    }

    if (x402_rpc_result(&res, root) != X402_OK) {
        rc = X402_ERR_VALUE;
        goto done;
    }

    if (json_is_null(res)) {
        rc = X402_OK;                   /* not mined (yet) */
        goto done;
    }

    /* a post-Byzantium receipt: status 0x1 or 0x0, and its block */
    if (!json_is_object(res)
        || x402_rpc_quantity(&st, json_object_get(res, "status")) != X402_OK
        || !x402_zero_bytes(st.b, 31) || st.b[31] > 1
        || x402_rpc_quantity_u64(block, json_object_get(res, "blockNumber"))
           != X402_OK)
    {
        *block = 0;
        rc = X402_ERR_VALUE;
        goto done;
    }

    *found = 1;
    *status = st.b[31];
    rc = X402_OK;

done:

    json_decref(root);

    return rc;
}


x402_err
x402_rpc_mined_count_parse(uint64_t *count, const char *json, size_t len,
    uint64_t id)
{
    json_t    *root, *res;
    x402_err   rc;

    if (count == NULL || (json == NULL && len != 0) || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    *count = 0;

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(root, id);

    if (rc == X402_OK
        && (x402_rpc_result(&res, root) != X402_OK
            || x402_rpc_quantity_u64(count, res) != X402_OK))
    {
        *count = 0;
        rc = X402_ERR_VALUE;
    }

    json_decref(root);

    return rc;
}
