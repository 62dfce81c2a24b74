/*
 * Receipts: the stored JSON, and the reconciler's peek and update.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "x402.h"


static void
xt_receipt_fill(x402_receipt *rc, uint8_t *sig)
{
    memset(rc, 0, sizeof(*rc));
    memset(sig, 0xab, 65);

    rc->status = "broadcast";
    rc->scheme = X402_SCHEME_EXACT;
    rc->chain_id = 8453;
    assert_int_equal(x402_address_parse(&rc->payer,
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", 42), X402_OK);
    assert_int_equal(x402_address_parse(&rc->pay_to,
        "0x209693bc6afc0c5328ba36faf03c514ef312287c", 42), X402_OK);
    rc->asset = x402_opg_base_address;
    assert_int_equal(x402_u256_parse(&rc->amount, "1000000000000000", 16),
                     X402_OK);
    x402_u256_from_u64(&rc->nonce, 42);
    x402_u256_from_u64(&rc->deadline, 1796002609);
    rc->resource = "/v1/chat?q=\"x\"";
    rc->created = 1796002309;
    rc->updated = 1796002310;
    rc->transaction = "0x6c1e000000000000000000000000000000000000000000000000"
                      "000000000001";
    rc->signature = sig;
    rc->signature_len = 65;
}



/* x402_receipt_init: the payment's fields, nothing of a stage's */
static void
test_init(void **state)
{
    x402_offer    offer;
    x402_payment  p;
    x402_receipt  rc;

    (void) state;

    memset(&offer, 0, sizeof(offer));
    memset(&p, 0, sizeof(p));
    offer.scheme = X402_SCHEME_EXACT;
    offer.chain_id = 8453;
    memset(offer.pay_to.b, 0x22, 20);
    memset(offer.asset.b, 0x33, 20);
    memset(offer.facilitator.b, 0x44, 20);
    memset(p.from.b, 0x11, 20);
    x402_u256_from_u64(&p.amount, 1000);
    x402_u256_from_u64(&p.nonce, 7);
    x402_u256_from_u64(&p.deadline, 1796002609);
    x402_u256_from_u64(&p.valid_after, 5);
    memset(p.signature, 0xab, 65);
    p.signature_len = 65;

    memset(&rc, 0x5a, sizeof(rc));
    x402_receipt_init(&rc, &offer, &p, "/paid", 100, 101);

    assert_int_equal(rc.scheme, X402_SCHEME_EXACT);
    assert_int_equal(rc.chain_id, 8453);
    assert_memory_equal(rc.payer.b, p.from.b, 20);
    assert_memory_equal(rc.pay_to.b, offer.pay_to.b, 20);
    assert_memory_equal(rc.asset.b, offer.asset.b, 20);
    assert_memory_equal(rc.amount.b, p.amount.b, 32);
    assert_memory_equal(rc.nonce.b, p.nonce.b, 32);
    assert_memory_equal(rc.deadline.b, p.deadline.b, 32);
    assert_memory_equal(rc.valid_after.b, p.valid_after.b, 32);
    assert_ptr_equal(rc.signature, p.signature);
    assert_int_equal(rc.signature_len, 65);
    assert_string_equal(rc.resource, "/paid");
    assert_int_equal(rc.created, 100);
    assert_int_equal(rc.updated, 101);
    /* a stage's fields start empty */
    assert_null(rc.status);
    assert_null(rc.transaction);
    assert_null(rc.error);
    assert_null(rc.mode);
    assert_false(rc.has_charged);
    assert_false(rc.has_tx_nonce);
    assert_false(rc.has_facilitator);

    /* upto: the witness's facilitator, needed to settle it again */
    offer.scheme = X402_SCHEME_UPTO;
    x402_receipt_init(&rc, &offer, &p, "/paid", 100, 101);
    assert_true(rc.has_facilitator);
    assert_memory_equal(rc.facilitator.b, offer.facilitator.b, 20);
}


static void
test_statuses(void **state)
{
    static const char  *names[] = {
        NULL, "reserved", "broadcast", "pending", "settled", "failed", "retry"
    };
    int  st;

    (void) state;

    for (st = X402_RS_RESERVED; st < X402_RS_MAX; st++) {
        assert_string_equal(x402_receipt_status_string(
                                (x402_receipt_status) st), names[st]);
        assert_int_equal(x402_receipt_status_parse(names[st]), st);
    }

    assert_null(x402_receipt_status_string(X402_RS_UNKNOWN));
    assert_null(x402_receipt_status_string(X402_RS_MAX));
    assert_int_equal(x402_receipt_status_parse("Settled"), X402_RS_UNKNOWN);
    assert_int_equal(x402_receipt_status_parse(""), X402_RS_UNKNOWN);
    assert_int_equal(x402_receipt_status_parse(NULL), X402_RS_UNKNOWN);
}

