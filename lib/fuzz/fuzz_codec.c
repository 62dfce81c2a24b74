/*
 * The text codecs every network parser sits on, all run on each input:
 * x402_base64_decode/encode, x402_hex_decode/encode, x402_u256_parse,
 * x402_u256_parse_dec, x402_amount_parse, x402_address_parse,
 * x402_network_parse, x402_scheme_parse, plus u256 arithmetic and the
 * revert tables on the raw bytes.  Outputs go to heap buffers of exactly
 * the documented size, so ASan sees any write past them.
 *
 * Invariants: base64 decode→encode→decode and encode→decode round trips,
 * a too-small output is X402_ERR_BUFFER; hex decode→encode equals the
 * lowercased input; a u256 formatted and parsed back is the same value,
 * and canonical decimal formats back to the input itself; an amount is
 * its digits scaled by 10^decimals; an address formats to the
 * lowercased-equal EIP-55 text and parses back; a network id is 1..2^53
 * and prints back as the input.
 */

#include <ctype.h>

#include "fuzz_common.h"


static void
fuzz_base64(const char *in, size_t size, const uint8_t *raw)
{
    size_t    n, m, cap;
    uint8_t  *out, *again;
    char     *enc;
    x402_err  rc;

    /* decode, then encode and decode again */
    n = x402_base64_decoded_max(size);
    out = malloc(n ? n : 1);
    FUZZ_CHECK(out != NULL);
    rc = x402_base64_decode(out, &n, in, size);
    if (rc == X402_OK) {
        FUZZ_CHECK(n <= x402_base64_decoded_max(size));
        cap = x402_base64_encoded_len(n) + 1;
        enc = malloc(cap);
        FUZZ_CHECK(enc != NULL);
        FUZZ_CHECK(x402_base64_encode(enc, cap, out, n) == X402_OK);
        FUZZ_CHECK(strlen(enc) == cap - 1);
        FUZZ_CHECK(cap - 1 >= size);
        m = x402_base64_decoded_max(cap - 1);
        again = malloc(m ? m : 1);
        FUZZ_CHECK(again != NULL);
        FUZZ_CHECK(x402_base64_decode(again, &m, enc, cap - 1) == X402_OK);
        FUZZ_CHECK(m == n && memcmp(again, out, n) == 0);
        free(again);
        /* no room for the NUL */
        FUZZ_CHECK(x402_base64_encode(enc, cap - 1, out, n)
                   == X402_ERR_BUFFER);
        free(enc);

        if (n > 0) {
            m = n - 1;
            FUZZ_CHECK(x402_base64_decode(out, &m, in, size)
                       == X402_ERR_BUFFER);
        }
    } else {
        FUZZ_CHECK(rc == X402_ERR_BASE64 || rc == X402_ERR_ARG);
    }
    free(out);

    /* encode the raw bytes, decode them back */
    cap = x402_base64_encoded_len(size) + 1;
    enc = malloc(cap);
    FUZZ_CHECK(enc != NULL);
    FUZZ_CHECK(x402_base64_encode(enc, cap, raw, size) == X402_OK);
    FUZZ_CHECK(strlen(enc) == cap - 1);
    n = x402_base64_decoded_max(cap - 1);
    out = malloc(n ? n : 1);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(x402_base64_decode(out, &n, enc, cap - 1) == X402_OK);
    FUZZ_CHECK(n == size && memcmp(out, raw, size) == 0);
    /* without its padding too */
    m = cap - 1;
    while (m > 0 && enc[m - 1] == '=') {
        m--;
    }
    n = x402_base64_decoded_max(m);
    FUZZ_CHECK(x402_base64_decode(out, &n, enc, m) == X402_OK);
    FUZZ_CHECK(n == size && memcmp(out, raw, size) == 0);
    free(out);
    free(enc);
}


