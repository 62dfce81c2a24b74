/*
 * Settlement: RLP known answers, EIP-1559 signing against viem-signed
 * transactions (tx-vectors.json, made by gen/tx-vectors.mjs), the
 * settlement JSON-RPC requests, the parse of real anvil replies
 * (anvil-replies.json, captured by gen/anvil-replies.mjs) and of error
 * and malformed replies, the SettleResponse against vectors.json and the
 * revert → errorReason map.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "x402_internal.h"


static json_t  *xt_txv;       /* tx-vectors.json */
static json_t  *xt_anvil;     /* anvil-replies.json */


/* ------------------------------------------------------------ helpers */

static int
xt_settle_setup(void **state)
{
    static const uint8_t  seed[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };

    if (xt_setup(state) != 0) {
        return -1;
    }

    xt_txv = xt_load_local("tx-vectors.json");
    xt_anvil = xt_load_local("anvil-replies.json");
    *state = x402_context_create(seed);

    return (xt_txv == NULL || xt_anvil == NULL || *state == NULL) ? -1 : 0;
}


static int
xt_settle_teardown(void **state)
{
    x402_context_destroy(*state);
    json_decref(xt_txv);
    json_decref(xt_anvil);

    return xt_teardown(state);
}


/* Hex of an RLP writer's output, no prefix. */
static void
xt_rlp_hex(char *hex, const x402_rlp *r)
{
    assert_false(r->full);
    xt_tohex(hex, r->p, r->len);
}


/* Decimal text to uint64 (independent; fails above 2^64 - 1). */
static uint64_t
xt_u64_text(const char *s)
{
    uint64_t  v;
    size_t    i;

    v = 0;
    assert_true(s[0] != '\0');
    for (i = 0; s[i] != '\0'; i++) {
        assert_true(s[i] >= '0' && s[i] <= '9');
        assert_true(v <= (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10);
        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    return v;
}


/* ---------------------------------------------------------------- RLP */

static void
test_rlp_known_answers(void **state)
{
    static const char  lorem[] =
        "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
    uint8_t            buf[1100], big[1024], be[32];
    char               hex[2300];
    x402_rlp           r;

    (void) state;

    /* "dog" */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, (const uint8_t *) "dog", 3);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "83646f67");

    /* ["cat", "dog"] */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_list(&r, 8);
    x402_rlp_bytes(&r, (const uint8_t *) "cat", 3);
    x402_rlp_bytes(&r, (const uint8_t *) "dog", 3);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "c88363617483646f67");

    /* "" and [] */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, NULL, 0);
    x402_rlp_list(&r, 0);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "80c0");

    /* integers 0, 15, 1024, 127, 128, 256, 2^64 - 1 */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_u64(&r, 0);
    x402_rlp_u64(&r, 15);
    x402_rlp_u64(&r, 1024);
    x402_rlp_u64(&r, 127);
    x402_rlp_u64(&r, 128);
    x402_rlp_u64(&r, 256);
    x402_rlp_u64(&r, UINT64_MAX);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "80" "0f" "820400" "7f" "8180" "820100"
                             "88ffffffffffffffff");

    /* big-endian integers lose their leading zeros; all zeros is "" */
    memset(be, 0, sizeof(be));
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_uint(&r, be, sizeof(be));
    be[30] = 0x04;
    x402_rlp_uint(&r, be, sizeof(be));
    be[31] = 0x01;
    be[0] = 0x80;
    x402_rlp_uint(&r, be, sizeof(be));
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "80" "820400"
        "a0" "8000000000000000000000000000000000000000000000000000000000000401");

    /* single bytes: 0x00 and 0x7f are themselves, 0x80 gets a header */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, (const uint8_t *) "\x00", 1);
    x402_rlp_bytes(&r, (const uint8_t *) "\x7f", 1);
    x402_rlp_bytes(&r, (const uint8_t *) "\x80", 1);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "007f8180");

    /* 55 bytes: short form; 56 bytes: long form b8 38 */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, (const uint8_t *) lorem, 55);
    assert_false(r.full);
    assert_int_equal(r.len, 56);
    assert_int_equal(buf[0], 0xb7);
    assert_memory_equal(buf + 1, lorem, 55);

    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, (const uint8_t *) lorem, 56);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "b8384c6f72656d20697073756d20646f6c6f722073697420"
        "616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974");

    /* a list with 56 bytes of payload: f8 38 */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_list(&r, 56);
    assert_int_equal(r.len, 2);
    assert_int_equal(buf[0], 0xf8);
    assert_int_equal(buf[1], 0x38);

    /* 1024 bytes: b9 04 00 */
    memset(big, 0xaa, sizeof(big));
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_bytes(&r, big, sizeof(big));
    assert_int_equal(r.len, 3 + 1024);
    assert_memory_equal(buf, "\xb9\x04\x00", 3);
    assert_memory_equal(buf + 3, big, sizeof(big));

    /* set-theoretic three: [ [], [[]], [ [], [[]] ] ] */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_list(&r, 7);
    x402_rlp_list(&r, 0);
    x402_rlp_list(&r, 1);
    x402_rlp_list(&r, 0);
    x402_rlp_list(&r, 3);
    x402_rlp_list(&r, 0);
    x402_rlp_list(&r, 1);
    x402_rlp_list(&r, 0);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "c7c0c1c0c3c0c1c0");

    /* counting mode measures what writing writes */
    x402_rlp_init(&r, NULL, 0);
    x402_rlp_bytes(&r, big, sizeof(big));
    x402_rlp_u64(&r, 1024);
    x402_rlp_list(&r, 70000);
    assert_false(r.full);
    assert_int_equal(r.len, 3 + 1024 + 3 + 4);

    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_list(&r, 70000);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "fa011170");

    /* a full buffer sticks and writes nothing past its capacity */
    memset(buf, 0x55, sizeof(buf));
    x402_rlp_init(&r, buf, 3);
    x402_rlp_bytes(&r, (const uint8_t *) "dog", 3);
    assert_true(r.full);
    x402_rlp_bytes(&r, (const uint8_t *) "\x01", 1);
    assert_true(r.full);
    assert_int_equal(buf[3], 0x55);

    /* raw bytes pass unchanged */
    x402_rlp_init(&r, buf, sizeof(buf));
    x402_rlp_raw(&r, (const uint8_t *) "\x02\xc0", 2);
    xt_rlp_hex(hex, &r);
    assert_string_equal(hex, "02c0");
}


/* ---------------------------------------------------------- EIP-1559 */

static uint8_t *
xt_case_tx(x402_tx *tx, uint8_t key[32], json_t *c)
{
    const char  *data;
    uint8_t     *bytes;
    size_t       n;

    memset(tx, 0, sizeof(*tx));
    tx->chain_id = xt_u64_text(xt_member_str(c, "chainId"));
    tx->nonce = xt_u64_text(xt_member_str(c, "nonce"));
    xt_u256_text(&tx->max_priority_fee_per_gas,
                 xt_member_str(c, "maxPriorityFeePerGas"));
    xt_u256_text(&tx->max_fee_per_gas, xt_member_str(c, "maxFeePerGas"));
    tx->gas_limit = xt_u64_text(xt_member_str(c, "gas"));
    xt_address(&tx->to, xt_member_str(c, "to"));
    xt_u256_text(&tx->value, xt_member_str(c, "value"));
    xt_unhex(key, 32, xt_member_str(c, "key"));

    data = xt_member_str(c, "data");
    n = (strlen(data) - 2) / 2;
    bytes = malloc(n + 1);
    assert_non_null(bytes);
    xt_unhex(bytes, n, data);
    tx->data = n == 0 ? NULL : bytes;
    tx->data_len = n;

    return bytes;
}


