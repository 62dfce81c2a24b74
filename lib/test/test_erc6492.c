/*
 * ERC-6492: the official client's payment for a wallet not deployed yet
 * (erc6492-vectors.json, made by gen/erc6492-vectors.mjs) decoded as viem
 * parses its signature; the probe's eth_call data byte for byte as viem's
 * encodeDeployData; the probe's reply, its verdict and the deployment's
 * gas; wrappers that do not decode.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define MAGIC_HEX \
    "6492649264926492649264926492649264926492649264926492649264926492"


static int
xt_erc6492_setup(void **state)
{
    (void) state;

    /* every xt_ path reads erc6492-vectors.json */
    xt_vectors = xt_load_local("erc6492-vectors.json");

    return xt_vectors == NULL ? -1 : 0;
}


static void
xt_decode(x402_payment *p)
{
    const char  *h, *field;

    h = xt_str("header");
    assert_int_equal(x402_payment_decode_header(p, &field, h, strlen(h)),
                     X402_OK);
}


/* bytes of a 0x-hex vector; returns the length */
static size_t
xt_bytes(uint8_t *out, size_t cap, const char *path)
{
    const char  *s;
    size_t       n;

    s = xt_str(path);
    n = (strlen(s) - 2) / 2;
    assert_true(n <= cap);
    xt_unhex(out, n, s);

    return n;
}


/* decodes the header after replacing payload.signature with hex0x */
static void
xt_decode_sig(x402_payment *p, const char *hex0x)
{
    json_t       *pp;
    char         *json;
    const char   *field;

    pp = json_deep_copy(xt_get("payment"));
    xt_set(pp, "payload.signature", json_string(hex0x));
    json = xt_dump(pp);

    assert_int_equal(x402_payment_decode_json(p, &field, json, strlen(json)),
                     X402_OK);

    free(json);
    json_decref(pp);
}


static void
test_decode_unwraps(void **state)
{
    x402_payment   p;
    x402_address   a;
    uint8_t        inner[65], data[X402_FACTORY_DATA_MAX], digest[32];
    uint8_t        want[32];
    size_t         n;

    (void) state;

    xt_decode(&p);

    /* viem's parseErc6492Signature: the inner signature, the factory and
       its calldata */
    n = xt_bytes(inner, sizeof(inner), "inner");
    assert_int_equal(p.signature_len, 65);
    assert_int_equal(n, 65);
    assert_memory_equal(p.signature, inner, 65);

    assert_true(p.has_deployment);
    xt_address(&a, xt_str("factory"));
    assert_memory_equal(p.factory.b, a.b, 20);
    n = xt_bytes(data, sizeof(data), "factoryData");
    assert_int_equal(p.factory_data_len, n);
    assert_memory_equal(p.factory_data, data, n);

    /* the wrapper is not part of what the payer signed */
    assert_int_equal(x402_permit2_digest(digest, X402_SCHEME_EXACT, 8453,
                                         &p),
                     X402_OK);
    xt_hex_at(want, 32, "digest");
    assert_memory_equal(digest, want, 32);
}


/* the calldata's length word of viem's encoding (head of three words) */
static size_t
p_data_len(const uint8_t *sig)
{
    return ((size_t) sig[3 * 32 + 30] << 8) | sig[3 * 32 + 31];
}


static void
test_unwrap(void **state)
{
    x402_erc6492  w;
    uint8_t       sig[X402_ERC6492_MAX];
    uint8_t       plain[65];
    size_t        n;

    (void) state;

    n = xt_bytes(sig, sizeof(sig), "wrapped");
    assert_int_equal(x402_erc6492_unwrap(&w, sig, n), X402_OK);
    assert_true(w.wrapped);
    assert_int_equal(w.inner_len, 65);
    assert_ptr_equal(w.data, sig + 4 * 32);
    assert_int_equal(w.data_len, p_data_len(sig));

    /* an EOA's signature is not wrapped */
    memset(plain, 0x64, sizeof(plain));
    assert_int_equal(x402_erc6492_unwrap(&w, plain, sizeof(plain)), X402_OK);
    assert_false(w.wrapped);
    assert_int_equal(x402_erc6492_unwrap(&w, plain, 0), X402_OK);
    assert_false(w.wrapped);
    assert_int_equal(x402_erc6492_unwrap(NULL, plain, 1), X402_ERR_ARG);
    assert_int_equal(x402_erc6492_unwrap(&w, NULL, 1), X402_ERR_ARG);

    /* the magic alone, or too short a head */
    assert_int_equal(x402_erc6492_unwrap(&w, sig + n - 32, 32),
                     X402_ERR_VALUE);
    assert_false(w.wrapped);
    memcpy(sig + 64, sig + n - 32, 32);
    assert_int_equal(x402_erc6492_unwrap(&w, sig, 96), X402_ERR_VALUE);

    /* each part out of bounds, or a dirty address word */
    n = xt_bytes(sig, sizeof(sig), "wrapped");
    sig[32 + 28] = 0x10;                          /* data offset past end */
    assert_int_equal(x402_erc6492_unwrap(&w, sig, n), X402_ERR_VALUE);

    n = xt_bytes(sig, sizeof(sig), "wrapped");
    sig[2 * 32 + 27] = 1;                         /* signature offset huge */
    assert_int_equal(x402_erc6492_unwrap(&w, sig, n), X402_ERR_VALUE);

    n = xt_bytes(sig, sizeof(sig), "wrapped");
    sig[3 * 32 + 29] = 0x7f;                      /* data length too long */
    assert_int_equal(x402_erc6492_unwrap(&w, sig, n), X402_ERR_VALUE);

    n = xt_bytes(sig, sizeof(sig), "wrapped");
    sig[0] = 1;                                   /* not an address word */
    assert_int_equal(x402_erc6492_unwrap(&w, sig, n), X402_ERR_VALUE);
    assert_false(w.wrapped);
}


