/*
 * batch-settlement: what the official client makes and viem computes
 * (channel-vectors.json, made by gen/channel-vectors.mjs) reproduced byte
 * for byte (channel ids, digests, calldata, the decoded payloads, the
 * offers, SettleResponses and corrective 402s), every verification reason
 * in its order, decode errors and short buffers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define S(s)  (s), strlen(s)

#define P2A  "payload.deposit.authorization.permit2Authorization"

/* 2^128 - 1 and 2^128 */
#define U128_MAX  "340282366920938463463374607431768211455"
#define U128_OVER "340282366920938463463374607431768211456"


static x402_context  *xt_ctx;


/* anvil's public test keys 0 (the payer) and 1 (case 1's authorizer) */
static const char  *xt_keys[2] = {
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
};


static int
xt_channel_setup(void **state)
{
    (void) state;

    /* every xt_ path reads channel-vectors.json */
    xt_vectors = xt_load_local("channel-vectors.json");
    xt_ctx = x402_context_create(NULL);

    return xt_vectors == NULL || xt_ctx == NULL ? -1 : 0;
}


static int
xt_channel_teardown(void **state)
{
    x402_context_destroy(xt_ctx);

    return xt_teardown(state);
}


/* xt_get() of a printf-formatted path */
static json_t *
xt_getf(const char *fmt, size_t i)
{
    char  path[256];

    snprintf(path, sizeof(path), fmt, i);

    return xt_get(path);
}


static const char *
xt_strf(const char *fmt, size_t i)
{
    json_t  *j;

    j = xt_getf(fmt, i);
    assert_true(json_is_string(j));

    return json_string_value(j);
}


/* "0x"-hex of any length into a fresh buffer */
static uint8_t *
xt_bytes(const char *hex, size_t *len)
{
    uint8_t  *out;

    *len = (strlen(hex) - 2) / 2;
    out = malloc(*len ? *len : 1);
    assert_non_null(out);
    xt_unhex(out, *len, hex);

    return out;
}


/* the JSON text of a case's payload (caller frees) */
static char *
xt_payload_text(size_t c, const char *kind)
{
    char  path[64];

    snprintf(path, sizeof(path), "cases.%zu.%s.paymentPayload", c, kind);

    return xt_dump(xt_get(path));
}


static json_t *
xt_payload_doc(size_t c, const char *kind)
{
    char  path[64];

    snprintf(path, sizeof(path), "cases.%zu.%s.paymentPayload", c, kind);

    return json_deep_copy(xt_get(path));
}


static void
xt_decode(x402_channel_payment *p, size_t c, const char *kind)
{
    char        *json;
    const char  *field;

    json = xt_payload_text(c, kind);
    assert_int_equal(x402_channel_payment_decode_json(p, &field, json,
                                                      strlen(json)),
                     X402_OK);
    assert_string_equal(field, "");
    free(json);
}


/* decode a document, expecting rc at path */
static void
xt_decode_doc(x402_channel_payment *p, json_t *doc, x402_err rc,
    const char *path)
{
    char        *json;
    const char  *field;

    json = xt_dump(doc);

    if (x402_channel_payment_decode_json(p, &field, json, strlen(json))
        != rc || strcmp(field, path) != 0)
    {
        fail_msg("decode: want %d at '%s', got %d at '%s' in %s", rc, path,
                 (int) x402_channel_payment_decode_json(p, &field, json,
                                                        strlen(json)),
                 field, json);
    }

    free(json);
}


/* The offer a case's server announced (independent of libx402). */
static void
xt_channel_offer(x402_offer *o, size_t c)
{
    json_t      *j, *x, *v;
    const char  *net;

    j = xt_getf("cases.%zu.offer", c);
    x = xt_member(j, "extra");

    memset(o, 0, sizeof(*o));
    o->scheme = X402_SCHEME_BATCH;

    net = xt_member_str(j, "network");
    assert_true(strncmp(net, "eip155:", 7) == 0);
    o->chain_id = strtoull(net + 7, NULL, 10);

    xt_u256_text(&o->amount, xt_member_str(j, "amount"));
    xt_address(&o->asset, xt_member_str(j, "asset"));
    xt_address(&o->pay_to, xt_member_str(j, "payTo"));
    o->max_timeout_seconds =
        (uint32_t) json_integer_value(xt_member(j, "maxTimeoutSeconds"));
    xt_address(&o->receiver_authorizer,
               xt_member_str(x, "receiverAuthorizer"));
    o->withdraw_delay =
        (uint64_t) json_integer_value(xt_member(x, "withdrawDelay"));

    v = json_object_get(x, "minDeposit");
    if (v != NULL) {
        o->has_min_deposit = 1;
        xt_u256_text(&o->min_deposit, json_string_value(v));
    }

    v = json_object_get(x, "name");
    o->extra_name = json_string_value(v);
    v = json_object_get(x, "version");
    o->extra_version = json_string_value(v);
}


static void
xt_check_address_at(const x402_address *a, json_t *obj, const char *key)
{
    x402_address  want;

    xt_address(&want, xt_member_str(obj, key));
    assert_memory_equal(a->b, want.b, 20);
}


static void
xt_check_u256_at(const x402_u256 *v, json_t *obj, const char *key)
{
    x402_u256  want;

    xt_u256_text(&want, xt_member_str(obj, key));
    assert_memory_equal(v->b, want.b, 32);
}


static void
xt_check_b32_at(const uint8_t *v, json_t *obj, const char *key)
{
    uint8_t  want[32];

    xt_unhex(want, 32, xt_member_str(obj, key));
    assert_memory_equal(v, want, 32);
}


static void
xt_check_sig_at(const uint8_t *sig, size_t len, json_t *obj)
{
    size_t    n;
    uint8_t  *want;

    want = xt_bytes(xt_member_str(obj, "signature"), &n);
    assert_int_equal(len, n);
    assert_memory_equal(sig, want, n);
    free(want);
}


/* A decoded payment, field by field, against its JSON. */
static void
xt_check_channel(const x402_channel_payment *p, json_t *pp)
{
    json_t       *pl, *cfg, *v, *acc, *x, *a;
    const char   *type;

    pl = xt_member(pp, "payload");
    cfg = xt_member(pl, "channelConfig");
    v = xt_member(pl, "voucher");
    acc = xt_member(pp, "accepted");
    x = xt_member(acc, "extra");

    assert_int_equal(p->accepted.scheme, X402_SCHEME_BATCH);
    assert_string_equal(p->accepted.network, xt_member_str(acc, "network"));
    assert_true(p->accepted.has_chain_id);
    assert_int_equal(p->accepted.chain_id, 8453);
    xt_check_u256_at(&p->accepted.amount, acc, "amount");
    xt_check_address_at(&p->accepted.asset, acc, "asset");
    xt_check_address_at(&p->accepted.pay_to, acc, "payTo");
    assert_int_equal(p->accepted.max_timeout_seconds,
                     json_integer_value(xt_member(acc,
                                                  "maxTimeoutSeconds")));
    assert_true(p->accepted.has_receiver_authorizer);
    xt_check_address_at(&p->accepted.receiver_authorizer, x,
                        "receiverAuthorizer");
    assert_true(p->accepted.has_withdraw_delay);
    assert_int_equal(p->accepted.withdraw_delay,
                     json_integer_value(xt_member(x, "withdrawDelay")));

    type = xt_member_str(pl, "type");
    assert_int_equal(p->type, strcmp(type, "deposit") == 0
                              ? X402_CHANNEL_DEPOSIT : X402_CHANNEL_VOUCHER);

    xt_check_address_at(&p->config.payer, cfg, "payer");
    xt_check_address_at(&p->config.payer_authorizer, cfg,
                        "payerAuthorizer");
    xt_check_address_at(&p->config.receiver, cfg, "receiver");
    xt_check_address_at(&p->config.receiver_authorizer, cfg,
                        "receiverAuthorizer");
    xt_check_address_at(&p->config.token, cfg, "token");
    assert_int_equal(p->config.withdraw_delay,
                     json_integer_value(xt_member(cfg, "withdrawDelay")));
    xt_check_b32_at(p->config.salt, cfg, "salt");

    xt_check_b32_at(p->channel_id, v, "channelId");
    xt_check_u256_at(&p->max_claimable, v, "maxClaimableAmount");
    xt_check_sig_at(p->signature, p->signature_len, v);

    if (p->type != X402_CHANNEL_DEPOSIT) {
        assert_false(p->has_permit2);
        assert_int_equal(p->deposit_signature_len, 0);
        return;
    }

    xt_check_u256_at(&p->deposit_amount, xt_member(pl, "deposit"),
                     "amount");
    a = xt_member(xt_member(xt_member(pl, "deposit"), "authorization"),
                  "permit2Authorization");
    assert_true(p->has_permit2);
    xt_check_address_at(&p->from, a, "from");
    xt_check_address_at(&p->token, xt_member(a, "permitted"), "token");
    xt_check_u256_at(&p->permit_amount, xt_member(a, "permitted"),
                     "amount");
    xt_check_address_at(&p->spender, a, "spender");
    xt_check_u256_at(&p->nonce, a, "nonce");
    xt_check_u256_at(&p->deadline, a, "deadline");
    xt_check_b32_at(p->witness_channel_id, xt_member(a, "witness"),
                    "channelId");
    xt_check_sig_at(p->deposit_signature, p->deposit_signature_len, a);
    assert_false(p->has_refund_amount);
}