static void
test_tx_sign_viem_vectors(void **state)
{
    json_t        *cases, *c;
    x402_tx        tx;
    x402_address   from, want_from;
    uint8_t        key[32], hash[32], want_hash[32], *data, *raw;
    char          *hex;
    const char    *want_raw, *name;
    size_t         i, cap, len;
    int            parity[2] = { 0, 0 }, short_r = 0, short_s = 0;

    cases = xt_member(xt_txv, "cases");
    assert_true(json_array_size(cases) >= 10);

    json_array_foreach(cases, i, c) {
        name = xt_member_str(c, "name");
        data = xt_case_tx(&tx, key, c);
        want_raw = xt_member_str(c, "raw");
        xt_unhex(want_hash, 32, xt_member_str(c, "hash"));

        /* the signer is the key's */
        assert_int_equal(x402_address_from_privkey(*state, &from, key),
                         X402_OK);
        xt_address(&want_from, xt_member_str(c, "from"));
        assert_memory_equal(from.b, want_from.b, 20);

        cap = tx.data_len + X402_TX_OVERHEAD;
        raw = malloc(cap);
        hex = malloc(2 * cap + 1);
        assert_non_null(raw);
        assert_non_null(hex);

        len = cap;
        if (x402_tx_sign(*state, raw, &len, hash, &tx, key) != X402_OK) {
            fail_msg("%s: x402_tx_sign failed", name);
        }
        xt_tohex(hex, raw, len);
        if (strcmp(hex, want_raw + 2) != 0) {
            fail_msg("%s: raw\n got 0x%s\nwant %s\n", name, hex, want_raw);
        }
        assert_memory_equal(hash, want_hash, 32);

        /* the exact length suffices; one byte less does not */
        assert_int_equal(x402_tx_sign(*state, raw, &cap, hash, &tx, key),
                         X402_OK);
        cap = len - 1;
        assert_int_equal(x402_tx_sign(*state, raw, &cap, hash, &tx, key),
                         X402_ERR_BUFFER);

        parity[json_integer_value(xt_member(c, "yParity")) ? 1 : 0] = 1;
        short_r |= strlen(xt_member_str(c, "r")) < 66;
        short_s |= strlen(xt_member_str(c, "s")) < 66;

        free(hex);
        free(raw);
        free(data);
    }

    /* the cases cover both parities and minimal r and s */
    assert_true(parity[0] && parity[1]);
    assert_true(short_r && short_s);
}


/* The settle calldata of vectors.json, as a type 2 tx: decoded back
 * field by field from the raw bytes, independently of the encoder. */
static void
test_tx_sign_settle_layout(void **state)
{
    x402_tx   tx;
    uint8_t   key[32], hash[32], calldata[X402_SETTLE_EXACT_ECDSA_LEN];
    uint8_t   raw[X402_SETTLE_EXACT_LEN + X402_TX_OVERHEAD];
    uint8_t   sighash[32], sig[65];
    x402_address  signer, want;
    size_t    len, p, list_len;

    xt_hex_at(calldata, sizeof(calldata), "chains.8453.settleCalldata");
    xt_privkey(key);

    memset(&tx, 0, sizeof(tx));
    tx.chain_id = 8453;
    tx.nonce = 0;
    xt_u256_u64(&tx.max_priority_fee_per_gas, 1000000);
    xt_u256_u64(&tx.max_fee_per_gas, 0);
    tx.gas_limit = 0x30000;
    tx.to = x402_exact_proxy_address;
    tx.data = calldata;
    tx.data_len = sizeof(calldata);

    len = sizeof(raw);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, key),
                     X402_OK);

    /* 0x02, list f9 <2 bytes>, chainId 82 2105, nonce 80, prio 83 0f4240,
     * maxFee 80, gas 83 030000, to 94 <20>, value 80, data b9 0184 <388>,
     * accessList c0, yParity, r, s */
    assert_int_equal(raw[0], 0x02);
    assert_int_equal(raw[1], 0xf9);
    list_len = ((size_t) raw[2] << 8) | raw[3];
    assert_int_equal(list_len, len - 4);
    p = 4;
    assert_memory_equal(raw + p, "\x82\x21\x05\x80\x83\x0f\x42\x40\x80"
                                 "\x83\x03\x00\x00\x94", 14);
    p += 14;
    assert_memory_equal(raw + p, x402_exact_proxy_address.b, 20);
    p += 20;
    assert_memory_equal(raw + p, "\x80\xb9\x01\x84", 4);
    p += 4;
    assert_memory_equal(raw + p, calldata, sizeof(calldata));
    p += sizeof(calldata);
    assert_int_equal(raw[p++], 0xc0);
    assert_true(raw[p] == 0x80 || raw[p] == 0x01);
    sig[64] = (uint8_t) (27 + (raw[p] == 0x01));
    p++;

    /* r and s: 32 bytes here unless short (then re-padded) */
    memset(sig, 0, 64);
    assert_true(raw[p] >= 0x80 && raw[p] <= 0xa0);
    memcpy(sig + 32 - (raw[p] - 0x80), raw + p + 1, raw[p] - 0x80);
    p += 1 + (raw[p] - 0x80);
    assert_true(raw[p] >= 0x80 && raw[p] <= 0xa0);
    memcpy(sig + 64 - (raw[p] - 0x80), raw + p + 1, raw[p] - 0x80);
    p += 1 + (raw[p] - 0x80);
    assert_int_equal(p, len);

    /* low s: below n / 2 (its top byte is at most 0x7f) */
    assert_true(sig[32] <= 0x7f);

    /* the signature recovers the key's address over the signing hash:
     * keccak(0x02 ‖ rlp(the nine fields)), rebuilt here */
    {
        uint8_t  pre[X402_SETTLE_EXACT_LEN + 64];
        size_t   body;

        body = 3 + 1 + 4 + 1 + 4 + 21 + 1 + 3 + sizeof(calldata) + 1;
        pre[0] = 0x02;
        pre[1] = 0xf9;
        pre[2] = (uint8_t) (body >> 8);
        pre[3] = (uint8_t) body;
        memcpy(pre + 4, raw + 4, body);
        x402_keccak256(sighash, pre, 4 + body);
    }
    assert_int_equal(x402_ecrecover(*state, &signer, sighash, sig, 65),
                     X402_OK);
    xt_address(&want, xt_str("common.signer"));
    assert_memory_equal(signer.b, want.b, 20);

    /* and the hash is keccak(raw) */
    x402_keccak256(sighash, raw, len);
    assert_memory_equal(sighash, hash, 32);
}


static void
test_tx_sign_errors(void **state)
{
    x402_tx   tx;
    uint8_t   key[32], zero[32], raw[400], hash[32];
    size_t    len;

    xt_privkey(key);
    memset(zero, 0, sizeof(zero));
    memset(&tx, 0, sizeof(tx));
    tx.chain_id = 8453;

    len = sizeof(raw);
    assert_int_equal(x402_tx_sign(NULL, raw, &len, hash, &tx, key),
                     X402_ERR_ARG);
    assert_int_equal(x402_tx_sign(*state, NULL, &len, hash, &tx, key),
                     X402_ERR_ARG);
    assert_int_equal(x402_tx_sign(*state, raw, NULL, hash, &tx, key),
                     X402_ERR_ARG);
    assert_int_equal(x402_tx_sign(*state, raw, &len, NULL, &tx, key),
                     X402_ERR_ARG);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, NULL, key),
                     X402_ERR_ARG);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, NULL),
                     X402_ERR_ARG);
    tx.data_len = 1;
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, key),
                     X402_ERR_ARG);
    tx.data_len = 0;

    /* the zero key is not a key */
    len = sizeof(raw);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, zero),
                     X402_ERR_CRYPTO);

    /* an empty transaction: 0x02 ‖ list of mostly empty strings */
    len = sizeof(raw);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, key),
                     X402_OK);
    assert_int_equal(len, 3 + 98);
    assert_memory_equal(raw, "\x02\xf8\x62\x82\x21\x05\x80\x80\x80\x80\x94",
                        11);
    assert_memory_equal(raw + 31, "\x80\x80\xc0", 3);

    /* every integer at full width: more than 200, within the overhead */
    tx.chain_id = UINT64_MAX;
    tx.nonce = UINT64_MAX;
    tx.gas_limit = UINT64_MAX;
    memset(tx.max_priority_fee_per_gas.b, 0xff, 32);
    memset(tx.max_fee_per_gas.b, 0xff, 32);
    memset(tx.value.b, 0xff, 32);
    len = sizeof(raw);
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, key),
                     X402_OK);
    assert_true(len > 200);
    assert_true(len <= X402_TX_OVERHEAD);

    /* too small for even the unsigned encoding */
    len = 10;
    assert_int_equal(x402_tx_sign(*state, raw, &len, hash, &tx, key),
                     X402_ERR_BUFFER);
}


