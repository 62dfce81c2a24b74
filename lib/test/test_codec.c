/*
 * Codecs: keccak, hex, base64, uint256, amounts, addresses, networks,
 * reason strings and constant tables.
 */

#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define S(lit)  lit, sizeof(lit) - 1


static void
test_keccak_vectors(void **state)
{
    json_t       *list, *e, *rep;
    const char   *in;
    size_t        i, n, k, len;
    uint8_t      *msg, got[32], want[32];

    (void) state;

    list = xt_get("keccak256");
    assert_int_equal(json_array_size(list), 11);

    json_array_foreach(list, i, e) {
        in = xt_member_str(e, "input");
        rep = json_object_get(e, "repeat");
        n = rep ? (size_t) json_integer_value(rep) : 1;
        len = strlen(in);

        msg = malloc(len * n + 1);
        assert_non_null(msg);
        for (k = 0; k < n; k++) {
            memcpy(msg + k * len, in, len);
        }

        xt_unhex(want, 32, xt_member_str(e, "hash"));

        x402_keccak256(got, msg, len * n);
        assert_memory_equal(got, want, 32);

        free(msg);
    }
}


/* Incremental updates split anywhere give the one-shot hash. */
static void
test_keccak_incremental(void **state)
{
    x402_keccak_ctx  k;
    uint8_t          msg[137], got[32], want[32];
    size_t           split, split2;

    (void) state;

    memset(msg, 'a', sizeof(msg));
    xt_hex_at(want, 32, "keccak256.4.hash");
    assert_int_equal(xt_int("keccak256.4.repeat"), 137);

    for (split = 0; split <= sizeof(msg); split += 17) {
        split2 = split + (sizeof(msg) - split) / 2;
        x402_keccak_init(&k);
        x402_keccak_update(&k, msg, split);
        x402_keccak_update(&k, msg + split, split2 - split);
        x402_keccak_update(&k, msg + split2, sizeof(msg) - split2);
        x402_keccak_final(&k, got);
        assert_memory_equal(got, want, 32);
    }

    /* 136 bytes in single-byte updates: the full padding block */
    xt_hex_at(want, 32, "keccak256.3.hash");
    x402_keccak_init(&k);
    for (split = 0; split < 136; split++) {
        x402_keccak_update(&k, msg, 1);
    }
    x402_keccak_final(&k, got);
    assert_memory_equal(got, want, 32);
}


static void
test_hex(void **state)
{
    static const uint8_t  want[4] = { 0xde, 0xad, 0xbe, 0xef };
    uint8_t               out[4];
    char                  txt[9];
    size_t                n;

    (void) state;

    n = sizeof(out);
    assert_int_equal(x402_hex_decode(out, &n, S("DeAdbEEF")), X402_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, want, 4);

    n = 0;
    assert_int_equal(x402_hex_decode(out, &n, "", 0), X402_OK);
    assert_int_equal(n, 0);

    n = sizeof(out);
    assert_int_equal(x402_hex_decode(out, &n, S("abc")), X402_ERR_HEX);
    n = sizeof(out);
    assert_int_equal(x402_hex_decode(out, &n, S("0xab")), X402_ERR_HEX);
    n = sizeof(out);
    assert_int_equal(x402_hex_decode(out, &n, S("zz")), X402_ERR_HEX);
    n = sizeof(out);
    assert_int_equal(x402_hex_decode(out, &n, S("a ")), X402_ERR_HEX);
    n = 3;
    assert_int_equal(x402_hex_decode(out, &n, S("deadbeef")),
                     X402_ERR_BUFFER);
    assert_int_equal(x402_hex_decode(out, NULL, S("de")), X402_ERR_ARG);

    x402_hex_encode(txt, want, 4);
    assert_string_equal(txt, "deadbeef");
}


