/*
 * EIP-712: typehashes, domain separators, intermediate hashes and digests
 * of the three signed vectors.
 */

#include <stdlib.h>
#include <string.h>

#include "vectors.h"


static const char  xt_chains[3][8] = { "8453", "84532", "31337" };


/* The common permit2Authorization as a payment, from independent parsers. */
static void
xt_common_payment(x402_payment *p)
{
    memset(p, 0, sizeof(*p));
    xt_address(&p->from, xt_str("common.permit2Authorization.from"));
    xt_address(&p->token,
               xt_str("common.permit2Authorization.permitted.token"));
    /* 10^18 */
    p->amount.b[24] = 0x0d; p->amount.b[25] = 0xe0; p->amount.b[26] = 0xb6;
    p->amount.b[27] = 0xb3; p->amount.b[28] = 0xa7; p->amount.b[29] = 0x64;
    xt_address(&p->spender, xt_str("common.permit2Authorization.spender"));
    xt_hex_at(p->nonce.b, 32, "common.nonceHex");
    xt_u256_u64(&p->deadline,
                strtoull(xt_str("common.deadline"), NULL, 10));
    xt_address(&p->to, xt_str("common.permit2Authorization.witness.to"));
    xt_u256_u64(&p->valid_after,
                strtoull(xt_str("common.validAfter"), NULL, 10));

    assert_string_equal(
        xt_str("common.permit2Authorization.permitted.amount"),
        "1000000000000000000");
}


static void
xt_check_keccak_str(const char *str_path, const char *hash_path)
{
    const char  *s;
    uint8_t      got[32], want[32];

    s = xt_str(str_path);
    xt_hex_at(want, 32, hash_path);
    x402_keccak256(got, (const uint8_t *) s, strlen(s));
    assert_memory_equal(got, want, 32);
}


static void
test_typehashes(void **state)
{
    char        buf[512];
    uint8_t     got[32], want[32];

    (void) state;

    xt_check_keccak_str("constants.typeStrings.domain",
                        "constants.typeHashes.domain");
    xt_check_keccak_str("constants.typeStrings.tokenPermissions",
                        "constants.typeHashes.tokenPermissions");
    xt_check_keccak_str("constants.typeStrings.witnessExact",
                        "constants.typeHashes.witnessExact");
    xt_check_keccak_str("constants.typeStrings.witnessUpto",
                        "constants.typeHashes.witnessUpto");
    xt_check_keccak_str("constants.typeStrings.permitWitnessTransferFromExact",
                        "constants.typeHashes.permitWitnessTransferFromExact");
    xt_check_keccak_str("constants.typeStrings.permitWitnessTransferFromUpto",
                        "constants.typeHashes.permitWitnessTransferFromUpto");

    xt_hex_at(want, 32, "constants.typeHashes.nameHashPermit2");
    x402_keccak256(got, (const uint8_t *) "Permit2", 7);
    assert_memory_equal(got, want, 32);

    /* Permit2's stub + the proxy's witness string = the full type */
    assert_true(strlen(xt_str("constants.typeStrings.permit2StubPrefix"))
                + strlen(xt_str(
                      "constants.typeStrings.exactProxyWitnessTypeStringSuffix"))
                < sizeof(buf));
    strcpy(buf, xt_str("constants.typeStrings.permit2StubPrefix"));
    strcat(buf,
           xt_str("constants.typeStrings.exactProxyWitnessTypeStringSuffix"));
    assert_string_equal(buf,
        xt_str("constants.typeStrings.permitWitnessTransferFromExact"));
}


static void
test_domain_separators(void **state)
{
    char      path[64];
    uint8_t   got[32], want[32];
    size_t    i;

    (void) state;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "chains.%s.domainSeparator",
                 xt_chains[i]);
        xt_hex_at(want, 32, path);
        x402_permit2_domain_separator(got, strtoull(xt_chains[i], NULL, 10));
        assert_memory_equal(got, want, 32);

        snprintf(path, sizeof(path), "chains.%s.chainId", xt_chains[i]);
        assert_int_equal(xt_int(path), strtoll(xt_chains[i], NULL, 10));
    }
}