/* ------------------------------------------------------------ requests */

static void
test_fees_request(void **state)
{
    static const char  want[] =
        "[{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"eth_maxPriorityFeePerGas\","
        "\"params\":[]},"
        "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"eth_getBlockByNumber\","
        "\"params\":[\"latest\",false]},"
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"eth_estimateGas\","
        "\"params\":[{\"from\":\"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65\","
        "\"to\":\"0x402085c248eea27d92e8b30b2c58ed07f9e20001\","
        "\"data\":\"0x13cd3b53ff\"},\"latest\"]},"
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"eth_getTransactionCount\","
        "\"params\":[\"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65\","
        "\"pending\"]}]";
    static const uint8_t  data[5] = { 0x13, 0xcd, 0x3b, 0x53, 0xff };
    x402_address  from;
    char          out[1024], *big;
    uint8_t       calldata[X402_SETTLE_EXACT_ECDSA_LEN];
    size_t        len;
    json_t       *j;
    json_error_t  err;

    (void) state;
    xt_address(&from, "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");

    len = sizeof(out);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, data, sizeof(data), 10),
                     X402_OK);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));

    /* exactly enough room (with the NUL), then one byte short */
    len = strlen(want) + 1;
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, data, sizeof(data), 10),
                     X402_OK);
    len = strlen(want);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, data, sizeof(data), 10),
                     X402_ERR_BUFFER);

    /* no data: "0x" */
    len = sizeof(out);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, NULL, 0, 10), X402_OK);
    assert_non_null(strstr(out, "\"data\":\"0x\"}"));

    /* the real calldata: valid JSON with the four ids */
    xt_hex_at(calldata, sizeof(calldata), "chains.8453.settleCalldata");
    big = malloc(4096);
    assert_non_null(big);
    len = 4096;
    assert_int_equal(x402_rpc_fees_request(big, &len, &from,
                         &x402_exact_proxy_address, calldata,
                         sizeof(calldata), X402_RPC_ID_MAX - 3), X402_OK);
    j = json_loads(big, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 3),
                                                        "id")),
                     (json_int_t) X402_RPC_ID_MAX);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(
            json_array_get(j, 2), "params"), 0), "data")),
        xt_str("chains.8453.settleCalldata"));
    json_decref(j);
    free(big);

    /* arguments */
    len = sizeof(out);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, data, sizeof(data),
                         X402_RPC_ID_MAX - 2), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_request(out, &len, NULL,
                         &x402_exact_proxy_address, data, 5, 1), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from, NULL, data, 5, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_request(out, &len, &from,
                         &x402_exact_proxy_address, NULL, 5, 1), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_request(out, NULL, &from,
                         &x402_exact_proxy_address, data, 5, 1), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_request(NULL, &len, &from,
                         &x402_exact_proxy_address, data, 5, 1),
                     X402_ERR_BUFFER);
}


