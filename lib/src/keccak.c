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

/* rho rotation offsets and pi lane order, walked along the pi cycle */
static const unsigned x402_keccak_rotc[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14,
    27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44
};

static const unsigned x402_keccak_piln[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4,
    15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1
};


#define X402_ROTL64(x, n)  (((x) << (n)) | ((x) >> (64 - (n))))


static void
x402_keccak_f1600(uint64_t st[25])
{
    uint64_t  bc[5], t;
    unsigned  i, j, r;

    for (r = 0; r < 24; r++) {

        /* theta */
        for (i = 0; i < 5; i++) {
            bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
        }

        for (i = 0; i < 5; i++) {
            t = bc[(i + 4) % 5] ^ X402_ROTL64(bc[(i + 1) % 5], 1);
            for (j = 0; j < 25; j += 5) {
                st[j + i] ^= t;
            }
        }

        /* rho and pi */
        t = st[1];
        for (i = 0; i < 24; i++) {
            j = x402_keccak_piln[i];
            bc[0] = st[j];
            st[j] = X402_ROTL64(t, x402_keccak_rotc[i]);
            t = bc[0];
        }

        /* chi */
        for (j = 0; j < 25; j += 5) {
            for (i = 0; i < 5; i++) {
                bc[i] = st[j + i];
            }
            for (i = 0; i < 5; i++) {
                st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
            }
        }

        /* iota */
        st[0] ^= x402_keccak_rc[r];
    }
}


/* XOR one byte into the little-endian lane state: endian-independent. */
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
