/*
 * Facilitator codec: the /verify and /settle request body against
 * vectors.json (chains.8453.paymentPayload and the accepts[] entry of
 * headers.paymentRequired8453), the VerifyResponse / SettleResponse
 * examples of docs/protocol.md (#settle-response, #verify-response) and
 * vectors.json headers.paymentResponse*, replies observed from the
 * reference facilitator (t/022-facilitator.t), and malformed input.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define XT_PAYER "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
/* the upto settlement the reference made in t/022-facilitator.t */
#define XT_TX \
    "0x99dc7e93fd2190dbfd14aab0678b1f1c7b43055a71e5c6b8f15aa1a708a38d68"


/* ------------------------------------------------------------ helpers */

/* Builds the request for a NUL-terminated payload; asserts success. */
static size_t
xt_request(char *out, size_t cap, const char *payload, const x402_offer *o)
{
    size_t  n;

    n = cap;
    assert_int_equal(x402_facilitator_request(out, &n, payload,
                                              strlen(payload), o), X402_OK);
    assert_int_equal(strlen(out), n);

    return n;
}


/* The request of a payload for the vector offer: only its result. */
static x402_err
xt_req_rc(const char *payload)
{
    static char  out[X402_FACILITATOR_REQUEST_MAX];
    x402_offer   o;
    size_t       n;

    xt_offer(&o, 8453);
    n = sizeof(out);

    return x402_facilitator_request(out, &n, payload, strlen(payload), &o);
}


/* The keys of an object, in order, joined by ','. */
static void
xt_keys(char *out, size_t cap, json_t *obj)
{
    const char  *key;
    json_t      *v;
    size_t       n;

    out[0] = '\0';
    n = 0;
    json_object_foreach(obj, key, v) {
        (void) v;
        n += (size_t) snprintf(out + n, cap - n, "%s%s", n ? "," : "", key);
        assert_true(n < cap);
    }
}


static x402_err
xt_verify(int *valid, char *reason, size_t cap, x402_address *payer,
    int *has_payer, const char *json)
{
    return x402_verify_response_parse(valid, reason, cap, payer, has_payer,
                                      json, strlen(json));
}


static x402_err
xt_settle(int *success, char *reason, size_t cap, char *tx, size_t tx_cap,
    const char *json)
{
    return x402_settle_response_parse(success, reason, cap, tx, tx_cap,
                                      json, strlen(json));
}


static x402_err
xt_verify_rc(const char *json)
{
    char          reason[X402_FACILITATOR_REASON_MAX];
    int           valid, has_payer;
    x402_address  payer;

    return xt_verify(&valid, reason, sizeof(reason), &payer, &has_payer,
                     json);
}


static x402_err
xt_settle_rc(const char *json)
{
    char  reason[X402_FACILITATOR_REASON_MAX], tx[X402_TX_HASH_TEXT_LEN];
    int   success;

    return xt_settle(&success, reason, sizeof(reason), tx, sizeof(tx), json);
}


/* ------------------------------------------------------------ request */

/*
 * The vector payment and the vector offer: the body must be, byte for
 * byte, {"x402Version":2,"paymentPayload":<payload as given>,
 * "paymentRequirements":<the accepts[0] text of the real header>}; parsed
 * back, every field must equal the vectors.
 */
