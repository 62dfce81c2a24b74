/*
 * EIP-1559 (type 2) transactions: RLP encoding and signing.
 *
 *   signing hash = keccak(0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas,
 *                  maxFeePerGas, gasLimit, to, value, data, accessList]))
 *   raw          = 0x02 ‖ rlp([... the nine fields ..., yParity, r, s])
 *   tx hash      = keccak(raw)
 *
 * Integers are minimal big-endian (0 is the empty string), the access list
 * is always empty, yParity is the recovery id (0/1), r and s are minimal
 * integers and s is low (libsecp256k1 only produces low s).
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_TX_TYPE_EIP1559  0x02


static void
x402_tx_fields(x402_rlp *r, const x402_tx *tx)
{
    x402_rlp_u64(r, tx->chain_id);
    x402_rlp_u64(r, tx->nonce);
    x402_rlp_uint(r, tx->max_priority_fee_per_gas.b, 32);
    x402_rlp_uint(r, tx->max_fee_per_gas.b, 32);
    x402_rlp_u64(r, tx->gas_limit);
    x402_rlp_bytes(r, tx->to.b, sizeof(tx->to.b));
    x402_rlp_uint(r, tx->value.b, 32);
    x402_rlp_bytes(r, tx->data, tx->data_len);
    x402_rlp_list(r, 0);                        /* accessList = [] */
}


static void
x402_tx_signature(x402_rlp *r, const uint8_t rs[64], int recid)
{
    x402_rlp_u64(r, (uint64_t) recid);
    x402_rlp_uint(r, rs, 32);
    x402_rlp_uint(r, rs + 32, 32);
}


/* 0x02 ‖ list header ‖ fields [‖ signature] into out (or only counted). */
static x402_err
x402_tx_encode(uint8_t *out, size_t *out_len, const x402_tx *tx,
    const uint8_t *rs, int recid)
{
    static const uint8_t  type = X402_TX_TYPE_EIP1559;
    x402_rlp              r;
    size_t                payload;

    x402_rlp_init(&r, NULL, 0);
    x402_tx_fields(&r, tx);
    if (rs != NULL) {
        x402_tx_signature(&r, rs, recid);
    }

    if (r.full) {
        return X402_ERR_BUFFER;
    }

    payload = r.len;

    x402_rlp_init(&r, out, *out_len);
    x402_rlp_raw(&r, &type, 1);
    x402_rlp_list(&r, payload);
    x402_tx_fields(&r, tx);
    if (rs != NULL) {
        x402_tx_signature(&r, rs, recid);
    }

    if (r.full) {
        return X402_ERR_BUFFER;
    }

    *out_len = r.len;

    return X402_OK;
}


x402_err
x402_tx_sign(const x402_context *ctx, uint8_t *out, size_t *out_len,
    uint8_t hash32[32], const x402_tx *tx, const uint8_t key[32])
{
    uint8_t   sighash[32], rs[64];
    size_t    len;
    int       recid;
    x402_err  rc;

    if (ctx == NULL || out == NULL || out_len == NULL || hash32 == NULL
        || tx == NULL || key == NULL || (tx->data == NULL && tx->data_len != 0))
    {
        return X402_ERR_ARG;
    }

    /* the unsigned encoding is shorter than the signed one: if it does
     * not fit, neither would the result */
    len = *out_len;
    rc = x402_tx_encode(out, &len, tx, NULL, 0);
    if (rc != X402_OK) {
        return rc;
    }

    x402_keccak256(sighash, out, len);

    rc = x402_sign_recoverable(ctx, rs, &recid, sighash, key);
    if (rc != X402_OK) {
        return rc;
    }

    len = *out_len;
    rc = x402_tx_encode(out, &len, tx, rs, recid);
    if (rc != X402_OK) {
        return rc;
    }

    x402_keccak256(hash32, out, len);
    *out_len = len;

    return X402_OK;
}