static void
test_send_receipt_request(void **state)
{
    static const uint8_t  raw[3] = { 0x02, 0xf8, 0x01 };
    uint8_t  hash[32];
    char     out[256];
    size_t   len;

    (void) state;
    memset(hash, 0xab, sizeof(hash));

    len = sizeof(out);
    assert_int_equal(x402_rpc_send_request(out, &len, raw, sizeof(raw), 20),
                     X402_OK);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":"
        "\"eth_sendRawTransaction\",\"params\":[\"0x02f801\"]}");
    assert_int_equal(len, strlen(out));

    len = sizeof(out);
    assert_int_equal(x402_rpc_receipt_request(out, &len, hash,
                                              X402_RPC_ID_MAX), X402_OK);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":9007199254740991,"
        "\"method\":\"eth_getTransactionReceipt\",\"params\":[\"0x"
        "abababababababababababababababababababababababababababababababab"
        "\"]}");

    len = strlen(out);
    assert_int_equal(x402_rpc_receipt_request(out, &len, hash,
                                              X402_RPC_ID_MAX),
                     X402_ERR_BUFFER);

    len = sizeof(out);
    assert_int_equal(x402_rpc_send_request(out, &len, raw, 0, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_send_request(out, &len, NULL, 3, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_send_request(out, &len, raw, 3,
                                           X402_RPC_ID_MAX + 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_receipt_request(out, &len, NULL, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_receipt_request(out, &len, hash,
                                              X402_RPC_ID_MAX + 1),
                     X402_ERR_ARG);
}


/* ------------------------------------------------- real anvil replies */

static void
xt_check_fees(json_t *e, const char *reply)
{
    json_t     *ex;
    x402_fees   f;
    x402_u256   want;
    uint8_t     sel[4];

    ex = xt_member(e, "expect");
    assert_int_equal(x402_rpc_fees_parse(&f, reply, strlen(reply), 10),
                     X402_OK);

    xt_u256_text(&want, xt_member_str(ex, "priorityFee"));
    assert_memory_equal(f.priority_fee.b, want.b, 32);
    xt_u256_text(&want, xt_member_str(ex, "baseFee"));
    assert_memory_equal(f.base_fee.b, want.b, 32);
    assert_int_equal(f.pending_nonce,
                     xt_u64_text(xt_member_str(ex, "pendingNonce")));
    assert_int_equal(f.estimate_ok,
                     json_integer_value(xt_member(ex, "estimateOk")));
    assert_int_equal(f.gas_estimate,
                     xt_u64_text(xt_member_str(ex, "gasEstimate")));
    assert_int_equal(f.has_revert,
                     json_integer_value(xt_member(ex, "hasRevert")));
    if (f.has_revert) {
        xt_unhex(sel, 4, xt_member_str(ex, "revert"));
        assert_memory_equal(f.revert, sel, 4);
    }

    /* the same reply under other ids is foreign */
    assert_int_equal(x402_rpc_fees_parse(&f, reply, strlen(reply), 11),
                     X402_ERR_VALUE);
}


static void
xt_check_send(json_t *e, const char *reply)
{
    json_t    *ex;
    uint8_t    hash[32], want[32];
    char       msg[128];
    x402_err   rc;

    ex = xt_member(e, "expect");
    memset(hash, 0, sizeof(hash));
    rc = x402_rpc_send_parse(hash, msg, sizeof(msg), reply, strlen(reply),
                             20);

    if (json_integer_value(xt_member(ex, "ok"))) {
        assert_int_equal(rc, X402_OK);
        assert_string_equal(msg, "");
        xt_unhex(want, 32, xt_member_str(ex, "hash"));
        assert_memory_equal(hash, want, 32);

    } else {
        assert_int_equal(rc, X402_ERR_VALUE);
        assert_string_equal(msg, xt_member_str(ex, "message"));
    }

    assert_int_equal(x402_rpc_send_parse(hash, msg, sizeof(msg), reply,
                                         strlen(reply), 21), X402_ERR_VALUE);
}


static void
xt_check_receipt(json_t *e, const char *reply)
{
    json_t    *ex;
    int        found, status;
    uint64_t   block;

    ex = xt_member(e, "expect");
    assert_int_equal(x402_rpc_receipt_parse(&found, &status, &block, reply,
                                            strlen(reply), 30), X402_OK);
    assert_int_equal(found, json_integer_value(xt_member(ex, "found")));
    if (found) {
        assert_int_equal(status, json_integer_value(xt_member(ex, "status")));
        assert_int_equal(block, xt_u64_text(xt_member_str(ex, "block")));
    }

    assert_int_equal(x402_rpc_receipt_parse(&found, &status, &block, reply,
                                            strlen(reply), 31),
                     X402_ERR_VALUE);
}


static void
test_anvil_replies(void **state)
{
    json_t      *entries, *e;
    const char  *name, *reply;
    size_t       i;
    int          seen[8];

    (void) state;
    memset(seen, 0, sizeof(seen));
    entries = xt_member(xt_anvil, "entries");

    json_array_foreach(entries, i, e) {
        name = xt_member_str(e, "name");
        reply = xt_member_str(e, "reply");

        if (strncmp(name, "fees-", 5) == 0) {
            xt_check_fees(e, reply);
            seen[strcmp(name, "fees-ok") == 0 ? 0 : 1] = 1;

        } else if (strncmp(name, "send-", 5) == 0) {
            xt_check_send(e, reply);
            seen[json_integer_value(xt_member(xt_member(e, "expect"), "ok"))
                 ? 2 : 3] = 1;

        } else if (strncmp(name, "receipt-", 8) == 0) {
            xt_check_receipt(e, reply);
            seen[strcmp(name, "receipt-success") == 0 ? 4
                 : strcmp(name, "receipt-reverted") == 0 ? 5 : 6] = 1;

        } else {
            fail_msg("unknown entry %s", name);
        }
    }

    /* good and reverted estimates, sent and refused, success, reverted
     * and missing receipts */
    for (i = 0; i < 7; i++) {
        assert_true(seen[i]);
    }
}


/* ------------------------------------------- synthetic fees replies */

#define XT_PRIO  "{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":\"0x3b9aca00\"}"
#define XT_BLOCK "{\"jsonrpc\":\"2.0\",\"id\":11,\"result\":{\"number\":" \
                 "\"0x8\",\"baseFeePerGas\":\"0x17cf8789\"}}"
#define XT_EST   "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":\"0x18069\"}"
#define XT_NONCE "{\"jsonrpc\":\"2.0\",\"id\":13,\"result\":\"0x2a\"}"


static x402_err
xt_fees(x402_fees *f, const char *reply)
{
    return x402_rpc_fees_parse(f, reply, strlen(reply), 10);
}


static void
test_fees_parse_cases(void **state)
{
    x402_fees  f;
    char      *longer;

    (void) state;

    /* healthy, in reverse order */
    assert_int_equal(xt_fees(&f, "[" XT_NONCE "," XT_EST "," XT_BLOCK ","
                                 XT_PRIO "]"), X402_OK);
    assert_int_equal(f.priority_fee.b[31], 0x00);
    assert_int_equal(f.priority_fee.b[28], 0x3b);
    assert_int_equal(f.base_fee.b[28], 0x17);
    assert_int_equal(f.base_fee.b[31], 0x89);
    assert_int_equal(f.gas_estimate, 0x18069);
    assert_int_equal(f.pending_nonce, 42);
    assert_int_equal(f.estimate_ok, 1);
    assert_int_equal(f.has_revert, 0);

    /* a revert without data: estimate_ok 0, no selector */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"error\":{\"code\":3,"
        "\"message\":\"execution reverted\"}}," XT_NONCE "]"), X402_OK);
    assert_int_equal(f.estimate_ok, 0);
    assert_int_equal(f.has_revert, 0);
    assert_int_equal(f.gas_estimate, 0);
    assert_int_equal(f.pending_nonce, 42);

    /* code 3 alone marks a revert */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"error\":{\"code\":3,"
        "\"message\":\"VM Exception\"}}," XT_NONCE "]"), X402_OK);
    assert_int_equal(f.estimate_ok, 0);
    assert_int_equal(f.has_revert, 0);

    /* geth-style: code -32000, message "execution reverted", nested data */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"error\":{\"code\":-32000,"
        "\"message\":\"execution reverted\",\"data\":{\"data\":"
        "\"0x0f6fae87\"}}}," XT_NONCE "]"), X402_OK);
    assert_int_equal(f.estimate_ok, 0);
    assert_int_equal(f.has_revert, 1);
    assert_memory_equal(f.revert, "\x0f\x6f\xae\x87", 4);

    /* any other estimate error: the node, not the payment */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"error\":{\"code\":-32000,"
        "\"message\":\"insufficient funds for transfer\"}}," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(f.pending_nonce, 0);

    /* errors on the other calls */
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"error\":"
        "{\"code\":-32601,\"message\":\"Method not found\"}}," XT_BLOCK ","
        XT_EST "," XT_NONCE "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO ",{\"jsonrpc\":\"2.0\",\"id\":11,"
        "\"error\":{\"code\":3,\"message\":\"execution reverted\"}},"
        XT_EST "," XT_NONCE "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"error\":{\"code\":-32005,"
        "\"message\":\"rate limited\"}}]"), X402_ERR_VALUE);

    /* the block: null, pre-London, a malformed base fee */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO ",{\"jsonrpc\":\"2.0\",\"id\":11,"
        "\"result\":null}," XT_EST "," XT_NONCE "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO ",{\"jsonrpc\":\"2.0\",\"id\":11,"
        "\"result\":{\"number\":\"0x8\"}}," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO ",{\"jsonrpc\":\"2.0\",\"id\":11,"
        "\"result\":{\"baseFeePerGas\":17}}," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO ",{\"jsonrpc\":\"2.0\",\"id\":11,"
        "\"result\":\"0x17\"}," XT_EST "," XT_NONCE "]"), X402_ERR_VALUE);

    /* quantities: "0x", no prefix, not hex, too long; leading zeros ok */
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,"
        "\"result\":\"0x\"}," XT_BLOCK "," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,"
        "\"result\":\"1000\"}," XT_BLOCK "," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,"
        "\"result\":\"0x1g\"}," XT_BLOCK "," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,"
        "\"result\":1000}," XT_BLOCK "," XT_EST "," XT_NONCE "]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":"
        "\"0x10000000000000000000000000000000000000000000000000000000000000000"
        "\"}," XT_BLOCK "," XT_EST "," XT_NONCE "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":\"0x10000000000000000\"},"
        XT_NONCE "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":"
        "\"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "\"}," XT_BLOCK "," XT_EST ",{\"jsonrpc\":\"2.0\",\"id\":13,"
        "\"result\":\"0x00ff\"}]"), X402_OK);
    assert_int_equal(f.priority_fee.b[0], 0xff);
    assert_int_equal(f.priority_fee.b[31], 0xff);
    assert_int_equal(f.pending_nonce, 255);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK ","
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":\"0xffffffffffffffff\"},"
        XT_NONCE "]"), X402_OK);
    assert_true(f.gas_estimate == UINT64_MAX);

    /* the batch: count, ids, shapes */
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST "]"),
                     X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
                                 XT_EST "]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
        "{\"jsonrpc\":\"2.0\",\"id\":14,\"result\":\"0x2a\"}]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
        "{\"jsonrpc\":\"2.0\",\"id\":\"13\",\"result\":\"0x2a\"}]"),
        X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
        "{\"jsonrpc\":\"2.0\",\"id\":13}]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ","
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"result\":\"0x2a\","
        "\"error\":{\"code\":1}}]"), X402_ERR_VALUE);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK "," XT_EST ",7]"),
                     X402_ERR_JSON);
    assert_int_equal(xt_fees(&f, XT_PRIO), X402_ERR_JSON);
    assert_int_equal(xt_fees(&f, "[" XT_PRIO "," XT_BLOCK), X402_ERR_JSON);
    assert_int_equal(xt_fees(&f, "<html>502 Bad Gateway</html>"),
                     X402_ERR_JSON);
    assert_int_equal(xt_fees(&f, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
        "{\"code\":-32700,\"message\":\"Parse error\"}}"), X402_ERR_JSON);
    assert_int_equal(x402_rpc_fees_parse(&f, "", 0, 10), X402_ERR_JSON);
    assert_int_equal(x402_rpc_fees_parse(&f, NULL, 0, 10), X402_ERR_JSON);
    assert_int_equal(x402_rpc_fees_parse(NULL, "[]", 2, 10), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_parse(&f, NULL, 2, 10), X402_ERR_ARG);
    assert_int_equal(x402_rpc_fees_parse(&f, "[]", 2, X402_RPC_ID_MAX - 2),
                     X402_ERR_ARG);

    longer = malloc(X402_RPC_REPLY_MAX + 2);
    assert_non_null(longer);
    memset(longer, ' ', X402_RPC_REPLY_MAX + 1);
    longer[X402_RPC_REPLY_MAX + 1] = '\0';
    assert_int_equal(x402_rpc_fees_parse(&f, longer, X402_RPC_REPLY_MAX + 1,
                                         10), X402_ERR_SIZE);
    free(longer);
}


