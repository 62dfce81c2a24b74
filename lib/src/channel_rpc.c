/*
 * libx402: what a gateway asks the node about batch-settlement channels
 * (x402.h, "batch-settlement: JSON-RPC"): batches of eth_calls to one
 * contract and their return words, and the contract's WithdrawInitiated
 * logs.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* keccak256("WithdrawInitiated(bytes32,uint128,uint40)") */
const uint8_t x402_channel_withdraw_topic[32] = {
    0xe4, 0x28, 0x0d, 0x0d, 0x90, 0x3c, 0x7f, 0x25,
    0x8f, 0x62, 0xb0, 0x7c, 0x62, 0xf2, 0x62, 0x37,
    0x7c, 0xba, 0xa2, 0x3f, 0x77, 0x91, 0xd7, 0x81,
    0x26, 0xe6, 0x44, 0x6e, 0x0f, 0x0e, 0x3c, 0x23
};


x402_err
x402_rpc_calls_request(char *out, size_t *out_len, const x402_address *from,
    uint64_t gas, const x402_address *to, const uint8_t *const *data,
    const size_t *lens, size_t n, uint64_t first_id)
{
    size_t    i;
    x402_buf  b;

    if (out == NULL || out_len == NULL || to == NULL || data == NULL
        || lens == NULL || n == 0 || n > X402_CALLS_MAX
        || first_id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    for (i = 0; i < n; i++) {
        if (data[i] == NULL || lens[i] == 0) {
            return X402_ERR_ARG;
        }

        x402_put_eth_call(&b, i == 0 ? "[" : ",", first_id + i, from, gas,
                          to, data[i], lens[i], UINT64_MAX);
    }

    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_calls_parse(x402_call_result *res, uint8_t *ret, size_t ret_size,
    size_t n, const char *json, size_t len, uint64_t first_id)
{
    int        has_sel;
    json_t    *root, *slot[X402_CALLS_MAX], *val, *err;
    size_t     i, bytes;
    uint8_t    sel[4];
    x402_err   rc;
    const char *s;

    if (res == NULL || (ret == NULL && ret_size != 0) || n == 0
        || n > X402_CALLS_MAX || (json == NULL && len != 0)
        || first_id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    memset(res, 0, n * sizeof(x402_call_result));

    if (ret_size) {
        memset(ret, 0, n * ret_size);
    }

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, n, root, first_id);

    for (i = 0; rc == X402_OK && i < n; i++) {
        rc = x402_rpc_entry(&val, &err, slot[i]);
        if (rc != X402_OK) {
            break;
        }

        if (err != NULL) {
            /* a revert is an answer; any other error is the node's */
            if (!x402_rpc_revert(sel, &has_sel, err)) {
                rc = X402_ERR_VALUE;
                break;
            }

            res[i].has_revert = has_sel;
            if (has_sel) {
                memcpy(res[i].revert, sel, 4);
            }

            continue;
        }

        rc = x402_rpc_hex(&s, &bytes, val);
        if (rc != X402_OK || bytes < ret_size) {
            rc = X402_ERR_VALUE;
            break;
        }

        if (ret_size) {
            x402_hex0x_prefix(ret + i * ret_size, s, ret_size);
        }

        res[i].ok = 1;
    }

    if (rc != X402_OK) {
        memset(res, 0, n * sizeof(x402_call_result));

        if (ret_size) {
            memset(ret, 0, n * ret_size);
        }
    }

    json_decref(root);

    return rc;
}


x402_err
x402_rpc_withdraw_logs_request(char *out, size_t *out_len,
    uint64_t from_block, uint64_t to_block, uint64_t id)
{
    x402_buf  b;

    if (out == NULL || out_len == NULL || from_block > to_block
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "", id, "eth_getLogs");
    x402_puts(&b, "{\"address\":\"");
    x402_put_hex(&b, x402_batch_settlement_address.b, 20);
    x402_puts(&b, "\",\"topics\":[\"");
    x402_put_hex(&b, x402_channel_withdraw_topic, 32);
    x402_puts(&b, "\"],\"fromBlock\":\"");
    x402_put_quantity(&b, from_block);
    x402_puts(&b, "\",\"toBlock\":\"");
    x402_put_quantity(&b, to_block);
    x402_puts(&b, "\"}]}");

    return x402_buf_finish(&b, out_len);
}


/* One WithdrawInitiated log: X402_ERR_VALUE when it is not one. */
static x402_err
x402_withdraw_log(x402_channel_withdraw *w, json_t *log)
{
    json_t       *topics;
    size_t        bytes;
    uint8_t       topic0[32], data[64];
    const char   *s;

    topics = json_object_get(log, "topics");

    if (!json_is_array(topics) || json_array_size(topics) != 2
        || x402_rpc_bytes(topic0, 32, json_array_get(topics, 0)) != X402_OK
        || memcmp(topic0, x402_channel_withdraw_topic, 32) != 0
        || x402_rpc_bytes(w->channel_id, 32, json_array_get(topics, 1))
           != X402_OK
        || x402_rpc_hex(&s, &bytes, json_object_get(log, "data")) != X402_OK
        || bytes != 64
        || x402_rpc_quantity_u64(&w->block,
                                 json_object_get(log, "blockNumber"))
           != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    x402_hex0x_prefix(data, s, 64);

    /* uint128 amount, uint40 finalizeAfter: anything wider is not ours */
    if (memcmp(data, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) != 0) {
        return X402_ERR_VALUE;
    }

    memcpy(w->amount.b, data, 32);

    for (bytes = 32; bytes < 59; bytes++) {
        if (data[bytes] != 0) {
            return X402_ERR_VALUE;
        }
    }

    w->finalize_after = 0;

    for (bytes = 59; bytes < 64; bytes++) {
        w->finalize_after = (w->finalize_after << 8) | data[bytes];
    }

    return X402_OK;
}


x402_err
x402_rpc_withdraw_logs_parse(x402_channel_withdraw *out, size_t *n,
    size_t cap, const char *json, size_t len, uint64_t id)
{
    json_t    *root, *res, *log;
    size_t     i;
    x402_err   rc;

    if (out == NULL || n == NULL || cap == 0 || (json == NULL && len != 0)
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    *n = 0;

    rc = x402_rpc_single_result(&res, &root, json, len, id);

    if (rc == X402_OK && !json_is_array(res)) {
        rc = X402_ERR_VALUE;
    }

    if (rc == X402_OK) {
        json_array_foreach(res, i, log) {
            if (!json_is_object(log)) {
                rc = X402_ERR_VALUE;
                break;
            }

            /* a log of a block the chain reorganised away says nothing */
            if (json_is_true(json_object_get(log, "removed"))) {
                continue;
            }

            if (*n == cap) {
                rc = X402_ERR_BUFFER;
                break;
            }

            rc = x402_withdraw_log(&out[*n], log);
            if (rc != X402_OK) {
                break;
            }

            (*n)++;
        }
    }

    if (rc != X402_OK) {
        *n = 0;
    }

    json_decref(root);

    return rc;
}