static void
test_constants(void **state)
{
    x402_address  a;
    uint8_t       w[32];

    (void) state;

    xt_address(&a, xt_str("addresses.batchSettlement"));
    assert_memory_equal(x402_batch_settlement_address.b, a.b, 20);
    xt_address(&a, xt_str("addresses.permit2DepositCollector"));
    assert_memory_equal(x402_permit2_deposit_collector_address.b, a.b, 20);
    assert_ptr_equal(x402_scheme_spender(X402_SCHEME_BATCH),
                     &x402_permit2_deposit_collector_address);

    assert_string_equal(x402_scheme_name(X402_SCHEME_BATCH),
                        "batch-settlement");
    assert_int_equal(x402_scheme_parse(S("batch-settlement")),
                     X402_SCHEME_BATCH);
    assert_int_equal(x402_scheme_parse(S("batch-settlemen")),
                     X402_SCHEME_UNKNOWN);
    assert_int_equal(x402_scheme_parse(S("batch-settlement ")),
                     X402_SCHEME_UNKNOWN);

    /* the reasons' texts are in test_codec; their statuses */
    assert_int_equal(x402_reason_http_status(X402_R_BS_CHANNEL_BUSY), 402);
    assert_int_equal(
        x402_reason_parse("invalid_batch_settlement_evm_channel_busy"),
        X402_R_BS_CHANNEL_BUSY);

    xt_hex_at(w, 4, "selectors.deposit");
    assert_int_equal((uint32_t) w[0] << 24 | w[1] << 16 | w[2] << 8 | w[3],
                     X402_SEL_CHANNEL_DEPOSIT);
    xt_hex_at(w, 4, "selectors.claim");
    assert_int_equal((uint32_t) w[0] << 24 | w[1] << 16 | w[2] << 8 | w[3],
                     X402_SEL_CHANNEL_CLAIM);
    xt_hex_at(w, 4, "selectors.settle");
    assert_int_equal((uint32_t) w[0] << 24 | w[1] << 16 | w[2] << 8 | w[3],
                     X402_SEL_CHANNEL_SETTLE);
    xt_hex_at(w, 4, "selectors.channels");
    assert_int_equal((uint32_t) w[0] << 24 | w[1] << 16 | w[2] << 8 | w[3],
                     X402_SEL_CHANNELS);
    xt_hex_at(w, 4, "selectors.pendingWithdrawals");
    assert_int_equal((uint32_t) w[0] << 24 | w[1] << 16 | w[2] << 8 | w[3],
                     X402_SEL_PENDING_WITHDRAWALS);

    xt_hex_at(w, 32, "withdrawTopic");
    assert_memory_equal(x402_channel_withdraw_topic, w, 32);

    assert_int_equal(X402_CHANNEL_WITHDRAW_DELAY_MIN, 15 * 60);
    assert_int_equal(X402_CHANNEL_WITHDRAW_DELAY_MAX, 30 * 24 * 3600);
}


static void
test_hashes(void **state)
{
    size_t                c;
    uint8_t               want[32], got[32];
    x402_u256             max;
    x402_channel_payment  p;

    (void) state;

    xt_hex_at(want, 32, "domainSeparator");
    x402_channel_domain_separator(got, 8453);
    assert_memory_equal(got, want, 32);
    x402_channel_domain_separator(got, 84532);
    assert_memory_not_equal(got, want, 32);

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        xt_decode(&p, c, "deposit");

        xt_unhex(want, 32, xt_strf("cases.%zu.deposit.channelId", c));
        x402_channel_id(got, 8453, &p.config);
        assert_memory_equal(got, want, 32);
        assert_memory_equal(p.channel_id, want, 32);

        /* bound to the chain */
        x402_channel_id(got, 84532, &p.config);
        assert_memory_not_equal(got, want, 32);

        xt_unhex(want, 32, xt_strf("cases.%zu.deposit.voucherDigest", c));
        x402_channel_voucher_digest(got, 8453, p.channel_id,
                                    &p.max_claimable);
        assert_memory_equal(got, want, 32);

        xt_unhex(want, 32, xt_strf("cases.%zu.deposit.depositDigest", c));
        x402_channel_deposit_digest(got, 8453, &p);
        assert_memory_equal(got, want, 32);

        xt_decode(&p, c, "voucher");

        xt_unhex(want, 32, xt_strf("cases.%zu.voucher.channelId", c));
        x402_channel_id(got, 8453, &p.config);
        assert_memory_equal(got, want, 32);

        xt_unhex(want, 32, xt_strf("cases.%zu.voucher.voucherDigest", c));
        x402_channel_voucher_digest(got, 8453, p.channel_id,
                                    &p.max_claimable);
        assert_memory_equal(got, want, 32);
    }

    /* the largest voucher */
    xt_hex_at(want, 32, "bigVoucher.digest");
    xt_hex_at(got, 32, "bigVoucher.channelId");
    xt_u256_text(&max, xt_str("bigVoucher.maxClaimableAmount"));
    x402_channel_voucher_digest(got, 8453, got, &max);
    assert_memory_equal(got, want, 32);
}


static void
test_decode_vectors(void **state)
{
    size_t                c, k;
    char                 *json;
    const char           *kinds[2] = { "deposit", "voucher" };
    const char           *hdr, *field;
    x402_channel_payment  p, q;

    (void) state;

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        for (k = 0; k < 2; k++) {
            xt_decode(&p, c, kinds[k]);
            xt_check_channel(&p, xt_getf(k == 0
                ? "cases.%zu.deposit.paymentPayload"
                : "cases.%zu.voucher.paymentPayload", c));

            /* the header is the same payload */
            hdr = xt_strf(k == 0 ? "cases.%zu.deposit.header"
                                 : "cases.%zu.voucher.header", c);
            memset(&q, 0xa5, sizeof(q));
            assert_int_equal(x402_channel_payment_decode_header(&q, &field,
                                                                S(hdr)),
                             X402_OK);
            assert_string_equal(field, "");
            assert_memory_equal(&p, &q, sizeof(p));
        }
    }

    /* header errors */
    assert_int_equal(x402_channel_payment_decode_header(&q, &field,
                                                        S("e30-")),
                     X402_ERR_BASE64);
    json = malloc(2 * X402_PAYLOAD_JSON_MAX);
    assert_non_null(json);
    memset(json, 'A', 2 * X402_PAYLOAD_JSON_MAX);
    assert_int_equal(x402_channel_payment_decode_header(&q, &field, json,
                                                   2 * X402_PAYLOAD_JSON_MAX),
                     X402_ERR_SIZE);
    assert_int_equal(x402_channel_payment_decode_header(NULL, &field,
                                                        S("e30=")),
                     X402_ERR_ARG);
    /* "{}" */
    assert_int_equal(x402_channel_payment_decode_header(&q, NULL,
                                                        S("e30=")),
                     X402_ERR_MISSING);
    free(json);
}