/* ---------------------------------------------- synthetic send replies */

static x402_err
xt_send(uint8_t hash[32], char *msg, size_t cap, const char *reply)
{
    return x402_rpc_send_parse(hash, msg, cap, reply, strlen(reply), 20);
}



/* The per-transaction half: estimate (id 12) and pending count (id 13). */
static void
test_gas_request_parse(void **state)
{
    static const char  want[] =
        "[{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"eth_estimateGas\","
        "\"params\":[{\"from\":\"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65\","
        "\"to\":\"0x402085c248eea27d92e8b30b2c58ed07f9e20001\","
        "\"data\":\"0x13cd3b53ff\"},\"latest\"]},"
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"eth_getTransactionCount\","
        "\"params\":[\"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65\","
        "\"pending\"]}]";
    static const uint8_t  data[5] = { 0x13, 0xcd, 0x3b, 0x53, 0xff };
    x402_address  from, to;
    x402_fees     f;
    char          out[1024];
    size_t        len;
    const char   *r;

    (void) state;

    assert_int_equal(x402_address_parse(&from,
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", 42), X402_OK);
    assert_int_equal(x402_address_parse(&to,
        "0x402085c248EeA27D92E8b30b2C58ed07f9E20001", 42), X402_OK);

    len = sizeof(out);
    assert_int_equal(x402_rpc_gas_request(out, &len, &from, &to, data, 5, 12),
                     X402_OK);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));

    len = 20;
    assert_int_equal(x402_rpc_gas_request(out, &len, &from, &to, data, 5, 12),
                     X402_ERR_BUFFER);
    len = sizeof(out);
    assert_int_equal(x402_rpc_gas_request(out, &len, &from, &to, NULL, 5, 12),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_gas_request(out, &len, &from, &to, data, 5,
                                          X402_RPC_ID_MAX),
                     X402_ERR_ARG);

    r = "[" XT_NONCE "," XT_EST "]";
    memset(&f, 0xee, sizeof(f));
    assert_int_equal(x402_rpc_gas_parse(&f, r, strlen(r), 12), X402_OK);
    assert_int_equal(f.gas_estimate, 0x18069);
    assert_int_equal(f.pending_nonce, 42);
    assert_int_equal(f.estimate_ok, 1);
    assert_int_equal(f.has_revert, 0);
    assert_int_equal(f.base_fee.b[28], 0);
    assert_int_equal(f.priority_fee.b[28], 0);

    /* a revert is an answer, with its selector */
    r = "[" XT_NONCE ",{\"jsonrpc\":\"2.0\",\"id\":12,\"error\":{\"code\":3,"
        "\"message\":\"execution reverted\",\"data\":\"0x756688fe\"}}]";
    assert_int_equal(x402_rpc_gas_parse(&f, r, strlen(r), 12), X402_OK);
    assert_int_equal(f.estimate_ok, 0);
    assert_int_equal(f.has_revert, 1);
    assert_int_equal(f.revert[0], 0x75);

    /* a failed count, a missing entry, the fees' ids: the node is broken */
    r = "[{\"jsonrpc\":\"2.0\",\"id\":13,\"error\":{\"code\":-32000,"
        "\"message\":\"busy\"}}," XT_EST "]";
    assert_int_equal(x402_rpc_gas_parse(&f, r, strlen(r), 12), X402_ERR_VALUE);
    assert_int_equal(f.pending_nonce, 0);
    r = "[" XT_EST "]";
    assert_int_equal(x402_rpc_gas_parse(&f, r, strlen(r), 12), X402_ERR_VALUE);
    r = "[" XT_PRIO "," XT_BLOCK "]";
    assert_int_equal(x402_rpc_gas_parse(&f, r, strlen(r), 10), X402_ERR_VALUE);
    assert_int_equal(x402_rpc_gas_parse(NULL, r, strlen(r), 12), X402_ERR_ARG);
}

static void
test_send_parse_cases(void **state)
{
    uint8_t  hash[32];
    char     msg[64], tiny[8];

    (void) state;

    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0x"
        "00000000000000000000000000000000000000000000000000000000000000ab\"}"),
        X402_OK);
    assert_int_equal(hash[31], 0xab);
    assert_int_equal(hash[0], 0);
    assert_string_equal(msg, "");

    /* hash32 and msg may be left out */
    assert_int_equal(xt_send(NULL, NULL, 0,
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0x"
        "00000000000000000000000000000000000000000000000000000000000000ab\"}"),
        X402_OK);
    assert_int_equal(xt_send(hash, NULL, 5, "{}"), X402_ERR_ARG);
    assert_int_equal(x402_rpc_send_parse(hash, msg, sizeof(msg), "{}", 2,
                                         X402_RPC_ID_MAX + 1), X402_ERR_ARG);

    /* geth's error texts */
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":-32000,"
        "\"message\":\"insufficient funds for gas * price + value: "
        "balance 0, tx cost 600000, overshot 600000\"}}"), X402_ERR_VALUE);
    assert_string_equal(msg, "insufficient funds for gas * price + value: "
                             "balance 0, tx cost ");
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":-32000,"
        "\"message\":\"nonce too low: next nonce 5, tx nonce 4\"}}"),
        X402_ERR_VALUE);
    assert_string_equal(msg, "nonce too low: next nonce 5, tx nonce 4");

    /* truncation keeps whole UTF-8 characters: "ab€" into 5 bytes */
    assert_int_equal(xt_send(hash, tiny, 5,
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":1,"
        "\"message\":\"ab\\u20accd\"}}"), X402_ERR_VALUE);
    assert_string_equal(tiny, "ab");
    assert_int_equal(xt_send(hash, tiny, 6,
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":1,"
        "\"message\":\"ab\\u20accd\"}}"), X402_ERR_VALUE);
    assert_string_equal(tiny, "ab\xe2\x82\xac");
    assert_int_equal(xt_send(hash, tiny, 1,
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":1,"
        "\"message\":\"ab\"}}"), X402_ERR_VALUE);
    assert_string_equal(tiny, "");

    /* an error without a message: msg "" */
    strcpy(msg, "stale");
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":-32000}}"),
        X402_ERR_VALUE);
    assert_string_equal(msg, "");

    /* malformed: all zeros, short, long, not hex, not a string, none */
    strcpy(msg, "stale");
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0x"
        "0000000000000000000000000000000000000000000000000000000000000000\"}"),
        X402_ERR_VALUE);
    assert_string_equal(msg, "");
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0xabcd\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0x"
        "00000000000000000000000000000000000000000000000000000000000000ab00\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\""
        "00000000000000000000000000000000000000000000000000000000000000ab\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":true}"), X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":null}"), X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20}"), X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"result\":\"0x01\"}"), X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":\"nonce too low\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "[{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":\"0x01\"}]"),
        X402_ERR_JSON);
    assert_int_equal(xt_send(hash, msg, sizeof(msg), "{\"id\":20,"),
                     X402_ERR_JSON);
    assert_int_equal(xt_send(hash, msg, sizeof(msg),
        "{\"id\":20,\"id\":20,\"result\":\"0x01\"}"), X402_ERR_JSON);
    assert_int_equal(xt_send(hash, msg, sizeof(msg), ""), X402_ERR_JSON);
}


