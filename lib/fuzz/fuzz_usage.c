/*
 * What the upto metering reads from the network: the client's request body
 * → x402_request_model(), and the upstream's response → x402_usage_feed()
 * / x402_usage_finish() (a JSON reply or an SSE stream), then
 * x402_usage_charge().
 *
 * Input: byte 0 = flags (bit 0: SSE; bits 1..7: seed of the chunking),
 * the rest is the body.
 *
 * Invariants: the result does not depend on how the body is cut into
 * pieces (one piece vs. pseudo-random pieces vs. byte by byte for short
 * bodies); a second finish changes nothing; the charge never exceeds the
 * cap; a model is NUL-terminated inside every capacity (heap buffers of
 * the exact size), without control characters, and the same text for
 * every capacity it fits.
 */

#include "fuzz_common.h"


static void
fuzz_feed(x402_usage *u, int sse, const char *p, size_t len, unsigned seed,
    int bytewise)
{
    size_t  off, n;

    x402_usage_init(u, sse);
    for (off = 0; off < len; off += n) {
        if (bytewise) {
            n = 1;
        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 97;
        }
        if (n > len - off) {
            n = len - off;
        }
        x402_usage_feed(u, p + off, n);
    }
    x402_usage_finish(u);
}


static int
fuzz_same(const x402_usage *a, const x402_usage *b)
{
    return a->has_usage == b->has_usage
        && a->prompt_tokens == b->prompt_tokens
        && a->completion_tokens == b->completion_tokens
        && a->streamed_tokens == b->streamed_tokens
        && a->done == b->done
        && a->overflow == b->overflow;
}


static void
fuzz_model(const char *body, size_t len)
{
    static const size_t  caps[] = { 1, 2, 8, 64, 256 };
    char      full[1024], *out;
    size_t    i, n, full_len;
    x402_err  rc, rc2;

    rc = x402_request_model(full, sizeof(full), body, len);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_MISSING
               || rc == X402_ERR_TYPE || rc == X402_ERR_SIZE);
    full_len = fuzz_strnlen_checked(full, sizeof(full));
    if (rc == X402_OK) {
        for (i = 0; i < full_len; i++) {
            FUZZ_CHECK((unsigned char) full[i] >= 0x20 && full[i] != 0x7f);
        }
    }

    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        out = malloc(caps[i]);
        FUZZ_CHECK(out != NULL);
        rc2 = x402_request_model(out, caps[i], body, len);
        n = fuzz_strnlen_checked(out, caps[i]);
        if (rc == X402_OK && full_len < caps[i]) {
            FUZZ_CHECK(rc2 == X402_OK && n == full_len
                       && memcmp(out, full, n) == 0);
        } else if (rc == X402_OK) {
            FUZZ_CHECK(rc2 == X402_ERR_SIZE);
        } else if (rc != X402_ERR_SIZE) {
            FUZZ_CHECK(rc2 == rc);
        }
        free(out);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    x402_usage  *a, *b;
    x402_u256    in, outp, cap, charge;
    char        *body;
    size_t       len;
    int          sse, clamped;
    unsigned     seed;

    if (size == 0) {
        return 0;
    }

    sse = data[0] & 1;
    seed = data[0] >> 1;
    len = size - 1;
    body = fuzz_dup(data + 1, len);

    fuzz_model(body, len);

    a = malloc(sizeof(*a));
    b = malloc(sizeof(*b));
    FUZZ_CHECK(a != NULL && b != NULL);

    fuzz_feed(a, sse, body, len, seed, 0);
    FUZZ_CHECK(a->done == 0 || a->done == 1);
    FUZZ_CHECK(a->overflow == 0 || a->overflow == 1);
    if (!sse) {
        FUZZ_CHECK(a->streamed_tokens == 0 && !a->done);
    }

    fuzz_feed(b, sse, body, len, 0, 0);
    FUZZ_CHECK(fuzz_same(a, b));
    if (len <= 512) {
        fuzz_feed(b, sse, body, len, 0, 1);
        FUZZ_CHECK(fuzz_same(a, b));
    }
    /* one piece */
    x402_usage_init(b, sse);
    x402_usage_feed(b, body, len);
    x402_usage_finish(b);
    FUZZ_CHECK(fuzz_same(a, b));
    x402_usage_finish(b);
    FUZZ_CHECK(fuzz_same(a, b));

    /* the charge: 0.002 / 0.006 per 1k tokens (6 decimals), cap 10^6 */
    x402_u256_from_u64(&in, 2000);
    x402_u256_from_u64(&outp, 6000);
    x402_u256_from_u64(&cap, 1000000);
    clamped = -1;
    x402_usage_charge(&charge, &clamped, a->prompt_tokens,
                      a->completion_tokens, &in, &outp, &cap);
    FUZZ_CHECK(clamped == 0 || clamped == 1);
    FUZZ_CHECK(x402_u256_cmp(&charge, &cap) <= 0);
    if (clamped) {
        FUZZ_CHECK(x402_u256_cmp(&charge, &cap) == 0);
    }

    free(b);
    free(a);
    free(body);
    return 0;
}