static void
test_base64_rfc4648(void **state)
{
    static const char *const  plain[] = {
        "", "f", "fo", "foo", "foob", "fooba", "foobar"
    };
    static const char *const  enc[] = {
        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
    };
    char                      out[16];
    uint8_t                   dec[16];
    size_t                    i, n, len;

    (void) state;

    for (i = 0; i < 7; i++) {
        len = strlen(plain[i]);
        assert_int_equal(x402_base64_encoded_len(len), strlen(enc[i]));
        assert_int_equal(x402_base64_encode(out, sizeof(out),
                                            (const uint8_t *) plain[i], len),
                         X402_OK);
        assert_string_equal(out, enc[i]);

        n = sizeof(dec);
        assert_int_equal(x402_base64_decode(dec, &n, enc[i], strlen(enc[i])),
                         X402_OK);
        assert_int_equal(n, len);
        assert_memory_equal(dec, plain[i], len);
        assert_true(x402_base64_decoded_max(strlen(enc[i])) >= len);

        /* unpadded */
        n = sizeof(dec);
        len = strlen(enc[i]);
        while (len > 0 && enc[i][len - 1] == '=') {
            len--;
        }
        assert_int_equal(x402_base64_decode(dec, &n, enc[i], len), X402_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
    }

    /* exact fit needs room for the NUL */
    assert_int_equal(x402_base64_encode(out, 4, (const uint8_t *) "f", 1),
                     X402_ERR_BUFFER);
    assert_int_equal(x402_base64_encode(out, 5, (const uint8_t *) "f", 1),
                     X402_OK);
    n = 2;
    assert_int_equal(x402_base64_decode(dec, &n, S("Zm9v")), X402_ERR_BUFFER);
}


static void
test_base64_errors(void **state)
{
    static const char *const  bad[] = {
        "Z", "Zg=", "Zg===", "Zm9vY", "Zm9v====", "=", "==", "====",
        "Zm=v", "Z=g=", "Zm9v-w==", "Zm9v_w==", "-_-_", " Zm9v", "Zm9v ",
        "Zm9v\nYmFy", "Zm 9v", "Zm9v\r\n", "Zm9v\t", "Zm9v.", "Zm9vYg=a",
        "Zm9vYmFy=", "A==="
    };
    uint8_t                   dec[16];
    size_t                    i, n;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = sizeof(dec);
        if (x402_base64_decode(dec, &n, bad[i], strlen(bad[i]))
            != X402_ERR_BASE64)
        {
            fail_msg("base64 \"%s\" was accepted", bad[i]);
        }
    }
}


static void
test_u256_bounds(void **state)
{
    /* 2^256 - 1 and 2^256 */
    static const char  max[] =
        "115792089237316195423570985008687907853269984665640564039457584007913"
        "129639935";
    static const char  over[] =
        "115792089237316195423570985008687907853269984665640564039457584007913"
        "129639936";
    char               buf[100], out[X402_U256_DEC_MAX];
    x402_u256          v;
    size_t             i;

    (void) state;

    assert_int_equal(strlen(max), 78);
    assert_int_equal(x402_u256_parse(&v, S(max)), X402_OK);
    for (i = 0; i < 32; i++) {
        assert_int_equal(v.b[i], 0xff);
    }
    x402_u256_format_dec(out, &v);
    assert_string_equal(out, max);

    /* every length across the nine-digit groups: 10^k and 10^k - 1 */
    for (i = 1; i <= 77; i++) {
        memset(buf, '0', i + 1);
        buf[0] = '1';
        assert_int_equal(x402_u256_parse_dec(&v, buf, i + 1), X402_OK);
        x402_u256_format_dec(out, &v);
        assert_int_equal(strlen(out), i + 1);
        assert_memory_equal(out, buf, i + 1);

        memset(buf, '9', i);
        assert_int_equal(x402_u256_parse_dec(&v, buf, i), X402_OK);
        x402_u256_format_dec(out, &v);
        assert_int_equal(strlen(out), i);
        assert_memory_equal(out, buf, i);
    }

    assert_int_equal(x402_u256_parse(&v, S(over)), X402_ERR_OVERFLOW);
    assert_int_equal(x402_u256_parse_dec(&v, S(over)), X402_ERR_OVERFLOW);

    /* 79 digits: too long, with or without leading zeros */
    memset(buf, '0', 79);
    buf[0] = '1';
    assert_int_equal(x402_u256_parse(&v, buf, 79), X402_ERR_OVERFLOW);
    buf[0] = '0';
    buf[78] = '1';
    assert_int_equal(x402_u256_parse(&v, buf, 79), X402_ERR_OVERFLOW);
    /* 78 digits with leading zeros is fine */
    assert_int_equal(x402_u256_parse(&v, buf + 1, 78), X402_OK);
    for (i = 0; i < 31; i++) {
        assert_int_equal(v.b[i], 0);
    }
    assert_int_equal(v.b[31], 1);

    /* hex: 64 digits ok, 65 overflow, leading zero digits within 64 ok */
    buf[0] = '0';
    buf[1] = 'x';
    memset(buf + 2, 'f', 64);
    assert_int_equal(x402_u256_parse(&v, buf, 66), X402_OK);
    for (i = 0; i < 32; i++) {
        assert_int_equal(v.b[i], 0xff);
    }
    buf[66] = 'f';
    assert_int_equal(x402_u256_parse(&v, buf, 67), X402_ERR_OVERFLOW);
}


