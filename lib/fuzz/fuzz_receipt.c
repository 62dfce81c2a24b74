/*
 * A stored receipt (read back from Redis by the reconciler,
 * ngx_http_x402_reconcile.c) → x402_receipt_peek() and
 * x402_receipt_update().  Redis is ours, but its content outlives
 * versions and is writable by anyone with access to it: treat it as input.
 *
 * Invariants: status NUL-terminated inside every status_cap (heap buffers
 * of the exact size) and a prefix-consistent result across capacities;
 * tx NUL-terminated inside its 67 bytes; an update fits its stated
 * capacity, is NUL-terminated, never succeeds into a too-small buffer, and
 * peeks back with the new status and time and the old transaction.
 */

#include "fuzz_common.h"


#define FUZZ_BIG_CAP  4096


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t  caps[] = { 0, 1, 9, 16, 64 };
    char      *json, *status, *tx, *out, big[FUZZ_BIG_CAP], tx0[67];
    size_t     i, n, big_len, cap, len;
    uint64_t   updated, updated0;
    x402_err   rc, rc0;

    json = fuzz_dup(data, size);
    tx = malloc(67);
    FUZZ_CHECK(tx != NULL);

    rc0 = x402_receipt_peek(big, sizeof(big), tx0, &updated0, json, size);
    FUZZ_CHECK(rc0 == X402_OK || rc0 == X402_ERR_JSON
               || rc0 == X402_ERR_MISSING || rc0 == X402_ERR_TYPE);
    big_len = 0;
    if (rc0 == X402_OK) {
        big_len = fuzz_strnlen_checked(big, sizeof(big));
        FUZZ_CHECK(fuzz_strnlen_checked(tx0, 67) <= 66);
    }

    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        status = malloc(caps[i] ? caps[i] : 1);
        FUZZ_CHECK(status != NULL);
        rc = x402_receipt_peek(status, caps[i], tx, &updated, json, size);
        if (rc == X402_OK) {
            FUZZ_CHECK(rc0 == X402_OK);
            n = fuzz_strnlen_checked(status, caps[i]);
            FUZZ_CHECK(n == big_len && memcmp(status, big, n) == 0);
            FUZZ_CHECK(strcmp(tx, tx0) == 0 && updated == updated0);
        } else if (rc0 == X402_OK) {
            /* only a status that does not fit */
            FUZZ_CHECK(rc == X402_ERR_TYPE && big_len >= caps[i]);
        }
        free(status);
    }

    /* the reconciler's rewrite */
    cap = size + 256;
    out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    len = cap;
    rc = x402_receipt_update(out, &len, json, size, "failed",
                             "permit2_invalid_nonce", FUZZ_NOW);
    if (rc == X402_OK) {
        FUZZ_CHECK(len < cap && out[len] == '\0' && strlen(out) == len);
        if (rc0 == X402_OK) {
            rc = x402_receipt_peek(big, sizeof(big), tx, &updated, out, len);
            FUZZ_CHECK(rc == X402_OK);
            FUZZ_CHECK(strcmp(big, "failed") == 0 && updated == FUZZ_NOW);
            FUZZ_CHECK(strcmp(tx, tx0) == 0);
        }

        /* one byte short (no room for the NUL): an error, no overflow */
        free(out);
        cap = len;
        out = malloc(cap ? cap : 1);
        FUZZ_CHECK(out != NULL);
        rc = x402_receipt_update(out, &cap, json, size, "failed",
                                 "permit2_invalid_nonce", FUZZ_NOW);
        FUZZ_CHECK(rc == X402_ERR_BUFFER);
    } else {
        FUZZ_CHECK(rc == X402_ERR_JSON || rc == X402_ERR_MISSING
                   || rc == X402_ERR_NOMEM || rc == X402_ERR_BUFFER);
    }
    free(out);

    /* and without an error text */
    cap = 64;
    out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    rc = x402_receipt_update(out, &cap, json, size, "settled", NULL, 1);
    if (rc == X402_OK) {
        FUZZ_CHECK(cap < 64 && out[cap] == '\0');
    }
    free(out);

    free(tx);
    free(json);
    return 0;
}