/* every required member of a deposit: absent MISSING, null TYPE, a number
 * (or a string where a number belongs) TYPE */
static void
test_decode_required(void **state)
{
    static const char *const  paths[] = {
        "x402Version", "payload", "payload.type", "payload.channelConfig",
        "payload.channelConfig.payer", "payload.channelConfig.payerAuthorizer",
        "payload.channelConfig.receiver",
        "payload.channelConfig.receiverAuthorizer",
        "payload.channelConfig.token", "payload.channelConfig.withdrawDelay",
        "payload.channelConfig.salt", "payload.voucher",
        "payload.voucher.channelId", "payload.voucher.maxClaimableAmount",
        "payload.voucher.signature", "payload.deposit",
        "payload.deposit.amount", "payload.deposit.authorization",
        P2A ".from", P2A ".permitted", P2A ".permitted.token",
        P2A ".permitted.amount", P2A ".spender", P2A ".nonce",
        P2A ".deadline", P2A ".witness", P2A ".witness.channelId",
        P2A ".signature", "accepted", "accepted.scheme", "accepted.network",
        "accepted.amount", "accepted.asset", "accepted.payTo",
        "accepted.maxTimeoutSeconds"
    };
    static const char *const  numbers[] = {
        "x402Version", "payload.channelConfig.withdrawDelay",
        "accepted.maxTimeoutSeconds"
    };

    size_t                i, k;
    json_t               *doc;
    x402_channel_payment  p;

    (void) state;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        doc = xt_payload_doc(0, "deposit");
        xt_set(doc, paths[i], NULL);
        xt_decode_doc(&p, doc, X402_ERR_MISSING, paths[i]);

        xt_set(doc, paths[i], json_null());
        xt_decode_doc(&p, doc, X402_ERR_TYPE, paths[i]);

        for (k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++) {
            if (strcmp(paths[i], numbers[k]) == 0) {
                break;
            }
        }

        xt_set(doc, paths[i], k < sizeof(numbers) / sizeof(numbers[0])
                              ? json_string("2") : json_integer(2));
        xt_decode_doc(&p, doc, X402_ERR_TYPE, paths[i]);
        json_decref(doc);
    }

    /* a voucher payload needs no deposit; a deposit's permit2 is optional
     * (an erc3009Authorization) */
    doc = xt_payload_doc(0, "voucher");
    xt_decode_doc(&p, doc, X402_OK, "");
    json_decref(doc);

    doc = xt_payload_doc(0, "deposit");
    xt_set(doc, P2A, NULL);
    xt_set(doc, "payload.deposit.authorization.erc3009Authorization",
           json_pack("{s:s}", "validAfter", "0"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.type, X402_CHANNEL_DEPOSIT);
    assert_false(p.has_permit2);
    xt_set(doc, "payload.deposit.authorization", json_array());
    xt_decode_doc(&p, doc, X402_ERR_TYPE, "payload.deposit.authorization");
    xt_set(doc, "payload.deposit.authorization", json_object());
    xt_set(doc, "payload.deposit.authorization.permit2Authorization",
           json_string("x"));
    xt_decode_doc(&p, doc, X402_ERR_TYPE, P2A);
    json_decref(doc);
}


