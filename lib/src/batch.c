/*
 * Batched settlement: many settle calls in one transaction through
 * Multicall3's aggregate3, each allowed to fail on its own; the simulation
 * that says which would fail, and each call's outcome read back from the
 * chain (the token's Transfer log in the receipt and the permit's Permit2
 * nonce bit), never from the transaction's status alone.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_WORD  32


/* 0xcA11bde05977b3631167028862bE2a173976CA11, on Base and every chain */
const x402_address  x402_multicall3_address = { {
    0xca, 0x11, 0xbd, 0xe0, 0x59, 0x77, 0xb3, 0x63, 0x11, 0x67,
    0x02, 0x88, 0x62, 0xbe, 0x2a, 0x17, 0x39, 0x76, 0xca, 0x11
} };


size_t
x402_aggregate3_len(const size_t *lens, size_t n)
{
    size_t  i, len;

    len = 4 + 2 * X402_WORD;

    for (i = 0; i < n; i++) {
        len += 5 * X402_WORD + X402_ABI_PADDED(lens[i]);
    }

    return len;
}


x402_err
x402_abi_aggregate3(uint8_t *out, size_t *out_len, const x402_address *target,
    const uint8_t *const *calls, const size_t *lens, size_t n)
{
    size_t    i, need, at, head, off;
    uint8_t  *p;

    if (out == NULL || out_len == NULL || target == NULL || calls == NULL
        || lens == NULL || n == 0 || n > X402_BATCH_MAX)
    {
        return X402_ERR_ARG;
    }

    for (i = 0; i < n; i++) {
        if (calls[i] == NULL || lens[i] == 0 || lens[i] > 65536) {
            return X402_ERR_ARG;
        }
    }

    need = x402_aggregate3_len(lens, n);

    if (*out_len < need) {
        return X402_ERR_BUFFER;
    }

    p = out;

    p[0] = (uint8_t) (X402_SEL_AGGREGATE3 >> 24);
    p[1] = (uint8_t) (X402_SEL_AGGREGATE3 >> 16);
    p[2] = (uint8_t) (X402_SEL_AGGREGATE3 >> 8);
    p[3] = (uint8_t) X402_SEL_AGGREGATE3;

    x402_abi_size(p + 4, X402_WORD);           /* the array's offset */
    x402_abi_size(p + 4 + X402_WORD, n);

    /* the tuples' offsets count from the first offset word */
    head = 4 + 2 * X402_WORD;
    off = n * X402_WORD;
    at = head + off;

    for (i = 0; i < n; i++) {
        x402_abi_size(p + head + i * X402_WORD, off);

        x402_abi_address(p + at, target);
        x402_abi_size(p + at + X402_WORD, 1);  /* allowFailure */
        x402_abi_size(p + at + 2 * X402_WORD, 3 * X402_WORD);
        (void) x402_abi_bytes(p + at + 3 * X402_WORD, calls[i], lens[i]);

        off += 4 * X402_WORD + X402_ABI_PADDED(lens[i]);
        at = head + off;
    }

    *out_len = need;

    return X402_OK;
}