static void
test_request_vector(void **state)
{
    static char   out[X402_FACILITATOR_REQUEST_MAX], want[8192];
    static char   header[2048];
    x402_offer    o;
    json_t       *root, *pp, *req, *vacc, *vpp;
    char         *payload, *accepts, keys[256];
    const char   *at, *end;
    size_t        n, i;

    (void) state;

    vpp = xt_get("chains.8453.paymentPayload");
    vacc = xt_get("headers.paymentRequired8453.decoded.accepts.0");
    payload = xt_dump(vpp);
    xt_offer(&o, 8453);

    n = xt_request(out, sizeof(out), payload, &o);

    /* the accepts[0] entry as it stands in the real PAYMENT-REQUIRED */
    (void) xt_b64_decode(header, xt_str("headers.paymentRequired8453.header"));
    at = strstr(header, "\"accepts\":[");
    assert_non_null(at);
    at += strlen("\"accepts\":[");
    end = strstr(at, "]}");
    assert_non_null(end);
    accepts = malloc((size_t) (end - at) + 1);
    assert_non_null(accepts);
    memcpy(accepts, at, (size_t) (end - at));
    accepts[end - at] = '\0';

    snprintf(want, sizeof(want),
             "{\"x402Version\":2,\"paymentPayload\":%s,"
             "\"paymentRequirements\":%s}", payload, accepts);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));

    /* parsed back, field by field */
    root = json_loadb(out, n, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(root);
    xt_keys(keys, sizeof(keys), root);
    assert_string_equal(keys,
                        "x402Version,paymentPayload,paymentRequirements");
    assert_true(json_is_integer(json_object_get(root, "x402Version")));
    assert_int_equal(json_integer_value(json_object_get(root, "x402Version")),
                     2);

    pp = json_object_get(root, "paymentPayload");
    assert_true(json_equal(pp, vpp));
    xt_keys(keys, sizeof(keys), pp);
    assert_string_equal(keys, "x402Version,payload,resource,accepted");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(pp, "payload"),
                                          "signature")),
        xt_str("chains.8453.signature.hex"));

    req = json_object_get(root, "paymentRequirements");
    assert_true(json_equal(req, vacc));
    xt_keys(keys, sizeof(keys), req);
    assert_string_equal(keys,
        "scheme,network,amount,asset,payTo,maxTimeoutSeconds,extra");
    {
        static const char *const  str[] = {
            "scheme", "network", "amount", "asset", "payTo"
        };

        for (i = 0; i < sizeof(str) / sizeof(str[0]); i++) {
            assert_string_equal(
                json_string_value(json_object_get(req, str[i])),
                json_string_value(json_object_get(vacc, str[i])));
        }
    }
    assert_string_equal(json_string_value(json_object_get(req, "network")),
                        "eip155:8453");
    assert_int_equal(
        json_integer_value(json_object_get(req, "maxTimeoutSeconds")),
        json_integer_value(json_object_get(vacc, "maxTimeoutSeconds")));
    assert_true(json_equal(json_object_get(req, "extra"),
                           json_object_get(vacc, "extra")));
    xt_keys(keys, sizeof(keys), json_object_get(req, "extra"));
    assert_string_equal(keys, "assetTransferMethod,name,version");

    /* the server's offer, not the client's accepted: same here, and the
     * vector's accepted equals the offer too */
    assert_true(json_equal(req, json_object_get(vpp, "accepted")));

    json_decref(root);
    free(accepts);
    free(payload);
}


/* A payload given pretty-printed, with escapes and reordered keys, is
 * re-serialised compactly with its key order kept and nothing edited. */
static void
test_request_reserialised(void **state)
{
    static char   out[X402_FACILITATOR_REQUEST_MAX];
    static const char  pretty[] =
        "{\n"
        "  \"accepted\": {\"scheme\": \"exact\", \"network\": \"eip155:8453\"},\n"
        "  \"payload\" : {\"signature\" : \"0x\\u0061b\", \"n\": [1, 2, {}]},\n"
        "  \"resource\": {\"url\": \"http://h/\\u00e9\\/x\"},\n"
        "  \"extensions\": {\"k\": null, \"t\": true},\n"
        "  \"x402Version\": 2\n"
        "}\n";
    static const char  compact[] =
        "{\"accepted\":{\"scheme\":\"exact\",\"network\":\"eip155:8453\"},"
        "\"payload\":{\"signature\":\"0xab\",\"n\":[1,2,{}]},"
        "\"resource\":{\"url\":\"http://h/\xc3\xa9/x\"},"
        "\"extensions\":{\"k\":null,\"t\":true},"
        "\"x402Version\":2}";
    x402_offer    o;
    char          prefix[64];
    json_t       *a, *b, *root;

    (void) state;

    xt_offer(&o, 8453);
    (void) xt_request(out, sizeof(out), pretty, &o);

    snprintf(prefix, sizeof(prefix), "{\"x402Version\":2,\"paymentPayload\":");
    assert_memory_equal(out, prefix, strlen(prefix));
    assert_memory_equal(out + strlen(prefix), compact, strlen(compact));
    assert_memory_equal(out + strlen(prefix) + strlen(compact),
                        ",\"paymentRequirements\":{\"scheme\":\"exact\"", 40);
    assert_null(strchr(out, ' '));
    assert_null(strchr(out, '\n'));

    /* same document */
    a = json_loads(pretty, 0, NULL);
    root = json_loads(out, 0, NULL);
    assert_non_null(a);
    assert_non_null(root);
    b = json_object_get(root, "paymentPayload");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(root);
}


