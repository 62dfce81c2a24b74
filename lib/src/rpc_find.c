/*
 * Finding a payment's settlement on chain.  A settlement that reverts
 * because the Permit2 nonce is used may have lost a race to another
 * settlement of the same payment (a takeover, a resent transaction, the
 * payer's own submission): the token's Transfer(payer, payTo) logs since
 * the payment was admitted, and the inputs of the transactions that
 * emitted them, tell whether the permit paid payTo.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* keccak256("Transfer(address,address,uint256)") */
const uint8_t  x402_transfer_topic[32] = {
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b,
    0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16,
    0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef
};


/* ------------------------------------------------------------ requests */

x402_err
x402_rpc_head_request(char *out, size_t *out_len, uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "", id, "eth_getBlockByNumber");
    x402_puts(&b, "\"latest\",false]}");

    return x402_buf_finish(&b, out_len);
}


/* an address as a 32-byte topic: "0x" + 24 zeros + its 40 digits */
static void
x402_put_topic(x402_buf *b, const x402_address *a)
{
    char  hex[2 * sizeof(a->b) + 1];

    x402_puts(b, "\"0x000000000000000000000000");
    x402_hex_encode(hex, a->b, sizeof(a->b));
    x402_puts(b, hex);
}


x402_err
x402_rpc_transfers_request(char *out, size_t *out_len,
    const x402_address *token, const x402_address *from,
    const x402_address *to, uint64_t from_block, uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || token == NULL || from == NULL || to == NULL
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "", id, "eth_getLogs");
    x402_puts(&b, "{\"address\":\"");
    x402_put_hex(&b, token->b, sizeof(token->b));
    x402_puts(&b, "\",\"topics\":[\"");
    x402_put_hex(&b, x402_transfer_topic, sizeof(x402_transfer_topic));
    x402_puts(&b, "\",");
    x402_put_topic(&b, from);
    x402_puts(&b, "\",");
    x402_put_topic(&b, to);

    x402_puts(&b, "\"],\"fromBlock\":\"");
    x402_put_quantity(&b, from_block);
    x402_puts(&b, "\",\"toBlock\":\"latest\"}]}");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_txs_request(char *out, size_t *out_len, const uint8_t (*hashes)[32],
    size_t n, uint64_t id)
{
    size_t    i;
    x402_buf  b;

    if (out_len == NULL || hashes == NULL || n == 0
        || n > X402_FIND_TXS_MAX || id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    for (i = 0; i < n; i++) {
        x402_rpc_head(&b, i ? "," : "[", id + i, "eth_getTransactionByHash");
        x402_puts(&b, "\"");
        x402_put_hex(&b, hashes[i], 32);
        x402_puts(&b, "\"]}");
    }

    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


/* -------------------------------------------------------------- window */

uint64_t
x402_find_first_block(uint64_t head, uint64_t head_time, uint64_t since)
{
    uint64_t  back;

    /* timestamps rise by at least one a block: no block at or after
     * `since` lies more than (head_time - since) blocks below the head */
    back = head_time > since ? head_time - since : 0;

    if (back > X402_FIND_BLOCKS_MAX) {
        back = X402_FIND_BLOCKS_MAX;
    }

    return head > back ? head - back : 0;
}


/* -------------------------------------------------------------- replies */

/* A single reply's result (not an error). */
x402_err
x402_rpc_single_result(json_t **res, json_t **root, const char *json,
    size_t len, uint64_t id)
{
    json_t    *err;
    x402_err   rc;

    rc = x402_rpc_load(root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_single(*root, id);
    if (rc == X402_OK
        && (x402_rpc_entry(res, &err, *root) != X402_OK || err != NULL))
    {
        rc = X402_ERR_VALUE;
    }

    return rc;
}


x402_err
x402_rpc_head_parse(uint64_t *number, uint64_t *timestamp, const char *json,
    size_t len, uint64_t id)
{
    json_t    *root, *res;
    x402_err   rc;

    if (number == NULL || timestamp == NULL || (json == NULL && len != 0)
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    *number = 0;
    *timestamp = 0;

    rc = x402_rpc_single_result(&res, &root, json, len, id);

    if (rc == X402_OK
        && (!json_is_object(res)
            || x402_rpc_quantity_u64(number, json_object_get(res, "number"))
               != X402_OK
            || x402_rpc_quantity_u64(timestamp,
                                     json_object_get(res, "timestamp"))
               != X402_OK))
    {
        *number = 0;
        *timestamp = 0;
        rc = X402_ERR_VALUE;
    }

    json_decref(root);

    return rc;
}


x402_err
x402_rpc_transfers_parse(uint8_t (*hashes)[32], size_t *n, size_t cap,
    const char *json, size_t len, uint64_t id)
{
    json_t    *root, *res, *log, *removed;
    size_t     i, k;
    uint8_t    h[32];
    x402_err   rc;

    if (hashes == NULL || n == NULL || cap == 0
        || (json == NULL && len != 0) || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    *n = 0;

    rc = x402_rpc_single_result(&res, &root, json, len, id);
    if (rc != X402_OK) {
        json_decref(root);
        return rc;
    }

    if (!json_is_array(res)) {
        json_decref(root);
        return X402_ERR_VALUE;
    }

    json_array_foreach(res, i, log) {
        if (!json_is_object(log)
            || x402_rpc_bytes(h, 32, json_object_get(log, "transactionHash"))
               != X402_OK)
        {
            *n = 0;
            json_decref(root);
            return X402_ERR_VALUE;
        }

        /* a log of a block the chain reorganised away pays nothing */
        removed = json_object_get(log, "removed");
        if (json_is_true(removed)) {
            continue;
        }

        for (k = 0; k < *n; k++) {
            if (memcmp(hashes[k], h, 32) == 0) {
                break;
            }
        }

        if (k == *n && *n < cap) {
            memcpy(hashes[(*n)++], h, 32);
        }
    }

    json_decref(root);

    return X402_OK;
}


/* Does the 0x-hex input hold these 32 bytes at a byte boundary? */
static int
x402_input_has_word(const char *s, size_t len, const uint8_t word[32])
{
    char    want[2 * 32 + 1];
    size_t  i, j;

    x402_hex_encode(want, word, 32);

    for (i = 2; i + 64 <= len; i += 2) {
        for (j = 0; j < 64; j++) {
            if ((s[i + j] | 0x20) != want[j]) {
                break;
            }
        }
        if (j == 64) {
            return 1;
        }
    }

    return 0;
}


x402_err
x402_rpc_txs_find_permit(size_t *index, const char *json, size_t len,
    size_t n, const x402_address *payer, const x402_u256 *nonce, uint64_t id)
{
    json_t      *root, *slot[X402_FIND_TXS_MAX], *res, *err, *input;
    size_t       i, bytes;
    uint8_t      owner[32];
    const char  *s;
    x402_err     rc;

    if (index == NULL || payer == NULL || nonce == NULL || n == 0
        || n > X402_FIND_TXS_MAX || (json == NULL && len != 0)
        || id > X402_RPC_ID_MAX - (n - 1))
    {
        return X402_ERR_ARG;
    }

    *index = n;

    memset(owner, 0, 12);
    memcpy(owner + 12, payer->b, 20);

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, n, root, id);

    for (i = 0; rc == X402_OK && i < n; i++) {
        if (x402_rpc_entry(&res, &err, slot[i]) != X402_OK || err != NULL) {
            rc = X402_ERR_VALUE;
            break;
        }

        if (json_is_null(res)) {
            continue;                   /* unknown to this node */
        }

        input = json_is_object(res) ? json_object_get(res, "input") : NULL;

        if (x402_rpc_hex(&s, &bytes, input) != X402_OK) {
            rc = X402_ERR_VALUE;
            break;
        }

        if (x402_input_has_word(s, json_string_length(input), nonce->b)
            && x402_input_has_word(s, json_string_length(input), owner))
        {
            *index = i;
            break;
        }
    }

    json_decref(root);

    return rc;
}