static void
test_decode_values(void **state)
{
    json_t               *doc;
    char                 *json;
    const char           *field;
    x402_u256             want;
    x402_channel_payment  p;

    (void) state;

    doc = xt_payload_doc(0, "deposit");

    /* uint128 fields */
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string(U128_MAX));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_u256_text(&want, U128_MAX);
    assert_memory_equal(p.max_claimable.b, want.b, 32);
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string(U128_OVER));
    xt_decode_doc(&p, doc, X402_ERR_OVERFLOW,
                  "payload.voucher.maxClaimableAmount");
    xt_set(doc, "payload.voucher.maxClaimableAmount",
           json_string("0x100000000000000000000000000000000"));
    xt_decode_doc(&p, doc, X402_ERR_OVERFLOW,
                  "payload.voucher.maxClaimableAmount");
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string("-1"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE,
                  "payload.voucher.maxClaimableAmount");
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string("0x3e8"));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_u256_text(&want, "1000");
    assert_memory_equal(p.max_claimable.b, want.b, 32);

    xt_set(doc, "payload.deposit.amount", json_string(U128_OVER));
    xt_decode_doc(&p, doc, X402_ERR_OVERFLOW, "payload.deposit.amount");
    xt_set(doc, "payload.deposit.amount", json_string(U128_MAX));
    xt_decode_doc(&p, doc, X402_OK, "");

    /* permitted.amount is a uint256 */
    xt_set(doc, P2A ".permitted.amount", json_string(U128_OVER));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_set(doc, P2A ".nonce", json_string("1e3"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, P2A ".nonce");
    json_decref(doc);

    /* withdraw delays: integers within uint40 */
    doc = xt_payload_doc(0, "deposit");
    xt_set(doc, "payload.channelConfig.withdrawDelay", json_real(900.0));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.config.withdraw_delay, 900);
    xt_set(doc, "payload.channelConfig.withdrawDelay", json_real(900.5));
    xt_decode_doc(&p, doc, X402_ERR_TYPE,
                  "payload.channelConfig.withdrawDelay");
    xt_set(doc, "payload.channelConfig.withdrawDelay", json_integer(-1));
    xt_decode_doc(&p, doc, X402_ERR_VALUE,
                  "payload.channelConfig.withdrawDelay");
    xt_set(doc, "payload.channelConfig.withdrawDelay",
           json_integer(((json_int_t) 1 << 40) - 1));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.config.withdraw_delay, ((uint64_t) 1 << 40) - 1);
    xt_set(doc, "payload.channelConfig.withdrawDelay",
           json_integer((json_int_t) 1 << 40));
    xt_decode_doc(&p, doc, X402_ERR_OVERFLOW,
                  "payload.channelConfig.withdrawDelay");
    xt_set(doc, "payload.channelConfig.withdrawDelay", json_integer(900));

    xt_set(doc, "accepted.extra.withdrawDelay", json_integer(-5));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "accepted.extra.withdrawDelay");
    xt_set(doc, "accepted.extra.withdrawDelay", json_string("900"));
    xt_decode_doc(&p, doc, X402_ERR_TYPE, "accepted.extra.withdrawDelay");
    xt_set(doc, "accepted.extra.withdrawDelay", json_null());
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_false(p.accepted.has_withdraw_delay);
    xt_set(doc, "accepted.extra.withdrawDelay", NULL);
    xt_set(doc, "accepted.extra.receiverAuthorizer", json_string("0x12"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE,
                  "accepted.extra.receiverAuthorizer");
    xt_set(doc, "accepted.extra.receiverAuthorizer", NULL);
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_false(p.accepted.has_receiver_authorizer);
    assert_false(p.accepted.has_withdraw_delay);

    /* what a corrective 402 adds to extra is not read; extra optional */
    xt_set(doc, "accepted.extra.channelState", json_integer(1));
    xt_set(doc, "accepted.extra.voucherState", json_string("x"));
    xt_set(doc, "accepted.extra.minDeposit", json_integer(7));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_set(doc, "accepted.extra", json_null());
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_set(doc, "accepted.extra", json_string("x"));
    xt_decode_doc(&p, doc, X402_ERR_TYPE, "accepted.extra");
    xt_set(doc, "accepted.extra", json_object());
    xt_set(doc, "accepted.maxTimeoutSeconds", json_integer(0));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "accepted.maxTimeoutSeconds");
    xt_set(doc, "accepted.maxTimeoutSeconds", json_integer(300));
    xt_set(doc, "accepted.scheme", json_string("exact"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.accepted.scheme, X402_SCHEME_EXACT);
    xt_set(doc, "accepted.network", json_string("solana:5eykt4UsFv8P8NJ"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_false(p.accepted.has_chain_id);
    json_decref(doc);

    /* bytes32 texts */
    doc = xt_payload_doc(1, "deposit");
    xt_set(doc, "payload.voucher.channelId", json_string("0x1234"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.voucher.channelId");
    xt_set(doc, "payload.voucher.channelId", json_string(
        "ff4cf2a7c2dacdb0f1bd28c725fddf89b6191b2ea5490bf1f28cce4cd14ea43a"
        "00"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.voucher.channelId");
    xt_set(doc, "payload.voucher.channelId", json_string(
        "0xFF4CF2A7C2DACDB0F1BD28C725FDDF89B6191B2EA5490BF1F28CCE4CD14EA43A"));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_set(doc, "payload.channelConfig.salt", json_string(
        "0xg000000000000000000000000000000000000000000000000000000000000000"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.channelConfig.salt");
    xt_set(doc, "payload.channelConfig.salt", json_string("0x"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.channelConfig.salt");
    xt_set(doc, "payload.channelConfig.salt", json_string(
        "0x0000000000000000000000000000000000000000000000000000000000000000"));
    xt_set(doc, P2A ".witness.channelId", json_string("0x00"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, P2A ".witness.channelId");
    json_decref(doc);

    /* payload.type; a malformed signature is the verifier's */
    doc = xt_payload_doc(0, "voucher");
    xt_set(doc, "payload.type", json_string("claim"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.type");
    xt_set(doc, "payload.type", json_string("Voucher"));
    xt_decode_doc(&p, doc, X402_ERR_VALUE, "payload.type");
    xt_set(doc, "payload.type", json_string("voucher"));
    xt_set(doc, "payload.voucher.signature", json_string("0xzz"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.signature_len, 0);
    xt_set(doc, "payload.voucher.signature", json_string("0x"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.signature_len, 0);

    /* a refund, its amount optional */
    xt_set(doc, "payload.type", json_string("refund"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_int_equal(p.type, X402_CHANNEL_REFUND);
    assert_false(p.has_refund_amount);
    xt_set(doc, "payload.amount", json_string("77"));
    xt_decode_doc(&p, doc, X402_OK, "");
    assert_true(p.has_refund_amount);
    xt_u256_text(&want, "77");
    assert_memory_equal(p.refund_amount.b, want.b, 32);
    xt_set(doc, "payload.amount", json_string(U128_OVER));
    xt_decode_doc(&p, doc, X402_ERR_OVERFLOW, "payload.amount");
    xt_set(doc, "payload.amount", json_integer(77));
    xt_decode_doc(&p, doc, X402_ERR_TYPE, "payload.amount");
    xt_set(doc, "payload.amount", NULL);

    /* the document */
    xt_set(doc, "x402Version", json_integer(1));
    xt_decode_doc(&p, doc, X402_ERR_VERSION, "x402Version");
    xt_set(doc, "x402Version", json_real(2.0));
    xt_decode_doc(&p, doc, X402_OK, "");
    xt_set(doc, "resource", json_integer(1));
    xt_decode_doc(&p, doc, X402_ERR_TYPE, "resource");
    xt_set(doc, "resource", json_null());
    xt_set(doc, "extensions", json_integer(1));
    xt_decode_doc(&p, doc, X402_OK, "");
    json_decref(doc);

    field = NULL;
    assert_int_equal(x402_channel_payment_decode_json(&p, &field, S("[]")),
                     X402_ERR_JSON);
    assert_string_equal(field, "");
    assert_int_equal(x402_channel_payment_decode_json(&p, &field, S("{")),
                     X402_ERR_JSON);
    assert_int_equal(x402_channel_payment_decode_json(&p, &field, NULL, 0),
                     X402_ERR_JSON);
    assert_int_equal(x402_channel_payment_decode_json(NULL, &field, S("{}")),
                     X402_ERR_ARG);
    assert_int_equal(x402_channel_payment_decode_json(&p, NULL, S("{}")),
                     X402_ERR_MISSING);

    /* duplicate keys, at the top and deep inside */
    assert_int_equal(x402_channel_payment_decode_json(&p, &field,
                         S("{\"x402Version\":2,\"x402Version\":2}")),
                     X402_ERR_JSON);
    json = xt_payload_text(0, "voucher");
    {
        char  *dup, *at;

        at = strstr(json, "\"maxClaimableAmount\"");
        assert_non_null(at);
        dup = malloc(strlen(json) + 64);
        assert_non_null(dup);
        memcpy(dup, json, (size_t) (at - json));
        strcpy(dup + (at - json), "\"maxClaimableAmount\":\"1\",");
        strcat(dup, at);
        assert_int_equal(x402_channel_payment_decode_json(&p, &field,
                                                          S(dup)),
                         X402_ERR_JSON);
        free(dup);
    }
    free(json);

    /* too long */
    json = malloc(X402_PAYLOAD_JSON_MAX + 2);
    assert_non_null(json);
    memset(json, ' ', X402_PAYLOAD_JSON_MAX + 1);
    json[0] = '{';
    json[X402_PAYLOAD_JSON_MAX - 1] = '}';
    assert_int_equal(x402_channel_payment_decode_json(&p, &field, json,
                                                  X402_PAYLOAD_JSON_MAX + 1),
                     X402_ERR_SIZE);
    assert_int_equal(x402_channel_payment_decode_json(&p, &field, json,
                                                      X402_PAYLOAD_JSON_MAX),
                     X402_ERR_MISSING);
    free(json);
}


static void
xt_privkey_n(uint8_t key[32], int n)
{
    xt_unhex(key, 32, xt_keys[n]);
}


/* Re-signs p's voucher with key n after a change to what it covers. */
static void
xt_resign_voucher(x402_channel_payment *p, int n)
{
    uint8_t  key[32], digest[32];

    xt_privkey_n(key, n);
    x402_channel_voucher_digest(digest, 8453, p->channel_id,
                                &p->max_claimable);
    assert_int_equal(x402_sign_digest(xt_ctx, p->signature, digest, key),
                     X402_OK);
    p->signature_len = 65;
}


/* Re-computes the channel id of a changed config and signs again. */
static void
xt_rebind(x402_channel_payment *p, int n)
{
    uint8_t  key[32], digest[32];

    x402_channel_id(p->channel_id, 8453, &p->config);
    memcpy(p->witness_channel_id, p->channel_id, 32);
    xt_resign_voucher(p, n);

    if (p->type == X402_CHANNEL_DEPOSIT) {
        xt_privkey_n(key, 0);
        x402_channel_deposit_digest(digest, 8453, p);
        assert_int_equal(x402_sign_digest(xt_ctx, p->deposit_signature,
                                          digest, key),
                         X402_OK);
        p->deposit_signature_len = 65;
    }
}


#define XT_VERIFY(p, o, want)                                                \
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, (o), (p), now,    \
                                               0),                           \
                     (want))


static void
test_verify_valid(void **state)
{
    size_t                c;
    uint8_t               id[32], want[32];
    uint64_t              now;
    x402_offer            o;
    x402_channel_payment  p;

    (void) state;

    now = (uint64_t) xt_int("nowSec");

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        xt_channel_offer(&o, c);

        xt_decode(&p, c, "deposit");
        memset(id, 0, sizeof(id));
        XT_VERIFY(&p, &o, X402_R_VALID);
        xt_unhex(want, 32, xt_strf("cases.%zu.deposit.channelId", c));
        assert_memory_equal(id, want, 32);

        xt_decode(&p, c, "voucher");
        XT_VERIFY(&p, &o, X402_R_VALID);
        assert_memory_equal(id, want, 32);

        /* channel_id may be NULL */
        assert_int_equal(x402_channel_verify_local(xt_ctx, NULL, &o, &p,
                                                   now, 0),
                         X402_R_VALID);
    }
}


/* each check in its order: the payment passes every earlier one */
static void
test_verify_reasons(void **state)
{
    uint8_t               id[32];
    uint64_t              now, deadline;
    x402_offer            o, bad;
    x402_channel_payment  d, p;

    (void) state;

    now = (uint64_t) xt_int("nowSec");
    xt_channel_offer(&o, 1);
    xt_decode(&d, 1, "deposit");
    XT_VERIFY(&d, &o, X402_R_VALID);

    /* arguments */
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, NULL, &d, now, 0),
                     X402_R_PAYMENT_REQUIRED);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, NULL, now, 0),
                     X402_R_PAYMENT_REQUIRED);
    bad = o;
    bad.scheme = X402_SCHEME_EXACT;
    XT_VERIFY(&d, &bad, X402_R_PAYMENT_REQUIRED);

    /* 1. the scheme */
    p = d;
    p.accepted.scheme = X402_SCHEME_UPTO;
    XT_VERIFY(&p, &o, X402_R_NO_MATCH);
    p.accepted.scheme = X402_SCHEME_UNKNOWN;
    strcpy(p.accepted.network, "eip155:1");
    XT_VERIFY(&p, &o, X402_R_NO_MATCH);

    /* 2. the network, as text, and the offer's chain */
    p = d;
    strcpy(p.accepted.network, "eip155:08453");
    XT_VERIFY(&p, &o, X402_R_BS_NETWORK_MISMATCH);
    p.type = X402_CHANNEL_REFUND;
    XT_VERIFY(&p, &o, X402_R_BS_NETWORK_MISMATCH);
    bad = o;
    bad.chain_id = 84532;
    XT_VERIFY(&d, &bad, X402_R_BS_NETWORK_MISMATCH);

    /* 3. a refund */
    p = d;
    p.type = X402_CHANNEL_REFUND;
    XT_VERIFY(&p, &o, X402_R_BS_PAYLOAD_TYPE);
    p.channel_id[0] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PAYLOAD_TYPE);

    /* 4. the channel id, computed on the offer's chain */
    p = d;
    p.channel_id[31] ^= 1;
    memset(id, 0, sizeof(id));
    XT_VERIFY(&p, &o, X402_R_BS_CHANNEL_ID_MISMATCH);
    assert_memory_equal(id, d.channel_id, 32);
    p = d;
    p.config.salt[0] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_CHANNEL_ID_MISMATCH);
    p = d;
    p.config.withdraw_delay = 900;
    XT_VERIFY(&p, &o, X402_R_BS_CHANNEL_ID_MISMATCH);

    /* 5. the config against the offer (the offer changed, or the client
     * bound the channel to other terms) */
    bad = o;
    bad.asset.b[19] ^= 1;
    XT_VERIFY(&d, &bad, X402_R_BS_TOKEN_MISMATCH);
    p = d;
    p.config.token.b[0] ^= 1;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_TOKEN_MISMATCH);

    bad = o;
    bad.pay_to.b[0] ^= 1;
    XT_VERIFY(&d, &bad, X402_R_BS_RECEIVER_MISMATCH);
    p = d;
    p.config.receiver.b[5] ^= 1;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_RECEIVER_MISMATCH);
    p.config.token.b[0] ^= 1;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_TOKEN_MISMATCH);

    bad = o;
    memset(bad.receiver_authorizer.b, 0, 20);
    XT_VERIFY(&d, &bad, X402_R_BS_RECEIVER_AUTHORIZER_MISMATCH);
    p = d;
    p.config.receiver_authorizer.b[7] ^= 1;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_RECEIVER_AUTHORIZER_MISMATCH);

    bad = o;
    bad.withdraw_delay = 900;
    XT_VERIFY(&d, &bad, X402_R_BS_WITHDRAW_DELAY_MISMATCH);
    p = d;
    p.config.withdraw_delay = 86401;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_WITHDRAW_DELAY_MISMATCH);
    p.config.receiver_authorizer.b[7] ^= 1;
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_RECEIVER_AUTHORIZER_MISMATCH);

    /* 6. the voucher: payerAuthorizer's, 65 bytes */
    p = d;
    p.signature[10] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p = d;
    p.signature_len = 64;
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p.signature_len = 0;
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p = d;
    p.signature[64] = 1;                     /* v must be 27 or 28 */
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p = d;
    xt_resign_voucher(&p, 0);               /* the payer, not its authorizer */
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p = d;
    p.max_claimable.b[31] ^= 1;             /* signed another amount */
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    p = d;
    memset(p.config.payer_authorizer.b, 0, 20);
    xt_rebind(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);
    assert_int_equal(x402_channel_verify_local(NULL, id, &o, &d, now, 0),
                     X402_R_BS_VOUCHER_SIGNATURE);

    /* 7. the deposit */
    p = d;
    p.has_permit2 = 0;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_AUTHORIZATION_REQUIRED);
    p.signature[10] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);

    p = d;
    p.from.b[0] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_DEPOSIT_PAYLOAD);
    p = d;
    p.token.b[0] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_DEPOSIT_PAYLOAD);
    p = d;
    p.witness_channel_id[3] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_DEPOSIT_PAYLOAD);
    p.spender.b[0] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_DEPOSIT_PAYLOAD);

    p = d;
    p.spender = x402_exact_proxy_address;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SPENDER);
    p.permit_amount.b[31] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SPENDER);

    p = d;
    p.permit_amount.b[31] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_AMOUNT_MISMATCH);
    p = d;
    p.deposit_amount.b[31] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_AMOUNT_MISMATCH);
    p = d;
    memset(p.deposit_amount.b, 0, 32);
    memset(p.permit_amount.b, 0, 32);
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_AMOUNT_MISMATCH);
    p.deadline.b[31] = 0;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_AMOUNT_MISMATCH);

    /* the deadline: now + max(min_left, X402_DEADLINE_MARGIN) */
    deadline = (uint64_t) strtoull(xt_str("cases.1.deposit.paymentPayload"
                                          ".payload.deposit.authorization"
                                          ".permit2Authorization.deadline"),
                                   NULL, 10);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               deadline - 6, 0),
                     X402_R_VALID);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               deadline - 5, 0),
                     X402_R_BS_PERMIT2_DEADLINE_EXPIRED);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               deadline - 5, 3),
                     X402_R_BS_PERMIT2_DEADLINE_EXPIRED);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               deadline - 60, 60),
                     X402_R_VALID);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               deadline - 60, 61),
                     X402_R_BS_PERMIT2_DEADLINE_EXPIRED);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &d,
                                               now, UINT64_MAX),
                     X402_R_BS_PERMIT2_DEADLINE_EXPIRED);
    /* a voucher has no deadline */
    xt_decode(&p, 1, "voucher");
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &p,
                                               deadline, UINT64_MAX),
                     X402_R_VALID);

    /* the deposit's signature: from's, over the Permit2 digest */
    p = d;
    p.deposit_signature[20] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SIGNATURE);
    assert_int_equal(x402_channel_verify_local(xt_ctx, id, &o, &p,
                                               deadline, 0),
                     X402_R_BS_PERMIT2_DEADLINE_EXPIRED);
    p = d;
    p.nonce.b[31] ^= 1;                      /* signed another nonce */
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SIGNATURE);
    p = d;
    p.deposit_signature_len = 0;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SIGNATURE);
    p = d;
    xt_resign_voucher(&p, 1);
    memcpy(p.deposit_signature, p.signature, 65);   /* the authorizer's */
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SIGNATURE);
    /* a contract wallet's signature is for the chain to judge */
    p = d;
    p.deposit_signature_len = 100;
    XT_VERIFY(&p, &o, X402_R_VALID);
    assert_int_equal(x402_channel_verify_local(NULL, id, &o, &d, now, 0),
                     X402_R_BS_VOUCHER_SIGNATURE);

    /* 8. a voucher of nothing */
    p = d;
    memset(p.max_claimable.b, 0, 32);
    xt_resign_voucher(&p, 1);
    XT_VERIFY(&p, &o, X402_R_BS_CUMULATIVE_BELOW_CLAIMED);
    p.deposit_signature[20] ^= 1;
    XT_VERIFY(&p, &o, X402_R_BS_PERMIT2_INVALID_SIGNATURE);
    xt_decode(&p, 0, "voucher");
    xt_channel_offer(&bad, 0);
    memset(p.max_claimable.b, 0, 32);
    xt_resign_voucher(&p, 0);
    XT_VERIFY(&p, &bad, X402_R_BS_CUMULATIVE_BELOW_CLAIMED);
    p.max_claimable.b[31] = 1;
    xt_resign_voucher(&p, 0);
    XT_VERIFY(&p, &bad, X402_R_VALID);
}