/* upto at /settle: the offer carries the charge and the facilitator. */
static void
test_request_upto(void **state)
{
    static char   out[X402_FACILITATOR_REQUEST_MAX];
    x402_offer    o;
    json_t       *root, *req, *extra;
    char         *payload, keys[256];

    (void) state;

    payload = xt_dump(xt_get("chains.8453.paymentPayload"));
    xt_offer(&o, 8453);
    o.scheme = X402_SCHEME_UPTO;
    o.extra_name = NULL;
    o.extra_version = NULL;
    x402_u256_from_u64(&o.amount, 1234);
    xt_address(&o.facilitator, "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65");

    (void) xt_request(out, sizeof(out), payload, &o);
    root = json_loads(out, 0, NULL);
    assert_non_null(root);
    req = json_object_get(root, "paymentRequirements");
    assert_string_equal(json_string_value(json_object_get(req, "scheme")),
                        "upto");
    assert_string_equal(json_string_value(json_object_get(req, "amount")),
                        "1234");
    extra = json_object_get(req, "extra");
    xt_keys(keys, sizeof(keys), extra);
    assert_string_equal(keys, "assetTransferMethod,facilitatorAddress");
    assert_string_equal(
        json_string_value(json_object_get(extra, "facilitatorAddress")),
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");

    json_decref(root);
    free(payload);
}


static void
test_request_errors(void **state)
{
    static char   out[X402_FACILITATOR_REQUEST_MAX];
    static char   big[X402_PAYLOAD_JSON_MAX + 2];
    static const char  ok[] = "{\"x402Version\":2}";
    x402_offer    o, bad;
    size_t        n, len;

    (void) state;

    xt_offer(&o, 8453);

    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(NULL, &n, ok, strlen(ok), &o),
                     X402_ERR_ARG);
    assert_int_equal(x402_facilitator_request(out, NULL, ok, strlen(ok), &o),
                     X402_ERR_ARG);
    assert_int_equal(x402_facilitator_request(out, &n, NULL, 0, &o),
                     X402_ERR_ARG);
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), NULL),
                     X402_ERR_ARG);
    n = 0;
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &o),
                     X402_ERR_ARG);

    assert_int_equal(xt_req_rc(ok), X402_OK);
    assert_int_equal(xt_req_rc(""), X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"x402Version\":2"), X402_ERR_JSON);
    assert_int_equal(xt_req_rc("[{\"x402Version\":2}]"), X402_ERR_JSON);
    assert_int_equal(xt_req_rc("\"x\""), X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"x402Version\":2} {}"), X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"x402Version\":2,\"x402Version\":2}"),
                     X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"a\":{\"b\":1,\"b\":2},\"x402Version\":2}"),
                     X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"x402Version\":2,\"s\":\"\\u0000\"}"),
                     X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{\"x402Version\":2,\"s\":\"\xff\"}"),
                     X402_ERR_JSON);
    assert_int_equal(xt_req_rc("{}"), X402_ERR_MISSING);
    assert_int_equal(xt_req_rc("{\"x402Version\":null}"), X402_ERR_TYPE);
    assert_int_equal(xt_req_rc("{\"x402Version\":\"2\"}"), X402_ERR_TYPE);
    assert_int_equal(xt_req_rc("{\"x402Version\":2.0}"), X402_ERR_TYPE);
    assert_int_equal(xt_req_rc("{\"x402Version\":1}"), X402_ERR_VERSION);
    assert_int_equal(xt_req_rc("{\"x402Version\":3}"), X402_ERR_VERSION);

    /* not read past payload_len */
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok) - 1,
                                              &o), X402_ERR_JSON);

    /* size bound, at the limit and one past it */
    memset(big, ' ', sizeof(big));
    memcpy(big, ok, strlen(ok));
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, big,
                                              X402_PAYLOAD_JSON_MAX, &o),
                     X402_OK);
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, big,
                                              X402_PAYLOAD_JSON_MAX + 1, &o),
                     X402_ERR_SIZE);

    /* the offer */
    bad = o;
    bad.scheme = X402_SCHEME_UNKNOWN;
    assert_int_equal(xt_req_rc(ok), X402_OK);
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &bad),
                     X402_ERR_ARG);
    bad = o;
    bad.extra_name = "\xc3";
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &bad),
                     X402_ERR_ARG);

    /* the output buffer: exactly enough, and one byte short */
    n = sizeof(out);
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &o),
                     X402_OK);
    len = n;
    n = len + 1;
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &o),
                     X402_OK);
    assert_int_equal(n, len);
    assert_int_equal(out[len], '\0');
    n = len;
    assert_int_equal(x402_facilitator_request(out, &n, ok, strlen(ok), &o),
                     X402_ERR_BUFFER);
}


