/*
 * The composed PaymentRequired equals the jansson-encoded one byte for
 * byte, on the vector and on texts that need every kind of escape.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x402.h"


static x402_offer
xt_offer(void)
{
    x402_offer  o;

    memset(&o, 0, sizeof(o));
    o.scheme = X402_SCHEME_EXACT;
    o.chain_id = 8453;
    assert_int_equal(x402_u256_parse(&o.amount, "1000000000000000000", 19),
                     X402_OK);
    assert_int_equal(x402_address_parse(&o.asset,
        "0x240b09731D96979f50B2C649C9CE10FcF9C7987F", 42), X402_OK);
    assert_int_equal(x402_address_parse(&o.pay_to,
        "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 42), X402_OK);
    o.max_timeout_seconds = 300;
    o.extra_name = "OPG";
    o.extra_version = "1";

    return o;
}


/* compose and encode give the same result for these texts */
static void
xt_same(const char *error, const char *url, const char *desc,
    const char *mime, x402_err want)
{
    char           a[4096], b[4096], acc[1024];
    size_t         alen, blen, acclen;
    x402_err       ra, rb;
    x402_offer     o;
    x402_resource  res;

    o = xt_offer();
    res.url = url;
    res.description = desc;
    res.mime_type = mime;

    acclen = sizeof(acc);
    assert_int_equal(x402_accepts_encode(acc, &acclen, &o, 1), X402_OK);

    alen = sizeof(a);
    blen = sizeof(b);
    ra = x402_payment_required_compose(a, &alen, error, &res, acc, acclen);
    rb = x402_payment_required_encode(b, &blen, error, &res, &o, 1);

    assert_int_equal(ra, want);
    assert_int_equal(rb, want);

    if (want == X402_OK) {
        assert_int_equal(alen, blen);
        assert_string_equal(a, b);
    }
}


static void
test_vector(void **state)
{
    char           out[2048], acc[1024], hdr[4096];
    size_t         len, acclen, hlen;
    x402_offer     o;
    x402_resource  res;

    (void) state;

    /* vectors.json headers.paymentRequired8453, decoded, byte for byte */
    static const char  want[] =
        "{\"x402Version\":2,\"error\":\"Payment required\",\"resource\":"
        "{\"url\":\"http://127.0.0.1:8080/v1/chat/completions\","
        "\"description\":\"chat\",\"mimeType\":\"application/json\"},"
        "\"accepts\":[{\"scheme\":\"exact\",\"network\":\"eip155:8453\","
        "\"amount\":\"1000000000000000000\",\"asset\":"
        "\"0x240b09731D96979f50B2C649C9CE10FcF9C7987F\",\"payTo\":"
        "\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"maxTimeoutSeconds\":300,\"extra\":{\"assetTransferMethod\":"
        "\"permit2\",\"name\":\"OPG\",\"version\":\"1\"}}]}";

    o = xt_offer();
    res.url = "http://127.0.0.1:8080/v1/chat/completions";
    res.description = "chat";
    res.mime_type = "application/json";

    acclen = sizeof(acc);
    assert_int_equal(x402_accepts_encode(acc, &acclen, &o, 1), X402_OK);
    assert_int_equal(acc[0], '[');

    len = sizeof(out);
    assert_int_equal(x402_payment_required_compose(out, &len,
                         "Payment required", &res, acc, acclen), X402_OK);
    assert_string_equal(out, want);
    assert_int_equal(len, sizeof(want) - 1);

    hlen = sizeof(hdr);
    assert_int_equal(x402_base64_encode(hdr, hlen, (const uint8_t *) out,
                                        len), X402_OK);
    assert_int_equal(strlen(hdr), 592);

    /* too small: an error, never a truncated document */
    len = sizeof(want) - 1;
    assert_int_equal(x402_payment_required_compose(out, &len,
                         "Payment required", &res, acc, acclen),
                     X402_ERR_BUFFER);
    len = sizeof(want);
    assert_int_equal(x402_payment_required_compose(out, &len,
                         "Payment required", &res, acc, acclen), X402_OK);
}


static void
test_escapes(void **state)
{
    char  all[128];
    int   i;

    (void) state;

    /* every ASCII byte, controls included */
    for (i = 1; i < 128; i++) {
        all[i - 1] = (char) i;
    }
    all[127] = '\0';

    xt_same("Payment required", "http://h/x?a=\"b\"&c=\\d", all, NULL,
            X402_OK);
    xt_same(NULL, "http://h/", NULL, NULL, X402_OK);
    xt_same("permit2_invalid_nonce", "http://h/", "caf\xc3\xa9 \xe2\x82\xac "
            "\xf0\x9f\x98\x80", "text/plain", X402_OK);

    /* invalid UTF-8 is refused by both */
    xt_same("e", "http://h/", "\xff", NULL, X402_ERR_ARG);
    xt_same("e", "http://h/", "\xc0\xaf", NULL, X402_ERR_ARG);       /* overlong */
    xt_same("e", "http://h/", "\xed\xa0\x80", NULL, X402_ERR_ARG);   /* surrogate */
    xt_same("e", "http://h/", "\xe2\x82", NULL, X402_ERR_ARG);       /* cut */
    xt_same("e", "http://h/", "\xf4\x90\x80\x80", NULL, X402_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