x402_err
x402_rpc_aggregate3_request(char *out, size_t *out_len,
    const x402_address *from, uint64_t gas, const uint8_t *data,
    size_t data_len, uint64_t id)
{
    x402_buf  b;

    if (out == NULL || out_len == NULL || from == NULL || data == NULL
        || data_len == 0 || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_put_eth_call(&b, "", id, from, gas, &x402_multicall3_address, data,
                  data_len, UINT64_MAX);

    return x402_buf_finish(&b, out_len);
}


/*
 * Result[] = (bool success, bytes returnData)[], ABI-encoded in the n
 * bytes at r: every offset and length inside the data.
 */
static x402_err
x402_aggregate3_results(x402_call_result *res, size_t n, const uint8_t *r,
    size_t len)
{
    size_t  arr, m, i, off, tuple, boff, blen, base;

    if (len < 2 * X402_WORD || !x402_abi_word_small(&arr, r)
        || arr > len - X402_WORD || !x402_abi_word_small(&m, r + arr)
        || m != n)
    {
        return X402_ERR_VALUE;
    }

    base = arr + X402_WORD;

    if (n > (len - base) / X402_WORD) {
        return X402_ERR_VALUE;
    }

    for (i = 0; i < n; i++) {
        if (!x402_abi_word_small(&off, r + base + i * X402_WORD)
            || off > len - base || len - base - off < 2 * X402_WORD)
        {
            return X402_ERR_VALUE;
        }

        tuple = base + off;

        if (!x402_abi_word_small(&boff, r + tuple) || boff > 1) {
            return X402_ERR_VALUE;          /* a bool is 0 or 1 */
        }

        res[i].ok = (int) boff;

        if (!x402_abi_word_small(&boff, r + tuple + X402_WORD)
            || boff > len - tuple || len - tuple - boff < X402_WORD
            || !x402_abi_word_small(&blen, r + tuple + boff)
            || X402_ABI_PADDED(blen) > len - tuple - boff - X402_WORD)
        {
            return X402_ERR_VALUE;
        }

        res[i].has_revert = (!res[i].ok && blen >= 4);

        if (res[i].has_revert) {
            memcpy(res[i].revert, r + tuple + boff + X402_WORD, 4);
        }
    }

    return X402_OK;
}


x402_err
x402_rpc_aggregate3_parse(x402_call_result *res, size_t n, const char *json,
    size_t len, uint64_t id)
{
    json_t       *root, *val, *err;
    size_t        bytes;
    uint8_t      *r;
    x402_err      rc;
    const char   *s;

    if (res == NULL || n == 0 || n > X402_BATCH_MAX
        || (json == NULL && len != 0) || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    memset(res, 0, n * sizeof(x402_call_result));

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(root, id);

    if (rc == X402_OK
        && (x402_rpc_entry(&val, &err, root) != X402_OK || err != NULL
            || x402_rpc_hex(&s, &bytes, val) != X402_OK))
    {
        /* the aggregate itself failed: nothing can be told per call */
        rc = X402_ERR_VALUE;
    }

    if (rc == X402_OK) {
        r = malloc(bytes ? bytes : 1);

        if (r == NULL) {
            rc = X402_ERR_NOMEM;

        } else {
            x402_hex0x_prefix(r, s, bytes);
            rc = x402_aggregate3_results(res, n, r, bytes);
            free(r);
        }
    }

    if (rc != X402_OK) {
        memset(res, 0, n * sizeof(x402_call_result));
    }

    json_decref(root);

    return rc;
}


/* ------------------------------------------------------------ receipt */

/* A Transfer(from, to, value) log of the receipt, or 0. */
static int
x402_log_transfer(x402_transfer *t, json_t *log)
{
    json_t   *topics;
    uint8_t   w[32];

    topics = json_object_get(log, "topics");

    if (!json_is_array(topics) || json_array_size(topics) != 3
        || x402_rpc_bytes(w, 32, json_array_get(topics, 0)) != X402_OK
        || memcmp(w, x402_transfer_topic, 32) != 0)
    {
        return 0;
    }

    if (x402_rpc_bytes(w, 32, json_array_get(topics, 1)) != X402_OK) {
        return 0;
    }

    memcpy(t->from.b, w + 12, 20);

    if (x402_rpc_bytes(w, 32, json_array_get(topics, 2)) != X402_OK) {
        return 0;
    }

    memcpy(t->to.b, w + 12, 20);

    return x402_rpc_bytes(t->value.b, 32, json_object_get(log, "data"))
           == X402_OK
           && x402_rpc_bytes(t->token.b, 20,
                             json_object_get(log, "address"))
              == X402_OK;
}


x402_err
x402_rpc_receipt_transfers_parse(x402_tx_outcome *out, x402_transfer *t,
    size_t cap, const char *json, size_t len, uint64_t id)
{
    json_t         *root, *res, *err, *logs, *log;
    size_t          i;
    x402_u256       st;
    x402_err        rc;
    x402_transfer   spare;

    if (out == NULL || (t == NULL && cap != 0)
        || (json == NULL && len != 0) || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(x402_tx_outcome));

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(root, id);

    if (rc == X402_OK
        && (x402_rpc_entry(&res, &err, root) != X402_OK || err != NULL))
    {
        rc = X402_ERR_VALUE;
    }

    if (rc != X402_OK || json_is_null(res)) {
        json_decref(root);
        return rc;                      /* not mined (yet) */
    }

    logs = json_is_object(res) ? json_object_get(res, "logs") : NULL;

    if (!json_is_object(res)
        || x402_rpc_quantity(&st, json_object_get(res, "status")) != X402_OK
        || st.b[31] > 1 || !x402_zero_bytes(st.b, 31)
        || x402_rpc_quantity_u64(&out->block,
                                 json_object_get(res, "blockNumber"))
           != X402_OK
        || x402_rpc_quantity_u64(&out->gas_used,
                                 json_object_get(res, "gasUsed"))
           != X402_OK
        || !json_is_array(logs))
    {
        memset(out, 0, sizeof(x402_tx_outcome));
        json_decref(root);
        return X402_ERR_VALUE;
    }

    out->found = 1;
    out->status = st.b[31];

    json_array_foreach(logs, i, log) {
        if (!json_is_object(log) || json_is_true(json_object_get(log,
                                                                 "removed")))
        {
            continue;
        }

        if (!x402_log_transfer(&spare, log)) {
            continue;
        }

        if (out->transfers == cap) {
            out->truncated = 1;
            continue;
        }

        t[out->transfers++] = spare;
    }

    json_decref(root);

    return X402_OK;
}


/* ------------------------------------------------------- nonce bits */

x402_err
x402_rpc_nonce_bits_request(char *out, size_t *out_len,
    const x402_batch_item *items, size_t n, uint64_t block, uint64_t id)
{
    size_t    i;
    uint8_t   word[68];
    x402_buf  b;

    if (out == NULL || out_len == NULL || items == NULL || n == 0
        || n > X402_BATCH_MAX || id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    for (i = 0; i < n; i++) {
        x402_abi_nonce_bitmap(word, &items[i].payer, &items[i].nonce);
        x402_put_eth_call(&b, i ? "," : "[", id + i, NULL, 0,
                      &x402_permit2_address, word, sizeof(word), block);
    }

    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_nonce_bits_parse(int *used, const x402_batch_item *items, size_t n,
    const char *json, size_t len, uint64_t id)
{
    json_t    **slot, *root, *res, *err;
    size_t      i;
    unsigned    bit;
    x402_u256   w;
    x402_err    rc;

    if (used == NULL || items == NULL || n == 0 || n > X402_BATCH_MAX
        || (json == NULL && len != 0) || id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    memset(used, 0, n * sizeof(int));

    slot = malloc(n * sizeof(json_t *));
    if (slot == NULL) {
        return X402_ERR_NOMEM;
    }

    rc = x402_rpc_load(&root, json, len);

    if (rc == X402_OK) {
        rc = x402_rpc_batch(slot, n, root, id);

        for (i = 0; rc == X402_OK && i < n; i++) {
            if (x402_rpc_entry(&res, &err, slot[i]) != X402_OK
                || err != NULL
                || x402_rpc_bytes(w.b, 32, res) != X402_OK)
            {
                rc = X402_ERR_VALUE;
                break;
            }

            bit = items[i].nonce.b[31];
            used[i] = (w.b[31 - bit / 8] >> (bit % 8)) & 1;
        }

        json_decref(root);
    }

    if (rc != X402_OK) {
        memset(used, 0, n * sizeof(int));
    }

    free(slot);

    return rc;
}


/* ------------------------------------------------------------- match */

size_t
x402_batch_match(int *settled, const x402_batch_item *items,
    const int *used, size_t n, const x402_transfer *logs, size_t m)
{
    size_t  i, k, next, count;

    if (settled == NULL || items == NULL || used == NULL
        || (logs == NULL && m != 0))
    {
        return 0;
    }

    next = 0;
    count = 0;

    for (i = 0; i < n; i++) {
        settled[i] = 0;

        if (!used[i]) {
            continue;                   /* its call failed: nonce unused */
        }

        /* the calls ran in order: a call's transfer follows the last one */
        for (k = next; k < m; k++) {
            if (x402_address_eq(&logs[k].token, &items[i].asset)
                && x402_address_eq(&logs[k].from, &items[i].payer)
                && x402_address_eq(&logs[k].to, &items[i].pay_to)
                && x402_u256_cmp(&logs[k].value, &items[i].amount) == 0)
            {
                break;
            }
        }

        if (k < m) {
            settled[i] = 1;
            next = k + 1;
            count++;
        }
    }

    return count;
}
