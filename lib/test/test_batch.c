/*
 * Batched settlement: aggregate3 calldata and its Result[] against viem
 * (batch-vectors.json, made by gen/batch-vectors.mjs), malformed results,
 * a mined batch's Transfer logs and nonce bits, and which items paid.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "x402_internal.h"


static json_t  *xt_bv;      /* batch-vectors.json */


static int
xt_batch_setup(void **state)
{
    if (xt_setup(state) != 0) {
        return -1;
    }

    xt_bv = xt_load_local("batch-vectors.json");

    return xt_bv == NULL ? -1 : 0;
}


static int
xt_batch_teardown(void **state)
{
    json_decref(xt_bv);

    return xt_teardown(state);
}


/* 0x-hex of a JSON string into a fresh buffer; *len its bytes */
static uint8_t *
xt_bytes(json_t *s, size_t *len)
{
    uint8_t     *out;
    const char  *hex;

    hex = json_string_value(s);
    assert_non_null(hex);

    *len = (strlen(hex) - 2) / 2;
    out = malloc(*len ? *len : 1);
    assert_non_null(out);
    xt_unhex(out, *len, hex);

    return out;
}


static void
test_aggregate3_viem(void **state)
{
    size_t          i, k, n, len, want_len, lens[8];
    json_t         *agg, *calls;
    uint8_t        *want, *bufs[8], out[8192];
    x402_address    target;
    const uint8_t  *cp[8];

    (void) state;

    xt_address(&target, xt_member_str(xt_bv, "target"));

    json_array_foreach(xt_member(xt_bv, "aggregates"), i, agg) {
        calls = xt_member(agg, "calls");
        n = json_array_size(calls);
        assert_true(n <= 8);

        for (k = 0; k < n; k++) {
            bufs[k] = xt_bytes(json_array_get(calls, k), &lens[k]);
            cp[k] = bufs[k];
        }

        want = xt_bytes(xt_member(agg, "calldata"), &want_len);

        assert_int_equal(x402_aggregate3_len(lens, n), want_len);

        len = sizeof(out);
        assert_int_equal(x402_abi_aggregate3(out, &len, &target, cp, lens,
                                             n),
                         X402_OK);
        assert_int_equal(len, want_len);
        assert_memory_equal(out, want, len);

        /* one byte short */
        len = want_len - 1;
        assert_int_equal(x402_abi_aggregate3(out, &len, &target, cp, lens,
                                             n),
                         X402_ERR_BUFFER);

        free(want);

        for (k = 0; k < n; k++) {
            free(bufs[k]);
        }
    }

    len = sizeof(out);
    assert_int_equal(x402_abi_aggregate3(out, &len, &target, cp, lens, 0),
                     X402_ERR_ARG);
    lens[0] = 0;
    assert_int_equal(x402_abi_aggregate3(out, &len, &target, cp, lens, 1),
                     X402_ERR_ARG);
}


/* {"jsonrpc":"2.0","id":<id>,"result":"<hex>"} */
static char *
xt_reply(uint64_t id, const char *result)
{
    char    *s;
    size_t   n;

    n = strlen(result) + 64;
    s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":\"%s\"}",
             (unsigned long long) id, result);

    return s;
}


static char *
xt_strdup(const char *s)
{
    char  *d;

    d = malloc(strlen(s) + 1);
    assert_non_null(d);

    return strcpy(d, s);
}


