/*
 * The path a decoded PAYMENT-SIGNATURE takes through the gateway
 * (ngx_http_x402_handler.c, _onchain.c, _settle.c), shared by
 * fuzz_payment_header.c and fuzz_payment_json.c:
 *
 *   x402_offer_match → x402_verify_local → (valid, or a signature that
 *   did not recover: EIP-1271) x402_permit2_digest →
 *   x402_rpc_checks_request → x402_replay_key → x402_receipt_encode →
 *   x402_receipt_peek / x402_receipt_update → x402_abi_settle,
 *
 * and the facilitator mode: x402_facilitator_request on the decoded JSON.
 * It runs against both fixed offers ("exact" and "upto" on chain 8453)
 * and against an offer derived from the client's own `accepted`.
 */

#ifndef X402_FUZZ_PAYMENT_H_INCLUDED
#define X402_FUZZ_PAYMENT_H_INCLUDED

#include <jansson.h>

#include "fuzz_common.h"


static x402_context *fuzz_ctx;
static x402_offer    fuzz_offers[2];


static void
fuzz_payment_init(void)
{
    static const uint8_t  seed[32] = { 1, 2, 3 };

    fuzz_ctx = x402_context_create(seed);
    FUZZ_CHECK(fuzz_ctx != NULL);
    fuzz_offer(&fuzz_offers[0], X402_SCHEME_EXACT);
    fuzz_offer(&fuzz_offers[1], X402_SCHEME_UPTO);
}


/* A JSON tree without real numbers (jansson may print a real longer than
 * it was written, the one exception of X402_FACILITATOR_REQUEST_MAX). */
static int
fuzz_json_has_real(json_t *j)
{
    const char  *k;
    json_t      *v;
    size_t       i;

    if (json_is_real(j)) {
        return 1;
    }
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (fuzz_json_has_real(v)) {
                return 1;
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (fuzz_json_has_real(v)) {
                return 1;
            }
        }
    }
    return 0;
}


/* Facilitator mode: the decoded payload is forwarded as it is. */
static void
fuzz_facilitator_request(const char *json, size_t len, int decoded)
{
    char         *out;
    size_t        cap, out_len;
    x402_err      rc;
    json_t       *root;
    json_error_t  e;
    int           real;

    cap = X402_FACILITATOR_REQUEST_MAX;
    out = malloc(cap);
    FUZZ_CHECK(out != NULL);

    out_len = cap;
    rc = x402_facilitator_request(out, &out_len, json, len, &fuzz_offers[0]);

    if (rc == X402_OK) {
        FUZZ_CHECK(out_len < cap);
        FUZZ_CHECK(out[out_len] == '\0' && strlen(out) == out_len);
        root = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, &e);
        FUZZ_CHECK(root != NULL && json_is_object(root));
        FUZZ_CHECK(json_integer_value(json_object_get(root, "x402Version"))
                   == 2);
        FUZZ_CHECK(json_is_object(json_object_get(root, "paymentPayload")));
        json_decref(root);

    } else if (decoded) {
        /* a payload x402_payment_decode_json() took must be forwardable,
         * unless it holds reals (see X402_FACILITATOR_REQUEST_MAX) */
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
        FUZZ_CHECK(root != NULL);
        real = fuzz_json_has_real(root);
        json_decref(root);
        FUZZ_CHECK(rc == X402_ERR_BUFFER && real);
    }

    /* a tiny buffer is X402_ERR_BUFFER, never an overflow */
    out_len = 16;
    rc = x402_facilitator_request(out, &out_len, json, len, &fuzz_offers[0]);
    FUZZ_CHECK(rc != X402_OK);

    free(out);
}