static void
test_common_hashes(void **state)
{
    x402_payment  p;
    uint8_t       got[32], want[32];

    (void) state;

    xt_common_payment(&p);

    xt_hex_at(want, 32, "common.tokenPermissionsHash");
    x402_permit2_token_permissions_hash(got, &p.token, &p.amount);
    assert_memory_equal(got, want, 32);

    xt_hex_at(want, 32, "common.witnessHash");
    assert_int_equal(x402_permit2_witness_hash(got, X402_SCHEME_EXACT, &p.to,
                                               NULL, &p.valid_after),
                     X402_OK);
    assert_memory_equal(got, want, 32);

    xt_hex_at(want, 32, "common.structHash");
    assert_int_equal(x402_permit2_struct_hash(got, X402_SCHEME_EXACT, &p),
                     X402_OK);
    assert_memory_equal(got, want, 32);

    assert_int_equal(x402_permit2_witness_hash(got, X402_SCHEME_UNKNOWN,
                                               &p.to, &p.to, &p.valid_after),
                     X402_ERR_ARG);
    assert_int_equal(x402_permit2_struct_hash(got, X402_SCHEME_UNKNOWN, &p),
                     X402_ERR_ARG);
    assert_int_equal(x402_permit2_digest(got, X402_SCHEME_UNKNOWN, 8453, &p),
                     X402_ERR_ARG);
}


static void
test_chain_digests(void **state)
{
    x402_payment  p;
    char          path[64];
    uint8_t       got[32], want[32];
    size_t        i;

    (void) state;

    xt_common_payment(&p);

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "chains.%s.structHash", xt_chains[i]);
        xt_hex_at(want, 32, path);
        assert_int_equal(x402_permit2_struct_hash(got, X402_SCHEME_EXACT, &p),
                         X402_OK);
        assert_memory_equal(got, want, 32);

        snprintf(path, sizeof(path), "chains.%s.digest", xt_chains[i]);
        xt_hex_at(want, 32, path);
        assert_int_equal(x402_permit2_digest(got, X402_SCHEME_EXACT,
                                             strtoull(xt_chains[i], NULL, 10),
                                             &p),
                         X402_OK);
        assert_memory_equal(got, want, 32);
    }
}


/* The upto hashes follow docs/protocol.md#permit2-hashing, built here
 * from the vector typehashes word by word. */
static void
test_upto_hashes(void **state)
{
    x402_payment  p;
    uint8_t       buf[192], tp[32], wh[32], sh[32], got[32];

    (void) state;

    xt_common_payment(&p);
    xt_address(&p.spender, xt_str("constants.addresses.x402UptoPermit2Proxy"));
    xt_address(&p.witness_facilitator,
               xt_str("constants.addresses.multicall3"));
    p.has_witness_facilitator = 1;
    xt_u256_u64(&p.valid_after, 1740671489);

    memset(buf, 0, sizeof(buf));
    xt_hex_at(buf, 32, "constants.typeHashes.witnessUpto");
    memcpy(buf + 44, p.to.b, 20);
    memcpy(buf + 76, p.witness_facilitator.b, 20);
    memcpy(buf + 96, p.valid_after.b, 32);
    x402_keccak256(wh, buf, 128);

    assert_int_equal(x402_permit2_witness_hash(got, X402_SCHEME_UPTO, &p.to,
                                               &p.witness_facilitator,
                                               &p.valid_after),
                     X402_OK);
    assert_memory_equal(got, wh, 32);
    assert_int_equal(x402_permit2_witness_hash(got, X402_SCHEME_UPTO, &p.to,
                                               NULL, &p.valid_after),
                     X402_ERR_ARG);

    xt_hex_at(tp, 32, "common.tokenPermissionsHash");

    memset(buf, 0, sizeof(buf));
    xt_hex_at(buf, 32, "constants.typeHashes.permitWitnessTransferFromUpto");
    memcpy(buf + 32, tp, 32);
    memcpy(buf + 76, p.spender.b, 20);
    memcpy(buf + 96, p.nonce.b, 32);
    memcpy(buf + 128, p.deadline.b, 32);
    memcpy(buf + 160, wh, 32);
    x402_keccak256(sh, buf, 192);

    assert_int_equal(x402_permit2_struct_hash(got, X402_SCHEME_UPTO, &p),
                     X402_OK);
    assert_memory_equal(got, sh, 32);

    buf[0] = 0x19;
    buf[1] = 0x01;
    xt_hex_at(buf + 2, 32, "chains.84532.domainSeparator");
    memcpy(buf + 34, sh, 32);
    x402_keccak256(sh, buf, 66);

    assert_int_equal(x402_permit2_digest(got, X402_SCHEME_UPTO, 84532, &p),
                     X402_OK);
    assert_memory_equal(got, sh, 32);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_typehashes),
        cmocka_unit_test(test_domain_separators),
        cmocka_unit_test(test_common_hashes),
        cmocka_unit_test(test_chain_digests),
        cmocka_unit_test(test_upto_hashes),
    };

    return cmocka_run_group_tests(tests, xt_setup, xt_teardown);
}