/* a JSON-level mutation through the decoder */
static void
test_verify_mutated_json(void **state)
{
    json_t               *doc;
    uint8_t               id[32];
    uint64_t              now;
    x402_offer            o;
    x402_channel_payment  p;

    (void) state;

    now = (uint64_t) xt_int("nowSec");
    xt_channel_offer(&o, 0);

    doc = xt_payload_doc(0, "voucher");
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string("999999"));
    xt_decode_doc(&p, doc, X402_OK, "");
    XT_VERIFY(&p, &o, X402_R_BS_VOUCHER_SIGNATURE);

    /* case-insensitive hex, leading zeros: the same payment */
    xt_set(doc, "payload.voucher.maxClaimableAmount", json_string("0002000"));
    xt_set(doc, "payload.channelConfig.payer",
           json_string("0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266"));
    xt_decode_doc(&p, doc, X402_OK, "");
    XT_VERIFY(&p, &o, X402_R_VALID);

    xt_set(doc, "payload.type", json_string("refund"));
    xt_decode_doc(&p, doc, X402_OK, "");
    XT_VERIFY(&p, &o, X402_R_BS_PAYLOAD_TYPE);

    xt_set(doc, "accepted.scheme", json_string("exact"));
    xt_decode_doc(&p, doc, X402_OK, "");
    XT_VERIFY(&p, &o, X402_R_NO_MATCH);
    json_decref(doc);
}