static void
fuzz_hex(const char *in, size_t size)
{
    size_t    n, i;
    uint8_t  *out;
    char     *enc;
    x402_err  rc;

    n = size / 2;
    out = malloc(n ? n : 1);
    FUZZ_CHECK(out != NULL);
    rc = x402_hex_decode(out, &n, in, size);
    if (rc == X402_OK) {
        FUZZ_CHECK(size % 2 == 0 && n == size / 2);
        enc = malloc(2 * n + 1);
        FUZZ_CHECK(enc != NULL);
        x402_hex_encode(enc, out, n);
        FUZZ_CHECK(enc[2 * n] == '\0');
        for (i = 0; i < size; i++) {
            FUZZ_CHECK(enc[i] == tolower((unsigned char) in[i]));
        }
        free(enc);
        if (n > 0) {
            i = n - 1;
            FUZZ_CHECK(x402_hex_decode(out, &i, in, size) != X402_OK);
        }
    } else {
        FUZZ_CHECK(rc == X402_ERR_HEX || rc == X402_ERR_BUFFER
                   || rc == X402_ERR_ARG);
    }
    free(out);
}


/* Decimal digits only, no leading zero (except "0"). */
static int
fuzz_canonical_dec(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || (s[0] == '0' && len > 1)) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}


static void
fuzz_u256(const char *in, size_t size)
{
    x402_u256  v, w;
    char      *dec;
    size_t     n;
    x402_err   rc, rc2;

    dec = malloc(X402_U256_DEC_MAX);
    FUZZ_CHECK(dec != NULL);

    rc = x402_u256_parse(&v, in, size);
    if (rc == X402_OK) {
        x402_u256_format_dec(dec, &v);
        n = fuzz_strnlen_checked(dec, X402_U256_DEC_MAX);
        FUZZ_CHECK(fuzz_canonical_dec(dec, n));
        FUZZ_CHECK(x402_u256_parse_dec(&w, dec, n) == X402_OK);
        FUZZ_CHECK(x402_u256_cmp(&v, &w) == 0);
        if (fuzz_canonical_dec(in, size)) {
            FUZZ_CHECK(n == size && memcmp(dec, in, n) == 0);
        }
    } else {
        FUZZ_CHECK(rc == X402_ERR_NUMBER || rc == X402_ERR_OVERFLOW);
    }

    rc2 = x402_u256_parse_dec(&w, in, size);
    if (rc2 == X402_OK) {
        /* decimal is a subset of what x402_u256_parse takes */
        FUZZ_CHECK(rc == X402_OK && x402_u256_cmp(&v, &w) == 0);
    } else if (rc == X402_OK) {
        FUZZ_CHECK(size > 2 && in[0] == '0' && in[1] == 'x');
    }

    free(dec);
}


static void
fuzz_amount(const char *in, size_t size)
{
    static const unsigned  decs[] = { 0, 1, 6, 18, 77 };
    x402_u256  v;
    char       dec[X402_U256_DEC_MAX], *want;
    size_t     i, k, frac, dot;
    unsigned   d;
    x402_err   rc;

    FUZZ_CHECK(x402_amount_parse(&v, in, size, 78) == X402_ERR_ARG);

    want = malloc(size + 80);
    FUZZ_CHECK(want != NULL);

    for (i = 0; i < sizeof(decs) / sizeof(decs[0]); i++) {
        d = decs[i];
        rc = x402_amount_parse(&v, in, size, d);
        if (rc != X402_OK) {
            FUZZ_CHECK(rc == X402_ERR_NUMBER || rc == X402_ERR_VALUE
                       || rc == X402_ERR_OVERFLOW);
            continue;
        }

        /* expected: the digits without the dot, padded to d decimals,
         * leading zeros stripped */
        k = 0;
        frac = 0;
        dot = 0;
        for (size_t j = 0; j < size; j++) {
            if (in[j] == '.') {
                FUZZ_CHECK(!dot);
                dot = 1;
                continue;
            }
            FUZZ_CHECK(in[j] >= '0' && in[j] <= '9');
            want[k++] = in[j];
            frac += dot;
        }
        FUZZ_CHECK(frac <= d);
        while (frac < d) {
            want[k++] = '0';
            frac++;
        }
        want[k] = '\0';
        for (dot = 0; dot + 1 < k && want[dot] == '0'; dot++) {
            /* void */
        }

        x402_u256_format_dec(dec, &v);
        FUZZ_CHECK(strcmp(dec, want + dot) == 0);

        /* the same as decimal u256, whose length bound (78 digits, also
         * for leading zeros) amounts do not have */
        if (d == 0 && size <= 78) {
            x402_u256  w;
            FUZZ_CHECK(x402_u256_parse_dec(&w, in, size) == X402_OK);
            FUZZ_CHECK(x402_u256_cmp(&v, &w) == 0);
        }
    }

    free(want);
}


