/*
 * JSON-RPC plumbing shared by the on-chain checks and settlement: the
 * bounded request writer and the reply helpers (batch and single replies,
 * results, hex, quantities, reverts).
 */

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* ------------------------------------------------------------ requests */

void
x402_buf_init(x402_buf *b, char *out, size_t cap)
{
    b->p = out;
    b->cap = out == NULL ? 0 : cap;
    b->len = 0;
    b->full = (out == NULL || cap == 0);
}


void
x402_put(x402_buf *b, const char *s, size_t n)
{
    /* one byte stays free for the NUL */
    if (b->full || b->cap - b->len <= n) {
        b->full = 1;
        return;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
}


void
x402_puts(x402_buf *b, const char *s)
{
    x402_put(b, s, strlen(s));
}


void
x402_put_hex(x402_buf *b, const uint8_t *in, size_t len)
{
    if (b->full || len > (SIZE_MAX - 3) / 2
        || b->cap - b->len <= 2 + 2 * len)
    {
        b->full = 1;
        return;
    }

    b->p[b->len] = '0';
    b->p[b->len + 1] = 'x';
    x402_hex_encode(b->p + b->len + 2, in, len);
    b->len += 2 + 2 * len;
}


void
x402_put_u64(x402_buf *b, uint64_t v)
{
    char    num[21];
    size_t  n;

    n = x402_u64_format(num, v);
    x402_put(b, num, n);
}


void
x402_put_quantity(x402_buf *b, uint64_t v)
{
    char  hex[2 * sizeof(uint64_t) + 1];
    int   i, k;

    k = 0;
    for (i = 60; i >= 0; i -= 4) {
        if (k > 0 || ((v >> i) & 0xf) != 0 || i == 0) {
            hex[k++] = "0123456789abcdef"[(v >> i) & 0xf];
        }
    }
    hex[k] = '\0';

    x402_puts(b, "0x");
    x402_puts(b, hex);
}


/*
 * eth_call [{"from"?, "gas"?, "to", "data"}, block]; block UINT64_MAX:
 * "latest"; gas 0: none
 */
void
x402_put_eth_call(x402_buf *b, const char *open, uint64_t id,
    const x402_address *from, uint64_t gas, const x402_address *to,
    const uint8_t *data, size_t len, uint64_t block)
{
    x402_rpc_head(b, open, id, "eth_call");

    x402_puts(b, "{");

    if (from != NULL) {
        x402_puts(b, "\"from\":\"");
        x402_put_hex(b, from->b, sizeof(from->b));
        x402_puts(b, "\",");
    }

    if (gas != 0) {
        x402_puts(b, "\"gas\":\"");
        x402_put_quantity(b, gas);
        x402_puts(b, "\",");
    }

    if (to != NULL) {
        x402_puts(b, "\"to\":\"");
        x402_put_hex(b, to->b, sizeof(to->b));
        x402_puts(b, "\",");
    }

    x402_puts(b, "\"data\":\"");
    x402_put_hex(b, data, len);

    if (block == UINT64_MAX) {
        x402_puts(b, "\"},\"latest\"]}");
        return;
    }

    x402_puts(b, "\"},\"");
    x402_put_quantity(b, block);
    x402_puts(b, "\"]}");
}


void
x402_rpc_head(x402_buf *b, const char *open, uint64_t id, const char *method)
{
    x402_puts(b, open);
    x402_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    x402_put_u64(b, id);
    x402_puts(b, ",\"method\":\"");
    x402_puts(b, method);
    x402_puts(b, "\",\"params\":[");
}


x402_err
x402_buf_finish(x402_buf *b, size_t *out_len)
{
    if (b->full) {
        return X402_ERR_BUFFER;
    }

    b->p[b->len] = '\0';
    *out_len = b->len;

    return X402_OK;
}


/* ------------------------------------------------------------- replies */

int
x402_hex0x(const char *s, size_t len, size_t *n)
{
    size_t  i;

    if (len < 2 || s[0] != '0' || s[1] != 'x' || len % 2 != 0) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (x402_hex_digit(s[i]) < 0) {
            return 0;
        }
    }

    *n = (len - 2) / 2;

    return 1;
}


void
x402_hex0x_prefix(uint8_t *out, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        out[i] = (uint8_t) ((x402_hex_digit(s[2 + 2 * i]) << 4)
                            | x402_hex_digit(s[2 + 2 * i + 1]));
    }
}


int
x402_contains_ci(const char *s, size_t len, const char *needle)
{
    size_t  i, j, n;
    char    c;

    n = strlen(needle);

    for (i = 0; i + n <= len; i++) {
        for (j = 0; j < n; j++) {
            c = s[i + j];
            if (c >= 'A' && c <= 'Z') {
                c = (char) (c - 'A' + 'a');
            }
            if (c != needle[j]) {
                break;
            }
        }
        if (j == n) {
            return 1;
        }
    }

    return 0;
}


x402_err
x402_rpc_load(json_t **root, const char *json, size_t len)
{
    if (len > X402_RPC_REPLY_MAX) {
        *root = NULL;
        return X402_ERR_SIZE;
    }

    return x402_json_load(root, json, len);
}