/* ------------------------------------------------------------ verify */

static void
test_verify_examples(void **state)
{
    char          reason[X402_FACILITATOR_REASON_MAX];
    int           valid, has_payer;
    x402_address  payer, want;

    (void) state;

    xt_address(&want, XT_PAYER);

    /* docs/protocol.md#verify-response */
    valid = -1;
    has_payer = -1;
    memset(reason, 'x', sizeof(reason));
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"isValid\":true,\"payer\":\"" XT_PAYER "\"}"),
                     X402_OK);
    assert_int_equal(valid, 1);
    assert_string_equal(reason, "");
    assert_int_equal(has_payer, 1);
    assert_memory_equal(payer.b, want.b, 20);

    valid = -1;
    memset(&payer, 0, sizeof(payer));
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"permit2_amount_mismatch\",\"payer\":\""
                               "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266\"}"),
                     X402_OK);
    assert_int_equal(valid, 0);
    assert_string_equal(reason, "permit2_amount_mismatch");
    assert_int_equal(has_payer, 1);
    assert_memory_equal(payer.b, want.b, 20);

    /* every documented field, nulls, unknown fields */
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"unknown\":[1,{\"a\":null}],\"isValid\":false,"
                               "\"invalidReason\":\"invalid_permit2_signature\","
                               "\"invalidMessage\":\"bad sig\",\"extensions\":{},"
                               "\"extra\":{\"x\":1},\"payer\":\"" XT_PAYER "\","
                               "\"extensionResponses\":7}"),
                     X402_OK);
    assert_int_equal(valid, 0);
    assert_string_equal(reason, "invalid_permit2_signature");
    assert_int_equal(has_payer, 1);

    has_payer = -1;
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"isValid\":true,\"invalidReason\":null,"
                               "\"invalidMessage\":null,\"payer\":null,"
                               "\"extensions\":null,\"extra\":null}"),
                     X402_OK);
    assert_int_equal(valid, 1);
    assert_string_equal(reason, "");
    assert_int_equal(has_payer, 0);

    /* no payer; reason NULL with capacity 0 */
    has_payer = -1;
    assert_int_equal(x402_verify_response_parse(&valid, NULL, 0, &payer,
                         &has_payer, "{\"isValid\":false}", 17), X402_OK);
    assert_int_equal(valid, 0);
    assert_int_equal(has_payer, 0);

    /* what the reference answered in t/022-facilitator.t */
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"permit2_simulation_failed\",\"payer\":\""
                               "0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"}"),
                     X402_OK);
    assert_int_equal(valid, 0);
    assert_string_equal(reason, "permit2_simulation_failed");
    xt_address(&want, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    assert_memory_equal(payer.b, want.b, 20);
}


