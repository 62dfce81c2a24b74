/*
 * JSON wire objects: the PaymentRequired encoder (byte for byte against
 * the reference) and the PaymentPayload decoder (vectors, E07, errors).
 */

#include <stdlib.h>
#include <string.h>

#include "vectors.h"

#define S(lit)  lit, sizeof(lit) - 1


static const char  xt_chains[3][8] = { "8453", "84532", "31337" };


/* ------------------------------------------------------ PaymentRequired */

static void
xt_required_inputs(x402_resource *res, x402_offer *offer)
{
    res->url = xt_str("headers.paymentRequired8453.decoded.resource.url");
    res->description =
        xt_str("headers.paymentRequired8453.decoded.resource.description");
    res->mime_type =
        xt_str("headers.paymentRequired8453.decoded.resource.mimeType");
    xt_offer(offer, 8453);
}


/* base64 of the expected header, decoded here without libx402 */
static char *
xt_expected_required_json(void)
{
    char        *out;
    const char  *h;

    h = xt_str("headers.paymentRequired8453.header");
    out = malloc(strlen(h) + 1);
    assert_non_null(out);

    xt_b64_decode(out, h);

    return out;
}


static void
test_required_encode(void **state)
{
    x402_resource  res;
    x402_offer     offer;
    json_t        *parsed;
    char          *want, out[2048];
    size_t         n;

    (void) state;

    xt_required_inputs(&res, &offer);
    want = xt_expected_required_json();

    n = sizeof(out);
    assert_int_equal(x402_payment_required_encode(out, &n,
                         xt_str("headers.paymentRequired8453.decoded.error"),
                         &res, &offer, 1),
                     X402_OK);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));

    /* and it is the decoded object of the vector */
    parsed = json_loads(out, 0, NULL);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, xt_get("headers.paymentRequired8453.decoded")));
    json_decref(parsed);

    /* exact fit, one byte short */
    n = strlen(want) + 1;
    assert_int_equal(x402_payment_required_encode(out, &n, "Payment required",
                                                  &res, &offer, 1),
                     X402_OK);
    n = strlen(want);
    assert_int_equal(x402_payment_required_encode(out, &n, "Payment required",
                                                  &res, &offer, 1),
                     X402_ERR_BUFFER);

    free(want);
}


static void
test_required_header(void **state)
{
    x402_resource  res;
    x402_offer     offer;
    const char    *want;
    char           out[1024];
    size_t         n;

    (void) state;

    xt_required_inputs(&res, &offer);
    want = xt_str("headers.paymentRequired8453.header");
    assert_int_equal(strlen(want), 592);
    assert_int_equal(xt_int("headers.paymentRequired8453.headerLength"), 592);

    n = sizeof(out);
    assert_int_equal(x402_payment_required_header(out, &n, "Payment required",
                                                  &res, &offer, 1),
                     X402_OK);
    assert_int_equal(n, 592);
    assert_string_equal(out, want);

    n = 593;
    assert_int_equal(x402_payment_required_header(out, &n, "Payment required",
                                                  &res, &offer, 1),
                     X402_OK);
    n = 592;
    assert_int_equal(x402_payment_required_header(out, &n, "Payment required",
                                                  &res, &offer, 1),
                     X402_ERR_BUFFER);
}