/* -------------------------------------------- synthetic receipt replies */

static x402_err
xt_receipt(int *found, int *status, uint64_t *block, const char *reply)
{
    return x402_rpc_receipt_parse(found, status, block, reply, strlen(reply),
                                  30);
}


static void
test_receipt_parse_cases(void **state)
{
    int       found, status;
    uint64_t  block;

    (void) state;

    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":\"0x1\","
        "\"blockNumber\":\"0x1b4\",\"transactionHash\":\"0xab\"}}"), X402_OK);
    assert_int_equal(found, 1);
    assert_int_equal(status, 1);
    assert_int_equal(block, 436);

    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"blockNumber\":\"0x2\","
        "\"status\":\"0x0\"}}"), X402_OK);
    assert_int_equal(found, 1);
    assert_int_equal(status, 0);
    assert_int_equal(block, 2);

    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":null}"), X402_OK);
    assert_int_equal(found, 0);
    assert_int_equal(status, 0);
    assert_int_equal(block, 0);

    /* not a receipt */
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":\"0x2\","
        "\"blockNumber\":\"0x2\"}}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":\"0x"
        "0100000000000000000000000000000000000000000000000000000000000001\","
        "\"blockNumber\":\"0x2\"}}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"root\":\"0x"
        "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421\","
        "\"blockNumber\":\"0x2\"}}"), X402_ERR_VALUE);
    assert_int_equal(found, 0);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":\"0x1\"}}"),
        X402_ERR_VALUE);
    assert_int_equal(found, 0);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":\"0x1\","
        "\"blockNumber\":null}}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":{\"status\":1,"
        "\"blockNumber\":\"0x2\"}}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":\"0x1\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30,\"error\":{\"code\":-32000,"
        "\"message\":\"header not found\"}}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":30}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":null}"), X402_ERR_VALUE);
    assert_int_equal(xt_receipt(&found, &status, &block,
        "[{\"jsonrpc\":\"2.0\",\"id\":30,\"result\":null}]"), X402_ERR_JSON);
    assert_int_equal(xt_receipt(&found, &status, &block, "null"),
                     X402_ERR_JSON);
    assert_int_equal(xt_receipt(&found, &status, &block, "{\"id\":30"),
                     X402_ERR_JSON);
    assert_int_equal(xt_receipt(NULL, &status, &block, "{}"), X402_ERR_ARG);
    assert_int_equal(xt_receipt(&found, NULL, &block, "{}"), X402_ERR_ARG);
    assert_int_equal(xt_receipt(&found, &status, NULL, "{}"), X402_ERR_ARG);
}


/* ------------------------------------------------------ SettleResponse */

static void
xt_check_response(const char *vec, int success, const char *reason)
{
    char          path[128], json[1024], hdr[2048], want[1024];
    json_t       *dec;
    x402_address  payer;
    size_t        len;

    snprintf(path, sizeof(path), "headers.%s.decoded", vec);
    dec = xt_get(path);
    xt_address(&payer, xt_member_str(dec, "payer"));
    assert_string_equal(xt_member_str(dec, "network"), "eip155:8453");

    len = sizeof(json);
    assert_int_equal(x402_settle_response_encode(json, &len, success, reason,
                         &payer, xt_member_str(dec, "transaction"), 8453,
                         NULL), X402_OK);
    assert_int_equal(len, strlen(json));

    /* the JSON is the header's decoding, byte for byte */
    snprintf(path, sizeof(path), "headers.%s.header", vec);
    (void) xt_b64_decode(want, xt_str(path));
    assert_string_equal(json, want);

    /* and the header its base64 */
    assert_int_equal(x402_base64_encode(hdr, sizeof(hdr),
                                        (const uint8_t *) json, len),
                     X402_OK);
    assert_string_equal(hdr, xt_str(path));

    /* exactly enough room, then one byte short */
    len = strlen(want) + 1;
    assert_int_equal(x402_settle_response_encode(json, &len, success, reason,
                         &payer, xt_member_str(dec, "transaction"), 8453,
                         NULL), X402_OK);
    len = strlen(want);
    assert_int_equal(x402_settle_response_encode(json, &len, success, reason,
                         &payer, xt_member_str(dec, "transaction"), 8453,
                         NULL), X402_ERR_BUFFER);
}




/* ------------------------------------------------ a settlement on chain */

static void
test_find_head(void **state)
{
    char      out[128];
    size_t    len;
    uint64_t  number, ts;

    (void) state;

    len = sizeof(out);
    assert_int_equal(x402_rpc_head_request(out, &len, 7), X402_OK);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":7,"
        "\"method\":\"eth_getBlockByNumber\",\"params\":[\"latest\",false]}");

#define XT_HEAD(r) x402_rpc_head_parse(&number, &ts, r, strlen(r), 7)
    assert_int_equal(XT_HEAD("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"
        "{\"number\":\"0x1f4\",\"timestamp\":\"0x6553f100\","
        "\"hash\":\"0x00\"}}"), X402_OK);
    assert_int_equal(number, 500);
    assert_int_equal(ts, 0x6553f100);

    assert_int_equal(XT_HEAD("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":null}"),
                     X402_ERR_VALUE);
    assert_int_equal(number, 0);
    assert_int_equal(XT_HEAD("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"
        "{\"number\":\"0x1f4\"}}"), X402_ERR_VALUE);
    assert_int_equal(XT_HEAD("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":"
        "{\"number\":\"0x1\",\"timestamp\":\"0x1\"}}"), X402_ERR_VALUE);
    assert_int_equal(XT_HEAD("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":"
        "{\"code\":-32000,\"message\":\"x\"}}"), X402_ERR_VALUE);
#undef XT_HEAD

    /* a block per second at most below the head, never below 0 */
    assert_int_equal(x402_find_first_block(500, 1000, 900), 400);
    assert_int_equal(x402_find_first_block(500, 1000, 1000), 500);
    assert_int_equal(x402_find_first_block(500, 1000, 2000), 500);
    assert_int_equal(x402_find_first_block(50, 1000, 900), 0);
    assert_int_equal(x402_find_first_block(10000000, 10000000, 0),
                     10000000 - X402_FIND_BLOCKS_MAX);
}


