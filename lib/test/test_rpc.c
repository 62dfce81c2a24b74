/*
 * ABI calldata and the JSON-RPC checks: calldata against vectors.json,
 * the batch request, node replies (anvil/geth shapes), the on-chain
 * verdict in its order, revert selectors and the chainStateCases.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#define P2A    "payload.permit2Authorization"
#define FIRST  100
#define XT_FIRST_S  "100"     /* FIRST, as JSON text */


/* ------------------------------------------------------------ helpers */

static void
xt_decode(x402_payment *p, const char *header)
{
    const char  *field;
    x402_err     rc;

    rc = x402_payment_decode_header(p, &field, header, strlen(header));
    if (rc != X402_OK) {
        fail_msg("decode: %s at \"%s\"", x402_strerror(rc), field);
    }
}


/* The 8453 vector payment, its offer and digest. */
static void
xt_base(x402_payment *p, x402_offer *offer, uint8_t digest[32])
{
    xt_decode(p, xt_str("chains.8453.paymentSignatureHeader"));
    xt_offer(offer, 8453);
    xt_hex_at(digest, 32, "chains.8453.digest");
}


/* The vector payment turned into upto for `facilitator` (not re-signed:
 * the calldata does not care). */
static void
xt_upto(x402_payment *p, x402_offer *offer, const char *facilitator)
{
    json_t  *doc;
    char    *json;

    xt_offer(offer, 8453);
    offer->scheme = X402_SCHEME_UPTO;
    xt_address(&offer->facilitator, facilitator);

    doc = json_deep_copy(xt_get("chains.8453.paymentPayload"));
    xt_set(doc, "accepted.scheme", json_string("upto"));
    xt_set(doc, "accepted.extra.facilitatorAddress", json_string(facilitator));
    xt_set(doc, P2A ".spender",
           json_string(xt_str("constants.addresses.x402UptoPermit2Proxy")));
    xt_set(doc, P2A ".witness.facilitator", json_string(facilitator));

    json = xt_dump(doc);
    json_decref(doc);
    assert_int_equal(x402_payment_decode_json(p, NULL, json, strlen(json)),
                     X402_OK);
    assert_true(p->has_witness_facilitator);
    free(json);
}


/* Lowercase copy of an ASCII string (caller frees). */
static char *
xt_lower(const char *s)
{
    char    *d;
    size_t   i;

    d = malloc(strlen(s) + 1);
    assert_non_null(d);
    memcpy(d, s, strlen(s) + 1);
    for (i = 0; d[i] != '\0'; i++) {
        if (d[i] >= 'A' && d[i] <= 'F') {
            d[i] = (char) (d[i] - 'A' + 'a');
        }
    }

    return d;
}


static void
xt_assert_lower_eq(const char *got, const char *want)
{
    char  *w;

    w = xt_lower(want);
    assert_string_equal(got, w);
    free(w);
}


static uint32_t
xt_selector(const char *path)
{
    uint8_t  b[4];

    xt_hex_at(b, 4, path);

    return ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16)
           | ((uint32_t) b[2] << 8) | b[3];
}


/* v - 1 (v != 0), schoolbook. */
static void
xt_u256_dec(x402_u256 *v)
{
    int  i;

    for (i = 31; i >= 0; i--) {
        if (v->b[i]-- != 0) {
            return;
        }
    }
    fail_msg("u256 underflow");
}


/* ----------------------------------------------------- replies (JSON) */

static json_t *
xt_entry_result(size_t i, const char *result)
{
    return json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0",
                     "id", (json_int_t) (FIRST + i), "result", result);
}


static json_t *
xt_entry_error(size_t i, int code, const char *message, json_t *data)
{
    json_t  *err;

    err = json_pack("{s:i, s:s}", "code", code, "message", message);
    assert_non_null(err);
    if (data != NULL) {
        assert_int_equal(json_object_set_new(err, "data", data), 0);
    }

    return json_pack("{s:s, s:I, s:o}", "jsonrpc", "2.0",
                     "id", (json_int_t) (FIRST + i), "error", err);
}


/*
 * A healthy anvil reply for the vector payment: asset with code, EOA
 * payer, balance and allowance of 2 * 10^18, nonce word 0, simulation
 * ok.  Entries in reverse id order.
 */
static json_t *
xt_reply_ok(void)
{
    json_t      *a;
    size_t       i;
    const char  *res[X402_RPC_CHECKS];

    res[0] = "0x2105";
    res[1] = "0x608060405234801561001057600080fd5b50";
    res[2] = "0x";
    res[3] = "0x0000000000000000000000000000000000000000000000001bc16d674ec80000";
    res[4] = "0x0000000000000000000000000000000000000000000000001bc16d674ec80000";
    res[5] = "0x0000000000000000000000000000000000000000000000000000000000000000";
    res[6] = "0x";
    res[7] = "0x";

    a = json_array();
    assert_non_null(a);
    for (i = X402_RPC_CHECKS; i-- > 0;) {
        assert_int_equal(json_array_append_new(a, xt_entry_result(i, res[i])),
                         0);
    }

    return a;
}


/* Replaces the entry with id FIRST + i. */
static void
xt_reply_set(json_t *a, size_t i, json_t *entry)
{
    size_t   k;
    json_t  *e;

    assert_non_null(entry);
    json_array_foreach(a, k, e) {
        if (json_integer_value(json_object_get(e, "id"))
            == (json_int_t) (FIRST + i))
        {
            assert_int_equal(json_array_set_new(a, k, entry), 0);
            return;
        }
    }
    fail_msg("no entry %zu", i);
}


/* Dumps and parses a reply (reference stolen). */
static x402_err
xt_parse(x402_onchain *oc, json_t *a)
{
    char      *s;
    x402_err   rc;

    s = xt_dump(a);
    json_decref(a);
    rc = x402_rpc_checks_parse(oc, s, strlen(s), FIRST);
    free(s);

    return rc;
}


static x402_err
xt_parse_text(x402_onchain *oc, const char *s)
{
    return x402_rpc_checks_parse(oc, s, strlen(s), FIRST);
}


/* ------------------------------------------------------------ calldata */

static void
test_selectors(void **state)
{
    (void) state;

    assert_int_equal(X402_SEL_BALANCE_OF,
        xt_selector("constants.functionSelectors.balanceOf(address)"));
    assert_int_equal(X402_SEL_ALLOWANCE,
        xt_selector("constants.functionSelectors.allowance(address,address)"));
    assert_int_equal(X402_SEL_NONCE_BITMAP,
        xt_selector("constants.functionSelectors.nonceBitmap(address,uint256)"));
    assert_int_equal(X402_SEL_IS_VALID_SIG,
        xt_selector("constants.functionSelectors."
                    "isValidSignature(bytes32,bytes)"));
    assert_int_equal(X402_SEL_SETTLE_EXACT,
        xt_selector("settleCalldataLayout.exact.selector"));
    assert_int_equal(X402_SEL_SETTLE_UPTO,
        xt_selector("settleCalldataLayout.upto.selector"));
    assert_int_equal(X402_SETTLE_EXACT_ECDSA_LEN,
                     xt_int("settleCalldataLayout.exact.totalBytes"));
    assert_int_equal(X402_SETTLE_UPTO_ECDSA_LEN,
        xt_int("settleCalldataLayout.upto.totalBytesWith65ByteSignature"));
}