static void
test_u256_syntax(void **state)
{
    static const char *const  bad[] = {
        "", "-1", "+1", " 1", "1 ", "1e5", "0x", "0X1f", "0xg", "1.0",
        "0x-1", "x1", "\xd9\xa1"
    };
    x402_u256                 v, w;
    size_t                    i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (x402_u256_parse(&v, bad[i], strlen(bad[i])) != X402_ERR_NUMBER) {
            fail_msg("u256 \"%s\" was accepted", bad[i]);
        }
    }

    /* decimal-only variant rejects hex */
    assert_int_equal(x402_u256_parse_dec(&v, S("0x10")), X402_ERR_NUMBER);
    assert_int_equal(x402_u256_parse_dec(&v, S("0010")), X402_OK);
    xt_u256_u64(&w, 10);
    assert_memory_equal(v.b, w.b, 32);

    /* the vector nonce in decimal and hex */
    xt_hex_at(w.b, 32, "common.nonceHex");
    assert_int_equal(x402_u256_parse(&v, xt_str("common.nonceDecimal"),
                                     strlen(xt_str("common.nonceDecimal"))),
                     X402_OK);
    assert_memory_equal(v.b, w.b, 32);
    assert_int_equal(x402_u256_parse(&v, xt_str("common.nonceHex"),
                                     strlen(xt_str("common.nonceHex"))),
                     X402_OK);
    assert_memory_equal(v.b, w.b, 32);

    /* uppercase hex digits, short hex */
    assert_int_equal(x402_u256_parse(&v, S("0x67C08D85")), X402_OK);
    xt_u256_u64(&w, 1740672389);
    assert_memory_equal(v.b, w.b, 32);
}


static void
test_u256_misc(void **state)
{
    char       out[X402_U256_DEC_MAX];
    x402_u256  a, b;
    uint64_t   u;

    (void) state;

    xt_hex_at(a.b, 32, "common.nonceHex");
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, xt_str("common.nonceDecimal"));

    memset(&a, 0, sizeof(a));
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, "0");

    x402_u256_from_u64(&a, 1740672389);
    xt_u256_u64(&b, 1740672389);
    assert_memory_equal(a.b, b.b, 32);
    assert_int_equal(x402_u256_to_u64(&u, &a), X402_OK);
    assert_true(u == 1740672389);
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, "1740672389");

    x402_u256_from_u64(&a, UINT64_MAX);
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, "18446744073709551615");

    b.b[23] = 1;
    assert_int_equal(x402_u256_to_u64(&u, &b), X402_ERR_OVERFLOW);

    assert_int_equal(x402_u256_cmp(&a, &a), 0);
    assert_int_equal(x402_u256_cmp(&a, &b), -1);
    assert_int_equal(x402_u256_cmp(&b, &a), 1);
    /* subtraction: borrows across every byte, and below zero is refused */
    assert_int_equal(x402_u256_parse(&a, "1000000000000000000000", 22),
                     X402_OK);
    assert_int_equal(x402_u256_parse(&b, "523956789012345678908", 21),
                     X402_OK);
    assert_int_equal(x402_u256_sub(&a, &a, &b), X402_OK);
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, "476043210987654321092");
    assert_int_equal(x402_u256_add(&a, &a, &b), X402_OK);
    x402_u256_format_dec(out, &a);
    assert_string_equal(out, "1000000000000000000000");
    assert_int_equal(x402_u256_sub(&a, &b, &a), X402_ERR_OVERFLOW);
    memset(&a, 0, sizeof(a));
    x402_u256_from_u64(&b, 1);
    assert_int_equal(x402_u256_sub(&a, &b, &b), X402_OK);
    assert_int_equal(x402_u256_cmp(&a, &(x402_u256) { { 0 } }), 0);
}


