/*
 * Hex codec (no "0x" prefix handling here; callers strip it).
 */

#include "x402.h"
#include "x402_internal.h"


int
x402_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


x402_err
x402_hex_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len)
{
    size_t  i;
    int     hi, lo;

    if (out_len == NULL || (in == NULL && in_len != 0)) {
        return X402_ERR_ARG;
    }

    if (in_len % 2 != 0) {
        return X402_ERR_HEX;
    }

    if (*out_len < in_len / 2 || (out == NULL && in_len != 0)) {
        return X402_ERR_BUFFER;
    }

    for (i = 0; i < in_len; i += 2) {
        hi = x402_hex_digit(in[i]);
        lo = x402_hex_digit(in[i + 1]);
        if (hi < 0 || lo < 0) {
            return X402_ERR_HEX;
        }
        out[i / 2] = (uint8_t) ((hi << 4) | lo);
    }

    *out_len = in_len / 2;

    return X402_OK;
}


void
x402_hex_encode(char *out, const uint8_t *in, size_t len)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }

    out[2 * len] = '\0';
}