static void
test_required_variants(void **state)
{
    x402_resource  res;
    x402_offer     offers[2];
    char           out[2048], want[256];
    size_t         n;

    (void) state;

    xt_required_inputs(&res, &offers[0]);

    /* no error, no description/mimeType, no extra name/version */
    res.description = NULL;
    res.mime_type = NULL;
    offers[0].extra_name = NULL;
    offers[0].extra_version = NULL;
    offers[1] = offers[0];
    offers[1].scheme = X402_SCHEME_UPTO;
    xt_address(&offers[1].facilitator,
               xt_str("constants.addresses.multicall3"));

    n = sizeof(out);
    assert_int_equal(x402_payment_required_encode(out, &n, NULL, &res,
                                                  offers, 2),
                     X402_OK);

    snprintf(want, sizeof(want),
             "{\"x402Version\":2,\"resource\":{\"url\":\"%s\"},\"accepts\":"
             "[{\"scheme\":\"exact\",", res.url);
    assert_true(strncmp(out, want, strlen(want)) == 0);

    assert_non_null(strstr(out,
        "\"maxTimeoutSeconds\":300,\"extra\":{\"assetTransferMethod\":"
        "\"permit2\"}},{\"scheme\":\"upto\",\"network\":\"eip155:8453\""));

    snprintf(want, sizeof(want),
             "\"extra\":{\"assetTransferMethod\":\"permit2\","
             "\"facilitatorAddress\":\"%s\"}}]}",
             xt_str("constants.addresses.multicall3"));
    assert_true(strlen(out) > strlen(want));
    assert_string_equal(out + strlen(out) - strlen(want), want);

    /* bad arguments */
    n = sizeof(out);
    assert_int_equal(x402_payment_required_encode(out, &n, NULL, &res,
                                                  offers, 0),
                     X402_ERR_ARG);
    res.url = "";
    assert_int_equal(x402_payment_required_encode(out, &n, NULL, &res,
                                                  offers, 1),
                     X402_ERR_ARG);
    res.url = "http://x/\xff";
    assert_int_equal(x402_payment_required_encode(out, &n, NULL, &res,
                                                  offers, 1),
                     X402_ERR_ARG);
    res.url = "http://x/";
    offers[0].scheme = X402_SCHEME_UNKNOWN;
    assert_int_equal(x402_payment_required_encode(out, &n, NULL, &res,
                                                  offers, 1),
                     X402_ERR_ARG);
}


/* ------------------------------------------------------ PaymentPayload */

static void
test_decode_chain_headers(void **state)
{
    x402_payment  p;
    const char   *h, *field;
    char          path[64], *json;
    size_t        i;

    (void) state;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "chains.%s.paymentSignatureHeader",
                 xt_chains[i]);
        h = xt_str(path);
        snprintf(path, sizeof(path), "chains.%s.paymentSignatureHeaderLength",
                 xt_chains[i]);
        assert_int_equal(strlen(h), xt_int(path));

        field = "unset";
        assert_int_equal(x402_payment_decode_header(&p, &field, h, strlen(h)),
                         X402_OK);
        assert_string_equal(field, "");

        snprintf(path, sizeof(path), "chains.%s.paymentPayload",
                 xt_chains[i]);
        xt_check_payment(&p, xt_get(path));

        /* the JSON text itself decodes the same */
        json = xt_dump(xt_get(path));
        assert_int_equal(x402_payment_decode_json(&p, NULL, json,
                                                  strlen(json)),
                         X402_OK);
        xt_check_payment(&p, xt_get(path));
        free(json);
    }
}


static void
test_decode_e07_and_base64(void **state)
{
    x402_payment  p;
    json_t       *cases, *e07;
    const char   *h, *field;
    char         *bad;
    size_t        len;

    (void) state;

    cases = xt_get("encodingVariants.cases");
    e07 = json_array_get(cases, 6);
    assert_string_equal(xt_member_str(e07, "id"), "E07");
    assert_string_equal(xt_member_str(e07, "decodesTo"),
                        "chains.84532.paymentPayload");

    h = xt_member_str(e07, "paymentSignatureHeader");
    len = strlen(h);
    assert_true(h[len - 1] != '=');
    assert_int_equal(len + 2, strlen(xt_str(
                         "chains.84532.paymentSignatureHeader")));
    assert_int_equal(x402_payment_decode_header(&p, NULL, h, len), X402_OK);
    xt_check_payment(&p, xt_get("chains.84532.paymentPayload"));

    /* base64url, spaces and line breaks make the header undecodable */
    h = xt_str("chains.8453.paymentSignatureHeader");
    len = strlen(h);
    bad = malloc(len + 2);
    assert_non_null(bad);

    memcpy(bad, h, len + 1);
    bad[100] = '-';
    assert_int_equal(x402_payment_decode_header(&p, &field, bad, len),
                     X402_ERR_BASE64);
    assert_string_equal(field, "");
    bad[100] = '_';
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len),
                     X402_ERR_BASE64);

    bad[0] = ' ';
    memcpy(bad + 1, h, len + 1);
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len + 1),
                     X402_ERR_BASE64);

    memcpy(bad, h, len);
    bad[len] = ' ';
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len + 1),
                     X402_ERR_BASE64);
    bad[len] = '\n';
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len + 1),
                     X402_ERR_BASE64);

    memcpy(bad, h, 76);
    bad[76] = '\n';
    memcpy(bad + 77, h + 76, len - 76);
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len + 1),
                     X402_ERR_BASE64);
    bad[76] = '\r';
    assert_int_equal(x402_payment_decode_header(&p, NULL, bad, len + 1),
                     X402_ERR_BASE64);

    /* truncated: valid base64 of truncated JSON */
    assert_int_equal(x402_payment_decode_header(&p, NULL, h, len - 4),
                     X402_ERR_JSON);

    free(bad);
}