static void
test_amount(void **state)
{
    /* 10^15 = 0x038d7ea4c68000, 10^18 = 0x0de0b6b3a7640000 */
    static const uint8_t  e15[7] = { 0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x00 };
    static const uint8_t  e18[8] = {
        0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00
    };
    static const char *const  bad[] = {
        "1e5", "-1", "", ".", ".5", "1.", "1..0", "1.0.0", " 1", "1 ",
        "+1", "0x10", "1,5"
    };
    x402_u256             v, w;
    size_t                i;

    (void) state;

    memset(&w, 0, sizeof(w));
    memcpy(w.b + 25, e15, 7);
    assert_int_equal(x402_amount_parse(&v, S("0.001"), 18), X402_OK);
    assert_memory_equal(v.b, w.b, 32);

    memset(&w, 0, sizeof(w));
    memcpy(w.b + 24, e18, 8);
    assert_int_equal(x402_amount_parse(&v, S("1"), 18), X402_OK);
    assert_memory_equal(v.b, w.b, 32);
    assert_int_equal(x402_amount_parse(&v, S("1.000000000000000000"), 18),
                     X402_OK);
    assert_memory_equal(v.b, w.b, 32);

    xt_u256_u64(&w, 150);
    assert_int_equal(x402_amount_parse(&v, S("1.5"), 2), X402_OK);
    assert_memory_equal(v.b, w.b, 32);
    xt_u256_u64(&w, 7);
    assert_int_equal(x402_amount_parse(&v, S("7"), 0), X402_OK);
    assert_memory_equal(v.b, w.b, 32);

    assert_int_equal(x402_amount_parse(&v, S("0.0000000000000000001"), 18),
                     X402_ERR_VALUE);
    assert_int_equal(x402_amount_parse(&v, S("1.5"), 0), X402_ERR_VALUE);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (x402_amount_parse(&v, bad[i], strlen(bad[i]), 18) == X402_OK) {
            fail_msg("amount \"%s\" was accepted", bad[i]);
        }
    }

    assert_int_equal(x402_amount_parse(&v, S("1"), 78), X402_ERR_ARG);
    assert_int_equal(x402_amount_parse(&v, S("1"), 77), X402_OK);
    assert_int_equal(x402_amount_parse(&v, S("1000"), 77), X402_ERR_OVERFLOW);
    assert_int_equal(x402_amount_parse(&v,
        S("115792089237316195423570985008687907853269984665640564039457584007"
          "913129639935"), 0), X402_OK);
    assert_int_equal(x402_amount_parse(&v,
        S("115792089237316195423570985008687907853269984665640564039457584007"
          "913129639935"), 1), X402_ERR_OVERFLOW);
}


/* Atomic units back to a decimal amount, the inverse of the parser. */
static void
test_amount_format(void **state)
{
    static const struct { const char *text; unsigned decimals; } cases[] = {
        { "0.001", 18 }, { "1", 18 }, { "12.5", 6 }, { "0", 18 },
        { "0.000000000000000001", 18 }, { "1000", 0 }, { "7", 76 },
        { "115792089237316195423570985008687907853269984665640564039457."
          "584007913129639935", 18 }
    };
    char       out[X402_AMOUNT_STR_MAX];
    x402_u256  v;
    size_t     i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(x402_amount_parse(&v, cases[i].text,
                                           strlen(cases[i].text),
                                           cases[i].decimals), X402_OK);
        x402_amount_format(out, &v, cases[i].decimals);
        assert_string_equal(out, cases[i].text);
    }

    /* trailing zeros go */
    assert_int_equal(x402_amount_parse(&v, S("1.500"), 6), X402_OK);
    x402_amount_format(out, &v, 6);
    assert_string_equal(out, "1.5");
}


