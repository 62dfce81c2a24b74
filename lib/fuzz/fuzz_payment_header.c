/*
 * PAYMENT-SIGNATURE header value → x402_payment_decode_header(), then the
 * gateway's path (fuzz_payment.h).
 *
 * Invariants: the header decoder agrees with base64 + the JSON decoder
 * (same result, same struct, same field path); an oversized header is
 * X402_ERR_SIZE; a decoded payment passes fuzz_payment_check().
 */

#include "fuzz_payment.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_payment_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *hdr;
    uint8_t       *json;
    size_t         n;
    const char    *field, *field2;
    x402_err       rc, rc2;
    x402_payment  *p, *q;

    hdr = fuzz_dup(data, size);
    p = malloc(sizeof(*p));
    q = malloc(sizeof(*q));
    FUZZ_CHECK(p != NULL && q != NULL);

    field = NULL;
    rc = x402_payment_decode_header(p, &field, hdr, size);
    FUZZ_CHECK(field != NULL);
    FUZZ_CHECK(rc != X402_OK || field[0] == '\0');

    if (size > x402_base64_encoded_len(X402_PAYLOAD_JSON_MAX)) {
        FUZZ_CHECK(rc == X402_ERR_SIZE);
        goto done;
    }

    /* the same through the two public halves */
    n = x402_base64_decoded_max(size);
    json = malloc(n ? n : 1);
    FUZZ_CHECK(json != NULL);
    rc2 = x402_base64_decode(json, &n, hdr, size);
    if (rc2 == X402_OK) {
        FUZZ_CHECK(n <= x402_base64_decoded_max(size));
        field2 = NULL;
        rc2 = x402_payment_decode_json(q, &field2, (const char *) json, n);
        FUZZ_CHECK(rc2 == rc);
        FUZZ_CHECK(field2 != NULL && strcmp(field, field2) == 0);
        if (rc == X402_OK) {
            FUZZ_CHECK(memcmp(p, q, sizeof(*p)) == 0);
        }
        fuzz_facilitator_request((const char *) json, n, rc == X402_OK);
    } else {
        FUZZ_CHECK(rc == rc2);
    }
    free(json);

    if (rc == X402_OK) {
        fuzz_payment_check(p);
    }

done:
    free(q);
    free(p);
    free(hdr);
    return 0;
}
