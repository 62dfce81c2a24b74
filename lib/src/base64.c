/*
 * Standard base64 (RFC 4648 section 4).  Decoding follows the reference
 * (regex ^[A-Za-z0-9+/]*={0,2}$, then atob): padding is optional, but
 * when present the total length must be a multiple of 4.
 */

#include "x402.h"


static const char  x402_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static int
x402_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


size_t
x402_base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}


size_t
x402_base64_decoded_max(size_t len)
{
    return (len + 3) / 4 * 3;
}


x402_err
x402_base64_decode(uint8_t *out, size_t *out_len, const char *in,
    size_t in_len)
{
    size_t    i, n, o, need;
    uint32_t  acc;
    int       v, bits;

    if (out_len == NULL || (in == NULL && in_len != 0)) {
        return X402_ERR_ARG;
    }

    n = in_len;

    /* strip up to two '=', allowed only on a 4-aligned input */
    if (n > 0 && in[n - 1] == '=') {
        if (n % 4 != 0) {
            return X402_ERR_BASE64;
        }
        n--;
        if (in[n - 1] == '=') {
            n--;
        }
    }

    if (n % 4 == 1) {
        return X402_ERR_BASE64;
    }

    need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);

    if (*out_len < need) {
        return X402_ERR_BUFFER;
    }

    if (out == NULL && need != 0) {
        return X402_ERR_ARG;
    }

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < n; i++) {
        v = x402_b64_value(in[i]);
        if (v < 0) {
            return X402_ERR_BASE64;     /* also a third '=' or inner '=' */
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* leftover bits are ignored, as atob and Buffer do */

    *out_len = o;

    return X402_OK;
}


x402_err
x402_base64_encode(char *out, size_t out_cap, const uint8_t *in, size_t len)
{
    size_t    i, o;
    uint32_t  w;

    if (out == NULL || (in == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    if (len > ((size_t) -1 - 3) / 4 * 3
        || out_cap < x402_base64_encoded_len(len) + 1)
    {
        return X402_ERR_BUFFER;
    }

    o = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        w = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];
        out[o++] = x402_b64_alphabet[(w >> 18) & 0x3f];
        out[o++] = x402_b64_alphabet[(w >> 12) & 0x3f];
        out[o++] = x402_b64_alphabet[(w >> 6) & 0x3f];
        out[o++] = x402_b64_alphabet[w & 0x3f];
    }

    if (len - i == 1) {
        w = (uint32_t) in[i] << 16;
        out[o++] = x402_b64_alphabet[(w >> 18) & 0x3f];
        out[o++] = x402_b64_alphabet[(w >> 12) & 0x3f];
        out[o++] = '=';
        out[o++] = '=';

    } else if (len - i == 2) {
        w = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);
        out[o++] = x402_b64_alphabet[(w >> 18) & 0x3f];
        out[o++] = x402_b64_alphabet[(w >> 12) & 0x3f];
        out[o++] = x402_b64_alphabet[(w >> 6) & 0x3f];
        out[o++] = '=';
    }

    out[o] = '\0';

    return X402_OK;
}
