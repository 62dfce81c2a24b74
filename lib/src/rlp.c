/*
 * Recursive Length Prefix encoding (Ethereum yellow paper, appendix B):
 * byte strings, list headers and unsigned integers, into a bounded buffer
 * or, with a NULL buffer, only counted.
 */

#include <stdint.h>
#include <string.h>

#include "x402.h"
#include "x402_internal.h"


void
x402_rlp_init(x402_rlp *r, uint8_t *out, size_t cap)
{
    r->p = out;
    r->cap = out == NULL ? 0 : cap;
    r->len = 0;
    r->full = 0;
}


void
x402_rlp_raw(x402_rlp *r, const uint8_t *s, size_t n)
{
    if (r->full || n > SIZE_MAX - r->len) {
        r->full = 1;
        return;
    }

    if (r->p != NULL) {
        if (r->cap - r->len < n) {
            r->full = 1;
            return;
        }
        if (n != 0) {
            memcpy(r->p + r->len, s, n);
        }
    }

    r->len += n;
}


/* A short header (offset + len) or a long one (offset + 55 + the byte
 * count of len, then len big-endian without leading zeros). */
static void
x402_rlp_header(x402_rlp *r, uint8_t offset, size_t len)
{
    uint8_t  h[1 + sizeof(size_t)];
    size_t   n, i;

    if (len <= 55) {
        h[0] = (uint8_t) (offset + len);
        x402_rlp_raw(r, h, 1);
        return;
    }

    n = 0;
    for (i = len; i != 0; i >>= 8) {
        n++;
    }

    h[0] = (uint8_t) (offset + 55 + n);
    for (i = 0; i < n; i++) {
        h[n - i] = (uint8_t) (len >> (8 * i));
    }

    x402_rlp_raw(r, h, 1 + n);
}


void
x402_rlp_bytes(x402_rlp *r, const uint8_t *s, size_t n)
{
    /* a single byte below 0x80 is its own encoding */
    if (n != 1 || s[0] >= 0x80) {
        x402_rlp_header(r, 0x80, n);
    }

    x402_rlp_raw(r, s, n);
}


void
x402_rlp_uint(x402_rlp *r, const uint8_t *be, size_t n)
{
    while (n != 0 && be[0] == 0) {
        be++;
        n--;
    }

    x402_rlp_bytes(r, be, n);
}


void
x402_rlp_u64(x402_rlp *r, uint64_t v)
{
    uint8_t  be[8];
    size_t   i;

    for (i = 0; i < 8; i++) {
        be[7 - i] = (uint8_t) (v >> (8 * i));
    }

    x402_rlp_uint(r, be, sizeof(be));
}


void
x402_rlp_list(x402_rlp *r, size_t payload_len)
{
    x402_rlp_header(r, 0xc0, payload_len);
}