/* One vector address: parses (also lowercased) and formats back to itself. */
static void
xt_check_eip55(const char *txt)
{
    char          out[X402_ADDRESS_STR_LEN], low[43];
    x402_address  a, want;
    size_t        k;

    assert_int_equal(strlen(txt), 42);
    xt_address(&want, txt);

    assert_int_equal(x402_address_parse(&a, txt, 42), X402_OK);
    assert_memory_equal(a.b, want.b, 20);
    x402_address_format(out, &a);
    assert_string_equal(out, txt);

    for (k = 0; k < 42; k++) {
        low[k] = (char) ((txt[k] >= 'A' && txt[k] <= 'F')
                         ? txt[k] - 'A' + 'a' : txt[k]);
    }
    low[42] = '\0';
    assert_int_equal(x402_address_parse(&a, low, 42), X402_OK);
    assert_memory_equal(a.b, want.b, 20);
    x402_address_format(out, &a);
    assert_string_equal(out, txt);
}


/* Every vector address round-trips to its EIP-55 text. */
static void
test_address_eip55(void **state)
{
    static const char *const  paths[] = {
        "common.signer", "common.requirementTemplate.asset",
        "common.requirementTemplate.payTo", "chains.8453.recovered",
        "mutations.cases.10.changes.0.value"
    };
    json_t                   *addrs, *v;
    const char               *key;
    char                      out[X402_ADDRESS_STR_LEN];
    x402_address              a, b;
    size_t                    i;

    (void) state;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        xt_check_eip55(xt_str(paths[i]));
    }

    addrs = xt_get("constants.addresses");
    assert_true(json_object_size(addrs) >= 10);

    json_object_foreach(addrs, key, v) {
        xt_check_eip55(json_string_value(v));
    }

    memset(&a, 0, sizeof(a));
    x402_address_format(out, &a);
    assert_string_equal(out, "0x0000000000000000000000000000000000000000");
    assert_true(x402_address_is_zero(&a));

    xt_address(&b, xt_str("common.signer"));
    assert_false(x402_address_is_zero(&b));
    assert_true(x402_address_eq(&b, &b));
    assert_false(x402_address_eq(&a, &b));
}


/* A configured address: its checksum holds, is absent, or is a typo's. */
static void
test_address_checksum(void **state)
{
    char           txt[43];
    const char    *signer;
    x402_checksum  cs;
    size_t         k;

    (void) state;

    signer = xt_str("common.signer");
    memcpy(txt, signer, 43);

    assert_int_equal(x402_address_checksum(&cs, txt, 42), X402_OK);
    assert_int_equal(cs, X402_CHECKSUM_VALID);

    /* one case: nothing to check */
    for (k = 2; k < 42; k++) {
        txt[k] = (char) ((signer[k] >= 'A' && signer[k] <= 'F')
                         ? signer[k] - 'A' + 'a' : signer[k]);
    }
    assert_int_equal(x402_address_checksum(&cs, txt, 42), X402_OK);
    assert_int_equal(cs, X402_CHECKSUM_NONE);

    for (k = 2; k < 42; k++) {
        txt[k] = (char) ((txt[k] >= 'a' && txt[k] <= 'f')
                         ? txt[k] - 'a' + 'A' : txt[k]);
    }
    assert_int_equal(x402_address_checksum(&cs, txt, 42), X402_OK);
    assert_int_equal(cs, X402_CHECKSUM_NONE);

    /* a letter's case flipped, and a digit changed: both are typos */
    memcpy(txt, signer, 43);
    for (k = 2; k < 42 && !(txt[k] >= 'a' && txt[k] <= 'f'); k++) { }
    assert_true(k < 42);
    txt[k] = (char) (txt[k] - 'a' + 'A');
    assert_int_equal(x402_address_checksum(&cs, txt, 42), X402_OK);
    assert_int_equal(cs, X402_CHECKSUM_WRONG);

    memcpy(txt, signer, 43);
    for (k = 41; k > 1 && !(txt[k] >= '0' && txt[k] <= '8'); k--) { }
    assert_true(k > 1);
    txt[k]++;
    assert_int_equal(x402_address_checksum(&cs, txt, 42), X402_OK);
    assert_int_equal(cs, X402_CHECKSUM_WRONG);

    assert_int_equal(x402_address_checksum(&cs, "0x12", 4), X402_ERR_VALUE);
    assert_int_equal(x402_address_checksum(NULL, signer, 42), X402_ERR_ARG);
}