static void
test_encode(void **state)
{
    char           out[2048], *s;
    size_t         len;
    uint8_t        sig[65];
    json_t        *j;
    json_error_t   e;
    x402_receipt   rc;

    (void) state;

    xt_receipt_fill(&rc, sig);

    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(strlen(out), len);

    /* key order and exact values of the stored record */
    assert_non_null(strstr(out, "{\"status\":\"broadcast\","
        "\"network\":\"eip155:8453\",\"scheme\":\"exact\","
        "\"payer\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\","
        "\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"asset\":\"0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB\","
        "\"amount\":\"1000000000000000\",\"nonce\":\"42\","
        "\"deadline\":\"1796002609\","));

    j = json_loads(out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "resource")),
                        "/v1/chat?q=\"x\"");
    assert_int_equal(json_integer_value(json_object_get(j, "created")),
                     1796002309);
    s = (char *) json_string_value(json_object_get(j, "signature"));
    assert_non_null(s);
    assert_int_equal(strlen(s), 2 + 130);
    assert_memory_equal(s, "0xabab", 6);
    assert_string_equal(json_string_value(json_object_get(j, "validAfter")),
                        "0");
    assert_null(json_object_get(j, "error"));
    assert_null(json_object_get(j, "charged"));
    json_decref(j);

    /* too small a buffer is an error, never a truncated record */
    len = 100;
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_ERR_BUFFER);

    /* an unknown scheme or no status is refused */
    rc.scheme = X402_SCHEME_UNKNOWN;
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_ERR_ARG);
}


static void
test_peek_and_update(void **state)
{
    char           out[2048], upd[2048], status[16], tx[67];
    size_t         len, ulen;
    uint8_t        sig[65];
    uint64_t       updated;
    json_t        *a, *b;
    const char    *key;
    json_t        *v;
    json_error_t   e;
    x402_receipt   rc;

    (void) state;

    xt_receipt_fill(&rc, sig);
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);

    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       out, len), X402_OK);
    assert_string_equal(status, "broadcast");
    assert_string_equal(tx, rc.transaction);
    assert_int_equal(updated, 1796002310);

    ulen = sizeof(upd);
    assert_int_equal(x402_receipt_update(upd, &ulen, out, len, "settled",
                                         NULL, 1796009999), X402_OK);
    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       upd, ulen), X402_OK);
    assert_string_equal(status, "settled");
    assert_int_equal(updated, 1796009999);

    /* every other field is kept as it was */
    a = json_loads(out, 0, &e);
    b = json_loads(upd, 0, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(json_object_size(a), json_object_size(b));
    json_object_foreach(a, key, v) {
        if (strcmp(key, "status") != 0 && strcmp(key, "updated") != 0) {
            assert_true(json_equal(v, json_object_get(b, key)));
        }
    }
    json_decref(a);
    json_decref(b);

    ulen = sizeof(upd);
    assert_int_equal(x402_receipt_update(upd, &ulen, out, len, "failed",
                                         "invalid_exact_evm_transaction_failed",
                                         1), X402_OK);
    assert_non_null(strstr(upd,
        "\"error\":\"invalid_exact_evm_transaction_failed\""));

    /* no transaction yet */
    rc.transaction = NULL;
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       out, len), X402_OK);
    assert_string_equal(tx, "");

    /* not a receipt */
    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       "[1]", 3), X402_ERR_JSON);
    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       "{\"updated\":1}", 13),
                     X402_ERR_MISSING);
    assert_int_equal(x402_receipt_peek(status, sizeof(status), tx, &updated,
                                       "{\"status\":1,\"updated\":1}", 24),
                     X402_ERR_TYPE);
    assert_int_equal(x402_receipt_peek(status, 4, tx, &updated,
                                       "{\"status\":\"settled\",\"updated\":1}",
                                       32), X402_ERR_TYPE);
    ulen = sizeof(upd);
    assert_int_equal(x402_receipt_update(upd, &ulen, "{\"a\":1}", 7,
                                         "settled", NULL, 1),
                     X402_ERR_MISSING);
}