/* Decodes base 8453 payload after a change; checks error and field. */
static void
xt_expect(const char *path, json_t *value, x402_err want_rc,
    const char *want_field)
{
    x402_payment  p;
    json_t       *doc;
    const char   *field;
    char         *json;
    x402_err      rc;

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    assert_non_null(doc);
    xt_set(doc, path, value);
    json = xt_dump(doc);
    json_decref(doc);

    field = "unset";
    rc = x402_payment_decode_json(&p, &field, json, strlen(json));
    free(json);

    if (rc != want_rc || strcmp(field, want_field) != 0) {
        fail_msg("%s: got %d (%s) at \"%s\", want %d at \"%s\"", path,
                 rc, x402_strerror(rc), field, want_rc, want_field);
    }
}


/* One payload with extensions["payment-identifier"].info.id = id (NULL:
 * no extensions): its state and id once decoded. */
static void
xt_payment_id(const char *id, int want_state)
{
    x402_payment  p;
    json_t       *doc, *ext;
    char         *json;

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    assert_non_null(doc);

    if (id != NULL) {
        ext = json_pack("{s:{s:{s:b,s:s}}}", "payment-identifier", "info",
                        "required", 1, "id", id);
        assert_non_null(ext);
        json_object_set_new(doc, "extensions", ext);
    }

    json = xt_dump(doc);
    json_decref(doc);

    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    free(json);

    assert_int_equal(p.payment_id_state, want_state);

    if (want_state == X402_PAYMENT_ID_VALID) {
        assert_string_equal(p.payment_id, id);
    }
}


/* The payment-identifier extension: what a payload carries, what a 402
 * declares, and what a payment is bound to. */