/* What a CORS preflight may have echoed back: field names only. */
static void
test_field_list(void **state)
{
    char  big[X402_FIELD_LIST_MAX + 2];

    (void) state;

    assert_true(x402_field_list_valid(S("authorization")));
    assert_true(x402_field_list_valid(
        S("content-type, x-stainless-os,x-stainless-lang\tauthorization")));
    assert_true(x402_field_list_valid(S("PAYMENT-SIGNATURE")));

    assert_false(x402_field_list_valid(S("")));
    assert_false(x402_field_list_valid(S(" , ,")));
    assert_false(x402_field_list_valid(S("a\r\nSet-Cookie: x=1")));
    assert_false(x402_field_list_valid(S("a;b")));
    assert_false(x402_field_list_valid(S("x\"y")));
    assert_false(x402_field_list_valid("a\0b", 3));
    assert_false(x402_field_list_valid(NULL, 1));

    memset(big, 'a', sizeof(big));
    assert_true(x402_field_list_valid(big, X402_FIELD_LIST_MAX));
    assert_false(x402_field_list_valid(big, X402_FIELD_LIST_MAX + 1));
}


static void
test_address_errors(void **state)
{
    static const char *const  bad[] = {
        "", "0x", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0Xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb922666",
        "0xg39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        " 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226"
    };
    x402_address              a;
    size_t                    i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (x402_address_parse(&a, bad[i], strlen(bad[i])) != X402_ERR_VALUE)
        {
            fail_msg("address \"%s\" was accepted", bad[i]);
        }
    }
}


static void
test_network(void **state)
{
    static const char *const  bad[] = {
        "", "eip155:", "eip155:0", "eip155:08453", "eip155:-1", "eip155:1a",
        "eip155: 1", "EIP155:1", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "eip155:9007199254740993", "eip155:99999999999999999999",
        "base", "eip155:8453 "
    };
    uint64_t                  id;
    size_t                    i;

    (void) state;

    assert_string_equal(x402_network_name(8453), "Base");
    assert_string_equal(x402_network_name(84532), "Base Sepolia");
    assert_null(x402_network_name(31337));


    assert_int_equal(x402_network_parse(&id, S("eip155:8453")), X402_OK);
    assert_true(id == 8453);
    assert_int_equal(x402_network_parse(&id, S("eip155:84532")), X402_OK);
    assert_true(id == 84532);
    assert_int_equal(x402_network_parse(&id, S("eip155:1")), X402_OK);
    assert_true(id == 1);
    assert_int_equal(x402_network_parse(&id, S("eip155:9007199254740992")),
                     X402_OK);
    assert_true(id == 9007199254740992ULL);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (x402_network_parse(&id, bad[i], strlen(bad[i]))
            != X402_ERR_NETWORK)
        {
            fail_msg("network \"%s\" was accepted", bad[i]);
        }
    }
}


