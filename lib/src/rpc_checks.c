/*
 * The on-chain checks of a payment as one JSON-RPC 2.0 batch: the request,
 * the parse of the node's reply, the verdict (x402.md section 5.2) and the
 * revert selector map (section 6.2).
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_RPC_SIM        7
#define X402_RPC_ERC1271    6
#define X402_ISVALID_CAP    (4 + 3 * 32 + 96)


/* ------------------------------------------------------------ request */

/* Bounded writer; `full` sticks once something did not fit. */
typedef struct {
    char    *p;
    size_t   cap;
    size_t   len;
    int      full;
} x402_buf;


static void
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


static void
x402_puts(x402_buf *b, const char *s)
{
    x402_put(b, s, strlen(s));
}


/* "0x" and lowercase hex, no quotes. */
static void
x402_put_hex(x402_buf *b, const uint8_t *in, size_t len)
{
    if (b->full || b->cap - b->len <= 2 + 2 * len) {
        b->full = 1;
        return;
    }

    b->p[b->len] = '0';
    b->p[b->len + 1] = 'x';
    x402_hex_encode(b->p + b->len + 2, in, len);
    b->len += 2 + 2 * len;
}


static void
x402_put_u64(x402_buf *b, uint64_t v)
{
    char    num[21];
    size_t  n;

    n = x402_u64_format(num, v);
    x402_put(b, num, n);
}


/* The start of one batch entry, up to and including "params":[ */
static void
x402_rpc_head(x402_buf *b, uint64_t id, uint64_t first_id,
    const char *method)
{
    x402_puts(b, id == first_id ? "[{\"jsonrpc\":\"2.0\",\"id\":"
                                : ",{\"jsonrpc\":\"2.0\",\"id\":");
    x402_put_u64(b, id);
    x402_puts(b, ",\"method\":\"");
    x402_puts(b, method);
    x402_puts(b, "\",\"params\":[");
}


static void
x402_rpc_get_code(x402_buf *b, uint64_t id, uint64_t first_id,
    const x402_address *a)
{
    x402_rpc_head(b, id, first_id, "eth_getCode");
    x402_puts(b, "\"");
    x402_put_hex(b, a->b, sizeof(a->b));
    x402_puts(b, "\",\"latest\"]}");
}


/* eth_call [{"from"?, "to", "data"}, "latest"]; from may be NULL. */
static void
x402_rpc_call(x402_buf *b, uint64_t id, uint64_t first_id,
    const x402_address *from, const x402_address *to, const uint8_t *data,
    size_t len)
{
    x402_rpc_head(b, id, first_id, "eth_call");
    x402_puts(b, "{");

    if (from != NULL) {
        x402_puts(b, "\"from\":\"");
        x402_put_hex(b, from->b, sizeof(from->b));
        x402_puts(b, "\",");
    }

    x402_puts(b, "\"to\":\"");
    x402_put_hex(b, to->b, sizeof(to->b));
    x402_puts(b, "\",\"data\":\"");
    x402_put_hex(b, data, len);
    x402_puts(b, "\"},\"latest\"]}");
}


