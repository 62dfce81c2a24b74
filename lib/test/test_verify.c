/*
 * Verification: every mutation (M01-M15) and encoding variant (E01-E07)
 * at verifyNowSec, replay keys, and upto signing round trips.
 */

#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define P2A  "payload.permit2Authorization"


static int
xt_ctx_setup(void **state)
{
    if (xt_setup(state) != 0) {
        return -1;
    }

    *state = x402_context_create(NULL);

    return *state == NULL ? -1 : 0;
}


static int
xt_ctx_teardown(void **state)
{
    x402_context_destroy(*state);

    return xt_teardown(state);
}


static uint64_t
xt_now(void)
{
    assert_int_equal(xt_int("mutations.verifyNowSec"),
                     xt_int("common.verifyNowSec"));

    return (uint64_t) xt_int("mutations.verifyNowSec");
}


/* The expected replay key of the vector authorization, from its text. */
static void
xt_base_replay_key(char *out, size_t cap)
{
    char     from[41], nonce[65];
    uint8_t  b[32];

    xt_hex_at(b, 20, "common.signer");
    xt_tohex(from, b, 20);
    xt_hex_at(b, 32, "common.nonceHex");
    xt_tohex(nonce, b, 32);

    snprintf(out, cap, "x402:8453:%s:%s", from, nonce);
}


static void
xt_decode(x402_payment *p, const char *header)
{
    const char  *field;
    x402_err     rc;

    rc = x402_payment_decode_header(p, &field, header, strlen(header));
    if (rc != X402_OK) {
        fail_msg("decode: %s at \"%s\"", x402_strerror(rc), field);
    }
}


static void
test_base_valid(void **state)
{
    x402_payment  p;
    x402_offer    offer;
    char          key[X402_REPLAY_KEY_MAX], want[X402_REPLAY_KEY_MAX];
    const char   *chains[3] = { "8453", "84532", "31337" };
    char          path[64];
    size_t        i;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "chains.%s.paymentSignatureHeader",
                 chains[i]);
        xt_decode(&p, xt_str(path));
        xt_offer(&offer, strtoull(chains[i], NULL, 10));

        assert_int_equal(x402_offer_match(&offer, &p), X402_R_VALID);
        assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                         X402_R_VALID);

        /* another chain's offer: network text differs */
        offer.chain_id = (i == 0) ? 84532 : 8453;
        assert_int_equal(x402_offer_match(&offer, &p), X402_R_NO_MATCH);
        assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                         X402_R_EXACT_NETWORK_MISMATCH);
    }

    xt_decode(&p, xt_str("chains.8453.paymentSignatureHeader"));
    xt_base_replay_key(want, sizeof(want));
    x402_replay_key(key, 8453, &p);
    assert_string_equal(key, want);
    assert_true(strlen(key) < X402_REPLAY_KEY_MAX);

    /*
     * Permit2's nonce bitmap is per owner: the same nonce for another
     * token (or spender) is the same payment, and the same key
     */
    memset(p.token.b, 0x42, sizeof(p.token.b));
    memset(p.spender.b, 0x43, sizeof(p.spender.b));
    x402_replay_key(key, 8453, &p);
    assert_string_equal(key, want);

    /* another payer or nonce is another payment */
    p.from.b[19] ^= 1;
    x402_replay_key(key, 8453, &p);
    assert_string_not_equal(key, want);
    p.from.b[19] ^= 1;
    p.nonce.b[0] ^= 1;
    x402_replay_key(key, 8453, &p);
    assert_string_not_equal(key, want);

    /* the longest chain id still fits */
    x402_replay_key(key, UINT64_MAX, &p);
    assert_true(strlen(key) < X402_REPLAY_KEY_MAX);
    assert_true(strncmp(key, "x402:18446744073709551615:", 26) == 0);
}