/* What a client may see: everything but the signature. */
static void
test_public(void **state)
{
    char           out[2048], pub[2048];
    size_t         len, plen;
    uint8_t        sig[65];
    json_t        *a, *b;
    const char    *key;
    json_t        *v;
    json_error_t   e;
    x402_receipt   rc;

    (void) state;

    xt_receipt_fill(&rc, sig);
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_non_null(strstr(out, "\"signature\""));

    plen = sizeof(pub);
    assert_int_equal(x402_receipt_public(pub, &plen, out, len), X402_OK);
    assert_int_equal(strlen(pub), plen);
    assert_null(strstr(pub, "signature"));

    a = json_loads(out, 0, &e);
    b = json_loads(pub, 0, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(json_object_size(a), json_object_size(b) + 1);
    json_object_foreach(b, key, v) {
        assert_true(json_equal(v, json_object_get(a, key)));
    }
    json_decref(a);
    json_decref(b);

    /* a receipt without a signature stays as it is */
    plen = sizeof(out);
    assert_int_equal(x402_receipt_public(out, &plen, pub, strlen(pub)),
                     X402_OK);
    assert_string_equal(out, pub);

    plen = 8;
    assert_int_equal(x402_receipt_public(out, &plen, pub, strlen(pub)),
                     X402_ERR_BUFFER);
    plen = sizeof(out);
    assert_int_equal(x402_receipt_public(out, &plen, "[1]", 3),
                     X402_ERR_JSON);
    assert_int_equal(x402_receipt_public(out, &plen, "{\"a\":1}", 7),
                     X402_ERR_MISSING);
}


/* A reconciler rebuilds the very settlement from the receipt alone. */
static void
test_settlement(void **state)
{
    char                     out[2048], res[2048];
    size_t                   len, la, lb;
    uint8_t                  sig[65], a[X402_SETTLE_UPTO_LEN],
                             b[X402_SETTLE_UPTO_LEN];
    x402_u256                want;
    x402_payment             p;
    x402_receipt             rc;
    x402_receipt_settlement  st;

    (void) state;

    /* exact: the payment a receipt was written for */
    memset(&p, 0, sizeof(p));
    xt_receipt_fill(&rc, sig);
    p.from = rc.payer;
    p.token = rc.asset;
    p.amount = rc.amount;
    p.spender = x402_exact_proxy_address;
    p.nonce = rc.nonce;
    p.deadline = rc.deadline;
    p.to = rc.pay_to;
    x402_u256_from_u64(&p.valid_after, 7);
    rc.valid_after = p.valid_after;
    memcpy(p.signature, sig, 65);
    p.signature_len = 65;

    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len), X402_OK);
    assert_int_equal(st.offer.scheme, X402_SCHEME_EXACT);
    assert_int_equal(st.offer.chain_id, 8453);
    assert_true(x402_address_eq(&st.offer.pay_to, &rc.pay_to));
    assert_true(x402_address_eq(&st.offer.asset, &rc.asset));
    assert_int_equal(x402_u256_cmp(&st.offer.amount, &rc.amount), 0);
    assert_false(st.has_charged);
    assert_int_equal(st.created, rc.created);
    assert_true(st.tx_nonce == UINT64_MAX);
    assert_false(st.has_settler);
    assert_null(strstr(out, "\"settler\""));
    assert_true(st.served);
    assert_string_equal(res, rc.resource);

    la = lb = sizeof(a);
    assert_int_equal(x402_abi_settle(a, &la, X402_SCHEME_EXACT, &p,
                                     &p.amount), X402_OK);
    assert_int_equal(x402_abi_settle(b, &lb, X402_SCHEME_EXACT, &st.payment,
                                     &st.payment.amount), X402_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_true(x402_address_eq(&st.payment.spender,
                                &x402_exact_proxy_address));

    /* settled before it is served */
    rc.mode = "sync";
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_non_null(strstr(out, "\"mode\":\"sync\""));
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len), X402_OK);
    assert_false(st.served);
    rc.mode = "async";
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len), X402_OK);
    assert_true(st.served);

    /* too small a resource buffer */
    assert_int_equal(x402_receipt_settlement_decode(&st, res, 4, out, len),
                     X402_ERR_BUFFER);

    /* upto: the facilitator, the charge and the settler's nonce too */
    rc.scheme = X402_SCHEME_UPTO;
    rc.facilitator = rc.payer;
    rc.facilitator.b[0] ^= 0x55;
    rc.has_facilitator = 1;
    x402_u256_from_u64(&rc.charged, 12345);
    rc.has_charged = 1;
    rc.tx_nonce = 77;
    rc.has_tx_nonce = 1;
    rc.settler = rc.pay_to;
    rc.settler.b[19] ^= 0x11;
    rc.has_settler = 1;
    p.spender = x402_upto_proxy_address;
    p.witness_facilitator = rc.facilitator;
    p.has_witness_facilitator = 1;

    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len), X402_OK);
    assert_int_equal(st.offer.scheme, X402_SCHEME_UPTO);
    assert_true(x402_address_eq(&st.offer.facilitator, &rc.facilitator));
    assert_true(st.has_charged);
    x402_u256_from_u64(&want, 12345);
    assert_int_equal(x402_u256_cmp(&st.charged, &want), 0);
    assert_int_equal(st.tx_nonce, 77);
    assert_true(st.has_settler);
    assert_true(x402_address_eq(&st.settler, &rc.settler));

    la = lb = sizeof(a);
    assert_int_equal(x402_abi_settle(a, &la, X402_SCHEME_UPTO, &p, &want),
                     X402_OK);
    assert_int_equal(x402_abi_settle(b, &lb, X402_SCHEME_UPTO, &st.payment,
                                     &st.charged), X402_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);

    /* without the signed authorization there is nothing to settle */
    rc.has_facilitator = 0;
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len),
                     X402_ERR_MISSING);
    rc.scheme = X402_SCHEME_EXACT;
    rc.signature_len = 0;
    len = sizeof(out);
    assert_int_equal(x402_receipt_encode(out, &len, &rc), X402_OK);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    out, len),
                     X402_ERR_MISSING);

    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    "[1]", 3), X402_ERR_JSON);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                         "{\"scheme\":\"x\"}", 14), X402_ERR_VALUE);
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                         "{\"scheme\":1}", 12), X402_ERR_TYPE);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settlement),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_peek_and_update),
        cmocka_unit_test(test_public),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
