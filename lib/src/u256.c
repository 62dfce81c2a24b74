/*
 * 256-bit unsigned integers as 32 big-endian bytes: parsing, decimal
 * formatting, comparison, and decimal token amounts.
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_U256_DEC_DIGITS  78    /* 2^256 - 1 has 78 decimal digits */
#define X402_U256_HEX_DIGITS  64


/* v = v * mul + add; returns the carry out of the top byte (0: fits). */
static unsigned
x402_u256_mul_add(x402_u256 *v, unsigned mul, unsigned add)
{
    unsigned  acc;
    int       i;

    acc = add;

    for (i = 31; i >= 0; i--) {
        acc += (unsigned) v->b[i] * mul;
        v->b[i] = (uint8_t) acc;
        acc >>= 8;
    }

    return acc;
}


x402_err
x402_u256_parse_dec(x402_u256 *out, const char *s, size_t len)
{
    size_t  i;

    if (out == NULL || (s == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    if (len == 0) {
        return X402_ERR_NUMBER;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return X402_ERR_NUMBER;
        }
    }

    /*
     * a length bound even with leading zeros, as
     * docs/protocol.md#numbers-and-addresses asks
     */
    if (len > X402_U256_DEC_DIGITS) {
        return X402_ERR_OVERFLOW;
    }

    memset(out, 0, sizeof(*out));

    for (i = 0; i < len; i++) {
        if (x402_u256_mul_add(out, 10, (unsigned) (s[i] - '0')) != 0) {
            return X402_ERR_OVERFLOW;
        }
    }

    return X402_OK;
}


x402_err
x402_u256_parse(x402_u256 *out, const char *s, size_t len)
{
    size_t  i, n;
    int     d;

    if (out == NULL || (s == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    if (len < 2 || s[0] != '0' || s[1] != 'x') {
        return x402_u256_parse_dec(out, s, len);
    }

    s += 2;
    n = len - 2;

    if (n == 0) {
        return X402_ERR_NUMBER;
    }

    for (i = 0; i < n; i++) {
        if (x402_hex_digit(s[i]) < 0) {
            return X402_ERR_NUMBER;
        }
    }

    if (n > X402_U256_HEX_DIGITS) {
        return X402_ERR_OVERFLOW;
    }

    memset(out, 0, sizeof(*out));

    /* fill from the least significant nibble */
    for (i = 0; i < n; i++) {
        d = x402_hex_digit(s[n - 1 - i]);
        out->b[31 - i / 2] |= (uint8_t) (i % 2 ? d << 4 : d);
    }

    return X402_OK;
}


void
x402_u256_format_dec(char out[X402_U256_DEC_MAX], const x402_u256 *v)
{
    char      tmp[X402_U256_DEC_MAX];
    size_t    n, i, top;
    uint32_t  w[8];
    uint64_t  cur, rem;
    unsigned  k;

    /* 32-bit limbs, most significant first: nine digits per division */
    for (i = 0; i < 8; i++) {
        w[i] = (uint32_t) v->b[4 * i] << 24 | (uint32_t) v->b[4 * i + 1] << 16
               | (uint32_t) v->b[4 * i + 2] << 8 | v->b[4 * i + 3];
    }

    for (top = 0; top < 8 && w[top] == 0; top++) { /* void */ }

    n = 0;

    do {
        rem = 0;

        for (i = top; i < 8; i++) {
            cur = rem << 32 | w[i];
            w[i] = (uint32_t) (cur / 1000000000u);
            rem = cur % 1000000000u;
        }

        while (top < 8 && w[top] == 0) {
            top++;
        }

        /* nine digits, or what is left of the most significant group */
        for (k = 0; k < 9; k++) {
            tmp[n++] = (char) ('0' + rem % 10);
            rem /= 10;

            if (top == 8 && rem == 0) {
                break;
            }
        }

    } while (top < 8);

    for (i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }

    out[n] = '\0';
}


void
x402_u256_from_u64(x402_u256 *out, uint64_t v)
{
    int  i;

    memset(out, 0, sizeof(*out));

    for (i = 31; i >= 24; i--) {
        out->b[i] = (uint8_t) v;
        v >>= 8;
    }
}


int
x402_u256_cmp(const x402_u256 *a, const x402_u256 *b)
{
    int  r;

    r = memcmp(a->b, b->b, 32);

    return (r > 0) - (r < 0);
}


x402_err
x402_u256_to_u64(uint64_t *out, const x402_u256 *v)
{
    uint64_t  r;
    int       i;

    for (i = 0; i < 24; i++) {
        if (v->b[i] != 0) {
            return X402_ERR_OVERFLOW;
        }
    }

    r = 0;

    for (i = 24; i < 32; i++) {
        r = (r << 8) | v->b[i];
    }

    *out = r;

    return X402_OK;
}


x402_err
x402_amount_parse(x402_u256 *out, const char *s, size_t len,
    unsigned decimals)
{
    size_t    i, int_len, frac_len;
    unsigned  k;

    if (out == NULL || (s == NULL && len != 0) || decimals > 77) {
        return X402_ERR_ARG;
    }

    int_len = 0;
    while (int_len < len && s[int_len] >= '0' && s[int_len] <= '9') {
        int_len++;
    }

    if (int_len == 0) {
        return X402_ERR_NUMBER;     /* "", ".5", "-1", "+1", " 1" */
    }

    frac_len = 0;

    if (int_len < len) {
        if (s[int_len] != '.') {
            return X402_ERR_NUMBER; /* "1e5", "1 " */
        }

        for (i = int_len + 1; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return X402_ERR_NUMBER;
            }
        }

        frac_len = len - int_len - 1;

        if (frac_len == 0) {
            return X402_ERR_NUMBER; /* "1." */
        }
    }

    if (frac_len > decimals) {
        return X402_ERR_VALUE;
    }

    memset(out, 0, sizeof(*out));

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            continue;
        }
        if (x402_u256_mul_add(out, 10, (unsigned) (s[i] - '0')) != 0) {
            return X402_ERR_OVERFLOW;
        }
    }

    for (k = (unsigned) frac_len; k < decimals; k++) {
        if (x402_u256_mul_add(out, 10, 0) != 0) {
            return X402_ERR_OVERFLOW;
        }
    }

    return X402_OK;
}