static void
fuzz_address(const char *in, size_t size)
{
    x402_address  a, b;
    char         *txt;
    size_t        i;

    if (x402_address_parse(&a, in, size) != X402_OK) {
        return;
    }

    FUZZ_CHECK(size == 42);
    txt = malloc(X402_ADDRESS_STR_LEN);
    FUZZ_CHECK(txt != NULL);
    x402_address_format(txt, &a);
    FUZZ_CHECK(fuzz_strnlen_checked(txt, X402_ADDRESS_STR_LEN) == 42);
    for (i = 0; i < 42; i++) {
        FUZZ_CHECK(tolower((unsigned char) txt[i])
                   == tolower((unsigned char) in[i]));
    }
    FUZZ_CHECK(x402_address_parse(&b, txt, 42) == X402_OK);
    FUZZ_CHECK(x402_address_eq(&a, &b));
    FUZZ_CHECK(x402_address_is_zero(&a) == x402_address_is_zero(&b));
    free(txt);
}


static void
fuzz_network(const char *in, size_t size)
{
    uint64_t  id;
    char      buf[64];
    int       n;

    if (x402_network_parse(&id, in, size) != X402_OK) {
        return;
    }

    FUZZ_CHECK(id >= 1 && id <= ((uint64_t) 1 << 53));
    n = snprintf(buf, sizeof(buf), "eip155:%llu", (unsigned long long) id);
    FUZZ_CHECK((size_t) n == size && memcmp(buf, in, size) == 0);
}


static void
fuzz_scheme(const char *in, size_t size)
{
    x402_scheme   s;
    const char   *name;

    s = x402_scheme_parse(in, size);
    if (s == X402_SCHEME_UNKNOWN) {
        return;
    }
    name = x402_scheme_name(s);
    FUZZ_CHECK(name != NULL && strlen(name) == size
               && memcmp(name, in, size) == 0);
    FUZZ_CHECK(x402_scheme_spender(s) != NULL);
}


/* u256 arithmetic and the revert tables on raw bytes. */
static void
fuzz_raw(const uint8_t *raw, size_t size)
{
    x402_u256  a, b, s;
    uint64_t   u;
    x402_err   rc;

    if (size >= 4) {
        FUZZ_CHECK(x402_revert_reason(raw) < X402_R_MAX);
        FUZZ_CHECK(x402_settle_error_reason(raw) != NULL);
    }

    if (size < 64) {
        return;
    }

    memcpy(a.b, raw, 32);
    memcpy(b.b, raw + 32, 32);

    FUZZ_CHECK(x402_u256_cmp(&a, &b) == -x402_u256_cmp(&b, &a));
    rc = x402_u256_add(&s, &a, &b);
    if (rc == X402_OK) {
        FUZZ_CHECK(x402_u256_cmp(&s, &a) >= 0 && x402_u256_cmp(&s, &b) >= 0);
    } else {
        FUZZ_CHECK(rc == X402_ERR_OVERFLOW);
    }

    rc = x402_u256_to_u64(&u, &a);
    if (rc == X402_OK) {
        x402_u256_from_u64(&s, u);
        FUZZ_CHECK(x402_u256_cmp(&s, &a) == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *in;

    in = fuzz_dup(data, size);

    fuzz_base64(in, size, data);
    fuzz_hex(in, size);
    fuzz_u256(in, size);
    fuzz_amount(in, size);
    fuzz_address(in, size);
    fuzz_network(in, size);
    fuzz_scheme(in, size);
    fuzz_raw(data, size);

    free(in);
    return 0;
}