static void
test_verify_malformed(void **state)
{
    static char   big[X402_FACILITATOR_RESPONSE_MAX + 2];
    static const char  ok[] = "{\"isValid\":true}";
    char          reason[8];
    int           valid, has_payer;
    x402_address  payer;

    (void) state;

    assert_int_equal(xt_verify_rc(ok), X402_OK);

    assert_int_equal(xt_verify_rc(""), X402_ERR_JSON);
    assert_int_equal(xt_verify_rc("{"), X402_ERR_JSON);
    assert_int_equal(xt_verify_rc("[]"), X402_ERR_JSON);
    assert_int_equal(xt_verify_rc("true"), X402_ERR_JSON);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"isValid\":false}"),
                     X402_ERR_JSON);
    assert_int_equal(xt_verify_rc("{}"), X402_ERR_MISSING);
    assert_int_equal(xt_verify_rc("{\"valid\":true}"), X402_ERR_MISSING);
    assert_int_equal(xt_verify_rc("{\"isValid\":null}"), X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":\"true\"}"), X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":1}"), X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":false,\"invalidReason\":5}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":false,\"invalidReason\":[]}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":false,\"invalidMessage\":{}}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"payer\":1}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"extensions\":[]}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"extra\":\"x\"}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"payer\":\"0x12\"}"),
                     X402_ERR_VALUE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"payer\":"
                                  "\"f39fd6e51aad88f6f4ce6ab8827279cfffb92266\"}"),
                     X402_ERR_VALUE);
    assert_int_equal(xt_verify_rc("{\"isValid\":true,\"payer\":\"\"}"),
                     X402_ERR_VALUE);

    /* not read past len */
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), &payer, &has_payer, ok,
                         strlen(ok) - 1), X402_ERR_JSON);

    /* size bound */
    memset(big, ' ', sizeof(big));
    memcpy(big, ok, strlen(ok));
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), &payer, &has_payer, big,
                         X402_FACILITATOR_RESPONSE_MAX), X402_OK);
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), &payer, &has_payer, big,
                         X402_FACILITATOR_RESPONSE_MAX + 1), X402_ERR_SIZE);

    /* arguments */
    assert_int_equal(x402_verify_response_parse(NULL, reason, sizeof(reason),
                         &payer, &has_payer, ok, strlen(ok)), X402_ERR_ARG);
    assert_int_equal(x402_verify_response_parse(&valid, NULL, 1,
                         &payer, &has_payer, ok, strlen(ok)), X402_ERR_ARG);
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), NULL, &has_payer, ok, strlen(ok)),
                     X402_ERR_ARG);
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), &payer, NULL, ok, strlen(ok)),
                     X402_ERR_ARG);
    assert_int_equal(x402_verify_response_parse(&valid, reason,
                         sizeof(reason), &payer, &has_payer, NULL, 0),
                     X402_ERR_ARG);
}


/* Truncation at a character boundary, control characters. */
static void
test_reason_text(void **state)
{
    char          reason[X402_FACILITATOR_REASON_MAX], small[8], big[2048];
    int           valid, has_payer;
    x402_address  payer;
    size_t        i;

    (void) state;

    memset(small, 'x', sizeof(small));
    assert_int_equal(xt_verify(&valid, small, sizeof(small), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"permit2_deadline_expired\"}"), X402_OK);
    assert_string_equal(small, "permit2");

    /* "abcdef" + U+00E9 (2 bytes) in 8 bytes: 7 would fit, but bytes 7
     * and 8 are one character, so it stops after "abcdef" */
    assert_int_equal(xt_verify(&valid, small, sizeof(small), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"abcdef\\u00e9z\"}"), X402_OK);
    assert_string_equal(small, "abcdef");
    /* U+20AC (3 bytes) straddling the cut */
    assert_int_equal(xt_verify(&valid, small, sizeof(small), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"abcde\\u20acz\"}"), X402_OK);
    assert_string_equal(small, "abcde");
    /* exactly fitting: 5 + 2 bytes */
    assert_int_equal(xt_verify(&valid, small, sizeof(small), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"abcde\\u00e9\"}"), X402_OK);
    assert_string_equal(small, "abcde\xc3\xa9");
    /* capacity 1: always "" */
    assert_int_equal(xt_verify(&valid, small, 1, &payer, &has_payer,
                               "{\"isValid\":false,\"invalidReason\":\"x\"}"),
                     X402_OK);
    assert_string_equal(small, "");

    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer,
                               "{\"isValid\":false,\"invalidReason\":"
                               "\"a\\nb\\tc\\r\\u001fd\\u007fe\\u00e9\"}"),
                     X402_OK);
    assert_string_equal(reason, "a b c  d e\xc3\xa9");

    /* a long reason is cut to capacity - 1 */
    strcpy(big, "{\"isValid\":false,\"invalidReason\":\"");
    for (i = 0; i < 1500; i++) {
        strcat(big, "r");
    }
    strcat(big, "\"}");
    assert_int_equal(xt_verify(&valid, reason, sizeof(reason), &payer,
                               &has_payer, big), X402_OK);
    assert_int_equal(strlen(reason), sizeof(reason) - 1);
}


/* ------------------------------------------------------------ settle */