static void
test_deposit_calldata(void **state)
{
    size_t                c, n, len;
    uint8_t              *want, out[X402_CHANNEL_DEPOSIT_MAX];
    x402_channel_payment  p;

    (void) state;

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        xt_decode(&p, c, "deposit");
        want = xt_bytes(xt_strf("cases.%zu.deposit.depositCalldata", c), &n);
        assert_int_equal(n, X402_CHANNEL_DEPOSIT_LEN(65));
        assert_int_equal(n, 644);

        len = sizeof(out);
        assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_OK);
        assert_int_equal(len, n);
        assert_memory_equal(out, want, n);

        len = n;
        assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_OK);
        len = n - 1;
        assert_int_equal(x402_abi_channel_deposit(out, &len, &p),
                         X402_ERR_BUFFER);
        len = n;
        assert_int_equal(x402_abi_channel_deposit(NULL, &len, &p),
                         X402_ERR_BUFFER);
        free(want);
    }

    /* the longest signature fits X402_CHANNEL_DEPOSIT_MAX */
    p.deposit_signature_len = X402_SIGNATURE_MAX;
    len = sizeof(out);
    assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_OK);
    assert_int_equal(len, X402_CHANNEL_DEPOSIT_MAX);
    p.deposit_signature_len = 1;
    len = sizeof(out);
    assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_OK);
    assert_int_equal(len, 4 + 17 * 32 + 32);

    p.deposit_signature_len = 0;
    assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_ERR_ARG);
    p.deposit_signature_len = 65;
    p.has_permit2 = 0;
    assert_int_equal(x402_abi_channel_deposit(out, &len, &p), X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_deposit(out, NULL, &p), X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_deposit(out, &len, NULL),
                     X402_ERR_ARG);
}


static void
xt_claim_row(x402_channel_claim *r, uint8_t **sig, json_t *j)
{
    json_t  *cfg;

    cfg = xt_member(j, "config");
    memset(r, 0, sizeof(*r));
    xt_address(&r->config.payer, xt_member_str(cfg, "payer"));
    xt_address(&r->config.payer_authorizer,
               xt_member_str(cfg, "payerAuthorizer"));
    xt_address(&r->config.receiver, xt_member_str(cfg, "receiver"));
    xt_address(&r->config.receiver_authorizer,
               xt_member_str(cfg, "receiverAuthorizer"));
    xt_address(&r->config.token, xt_member_str(cfg, "token"));
    r->config.withdraw_delay =
        (uint64_t) json_integer_value(xt_member(cfg, "withdrawDelay"));
    xt_unhex(r->config.salt, 32, xt_member_str(cfg, "salt"));
    xt_u256_text(&r->max_claimable,
                 xt_member_str(j, "maxClaimableAmount"));
    xt_u256_text(&r->total_claimed, xt_member_str(j, "totalClaimed"));
    *sig = xt_bytes(xt_member_str(j, "signature"), &r->signature_len);
    r->signature = *sig;
}


