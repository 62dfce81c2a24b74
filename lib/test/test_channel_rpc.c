/*
 * What a gateway asks the node about batch-settlement channels: eth_call
 * batches to one contract and their return words, WithdrawInitiated logs;
 * replies as anvil writes them, and malformed ones; what a channel's
 * state leaves the server to count on.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "x402_internal.h"


static void
test_withdraw_topic(void **state)
{
    uint8_t      h[32];
    const char  *sig = "WithdrawInitiated(bytes32,uint128,uint40)";

    (void) state;

    x402_keccak256(h, (const uint8_t *) sig, strlen(sig));
    assert_memory_equal(h, x402_channel_withdraw_topic, 32);
}


static void
test_calls_request(void **state)
{
    char              out[1024];
    size_t            len, lens[2] = { 2, 1 };
    uint8_t           a[2] = { 0xab, 0xcd }, b[1] = { 0x01 };
    x402_address      from, to;
    const uint8_t    *data[2] = { a, b };

    (void) state;

    memset(from.b, 0x11, 20);
    memset(to.b, 0x22, 20);
    len = sizeof(out);

    assert_int_equal(x402_rpc_calls_request(out, &len, &from, 300000, &to,
                                            data, lens, 2, 7), X402_OK);
    assert_string_equal(out,
        "[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"eth_call\",\"params\":"
        "[{\"from\":\"0x1111111111111111111111111111111111111111\","
        "\"gas\":\"0x493e0\",\"to\":\"0x2222222222222222222222222222222222"
        "222222\",\"data\":\"0xabcd\"},\"latest\"]},"
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"eth_call\",\"params\":"
        "[{\"from\":\"0x1111111111111111111111111111111111111111\","
        "\"gas\":\"0x493e0\",\"to\":\"0x2222222222222222222222222222222222"
        "222222\",\"data\":\"0x01\"},\"latest\"]}]");
    assert_int_equal(len, strlen(out));

    /* no from, no gas; too small a buffer; bad arguments */
    len = sizeof(out);
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, 1, 1), X402_OK);
    assert_null(strstr(out, "from"));
    assert_null(strstr(out, "gas"));

    len = 40;
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, 1, 1), X402_ERR_BUFFER);
    len = sizeof(out);
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, 0, 1), X402_ERR_ARG);
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, X402_CALLS_MAX + 1, 1),
                     X402_ERR_ARG);
    lens[0] = 0;
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, 1, 1), X402_ERR_ARG);
    lens[0] = 2;
    assert_int_equal(x402_rpc_calls_request(out, &len, NULL, 0, &to, data,
                                            lens, 2, X402_RPC_ID_MAX),
                     X402_ERR_ARG);
}


/* two words: (5, 7) */
#define XT_WORDS                                                              \
    "0x0000000000000000000000000000000000000000000000000000000000000005"      \
    "0000000000000000000000000000000000000000000000000000000000000007"


static void
test_calls_parse(void **state)
{
    uint8_t            ret[2][64];
    x402_call_result   res[2];
    const char        *ok =
        "[{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":3,\"message\":"
        "\"execution reverted\",\"data\":\"0xdeadbeef00\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"" XT_WORDS "\"}]";
    const char        *other =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"" XT_WORDS "\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32005,"
        "\"message\":\"rate limited\"}}]";
    const char        *shortr =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x05\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"" XT_WORDS "\"}]";
    const char        *missing =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"" XT_WORDS "\"}]";

    (void) state;

    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, ok,
                                          strlen(ok), 1), X402_OK);
    assert_true(res[0].ok);
    assert_int_equal(ret[0][31], 5);
    assert_int_equal(ret[0][63], 7);
    assert_false(res[1].ok);
    assert_true(res[1].has_revert);
    assert_int_equal(res[1].revert[0], 0xde);
    assert_int_equal(res[1].revert[3], 0xef);

    /* with no return words wanted, a short return is fine */
    assert_int_equal(x402_rpc_calls_parse(res, NULL, 0, 2, shortr,
                                          strlen(shortr), 1), X402_OK);
    assert_true(res[0].ok && res[1].ok);

    /* the node's errors, short returns, a missing id: nothing told */
    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, other,
                                          strlen(other), 1), X402_ERR_VALUE);
    assert_false(res[0].ok);
    assert_int_equal(ret[0][31], 0);
    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, shortr,
                                          strlen(shortr), 1), X402_ERR_VALUE);
    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, missing,
                                          strlen(missing), 1), X402_ERR_VALUE);
    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, "{}", 2,
                                          1), X402_ERR_JSON);
    assert_int_equal(x402_rpc_calls_parse(res, &ret[0][0], 64, 2, "[", 1, 1),
                     X402_ERR_JSON);
    assert_int_equal(x402_rpc_calls_parse(NULL, NULL, 0, 2, ok, strlen(ok),
                                          1), X402_ERR_ARG);
}


static void
test_withdraw_logs_request(void **state)
{
    char    out[512];
    size_t  len;

    (void) state;

    len = sizeof(out);
    assert_int_equal(x402_rpc_withdraw_logs_request(out, &len, 16, 255, 3),
                     X402_OK);
    assert_string_equal(out,
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_getLogs\",\"params\":"
        "[{\"address\":\"0x4020074e9df2ce1dee5a9c1b5c3f541d02a10003\","
        "\"topics\":[\"0xe4280d0d903c7f258f62b07c62f262377cbaa23f7791d78126e6"
        "446e0f0e3c23\"],\"fromBlock\":\"0x10\",\"toBlock\":\"0xff\"}]}");

    len = sizeof(out);
    assert_int_equal(x402_rpc_withdraw_logs_request(out, &len, 9, 8, 3),
                     X402_ERR_ARG);
    len = 20;
    assert_int_equal(x402_rpc_withdraw_logs_request(out, &len, 1, 2, 3),
                     X402_ERR_BUFFER);
}