static void
test_settle_vectors(void **state)
{
    char    reason[X402_FACILITATOR_REASON_MAX], tx[X402_TX_HASH_TEXT_LEN];
    char    json[1024], *dump;
    int     success;
    size_t  n;

    (void) state;

    /* vectors.json headers.paymentResponseSuccess: the header text */
    n = xt_b64_decode(json, xt_str("headers.paymentResponseSuccess.header"));
    success = -1;
    memset(reason, 'x', sizeof(reason));
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), json, n), X402_OK);
    assert_int_equal(success, 1);
    assert_string_equal(reason, "");
    assert_string_equal(tx,
        xt_str("headers.paymentResponseSuccess.decoded.transaction"));
    assert_int_equal(strlen(tx), 66);

    n = xt_b64_decode(json, xt_str("headers.paymentResponseFailure.header"));
    success = -1;
    memset(tx, 'x', sizeof(tx));
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), json, n), X402_OK);
    assert_int_equal(success, 0);
    assert_string_equal(reason,
        xt_str("headers.paymentResponseFailure.decoded.errorReason"));
    assert_string_equal(reason, "permit2_invalid_nonce");
    assert_string_equal(tx, "");

    /* and the decoded objects, re-serialised */
    dump = xt_dump(xt_get("headers.paymentResponseSuccess.decoded"));
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx), dump), X402_OK);
    assert_int_equal(success, 1);
    free(dump);
}


static void
test_settle_examples(void **state)
{
    char          reason[X402_FACILITATOR_REASON_MAX];
    char          tx[X402_TX_HASH_TEXT_LEN], json[512];
    int           success;
    size_t        n;
    x402_address  payer;
    x402_u256     amount;

    (void) state;

    /* round trip through the library's own encoder (upto, with amount) */
    xt_address(&payer, XT_PAYER);
    x402_u256_from_u64(&amount, 1234);
    n = sizeof(json);
    assert_int_equal(x402_settle_response_encode(json, &n, 1, NULL, &payer,
                         XT_TX,
                         8453, &amount), X402_OK);
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), json, n), X402_OK);
    assert_int_equal(success, 1);
    assert_string_equal(tx, XT_TX);

    /* the reference's double settle (t/022-facilitator.t): a viem message
     * with newlines inside errorReason */
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx),
                               "{\"success\":false,\"errorReason\":"
                               "\"invalid_exact_evm_transaction_failed: The "
                               "contract function \\\"settle\\\" reverted with "
                               "the following signature:\\n0x756688fe\\n\\n"
                               "Unable\",\"transaction\":\"\",\"network\":"
                               "\"eip155:8453\",\"payer\":\"" XT_PAYER "\"}"),
                     X402_OK);
    assert_int_equal(success, 0);
    assert_string_equal(reason,
        "invalid_exact_evm_transaction_failed: The contract function "
        "\"settle\" reverted with the following signature: 0x756688fe  "
        "Unable");
    assert_string_equal(tx, "");

    /* the reference's key order on a failed re-verify */
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx),
                               "{\"success\":false,\"network\":\"eip155:8453\","
                               "\"transaction\":\"\",\"errorReason\":"
                               "\"invalid_permit2_signature\",\"payer\":\""
                               XT_PAYER "\"}"), X402_OK);
    assert_int_equal(success, 0);
    assert_string_equal(reason, "invalid_permit2_signature");

    /* settlement_pending carries the hash */
    memset(tx, 0, sizeof(tx));
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx),
                               "{\"success\":false,\"errorReason\":"
                               "\"settlement_pending\",\"errorMessage\":\"t\","
                               "\"transaction\":\"0xabababababababababababab"
                               "abababababababababababababababababababab\","
                               "\"network\":\"eip155:8453\"}"), X402_OK);
    assert_int_equal(success, 0);
    assert_string_equal(reason, "settlement_pending");
    assert_string_equal(tx, "0xabababababababababababababababab"
                            "abababababababababababababababab");

    /* upto charge 0: success without a transaction */
    memset(tx, 'x', sizeof(tx));
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx),
                               "{\"success\":true,\"transaction\":\"\","
                               "\"network\":\"eip155:8453\",\"payer\":\""
                               XT_PAYER "\",\"amount\":\"0\"}"), X402_OK);
    assert_int_equal(success, 1);
    assert_string_equal(tx, "");

    /* a failure without transaction (hook abort), with nulls and extras */
    memset(tx, 'x', sizeof(tx));
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx,
                               sizeof(tx),
                               "{\"success\":false,\"errorReason\":\"nope\","
                               "\"network\":null,\"payer\":null,"
                               "\"amount\":null,\"errorMessage\":null,"
                               "\"extensions\":{},\"extra\":null,"
                               "\"more\":[true]}"), X402_OK);
    assert_int_equal(success, 0);
    assert_string_equal(reason, "nope");
    assert_string_equal(tx, "");

    /* reason NULL with capacity 0 */
    assert_int_equal(x402_settle_response_parse(&success, NULL, 0, tx,
                         sizeof(tx), "{\"success\":false}", 17), X402_OK);
    assert_int_equal(success, 0);
}