static void
test_read_calldata(void **state)
{
    x402_address  owner;
    x402_u256     nonce;
    uint8_t       got[68], want[68];

    (void) state;

    xt_address(&owner, xt_str("common.signer"));
    xt_hex_at(nonce.b, 32, "common.nonceHex");

    x402_abi_balance_of(got, &owner);
    xt_hex_at(want, 36,
              "common.rpcCalldata.balanceOf(signer) to asset");
    assert_memory_equal(got, want, 36);

    x402_abi_allowance(got, &owner, &x402_permit2_address);
    xt_hex_at(want, 68,
              "common.rpcCalldata.allowance(signer,permit2) to asset");
    assert_memory_equal(got, want, 68);

    x402_abi_nonce_bitmap(got, &owner, &nonce);
    xt_hex_at(want, 68,
              "common.rpcCalldata.nonceBitmap(signer,wordPos) to permit2");
    assert_memory_equal(got, want, 68);
    xt_hex_at(want, 32, "common.nonceBitmap.wordPos");
    assert_memory_equal(got + 36, want, 32);

    /* the low byte of the nonce never reaches wordPos */
    nonce.b[31] ^= 0xff;
    x402_abi_nonce_bitmap(got, &owner, &nonce);
    assert_memory_equal(got + 36, want, 32);
    nonce.b[30] ^= 0x01;
    x402_abi_nonce_bitmap(got, &owner, &nonce);
    assert_memory_not_equal(got + 36, want, 32);
}


static void
test_is_valid_signature(void **state)
{
    uint8_t   digest[32], sig[65], out[256], want[196];
    size_t    len;
    size_t    n;

    (void) state;

    xt_hex_at(digest, 32, "chains.8453.digest");
    xt_hex_at(sig, 65, "chains.8453.signature.hex");

    /* expected: selector, digest, offset 0x40, length 65, sig, 31 zeros */
    memset(want, 0, sizeof(want));
    xt_hex_at(want, 4, "constants.functionSelectors."
                       "isValidSignature(bytes32,bytes)");
    memcpy(want + 4, digest, 32);
    want[4 + 32 + 31] = 0x40;
    want[4 + 64 + 31] = 65;
    memcpy(want + 4 + 96, sig, 65);

    memset(out, 0xaa, sizeof(out));
    len = sizeof(out);
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, sig, 65),
                     X402_OK);
    assert_int_equal(len, 196);
    assert_memory_equal(out, want, 196);

    /* exact capacity works, one less does not */
    len = 196;
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, sig, 65),
                     X402_OK);
    len = 195;
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, sig, 65),
                     X402_ERR_BUFFER);

    /* other lengths: 64 bytes fill two words, 0 bytes none */
    len = sizeof(out);
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, sig, 64),
                     X402_OK);
    assert_int_equal(len, 164);
    assert_int_equal(out[4 + 64 + 31], 64);
    assert_memory_equal(out + 100, sig, 64);

    memset(out, 0xaa, sizeof(out));
    len = sizeof(out);
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, NULL, 0),
                     X402_OK);
    assert_int_equal(len, 100);
    assert_int_equal(out[4 + 32 + 31], 0x40);
    for (n = 4 + 64; n < 100; n++) {
        assert_int_equal(out[n], 0);
    }

    len = sizeof(out);
    assert_int_equal(x402_abi_is_valid_signature(out, &len, digest, NULL, 1),
                     X402_ERR_ARG);
    assert_int_equal(x402_abi_is_valid_signature(out, NULL, digest, sig, 65),
                     X402_ERR_ARG);
}


static void
test_settle_exact_vectors(void **state)
{
    const char    *chains[3] = { "8453", "84532", "31337" };
    char           path[64];
    x402_payment   p;
    uint8_t        out[600], want[X402_SETTLE_EXACT_ECDSA_LEN], word[32];
    size_t         i, len;
    json_t        *words, *w;

    (void) state;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "chains.%s.paymentSignatureHeader",
                 chains[i]);
        xt_decode(&p, xt_str(path));
        snprintf(path, sizeof(path), "chains.%s.settleCalldataLength",
                 chains[i]);
        assert_int_equal(xt_int(path), X402_SETTLE_EXACT_ECDSA_LEN);
        snprintf(path, sizeof(path), "chains.%s.settleCalldata", chains[i]);
        xt_hex_at(want, sizeof(want), path);

        memset(out, 0xaa, sizeof(out));
        len = sizeof(out);
        /* the charge is ignored for exact */
        assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_EXACT, &p,
                                         NULL),
                         X402_OK);
        assert_int_equal(len, X402_SETTLE_EXACT_ECDSA_LEN);
        assert_memory_equal(out, want, X402_SETTLE_EXACT_ECDSA_LEN);
        assert_int_equal(out[X402_SETTLE_EXACT_ECDSA_LEN], 0xaa);
    }

    /* word by word against the documented 8453 layout */
    xt_decode(&p, xt_str("chains.8453.paymentSignatureHeader"));
    len = sizeof(out);
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_EXACT, &p, NULL),
                     X402_OK);
    xt_hex_at(word, 4, "settleCalldataLayout.exact.selector");
    assert_memory_equal(out, word, 4);
    words = xt_get("settleCalldataLayout.exact.words8453");
    assert_int_equal(json_array_size(words), (X402_SETTLE_EXACT_ECDSA_LEN - 4) / 32);
    json_array_foreach(words, i, w) {
        char  hex[67];

        assert_int_equal(json_integer_value(xt_member(w, "index")), i);
        snprintf(hex, sizeof(hex), "0x%s", xt_member_str(w, "hex"));
        xt_unhex(word, 32, hex);
        if (memcmp(out + 4 + 32 * i, word, 32) != 0) {
            fail_msg("exact word %zu (%s) differs", i,
                     xt_member_str(w, "label"));
        }
    }

    /* capacity, signature length, scheme */
    len = X402_SETTLE_EXACT_ECDSA_LEN - 1;
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_EXACT, &p, NULL),
                     X402_ERR_BUFFER);
    len = X402_SETTLE_EXACT_ECDSA_LEN;
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_EXACT, &p, NULL),
                     X402_OK);
    len = sizeof(out);
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_UNKNOWN, &p, NULL),
                     X402_ERR_ARG);
    p.signature_len = 0;
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_EXACT, &p, NULL),
                     X402_ERR_ARG);

    /* a contract wallet's longer signature: padded to words, its length
     * in the word before it */
    {
        uint8_t  big[X402_SETTLE_EXACT_LEN];
        size_t   k;

        p.signature_len = 130;
        for (k = 0; k < 130; k++) {
            p.signature[k] = (uint8_t) k;
        }

        len = sizeof(big);
        assert_int_equal(x402_abi_settle(big, &len, X402_SCHEME_EXACT, &p,
                                         NULL), X402_OK);
        assert_int_equal(len, 4 + 8 * 32 + 32 + 160);
        assert_int_equal(big[4 + 8 * 32 + 31], 130);
        assert_memory_equal(big + 4 + 9 * 32, p.signature, 130);
        for (k = 130; k < 160; k++) {
            assert_int_equal(big[4 + 9 * 32 + k], 0);
        }

        p.signature_len = X402_SIGNATURE_MAX;
        len = sizeof(big);
        assert_int_equal(x402_abi_settle(big, &len, X402_SCHEME_EXACT, &p,
                                         NULL), X402_OK);
        assert_int_equal(len, X402_SETTLE_EXACT_LEN);

        p.signature_len = X402_SIGNATURE_MAX + 1;
        assert_int_equal(x402_abi_settle(big, &len, X402_SCHEME_EXACT, &p,
                                         NULL), X402_ERR_ARG);
    }
}