/* What ngx_http_x402_onchain_start / _reserve / _settle do with it. */
static void
fuzz_payment_downstream(const x402_offer *offer, const x402_payment *p)
{
    uint8_t        digest[32], calldata[X402_SETTLE_UPTO_LEN];
    char           key[X402_REPLAY_KEY_MAX], status[16], tx[67];
    char           prefix[32];
    char          *req, *rec, *upd;
    size_t         len, cap, klen, n;
    uint64_t       updated;
    x402_err       rc;
    x402_receipt   r;
    json_t        *root;
    json_error_t   e;
    const x402_address  *sim_from;

    FUZZ_CHECK(x402_permit2_digest(digest, offer->scheme, offer->chain_id, p)
               == X402_OK);

    sim_from = (offer->scheme == X402_SCHEME_UPTO)
               ? &offer->facilitator : &offer->pay_to;

    cap = X402_RPC_CHECKS_REQUEST_MAX;
    req = malloc(cap);
    FUZZ_CHECK(req != NULL);
    len = cap;
    rc = x402_rpc_checks_request(req, &len, offer, p, digest, sim_from,
                                 FUZZ_CHECKS_FIRST_ID);
    /* it passed x402_verify_local up to the signature: the module treats
     * any error here as a 500 */
    FUZZ_CHECK(rc == X402_OK);
    FUZZ_CHECK(len < cap && req[len] == '\0' && strlen(req) == len);
    root = json_loadb(req, len, JSON_REJECT_DUPLICATES, &e);
    FUZZ_CHECK(root != NULL && json_is_array(root)
               && json_array_size(root) == X402_RPC_CHECKS);
    json_decref(root);
    free(req);

    /* the replay key: fixed layout */
    x402_replay_key(key, offer->chain_id, p);
    klen = fuzz_strnlen_checked(key, sizeof(key));
    n = (size_t) snprintf(prefix, sizeof(prefix), "x402:%llu:",
                          (unsigned long long) offer->chain_id);
    FUZZ_CHECK(klen == n + 40 + 1 + 64);
    FUZZ_CHECK(memcmp(key, prefix, n) == 0);

    /* the reservation record, then what the reconciler reads and rewrites */
    memset(&r, 0, sizeof(r));
    r.status = "reserved";
    r.scheme = offer->scheme;
    r.chain_id = offer->chain_id;
    r.payer = p->from;
    r.pay_to = offer->pay_to;
    r.asset = offer->asset;
    r.amount = p->amount;
    r.nonce = p->nonce;
    r.deadline = p->deadline;
    r.resource = "/v1/chat/completions";
    r.created = FUZZ_NOW;
    r.updated = FUZZ_NOW;
    r.valid_after = p->valid_after;
    r.signature = p->signature;
    r.signature_len = p->signature_len;

    cap = 2048 + 2 * X402_SIGNATURE_MAX;
    rec = malloc(cap);
    FUZZ_CHECK(rec != NULL);
    len = cap;
    FUZZ_CHECK(x402_receipt_encode(rec, &len, &r) == X402_OK);
    FUZZ_CHECK(len < cap && rec[len] == '\0' && strlen(rec) == len);

    FUZZ_CHECK(x402_receipt_peek(status, sizeof(status), tx, &updated, rec,
                                 len) == X402_OK);
    FUZZ_CHECK(strcmp(status, "reserved") == 0 && tx[0] == '\0'
               && updated == FUZZ_NOW);

    upd = malloc(cap + 64);
    FUZZ_CHECK(upd != NULL);
    len = cap + 64;
    FUZZ_CHECK(x402_receipt_update(upd, &len, rec, strlen(rec), "settled",
                                   NULL, FUZZ_NOW + 1) == X402_OK);
    FUZZ_CHECK(x402_receipt_peek(status, sizeof(status), tx, &updated, upd,
                                 len) == X402_OK);
    FUZZ_CHECK(strcmp(status, "settled") == 0 && updated == FUZZ_NOW + 1);
    free(upd);
    free(rec);

    /* the settlement calldata (upto charges at most the cap) */
    len = sizeof(calldata);
    rc = x402_abi_settle(calldata, &len, offer->scheme, p, &p->amount);
    FUZZ_CHECK(rc == X402_OK);
    FUZZ_CHECK(len == (offer->scheme == X402_SCHEME_UPTO
                       ? X402_SETTLE_UPTO_ECDSA_LEN
                       : X402_SETTLE_EXACT_ECDSA_LEN)
                      + ((p->signature_len + 31) / 32) * 32 - 96);
}