/* Expected reason of a case: moduleExpected overrides referenceVerify. */
static void
xt_check_case(const x402_context *ctx, json_t *c, const x402_offer *offer,
    const char *base_key)
{
    x402_payment  p;
    json_t       *exp, *om, *same;
    const char   *id, *want;
    char          key[X402_REPLAY_KEY_MAX];
    x402_reason   r, match;

    id = xt_member_str(c, "id");
    xt_decode(&p, xt_member_str(c, "paymentSignatureHeader"));

    om = xt_member(c, "offerMatches");
    match = x402_offer_match(offer, &p);
    if ((match == X402_R_VALID) != json_is_true(om)) {
        fail_msg("%s: offer match %d, want %s", id, match,
                 json_is_true(om) ? "true" : "false");
    }

    exp = json_object_get(c, "moduleExpected");
    if (exp == NULL) {
        exp = xt_member(c, "referenceVerify");
    }

    r = x402_verify_local(ctx, offer, &p, xt_now(), 0);

    if (json_is_true(xt_member(exp, "isValid"))) {
        if (r != X402_R_VALID) {
            fail_msg("%s: got %s, want valid", id, x402_reason_string(r));
        }

    } else {
        want = xt_member_str(exp, "invalidReason");
        if (r == X402_R_VALID || strcmp(x402_reason_string(r), want) != 0) {
            fail_msg("%s: got %s, want %s", id,
                     r == X402_R_VALID ? "valid" : x402_reason_string(r),
                     want);
        }
    }

    x402_replay_key(key, offer->chain_id, &p);
    same = json_object_get(c, "replayKeyEqualsBase");
    if (same != NULL && json_is_true(same)) {
        assert_string_equal(key, base_key);
    }
}


static void
test_mutations(void **state)
{
    x402_offer   offer;
    json_t      *cases, *c;
    char         id[8], base_key[X402_REPLAY_KEY_MAX];
    size_t       i;

    assert_string_equal(xt_str("mutations.base"),
                        "chains.8453.paymentPayload");
    xt_offer(&offer, 8453);
    xt_base_replay_key(base_key, sizeof(base_key));

    cases = xt_get("mutations.cases");
    assert_int_equal(json_array_size(cases), 15);

    json_array_foreach(cases, i, c) {
        snprintf(id, sizeof(id), "M%02u", (unsigned) i + 1);
        assert_string_equal(xt_member_str(c, "id"), id);
        xt_check_case(*state, c, &offer, base_key);
    }

    /* spelled out, so a vector edit cannot weaken them */
    c = json_array_get(cases, 13);
    assert_string_equal(xt_member_str(xt_member(c, "moduleExpected"),
                                      "invalidReason"),
                        "invalid_permit2_signature");
    c = json_array_get(cases, 14);
    assert_true(json_is_true(xt_member(c, "replayKeyEqualsBase")));
    assert_true(json_is_true(xt_member(xt_member(c, "moduleExpected"),
                                       "isValid")));
}


static void
test_encoding_variants(void **state)
{
    x402_payment  p;
    x402_offer    offer;
    json_t       *cases, *c;
    char          id[8], base_key[X402_REPLAY_KEY_MAX];
    char          key[X402_REPLAY_KEY_MAX];
    size_t        i;

    xt_offer(&offer, 8453);
    xt_base_replay_key(base_key, sizeof(base_key));

    cases = xt_get("encodingVariants.cases");
    assert_int_equal(json_array_size(cases), 7);

    for (i = 0; i < 6; i++) {
        c = json_array_get(cases, i);
        snprintf(id, sizeof(id), "E%02u", (unsigned) i + 1);
        assert_string_equal(xt_member_str(c, "id"), id);
        xt_check_case(*state, c, &offer, base_key);

        /* one authorization, one key, whatever the encoding */
        xt_decode(&p, xt_member_str(c, "paymentSignatureHeader"));
        x402_replay_key(key, 8453, &p);
        assert_string_equal(key, base_key);
    }

    /* E07: unpadded 84532 header verifies against the 84532 offer */
    c = json_array_get(cases, 6);
    assert_string_equal(xt_member_str(c, "id"), "E07");
    xt_decode(&p, xt_member_str(c, "paymentSignatureHeader"));
    xt_offer(&offer, 84532);
    assert_int_equal(x402_offer_match(&offer, &p), X402_R_VALID);
    assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                     X402_R_VALID);
    x402_replay_key(key, 84532, &p);
    assert_true(strncmp(key, "x402:84532:", 11) == 0);
    assert_string_equal(key + 11, base_key + 10);
}