/* The expected upto word for a layout label, from the vector texts. */
static void
xt_upto_word(uint8_t w[32], const char *label, const x402_u256 *charge,
    const char *facilitator)
{
    const char    *sig;
    char           hex[67];
    unsigned       v;
    x402_address   a;
    x402_u256      u;

    memset(w, 0, 32);
    sig = xt_str("chains.8453.signature.hex");

    if (strcmp(label, "permit.permitted.token") == 0) {
        xt_address(&a, xt_str("chains.8453.paymentPayload." P2A
                              ".permitted.token"));
        memcpy(w + 12, a.b, 20);

    } else if (strcmp(label, "permit.permitted.amount") == 0) {
        xt_u256_text(&u, xt_str("chains.8453.paymentPayload." P2A
                                ".permitted.amount"));
        memcpy(w, u.b, 32);

    } else if (strcmp(label, "permit.nonce") == 0) {
        xt_u256_text(&u, xt_str("chains.8453.paymentPayload." P2A ".nonce"));
        memcpy(w, u.b, 32);

    } else if (strcmp(label, "permit.deadline") == 0) {
        xt_u256_text(&u, xt_str("chains.8453.paymentPayload." P2A
                                ".deadline"));
        memcpy(w, u.b, 32);

    } else if (strncmp(label, "amount", 6) == 0) {
        memcpy(w, charge->b, 32);

    } else if (strcmp(label, "owner") == 0) {
        xt_address(&a, xt_str("chains.8453.paymentPayload." P2A ".from"));
        memcpy(w + 12, a.b, 20);

    } else if (strcmp(label, "witness.to") == 0) {
        xt_address(&a, xt_str("chains.8453.paymentPayload." P2A
                              ".witness.to"));
        memcpy(w + 12, a.b, 20);

    } else if (strcmp(label, "witness.facilitator") == 0) {
        xt_address(&a, facilitator);
        memcpy(w + 12, a.b, 20);

    } else if (strcmp(label, "witness.validAfter") == 0) {
        xt_u256_text(&u, xt_str("chains.8453.paymentPayload." P2A
                                ".witness.validAfter"));
        memcpy(w, u.b, 32);

    } else if (sscanf(label, "offset of signature (0x%x)", &v) == 1
               || sscanf(label, "signature length (0x%x", &v) == 1)
    {
        w[30] = (uint8_t) (v >> 8);
        w[31] = (uint8_t) v;

    } else if (strncmp(label, "signature[0..32)", 16) == 0) {
        snprintf(hex, sizeof(hex), "0x%.64s", sig + 2);
        xt_unhex(w, 32, hex);

    } else if (strncmp(label, "signature[32..64)", 17) == 0) {
        snprintf(hex, sizeof(hex), "0x%.64s", sig + 2 + 64);
        xt_unhex(w, 32, hex);

    } else if (strncmp(label, "signature[64]", 13) == 0) {
        snprintf(hex, sizeof(hex), "0x%.2s", sig + 2 + 128);
        xt_unhex(w, 1, hex);

    } else {
        fail_msg("unknown upto label \"%s\"", label);
    }
}


static void
test_settle_upto_layout(void **state)
{
    const char    *fac;
    x402_payment   p;
    x402_offer     offer;
    x402_u256      charge;
    uint8_t        out[600], want[32];
    size_t         i, len;
    json_t        *labels, *l;

    (void) state;

    fac = xt_str("constants.addresses.multicall3");
    xt_upto(&p, &offer, fac);
    xt_u256_text(&charge, "123456789012345678");

    memset(out, 0xaa, sizeof(out));
    len = sizeof(out);
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_UPTO, &p,
                                     &charge),
                     X402_OK);
    assert_int_equal(len, X402_SETTLE_UPTO_ECDSA_LEN);
    assert_int_equal(len,
        xt_int("settleCalldataLayout.upto.totalBytesWith65ByteSignature"));
    assert_int_equal(out[len], 0xaa);

    xt_hex_at(want, 4, "settleCalldataLayout.upto.selector");
    assert_memory_equal(out, want, 4);

    labels = xt_get("settleCalldataLayout.upto.wordLabels");
    assert_int_equal(json_array_size(labels), (X402_SETTLE_UPTO_ECDSA_LEN - 4) / 32);
    json_array_foreach(labels, i, l) {
        xt_upto_word(want, json_string_value(l), &charge, fac);
        if (memcmp(out + 4 + 32 * i, want, 32) != 0) {
            fail_msg("upto word %zu (%s) differs", i, json_string_value(l));
        }
    }

    /* the charge is required, the capacity is checked */
    len = sizeof(out);
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_UPTO, &p, NULL),
                     X402_ERR_ARG);
    len = X402_SETTLE_UPTO_ECDSA_LEN - 1;
    assert_int_equal(x402_abi_settle(out, &len, X402_SCHEME_UPTO, &p,
                                     &charge),
                     X402_ERR_BUFFER);
}


/* ------------------------------------------------------------ request */

/* Checks entry i of a parsed request; returns its params. */
static json_t *
xt_req_entry(json_t *req, size_t i, const char *method)
{
    json_t  *e, *params;

    e = json_array_get(req, i);
    assert_non_null(e);
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    assert_string_equal(xt_member_str(e, "jsonrpc"), "2.0");
    assert_true(json_is_integer(xt_member(e, "id")));
    assert_int_equal(json_integer_value(xt_member(e, "id")), FIRST + i);
    assert_string_equal(xt_member_str(e, "method"), method);
    params = xt_member(e, "params");
    assert_true(json_is_array(params));

    return params;
}


