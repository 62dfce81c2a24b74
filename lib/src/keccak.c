/*
 * Keccak-256 as Ethereum uses it: Keccak-f[1600], rate 136 bytes,
 * original padding 0x01 ... 0x80 (not the SHA3 0x06 domain byte).
 */

#include <string.h>

#include "x402.h"


#define X402_KECCAK_RATE 136


static const uint64_t x402_keccak_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
    0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL
};

#define X402_ROTL64(x, n)  (((x) << (n)) | ((x) >> (64 - (n))))

/* one row of chi: lanes y*5 .. y*5+4 of a from b */
#define X402_CHI(a, b, y)                                                     \
    a[y * 5 + 0] = b[y * 5 + 0] ^ (~b[y * 5 + 1] & b[y * 5 + 2]);             \
    a[y * 5 + 1] = b[y * 5 + 1] ^ (~b[y * 5 + 2] & b[y * 5 + 3]);             \
    a[y * 5 + 2] = b[y * 5 + 2] ^ (~b[y * 5 + 3] & b[y * 5 + 4]);             \
    a[y * 5 + 3] = b[y * 5 + 3] ^ (~b[y * 5 + 4] & b[y * 5 + 0]);             \
    a[y * 5 + 4] = b[y * 5 + 4] ^ (~b[y * 5 + 0] & b[y * 5 + 1])


/*
 * Keccak-f[1600], the steps written out (lane x + 5y): the looped form
 * spent most of a payment's hashing time on its index arithmetic.
 */
static void
x402_keccak_f1600(uint64_t a[25])
{
    uint64_t  b[25], c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    unsigned  r;

    for (r = 0; r < 24; r++) {

        /* theta */
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];

        d0 = c4 ^ X402_ROTL64(c1, 1);
        d1 = c0 ^ X402_ROTL64(c2, 1);
        d2 = c1 ^ X402_ROTL64(c3, 1);
        d3 = c2 ^ X402_ROTL64(c4, 1);
        d4 = c3 ^ X402_ROTL64(c0, 1);

        /* rho and pi: lane (x, y) rotated to (y, 2x + 3y) */
        b[0] = a[0] ^ d0;
        b[10] = X402_ROTL64(a[1] ^ d1, 1);
        b[20] = X402_ROTL64(a[2] ^ d2, 62);
        b[5] = X402_ROTL64(a[3] ^ d3, 28);
        b[15] = X402_ROTL64(a[4] ^ d4, 27);
        b[16] = X402_ROTL64(a[5] ^ d0, 36);
        b[1] = X402_ROTL64(a[6] ^ d1, 44);
        b[11] = X402_ROTL64(a[7] ^ d2, 6);
        b[21] = X402_ROTL64(a[8] ^ d3, 55);
        b[6] = X402_ROTL64(a[9] ^ d4, 20);
        b[7] = X402_ROTL64(a[10] ^ d0, 3);
        b[17] = X402_ROTL64(a[11] ^ d1, 10);
        b[2] = X402_ROTL64(a[12] ^ d2, 43);
        b[12] = X402_ROTL64(a[13] ^ d3, 25);
        b[22] = X402_ROTL64(a[14] ^ d4, 39);
        b[23] = X402_ROTL64(a[15] ^ d0, 41);
        b[8] = X402_ROTL64(a[16] ^ d1, 45);
        b[18] = X402_ROTL64(a[17] ^ d2, 15);
        b[3] = X402_ROTL64(a[18] ^ d3, 21);
        b[13] = X402_ROTL64(a[19] ^ d4, 8);
        b[14] = X402_ROTL64(a[20] ^ d0, 18);
        b[24] = X402_ROTL64(a[21] ^ d1, 2);
        b[9] = X402_ROTL64(a[22] ^ d2, 61);
        b[19] = X402_ROTL64(a[23] ^ d3, 56);
        b[4] = X402_ROTL64(a[24] ^ d4, 14);

        /* chi */
        X402_CHI(a, b, 0);
        X402_CHI(a, b, 1);
        X402_CHI(a, b, 2);
        X402_CHI(a, b, 3);
        X402_CHI(a, b, 4);

        /* iota */
        a[0] ^= x402_keccak_rc[r];
    }
}


static void
x402_keccak_xor_byte(uint64_t st[25], size_t pos, uint8_t b)
{
    st[pos / 8] ^= (uint64_t) b << (8 * (pos % 8));
}


void
x402_keccak_init(x402_keccak_ctx *k)
{
    memset(k, 0, sizeof(*k));
}


void
x402_keccak_update(x402_keccak_ctx *k, const uint8_t *in, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        x402_keccak_xor_byte(k->st, k->pos, in[i]);
        if (++k->pos == X402_KECCAK_RATE) {
            x402_keccak_f1600(k->st);
            k->pos = 0;
        }
    }
}


void
x402_keccak_final(x402_keccak_ctx *k, uint8_t out[32])
{
    size_t  i;

    /* pos < rate always holds here, so both pad bytes fit this block */
    x402_keccak_xor_byte(k->st, k->pos, 0x01);
    x402_keccak_xor_byte(k->st, X402_KECCAK_RATE - 1, 0x80);
    x402_keccak_f1600(k->st);

    for (i = 0; i < 32; i++) {
        out[i] = (uint8_t) (k->st[i / 8] >> (8 * (i % 8)));
    }

    memset(k, 0, sizeof(*k));
}


void
x402_keccak256(uint8_t out[32], const uint8_t *in, size_t len)
{
    x402_keccak_ctx  k;

    x402_keccak_init(&k);
    x402_keccak_update(&k, in, len);
    x402_keccak_final(&k, out);
}