static void
test_reasons(void **state)
{
    static const char *const  want[X402_R_MAX] = {
        NULL,
        "Payment required",
        "No matching payment requirements",
        "unsupported_payload_type",
        "invalid_exact_evm_network_mismatch",
        "invalid_upto_evm_scheme",
        "invalid_upto_evm_network_mismatch",
        "invalid_permit2_spender",
        "invalid_permit2_recipient_mismatch",
        "upto_facilitator_mismatch",
        "permit2_deadline_expired",
        "permit2_not_yet_valid",
        "permit2_amount_mismatch",
        "permit2_token_mismatch",
        "invalid_permit2_signature",
        "asset_not_deployed_contract",
        "permit2_proxy_not_deployed",
        "permit2_insufficient_balance",
        "permit2_allowance_required",
        "permit2_invalid_nonce",
        "permit2_simulation_failed",
        "invalid_batch_settlement_evm_network_mismatch",
        "invalid_batch_settlement_evm_payload_type",
        "invalid_batch_settlement_evm_channel_id_mismatch",
        "invalid_batch_settlement_evm_token_mismatch",
        "invalid_batch_settlement_evm_receiver_mismatch",
        "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
        "invalid_batch_settlement_evm_withdraw_delay_mismatch",
        "invalid_batch_settlement_evm_voucher_signature",
        "invalid_batch_settlement_evm_permit2_authorization_required",
        "invalid_batch_settlement_evm_permit2_invalid_spender",
        "invalid_batch_settlement_evm_permit2_amount_mismatch",
        "invalid_batch_settlement_evm_permit2_deadline_expired",
        "invalid_batch_settlement_evm_permit2_invalid_signature",
        "invalid_batch_settlement_evm_deposit_payload",
        "invalid_batch_settlement_evm_cumulative_amount_mismatch",
        "invalid_batch_settlement_evm_cumulative_exceeds_balance",
        "invalid_batch_settlement_evm_cumulative_below_claimed",
        "invalid_batch_settlement_evm_channel_not_found",
        "invalid_batch_settlement_evm_channel_busy",
        "invalid_batch_settlement_evm_deposit_simulation_failed",
        "invalid_batch_settlement_evm_deposit_transaction_failed",
        "invalid_batch_settlement_evm_deposit_below_min_deposit",
        "eip6492_factory_not_allowed",
        "smart_wallet_deployment_failed"
    };
    int                       r;

    (void) state;

    assert_null(x402_reason_string(X402_R_VALID));
    assert_null(x402_reason_string(X402_R_MAX));

    for (r = 1; r < X402_R_MAX; r++) {
        assert_string_equal(x402_reason_string((x402_reason) r), want[r]);
        assert_int_equal(x402_reason_http_status((x402_reason) r),
                         r == X402_R_ALLOWANCE_REQUIRED ? 412 : 402);
        assert_int_equal(x402_reason_parse(want[r]), r);
    }

    /* a string this library does not name, and none */
    assert_int_equal(x402_reason_parse("invalid_payload"), X402_R_MAX);
    assert_int_equal(x402_reason_parse("permit2_invalid_nonce "), X402_R_MAX);
    assert_int_equal(x402_reason_parse(""), X402_R_MAX);
    assert_int_equal(x402_reason_parse(NULL), X402_R_MAX);

    for (r = X402_OK; r <= X402_ERR_CRYPTO; r++) {
        assert_non_null(x402_strerror((x402_err) r));
        assert_true(strlen(x402_strerror((x402_err) r)) > 1);
    }
    assert_non_null(x402_strerror((x402_err) 1000));
}


static void
test_schemes_and_constants(void **state)
{
    x402_address  a;

    (void) state;

    assert_string_equal(x402_scheme_name(X402_SCHEME_EXACT), "exact");
    assert_string_equal(x402_scheme_name(X402_SCHEME_UPTO), "upto");
    assert_null(x402_scheme_name(X402_SCHEME_UNKNOWN));
    assert_int_equal(x402_scheme_parse(S("exact")), X402_SCHEME_EXACT);
    assert_int_equal(x402_scheme_parse(S("upto")), X402_SCHEME_UPTO);
    assert_int_equal(x402_scheme_parse(S("Exact")), X402_SCHEME_UNKNOWN);
    assert_int_equal(x402_scheme_parse(S("exact ")), X402_SCHEME_UNKNOWN);
    assert_int_equal(x402_scheme_parse(S("")), X402_SCHEME_UNKNOWN);
    assert_null(x402_scheme_spender(X402_SCHEME_UNKNOWN));

    xt_address(&a, xt_str("constants.addresses.permit2"));
    assert_memory_equal(x402_permit2_address.b, a.b, 20);
    xt_address(&a, xt_str("constants.addresses.x402ExactPermit2Proxy"));
    assert_memory_equal(x402_exact_proxy_address.b, a.b, 20);
    assert_memory_equal(x402_scheme_spender(X402_SCHEME_EXACT)->b, a.b, 20);
    xt_address(&a, xt_str("constants.addresses.x402UptoPermit2Proxy"));
    assert_memory_equal(x402_upto_proxy_address.b, a.b, 20);
    assert_memory_equal(x402_scheme_spender(X402_SCHEME_UPTO)->b, a.b, 20);
    xt_address(&a, xt_str("constants.addresses.opgBaseMainnet"));
    assert_memory_equal(x402_opg_base_address.b, a.b, 20);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_keccak_vectors),
        cmocka_unit_test(test_keccak_incremental),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_errors),
        cmocka_unit_test(test_u256_bounds),
        cmocka_unit_test(test_u256_syntax),
        cmocka_unit_test(test_u256_misc),
        cmocka_unit_test(test_amount),
        cmocka_unit_test(test_address_eip55),
        cmocka_unit_test(test_address_checksum),
        cmocka_unit_test(test_field_list),
        cmocka_unit_test(test_amount_format),
        cmocka_unit_test(test_address_errors),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_schemes_and_constants),
    };

    return cmocka_run_group_tests(tests, xt_setup, xt_teardown);
}