static void
fuzz_payment_against(const x402_offer *offer, const x402_payment *p,
    int derived)
{
    x402_reason  reason;
    int          local_sig_ok;

    reason = x402_offer_match(offer, p);
    FUZZ_CHECK(reason == X402_R_VALID || reason == X402_R_NO_MATCH);

    if (derived) {
        /* an offer built from `accepted` matches it */
        FUZZ_CHECK(reason == X402_R_VALID);
    }

    if (reason != X402_R_VALID) {
        return;
    }

    reason = x402_verify_local(fuzz_ctx, offer, p, FUZZ_NOW, 0);
    FUZZ_CHECK(reason < X402_R_ASSET_NOT_DEPLOYED);
    FUZZ_CHECK(reason != X402_R_PAYMENT_REQUIRED
               && reason != X402_R_NO_MATCH);
    FUZZ_CHECK(reason == X402_R_VALID || x402_reason_string(reason) != NULL);
    FUZZ_CHECK(x402_reason_http_status(reason) == 402);

    local_sig_ok = (reason == X402_R_VALID);

    if (local_sig_ok
        || (reason == X402_R_INVALID_SIGNATURE
            && p->signature_len != 0))
    {
        fuzz_payment_downstream(offer, p);
    }
}


static void
fuzz_payment_check(const x402_payment *p)
{
    char         payer[X402_ADDRESS_STR_LEN];
    size_t       n;
    uint64_t     chain_id;
    x402_offer   o;

    /* the decoded struct keeps its stated sizes */
    n = fuzz_strnlen_checked(p->accepted.network,
                             sizeof(p->accepted.network));
    FUZZ_CHECK(p->signature_len <= X402_SIGNATURE_MAX);
    FUZZ_CHECK(p->accepted.scheme == X402_SCHEME_UNKNOWN
               || x402_scheme_name(p->accepted.scheme) != NULL);
    FUZZ_CHECK(p->accepted.has_chain_id
               == (x402_network_parse(&chain_id, p->accepted.network, n)
                   == X402_OK));
    FUZZ_CHECK(!p->accepted.has_chain_id || chain_id == p->accepted.chain_id);

    x402_address_format(payer, &p->from);
    FUZZ_CHECK(fuzz_strnlen_checked(payer, sizeof(payer)) == 42);

    fuzz_payment_against(&fuzz_offers[0], p, 0);
    fuzz_payment_against(&fuzz_offers[1], p, 0);

    /* the client's own `accepted` as the server's offer */
    FUZZ_CHECK(fuzz_strnlen_checked(p->accepted.name,
                                    sizeof(p->accepted.name))
               <= X402_EXTRA_TEXT_MAX);
    FUZZ_CHECK(fuzz_strnlen_checked(p->accepted.version,
                                    sizeof(p->accepted.version))
               <= X402_EXTRA_TEXT_MAX);

    if (p->accepted.scheme != X402_SCHEME_UNKNOWN
        && p->accepted.has_chain_id && p->accepted.permit2
        && !p->accepted.foreign
        && (p->accepted.scheme == X402_SCHEME_UPTO)
           == (p->accepted.has_facilitator != 0))
    {
        memset(&o, 0, sizeof(o));
        o.scheme = p->accepted.scheme;
        o.chain_id = p->accepted.chain_id;
        o.amount = p->accepted.amount;
        o.asset = p->accepted.asset;
        o.pay_to = p->accepted.pay_to;
        o.facilitator = p->accepted.facilitator;
        o.max_timeout_seconds = p->accepted.max_timeout_seconds;
        o.extra_name = p->accepted.has_name ? p->accepted.name : NULL;
        o.extra_version = p->accepted.has_version ? p->accepted.version
                                                  : NULL;
        fuzz_payment_against(&o, p, 1);
    }
}

#endif /* X402_FUZZ_PAYMENT_H_INCLUDED */