static void
test_claim_settle_calldata(void **state)
{
    size_t              i, k, n, len, want_len;
    json_t             *set, *rows;
    uint8_t            *want, *sigs[4], out[4096], w[32];
    x402_address        receiver, token;
    x402_channel_claim  r[4];

    (void) state;

    json_array_foreach(xt_get("claims"), i, set) {
        rows = xt_member(set, "rows");
        n = json_array_size(rows);
        assert_true(n <= 4);

        for (k = 0; k < n; k++) {
            xt_claim_row(&r[k], &sigs[k], json_array_get(rows, k));
        }

        want = xt_bytes(xt_member_str(set, "calldata"), &want_len);
        assert_int_equal(x402_abi_channel_claim_len(r, n), want_len);
        assert_int_equal(want_len, 4 + 64 + n * (384 + 96));

        len = sizeof(out);
        assert_int_equal(x402_abi_channel_claim(out, &len, r, n), X402_OK);
        assert_int_equal(len, want_len);
        assert_memory_equal(out, want, want_len);

        len = want_len - 1;
        assert_int_equal(x402_abi_channel_claim(out, &len, r, n),
                         X402_ERR_BUFFER);
        len = want_len;
        assert_int_equal(x402_abi_channel_claim(NULL, &len, r, n),
                         X402_ERR_BUFFER);
        free(want);

        for (k = 0; k < n; k++) {
            free(sigs[k]);
        }
    }

    /* a row without a signature, one too long, none at all */
    xt_claim_row(&r[0], &sigs[0], xt_get("claims.1.rows.0"));
    r[0].signature_len = 0;
    assert_int_equal(x402_abi_channel_claim_len(r, 1), 4 + 64 + 384);
    len = sizeof(out);
    assert_int_equal(x402_abi_channel_claim(out, &len, r, 1), X402_OK);
    assert_int_equal(len, 4 + 64 + 384);
    r[0].signature = NULL;
    len = sizeof(out);
    assert_int_equal(x402_abi_channel_claim(out, &len, r, 1), X402_OK);
    r[0].signature_len = 1;
    assert_int_equal(x402_abi_channel_claim(out, &len, r, 1), X402_ERR_ARG);
    r[0].signature = sigs[0];
    r[0].signature_len = X402_SIGNATURE_MAX + 1;
    assert_int_equal(x402_abi_channel_claim(out, &len, r, 1), X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_claim(out, &len, r, 0), X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_claim(out, &len, NULL, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_claim(out, NULL, r, 1), X402_ERR_ARG);
    assert_int_equal(x402_abi_channel_claim_len(NULL, 1), 0);
    free(sigs[0]);

    /* settle(receiver, token) */
    xt_address(&receiver, xt_str("settle.receiver"));
    xt_address(&token, xt_str("settle.token"));
    want = xt_bytes(xt_str("settle.calldata"), &want_len);
    assert_int_equal(want_len, 68);
    x402_abi_channel_settle(out, &receiver, &token);
    assert_memory_equal(out, want, 68);
    free(want);

    /* the state reads */
    xt_hex_at(w, 32, "state.channelId");
    want = xt_bytes(xt_str("state.channelsCalldata"), &want_len);
    assert_int_equal(want_len, 36);
    x402_abi_channel_state(out, w);
    assert_memory_equal(out, want, 36);
    free(want);
    want = xt_bytes(xt_str("state.pendingWithdrawalsCalldata"), &want_len);
    assert_int_equal(want_len, 36);
    x402_abi_channel_withdrawal(out, w);
    assert_memory_equal(out, want, 36);
    free(want);
}


static void
test_state_replies(void **state)
{
    char        buf[256];
    const char *s;
    uint64_t    at;
    x402_u256   a, b, want;

    (void) state;

    s = xt_str("state.replies.channels");
    assert_int_equal(x402_channel_state_parse(&a, &b, S(s)), X402_OK);
    xt_u256_u64(&want, 5000);
    assert_memory_equal(a.b, want.b, 32);
    xt_u256_u64(&want, 1000);
    assert_memory_equal(b.b, want.b, 32);

    s = xt_str("state.replies.channelsMax");
    assert_int_equal(x402_channel_state_parse(&a, &b, S(s)), X402_OK);
    xt_u256_text(&want, U128_MAX);
    assert_memory_equal(a.b, want.b, 32);
    xt_u256_text(&want, "340282366920938463463374607431768211454");
    assert_memory_equal(b.b, want.b, 32);

    s = xt_str("state.replies.pendingWithdrawals");
    assert_int_equal(x402_channel_withdrawal_parse(&a, &at, S(s)), X402_OK);
    xt_u256_u64(&want, 4000);
    assert_memory_equal(a.b, want.b, 32);
    assert_int_equal(at, 1740670000);

    s = xt_str("state.replies.pendingWithdrawalsMax");
    assert_int_equal(x402_channel_withdrawal_parse(&a, &at, S(s)), X402_OK);
    xt_u256_text(&want, U128_MAX);
    assert_memory_equal(a.b, want.b, 32);
    assert_int_equal(at, ((uint64_t) 1 << 40) - 1);

    /* uppercase hex is hex */
    s = xt_str("state.replies.channelsMax");
    strcpy(buf, s);
    buf[40] = 'F';
    assert_int_equal(x402_channel_state_parse(&a, &b, S(buf)), X402_OK);

    /* malformed: no words, one, three, odd, no 0x, not hex, past the type */
    s = xt_str("state.replies.channels");
    assert_int_equal(x402_channel_state_parse(&a, &b, S("0x")),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_parse(&a, &b, s, 66),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_parse(&a, &b, s, strlen(s) - 1),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_parse(&a, &b, s + 2, strlen(s) - 2),
                     X402_ERR_VALUE);
    snprintf(buf, sizeof(buf), "%s%064d", s, 0);
    assert_int_equal(x402_channel_state_parse(&a, &b, S(buf)),
                     X402_ERR_VALUE);
    strcpy(buf, s);
    buf[100] = 'g';
    assert_int_equal(x402_channel_state_parse(&a, &b, S(buf)),
                     X402_ERR_VALUE);
    strcpy(buf, s);
    buf[2 + 31] = '1';                       /* balance >= 2^128 */
    assert_int_equal(x402_channel_state_parse(&a, &b, S(buf)),
                     X402_ERR_VALUE);
    strcpy(buf, s);
    buf[2 + 64 + 31] = '1';                  /* totalClaimed >= 2^128 */
    assert_int_equal(x402_channel_state_parse(&a, &b, S(buf)),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_parse(&a, &b, NULL, 0),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_parse(NULL, &b, S(s)),
                     X402_ERR_ARG);

    s = xt_str("state.replies.pendingWithdrawals");
    strcpy(buf, s);
    buf[2 + 64 + 53] = '1';                  /* initiatedAt >= 2^40 */
    assert_int_equal(x402_channel_withdrawal_parse(&a, &at, S(buf)),
                     X402_ERR_VALUE);
    strcpy(buf, s);
    buf[2 + 64 + 54] = '1';                  /* < 2^40 */
    assert_int_equal(x402_channel_withdrawal_parse(&a, &at, S(buf)),
                     X402_OK);
    assert_int_equal(x402_channel_withdrawal_parse(&a, NULL, S(buf)),
                     X402_ERR_ARG);
}


static void
test_config_encoding(void **state)
{
    size_t                c;
    uint8_t               want[224], out[224];
    x402_channel_config   back;
    x402_channel_payment  p;

    (void) state;

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        xt_decode(&p, c, "deposit");
        xt_unhex(want, 224, xt_strf("cases.%zu.configEncoding", c));
        x402_channel_config_encode(out, &p.config);
        assert_memory_equal(out, want, 224);

        memset(&back, 0xa5, sizeof(back));
        assert_int_equal(x402_channel_config_decode(&back, out, 224),
                         X402_OK);
        assert_memory_equal(back.payer.b, p.config.payer.b, 20);
        assert_memory_equal(back.payer_authorizer.b,
                            p.config.payer_authorizer.b, 20);
        assert_memory_equal(back.receiver.b, p.config.receiver.b, 20);
        assert_memory_equal(back.receiver_authorizer.b,
                            p.config.receiver_authorizer.b, 20);
        assert_memory_equal(back.token.b, p.config.token.b, 20);
        assert_int_equal(back.withdraw_delay, p.config.withdraw_delay);
        assert_memory_equal(back.salt, p.config.salt, 32);
    }

    assert_int_equal(x402_channel_config_decode(&back, out, 223),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_config_decode(&back, out, 256),
                     X402_ERR_VALUE);
    out[4 * 32 + 11] = 1;                    /* token word's high bytes */
    assert_int_equal(x402_channel_config_decode(&back, out, 224),
                     X402_ERR_VALUE);
    out[4 * 32 + 11] = 0;
    out[5 * 32 + 26] = 1;                    /* withdrawDelay >= 2^40 */
    assert_int_equal(x402_channel_config_decode(&back, out, 224),
                     X402_ERR_VALUE);
    out[5 * 32 + 26] = 0;
    out[5 * 32 + 27] = 0xff;
    assert_int_equal(x402_channel_config_decode(&back, out, 224), X402_OK);
    assert_int_equal(back.withdraw_delay >> 32, 0xff);
    assert_int_equal(x402_channel_config_decode(NULL, out, 224),
                     X402_ERR_ARG);
    assert_int_equal(x402_channel_config_decode(&back, NULL, 224),
                     X402_ERR_ARG);
}