/* eth_call params: [{from?, to, data}, "latest"]. */
static void
xt_req_call(json_t *req, size_t i, const char *from, const char *to,
    const char *data)
{
    json_t  *params, *call;

    params = xt_req_entry(req, i, "eth_call");
    assert_int_equal(json_array_size(params), 2);
    assert_string_equal(json_string_value(json_array_get(params, 1)),
                        "latest");
    call = json_array_get(params, 0);
    assert_true(json_is_object(call));
    assert_int_equal(json_object_size(call), from != NULL ? 3 : 2);
    if (from != NULL) {
        xt_assert_lower_eq(xt_member_str(call, "from"), from);
    }
    xt_assert_lower_eq(xt_member_str(call, "to"), to);
    xt_assert_lower_eq(xt_member_str(call, "data"), data);
}


static void
xt_req_get_code(json_t *req, size_t i, const char *addr)
{
    json_t  *params;

    params = xt_req_entry(req, i, "eth_getCode");
    assert_int_equal(json_array_size(params), 2);
    xt_assert_lower_eq(json_string_value(json_array_get(params, 0)), addr);
    assert_string_equal(json_string_value(json_array_get(params, 1)),
                        "latest");
}


static json_t *
xt_load(const char *s, size_t len)
{
    json_t        *j;
    json_error_t   err;

    j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        fail_msg("request is not JSON: %s", err.text);
    }

    return j;
}


static void
test_request_exact(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    x402_address   sim;
    uint8_t        digest[32];
    char           out[X402_RPC_CHECKS_REQUEST_MAX], isvalid[2 * 196 + 3];
    char           small[X402_RPC_CHECKS_REQUEST_MAX];
    const char    *sim_text, *from, *asset, *sig;
    size_t         len, n;
    json_t        *req, *params;

    (void) state;

    xt_base(&p, &offer, digest);
    sim_text = xt_str("constants.addresses.create2Deployer");
    xt_address(&sim, sim_text);
    from = xt_str("common.signer");
    asset = xt_str("common.requirementTemplate.asset");

    len = sizeof(out);
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_OK);
    assert_int_equal(strlen(out), len);
    /* compact: no whitespace anywhere */
    assert_null(strpbrk(out, " \n\t\r"));

    req = xt_load(out, len);
    assert_true(json_is_array(req));
    assert_int_equal(json_array_size(req), X402_RPC_CHECKS);

    params = xt_req_entry(req, 0, "eth_chainId");
    assert_int_equal(json_array_size(params), 0);
    xt_req_get_code(req, 1, asset);
    xt_req_get_code(req, 2, from);
    xt_req_call(req, 3, NULL, asset,
                xt_str("common.rpcCalldata.balanceOf(signer) to asset"));
    xt_req_call(req, 4, NULL, asset,
                xt_str("common.rpcCalldata.allowance(signer,permit2) "
                       "to asset"));
    xt_req_call(req, 5, NULL, xt_str("constants.addresses.permit2"),
                xt_str("common.rpcCalldata."
                       "nonceBitmap(signer,wordPos) to permit2"));

    /* isValidSignature(digest, sig) to the payer, built from the texts */
    sig = xt_str("chains.8453.signature.hex");
    n = (size_t) snprintf(isvalid, sizeof(isvalid),
        "0x1626ba7e%s"
        "0000000000000000000000000000000000000000000000000000000000000040"
        "0000000000000000000000000000000000000000000000000000000000000041"
        "%s00000000000000000000000000000000000000000000000000000000000000",
        xt_str("chains.8453.digest") + 2, sig + 2);
    assert_int_equal(n, 2 + 2 * 196);
    xt_req_call(req, 6, NULL, from, isvalid);

    xt_req_call(req, 7, sim_text,
                xt_str("constants.addresses.x402ExactPermit2Proxy"),
                xt_str("chains.8453.settleCalldata"));
    json_decref(req);

    /* exact capacity: length + NUL */
    n = len;
    len = n + 1;
    assert_int_equal(x402_rpc_checks_request(small, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_OK);
    assert_int_equal(len, n);
    assert_string_equal(small, out);
    len = n;
    assert_int_equal(x402_rpc_checks_request(small, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_ERR_BUFFER);
    len = 1;
    assert_int_equal(x402_rpc_checks_request(small, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_ERR_BUFFER);
}


static void
test_request_upto_and_args(void **state)
{
    x402_payment   p, q;
    x402_offer     offer;
    x402_address   sim;
    uint8_t        digest[32], sel[4], data[X402_SETTLE_UPTO_LEN];
    char           out[X402_RPC_CHECKS_REQUEST_MAX];
    const char    *fac, *s;
    size_t         len;
    json_t        *req, *call, *e;

    (void) state;

    fac = xt_str("constants.addresses.multicall3");
    xt_upto(&p, &offer, fac);
    xt_hex_at(digest, 32, "chains.8453.digest");
    xt_address(&sim, fac);

    /* the largest id range still fits; the request fits the maximum */
    len = sizeof(out);
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                         &sim, X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1)),
                     X402_OK);
    assert_true(len < X402_RPC_CHECKS_REQUEST_MAX);
    req = xt_load(out, len);
    assert_int_equal(json_integer_value(xt_member(json_array_get(req, 7),
                                                  "id")),
                     (json_int_t) X402_RPC_ID_MAX);
    json_decref(req);

    len = sizeof(out);
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                         &sim, X402_RPC_ID_MAX - (X402_RPC_CHECKS - 2)),
                     X402_ERR_ARG);

    len = sizeof(out);
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_OK);
    req = xt_load(out, len);
    e = json_array_get(req, 7);
    assert_int_equal(json_integer_value(xt_member(e, "id")), FIRST + 7);
    call = json_array_get(xt_member(e, "params"), 0);
    xt_assert_lower_eq(xt_member_str(call, "from"), fac);
    xt_assert_lower_eq(xt_member_str(call, "to"),
                       xt_str("constants.addresses.x402UptoPermit2Proxy"));

    /* the simulation charges the cap */
    s = xt_member_str(call, "data");
    assert_int_equal(strlen(s), 2 + 2 * X402_SETTLE_UPTO_ECDSA_LEN);
    xt_unhex(data, X402_SETTLE_UPTO_ECDSA_LEN, s);
    xt_hex_at(sel, 4, "settleCalldataLayout.upto.selector");
    assert_memory_equal(data, sel, 4);
    assert_memory_equal(data + 4 + 4 * 32, p.amount.b, 32);
    assert_memory_equal(data + 4 + 1 * 32, p.amount.b, 32);
    json_decref(req);

    /* preconditions */
    q = p;
    q.token.b[19] ^= 1;
    len = sizeof(out);
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &q, digest,
                                             &sim, FIRST),
                     X402_ERR_ARG);
    q = p;
    q.signature_len = 0;
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &q, digest,
                                             &sim, FIRST),
                     X402_ERR_ARG);
    offer.scheme = X402_SCHEME_UNKNOWN;
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                                             &sim, FIRST),
                     X402_ERR_ARG);
    offer.scheme = X402_SCHEME_UPTO;
    assert_int_equal(x402_rpc_checks_request(out, &len, &offer, &p, digest,
                                             NULL, FIRST),
                     X402_ERR_ARG);
}