static void
test_find_transfers(void **state)
{
    static const char  want[] =
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"eth_getLogs\",\"params\":"
        "[{\"address\":\"0x1111111111111111111111111111111111111111\","
        "\"topics\":[\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a116"
        "28f55a4df523b3ef\",\"0x000000000000000000000000"
        "2222222222222222222222222222222222222222\",\"0x000000000000000000000000"
        "3333333333333333333333333333333333333333\"],"
        "\"fromBlock\":\"0x1a0\",\"toBlock\":\"latest\"}]}";
    static const char  reply[] =
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":["
        "{\"transactionHash\":\"0xaa00000000000000000000000000000000000000"
        "000000000000000000000001\",\"removed\":false},"
        "{\"transactionHash\":\"0xaa00000000000000000000000000000000000000"
        "000000000000000000000002\",\"removed\":true},"
        "{\"transactionHash\":\"0xaa00000000000000000000000000000000000000"
        "000000000000000000000001\"},"
        "{\"transactionHash\":\"0xaa00000000000000000000000000000000000000"
        "000000000000000000000003\"},"
        "{\"transactionHash\":\"0xaa00000000000000000000000000000000000000"
        "000000000000000000000004\"}]}";
    char          out[512];
    size_t        len, n;
    uint8_t       hashes[3][32];
    x402_address  token, from, to;

    (void) state;

    memset(token.b, 0x11, 20);
    memset(from.b, 0x22, 20);
    memset(to.b, 0x33, 20);

    len = sizeof(out);
    assert_int_equal(x402_rpc_transfers_request(out, &len, &token, &from,
                                                &to, 0x1a0, 9), X402_OK);
    assert_string_equal(out, want);
    len = sizeof(out);
    assert_int_equal(x402_rpc_transfers_request(out, &len, &token, &from,
                                                &to, 0, 9), X402_OK);
    assert_non_null(strstr(out, "\"fromBlock\":\"0x0\""));
    len = 40;
    assert_int_equal(x402_rpc_transfers_request(out, &len, &token, &from,
                                                &to, 0, 9), X402_ERR_BUFFER);

    /* distinct hashes in order, removed logs skipped, at most cap */
    assert_int_equal(x402_rpc_transfers_parse(hashes, &n, 2, reply,
                                              strlen(reply), 9), X402_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hashes[0][31], 1);
    assert_int_equal(hashes[1][31], 3);
    assert_int_equal(x402_rpc_transfers_parse(hashes, &n, 3, reply,
                                              strlen(reply), 9), X402_OK);
    assert_int_equal(n, 3);
    assert_int_equal(hashes[2][31], 4);

#define XT_LOGS(r) x402_rpc_transfers_parse(hashes, &n, 3, r, strlen(r), 9)
    assert_int_equal(XT_LOGS("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":[]}"),
                     X402_OK);
    assert_int_equal(n, 0);
    assert_int_equal(XT_LOGS("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":"
        "[{\"transactionHash\":\"0x12\"}]}"), X402_ERR_VALUE);
    assert_int_equal(n, 0);
    assert_int_equal(XT_LOGS("{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":"
        "{\"code\":-32005,\"message\":\"query returned more than 10000 "
        "results\"}}"), X402_ERR_VALUE);
    assert_int_equal(XT_LOGS("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}"),
                     X402_ERR_VALUE);
#undef XT_LOGS
}


static void
test_find_permit(void **state)
{
    /* the exact proxy's settle(): selector, token, amount, nonce, deadline,
     * owner, ...; the same words shifted by a multicall's 4 bytes */
    static const char  nonce_hex[] =
        "b1e4a3f0c2d5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
    static const char  payer_word[] =
        "00000000000000000000000015d34aaf54267db7d7c367839aaf71a00a2c6a65";
    char          reply[2048], out[512];
    size_t        len, index;
    uint8_t       hashes[2][32];
    x402_u256     nonce;
    x402_address  payer;

    (void) state;

    assert_int_equal(x402_address_parse(&payer,
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", 42), X402_OK);
    len = sizeof(nonce.b);
    assert_int_equal(x402_hex_decode(nonce.b, &len, nonce_hex, 64), X402_OK);

    memset(hashes, 0xab, sizeof(hashes));
    len = sizeof(out);
    assert_int_equal(x402_rpc_txs_request(out, &len,
                         (const uint8_t (*)[32]) hashes, 2, 20), X402_OK);
    assert_non_null(strstr(out, "[{\"jsonrpc\":\"2.0\",\"id\":20,"
                                "\"method\":\"eth_getTransactionByHash\""));
    assert_non_null(strstr(out, ",{\"jsonrpc\":\"2.0\",\"id\":21,"));
    assert_int_equal(x402_rpc_txs_request(out, &len,
                         (const uint8_t (*)[32]) hashes, 0, 20),
                     X402_ERR_ARG);

#define XT_FIND(n) x402_rpc_txs_find_permit(&index, reply, strlen(reply), n, \
                                            &payer, &nonce, 20)
    /* the second transaction carries the permit, the first another nonce */
    snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":21,\"result\":{\"input\":\"0x13cd3b53"
        "%064d%064d%s%064d%s\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":{\"input\":\"0x13cd3b53"
        "%064d%064d%064d%064d%s\"}}]",
        1, 2, nonce_hex, 3, payer_word, 1, 2, 7, 3, payer_word);
    assert_int_equal(XT_FIND(2), X402_OK);
    assert_int_equal(index, 1);

    /* shifted by a multicall's selector; upper-case digits */
    snprintf(reply, sizeof(reply),
        "{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":{\"input\":\"0xac9650d8"
        "12345678%s%064d%s\"}}", "B1E4A3F0C2D5968778695A4B3C2D1E0F"
        "00112233445566778899AABBCCDDEEFF", 3, payer_word);
    /* a single reply is not a batch */
    assert_int_equal(XT_FIND(1), X402_ERR_JSON);
    memmove(reply + 1, reply, strlen(reply) + 1);
    reply[0] = '[';
    strcat(reply, "]");
    assert_int_equal(XT_FIND(1), X402_OK);
    assert_int_equal(index, 0);

    /* the nonce without the payer, a half-byte shift, an unknown
     * transaction: nothing found */
    snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":{\"input\":\"0x13cd3b53"
        "%s%064d\"}},{\"jsonrpc\":\"2.0\",\"id\":21,\"result\":{\"input\":"
        "\"0x1%s%s0\"}},{\"jsonrpc\":\"2.0\",\"id\":22,\"result\":null}]",
        nonce_hex, 0, nonce_hex, payer_word);
    assert_int_equal(XT_FIND(3), X402_OK);
    assert_int_equal(index, 3);

    /* an error entry, an input that is not hex, a missing entry */
    snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":20,\"error\":{\"code\":-32000,"
        "\"message\":\"x\"}}]");
    assert_int_equal(XT_FIND(1), X402_ERR_VALUE);
    snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":{\"input\":\"0xzz\"}}]");
    assert_int_equal(XT_FIND(1), X402_ERR_VALUE);
    snprintf(reply, sizeof(reply),
        "[{\"jsonrpc\":\"2.0\",\"id\":20,\"result\":null}]");
    assert_int_equal(XT_FIND(2), X402_ERR_VALUE);
#undef XT_FIND
}

static x402_err
xt_mined(uint64_t *count, const char *reply)
{
    return x402_rpc_mined_count_parse(count, reply, strlen(reply), 40);
}


static void
test_mined_count(void **state)
{
    static const char  want[] =
        "{\"jsonrpc\":\"2.0\",\"id\":40,"
        "\"method\":\"eth_getTransactionCount\","
        "\"params\":[\"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65\","
        "\"latest\"]}";
    char          out[256];
    size_t        len;
    uint64_t      count;
    x402_address  from;

    (void) state;

    assert_int_equal(x402_address_parse(&from,
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", 42), X402_OK);

    len = sizeof(out);
    assert_int_equal(x402_rpc_mined_count_request(out, &len, &from, 40),
                     X402_OK);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));

    len = 10;
    assert_int_equal(x402_rpc_mined_count_request(out, &len, &from, 40),
                     X402_ERR_BUFFER);
    len = sizeof(out);
    assert_int_equal(x402_rpc_mined_count_request(out, &len, NULL, 40),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_mined_count_request(out, &len, &from,
                                                  X402_RPC_ID_MAX + 1),
                     X402_ERR_ARG);

    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"result\":\"0x1b4\"}"), X402_OK);
    assert_int_equal(count, 436);
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"result\":\"0x0\"}"), X402_OK);
    assert_int_equal(count, 0);

    /* errors, foreign ids and non-quantities change nothing usable */
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"error\":{\"code\":-32000,"
        "\"message\":\"header not found\"}}"), X402_ERR_VALUE);
    assert_int_equal(count, 0);
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":41,\"result\":\"0x5\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"result\":5}"), X402_ERR_VALUE);
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"result\":null}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_mined(&count,
        "{\"jsonrpc\":\"2.0\",\"id\":40,\"result\":\"0x10000000000000000\"}"),
        X402_ERR_VALUE);
    assert_int_equal(xt_mined(&count, "[1,2"), X402_ERR_JSON);
    assert_int_equal(x402_rpc_mined_count_parse(NULL, "{}", 2, 40),
                     X402_ERR_ARG);
}