static void
test_aggregate3_results(void **state)
{
    char              *reply, *bad, *hex;
    size_t             i, n, len;
    json_t            *items, *it;
    x402_call_result   res[8];

    (void) state;

    items = json_object_get(json_object_get(xt_bv, "results"), "items");
    n = json_array_size(items);
    hex = (char *) xt_member_str(json_object_get(xt_bv, "results"), "data");

    reply = xt_reply(7, hex);
    assert_int_equal(x402_rpc_aggregate3_parse(res, n, reply, strlen(reply),
                                               7),
                     X402_OK);

    json_array_foreach(items, i, it) {
        assert_int_equal(res[i].ok,
                         json_is_true(json_object_get(it, "success")));
    }

    /* InvalidNonce(): the selector; a revert string: Error(string)'s */
    assert_true(res[1].has_revert);
    assert_memory_equal(res[1].revert, "\x75\x66\x88\xfe", 4);
    assert_string_equal(x402_settle_error_reason(res[1].revert),
                        "permit2_invalid_nonce");
    assert_true(res[2].has_revert);
    assert_memory_equal(res[2].revert, "\x08\xc3\x79\xa0", 4);
    assert_false(res[3].has_revert);        /* reverted without data */
    assert_false(res[0].has_revert);

    /* another count than asked, another id */
    assert_int_equal(x402_rpc_aggregate3_parse(res, n - 1, reply,
                                               strlen(reply), 7),
                     X402_ERR_VALUE);
    assert_int_equal(res[0].ok, 0);
    assert_int_equal(x402_rpc_aggregate3_parse(res, n, reply, strlen(reply),
                                               8),
                     X402_ERR_VALUE);
    free(reply);

    /* cut short: every offset is checked against the data */
    len = strlen(hex);

    for (i = 2 + 64; i < len; i += 62) {
        bad = xt_strdup(hex);
        assert_non_null(bad);
        bad[i - (i % 2)] = '\0';
        reply = xt_reply(7, bad);
        assert_int_equal(x402_rpc_aggregate3_parse(res, n, reply,
                                                   strlen(reply), 7),
                         X402_ERR_VALUE);
        free(reply);
        free(bad);
    }

    /* an offset pointing far outside */
    bad = xt_strdup(hex);
    assert_non_null(bad);
    memcpy(bad + 2 + 56, "ffffffff", 8);
    reply = xt_reply(7, bad);
    assert_int_equal(x402_rpc_aggregate3_parse(res, n, reply, strlen(reply),
                                               7),
                     X402_ERR_VALUE);
    free(reply);
    free(bad);

    /* the aggregate reverted: an error, nothing per call */
    reply = "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":3,"
            "\"message\":\"execution reverted: Multicall3: call failed\"}}";
    assert_int_equal(x402_rpc_aggregate3_parse(res, n, reply, strlen(reply),
                                               7),
                     X402_ERR_VALUE);
}


static void
test_aggregate3_request(void **state)
{
    char          out[4096];
    size_t        len;
    uint8_t       data[3] = { 0x82, 0xad, 0x56 };
    x402_address  from;

    (void) state;

    memset(from.b, 0x11, sizeof(from.b));

    len = sizeof(out);
    assert_int_equal(x402_rpc_aggregate3_request(out, &len, &from, 0, data,
                                                 3, 5),
                     X402_OK);
    assert_string_equal(out,
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"eth_call\",\"params\":"
        "[{\"from\":\"0x1111111111111111111111111111111111111111\","
        "\"to\":\"0xca11bde05977b3631167028862be2a173976ca11\","
        "\"data\":\"0x82ad56\"},\"latest\"]}");

    /* with the batch's gas limit */
    len = sizeof(out);
    assert_int_equal(x402_rpc_aggregate3_request(out, &len, &from, 16777216,
                                                 data, 3, 5),
                     X402_OK);
    assert_non_null(strstr(out, "\"gas\":\"0x1000000\",\"to\":"));

    len = 10;
    assert_int_equal(x402_rpc_aggregate3_request(out, &len, &from, 0, data,
                                                 3, 5),
                     X402_ERR_BUFFER);
}


static const char  xt_topic[] =
    "\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef\"";

/* a Transfer log: token 0xaa.., from 0xf0+i, to 0xb0, value v */
static void
xt_log(char *out, size_t cap, int from, unsigned value, int removed)
{
    snprintf(out, cap,
             "{\"address\":\"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
             "\"topics\":[%s,"
             "\"0x000000000000000000000000%040x\","
             "\"0x000000000000000000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
             "b0b0b0b0\"],"
             "\"data\":\"0x%064x\",\"removed\":%s}",
             xt_topic, from, value, removed ? "true" : "false");
}