/* -------------------------------------------------------------- parse */


/* The quick form: the simulation alone, as entry 7 of the full batch. */
static void
test_simulate(void **state)
{
    x402_payment   p, q;
    x402_offer     offer;
    x402_address   sim;
    uint8_t        digest[32];
    char           out[X402_RPC_CHECKS_REQUEST_MAX];
    const char    *sim_text;
    size_t         len;
    int            ok;
    json_t        *req;

    (void) state;

    xt_base(&p, &offer, digest);
    sim_text = xt_str("constants.addresses.create2Deployer");
    xt_address(&sim, sim_text);

    len = sizeof(out);
    assert_int_equal(x402_rpc_simulate_request(out, &len, &offer, &p, &sim,
                                               FIRST),
                     X402_OK);
    assert_int_equal(strlen(out), len);

    req = xt_load(out, len);
    assert_true(json_is_array(req));
    assert_int_equal(json_array_size(req), 1);
    xt_req_call(req, 0, sim_text,
                xt_str("constants.addresses.x402ExactPermit2Proxy"),
                xt_str("chains.8453.settleCalldata"));
    json_decref(req);

    len = 8;
    assert_int_equal(x402_rpc_simulate_request(out, &len, &offer, &p, &sim,
                                               FIRST),
                     X402_ERR_BUFFER);
    len = sizeof(out);
    assert_int_equal(x402_rpc_simulate_request(out, &len, &offer, &p, NULL,
                                               FIRST),
                     X402_ERR_ARG);
    q = p;
    q.signature_len = 0;
    assert_int_equal(x402_rpc_simulate_request(out, &len, &offer, &q, &sim,
                                               FIRST),
                     X402_ERR_ARG);
    q = p;
    q.token.b[0] ^= 1;
    assert_int_equal(x402_rpc_simulate_request(out, &len, &offer, &q, &sim,
                                               FIRST),
                     X402_ERR_ARG);

#define XT_SIM(body, want, want_ok)                                          \
    do {                                                                     \
        ok = -1;                                                             \
        assert_int_equal(x402_rpc_simulate_parse(&ok, body, strlen(body),    \
                                                 FIRST), want);              \
        assert_int_equal(ok, want_ok);                                       \
    } while (0)

    XT_SIM("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":\"0x\"}]",
           X402_OK, 1);
    /* a revert (InvalidNonce) is an answer: the full batch says which */
    XT_SIM("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"error\":{\"code\":3,"
           "\"message\":\"execution reverted\",\"data\":\"0x756688fe\"}}]",
           X402_OK, 0);
    /* a rate limit is not */
    XT_SIM("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"error\":{"
           "\"code\":-32005,\"message\":\"limit exceeded\"}}]",
           X402_ERR_VALUE, 0);
    XT_SIM("[{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":\"0x\"}]",
           X402_ERR_VALUE, 0);
    XT_SIM("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":7}]",
           X402_ERR_VALUE, 0);
    XT_SIM("[]", X402_ERR_VALUE, 0);
    XT_SIM("{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":\"0x\"}",
           X402_ERR_JSON, 0);
    XT_SIM("not json", X402_ERR_JSON, 0);

#undef XT_SIM
}


/* eth_getCode of one address, as a batch of one entry. */
static void
test_code(void **state)
{
    x402_address   a;
    char           out[256];
    const char    *text;
    size_t         len;
    int            has;
    json_t        *req;

    (void) state;

    text = xt_str("constants.addresses.x402ExactPermit2Proxy");
    xt_address(&a, text);

    len = sizeof(out);
    assert_int_equal(x402_rpc_code_request(out, &len, &a, FIRST), X402_OK);
    assert_int_equal(strlen(out), len);
    req = xt_load(out, len);
    assert_true(json_is_array(req));
    assert_int_equal(json_array_size(req), 1);
    xt_req_get_code(req, 0, text);
    json_decref(req);

    len = 10;
    assert_int_equal(x402_rpc_code_request(out, &len, &a, FIRST),
                     X402_ERR_BUFFER);
    len = sizeof(out);
    assert_int_equal(x402_rpc_code_request(out, &len, NULL, FIRST),
                     X402_ERR_ARG);

#define XT_CODE(body, want, want_has)                                        \
    do {                                                                     \
        has = -1;                                                            \
        assert_int_equal(x402_rpc_code_parse(&has, body, strlen(body),       \
                                             FIRST), want);                  \
        assert_int_equal(has, want_has);                                     \
    } while (0)

    XT_CODE("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":\"0x6080\"}]",
            X402_OK, 1);
    XT_CODE("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":\"0x\"}]",
            X402_OK, 0);
    XT_CODE("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"error\":{"
            "\"code\":-32000,\"message\":\"header not found\"}}]",
            X402_ERR_VALUE, 0);
    XT_CODE("[{\"jsonrpc\":\"2.0\",\"id\":" XT_FIRST_S ",\"result\":\"60\"}]",
            X402_ERR_VALUE, 0);
    XT_CODE("[{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x60\"}]",
            X402_ERR_VALUE, 0);
    XT_CODE("nope", X402_ERR_JSON, 0);

#undef XT_CODE
}

