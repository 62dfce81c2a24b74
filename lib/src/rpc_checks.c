/*
 * The on-chain checks of a payment as one JSON-RPC 2.0 batch: the request,
 * the parse of the node's reply, the verdict
 * (docs/protocol.md#on-chain-verdict) and the revert selector map
 * (docs/protocol.md#revert-reasons).
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_RPC_SIM        7
#define X402_RPC_ERC1271    6
#define X402_ISVALID_CAP    (4 + 3 * 32 + X402_ABI_PADDED(X402_SIGNATURE_MAX))


/* ------------------------------------------------------------ request */

/* The opening of batch entry id: "[" for the first, "," after. */
static const char *
x402_rpc_open(uint64_t id, uint64_t first_id)
{
    return id == first_id ? "[" : ",";
}


static void
x402_rpc_get_code(x402_buf *b, uint64_t id, uint64_t first_id,
    const x402_address *a)
{
    x402_rpc_head(b, x402_rpc_open(id, first_id), id, "eth_getCode");
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
    x402_put_eth_call(b, x402_rpc_open(id, first_id), id, from, 0, to, data,
                      len, UINT64_MAX);
}


/*
 * The simulated settle(...): its proxy and calldata, charging the full
 * signed amount (upto: the cap), for a payment in the offer's asset.
 */
static x402_err
x402_rpc_simulation(uint8_t *settle, size_t *settle_len,
    const x402_address **proxy, const x402_offer *offer,
    const x402_payment *p)
{
    if (offer == NULL || p == NULL
        || !x402_address_eq(&p->token, &offer->asset))
    {
        return X402_ERR_ARG;
    }

    *proxy = x402_scheme_spender(offer->scheme);
    if (*proxy == NULL) {
        return X402_ERR_ARG;
    }

    return x402_abi_settle(settle, settle_len, offer->scheme, p, &p->amount);
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

    if (out_len == NULL || digest == NULL || sim_from == NULL
        || first_id > X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1))
    {
        return X402_ERR_ARG;
    }

    settle_len = sizeof(settle);
    rc = x402_rpc_simulation(settle, &settle_len, &proxy, offer, p);
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

    x402_buf_init(&b, out, *out_len);

    x402_rpc_head(&b, "[", first_id, "eth_chainId");
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

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_simulate_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p,
    const x402_address *sim_from, uint64_t id)
{
    x402_buf             b;
    uint8_t              settle[X402_SETTLE_UPTO_LEN];
    size_t               settle_len;
    const x402_address  *proxy;
    x402_err             rc;

    if (out_len == NULL || sim_from == NULL || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    settle_len = sizeof(settle);
    rc = x402_rpc_simulation(settle, &settle_len, &proxy, offer, p);
    if (rc != X402_OK) {
        return rc;
    }

    if (out == NULL || *out_len == 0) {
        return X402_ERR_BUFFER;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_call(&b, id, id, sim_from, proxy, settle, settle_len);
    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


x402_err
x402_rpc_code_request(char *out, size_t *out_len, const x402_address *a,
    uint64_t id)
{
    x402_buf  b;

    if (out_len == NULL || a == NULL || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    x402_buf_init(&b, out, *out_len);

    x402_rpc_get_code(&b, id, id, a);
    x402_puts(&b, "]");

    return x402_buf_finish(&b, out_len);
}


/* -------------------------------------------------------------- reply */

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


int
x402_erc1271_magic(const uint8_t w[32])
{
    static const uint8_t  magic[4] = { 0x16, 0x26, 0xba, 0x7e };

    return memcmp(w, magic, 4) == 0 && x402_zero_bytes(w + 4, 28);
}


/* isValidSignature: a bytes4 return is one left-aligned, clean word. */
static x402_err
x402_rpc_erc1271(int *ok, json_t *res)
{
    const char  *s;
    uint8_t      w[32];
    size_t       n;

    *ok = 0;

    if (x402_rpc_hex(&s, &n, res) != X402_OK) {
        return X402_ERR_VALUE;
    }

    if (n < sizeof(w)) {
        return X402_OK;
    }

    x402_hex0x_prefix(w, s, sizeof(w));
    *ok = x402_erc1271_magic(w);

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

        /* every result here is a string */
        if (res[i] != NULL && !json_is_string(res[i])) {
            return X402_ERR_VALUE;
        }

        /* only the EIP-1271 call and the simulation may fail */
        if (err[i] != NULL && i != X402_RPC_ERC1271 && i != X402_RPC_SIM) {
            return X402_ERR_VALUE;
        }
    }

    if (x402_rpc_quantity_u64(&out->chain_id, res[0]) != X402_OK
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
    json_t    *root, *slot[X402_RPC_CHECKS];
    x402_err   rc;

    if (out == NULL || (json == NULL && len != 0)
        || first_id > X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1))
    {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    rc = x402_rpc_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, X402_RPC_CHECKS, root, first_id);
    if (rc == X402_OK) {
        rc = x402_rpc_interpret(out, slot);
    }

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


/* The only entry of a batch of one; *root is the caller's on success. */
static x402_err
x402_rpc_only(json_t **root, json_t **res, json_t **err, const char *json,
    size_t len, uint64_t id)
{
    json_t    *slot[1];
    x402_err   rc;

    rc = x402_rpc_load(root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_rpc_batch(slot, 1, *root, id);

    if (rc == X402_OK) {
        rc = x402_rpc_entry(res, err, slot[0]);
    }

    if (rc != X402_OK) {
        json_decref(*root);
        *root = NULL;
    }

    return rc;
}


x402_err
x402_rpc_simulate_parse(int *ok, const char *json, size_t len, uint64_t id)
{
    json_t      *root, *res, *err;
    uint8_t      sel[4];
    const char  *s;
    size_t       n;
    int          has_sel;
    x402_err     rc;

    if (ok == NULL || (json == NULL && len != 0) || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    *ok = 0;

    rc = x402_rpc_only(&root, &res, &err, json, len, id);
    if (rc != X402_OK) {
        return rc;
    }

    if (err != NULL) {
        /* a revert is an answer; a rate limit or a node fault is not */
        if (!x402_rpc_revert(sel, &has_sel, err)) {
            rc = X402_ERR_VALUE;
        }

    } else if (x402_rpc_hex(&s, &n, res) != X402_OK) {
        rc = X402_ERR_VALUE;

    } else {
        *ok = 1;
    }

    json_decref(root);

    return rc;
}


x402_err
x402_rpc_code_parse(int *has_code, const char *json, size_t len, uint64_t id)
{
    json_t    *root, *res, *err;
    x402_err   rc;

    if (has_code == NULL || (json == NULL && len != 0) || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    *has_code = 0;

    rc = x402_rpc_only(&root, &res, &err, json, len, id);
    if (rc != X402_OK) {
        return rc;
    }

    if (err != NULL || x402_rpc_code(has_code, res) != X402_OK) {
        *has_code = 0;
        rc = X402_ERR_VALUE;
    }

    json_decref(root);

    return rc;
}