x402_err
x402_rpc_checks_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p, const uint8_t digest[32],
    const x402_address *sim_from, uint64_t first_id)
{
    x402_buf             b;
    uint8_t              settle[X402_SETTLE_UPTO_LEN];
    uint8_t              isvalid[X402_ISVALID_CAP];
    uint8_t              word[68];
    size_t               settle_len, isvalid_len;
    const x402_address  *proxy;
    x402_err             rc;

    if (out_len == NULL || offer == NULL || p == NULL || digest == NULL
        || sim_from == NULL
        || first_id > X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1)
        || !x402_address_eq(&p->token, &offer->asset))
    {
        return X402_ERR_ARG;
    }

    proxy = x402_scheme_spender(offer->scheme);
    if (proxy == NULL) {
        return X402_ERR_ARG;
    }

    /* the simulation charges the full amount (upto: the cap) */
    settle_len = sizeof(settle);
    rc = x402_abi_settle(settle, &settle_len, offer->scheme, p, &p->amount);
    if (rc != X402_OK) {
        return rc;
    }

    isvalid_len = sizeof(isvalid);
    rc = x402_abi_is_valid_signature(isvalid, &isvalid_len, digest,
                                     p->signature, p->signature_len);
    if (rc != X402_OK) {
        return rc;
    }

    if (out == NULL || *out_len == 0) {
        return X402_ERR_BUFFER;
    }

    b.p = out;
    b.cap = *out_len;
    b.len = 0;
    b.full = 0;

    x402_rpc_head(&b, first_id, first_id, "eth_chainId");
    x402_puts(&b, "]}");

    x402_rpc_get_code(&b, first_id + 1, first_id, &offer->asset);
    x402_rpc_get_code(&b, first_id + 2, first_id, &p->from);

    x402_abi_balance_of(word, &p->from);
    x402_rpc_call(&b, first_id + 3, first_id, NULL, &offer->asset, word, 36);

    x402_abi_allowance(word, &p->from, &x402_permit2_address);
    x402_rpc_call(&b, first_id + 4, first_id, NULL, &offer->asset, word, 68);

    x402_abi_nonce_bitmap(word, &p->from, &p->nonce);
    x402_rpc_call(&b, first_id + 5, first_id, NULL, &x402_permit2_address,
                  word, 68);

    x402_rpc_call(&b, first_id + 6, first_id, NULL, &p->from, isvalid,
                  isvalid_len);

    x402_rpc_call(&b, first_id + X402_RPC_SIM, first_id, sim_from, proxy,
                  settle, settle_len);

    x402_puts(&b, "]");

    if (b.full) {
        return X402_ERR_BUFFER;
    }

    out[b.len] = '\0';
    *out_len = b.len;

    return X402_OK;
}


/* -------------------------------------------------------------- reply */

/* Is s "0x" followed by an even number of hex digits?  *n = byte count. */
static int
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


/* The first `len` bytes of a string already checked by x402_hex0x. */
static void
x402_hex0x_prefix(uint8_t *out, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        out[i] = (uint8_t) ((x402_hex_digit(s[2 + 2 * i]) << 4)
                            | x402_hex_digit(s[2 + 2 * i + 1]));
    }
}


/* Case-insensitive search of an ASCII lowercase needle. */
static int
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


/*
 * One reply entry: either a string result (*res set) or an error object
 * (*err set).  Anything else is X402_ERR_VALUE.
 */
static x402_err
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

    if (!json_is_string(r)) {
        return X402_ERR_VALUE;
    }

    *res = r;

    return X402_OK;
}


/* A string result of valid 0x-hex; *n = its byte count. */
static x402_err
x402_rpc_hex(const char **s, size_t *n, json_t *res)
{
    *s = json_string_value(res);

    return x402_hex0x(*s, json_string_length(res), n) ? X402_OK
                                                      : X402_ERR_VALUE;
}


/* Is this error a revert?  Keeps the revert selector when data has one. */
static int
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


/* eth_chainId: "0x" and 1 to 16 hex digits. */
static x402_err
x402_rpc_chain_id(uint64_t *out, json_t *res)
{
    const char  *s;
    size_t       len, i;
    uint64_t     v;

    s = json_string_value(res);
    len = json_string_length(res);

    if (len < 3 || len > 18 || s[0] != '0' || s[1] != 'x') {
        return X402_ERR_VALUE;
    }

    v = 0;
    for (i = 2; i < len; i++) {
        if (x402_hex_digit(s[i]) < 0) {
            return X402_ERR_VALUE;
        }
        v = (v << 4) | (uint64_t) x402_hex_digit(s[i]);
    }

    *out = v;

    return X402_OK;
}


