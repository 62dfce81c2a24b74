/*
 * The JSON inside PAYMENT-SIGNATURE → x402_payment_decode_json(), then the
 * gateway's path (fuzz_payment.h) and facilitator mode.  Spares libFuzzer
 * the base64 layer that fuzz_payment_header.c goes through.
 *
 * Invariants: the same text base64-encoded decodes through
 * x402_payment_decode_header() to the same struct; the field path is ""
 * exactly on success; oversized input is X402_ERR_SIZE; a decoded payment
 * passes fuzz_payment_check().
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
    char          *json, *hdr;
    size_t         cap;
    const char    *field, *field2;
    x402_err       rc, rc2;
    x402_payment  *p, *q;

    json = fuzz_dup(data, size);
    p = malloc(sizeof(*p));
    q = malloc(sizeof(*q));
    FUZZ_CHECK(p != NULL && q != NULL);

    field = NULL;
    rc = x402_payment_decode_json(p, &field, json, size);
    FUZZ_CHECK(field != NULL);
    FUZZ_CHECK((rc == X402_OK) == (field[0] == '\0')
               || rc == X402_ERR_JSON || rc == X402_ERR_SIZE);

    if (size > X402_PAYLOAD_JSON_MAX) {
        FUZZ_CHECK(rc == X402_ERR_SIZE);
        goto done;
    }

    /* the same as a header */
    cap = x402_base64_encoded_len(size) + 1;
    hdr = malloc(cap);
    FUZZ_CHECK(hdr != NULL);
    FUZZ_CHECK(x402_base64_encode(hdr, cap, data, size) == X402_OK);
    FUZZ_CHECK(strlen(hdr) == cap - 1);
    field2 = NULL;
    rc2 = x402_payment_decode_header(q, &field2, hdr, cap - 1);
    FUZZ_CHECK(rc2 == rc && field2 != NULL && strcmp(field, field2) == 0);
    if (rc == X402_OK) {
        FUZZ_CHECK(memcmp(p, q, sizeof(*p)) == 0);
    }
    free(hdr);

    fuzz_facilitator_request(json, size, rc == X402_OK);

    if (rc == X402_OK) {
        fuzz_payment_check(p);
    }

done:
    free(q);
    free(p);
    free(json);
    return 0;
}