static void
test_payment_identifier(void **state)
{
    char          big[X402_PAYMENT_ID_MAX + 2], out[1024];
    size_t        len;
    uint8_t       f1[32], f2[32];
    json_t       *doc;
    x402_payment  p;
    x402_resource res = { "https://x.example/a", NULL, NULL };

    (void) state;

    xt_payment_id(NULL, X402_PAYMENT_ID_NONE);
    xt_payment_id("pay_0123456789abcdef", X402_PAYMENT_ID_VALID);
    xt_payment_id("0123456789abcdef", X402_PAYMENT_ID_VALID);
    xt_payment_id("0123456789abcde", X402_PAYMENT_ID_INVALID);   /* 15 */
    xt_payment_id("pay_0123456789abcdef!", X402_PAYMENT_ID_INVALID);
    xt_payment_id("pay 0123456789abcdef", X402_PAYMENT_ID_INVALID);

    memset(big, 'a', sizeof(big));
    big[X402_PAYMENT_ID_MAX] = '\0';
    xt_payment_id(big, X402_PAYMENT_ID_VALID);
    big[X402_PAYMENT_ID_MAX] = 'a';
    big[X402_PAYMENT_ID_MAX + 1] = '\0';
    xt_payment_id(big, X402_PAYMENT_ID_INVALID);

    /* the declaration, parsed back */
    len = sizeof(out);
    assert_int_equal(x402_payment_identifier_declare(out, &len, 1), X402_OK);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(json_object_get(
        json_object_get(doc, "payment-identifier"), "info"), "required")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        json_object_get(json_object_get(json_object_get(doc,
        "payment-identifier"), "schema"), "properties"), "id"),
        "minLength")), 16);
    json_decref(doc);

    /* composed last into a PaymentRequired */
    {
        char    pr[2048], ext[1024];
        size_t  elen = sizeof(ext), plen = sizeof(pr);

        assert_int_equal(x402_payment_identifier_declare(ext, &elen, 0),
                         X402_OK);
        assert_int_equal(x402_payment_required_compose_ext(pr, &plen, NULL,
                             &res, "[]", 2, ext, elen), X402_OK);
        doc = json_loads(pr, 0, NULL);
        assert_non_null(doc);
        assert_true(json_is_false(json_object_get(json_object_get(
            json_object_get(json_object_get(doc, "extensions"),
            "payment-identifier"), "info"), "required")));
        json_decref(doc);
    }

    /* the fingerprint: the signed permit, not the id or the encoding */
    doc = xt_get("chains.8453.paymentPayload");
    {
        char  *json = xt_dump(doc);

        assert_int_equal(x402_payment_decode_json(&p, NULL, json,
                                                  strlen(json)), X402_OK);
        free(json);
    }
    x402_payment_fingerprint(f1, 8453, &p);
    x402_payment_fingerprint(f2, 8453, &p);
    assert_memory_equal(f1, f2, 32);
    p.signature[0] ^= 1;
    x402_payment_fingerprint(f2, 8453, &p);
    assert_memory_not_equal(f1, f2, 32);
    p.signature[0] ^= 1;
    x402_payment_fingerprint(f2, 84532, &p);
    assert_memory_not_equal(f1, f2, 32);
}


/* JSON-RPC bodies: their calls' methods and ids, the error answer, and a
 * reply that failed. */
static void
test_jsonrpc(void **state)
{
    x402_jsonrpc_call  calls[X402_RPC_CALLS_MAX];
    size_t             n, len;
    int                batch;
    char               out[512];
    json_t            *doc;

    (void) state;

    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
        S("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"newt_createTask\","
          "\"params\":{}}")), X402_OK);
    assert_int_equal(n, 1);
    assert_false(batch);
    assert_string_equal(calls[0].method, "newt_createTask");
    assert_string_equal(calls[0].id, "7");

    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
        S("[{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"eval\"},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}]")), X402_OK);
    assert_int_equal(n, 2);
    assert_true(batch);
    assert_string_equal(calls[0].id, "\"a\"");
    assert_string_equal(calls[1].method, "status");
    assert_string_equal(calls[1].id, "null");

    /* what is not a call, or too many of them */
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch, S("[]")),
                     X402_ERR_JSON);
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch, S("nope")),
                     X402_ERR_JSON);
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
                                            S("{\"id\":1}")),
                     X402_ERR_MISSING);
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
                                            S("{\"method\":5}")),
                     X402_ERR_TYPE);
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
                                            S("{\"method\":\"a b\"}")),
                     X402_ERR_VALUE);
    assert_int_equal(x402_rpc_request_calls(calls, 4, &n, &batch,
                                            S("[{\"method\":\"a\"},3]")),
                     X402_ERR_TYPE);
    assert_int_equal(n, 0);
    assert_int_equal(x402_rpc_request_calls(calls, 1, &n, &batch,
        S("[{\"method\":\"a\"},{\"method\":\"b\"}]")), X402_ERR_SIZE);

    /* the error answer */
    len = sizeof(out);
    assert_int_equal(x402_rpc_error_body(out, &len, "\"a\"", -32002,
                                         "Payment required", "{\"x\":1}", 7),
                     X402_OK);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":"
                        "{\"code\":-32002,\"message\":\"Payment required\","
                        "\"data\":{\"x\":1}}}");
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    json_decref(doc);

    /* the OpenAI shape of a refusal, the x402 fields kept */
    len = sizeof(out);
    assert_int_equal(x402_openai_error_body(out, &len,
        S("{\"x402Version\":2,\"error\":\"Payment required\",\"accepts\":[]}"),
        "Payment required", "payment_required", "payment_required"), X402_OK);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc,
                        "error"), "type")), "payment_required");
    assert_int_equal(json_integer_value(json_object_get(doc, "x402Version")), 2);
    assert_true(json_is_array(json_object_get(doc, "accepts")));
    json_decref(doc);
    len = sizeof(out);
    assert_int_equal(x402_openai_error_body(out, &len, S("{\"error\":\"x\"}"),
                                            "x", "server_error", NULL), X402_OK);
    assert_string_equal(out, "{\"error\":{\"message\":\"x\",\"type\":"
                        "\"server_error\",\"code\":null}}");
    len = sizeof(out);
    assert_int_equal(x402_openai_error_body(out, &len, S("[1]"), "x", "t", NULL),
                     X402_ERR_JSON);

    /* a failed reply */
    assert_true(x402_rpc_reply_failed(
        S("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1}}")));
    assert_false(x402_rpc_reply_failed(
        S("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}")));
    assert_true(x402_rpc_reply_failed(
        S("[{\"error\":{}},{\"error\":{}}]")));
    assert_false(x402_rpc_reply_failed(
        S("[{\"error\":{}},{\"result\":1}]")));
    assert_false(x402_rpc_reply_failed(S("not json")));
}