static void
test_decode_malformed(void **state)
{
    x402_payment  p;
    char          hex[2 * X402_ERC6492_MAX + 3];
    const char   *wrapped;
    size_t        len;

    (void) state;

    wrapped = xt_str("wrapped");
    len = strlen(wrapped);

    /* a wrapper that does not decode: a malformed signature, which the
       verifier refuses (invalid_permit2_signature) */
    snprintf(hex, sizeof(hex), "0x%s", wrapped + 2 + 64 * 8);
    xt_decode_sig(&p, hex);
    assert_int_equal(p.signature_len, 0);
    assert_false(p.has_deployment);

    /* the factory 0: no deployment, the inner signature all the same */
    memcpy(hex, wrapped, len + 1);
    memset(hex + 2 + 24, '0', 40);
    xt_decode_sig(&p, hex);
    assert_int_equal(p.signature_len, 65);
    assert_false(p.has_deployment);

    /* an inner signature past X402_SIGNATURE_MAX */
    {
        char  *big;
        size_t i, off;

        big = malloc(2 * (5 * 32 + 1056 + 32) + 3);
        assert_non_null(big);
        off = (size_t) sprintf(big, "0x%064x%064x%064x%064x%064x",
                               0x99, 0x60, 0x80, 0, 1056);
        for (i = 0; i < 2 * 1056; i++) {
            big[off++] = 'a';
        }
        memcpy(big + off, MAGIC_HEX, 64);
        big[off + 64] = '\0';
        xt_decode_sig(&p, big);
        assert_int_equal(p.signature_len, 0);

        /* the same with 65 bytes: a factory, empty calldata */
        off = (size_t) sprintf(big, "0x%064x%064x%064x%064x%064x",
                               0x99, 0x60, 0x80, 0, 65);
        for (i = 0; i < 2 * 96; i++) {
            big[off++] = 'b';
        }
        memcpy(big + off, MAGIC_HEX, 64);
        big[off + 64] = '\0';
        xt_decode_sig(&p, big);
        assert_int_equal(p.signature_len, 65);
        assert_true(p.has_deployment);
        assert_int_equal(p.factory_data_len, 0);
        assert_int_equal(p.factory.b[19], 0x99);
        free(big);
    }
}


static void
test_probe_request(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    uint8_t        digest[32];
    char           out[X402_ERC6492_PROBE_REQUEST_MAX];
    size_t         len;
    json_t        *req, *call;

    (void) state;

    xt_decode(&p);
    memset(&offer, 0, sizeof(offer));
    offer.scheme = X402_SCHEME_EXACT;
    offer.chain_id = 8453;
    xt_address(&offer.asset, "0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB");
    xt_hex_at(digest, 32, "digest");

    len = sizeof(out);
    assert_int_equal(x402_rpc_erc6492_probe_request(out, &len, &offer, &p,
                                                    digest, 7),
                     X402_OK);
    assert_int_equal(strlen(out), len);

    req = json_loads(out, 0, NULL);
    assert_non_null(req);
    assert_string_equal(xt_member_str(req, "method"), "eth_call");
    assert_int_equal(json_integer_value(xt_member(req, "id")), 7);
    call = json_array_get(xt_member(req, "params"), 0);
    assert_non_null(call);

    /* a creation: no "to", no "from"; viem's encodeDeployData */
    assert_null(json_object_get(call, "to"));
    assert_null(json_object_get(call, "from"));
    assert_string_equal(xt_member_str(call, "data"), xt_str("probeData"));
    assert_string_equal(json_string_value(json_array_get(
                            xt_member(req, "params"), 1)),
                        "latest");
    json_decref(req);

    /* short buffers, no deployment */
    len = 100;
    assert_int_equal(x402_rpc_erc6492_probe_request(out, &len, &offer, &p,
                                                    digest, 7),
                     X402_ERR_BUFFER);
    p.has_deployment = 0;
    len = sizeof(out);
    assert_int_equal(x402_rpc_erc6492_probe_request(out, &len, &offer, &p,
                                                    digest, 7),
                     X402_ERR_ARG);
}