/* eth_getCode: any 0x-hex; "0x" means no code. */
static x402_err
x402_rpc_code(int *has_code, json_t *res)
{
    const char  *s;
    size_t       n;

    if (x402_rpc_hex(&s, &n, res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    *has_code = (n != 0);

    return X402_OK;
}


/* A uint256 return: exactly one word; "0x" only if allowed (read as 0). */
static x402_err
x402_rpc_word(x402_u256 *out, json_t *res, int empty_ok)
{
    const char  *s;
    size_t       n;

    if (x402_rpc_hex(&s, &n, res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    if (n == 0 && empty_ok) {
        memset(out->b, 0, sizeof(out->b));
        return X402_OK;
    }

    if (n != sizeof(out->b)) {
        return X402_ERR_VALUE;
    }

    x402_hex0x_prefix(out->b, s, n);

    return X402_OK;
}


/* isValidSignature: a bytes4 return is one left-aligned, clean word. */
static x402_err
x402_rpc_erc1271(int *ok, json_t *res)
{
    static const uint8_t  magic[4] = { 0x16, 0x26, 0xba, 0x7e };
    const char           *s;
    uint8_t               w[32];
    size_t                n, i;

    *ok = 0;

    if (x402_rpc_hex(&s, &n, res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    if (n < sizeof(w)) {
        return X402_OK;
    }

    x402_hex0x_prefix(w, s, sizeof(w));

    if (memcmp(w, magic, 4) != 0) {
        return X402_OK;
    }

    for (i = 4; i < sizeof(w); i++) {
        if (w[i] != 0) {
            return X402_OK;
        }
    }

    *ok = 1;

    return X402_OK;
}


/* Fills out from the eight entries, indexed by id - first_id. */
static x402_err
x402_rpc_interpret(x402_onchain *out, json_t *slot[X402_RPC_CHECKS])
{
    json_t       *res[X402_RPC_CHECKS], *err[X402_RPC_CHECKS];
    const char   *s;
    uint8_t       ignored[4];
    size_t        i, n;
    int           has_sel;
    x402_err      rc;

    for (i = 0; i < X402_RPC_CHECKS; i++) {
        rc = x402_rpc_entry(&res[i], &err[i], slot[i]);
        if (rc != X402_OK) {
            return rc;
        }

        /* only the EIP-1271 call and the simulation may fail */
        if (err[i] != NULL && i != X402_RPC_ERC1271 && i != X402_RPC_SIM) {
            return X402_ERR_VALUE;
        }
    }

    if (x402_rpc_chain_id(&out->chain_id, res[0]) != X402_OK
        || x402_rpc_code(&out->asset_has_code, res[1]) != X402_OK
        || x402_rpc_code(&out->from_has_code, res[2]) != X402_OK
        || x402_rpc_word(&out->balance, res[3], !out->asset_has_code)
           != X402_OK
        || x402_rpc_word(&out->allowance, res[4], !out->asset_has_code)
           != X402_OK
        || x402_rpc_word(&out->nonce_word, res[5], 0) != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    if (err[X402_RPC_ERC1271] != NULL) {
        if (!x402_rpc_revert(ignored, &has_sel, err[X402_RPC_ERC1271])) {
            return X402_ERR_VALUE;
        }
        out->erc1271_ok = 0;

    } else if (x402_rpc_erc1271(&out->erc1271_ok, res[X402_RPC_ERC1271])
               != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    if (err[X402_RPC_SIM] != NULL) {
        if (!x402_rpc_revert(out->sim_revert, &out->sim_has_revert,
                             err[X402_RPC_SIM]))
        {
            return X402_ERR_VALUE;
        }
        out->sim_ok = 0;

    } else {
        if (x402_rpc_hex(&s, &n, res[X402_RPC_SIM]) != X402_OK) {
            return X402_ERR_VALUE;
        }
        out->sim_ok = 1;
    }

    return X402_OK;
}


x402_err
x402_rpc_checks_parse(x402_onchain *out, const char *json, size_t len,
    uint64_t first_id)
{
    json_t        *root, *e, *id, *slot[X402_RPC_CHECKS];
    json_int_t     v;
    size_t         i, k;
    json_error_t   jerr;
    x402_err       rc;

    if (out == NULL || (json == NULL && len != 0)
        || first_id > X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1))
    {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    if (len > X402_RPC_REPLY_MAX) {
        return X402_ERR_SIZE;
    }

    if (len == 0) {
        return X402_ERR_JSON;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    if (!json_is_array(root)) {
        rc = X402_ERR_JSON;
        goto done;
    }

    if (json_array_size(root) != X402_RPC_CHECKS) {
        rc = X402_ERR_VALUE;
        goto done;
    }

    memset(slot, 0, sizeof(slot));

    json_array_foreach(root, i, e) {
        if (!json_is_object(e)) {
            rc = X402_ERR_JSON;
            goto done;
        }

        id = json_object_get(e, "id");
        if (!json_is_integer(id)) {
            rc = X402_ERR_VALUE;
            goto done;
        }

        v = json_integer_value(id);
        if (v < 0 || (uint64_t) v < first_id
            || (uint64_t) v - first_id >= X402_RPC_CHECKS)
        {
            rc = X402_ERR_VALUE;
            goto done;
        }

        k = (size_t) ((uint64_t) v - first_id);
        if (slot[k] != NULL) {
            rc = X402_ERR_VALUE;
            goto done;
        }
        slot[k] = e;
    }

    /* eight entries with distinct ids in range: every slot is set */
    for (k = 0; k < X402_RPC_CHECKS; k++) {
        if (slot[k] == NULL) {
            rc = X402_ERR_VALUE;
            goto done;
        }
    }

    rc = x402_rpc_interpret(out, slot);

done:

    json_decref(root);

    if (rc != X402_OK) {
        memset(out, 0, sizeof(*out));
    }

    return rc;
}


/* ------------------------------------------------------------ verdict */

/* Bit (nonce & 0xff) of the bitmap word. */
static int
x402_nonce_used(const x402_u256 *word, const x402_u256 *nonce)
{
    unsigned  bit;

    bit = nonce->b[31];

    return (word->b[31 - bit / 8] >> (bit % 8)) & 1;
}


x402_reason
x402_onchain_verdict(const x402_onchain *oc, const x402_payment *p,
    int local_sig_ok)
{
    if (oc == NULL || p == NULL) {
        return X402_R_PAYMENT_REQUIRED;
    }

    if (!oc->asset_has_code) {
        return X402_R_ASSET_NOT_DEPLOYED;
    }

    /* a payer with code goes through EIP-1271 only (as Permit2) */
    if (oc->from_has_code ? !oc->erc1271_ok : !local_sig_ok) {
        return X402_R_INVALID_SIGNATURE;
    }

    if (x402_nonce_used(&oc->nonce_word, &p->nonce)) {
        return X402_R_INVALID_NONCE;
    }

    if (x402_u256_cmp(&oc->allowance, &p->amount) < 0) {
        return X402_R_ALLOWANCE_REQUIRED;
    }

    if (x402_u256_cmp(&oc->balance, &p->amount) < 0) {
        return X402_R_INSUFFICIENT_BALANCE;
    }

    if (!oc->sim_ok) {
        return oc->sim_has_revert ? x402_revert_reason(oc->sim_revert)
                                  : X402_R_SIMULATION_FAILED;
    }

    return X402_R_VALID;
}


/* ------------------------------------------------------------- reverts */

/* Permit2's errors with a reason of their own; the rest: simulation. */
static const struct {
    uint8_t      sel[4];
    x402_reason  reason;
} x402_reverts[] = {
    /* InvalidNonce() */
    { { 0x75, 0x66, 0x88, 0xfe }, X402_R_INVALID_NONCE },
    /* InvalidSignature() */
    { { 0x8b, 0xaa, 0x57, 0x9f }, X402_R_INVALID_SIGNATURE },
    /* SignatureExpired(uint256) */
    { { 0xcd, 0x21, 0xdb, 0x4f }, X402_R_INVALID_SIGNATURE },
    /* InvalidSignatureLength() */
    { { 0x4b, 0xe6, 0x32, 0x1b }, X402_R_INVALID_SIGNATURE },
    /* InvalidSigner() */
    { { 0x81, 0x5e, 0x1d, 0x64 }, X402_R_INVALID_SIGNATURE },
    /* InvalidContractSignature() */
    { { 0xb0, 0x66, 0x9c, 0xbc }, X402_R_INVALID_SIGNATURE }
};


x402_reason
x402_revert_reason(const uint8_t selector[4])
{
    size_t  i;

    if (selector == NULL) {
        return X402_R_SIMULATION_FAILED;
    }

    for (i = 0; i < sizeof(x402_reverts) / sizeof(x402_reverts[0]); i++) {
        if (memcmp(selector, x402_reverts[i].sel, 4) == 0) {
            return x402_reverts[i].reason;
        }
    }

    return X402_R_SIMULATION_FAILED;
}
