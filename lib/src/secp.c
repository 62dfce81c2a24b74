/*
 * secp256k1 through libsecp256k1: Ethereum ecrecover, addresses of keys,
 * and recoverable signing.
 */

#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "x402.h"
#include "x402_internal.h"


struct x402_context_s {
    secp256k1_context  *secp;
};


/* Private key 1 has the well-known address 0x7E5F...5Bdf: checks the
 * library and keccak end to end without aborting. */
static x402_err
x402_context_selftest(const x402_context *ctx)
{
    static const x402_address  expect = { {
        0x7e, 0x5f, 0x45, 0x52, 0x09, 0x1a, 0x69, 0x12, 0x5d, 0x5d,
        0xfc, 0xb7, 0xb8, 0xc2, 0x65, 0x90, 0x29, 0x39, 0x5b, 0xdf
    } };
    x402_address               a;
    uint8_t                    key[32];

    memset(key, 0, sizeof(key));
    key[31] = 1;

    if (x402_address_from_privkey(ctx, &a, key) != X402_OK
        || !x402_address_eq(&a, &expect))
    {
        return X402_ERR_CRYPTO;
    }

    return X402_OK;
}


x402_context *
x402_context_create(const uint8_t *seed32)
{
    x402_context  *ctx;

    /* aborts the process if the library is miscompiled */
    secp256k1_selftest();

    ctx = malloc(sizeof(*ctx));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->secp = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx->secp == NULL) {
        free(ctx);
        return NULL;
    }

    if ((seed32 != NULL && !secp256k1_context_randomize(ctx->secp, seed32))
        || x402_context_selftest(ctx) != X402_OK)
    {
        secp256k1_context_destroy(ctx->secp);
        free(ctx);
        return NULL;
    }

    return ctx;
}


void
x402_context_destroy(x402_context *ctx)
{
    if (ctx == NULL) {
        return;
    }

    secp256k1_context_destroy(ctx->secp);
    free(ctx);
}


/* address = last 20 bytes of keccak256(X || Y) */
static void
x402_address_from_xy(x402_address *out, const uint8_t xy[64])
{
    uint8_t  h[32];

    x402_keccak256(h, xy, 64);
    memcpy(out->b, h + 12, 20);
}


static x402_err
x402_address_from_secp_pubkey(const secp256k1_context *secp,
    x402_address *out, const secp256k1_pubkey *pk)
{
    uint8_t  ser[65];
    size_t   len;

    len = sizeof(ser);

    if (!secp256k1_ec_pubkey_serialize(secp, ser, &len, pk,
                                       SECP256K1_EC_UNCOMPRESSED)
        || len != 65)
    {
        return X402_ERR_CRYPTO;
    }

    x402_address_from_xy(out, ser + 1);

    return X402_OK;
}


x402_err
x402_ecrecover(const x402_context *ctx, x402_address *signer,
    const uint8_t digest[32], const uint8_t *sig, size_t sig_len)
{
    secp256k1_ecdsa_recoverable_signature  rs;
    secp256k1_pubkey                       pk;

    if (ctx == NULL || signer == NULL || digest == NULL || sig == NULL) {
        return X402_ERR_ARG;
    }

    /* on-chain ecrecover: exactly r || s || v with v in {27, 28} */
    if (sig_len != 65 || (sig[64] != 27 && sig[64] != 28)) {
        return X402_ERR_CRYPTO;
    }

    /* parse rejects r or s >= n; high s is left alone */
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx->secp, &rs,
                                                             sig, sig[64] - 27)
        || !secp256k1_ecdsa_recover(ctx->secp, &pk, &rs, digest))
    {
        return X402_ERR_CRYPTO;
    }

    return x402_address_from_secp_pubkey(ctx->secp, signer, &pk);
}


x402_err
x402_address_from_privkey(const x402_context *ctx, x402_address *out,
    const uint8_t key[32])
{
    secp256k1_pubkey  pk;

    if (ctx == NULL || out == NULL || key == NULL) {
        return X402_ERR_ARG;
    }

    if (!secp256k1_ec_pubkey_create(ctx->secp, &pk, key)) {
        return X402_ERR_CRYPTO;
    }

    return x402_address_from_secp_pubkey(ctx->secp, out, &pk);
}


x402_err
x402_address_from_pubkey(x402_address *out, const uint8_t *pub, size_t len)
{
    secp256k1_pubkey  pk;

    if (out == NULL || pub == NULL) {
        return X402_ERR_ARG;
    }

    if (len != 65 || pub[0] != 0x04) {
        return X402_ERR_CRYPTO;
    }

    /* the static context suffices for parsing; it checks the curve */
    if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, pub, len)) {
        return X402_ERR_CRYPTO;
    }

    x402_address_from_xy(out, pub + 1);

    return X402_OK;
}


x402_err
x402_sign_recoverable(const x402_context *ctx, uint8_t rs[64], int *recid,
    const uint8_t digest[32], const uint8_t key[32])
{
    secp256k1_ecdsa_recoverable_signature  sig;

    if (ctx == NULL || rs == NULL || recid == NULL || digest == NULL
        || key == NULL)
    {
        return X402_ERR_ARG;
    }

    /* NULL nonce function: RFC 6979; libsecp256k1 always emits low s */
    if (!secp256k1_ecdsa_sign_recoverable(ctx->secp, &sig, digest, key,
                                          NULL, NULL)
        || !secp256k1_ecdsa_recoverable_signature_serialize_compact(
               ctx->secp, rs, recid, &sig))
    {
        return X402_ERR_CRYPTO;
    }

    return X402_OK;
}


x402_err
x402_sign_digest(const x402_context *ctx, uint8_t sig[65],
    const uint8_t digest[32], const uint8_t key[32])
{
    int       recid;
    x402_err  rc;

    if (sig == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_sign_recoverable(ctx, sig, &recid, digest, key);
    if (rc != X402_OK) {
        return rc;
    }

    sig[64] = (uint8_t) (27 + recid);

    return X402_OK;
}