static void
xt_reply(char *out, size_t cap, const char *result)
{
    snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"%s\"}",
             result);
}


static void
test_probe_parse(void **state)
{
    x402_erc6492_probe  pr;
    x402_payment        p;
    x402_u256           max;
    char                reply[2048], word[700];
    const char         *r;

    (void) state;

    r = xt_str("probeReply");
    xt_reply(reply, sizeof(reply), r);
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 3),
                     X402_OK);
    assert_true(pr.deployed);
    assert_int_equal(pr.factory_gas, 123456);
    assert_true(pr.erc1271_ok);
    memset(max.b, 0xff, 32);
    assert_memory_equal(pr.allowance.b, max.b, 32);
    assert_int_equal(pr.balance.b[31], 0x00);
    /* 10^21 = 0x3635c9adc5dea00000 */
    assert_int_equal(pr.balance.b[23], 0x36);

    xt_decode(&p);
    assert_int_equal(x402_erc6492_deploy_gas(&pr, &p),
                     123456 + 61728 + 21000 + 16 * p.factory_data_len
                     + 25000);

    /* another id, an error (the probe never reverts), a short result, a
       deployed word that is not 0 or 1 */
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 4),
                     X402_ERR_VALUE);
    snprintf(reply, sizeof(reply), "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":"
             "{\"code\":-32000,\"message\":\"out of gas\"}}");
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 3),
                     X402_ERR_VALUE);
    xt_reply(reply, sizeof(reply), "0x");
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 3),
                     X402_ERR_VALUE);
    snprintf(word, sizeof(word), "%s", r);
    word[2 + 63] = '2';
    xt_reply(reply, sizeof(reply), word);
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 3),
                     X402_ERR_VALUE);
    assert_false(pr.deployed);
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, "nope", 4, 3),
                     X402_ERR_JSON);

    /* a dirty isValidSignature word is not the magic */
    snprintf(word, sizeof(word), "%s", r);
    word[2 + 2 * 64 + 10] = '1';
    xt_reply(reply, sizeof(reply), word);
    assert_int_equal(x402_rpc_erc6492_probe_parse(&pr, reply, strlen(reply), 3),
                     X402_OK);
    assert_false(pr.erc1271_ok);
}


static void
test_verdict(void **state)
{
    x402_onchain        oc;
    x402_erc6492_probe  pr;
    x402_payment        p;

    (void) state;

    xt_decode(&p);

    memset(&oc, 0, sizeof(oc));
    oc.asset_has_code = 1;
    memset(&pr, 0, sizeof(pr));
    pr.deployed = 1;
    pr.erc1271_ok = 1;
    memset(pr.balance.b, 0xff, 32);
    memset(pr.allowance.b, 0xff, 32);

    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p), X402_R_VALID);

    pr.erc1271_ok = 0;
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_INVALID_SIGNATURE);
    pr.erc1271_ok = 1;

    memset(pr.allowance.b, 0, 32);
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_ALLOWANCE_REQUIRED);
    memset(pr.allowance.b, 0xff, 32);

    memset(pr.balance.b, 0, 32);
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_INSUFFICIENT_BALANCE);
    memset(pr.balance.b, 0xff, 32);

    /* the nonce comes from the checks, not the probe */
    memset(oc.nonce_word.b, 0xff, 32);
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_INVALID_NONCE);
    memset(oc.nonce_word.b, 0, 32);

    /* a failed simulation of the checks does not count: the wallet was
       not there yet */
    oc.sim_ok = 0;
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p), X402_R_VALID);

    pr.deployed = 0;
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_SMART_WALLET_DEPLOYMENT_FAILED);

    oc.asset_has_code = 0;
    assert_int_equal(x402_erc6492_verdict(&oc, &pr, &p),
                     X402_R_ASSET_NOT_DEPLOYED);
    assert_int_equal(x402_erc6492_verdict(NULL, &pr, &p),
                     X402_R_PAYMENT_REQUIRED);

    assert_string_equal(x402_reason_string(
                            X402_R_EIP6492_FACTORY_NOT_ALLOWED),
                        "eip6492_factory_not_allowed");
    assert_string_equal(x402_reason_string(
                            X402_R_SMART_WALLET_DEPLOYMENT_FAILED),
                        "smart_wallet_deployment_failed");
    assert_int_equal(x402_reason_parse("smart_wallet_deployment_failed"),
                     X402_R_SMART_WALLET_DEPLOYMENT_FAILED);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_decode_unwraps),
        cmocka_unit_test(test_unwrap),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_probe_request),
        cmocka_unit_test(test_probe_parse),
        cmocka_unit_test(test_verdict),
    };

    return cmocka_run_group_tests(tests, xt_erc6492_setup, xt_teardown);
}