static void
test_settle_malformed(void **state)
{
    static char   big[X402_FACILITATOR_RESPONSE_MAX + 2];
    static const char  ok[] = "{\"success\":true,\"transaction\":\"0x12\"}";
    char          reason[64], tx[X402_TX_HASH_TEXT_LEN];
    int           success;

    (void) state;

    assert_int_equal(xt_settle_rc(ok), X402_OK);

    assert_int_equal(xt_settle_rc(""), X402_ERR_JSON);
    assert_int_equal(xt_settle_rc("{\"success\":true"), X402_ERR_JSON);
    assert_int_equal(xt_settle_rc("[]"), X402_ERR_JSON);
    assert_int_equal(xt_settle_rc("null"), X402_ERR_JSON);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x1\","
                                  "\"transaction\":\"0x2\"}"), X402_ERR_JSON);
    assert_int_equal(xt_settle_rc("{}"), X402_ERR_MISSING);
    assert_int_equal(xt_settle_rc("{\"success\":true}"), X402_ERR_MISSING);
    assert_int_equal(xt_settle_rc("{\"success\":null}"), X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":\"true\"}"), X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":0}"), X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":null}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":false,\"transaction\":12}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":false,\"errorReason\":1}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":false,\"errorMessage\":[]}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":false,\"payer\":false}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":false,\"network\":8453}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x1\","
                                  "\"amount\":1234}"), X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x1\","
                                  "\"extensions\":\"x\"}"), X402_ERR_TYPE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x1\","
                                  "\"extra\":[]}"), X402_ERR_TYPE);

    /* the transaction text */
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":"
                                  "\"0x 1\"}"), X402_ERR_VALUE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":"
                                  "\"0x1\\n\"}"), X402_ERR_VALUE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":"
                                  "\"0x\\u00e9\"}"), X402_ERR_VALUE);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":"
                                  "\"0x\\u007f\"}"), X402_ERR_VALUE);
    /* 66 characters fit in 67 bytes, 67 do not */
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x"
        "abababababababababababababababababababababababababababababababab\"}"),
                     X402_OK);
    assert_int_equal(xt_settle_rc("{\"success\":true,\"transaction\":\"0x"
        "abababababababababababababababababababababababababababababababab0\"}"),
                     X402_ERR_BUFFER);
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx, 5,
                               "{\"success\":true,\"transaction\":\"0x12\"}"),
                     X402_OK);
    assert_string_equal(tx, "0x12");
    assert_int_equal(xt_settle(&success, reason, sizeof(reason), tx, 4,
                               "{\"success\":true,\"transaction\":\"0x12\"}"),
                     X402_ERR_BUFFER);

    /* not read past len */
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), ok, strlen(ok) - 1),
                     X402_ERR_JSON);

    /* size bound */
    memset(big, ' ', sizeof(big));
    memcpy(big, ok, strlen(ok));
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), big,
                         X402_FACILITATOR_RESPONSE_MAX), X402_OK);
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), big,
                         X402_FACILITATOR_RESPONSE_MAX + 1), X402_ERR_SIZE);

    /* arguments */
    assert_int_equal(x402_settle_response_parse(NULL, reason, sizeof(reason),
                         tx, sizeof(tx), ok, strlen(ok)), X402_ERR_ARG);
    assert_int_equal(x402_settle_response_parse(&success, NULL, 1,
                         tx, sizeof(tx), ok, strlen(ok)), X402_ERR_ARG);
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), NULL, sizeof(tx), ok, strlen(ok)),
                     X402_ERR_ARG);
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, 0, ok, strlen(ok)),
                     X402_ERR_ARG);
    assert_int_equal(x402_settle_response_parse(&success, reason,
                         sizeof(reason), tx, sizeof(tx), NULL, 0),
                     X402_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_vector),
        cmocka_unit_test(test_request_reserialised),
        cmocka_unit_test(test_request_upto),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_verify_examples),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_reason_text),
        cmocka_unit_test(test_settle_vectors),
        cmocka_unit_test(test_settle_examples),
        cmocka_unit_test(test_settle_malformed),
    };

    return cmocka_run_group_tests(tests, xt_setup, xt_teardown);
}