static void
test_time_and_edges(void **state)
{
    x402_payment  p, q;
    x402_offer    offer;
    uint64_t      now, deadline;

    xt_decode(&p, xt_str("chains.8453.paymentSignatureHeader"));
    xt_offer(&offer, 8453);
    deadline = strtoull(xt_str("common.deadline"), NULL, 10);

    /* deadline >= now + 6: the last second that passes, then expired */
    now = deadline - X402_DEADLINE_MARGIN;
    assert_int_equal(x402_verify_local(*state, &offer, &p, now, 0),
                     X402_R_VALID);
    assert_int_equal(x402_verify_local(*state, &offer, &p, now + 1, 0),
                     X402_R_DEADLINE_EXPIRED);
    assert_int_equal(x402_verify_local(*state, &offer, &p, UINT64_MAX, 0),
                     X402_R_DEADLINE_EXPIRED);

    /* below the reference's margin, min_left is that margin */
    assert_int_equal(x402_verify_local(*state, &offer, &p, now, 1),
                     X402_R_VALID);

    /* a gateway's own margin: deadline >= now + min_left, to the second */
    now = deadline - 150;
    assert_int_equal(x402_verify_local(*state, &offer, &p, now, 150),
                     X402_R_VALID);
    assert_int_equal(x402_verify_local(*state, &offer, &p, now + 1, 150),
                     X402_R_DEADLINE_EXPIRED);
    assert_int_equal(x402_verify_local(*state, &offer, &p, now, UINT64_MAX),
                     X402_R_DEADLINE_EXPIRED);

    /* validAfter = now passes, now + 1 does not (before the signature) */
    q = p;
    xt_u256_u64(&q.valid_after, xt_now());
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_INVALID_SIGNATURE);
    xt_u256_u64(&q.valid_after, xt_now() + 1);
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_NOT_YET_VALID);
    memset(q.valid_after.b, 0xff, 32);
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_NOT_YET_VALID);

    /* a huge deadline is not expired */
    q = p;
    memset(q.deadline.b, 0xff, 32);
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_INVALID_SIGNATURE);

    /* no context, no signature */
    assert_int_equal(x402_verify_local(NULL, &offer, &p, xt_now(), 0),
                     X402_R_INVALID_SIGNATURE);
    q = p;
    q.signature_len = 0;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_INVALID_SIGNATURE);

    /* the offer's chain id signs, not the client's: accepted says 8453 */
    q = p;
    q.accepted.chain_id = 84532;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_VALID);

    /* offer fields that accepted must match */
    q = p;
    q.accepted.max_timeout_seconds = 301;
    assert_int_equal(x402_offer_match(&offer, &q), X402_R_NO_MATCH);
    q = p;
    q.accepted.permit2 = 0;
    assert_int_equal(x402_offer_match(&offer, &q), X402_R_NO_MATCH);
    q = p;
    q.accepted.pay_to.b[0] ^= 1;
    assert_int_equal(x402_offer_match(&offer, &q), X402_R_NO_MATCH);
    q = p;
    q.accepted.asset.b[19] ^= 1;
    assert_int_equal(x402_offer_match(&offer, &q), X402_R_NO_MATCH);
    q = p;
    q.accepted.amount.b[31] ^= 1;
    assert_int_equal(x402_offer_match(&offer, &q), X402_R_NO_MATCH);

    /* unknown offer scheme */
    offer.scheme = X402_SCHEME_UNKNOWN;
    assert_int_equal(x402_offer_match(&offer, &p), X402_R_NO_MATCH);
    assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                     X402_R_UNSUPPORTED_PAYLOAD_TYPE);
}


/* An exact payload carrying witness.facilitator: ignored for exact. */
static void
test_exact_ignores_witness_facilitator(void **state)
{
    x402_payment  p;
    x402_offer    offer;
    json_t       *doc;
    char         *json;

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, P2A ".witness.facilitator",
           json_string(xt_str("constants.addresses.multicall3")));
    json = xt_dump(doc);
    json_decref(doc);

    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    free(json);
    assert_true(p.has_witness_facilitator);

    xt_offer(&offer, 8453);
    assert_int_equal(x402_offer_match(&offer, &p), X402_R_VALID);
    assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                     X402_R_VALID);
}


/* The 8453 payload with one member of `accepted` set (NULL: removed). */
static x402_reason
xt_match_with(const x402_offer *offer, const char *path, json_t *value)
{
    x402_payment  p;
    json_t       *doc;
    char         *json;

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, path, value);
    json = xt_dump(doc);
    json_decref(doc);

    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    free(json);

    return x402_offer_match(offer, &p);
}


