/*
 * What the upto metering reads from the network: the client's request body
 * → x402_request_model() and x402_request_usage_prepare(), and the
 * upstream's response → x402_usage_feed() / x402_usage_finish() (a JSON
 * reply or an SSE stream, scanned in bounded memory whatever its size),
 * then x402_usage_charge().
 *
 * Input: byte 0 = flags (bit 0: SSE; bits 1..7: seed of the chunking),
 * the rest is the body.
 *
 * Invariants: the result does not depend on how the body is cut into
 * pieces (one piece vs. pseudo-random pieces vs. byte by byte for short
 * bodies); a second finish changes nothing; the charge never exceeds the
 * cap; a model is NUL-terminated inside every capacity (heap buffers of
 * the exact size), without control characters, and the same text for
 * every capacity it fits.  A prepared request: the prompt estimate is at
 * most ceil(len / 4); a rewritten body fits the length asked for exactly
 * (one byte less is X402_ERR_BUFFER), is a JSON object with "stream" and
 * stream_options.include_usage true that needs no second rewrite, and an
 * inserted member leaves every other byte of the body as it was.
 */

#include <jansson.h>

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


static void
fuzz_prepare(const char *body, size_t len)
{
    static const char  ins[] = ",\"stream_options\":{\"include_usage\":true}";
    json_error_t       jerr;
    json_t            *root, *so;
    char              *out;
    size_t             need, out_len, n, end;
    uint64_t           prompt, prompt2;
    int                stream, stream2;
    x402_err           rc;

    out_len = 0;
    rc = x402_request_usage_prepare(NULL, &out_len, &stream, &prompt, body,
                                    len);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_TYPE
               || rc == X402_ERR_BUFFER);
    FUZZ_CHECK(stream == 0 || stream == 1);
    FUZZ_CHECK(prompt <= len / 4 + (len % 4 != 0));
    if (rc == X402_ERR_JSON) {
        FUZZ_CHECK(stream == 0 && prompt == 0 && out_len == 0);
    }
    if (rc != X402_ERR_BUFFER) {
        FUZZ_CHECK(out_len == 0);
        FUZZ_CHECK(rc != X402_ERR_TYPE || stream);
        return;
    }

    /* a rewrite: exactly the length it asked for, no NUL then */
    need = out_len;
    FUZZ_CHECK(stream == 1 && need > 0);
    out = malloc(need);
    FUZZ_CHECK(out != NULL);
    out_len = need - 1;
    FUZZ_CHECK(x402_request_usage_prepare(out, &out_len, &stream2, &prompt2,
               body, len) == X402_ERR_BUFFER && out_len == need);
    out_len = need;
    FUZZ_CHECK(x402_request_usage_prepare(out, &out_len, &stream2, &prompt2,
               body, len) == X402_OK && out_len == need);
    FUZZ_CHECK(stream2 == 1 && prompt2 == prompt);

    root = json_loadb(out, need, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(json_is_object(root));
    FUZZ_CHECK(json_is_true(json_object_get(root, "stream")));
    so = json_object_get(root, "stream_options");
    FUZZ_CHECK(json_is_true(json_object_get(so, "include_usage")));
    json_decref(root);

    /* a second pass has nothing to do */
    out_len = 0;
    FUZZ_CHECK(x402_request_usage_prepare(NULL, &out_len, &stream2,
               &prompt2, out, need) == X402_OK && out_len == 0);
    FUZZ_CHECK(stream2 == 1);

    /* without "stream_options": inserted as text before the last brace,
     * the body around it untouched */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(json_is_object(root));
    if (json_object_get(root, "stream_options") == NULL) {
        n = sizeof(ins) - 1;
        end = len;
        while (end > 0 && strchr(" \t\r\n", body[end - 1]) != NULL
               && body[end - 1] != '\0')
        {
            end--;
        }
        FUZZ_CHECK(end > 0 && body[end - 1] == '}');
        end--;
        FUZZ_CHECK(need == len + n);
        FUZZ_CHECK(memcmp(out, body, end) == 0);
        FUZZ_CHECK(memcmp(out + end, ins, n) == 0);
        FUZZ_CHECK(memcmp(out + end + n, body + end, len - end) == 0);
    }
    json_decref(root);

    free(out);
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
    fuzz_prepare(body, len);

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