static void
test_parse_anvil(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    x402_onchain   oc;
    x402_u256      two;
    uint8_t        digest[32], sel[4];
    json_t        *a;

    (void) state;

    xt_base(&p, &offer, digest);
    xt_u256_text(&two, "2000000000000000000");

    /* healthy, reverse order */
    assert_int_equal(xt_parse(&oc, xt_reply_ok()), X402_OK);
    assert_int_equal(oc.chain_id, 8453);
    assert_true(oc.asset_has_code);
    assert_false(oc.from_has_code);
    assert_memory_equal(oc.balance.b, two.b, 32);
    assert_memory_equal(oc.allowance.b, two.b, 32);
    assert_false(oc.erc1271_ok);
    assert_true(oc.sim_ok);
    assert_false(oc.sim_has_revert);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);

    /* mixed order, as a real node might answer */
    a = xt_reply_ok();
    assert_int_equal(json_array_insert(a, 3, json_array_get(a, 7)), 0);
    assert_int_equal(json_array_remove(a, 8), 0);
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_true(oc.sim_ok);

    /* anvil: custom error InvalidNonce() on the simulation */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, 3,
        "execution reverted: custom error 0x756688fe",
        json_string("0x756688fe")));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.sim_ok);
    assert_true(oc.sim_has_revert);
    xt_hex_at(sel, 4, "constants.errorSelectors.InvalidNonce()");
    assert_memory_equal(oc.sim_revert, sel, 4);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_INVALID_NONCE);

    /* geth -32000 with the data nested one level deeper */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, -32000, "execution reverted",
        json_pack("{s:s}", "data", "0x815e1d64")));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_true(oc.sim_has_revert);
    xt_hex_at(sel, 4, "constants.errorSelectors.InvalidSigner()");
    assert_memory_equal(oc.sim_revert, sel, 4);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INVALID_SIGNATURE);

    /* InvalidSigner() with arguments-free data and a longer payload */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, 3, "execution reverted",
        json_string("0x815e1d64000000000000000000000000000000000000000000000"
                    "0000000000000000001")));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_memory_equal(oc.sim_revert, sel, 4);

    /* an empty-data revert */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, -32000, "execution reverted", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.sim_ok);
    assert_false(oc.sim_has_revert);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_SIMULATION_FAILED);

    /* code 3 alone marks a revert; "Reverted" in any case too */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, 3, "VM exception", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.sim_ok);
    assert_false(oc.sim_has_revert);
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, -32015, "VM execution error: "
                                      "Reverted", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.sim_ok);
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, -32015, "VM execution error",
                                      NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* "0x" data: reverted without a selector */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, 3, "execution reverted",
                                      json_string("0x")));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.sim_ok);
    assert_false(oc.sim_has_revert);

    /* a token error (OpenZeppelin ERC20InsufficientBalance) */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, 3, "execution reverted",
                                      json_string("0xe450d38c")));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_SIMULATION_FAILED);

    /* a contract payer: code, EIP-1271 magic (clean word) */
    a = xt_reply_ok();
    xt_reply_set(a, 2, xt_entry_result(2, "0x6080"));
    xt_reply_set(a, 6, xt_entry_result(6,
        "0x1626ba7e00000000000000000000000000000000000000000000000000000000"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_true(oc.from_has_code);
    assert_true(oc.erc1271_ok);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0), X402_R_VALID);

    /* dirty low bytes, a bare bytes4 and another value are not ok */
    a = xt_reply_ok();
    xt_reply_set(a, 6, xt_entry_result(6,
        "0x1626ba7e00000000000000000000000000000000000000000000000000000001"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.erc1271_ok);
    a = xt_reply_ok();
    xt_reply_set(a, 6, xt_entry_result(6, "0x1626ba7e"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.erc1271_ok);
    a = xt_reply_ok();
    xt_reply_set(a, 6, xt_entry_result(6,
        "0xffffffff00000000000000000000000000000000000000000000000000000000"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.erc1271_ok);

    /* a wallet without EIP-1271 reverts: not ok, not an error */
    a = xt_reply_ok();
    xt_reply_set(a, 2, xt_entry_result(2, "0x6080"));
    xt_reply_set(a, 6, xt_entry_error(6, -32000, "execution reverted", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.erc1271_ok);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INVALID_SIGNATURE);

    /* an asset without code answers "0x" to balanceOf and allowance */
    a = xt_reply_ok();
    xt_reply_set(a, 1, xt_entry_result(1, "0x"));
    xt_reply_set(a, 3, xt_entry_result(3, "0x"));
    xt_reply_set(a, 4, xt_entry_result(4, "0x"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_false(oc.asset_has_code);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_ASSET_NOT_DEPLOYED);

    /* uppercase hex digits from a node are still hex */
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_result(0, "0x7A69"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_int_equal(oc.chain_id, 31337);
}


static void
test_parse_malformed(void **state)
{
    x402_onchain   oc;
    json_t        *a, *e;
    char          *s, *big;
    size_t         len;

    (void) state;

    /* not JSON, not an array, an entry that is not an object */
    assert_int_equal(xt_parse_text(&oc, ""), X402_ERR_JSON);
    assert_int_equal(xt_parse_text(&oc, "[{"), X402_ERR_JSON);
    assert_int_equal(xt_parse_text(&oc,
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,"
        "\"message\":\"rate limited\"}}"), X402_ERR_JSON);
    a = xt_reply_ok();
    assert_int_equal(json_array_set_new(a, 0, json_integer(107)), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_JSON);

    /* missing, string, duplicate and foreign ids */
    a = xt_reply_ok();
    assert_int_equal(json_object_del(json_array_get(a, 2), "id"), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 2), "id",
                                         json_string("105")), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 2), "id",
                                         json_integer(FIRST + 6)), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 0), "id",
                                         json_integer(FIRST + 8)), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 7), "id",
                                         json_integer(FIRST - 1)), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* seven or nine entries */
    a = xt_reply_ok();
    assert_int_equal(json_array_remove(a, 4), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_array_append_new(a, xt_entry_result(0, "0x1")), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* an error where the node must answer */
    a = xt_reply_ok();
    xt_reply_set(a, 3, xt_entry_error(3, -32000, "execution reverted", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_error(0, -32603, "internal error", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 2, xt_entry_error(2, -32005, "limit exceeded", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* a node failure on the simulation or EIP-1271 is not a revert */
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_error(7, -32005, "limit exceeded", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 6, xt_entry_error(6, -32603, "internal error", NULL));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    e = xt_entry_error(7, 3, "execution reverted", json_string("0x"));
    assert_int_equal(json_object_set_new(e, "result", json_string("0x")), 0);
    xt_reply_set(a, 7, e);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* results that are not 0x-hex */
    a = xt_reply_ok();
    xt_reply_set(a, 3, xt_entry_result(3,
        "0x00000000000000000000000000000000000000000000000000000000000000zz"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 4, xt_entry_result(4,
        "0000000000000000000000000000000000000000000000000000000000000001"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 2, xt_entry_result(2, "0x608"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 7, xt_entry_result(7, "ok"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 6, xt_entry_result(6, "0xg0"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 3), "result",
                                         json_integer(1)), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    assert_int_equal(json_object_set_new(json_array_get(a, 3), "result",
                                         json_null()), 0);
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* uint256 words: 33, 31 and 0 bytes are malformed */
    a = xt_reply_ok();
    xt_reply_set(a, 3, xt_entry_result(3,
        "0x000000000000000000000000000000000000000000000000000000000000000001"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 5, xt_entry_result(5,
        "0x00000000000000000000000000000000000000000000000000000000000001"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 4, xt_entry_result(4, "0x"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 5, xt_entry_result(5, "0x"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);

    /* chain id quantities */
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_result(0, "0x"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_result(0, "8453"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_result(0, "0x10000000000000000"));
    assert_int_equal(xt_parse(&oc, a), X402_ERR_VALUE);
    a = xt_reply_ok();
    xt_reply_set(a, 0, xt_entry_result(0, "0xffffffffffffffff"));
    assert_int_equal(xt_parse(&oc, a), X402_OK);
    assert_true(oc.chain_id == UINT64_MAX);

    /* the reply size bound: padding up to the limit is fine, past it not */
    a = xt_reply_ok();
    s = xt_dump(a);
    json_decref(a);
    len = strlen(s);
    big = malloc(X402_RPC_REPLY_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', X402_RPC_REPLY_MAX + 1);
    memcpy(big, s, len);
    assert_int_equal(x402_rpc_checks_parse(&oc, big, X402_RPC_REPLY_MAX,
                                           FIRST),
                     X402_OK);
    assert_int_equal(x402_rpc_checks_parse(&oc, big, X402_RPC_REPLY_MAX + 1,
                                           FIRST),
                     X402_ERR_SIZE);
    free(big);

    /* ids: another first id does not match; the bound is enforced */
    assert_int_equal(x402_rpc_checks_parse(&oc, s, len, FIRST + 1),
                     X402_ERR_VALUE);
    assert_int_equal(x402_rpc_checks_parse(&oc, s, len,
                         X402_RPC_ID_MAX - (X402_RPC_CHECKS - 2)),
                     X402_ERR_ARG);
    assert_int_equal(x402_rpc_checks_parse(NULL, s, len, FIRST),
                     X402_ERR_ARG);
    free(s);
}


static void
test_parse_ids(void **state)
{
    x402_onchain   oc;
    json_t        *a, *e;
    json_int_t     id;
    size_t         i, k;
    char          *s;
    uint64_t       base;
    const uint64_t bases[2] = { X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1), 0 };

    (void) state;

    /* the largest permitted first id, and 0 */
    for (k = 0; k < 2; k++) {
        base = bases[k];
        a = xt_reply_ok();
        json_array_foreach(a, i, e) {
            id = json_integer_value(json_object_get(e, "id"));
            assert_int_equal(json_object_set_new(e, "id",
                json_integer((json_int_t) (base + (uint64_t) (id - FIRST)))),
                0);
        }
        s = xt_dump(a);
        json_decref(a);
        assert_int_equal(x402_rpc_checks_parse(&oc, s, strlen(s), base),
                         X402_OK);
        assert_int_equal(oc.chain_id, 8453);
        assert_int_equal(x402_rpc_checks_parse(&oc, s, strlen(s), FIRST),
                         X402_ERR_VALUE);
        free(s);
    }
}


/* ------------------------------------------------------------ verdict */

/* A passing state for the vector payment. */
static void
xt_oc_good(x402_onchain *oc, const x402_payment *p)
{
    memset(oc, 0, sizeof(*oc));
    oc->chain_id = 8453;
    oc->asset_has_code = 1;
    oc->balance = p->amount;
    oc->allowance = p->amount;
    oc->sim_ok = 1;
}


static void
test_verdict_order(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    x402_onchain   oc;
    uint8_t        digest[32];

    (void) state;

    xt_base(&p, &offer, digest);

    /* everything wrong at once, then fixed one at a time, in order */
    xt_oc_good(&oc, &p);
    oc.asset_has_code = 0;
    oc.from_has_code = 1;
    oc.erc1271_ok = 0;
    xt_hex_at(oc.nonce_word.b, 32, "common.nonceBitmap.bitMask");
    memset(oc.allowance.b, 0, 32);
    memset(oc.balance.b, 0, 32);
    oc.sim_ok = 0;
    oc.sim_has_revert = 1;
    xt_hex_at(oc.sim_revert, 4, "constants.errorSelectors.InvalidNonce()");

    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_ASSET_NOT_DEPLOYED);
    oc.asset_has_code = 1;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INVALID_SIGNATURE);
    oc.erc1271_ok = 1;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0), X402_R_INVALID_NONCE);
    memset(oc.nonce_word.b, 0, 32);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0),
                     X402_R_ALLOWANCE_REQUIRED);
    oc.allowance = p.amount;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0),
                     X402_R_INSUFFICIENT_BALANCE);
    oc.balance = p.amount;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0), X402_R_INVALID_NONCE);
    oc.sim_has_revert = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0),
                     X402_R_SIMULATION_FAILED);
    oc.sim_ok = 1;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0), X402_R_VALID);

    assert_int_equal(x402_onchain_verdict(NULL, &p, 1),
                     X402_R_PAYMENT_REQUIRED);
    assert_int_equal(x402_onchain_verdict(&oc, NULL, 1),
                     X402_R_PAYMENT_REQUIRED);
}


