/*
 * A facilitator's reply (facilitator mode,
 * docs/protocol.md#facilitator-api) → x402_verify_response_parse() and
 * x402_settle_response_parse().
 *
 * Invariants: only the documented errors; booleans are 0 or 1; for every
 * reason capacity (heap buffers of the exact size) the reason is
 * NUL-terminated inside it, free of control characters, valid UTF-8, and a
 * prefix of the untruncated reason; the same result for every capacity;
 * tx is printable ASCII (0x21..0x7e) inside tx_cap, a tx_cap too small is
 * X402_ERR_BUFFER; a payer, when present, formats to a 42-character
 * address.
 */

#include "fuzz_common.h"


/* Structurally valid UTF-8 (overlongs and surrogates: jansson's job). */
static int
fuzz_utf8_ok(const unsigned char *s, size_t n)
{
    size_t  i, k, need;

    for (i = 0; i < n; i += need + 1) {
        if (s[i] < 0x80) {
            need = 0;
        } else if ((s[i] & 0xe0) == 0xc0) {
            need = 1;
        } else if ((s[i] & 0xf0) == 0xe0) {
            need = 2;
        } else if ((s[i] & 0xf8) == 0xf0) {
            need = 3;
        } else {
            return 0;
        }
        if (need > 0 && i + need >= n) {
            return 0;
        }
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
    }
    return 1;
}


static size_t
fuzz_reason_check(const char *r, size_t cap)
{
    size_t  n, i;

    n = fuzz_strnlen_checked(r, cap);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK((unsigned char) r[i] >= 0x20 && r[i] != 0x7f);
    }
    FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *) r, n));
    return n;
}


static const size_t fuzz_caps[] = { 1, 2, 3, 4, 5, 17, 64 };
#define FUZZ_NCAPS (sizeof(fuzz_caps) / sizeof(fuzz_caps[0]))


static void
fuzz_verify(const char *json, size_t size)
{
    static char   full[X402_FACILITATOR_REASON_MAX];
    char          payer_txt[X402_ADDRESS_STR_LEN], *r;
    int           valid, has_payer, valid2, has_payer2;
    size_t        i, n, full_len;
    x402_err      rc, rc2;
    x402_address  payer, payer2;

    valid = -1;
    has_payer = -1;
    rc = x402_verify_response_parse(&valid, full, sizeof(full), &payer,
                                    &has_payer, json, size);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_MISSING || rc == X402_ERR_TYPE
               || rc == X402_ERR_VALUE);
    if (rc != X402_OK) {
        return;
    }

    FUZZ_CHECK(valid == 0 || valid == 1);
    FUZZ_CHECK(has_payer == 0 || has_payer == 1);
    full_len = fuzz_reason_check(full, sizeof(full));
    if (has_payer) {
        x402_address_format(payer_txt, &payer);
        FUZZ_CHECK(strlen(payer_txt) == 42);
    }

    rc2 = x402_verify_response_parse(&valid2, NULL, 0, &payer2, &has_payer2,
                                     json, size);
    FUZZ_CHECK(rc2 == X402_OK && valid2 == valid && has_payer2 == has_payer);

    for (i = 0; i < FUZZ_NCAPS; i++) {
        r = malloc(fuzz_caps[i]);
        FUZZ_CHECK(r != NULL);
        rc2 = x402_verify_response_parse(&valid2, r, fuzz_caps[i], &payer2,
                                         &has_payer2, json, size);
        FUZZ_CHECK(rc2 == X402_OK && valid2 == valid);
        n = fuzz_reason_check(r, fuzz_caps[i]);
        FUZZ_CHECK(n <= full_len && memcmp(r, full, n) == 0);
        /* cut only as far as needed to end on a character */
        FUZZ_CHECK(n + 4 > fuzz_caps[i] - 1 || n == full_len);
        free(r);
    }
}


static void
fuzz_settle(const char *json, size_t size)
{
    static char   full[X402_FACILITATOR_REASON_MAX];
    char         *r, *tx, tx_full[X402_TX_HASH_TEXT_LEN + 64];
    int           success, success2;
    size_t        i, n, full_len, tx_len;
    x402_err      rc, rc2;

    success = -1;
    rc = x402_settle_response_parse(&success, full, sizeof(full), tx_full,
                                    sizeof(tx_full), json, size);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_MISSING || rc == X402_ERR_TYPE
               || rc == X402_ERR_VALUE || rc == X402_ERR_BUFFER);
    if (rc != X402_OK) {
        return;
    }

    FUZZ_CHECK(success == 0 || success == 1);
    full_len = fuzz_reason_check(full, sizeof(full));
    tx_len = fuzz_strnlen_checked(tx_full, sizeof(tx_full));
    for (i = 0; i < tx_len; i++) {
        FUZZ_CHECK(tx_full[i] >= 0x21 && tx_full[i] <= 0x7e);
    }

    /* tx exactly as large as needed works; one less is BUFFER */
    tx = malloc(tx_len + 1);
    FUZZ_CHECK(tx != NULL);
    rc2 = x402_settle_response_parse(&success2, NULL, 0, tx, tx_len + 1,
                                     json, size);
    FUZZ_CHECK(rc2 == X402_OK && success2 == success
               && strcmp(tx, tx_full) == 0);
    if (tx_len > 0) {
        rc2 = x402_settle_response_parse(&success2, NULL, 0, tx, tx_len,
                                         json, size);
        FUZZ_CHECK(rc2 == X402_ERR_BUFFER);
    }
    free(tx);

    tx = malloc(X402_TX_HASH_TEXT_LEN + 64);
    FUZZ_CHECK(tx != NULL);
    for (i = 0; i < FUZZ_NCAPS; i++) {
        r = malloc(fuzz_caps[i]);
        FUZZ_CHECK(r != NULL);
        rc2 = x402_settle_response_parse(&success2, r, fuzz_caps[i], tx,
                                         X402_TX_HASH_TEXT_LEN + 64, json,
                                         size);
        FUZZ_CHECK(rc2 == X402_OK && success2 == success);
        n = fuzz_reason_check(r, fuzz_caps[i]);
        FUZZ_CHECK(n <= full_len && memcmp(r, full, n) == 0);
        FUZZ_CHECK(n + 4 > fuzz_caps[i] - 1 || n == full_len);
        free(r);
    }
    free(tx);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *json;

    json = fuzz_dup(data, size);
    fuzz_verify(json, size);
    fuzz_settle(json, size);
    free(json);
    return 0;
}
