/*
 * The node's replies during a direct settlement (ngx_http_x402_settle.c):
 * x402_rpc_fees_parse() (the fees batch, ids 10..13),
 * x402_rpc_send_parse() (eth_sendRawTransaction, id 20) and
 * x402_rpc_receipt_parse() (eth_getTransactionReceipt, id 30), all on the
 * same input (ids as in lib/test/anvil-replies.json).
 *
 * Invariants: only the documented errors; flags are 0 or 1; a revert
 * selector only with a failed estimate; the node's message is
 * NUL-terminated inside msg_cap for every capacity (heap buffers of the
 * exact size), a prefix of the untruncated one, and "" for a malformed
 * reply; a sent hash is never all zero; a receipt's status is 0 or 1.
 */

#include "fuzz_common.h"


static int
fuzz_bool(int v)
{
    return v == 0 || v == 1;
}


static void
fuzz_fees(const char *json, size_t size)
{
    x402_fees  f;
    x402_err   rc;

    rc = x402_rpc_fees_parse(&f, json, size, FUZZ_FEES_ID);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_VALUE);
    if (rc == X402_OK) {
        FUZZ_CHECK(fuzz_bool(f.estimate_ok) && fuzz_bool(f.has_revert));
        FUZZ_CHECK(!(f.estimate_ok && f.has_revert));
        if (f.has_revert) {
            FUZZ_CHECK(x402_settle_error_reason(f.revert) != NULL);
        }
    }
}


static void
fuzz_send(const char *json, size_t size)
{
    static const size_t  caps[] = { 1, 2, 7, 64, 4096 };
    static const uint8_t zero[32];
    uint8_t   hash[32], hash2[32];
    char      full[4096], *msg;
    size_t    i, n, full_len;
    x402_err  rc, rc2;

    rc = x402_rpc_send_parse(hash, NULL, 0, json, size, FUZZ_SEND_ID);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_VALUE);
    if (rc == X402_OK) {
        FUZZ_CHECK(memcmp(hash, zero, 32) != 0);
    }

    rc2 = x402_rpc_send_parse(NULL, full, sizeof(full), json, size,
                              FUZZ_SEND_ID);
    FUZZ_CHECK(rc2 == rc);
    full_len = fuzz_strnlen_checked(full, sizeof(full));
    if (rc == X402_OK) {
        FUZZ_CHECK(full_len == 0);
    }

    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        msg = malloc(caps[i]);
        FUZZ_CHECK(msg != NULL);
        memset(msg, 'x', caps[i]);
        rc2 = x402_rpc_send_parse(hash2, msg, caps[i], json, size,
                                  FUZZ_SEND_ID);
        FUZZ_CHECK(rc2 == rc);
        n = fuzz_strnlen_checked(msg, caps[i]);
        FUZZ_CHECK(n <= full_len && memcmp(msg, full, n) == 0);
        if (rc == X402_OK) {
            FUZZ_CHECK(memcmp(hash, hash2, 32) == 0);
        }
        free(msg);
    }
}


static void
fuzz_receipt(const char *json, size_t size)
{
    int       found, status;
    uint64_t  block;
    x402_err  rc;

    rc = x402_rpc_receipt_parse(&found, &status, &block, json, size,
                                FUZZ_RECEIPT_ID);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_VALUE);
    if (rc == X402_OK) {
        FUZZ_CHECK(fuzz_bool(found));
        if (found) {
            FUZZ_CHECK(fuzz_bool(status));
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *json;

    json = fuzz_dup(data, size);

    fuzz_fees(json, size);
    fuzz_send(json, size);
    fuzz_receipt(json, size);

    free(json);
    return 0;
}