static void
test_verdict_branches(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    x402_onchain   oc;
    uint8_t        digest[32];
    x402_u256      less;

    (void) state;

    xt_base(&p, &offer, digest);

    /* all good */
    xt_oc_good(&oc, &p);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);

    /* asset without code */
    xt_oc_good(&oc, &p);
    oc.asset_has_code = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_ASSET_NOT_DEPLOYED);

    /* payer with code: EIP-1271 decides, ecrecover does not matter */
    xt_oc_good(&oc, &p);
    oc.from_has_code = 1;
    oc.erc1271_ok = 1;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0), X402_R_VALID);
    oc.erc1271_ok = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INVALID_SIGNATURE);

    /* EOA: local ecrecover decides, a 1271 answer does not matter */
    xt_oc_good(&oc, &p);
    oc.erc1271_ok = 1;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 0),
                     X402_R_INVALID_SIGNATURE);
    oc.erc1271_ok = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);

    /* nonce bit: exactly bit nonce & 0xff (32 for the vector) */
    assert_int_equal(xt_int("common.nonceBitmap.bitPos"), p.nonce.b[31]);
    xt_oc_good(&oc, &p);
    xt_hex_at(oc.nonce_word.b, 32, "common.nonceBitmap.bitMask");
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_INVALID_NONCE);
    xt_u256_u64(&oc.nonce_word, (uint64_t) 1 << 31);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    xt_u256_u64(&oc.nonce_word, (uint64_t) 1 << 33);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    /* every other bit set: still unused */
    memset(oc.nonce_word.b, 0xff, 32);
    oc.nonce_word.b[27] = 0xfe;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    oc.nonce_word.b[27] = 0x01;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_INVALID_NONCE);

    /* the extremes of the bit position */
    xt_oc_good(&oc, &p);
    p.nonce.b[31] = 0xff;
    oc.nonce_word.b[0] = 0x80;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_INVALID_NONCE);
    p.nonce.b[31] = 0xfe;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    p.nonce.b[31] = 0x00;
    xt_u256_u64(&oc.nonce_word, 1);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_INVALID_NONCE);
    p.nonce.b[31] = 0x01;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    xt_base(&p, &offer, digest);

    /* allowance: one less fails (412), equal passes */
    less = p.amount;
    xt_u256_dec(&less);
    xt_oc_good(&oc, &p);
    oc.allowance = less;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_ALLOWANCE_REQUIRED);
    assert_int_equal(x402_reason_http_status(
                         x402_onchain_verdict(&oc, &p, 1)), 412);
    oc.allowance = p.amount;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);
    memset(oc.allowance.b, 0xff, 32);
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);

    /* balance: one less fails, equal passes */
    xt_oc_good(&oc, &p);
    oc.balance = less;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INSUFFICIENT_BALANCE);
    oc.balance = p.amount;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1), X402_R_VALID);

    /* simulation: mapped revert, unmapped revert, no data */
    xt_oc_good(&oc, &p);
    oc.sim_ok = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_SIMULATION_FAILED);
    oc.sim_has_revert = 1;
    xt_hex_at(oc.sim_revert, 4, "constants.errorSelectors.InvalidSigner()");
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_INVALID_SIGNATURE);
    xt_hex_at(oc.sim_revert, 4,
              "constants.errorSelectors.UnauthorizedFacilitator()");
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_SIMULATION_FAILED);
    /* a stale selector is ignored without sim_has_revert */
    xt_hex_at(oc.sim_revert, 4, "constants.errorSelectors.InvalidNonce()");
    oc.sim_has_revert = 0;
    assert_int_equal(x402_onchain_verdict(&oc, &p, 1),
                     X402_R_SIMULATION_FAILED);
}