/* `accepted` must equal the offer as a whole object, key order aside. */
static void
test_accepted_whole_object(void **state)
{
    x402_offer  offer;
    char        pad[3001];

    (void) state;

    xt_offer(&offer, 8453);

    assert_int_equal(xt_match_with(&offer, "accepted.extra.version",
                                   json_string("1")),
                     X402_R_VALID);

    /* a member the offer does not have: 3 KB of padding, or anywhere */
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    assert_int_equal(xt_match_with(&offer, "accepted.extra.padding",
                                   json_string(pad)),
                     X402_R_NO_MATCH);
    assert_int_equal(xt_match_with(&offer, "accepted.resource",
                                   json_string("x")),
                     X402_R_NO_MATCH);
    assert_int_equal(xt_match_with(&offer, "accepted.extra.paymentFlow",
                                   json_string("upfront")),
                     X402_R_NO_MATCH);

    /* null is absent, as the reference's schemas read it */
    assert_int_equal(xt_match_with(&offer, "accepted.extra.padding",
                                   json_null()),
                     X402_R_VALID);

    /* the offer's extra texts: the same, present exactly when offered */
    assert_int_equal(xt_match_with(&offer, "accepted.extra.name",
                                   json_string("OPG2")),
                     X402_R_NO_MATCH);
    assert_int_equal(xt_match_with(&offer, "accepted.extra.version", NULL),
                     X402_R_NO_MATCH);
    assert_int_equal(xt_match_with(&offer, "accepted.extra.name",
                                   json_string(pad)),
                     X402_R_NO_MATCH);
    offer.extra_name = NULL;
    assert_int_equal(xt_match_with(&offer, "accepted.extra.version",
                                   json_string("1")),
                     X402_R_NO_MATCH);
    assert_int_equal(xt_match_with(&offer, "accepted.extra.name", NULL),
                     X402_R_VALID);

    /* a facilitator address belongs to upto offers only */
    xt_offer(&offer, 8453);
    assert_int_equal(xt_match_with(&offer, "accepted.extra.facilitatorAddress",
                         json_string(xt_str("constants.addresses.multicall3"))),
                     X402_R_NO_MATCH);
}


/*
 * Upto: turn the 8453 payload into an upto payment for a facilitator,
 * sign its upto digest with the vector key, and send it through the JSON
 * decoder and the verifier.
 */
static void
xt_upto_payment(const x402_context *ctx, x402_payment *p, x402_offer *offer,
    const char *witness_facilitator)
{
    json_t   *doc;
    char     *json, sighex[2 * 65 + 3];
    uint8_t   key[32], digest[32], sig[65];

    xt_offer(offer, 8453);
    offer->scheme = X402_SCHEME_UPTO;
    xt_address(&offer->facilitator, xt_str("constants.addresses.multicall3"));

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, "accepted.scheme", json_string("upto"));
    xt_set(doc, "accepted.extra.facilitatorAddress",
           json_string(xt_str("constants.addresses.multicall3")));
    xt_set(doc, P2A ".spender",
           json_string(xt_str("constants.addresses.x402UptoPermit2Proxy")));
    xt_set(doc, P2A ".witness.facilitator",
           witness_facilitator ? json_string(witness_facilitator) : NULL);

    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(p, NULL, json, strlen(json)),
                     X402_OK);
    free(json);

    xt_privkey(key);
    assert_int_equal(x402_permit2_digest(digest, X402_SCHEME_UPTO, 8453, p),
                     X402_OK);
    assert_int_equal(x402_sign_digest(ctx, sig, digest, key), X402_OK);

    sighex[0] = '0';
    sighex[1] = 'x';
    xt_tohex(sighex + 2, sig, 65);
    xt_set(doc, "payload.signature", json_string(sighex));

    json = xt_dump(doc);
    json_decref(doc);
    assert_int_equal(x402_payment_decode_json(p, NULL, json, strlen(json)),
                     X402_OK);
    free(json);
}