static void
test_receipt_transfers(void **state)
{
    char              reply[8192], l1[600], l2[600], l3[600];
    size_t            len;
    x402_transfer     t[4];
    x402_tx_outcome   o;

    (void) state;

    xt_log(l1, sizeof(l1), 0xf1, 1000, 0);
    xt_log(l2, sizeof(l2), 0xf2, 2000, 1);      /* removed */
    xt_log(l3, sizeof(l3), 0xf3, 3000, 0);

    /* the proxy's Settled(): one topic, skipped */
    len = (size_t) snprintf(reply, sizeof(reply),
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"status\":\"0x1\","
        "\"blockNumber\":\"0x2a\",\"gasUsed\":\"0x1d4c0\",\"logs\":[%s,"
        "{\"address\":\"0x402085c248eea27d92e8b30b2c58ed07f9e20001\","
        "\"topics\":[\"0x%064x\"],\"data\":\"0x\"},%s,%s]}}",
        l1, 7, l2, l3);

    assert_int_equal(x402_rpc_receipt_transfers_parse(&o, t, 4, reply, len,
                                                      2),
                     X402_OK);
    assert_true(o.found);
    assert_int_equal(o.status, 1);
    assert_int_equal(o.block, 42);
    assert_int_equal(o.gas_used, 120000);
    assert_int_equal(o.transfers, 2);
    assert_false(o.truncated);
    assert_int_equal(t[0].from.b[19], 0xf1);
    assert_int_equal(t[1].from.b[19], 0xf3);
    assert_int_equal(t[1].value.b[31], 3000 & 0xff);
    assert_int_equal(t[1].to.b[0], 0xb0);
    assert_int_equal(t[0].token.b[0], 0xaa);

    /* room for one: the rest is said to be cut */
    assert_int_equal(x402_rpc_receipt_transfers_parse(&o, t, 1, reply, len,
                                                      2),
                     X402_OK);
    assert_int_equal(o.transfers, 1);
    assert_true(o.truncated);

    /* not mined yet */
    len = (size_t) snprintf(reply, sizeof(reply),
                            "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}");
    assert_int_equal(x402_rpc_receipt_transfers_parse(&o, t, 4, reply, len,
                                                      2),
                     X402_OK);
    assert_false(o.found);

    /* without logs, or without gasUsed */
    len = (size_t) snprintf(reply, sizeof(reply),
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"status\":\"0x1\","
        "\"blockNumber\":\"0x2a\",\"gasUsed\":\"0x1\"}}");
    assert_int_equal(x402_rpc_receipt_transfers_parse(&o, t, 4, reply, len,
                                                      2),
                     X402_ERR_VALUE);
    len = (size_t) snprintf(reply, sizeof(reply),
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"status\":\"0x1\","
        "\"blockNumber\":\"0x2a\",\"logs\":[]}}");
    assert_int_equal(x402_rpc_receipt_transfers_parse(&o, t, 4, reply, len,
                                                      2),
                     X402_ERR_VALUE);
    assert_false(o.found);
}


static void
xt_item(x402_batch_item *it, int payer, unsigned amount, unsigned nonce)
{
    memset(it, 0, sizeof(*it));
    memset(it->asset.b, 0xaa, 20);
    it->payer.b[19] = (uint8_t) payer;
    memset(it->pay_to.b, 0xb0, 20);
    xt_u256_u64(&it->amount, amount);
    xt_u256_u64(&it->nonce, nonce);
}


static void
test_nonce_bits(void **state)
{
    int               used[3];
    char              out[4096], reply[1024];
    size_t            len;
    x402_batch_item   it[3];

    (void) state;

    xt_item(&it[0], 1, 10, 0);
    xt_item(&it[1], 2, 10, 0x105);      /* word 1, bit 5 */
    xt_item(&it[2], 3, 10, 0xff);       /* bit 255: the word's top bit */

    len = sizeof(out);
    assert_int_equal(x402_rpc_nonce_bits_request(out, &len, it, 2, 0x2a, 9),
                     X402_OK);
    assert_non_null(strstr(out, "\"0x2a\"]}"));
    assert_non_null(strstr(out, "\"id\":10,"));
    /* nonceBitmap(payer, 1) */
    assert_non_null(strstr(out, "0x4fe02b44"
        "0000000000000000000000000000000000000000000000000000000000000002"
        "0000000000000000000000000000000000000000000000000000000000000001"));

    len = (size_t) snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":11,\"result\":\"0x8%063x\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":\"0x%064x\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":\"0x%064x\"}]",
        0, 0x2, 0x20);
    assert_int_equal(x402_rpc_nonce_bits_parse(used, it, 3, reply, len, 9),
                     X402_OK);
    assert_int_equal(used[0], 0);       /* bit 0 of 0b10 */
    assert_int_equal(used[1], 1);       /* bit 5 of 0x20 */
    assert_int_equal(used[2], 1);

    /* an error entry: nothing is taken as used */
    len = (size_t) snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":\"0x%064x\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"error\":{\"code\":-32000,"
        "\"message\":\"header not found\"}}]", 1);
    assert_int_equal(x402_rpc_nonce_bits_parse(used, it, 2, reply, len, 9),
                     X402_ERR_VALUE);
    assert_int_equal(used[0], 0);
}


/* a Transfer as the item would make it */
static void
xt_transfer(x402_transfer *t, const x402_batch_item *it)
{
    t->token = it->asset;
    t->from = it->payer;
    t->to = it->pay_to;
    t->value = it->amount;
}