x402_err
x402_u256_add(x402_u256 *out, const x402_u256 *a, const x402_u256 *b)
{
    int       i;
    unsigned  sum, carry;

    carry = 0;

    for (i = 31; i >= 0; i--) {
        sum = (unsigned) a->b[i] + b->b[i] + carry;
        out->b[i] = (uint8_t) sum;
        carry = sum >> 8;
    }

    return carry ? X402_ERR_OVERFLOW : X402_OK;
}


x402_err
x402_u256_sub(x402_u256 *out, const x402_u256 *a, const x402_u256 *b)
{
    int  i, d, borrow;

    borrow = 0;

    for (i = 31; i >= 0; i--) {
        d = (int) a->b[i] - (int) b->b[i] - borrow;
        borrow = d < 0;
        out->b[i] = (uint8_t) (d + (borrow ? 256 : 0));
    }

    return borrow ? X402_ERR_OVERFLOW : X402_OK;
}


/* Schoolbook on 32-bit limbs: every partial sum fits in 64 bits. */
x402_err
x402_u256_mul_u64(x402_u256 *out, const x402_u256 *a, uint64_t m)
{
    uint32_t  x[8], r[10], mh[2];
    uint64_t  acc;
    int       i, j;

    for (i = 0; i < 8; i++) {       /* x[0] least significant */
        x[i] = (uint32_t) a->b[31 - 4 * i]
               | (uint32_t) a->b[30 - 4 * i] << 8
               | (uint32_t) a->b[29 - 4 * i] << 16
               | (uint32_t) a->b[28 - 4 * i] << 24;
    }

    mh[0] = (uint32_t) m;
    mh[1] = (uint32_t) (m >> 32);
    memset(r, 0, sizeof(r));

    for (j = 0; j < 2; j++) {
        acc = 0;
        for (i = 0; i < 8; i++) {
            acc += (uint64_t) x[i] * mh[j] + r[i + j];
            r[i + j] = (uint32_t) acc;
            acc >>= 32;
        }
        r[8 + j] = (uint32_t) acc;
    }

    if (r[8] != 0 || r[9] != 0) {
        return X402_ERR_OVERFLOW;
    }

    for (i = 0; i < 8; i++) {
        out->b[31 - 4 * i] = (uint8_t) r[i];
        out->b[30 - 4 * i] = (uint8_t) (r[i] >> 8);
        out->b[29 - 4 * i] = (uint8_t) (r[i] >> 16);
        out->b[28 - 4 * i] = (uint8_t) (r[i] >> 24);
    }

    return X402_OK;
}


/* Bitwise long division: the remainder stays below d < 2^64, with the bit
 * shifted out of it kept apart. */
uint64_t
x402_u256_div_u64(x402_u256 *out, const x402_u256 *a, uint64_t d)
{
    uint64_t  rem, top;
    uint8_t   q;
    int       i, k;

    rem = 0;

    for (i = 0; i < 32; i++) {
        q = 0;
        for (k = 7; k >= 0; k--) {
            top = rem >> 63;
            rem = (rem << 1) | ((a->b[i] >> k) & 1);
            q = (uint8_t) (q << 1);
            if (top || rem >= d) {
                rem -= d;
                q |= 1;
            }
        }
        out->b[i] = q;
    }

    return rem;
}


void
x402_amount_format(char out[X402_AMOUNT_STR_MAX], const x402_u256 *v,
    unsigned decimals)
{
    char    dec[X402_U256_DEC_MAX];
    size_t  len, ilen, zeros, flen;
    char   *p;

    x402_u256_format_dec(dec, v);
    len = strlen(dec);
    p = out;

    if (decimals > 77) {
        decimals = 77;
    }

    if (len > decimals) {
        ilen = len - decimals;
        memcpy(p, dec, ilen);
        p += ilen;
        zeros = 0;

    } else {
        ilen = 0;
        *p++ = '0';
        zeros = decimals - len;
    }

    /* the fraction without its trailing zeros */
    flen = len - ilen;

    while (flen > 0 && dec[ilen + flen - 1] == '0') {
        flen--;
    }

    if (flen > 0) {
        *p++ = '.';
        memset(p, '0', zeros);
        p += zeros;
        memcpy(p, dec + ilen, flen);
        p += flen;
    }

    *p = '\0';
}