#define P2A  "payload.permit2Authorization"

static void
test_decode_errors(void **state)
{
    (void) state;

    xt_expect("x402Version", NULL, X402_ERR_MISSING, "x402Version");
    xt_expect("x402Version", json_integer(1), X402_ERR_VERSION,
              "x402Version");
    xt_expect("x402Version", json_integer(3), X402_ERR_VERSION,
              "x402Version");
    xt_expect("x402Version", json_string("2"), X402_ERR_TYPE, "x402Version");
    /* JavaScript reads 2.0 as 2: accepted; 2.5 is not an integer */
    xt_expect("x402Version", json_real(2.0), X402_OK, "");
    xt_expect("x402Version", json_real(2.5), X402_ERR_TYPE, "x402Version");
    xt_expect("x402Version", json_real(3.0), X402_ERR_VERSION, "x402Version");
    xt_expect("accepted.maxTimeoutSeconds", json_real(300.0), X402_OK, "");
    xt_expect("accepted.maxTimeoutSeconds", json_real(300.5), X402_ERR_TYPE,
              "accepted.maxTimeoutSeconds");
    xt_expect("x402Version", json_null(), X402_ERR_TYPE, "x402Version");

    xt_expect("payload", NULL, X402_ERR_MISSING, "payload");
    xt_expect("payload", json_string("x"), X402_ERR_TYPE, "payload");
    xt_expect("payload", json_array(), X402_ERR_TYPE, "payload");
    xt_expect(P2A, NULL, X402_ERR_MISSING, P2A);
    xt_expect(P2A, json_string("{}"), X402_ERR_TYPE, P2A);
    xt_expect("payload.signature", NULL, X402_ERR_MISSING,
              "payload.signature");
    xt_expect("payload.signature", json_integer(0), X402_ERR_TYPE,
              "payload.signature");

    xt_expect(P2A ".nonce", json_integer(1), X402_ERR_TYPE, P2A ".nonce");
    xt_expect(P2A ".nonce", json_string("abc"), X402_ERR_VALUE, P2A ".nonce");
    xt_expect(P2A ".nonce", json_string(""), X402_ERR_VALUE, P2A ".nonce");
    xt_expect(P2A ".nonce", json_string("-1"), X402_ERR_VALUE, P2A ".nonce");
    xt_expect(P2A ".nonce", json_string(
        "115792089237316195423570985008687907853269984665640564039457584007"
        "913129639936"), X402_ERR_OVERFLOW, P2A ".nonce");
    xt_expect(P2A ".nonce", json_string(
        "0x10000000000000000000000000000000000000000000000000000000000000000"),
        X402_ERR_OVERFLOW, P2A ".nonce");
    xt_expect(P2A ".nonce", NULL, X402_ERR_MISSING, P2A ".nonce");
    xt_expect(P2A ".deadline", json_null(), X402_ERR_TYPE, P2A ".deadline");
    xt_expect(P2A ".deadline", json_real(1.5), X402_ERR_TYPE,
              P2A ".deadline");
    xt_expect(P2A ".from", json_string("0x1234"), X402_ERR_VALUE,
              P2A ".from");
    xt_expect(P2A ".from", json_string(
        "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), X402_ERR_VALUE,
        P2A ".from");
    xt_expect(P2A ".from", NULL, X402_ERR_MISSING, P2A ".from");
    xt_expect(P2A ".spender", json_true(), X402_ERR_TYPE, P2A ".spender");
    xt_expect(P2A ".permitted", NULL, X402_ERR_MISSING, P2A ".permitted");
    xt_expect(P2A ".permitted.token", json_string("0x"), X402_ERR_VALUE,
              P2A ".permitted.token");
    xt_expect(P2A ".permitted.amount", json_string("1.0"), X402_ERR_VALUE,
              P2A ".permitted.amount");
    xt_expect(P2A ".witness", json_array(), X402_ERR_TYPE, P2A ".witness");
    xt_expect(P2A ".witness.to", NULL, X402_ERR_MISSING, P2A ".witness.to");
    xt_expect(P2A ".witness.validAfter", NULL, X402_ERR_MISSING,
              P2A ".witness.validAfter");
    xt_expect(P2A ".witness.facilitator", json_string("0x12"),
              X402_ERR_VALUE, P2A ".witness.facilitator");
    xt_expect(P2A ".witness.facilitator", json_null(), X402_OK, "");

    xt_expect("accepted", NULL, X402_ERR_MISSING, "accepted");
    xt_expect("accepted", json_null(), X402_ERR_TYPE, "accepted");
    xt_expect("accepted.scheme", NULL, X402_ERR_MISSING, "accepted.scheme");
    xt_expect("accepted.network", json_integer(8453), X402_ERR_TYPE,
              "accepted.network");
    xt_expect("accepted.network", json_string(
        "eip155:00000000000000000000000000000000000000000000000000000000008453"),
        X402_ERR_SIZE, "accepted.network");
    xt_expect("accepted.amount", json_string("1e18"), X402_ERR_VALUE,
              "accepted.amount");
    xt_expect("accepted.asset", json_string("OPG"), X402_ERR_VALUE,
              "accepted.asset");
    xt_expect("accepted.payTo", NULL, X402_ERR_MISSING, "accepted.payTo");
    xt_expect("accepted.maxTimeoutSeconds", json_string("300"),
              X402_ERR_TYPE, "accepted.maxTimeoutSeconds");
    xt_expect("accepted.maxTimeoutSeconds", json_integer(0), X402_ERR_VALUE,
              "accepted.maxTimeoutSeconds");
    xt_expect("accepted.maxTimeoutSeconds", json_integer(-5), X402_ERR_VALUE,
              "accepted.maxTimeoutSeconds");
    xt_expect("accepted.maxTimeoutSeconds", json_integer(4294967296LL),
              X402_ERR_VALUE, "accepted.maxTimeoutSeconds");
    xt_expect("accepted.extra", json_string("permit2"), X402_ERR_TYPE,
              "accepted.extra");
    xt_expect("accepted.extra.assetTransferMethod", json_integer(2),
              X402_ERR_TYPE, "accepted.extra.assetTransferMethod");
    xt_expect("accepted.extra.facilitatorAddress", json_string("nope"),
              X402_ERR_VALUE, "accepted.extra.facilitatorAddress");

    /* optional fields: absent or null */
    xt_expect("resource", json_null(), X402_OK, "");
    xt_expect("resource", NULL, X402_OK, "");
    xt_expect("resource", json_string("x"), X402_ERR_TYPE, "resource");
    xt_expect("extensions", json_null(), X402_OK, "");
    xt_expect("extensions", json_object(), X402_OK, "");
    xt_expect("extensions", json_integer(1), X402_ERR_TYPE, "extensions");
    xt_expect("accepted.extra", json_null(), X402_OK, "");
    xt_expect("accepted.extra", NULL, X402_OK, "");
    xt_expect("accepted.extra.name", NULL, X402_OK, "");
    xt_expect("accepted.extra.assetTransferMethod", json_null(), X402_OK,
              "");

    /* signature strings that are not 0x + even hex <= 65 bytes decode */
    xt_expect("payload.signature", json_string(""), X402_OK, "");
    xt_expect("payload.signature", json_string("0x"), X402_OK, "");
    xt_expect("payload.signature", json_string("0x123"), X402_OK, "");
    xt_expect("payload.signature", json_string("0xzz"), X402_OK, "");
}


static void
xt_decode_text(const char *json, x402_err want, const char *want_field)
{
    x402_payment  p;
    const char   *field;

    field = "unset";
    assert_int_equal(x402_payment_decode_json(&p, &field, json, strlen(json)),
                     want);
    assert_string_equal(field, want_field);
}


static void
test_decode_documents(void **state)
{
    x402_payment  p;
    json_t       *doc;
    const char   *field;
    char         *json, *big, *hdr;
    size_t        len, n;

    (void) state;

    xt_decode_text("[1]", X402_ERR_JSON, "");
    xt_decode_text("2", X402_ERR_JSON, "");
    xt_decode_text("\"x\"", X402_ERR_JSON, "");
    xt_decode_text("null", X402_ERR_JSON, "");
    xt_decode_text("{", X402_ERR_JSON, "");
    xt_decode_text("", X402_ERR_JSON, "");
    xt_decode_text("{} {}", X402_ERR_JSON, "");
    xt_decode_text("{\"x402Version\":2,\"x402Version\":2}", X402_ERR_JSON,
                   "");
    xt_decode_text("{}", X402_ERR_MISSING, "x402Version");
    xt_decode_text("{\"x402Version\":1,\"scheme\":\"exact\"}",
                   X402_ERR_VERSION, "x402Version");

    /* oversized input: the valid payload padded with spaces */
    json = xt_dump(xt_get("chains.8453.paymentPayload"));
    len = strlen(json);
    big = malloc(X402_PAYLOAD_JSON_MAX + 2);
    assert_non_null(big);
    memcpy(big, json, len);
    memset(big + len, ' ', X402_PAYLOAD_JSON_MAX + 1 - len);
    big[X402_PAYLOAD_JSON_MAX + 1] = '\0';

    assert_int_equal(x402_payment_decode_json(&p, NULL, big,
                                              X402_PAYLOAD_JSON_MAX),
                     X402_OK);
    field = "unset";
    assert_int_equal(x402_payment_decode_json(&p, &field, big,
                                              X402_PAYLOAD_JSON_MAX + 1),
                     X402_ERR_SIZE);
    assert_string_equal(field, "");

    /* and the same as a header */
    n = x402_base64_encoded_len(X402_PAYLOAD_JSON_MAX + 1) + 1;
    hdr = malloc(n);
    assert_non_null(hdr);
    assert_int_equal(x402_base64_encode(hdr, n, (uint8_t *) big,
                                        X402_PAYLOAD_JSON_MAX + 1),
                     X402_OK);
    assert_int_equal(x402_payment_decode_header(&p, &field, hdr,
                                                strlen(hdr)),
                     X402_ERR_SIZE);
    assert_string_equal(field, "");
    assert_int_equal(x402_base64_encode(hdr, n, (uint8_t *) big,
                                        X402_PAYLOAD_JSON_MAX),
                     X402_OK);
    assert_int_equal(x402_payment_decode_header(&p, NULL, hdr, strlen(hdr)),
                     X402_OK);

    free(hdr);
    free(big);
    free(json);

    /* an upto payload: witness.facilitator and extra.facilitatorAddress */
    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, "accepted.scheme", json_string("upto"));
    xt_set(doc, "accepted.extra.facilitatorAddress",
           json_string(xt_str("constants.addresses.multicall3")));
    xt_set(doc, P2A ".spender",
           json_string(xt_str("constants.addresses.x402UptoPermit2Proxy")));
    xt_set(doc, P2A ".witness.facilitator",
           json_string(xt_str("constants.addresses.multicall3")));
    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    assert_int_equal(p.accepted.scheme, X402_SCHEME_UPTO);
    assert_true(p.has_witness_facilitator);
    assert_true(p.accepted.has_facilitator);
    xt_check_payment(&p, doc);
    free(json);

    /* unknown scheme and non-EVM network still decode */
    xt_set(doc, "accepted.scheme", json_string("deferred"));
    xt_set(doc, "accepted.network",
           json_string("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"));
    xt_set(doc, "accepted.extra.assetTransferMethod", json_string("eip3009"));
    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    assert_int_equal(p.accepted.scheme, X402_SCHEME_UNKNOWN);
    assert_false(p.accepted.has_chain_id);
    assert_false(p.accepted.permit2);
    assert_string_equal(p.accepted.network,
                        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
    free(json);
    json_decref(doc);

    /* signature not 0x-prefixed (E06) or too long: length 0, no error */
    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, "payload.signature", json_string(
        xt_str("encodingVariants.cases.5.changes.0.value")));
    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    assert_int_equal(p.signature_len, 0);
    free(json);

    /* a contract wallet's longer signature (66 bytes, and the most) is
     * carried as it is; one byte more is too long */
    xt_set(doc, "payload.signature", json_string(
        "0x1a3ab0cdec56cb6e3b5c966b59928a982c026216079ff6ecce073f3314af6ee638"
        "d44db5896beabd143ba44427c5369aea712968da4b43ab25b375d2fc293fec1c00"));
    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    assert_int_equal(p.signature_len, 66);
    assert_int_equal(p.signature[65], 0x00);
    free(json);

    {
        char    hex[2 * X402_SIGNATURE_MAX + 8];
        size_t  n;

        for (n = X402_SIGNATURE_MAX; n <= X402_SIGNATURE_MAX + 1; n++) {
            memset(hex, 'a', 2 + 2 * n);
            hex[0] = '0';
            hex[1] = 'x';
            hex[2 + 2 * n] = '\0';
            xt_set(doc, "payload.signature", json_string(hex));
            json = xt_dump(doc);
            assert_int_equal(x402_payment_decode_json(&p, NULL, json,
                                                      strlen(json)),
                             X402_OK);
            assert_int_equal(p.signature_len,
                             n == X402_SIGNATURE_MAX ? n : 0);
            free(json);
        }
    }

    /* 64 bytes (M13) decode as 64 */
    xt_set(doc, "payload.signature", json_string(
        xt_str("mutations.cases.12.changes.0.value")));
    json = xt_dump(doc);
    assert_int_equal(x402_payment_decode_json(&p, NULL, json, strlen(json)),
                     X402_OK);
    assert_int_equal(p.signature_len, 64);
    free(json);
    json_decref(doc);

    assert_int_equal(x402_payment_decode_json(NULL, NULL, "{}", 2),
                     X402_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_required_encode),
        cmocka_unit_test(test_required_header),
        cmocka_unit_test(test_required_variants),
        cmocka_unit_test(test_decode_chain_headers),
        cmocka_unit_test(test_decode_e07_and_base64),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_payment_identifier),
        cmocka_unit_test(test_jsonrpc),
        cmocka_unit_test(test_decode_documents),
    };

    return cmocka_run_group_tests(tests, xt_setup, xt_teardown);
}