#define XT_TOPIC0                                                             \
    "\"0xe4280d0d903c7f258f62b07c62f262377cbaa23f7791d78126e6446e0f0e3c23\""
#define XT_ID1                                                                \
    "\"0x1111111111111111111111111111111111111111111111111111111111111111\""
#define XT_ID2                                                                \
    "\"0x2222222222222222222222222222222222222222222222222222222222222222\""
/* amount 0x1000, finalizeAfter 0x0102030405 */
#define XT_DATA                                                               \
    "\"0x0000000000000000000000000000000000000000000000000000000000001000"   \
    "0000000000000000000000000000000000000000000000000000000102030405\""

#define XT_LOG(id, removed, data)                                             \
    "{\"address\":\"0x4020074e9df2ce1dee5a9c1b5c3f541d02a10003\","            \
    "\"topics\":[" XT_TOPIC0 "," id "],\"data\":" data ","                    \
    "\"blockNumber\":\"0x2a\",\"removed\":" removed "}"

#define XT_LOGS(logs)                                                         \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[" logs "]}"


static void
test_withdraw_logs_parse(void **state)
{
    size_t                  n;
    x402_channel_withdraw   w[2];
    const char             *two = XT_LOGS(XT_LOG(XT_ID1, "false", XT_DATA) ","
                                          XT_LOG(XT_ID2, "true", XT_DATA) ","
                                          XT_LOG(XT_ID2, "false", XT_DATA));
    const char             *wide = XT_LOGS(XT_LOG(XT_ID1, "false",
        "\"0x0000000000000000000000000000000100000000000000000000000000001000"
        "0000000000000000000000000000000000000000000000000000000102030405\""));
    const char             *late = XT_LOGS(XT_LOG(XT_ID1, "false",
        "\"0x0000000000000000000000000000000000000000000000000000000000001000"
        "0000000000000000000000000000000000000000000000000000010102030405\""));
    const char             *other = XT_LOGS(
        "{\"topics\":[" XT_ID1 "," XT_ID2 "],\"data\":" XT_DATA ","
        "\"blockNumber\":\"0x2a\"}");

    (void) state;

    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 2, two, strlen(two),
                                                  1), X402_OK);
    assert_int_equal(n, 2);     /* the removed log is not counted */
    assert_int_equal(w[0].channel_id[0], 0x11);
    assert_int_equal(w[1].channel_id[31], 0x22);
    assert_int_equal(w[0].amount.b[30], 0x10);
    assert_int_equal(w[0].amount.b[31], 0x00);
    assert_true(w[0].finalize_after == 0x0102030405ULL);
    assert_true(w[0].block == 42);

    /* more than cap; wider than uint128 / uint40; another event */
    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 1, two, strlen(two),
                                                  1), X402_ERR_BUFFER);
    assert_int_equal(n, 0);
    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 2, wide,
                                                  strlen(wide), 1),
                     X402_ERR_VALUE);
    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 2, late,
                                                  strlen(late), 1),
                     X402_ERR_VALUE);
    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 2, other,
                                                  strlen(other), 1),
                     X402_ERR_VALUE);
    assert_int_equal(x402_rpc_withdraw_logs_parse(w, &n, 2, two, strlen(two),
                                                  2), X402_ERR_VALUE);
}


static void
test_usable(void **state)
{
    uint8_t     w[64];
    uint64_t    at;
    x402_u256   bal, clm, wd, out, a;

    (void) state;

    xt_u256_u64(&bal, 10);
    xt_u256_u64(&clm, 3);

    x402_channel_usable(&out, &bal, &clm, NULL);
    xt_u256_u64(&a, 10);
    assert_memory_equal(out.b, a.b, 32);

    xt_u256_u64(&wd, 4);
    x402_channel_usable(&out, &bal, &clm, &wd);
    xt_u256_u64(&a, 6);
    assert_memory_equal(out.b, a.b, 32);

    /* what is claimed is the receiver's, whatever the withdrawal */
    xt_u256_u64(&wd, 9);
    x402_channel_usable(&out, &bal, &clm, &wd);
    assert_memory_equal(out.b, clm.b, 32);
    xt_u256_u64(&wd, 20);
    x402_channel_usable(&out, &bal, &clm, &wd);
    assert_memory_equal(out.b, clm.b, 32);

    /* the words of channels(id) and pendingWithdrawals(id) */
    memset(w, 0, sizeof(w));
    w[31] = 10;
    w[63] = 3;
    assert_int_equal(x402_channel_state_words(&out, &a, w), X402_OK);
    assert_memory_equal(out.b, bal.b, 32);
    assert_memory_equal(a.b, clm.b, 32);
    w[59] = 1;
    assert_int_equal(x402_channel_withdrawal_words(&out, &at, w), X402_OK);
    assert_true(at == 0x100000003ULL);
    w[50] = 1;      /* past uint40, still within uint128 */
    assert_int_equal(x402_channel_withdrawal_words(&out, &at, w),
                     X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_words(&out, &a, w), X402_OK);
    w[15] = 1;      /* past uint128 */
    assert_int_equal(x402_channel_state_words(&out, &a, w), X402_ERR_VALUE);
    assert_int_equal(x402_channel_state_words(NULL, &a, w), X402_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_withdraw_topic),
        cmocka_unit_test(test_calls_request),
        cmocka_unit_test(test_calls_parse),
        cmocka_unit_test(test_withdraw_logs_request),
        cmocka_unit_test(test_withdraw_logs_parse),
        cmocka_unit_test(test_usable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