static void
test_batch_match(void **state)
{
    int               used[5], settled[5];
    x402_transfer     logs[5];
    x402_batch_item   it[5];

    (void) state;

    xt_item(&it[0], 1, 10, 1);
    xt_item(&it[1], 2, 10, 2);
    xt_item(&it[2], 3, 10, 3);
    xt_item(&it[3], 1, 10, 4);          /* the payer of item 0 again */
    xt_item(&it[4], 4, 10, 5);

    /* item 1 failed (nonce unused), item 2 used elsewhere: no transfer */
    used[0] = 1; used[1] = 0; used[2] = 1; used[3] = 1; used[4] = 1;
    xt_transfer(&logs[0], &it[0]);
    xt_transfer(&logs[1], &it[3]);
    xt_transfer(&logs[2], &it[4]);

    assert_int_equal(x402_batch_match(settled, it, used, 5, logs, 3), 3);
    assert_int_equal(settled[0], 1);
    assert_int_equal(settled[1], 0);
    assert_int_equal(settled[2], 0);
    assert_int_equal(settled[3], 1);
    assert_int_equal(settled[4], 1);

    /* a transfer is never counted twice: one log for two alike items */
    used[1] = 0; used[2] = 0; used[4] = 0;
    assert_int_equal(x402_batch_match(settled, it, used, 5, logs, 1), 1);
    assert_int_equal(settled[0], 1);
    assert_int_equal(settled[3], 0);

    /* another amount, token or merchant is no payment of the item */
    used[0] = 1;
    xt_transfer(&logs[0], &it[0]);
    xt_u256_u64(&logs[0].value, 9);
    assert_int_equal(x402_batch_match(settled, it, used, 1, logs, 1), 0);
    xt_transfer(&logs[0], &it[0]);
    logs[0].token.b[0] = 0xab;
    assert_int_equal(x402_batch_match(settled, it, used, 1, logs, 1), 0);
    xt_transfer(&logs[0], &it[0]);
    logs[0].to.b[0] = 0xb1;
    assert_int_equal(x402_batch_match(settled, it, used, 1, logs, 1), 0);

    /* out of order (a log before the previous item's) is not its own */
    used[0] = 1; used[1] = 1;
    xt_transfer(&logs[0], &it[1]);
    xt_transfer(&logs[1], &it[0]);
    assert_int_equal(x402_batch_match(settled, it, used, 2, logs, 2), 1);
    assert_int_equal(settled[0], 1);
    assert_int_equal(settled[1], 0);
}


static void
test_receipt_batch(void **state)
{
    char                      json[X402_RECEIPT_JSON_MAX], res[256];
    size_t                    len;
    x402_offer                offer;
    x402_receipt              rc;
    x402_payment              p;
    x402_receipt_settlement   st;

    (void) state;

    xt_offer(&offer, 8453);
    memset(&p, 0, sizeof(p));
    p.from = offer.pay_to;
    p.token = offer.asset;
    p.amount = offer.amount;
    p.signature_len = 65;
    memset(p.signature, 1, 65);

    x402_receipt_init(&rc, &offer, &p, "/a", 1, 2);
    rc.status = "settled";
    rc.batch_size = 100;
    rc.batch_gas = 53017;

    len = sizeof(json);
    assert_int_equal(x402_receipt_encode(json, &len, &rc), X402_OK);
    assert_non_null(strstr(json,
                           "\"batch\":{\"size\":100,\"gasPerItem\":53017}"));

    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    json, len),
                     X402_OK);
    assert_int_equal(st.batch_size, 100);

    /* not mined yet: no gas */
    rc.batch_gas = 0;
    len = sizeof(json);
    assert_int_equal(x402_receipt_encode(json, &len, &rc), X402_OK);
    assert_non_null(strstr(json, "\"batch\":{\"size\":100}"));

    /* settled alone: none */
    rc.batch_size = 0;
    len = sizeof(json);
    assert_int_equal(x402_receipt_encode(json, &len, &rc), X402_OK);
    assert_null(strstr(json, "batch"));
    assert_int_equal(x402_receipt_settlement_decode(&st, res, sizeof(res),
                                                    json, len),
                     X402_OK);
    assert_int_equal(st.batch_size, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_aggregate3_viem),
        cmocka_unit_test(test_aggregate3_results),
        cmocka_unit_test(test_aggregate3_request),
        cmocka_unit_test(test_receipt_transfers),
        cmocka_unit_test(test_nonce_bits),
        cmocka_unit_test(test_batch_match),
        cmocka_unit_test(test_receipt_batch),
    };

    return cmocka_run_group_tests(tests, xt_batch_setup, xt_batch_teardown);
}