static void
test_revert_reasons(void **state)
{
    static const char *const  sig_errors[] = {
        "InvalidSignature()", "SignatureExpired(uint256)",
        "InvalidSignatureLength()", "InvalidSigner()",
        "InvalidContractSignature()"
    };
    json_t       *sels, *v;
    const char   *name;
    uint8_t       sel[4];
    x402_reason   want;
    size_t        i, n_sig, n_nonce, n_other;

    (void) state;

    sels = xt_get("constants.errorSelectors");
    n_sig = n_nonce = n_other = 0;

    json_object_foreach(sels, name, v) {
        xt_unhex(sel, 4, json_string_value(v));
        want = X402_R_SIMULATION_FAILED;
        if (strcmp(name, "InvalidNonce()") == 0) {
            want = X402_R_INVALID_NONCE;
            n_nonce++;
        }
        for (i = 0; i < sizeof(sig_errors) / sizeof(sig_errors[0]); i++) {
            if (strcmp(name, sig_errors[i]) == 0) {
                want = X402_R_INVALID_SIGNATURE;
                n_sig++;
            }
        }
        if (want == X402_R_SIMULATION_FAILED) {
            n_other++;
        }
        if (x402_revert_reason(sel) != want) {
            fail_msg("%s: reason %d, want %d", name, x402_revert_reason(sel),
                     want);
        }
    }

    assert_int_equal(n_nonce, 1);
    assert_int_equal(n_sig, 5);
    assert_int_equal(n_other, 10);

    assert_string_equal(x402_reason_string(X402_R_INVALID_NONCE),
                        "permit2_invalid_nonce");
    memset(sel, 0, sizeof(sel));
    assert_int_equal(x402_revert_reason(sel), X402_R_SIMULATION_FAILED);
    assert_int_equal(x402_revert_reason(NULL), X402_R_SIMULATION_FAILED);
}


/* ------------------------------------------------------- chain state */

/* The reply of a case (module's direct-read equivalent), parsed. */
static x402_reason
xt_case(json_t *c, const x402_payment *p)
{
    const char    *id, *st;
    x402_onchain   oc;
    json_t        *a;

    id = xt_member_str(c, "id");
    st = xt_member_str(c, "state");
    a = xt_reply_ok();

    if (strcmp(id, "C01") == 0) {
        assert_non_null(strstr(st, "simulation succeeds"));

    } else if (strcmp(id, "C02") == 0) {
        assert_non_null(strstr(st, "eth_getCode(asset) returns 0x"));
        xt_reply_set(a, 1, xt_entry_result(1, "0x"));
        xt_reply_set(a, 3, xt_entry_result(3, "0x"));
        xt_reply_set(a, 4, xt_entry_result(4, "0x"));
        xt_reply_set(a, 7, xt_entry_error(7, -32000, "execution reverted",
                                          NULL));

    } else if (strcmp(id, "C04") == 0) {
        assert_non_null(strstr(st, "balanceOf(payer) = 1"));
        xt_reply_set(a, 3, xt_entry_result(3,
            "0x0000000000000000000000000000000000000000000000000000000000000001"));
        /* OpenZeppelin ERC20InsufficientBalance(address,uint256,uint256) */
        xt_reply_set(a, 7, xt_entry_error(7, 3, "execution reverted",
                                          json_string("0xe450d38c")));

    } else if (strcmp(id, "C05") == 0) {
        assert_non_null(strstr(st, "allowance(payer, Permit2) = 0"));
        xt_reply_set(a, 4, xt_entry_result(4,
            "0x0000000000000000000000000000000000000000000000000000000000000000"));
        /* OpenZeppelin ERC20InsufficientAllowance(address,uint256,uint256) */
        xt_reply_set(a, 7, xt_entry_error(7, 3, "execution reverted",
                                          json_string("0xfb8f41b2")));

    } else {
        json_decref(a);
        return X402_R_MAX;
    }

    assert_int_equal(xt_parse(&oc, a), X402_OK);

    return x402_onchain_verdict(&oc, p, 1);
}


static void
test_chain_state_cases(void **state)
{
    x402_payment   p;
    x402_offer     offer;
    uint8_t        digest[32];
    json_t        *cases, *c, *ref, *status;
    const char    *want;
    x402_reason    r;
    size_t         i, n;

    (void) state;

    xt_base(&p, &offer, digest);
    cases = xt_get("chainStateCases.cases");
    n = 0;

    json_array_foreach(cases, i, c) {
        r = xt_case(c, &p);
        if (r == X402_R_MAX) {
            continue;       /* C03, C06, C07: diagnosis-only states */
        }
        n++;

        ref = xt_member(c, "referenceVerify");
        if (json_is_true(xt_member(ref, "isValid"))) {
            assert_int_equal(r, X402_R_VALID);
            continue;
        }

        want = xt_member_str(ref, "invalidReason");
        if (r == X402_R_VALID || strcmp(x402_reason_string(r), want) != 0) {
            fail_msg("%s: got %s, want %s", xt_member_str(c, "id"),
                     r == X402_R_VALID ? "valid" : x402_reason_string(r),
                     want);
        }

        status = json_object_get(c, "httpStatus");
        assert_int_equal(x402_reason_http_status(r),
                         status != NULL ? json_integer_value(status) : 402);
    }

    assert_int_equal(n, 4);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_read_calldata),
        cmocka_unit_test(test_is_valid_signature),
        cmocka_unit_test(test_settle_exact_vectors),
        cmocka_unit_test(test_settle_upto_layout),
        cmocka_unit_test(test_request_exact),
        cmocka_unit_test(test_request_upto_and_args),
        cmocka_unit_test(test_simulate),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_parse_anvil),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_ids),
        cmocka_unit_test(test_verdict_order),
        cmocka_unit_test(test_verdict_branches),
        cmocka_unit_test(test_revert_reasons),
        cmocka_unit_test(test_chain_state_cases),
    };

    return cmocka_run_group_tests(tests, xt_setup, xt_teardown);
}
