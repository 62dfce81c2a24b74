/*
 * secp256k1: signature split, ecrecover of the three vectors, addresses
 * from the private and public key, deterministic signing, rejections.
 */

#include <stdlib.h>
#include <string.h>

#include "vectors.h"


static const char  xt_chains[3][8] = { "8453", "84532", "31337" };


static int
xt_ctx_setup(void **state)
{
    static const uint8_t  seed[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    if (xt_setup(state) != 0) {
        return -1;
    }

    *state = x402_context_create(seed);

    return *state == NULL ? -1 : 0;
}


static int
xt_ctx_teardown(void **state)
{
    x402_context_destroy(*state);

    return xt_teardown(state);
}


static void
xt_chain_sig(uint8_t sig[65], uint8_t digest[32], const char *chain)
{
    char  path[64];

    snprintf(path, sizeof(path), "chains.%s.signature.hex", chain);
    xt_hex_at(sig, 65, path);
    snprintf(path, sizeof(path), "chains.%s.digest", chain);
    xt_hex_at(digest, 32, path);
}


static void
test_signature_split(void **state)
{
    char     path[64];
    uint8_t  sig[65], part[32], digest[32];
    size_t   i;

    (void) state;

    for (i = 0; i < 3; i++) {
        xt_chain_sig(sig, digest, xt_chains[i]);

        snprintf(path, sizeof(path), "chains.%s.signature.r", xt_chains[i]);
        xt_hex_at(part, 32, path);
        assert_memory_equal(sig, part, 32);

        snprintf(path, sizeof(path), "chains.%s.signature.s", xt_chains[i]);
        xt_hex_at(part, 32, path);
        assert_memory_equal(sig + 32, part, 32);

        snprintf(path, sizeof(path), "chains.%s.signature.v", xt_chains[i]);
        assert_int_equal(sig[64], xt_int(path));

        snprintf(path, sizeof(path), "chains.%s.signature.recoveryId",
                 xt_chains[i]);
        assert_int_equal(sig[64] - 27, xt_int(path));
    }
}


static void
test_recover_vectors(void **state)
{
    x402_address  got, want, signer;
    char          path[64];
    uint8_t       sig[65], digest[32];
    size_t        i;

    xt_address(&signer, xt_str("common.signer"));

    for (i = 0; i < 3; i++) {
        xt_chain_sig(sig, digest, xt_chains[i]);
        snprintf(path, sizeof(path), "chains.%s.recovered", xt_chains[i]);
        xt_address(&want, xt_str(path));
        assert_memory_equal(want.b, signer.b, 20);

        memset(&got, 0, sizeof(got));
        assert_int_equal(x402_ecrecover(*state, &got, digest, sig, 65),
                         X402_OK);
        assert_memory_equal(got.b, want.b, 20);

        /* another digest recovers someone else */
        digest[0] ^= 1;
        assert_int_equal(x402_ecrecover(*state, &got, digest, sig, 65),
                         X402_OK);
        assert_memory_not_equal(got.b, want.b, 20);
    }
}


static void
test_signer_addresses(void **state)
{
    x402_address  got, want;
    uint8_t       key[32], pub[65];

    xt_address(&want, xt_str("common.signer"));

    xt_privkey(key);
    assert_int_equal(x402_address_from_privkey(*state, &got, key), X402_OK);
    assert_memory_equal(got.b, want.b, 20);

    xt_hex_at(pub, 65, "common.signerPublicKeyUncompressed");
    memset(&got, 0, sizeof(got));
    assert_int_equal(x402_address_from_pubkey(&got, pub, 65), X402_OK);
    assert_memory_equal(got.b, want.b, 20);

    /* malformed public keys */
    assert_int_equal(x402_address_from_pubkey(&got, pub, 64), X402_ERR_CRYPTO);
    assert_int_equal(x402_address_from_pubkey(&got, pub + 1, 64),
                     X402_ERR_CRYPTO);
    pub[0] = 0x02;
    assert_int_equal(x402_address_from_pubkey(&got, pub, 65), X402_ERR_CRYPTO);
    pub[0] = 0x04;
    pub[64] ^= 1;                       /* off the curve */
    assert_int_equal(x402_address_from_pubkey(&got, pub, 65), X402_ERR_CRYPTO);

    /* invalid private keys: 0 and n */
    memset(key, 0, sizeof(key));
    assert_int_equal(x402_address_from_privkey(*state, &got, key),
                     X402_ERR_CRYPTO);
    xt_hex_at(key, 32, "constants.secp256k1Order");
    assert_int_equal(x402_address_from_privkey(*state, &got, key),
                     X402_ERR_CRYPTO);
}


/* RFC 6979 with low s, like viem: signing reproduces the vector bytes. */
static void
test_sign_vectors(void **state)
{
    x402_address  got, want;
    uint8_t       key[32], sig[65], want_sig[65], digest[32];
    size_t        i;

    xt_privkey(key);
    xt_address(&want, xt_str("common.signer"));

    for (i = 0; i < 3; i++) {
        xt_chain_sig(want_sig, digest, xt_chains[i]);
        assert_int_equal(x402_sign_digest(*state, sig, digest, key), X402_OK);
        assert_memory_equal(sig, want_sig, 65);
        assert_int_equal(x402_ecrecover(*state, &got, digest, sig, 65),
                         X402_OK);
        assert_memory_equal(got.b, want.b, 20);
    }

    /* an arbitrary digest round-trips with v in {27, 28} */
    memset(digest, 0x5a, sizeof(digest));
    assert_int_equal(x402_sign_digest(*state, sig, digest, key), X402_OK);
    assert_true(sig[64] == 27 || sig[64] == 28);
    assert_int_equal(x402_ecrecover(*state, &got, digest, sig, 65), X402_OK);
    assert_memory_equal(got.b, want.b, 20);

    memset(key, 0, sizeof(key));
    assert_int_equal(x402_sign_digest(*state, sig, digest, key),
                     X402_ERR_CRYPTO);
}


static void
test_recover_rejects(void **state)
{
    x402_address  got, want;
    uint8_t       sig[65], bad[65], digest[32], n[32], half[32], m15[65];
    unsigned      borrow, d;
    int           i;

    xt_chain_sig(sig, digest, "8453");
    xt_address(&want, xt_str("common.signer"));

    /* v as y-parity (M14), other v values */
    memcpy(bad, sig, 65);
    bad[64] = sig[64] - 27;
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 65),
                     X402_ERR_CRYPTO);
    bad[64] = 29;
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 65),
                     X402_ERR_CRYPTO);

    /* length: 64-byte EIP-2098 (M13's value) and 66 */
    xt_hex_at(bad, 64, "mutations.cases.12.changes.0.value");
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 64),
                     X402_ERR_CRYPTO);
    assert_int_equal(x402_ecrecover(*state, &got, digest, sig, 64),
                     X402_ERR_CRYPTO);

    /* r = 0, r = n */
    memcpy(bad, sig, 65);
    memset(bad, 0, 32);
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 65),
                     X402_ERR_CRYPTO);
    xt_hex_at(n, 32, "constants.secp256k1Order");
    memcpy(bad, n, 32);
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 65),
                     X402_ERR_CRYPTO);

    /* high s (M15): s' = n - s with v flipped recovers the same signer */
    memcpy(bad, sig, 65);
    borrow = 0;
    for (i = 31; i >= 0; i--) {
        d = (unsigned) n[i] - sig[32 + i] - borrow;
        bad[32 + i] = (uint8_t) d;
        borrow = (d >> 8) & 1;
    }
    bad[64] = sig[64] == 27 ? 28 : 27;
    xt_hex_at(half, 32, "constants.secp256k1HalfOrder");
    assert_true(memcmp(bad + 32, half, 32) > 0);
    xt_hex_at(m15, 65, "mutations.cases.14.changes.0.value");
    assert_memory_equal(bad, m15, 65);
    assert_int_equal(x402_ecrecover(*state, &got, digest, bad, 65), X402_OK);
    assert_memory_equal(got.b, want.b, 20);

    assert_int_equal(x402_ecrecover(NULL, &got, digest, sig, 65),
                     X402_ERR_ARG);
}


static void
test_context(void **state)
{
    x402_context  *ctx;

    (void) state;

    ctx = x402_context_create(NULL);
    assert_non_null(ctx);
    x402_context_destroy(ctx);
    x402_context_destroy(NULL);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_signature_split),
        cmocka_unit_test(test_recover_vectors),
        cmocka_unit_test(test_signer_addresses),
        cmocka_unit_test(test_sign_vectors),
        cmocka_unit_test(test_recover_rejects),
        cmocka_unit_test(test_context),
    };

    return cmocka_run_group_tests(tests, xt_ctx_setup, xt_ctx_teardown);
}