/* The id of an entry relative to first_id, if it is in [0, n). */
static int
x402_rpc_slot(size_t *k, json_t *e, uint64_t first_id, size_t n)
{
    json_t      *id;
    json_int_t   v;

    id = json_object_get(e, "id");
    if (!json_is_integer(id)) {
        return 0;
    }

    v = json_integer_value(id);
    if (v < 0 || (uint64_t) v < first_id || (uint64_t) v - first_id >= n) {
        return 0;
    }

    *k = (size_t) ((uint64_t) v - first_id);

    return 1;
}


x402_err
x402_rpc_batch(json_t **slot, size_t n, json_t *root, uint64_t first_id)
{
    json_t  *e;
    size_t   i, k;

    if (!json_is_array(root)) {
        return X402_ERR_JSON;
    }

    if (json_array_size(root) != n) {
        return X402_ERR_VALUE;
    }

    for (k = 0; k < n; k++) {
        slot[k] = NULL;
    }

    json_array_foreach(root, i, e) {
        if (!json_is_object(e)) {
            return X402_ERR_JSON;
        }

        if (!x402_rpc_slot(&k, e, first_id, n) || slot[k] != NULL) {
            return X402_ERR_VALUE;
        }

        slot[k] = e;
    }

    /* n entries with distinct ids in range: every slot is set */
    return X402_OK;
}


x402_err
x402_rpc_single(json_t *root, uint64_t id)
{
    size_t  k;

    if (!json_is_object(root)) {
        return X402_ERR_JSON;
    }

    return x402_rpc_slot(&k, root, id, 1) ? X402_OK : X402_ERR_VALUE;
}


x402_err
x402_rpc_entry(json_t **res, json_t **err, json_t *e)
{
    json_t  *r, *er;

    r = json_object_get(e, "result");
    er = json_object_get(e, "error");
    *res = NULL;
    *err = NULL;

    if (er != NULL && !json_is_null(er)) {
        if (!json_is_object(er) || (r != NULL && !json_is_null(r))) {
            return X402_ERR_VALUE;
        }
        *err = er;
        return X402_OK;
    }

    if (r == NULL) {
        return X402_ERR_VALUE;
    }

    *res = r;

    return X402_OK;
}


x402_err
x402_rpc_hex(const char **s, size_t *n, json_t *res)
{
    if (!json_is_string(res)) {
        return X402_ERR_VALUE;
    }

    *s = json_string_value(res);

    return x402_hex0x(*s, json_string_length(res), n) ? X402_OK
                                                      : X402_ERR_VALUE;
}


x402_err
x402_rpc_bytes(uint8_t *out, size_t n, json_t *res)
{
    const char  *s;
    size_t       got;

    if (x402_rpc_hex(&s, &got, res) != X402_OK || got != n) {
        return X402_ERR_VALUE;
    }

    x402_hex0x_prefix(out, s, n);

    return X402_OK;
}


/* "0x" and 1 to max_digits hex digits, right-aligned into out[size]. */
static x402_err
x402_rpc_quantity_be(uint8_t *out, size_t size, json_t *res)
{
    const char  *s;
    size_t       len, i, d;
    int          v;

    if (!json_is_string(res)) {
        return X402_ERR_VALUE;
    }

    s = json_string_value(res);
    len = json_string_length(res);

    if (len < 3 || len - 2 > 2 * size || s[0] != '0' || s[1] != 'x') {
        return X402_ERR_VALUE;
    }

    memset(out, 0, size);

    /* digit i counted from the right is nibble i of the number */
    for (i = 0; i < len - 2; i++) {
        v = x402_hex_digit(s[len - 1 - i]);
        if (v < 0) {
            return X402_ERR_VALUE;
        }
        d = size - 1 - i / 2;
        out[d] = (uint8_t) (out[d] | (i % 2 ? v << 4 : v));
    }

    return X402_OK;
}


x402_err
x402_rpc_quantity_u64(uint64_t *out, json_t *res)
{
    uint8_t   b[8];
    uint64_t  v;
    size_t    i;

    if (x402_rpc_quantity_be(b, sizeof(b), res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    v = 0;
    for (i = 0; i < sizeof(b); i++) {
        v = (v << 8) | b[i];
    }

    *out = v;

    return X402_OK;
}


x402_err
x402_rpc_quantity(x402_u256 *out, json_t *res)
{
    return x402_rpc_quantity_be(out->b, sizeof(out->b), res);
}


int
x402_rpc_revert(uint8_t sel[4], int *has_sel, json_t *err)
{
    json_t  *code, *msg, *data;
    size_t   n;
    int      revert;

    revert = 0;
    *has_sel = 0;

    code = json_object_get(err, "code");
    if (json_is_integer(code) && json_integer_value(code) == 3) {
        revert = 1;
    }

    msg = json_object_get(err, "message");
    if (json_is_string(msg)
        && x402_contains_ci(json_string_value(msg), json_string_length(msg),
                            "revert"))
    {
        revert = 1;
    }

    /* anvil and geth: data is the hex string; some nodes nest it */
    data = json_object_get(err, "data");
    if (json_is_object(data)) {
        data = json_object_get(data, "data");
    }

    if (json_is_string(data)
        && x402_hex0x(json_string_value(data), json_string_length(data), &n))
    {
        revert = 1;
        if (n >= 4) {
            x402_hex0x_prefix(sel, json_string_value(data), 4);
            *has_sel = 1;
        }
    }

    return revert;
}