/* The offers as accepts, PaymentRequired, and corrective 402s. */
static void
test_offers(void **state)
{
    size_t                c, len, want_len;
    char                  out[8192], *official;
    const char           *want;
    json_t               *got, *ref;
    uint8_t              *sig;
    x402_u256             max;
    x402_offer            o, q;
    x402_resource         res;
    json_error_t          err;
    x402_channel_state    st;

    (void) state;

    for (c = 0; c < json_array_size(xt_get("cases")); c++) {
        xt_channel_offer(&o, c);
        want = xt_strf("cases.%zu.acceptsJson", c);
        want_len = strlen(want);

        len = sizeof(out);
        assert_int_equal(x402_accepts_encode(out, &len, &o, 1), X402_OK);
        assert_string_equal(out, want);
        assert_int_equal(len, want_len);

        len = want_len + 1;
        assert_int_equal(x402_accepts_encode(out, &len, &o, 1), X402_OK);
        len = want_len;
        assert_int_equal(x402_accepts_encode(out, &len, &o, 1),
                         X402_ERR_BUFFER);

        /* the same members as the official server's offer */
        got = json_loads(want, 0, &err);
        assert_non_null(got);
        ref = json_array();
        json_array_append(ref, xt_getf("cases.%zu.offer", c));
        assert_true(json_equal(got, ref));
        json_decref(got);
        json_decref(ref);

        /* PaymentRequired carries the same entry */
        res.url = "http://127.0.0.1:8080/v1/chat/completions";
        res.description = NULL;
        res.mime_type = NULL;
        len = sizeof(out);
        assert_int_equal(x402_payment_required_encode(out, &len, NULL, &res,
                                                      &o, 1),
                         X402_OK);
        assert_non_null(strstr(out, want));

        /* the corrective 402 */
        memset(&st, 0, sizeof(st));
        xt_unhex(st.channel_id, 32,
                 xt_strf("corrective.%zu.state.channelId", c));
        xt_u256_text(&st.balance, xt_strf("corrective.%zu.state.balance",
                                          c));
        xt_u256_text(&st.total_claimed,
                     xt_strf("corrective.%zu.state.totalClaimed", c));
        st.withdraw_requested_at = (uint64_t) json_integer_value(
            xt_getf("corrective.%zu.state.withdrawRequestedAt", c));
        xt_u256_u64(&st.refund_nonce, (uint64_t) json_integer_value(
            xt_getf("corrective.%zu.state.refundNonce", c)));
        st.has_charged_cumulative = 1;
        xt_u256_text(&st.charged_cumulative,
                     xt_strf("corrective.%zu.state.chargedCumulativeAmount",
                             c));
        xt_u256_text(&max,
                     xt_strf("corrective.%zu.state.signedMaxClaimable", c));
        sig = xt_bytes(xt_strf("corrective.%zu.state.signature", c), &len);
        assert_int_equal(len, 65);

        want = xt_strf("corrective.%zu.json", c);
        want_len = strlen(want);
        len = sizeof(out);
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                                     &max, sig, 65),
                         X402_OK);
        assert_string_equal(out, want);
        assert_int_equal(len, want_len);
        len = want_len;
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                                     &max, sig, 65),
                         X402_ERR_BUFFER);

        /* what the official server's corrective 402 has */
        official = xt_dump(xt_getf("corrective.%zu.official", c));
        got = json_loads(want, 0, &err);
        ref = json_loads(official, 0, &err);
        assert_non_null(got);
        assert_non_null(ref);
        assert_true(json_equal(got, ref));
        json_decref(got);
        json_decref(ref);
        free(official);

        /* without a voucher: no voucherState; the accepts as a prefix */
        len = sizeof(out);
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                                     NULL, NULL, 0),
                         X402_OK);
        assert_null(strstr(out, "voucherState"));
        assert_memory_equal(out, want, strstr(want, ",\"voucherState\"")
                                       - want);
        assert_string_equal(out + len - 3, "}}]");

        /* arguments */
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                                     NULL, sig, 65),
                         X402_ERR_ARG);
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                                     &max, NULL, 65),
                         X402_ERR_ARG);
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, &st,
                                 &max, sig, X402_SIGNATURE_MAX + 1),
                         X402_ERR_ARG);
        assert_int_equal(x402_channel_accepts_encode(out, &len, &o, NULL,
                                                     &max, sig, 65),
                         X402_ERR_ARG);
        q = o;
        q.scheme = X402_SCHEME_UPTO;
        assert_int_equal(x402_channel_accepts_encode(out, &len, &q, &st,
                                                     &max, sig, 65),
                         X402_ERR_ARG);
        free(sig);

        /* the terms of a verdict */
        q = o;
        assert_true(x402_offer_eq(&o, &q));
        q.withdraw_delay++;
        assert_false(x402_offer_eq(&o, &q));
        q = o;
        q.receiver_authorizer.b[0] ^= 1;
        assert_false(x402_offer_eq(&o, &q));
        q.scheme = X402_SCHEME_EXACT;
        o.scheme = X402_SCHEME_EXACT;
        assert_true(x402_offer_eq(&o, &q));
    }

    /* a withdraw delay past JSON's integers */
    xt_channel_offer(&o, 0);
    o.withdraw_delay = UINT64_MAX;
    len = sizeof(out);
    assert_int_equal(x402_accepts_encode(out, &len, &o, 1), X402_ERR_ARG);
}


static void
test_settle_responses(void **state)
{
    size_t               i, len, want_len;
    char                 out[2048];
    json_t              *r, *s, *v;
    const char          *want, *tx;
    x402_u256            dep, charged;
    x402_address         payer;
    x402_channel_state   st;

    (void) state;

    xt_address(&payer, xt_str("payer"));

    json_array_foreach(xt_get("settleResponses"), i, r) {
        s = xt_member(r, "state");
        memset(&st, 0, sizeof(st));
        xt_unhex(st.channel_id, 32, xt_member_str(s, "channelId"));
        xt_u256_text(&st.balance, xt_member_str(s, "balance"));
        xt_u256_text(&st.total_claimed, xt_member_str(s, "totalClaimed"));
        st.withdraw_requested_at = (uint64_t) json_integer_value(
            xt_member(s, "withdrawRequestedAt"));
        xt_u256_text(&st.refund_nonce, xt_member_str(s, "refundNonce"));
        v = json_object_get(s, "chargedCumulativeAmount");
        if (v != NULL) {
            st.has_charged_cumulative = 1;
            xt_u256_text(&st.charged_cumulative, json_string_value(v));
        }

        tx = json_string_value(xt_member(r, "tx"));
        v = xt_member(r, "deposit");
        if (json_is_string(v)) {
            xt_u256_text(&dep, json_string_value(v));
        }
        xt_u256_text(&charged, xt_member_str(r, "charged"));

        want = xt_member_str(r, "json");
        want_len = strlen(want);
        len = sizeof(out);
        assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                             &payer, tx, json_is_string(v) ? &dep : NULL,
                             &charged, &st),
                         X402_OK);
        assert_string_equal(out, want);
        assert_int_equal(len, want_len);

        len = want_len + 1;
        assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                             &payer, tx, json_is_string(v) ? &dep : NULL,
                             &charged, &st),
                         X402_OK);
        len = want_len;
        assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                             &payer, tx, json_is_string(v) ? &dep : NULL,
                             &charged, &st),
                         X402_ERR_BUFFER);
    }

    /* no chargedAmount (a refund); arguments */
    len = sizeof(out);
    assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                         &payer, NULL, NULL, NULL, &st),
                     X402_OK);
    assert_non_null(strstr(out, ",\"extra\":{\"channelState\":{"));
    assert_null(strstr(out, "chargedAmount"));
    assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                         NULL, NULL, NULL, NULL, &st),
                     X402_ERR_ARG);
    assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                         &payer, NULL, NULL, NULL, NULL),
                     X402_ERR_ARG);
    assert_int_equal(x402_channel_settle_response_encode(out, NULL, 8453,
                         &payer, NULL, NULL, NULL, &st),
                     X402_ERR_ARG);
    len = sizeof(out);
    assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                         &payer, "\xff", NULL, NULL, &st),
                     X402_ERR_ARG);
    st.withdraw_requested_at = UINT64_MAX;
    assert_int_equal(x402_channel_settle_response_encode(out, &len, 8453,
                         &payer, NULL, NULL, NULL, &st),
                     X402_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_decode_vectors),
        cmocka_unit_test(test_decode_required),
        cmocka_unit_test(test_decode_values),
        cmocka_unit_test(test_verify_valid),
        cmocka_unit_test(test_verify_reasons),
        cmocka_unit_test(test_verify_mutated_json),
        cmocka_unit_test(test_deposit_calldata),
        cmocka_unit_test(test_claim_settle_calldata),
        cmocka_unit_test(test_state_replies),
        cmocka_unit_test(test_config_encoding),
        cmocka_unit_test(test_offers),
        cmocka_unit_test(test_settle_responses),
    };

    return cmocka_run_group_tests(tests, xt_channel_setup,
                                  xt_channel_teardown);
}