/* x402_offer_eq: every term a verdict was reached for, and nothing else */
static void
test_offer_eq(void **state)
{
    x402_payment  p;
    x402_offer    offer, o2;

    xt_upto_payment(*state, &p, &offer,
                    xt_str("constants.addresses.multicall3"));

    o2 = offer;
    assert_true(x402_offer_eq(&offer, &o2));

    o2.chain_id++;
    assert_false(x402_offer_eq(&offer, &o2));
    o2 = offer;
    o2.max_timeout_seconds++;
    assert_false(x402_offer_eq(&offer, &o2));
    o2 = offer;
    o2.amount.b[31] ^= 1;
    assert_false(x402_offer_eq(&offer, &o2));
    o2 = offer;
    o2.asset.b[0] ^= 1;
    assert_false(x402_offer_eq(&offer, &o2));
    o2 = offer;
    o2.pay_to.b[19] ^= 1;
    assert_false(x402_offer_eq(&offer, &o2));
    o2 = offer;
    o2.facilitator.b[0] ^= 1;
    assert_false(x402_offer_eq(&offer, &o2));

    /* the facilitator counts for upto only */
    offer.scheme = X402_SCHEME_EXACT;
    o2.scheme = X402_SCHEME_EXACT;
    assert_true(x402_offer_eq(&offer, &o2));
    o2.scheme = X402_SCHEME_UPTO;
    assert_false(x402_offer_eq(&offer, &o2));
}

static void
test_upto_round_trip(void **state)
{
    x402_payment  p, q;
    x402_offer    offer, o2;
    uint8_t       key[32], digest[32];

    xt_upto_payment(*state, &p, &offer,
                    xt_str("constants.addresses.multicall3"));

    assert_int_equal(x402_offer_match(&offer, &p), X402_R_VALID);
    assert_int_equal(x402_verify_local(*state, &offer, &p, xt_now(), 0),
                     X402_R_VALID);

    /* facilitator mismatch: offer names another facilitator */
    o2 = offer;
    xt_address(&o2.facilitator, xt_str("constants.addresses.create2Deployer"));
    assert_int_equal(x402_offer_match(&o2, &p), X402_R_NO_MATCH);
    assert_int_equal(x402_verify_local(*state, &o2, &p, xt_now(), 0),
                     X402_R_UPTO_FACILITATOR_MISMATCH);

    /* signed for another facilitator */
    xt_upto_payment(*state, &q, &offer,
                    xt_str("constants.addresses.create2Deployer"));
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_UPTO_FACILITATOR_MISMATCH);

    /* no witness facilitator at all */
    xt_upto_payment(*state, &q, &offer, NULL);
    assert_false(q.has_witness_facilitator);
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_UPTO_FACILITATOR_MISMATCH);

    /* scheme, network, spender, amount cap in the upto order */
    q = p;
    q.accepted.scheme = X402_SCHEME_EXACT;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_UPTO_SCHEME);
    q = p;
    strcpy(q.accepted.network, "eip155:84532");
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_UPTO_NETWORK_MISMATCH);
    q = p;
    q.spender = x402_exact_proxy_address;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_SPENDER);
    q = p;
    q.to.b[0] ^= 1;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_RECIPIENT_MISMATCH);
    q = p;
    q.amount.b[31] ^= 1;
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_AMOUNT_MISMATCH);

    /* an upto payment against an exact offer */
    o2 = offer;
    o2.scheme = X402_SCHEME_EXACT;
    assert_int_equal(x402_verify_local(*state, &o2, &p, xt_now(), 0),
                     X402_R_UNSUPPORTED_PAYLOAD_TYPE);

    /* the exact digest does not verify as upto */
    q = p;
    xt_privkey(key);
    assert_int_equal(x402_permit2_digest(digest, X402_SCHEME_EXACT, 8453, &q),
                     X402_OK);
    assert_int_equal(x402_sign_digest(*state, q.signature, digest, key),
                     X402_OK);
    assert_int_equal(x402_verify_local(*state, &offer, &q, xt_now(), 0),
                     X402_R_INVALID_SIGNATURE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_base_valid),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_encoding_variants),
        cmocka_unit_test(test_time_and_edges),
        cmocka_unit_test(test_exact_ignores_witness_facilitator),
        cmocka_unit_test(test_accepted_whole_object),
        cmocka_unit_test(test_upto_round_trip),
        cmocka_unit_test(test_offer_eq),
    };

    return cmocka_run_group_tests(tests, xt_ctx_setup, xt_ctx_teardown);
}