static void
test_settle_response_vectors(void **state)
{
    (void) state;

    xt_check_response("paymentResponseSuccess", 1, NULL);
    xt_check_response("paymentResponseFailure", 0,
                      xt_str("headers.paymentResponseFailure.decoded."
                             "errorReason"));
}


static void
test_settle_response_cases(void **state)
{
    char          out[512];
    x402_address  payer;
    x402_u256     amount;
    size_t        len;

    (void) state;
    xt_address(&payer, "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    xt_u256_text(&amount, "340282366920938463463374607431768211456");

    /* upto: the settled amount, in decimal, last */
    len = sizeof(out);
    assert_int_equal(x402_settle_response_encode(out, &len, 1, NULL, &payer,
                         "0x01", 84532, &amount), X402_OK);
    assert_string_equal(out, "{\"success\":true,\"payer\":"
        "\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"transaction\":"
        "\"0x01\",\"network\":\"eip155:84532\",\"amount\":"
        "\"340282366920938463463374607431768211456\"}");

    /* a reverted receipt carries its hash */
    len = sizeof(out);
    assert_int_equal(x402_settle_response_encode(out, &len, 0,
                         "invalid_exact_evm_transaction_failed", &payer,
                         "0xabab", 8453, NULL), X402_OK);
    assert_string_equal(out, "{\"success\":false,\"errorReason\":"
        "\"invalid_exact_evm_transaction_failed\",\"payer\":"
        "\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"transaction\":"
        "\"0xabab\",\"network\":\"eip155:8453\"}");

    /* text is escaped, not copied */
    len = sizeof(out);
    assert_int_equal(x402_settle_response_encode(out, &len, 0, "a\"b", &payer,
                         "", 1, NULL), X402_OK);
    assert_non_null(strstr(out, "\"errorReason\":\"a\\\"b\""));

    len = sizeof(out);
    assert_int_equal(x402_settle_response_encode(out, &len, 0, "\xff", &payer,
                         "", 1, NULL), X402_ERR_ARG);
    assert_int_equal(x402_settle_response_encode(out, &len, 0, NULL, NULL,
                         "", 1, NULL), X402_ERR_ARG);
    assert_int_equal(x402_settle_response_encode(out, &len, 0, NULL, &payer,
                         NULL, 1, NULL), X402_ERR_ARG);
    assert_int_equal(x402_settle_response_encode(out, NULL, 0, NULL, &payer,
                         "", 1, NULL), X402_ERR_ARG);
    len = 0;
    assert_int_equal(x402_settle_response_encode(out, &len, 0, NULL, &payer,
                         "", 1, NULL), X402_ERR_ARG);
}


/* ---------------------------------------------------------- errorReason */

/* docs/protocol.md#revert-reasons, by error name (independent of the
 * table). */
static const struct {
    const char  *name;
    const char  *reason;
} xt_settle_reasons[] = {
    { "Permit2612AmountMismatch()", "permit2_2612_amount_mismatch" },
    { "InvalidAmount()", "permit2_invalid_amount" },
    { "InvalidAmount(uint256)", "permit2_invalid_amount" },
    { "InvalidDestination()", "permit2_invalid_destination" },
    { "InvalidOwner()", "permit2_invalid_owner" },
    { "PaymentTooEarly()", "permit2_payment_too_early" },
    { "InvalidSignature()", "invalid_permit2_signature" },
    { "SignatureExpired(uint256)", "invalid_permit2_signature" },
    { "InvalidSignatureLength()", "invalid_permit2_signature" },
    { "InvalidSigner()", "invalid_permit2_signature" },
    { "InvalidContractSignature()", "invalid_permit2_signature" },
    { "InvalidNonce()", "permit2_invalid_nonce" },
    { "AmountExceedsPermitted()", "upto_amount_exceeds_permitted" },
    { "UnauthorizedFacilitator()", "upto_unauthorized_facilitator" },
    { "InvalidPermit2Address()", "invalid_exact_evm_transaction_failed" },
    { "ReentrancyGuardReentrantCall()",
      "invalid_exact_evm_transaction_failed" }
};


static void
test_settle_error_reason(void **state)
{
    json_t      *sels, *v;
    const char  *key, *want;
    uint8_t      sel[4];
    size_t       i, n;

    (void) state;

    sels = xt_get("constants.errorSelectors");
    n = 0;

    json_object_foreach(sels, key, v) {
        want = NULL;
        for (i = 0; i < sizeof(xt_settle_reasons) / sizeof(xt_settle_reasons[0]);
             i++)
        {
            if (strcmp(key, xt_settle_reasons[i].name) == 0) {
                want = xt_settle_reasons[i].reason;
            }
        }
        if (want == NULL) {
            fail_msg("no expected reason for %s", key);
        }

        xt_unhex(sel, 4, json_string_value(v));
        if (strcmp(x402_settle_error_reason(sel), want) != 0) {
            fail_msg("%s: got %s, want %s", key,
                     x402_settle_error_reason(sel), want);
        }
        n++;
    }

    /* every selector of the vectors was checked */
    assert_int_equal(n, sizeof(xt_settle_reasons) / sizeof(xt_settle_reasons[0]));

    /* Error(string), Panic(uint256), a token error, nothing */
    assert_string_equal(x402_settle_error_reason(
                            (const uint8_t *) "\x08\xc3\x79\xa0"),
                        "invalid_exact_evm_transaction_failed");
    assert_string_equal(x402_settle_error_reason(
                            (const uint8_t *) "\x4e\x48\x7b\x71"),
                        "invalid_exact_evm_transaction_failed");
    assert_string_equal(x402_settle_error_reason(
                            (const uint8_t *) "\xe4\x50\xd3\x8c"),
                        "invalid_exact_evm_transaction_failed");
    assert_string_equal(x402_settle_error_reason(NULL),
                        "invalid_exact_evm_transaction_failed");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rlp_known_answers),
        cmocka_unit_test(test_tx_sign_viem_vectors),
        cmocka_unit_test(test_tx_sign_settle_layout),
        cmocka_unit_test(test_tx_sign_errors),
        cmocka_unit_test(test_fees_request),
        cmocka_unit_test(test_send_receipt_request),
        cmocka_unit_test(test_anvil_replies),
        cmocka_unit_test(test_fees_parse_cases),
        cmocka_unit_test(test_gas_request_parse),
        cmocka_unit_test(test_send_parse_cases),
        cmocka_unit_test(test_receipt_parse_cases),
        cmocka_unit_test(test_mined_count),
        cmocka_unit_test(test_find_head),
        cmocka_unit_test(test_find_transfers),
        cmocka_unit_test(test_find_permit),
        cmocka_unit_test(test_settle_response_vectors),
        cmocka_unit_test(test_settle_response_cases),
        cmocka_unit_test(test_settle_error_reason),
    };

    return cmocka_run_group_tests(tests, xt_settle_setup, xt_settle_teardown);
}
