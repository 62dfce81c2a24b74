/*
 * batch-settlement channels: the EIP-712 hashes of x402BatchSettlement
 * (channel id, voucher digest), the Permit2 digest of a deposit, and the
 * local verification of a payment in its order (x402.h).  The typehashes
 * are constants; the tests check the digests against viem.
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_WORD  32


/* keccak("EIP712Domain(string name,string version,uint256 chainId,
 *         address verifyingContract)") */
static const uint8_t  x402_domain_typehash[32] = {
    0x8b, 0x73, 0xc3, 0xc6, 0x9b, 0xb8, 0xfe, 0x3d,
    0x51, 0x2e, 0xcc, 0x4c, 0xf7, 0x59, 0xcc, 0x79,
    0x23, 0x9f, 0x7b, 0x17, 0x9b, 0x0f, 0xfa, 0xca,
    0xa9, 0xa7, 0x5d, 0x52, 0x2b, 0x39, 0x40, 0x0f
};

/* keccak("x402 Batch Settlement") */
static const uint8_t  x402_channel_name_hash[32] = {
    0xe0, 0x3c, 0x50, 0x2b, 0x90, 0x66, 0xcc, 0x6f,
    0x23, 0xa8, 0xf0, 0xf4, 0x8e, 0xd3, 0x2c, 0xb7,
    0xd5, 0x06, 0xf9, 0xf0, 0xa2, 0xd0, 0x05, 0x54,
    0x49, 0xf2, 0x56, 0x84, 0x6a, 0x77, 0x0e, 0x9a
};

/* keccak("1") */
static const uint8_t  x402_channel_version_hash[32] = {
    0xc8, 0x9e, 0xfd, 0xaa, 0x54, 0xc0, 0xf2, 0x0c,
    0x7a, 0xdf, 0x61, 0x28, 0x82, 0xdf, 0x09, 0x50,
    0xf5, 0xa9, 0x51, 0x63, 0x7e, 0x03, 0x07, 0xcd,
    0xcb, 0x4c, 0x67, 0x2f, 0x29, 0x8b, 0x8b, 0xc6
};

/* keccak("ChannelConfig(address payer,address payerAuthorizer,
 *         address receiver,address receiverAuthorizer,address token,
 *         uint40 withdrawDelay,bytes32 salt)") */
static const uint8_t  x402_channel_config_typehash[32] = {
    0x1c, 0x9a, 0x06, 0xce, 0xab, 0x9b, 0x0e, 0xbb,
    0xd3, 0x30, 0x1d, 0xc5, 0x6c, 0x91, 0x11, 0xbb,
    0x6d, 0x9a, 0xf4, 0x21, 0x35, 0x6d, 0xc9, 0xcc,
    0xb3, 0xb7, 0x08, 0x4c, 0x75, 0x5d, 0xb3, 0x08
};

/* keccak("Voucher(bytes32 channelId,uint128 maxClaimableAmount)") */
static const uint8_t  x402_voucher_typehash[32] = {
    0x1e, 0x1b, 0xd6, 0xff, 0x84, 0xc3, 0xe0, 0xd9,
    0x02, 0x9a, 0x29, 0x2b, 0x21, 0x2e, 0x03, 0x9c,
    0x0c, 0xa9, 0x7e, 0xc4, 0x97, 0xc5, 0x51, 0x91,
    0xa4, 0xa5, 0x87, 0x42, 0x94, 0x60, 0x9a, 0x69
};

/* keccak("DepositWitness(bytes32 channelId)") */
static const uint8_t  x402_deposit_witness_typehash[32] = {
    0xba, 0x00, 0x00, 0x09, 0x7e, 0x86, 0xda, 0xbe,
    0x64, 0x17, 0x8a, 0xfe, 0x31, 0x10, 0x92, 0x21,
    0x19, 0x33, 0x39, 0xa6, 0x86, 0x15, 0x98, 0xf2,
    0x13, 0x3f, 0xcb, 0xdc, 0x92, 0xc8, 0x44, 0x79
};

/* keccak("PermitWitnessTransferFrom(TokenPermissions permitted,
 *         address spender,uint256 nonce,uint256 deadline,
 *         DepositWitness witness)DepositWitness(bytes32 channelId)
 *         TokenPermissions(address token,uint256 amount)"), the
 * witness type string of Permit2DepositCollector */
static const uint8_t  x402_pwtf_deposit_typehash[32] = {
    0x43, 0x6a, 0x25, 0xc0, 0x1a, 0x21, 0xa6, 0xed,
    0x02, 0x58, 0x16, 0xc4, 0xc9, 0xea, 0x3d, 0x61,
    0x32, 0xaa, 0x87, 0x9d, 0xd7, 0xef, 0x16, 0xf6,
    0x18, 0x8d, 0xd3, 0xb0, 0xae, 0xbc, 0xcc, 0x52
};


void
x402_channel_domain_separator(uint8_t out[32], uint64_t chain_id)
{
    uint8_t    buf[5 * X402_WORD];
    x402_u256  id;

    x402_u256_from_u64(&id, chain_id);

    memcpy(buf, x402_domain_typehash, X402_WORD);
    memcpy(buf + X402_WORD, x402_channel_name_hash, X402_WORD);
    memcpy(buf + 2 * X402_WORD, x402_channel_version_hash, X402_WORD);
    memcpy(buf + 3 * X402_WORD, id.b, X402_WORD);
    x402_abi_address(buf + 4 * X402_WORD, &x402_batch_settlement_address);

    x402_keccak256(out, buf, sizeof(buf));
}


/* keccak(0x1901 ‖ the channel domain ‖ keccak(typehash ‖ words)) */
static void
x402_channel_hash(uint8_t out[32], uint64_t chain_id, const uint8_t *words,
    size_t len)
{
    uint8_t  domain[32], hash[32];

    x402_keccak256(hash, words, len);
    x402_channel_domain_separator(domain, chain_id);
    x402_eip712_hash(out, domain, hash);
}


void
x402_channel_id(uint8_t out[32], uint64_t chain_id,
    const x402_channel_config *c)
{
    uint8_t  buf[(1 + X402_CHANNEL_CONFIG_WORDS) * X402_WORD];

    memcpy(buf, x402_channel_config_typehash, X402_WORD);
    x402_channel_config_encode(buf + X402_WORD, c);

    x402_channel_hash(out, chain_id, buf, sizeof(buf));
}


void
x402_channel_voucher_digest(uint8_t out[32], uint64_t chain_id,
    const uint8_t channel_id[32], const x402_u256 *max_claimable)
{
    uint8_t  buf[3 * X402_WORD];

    memcpy(buf, x402_voucher_typehash, X402_WORD);
    memcpy(buf + X402_WORD, channel_id, X402_WORD);
    memcpy(buf + 2 * X402_WORD, max_claimable->b, X402_WORD);

    x402_channel_hash(out, chain_id, buf, sizeof(buf));
}


void
x402_channel_deposit_digest(uint8_t out[32], uint64_t chain_id,
    const x402_channel_payment *p)
{
    uint8_t  buf[6 * X402_WORD], witness[2 * X402_WORD], domain[32];

    memcpy(witness, x402_deposit_witness_typehash, X402_WORD);
    memcpy(witness + X402_WORD, p->witness_channel_id, X402_WORD);

    memcpy(buf, x402_pwtf_deposit_typehash, X402_WORD);
    x402_permit2_token_permissions_hash(buf + X402_WORD, &p->token,
                                        &p->permit_amount);
    x402_abi_address(buf + 2 * X402_WORD, &p->spender);
    memcpy(buf + 3 * X402_WORD, p->nonce.b, X402_WORD);
    memcpy(buf + 4 * X402_WORD, p->deadline.b, X402_WORD);
    x402_keccak256(buf + 5 * X402_WORD, witness, sizeof(witness));

    x402_keccak256(buf, buf, sizeof(buf));
    x402_permit2_domain_separator(domain, chain_id);
    x402_eip712_hash(out, domain, buf);
}


/* A 65-byte signature of digest by signer (never the zero address). */
static int
x402_signed_by(const x402_context *ctx, const uint8_t digest[32],
    const uint8_t *sig, size_t sig_len, const x402_address *signer)
{
    x402_address  a;

    return ctx != NULL && sig_len == X402_SIGNATURE_ECDSA
           && !x402_address_is_zero(signer)
           && x402_ecrecover(ctx, &a, digest, sig, sig_len) == X402_OK
           && x402_address_eq(&a, signer);
}


/* The deposit's Permit2 authorization (step 7 of the verification). */
static x402_reason
x402_channel_verify_deposit(const x402_context *ctx, uint64_t chain_id,
    const uint8_t id[32], const x402_channel_payment *p, uint64_t now,
    uint64_t min_left)
{
    uint8_t  digest[32];

    if (!p->has_permit2) {
        return X402_R_BS_PERMIT2_AUTHORIZATION_REQUIRED;
    }

    if (!x402_address_eq(&p->from, &p->config.payer)
        || !x402_address_eq(&p->token, &p->config.token)
        || memcmp(p->witness_channel_id, id, 32) != 0)
    {
        return X402_R_BS_DEPOSIT_PAYLOAD;
    }

    if (!x402_address_eq(&p->spender,
                         &x402_permit2_deposit_collector_address))
    {
        return X402_R_BS_PERMIT2_INVALID_SPENDER;
    }

    if (x402_u256_cmp(&p->permit_amount, &p->deposit_amount) != 0
        || x402_zero_bytes(p->deposit_amount.b, 32))
    {
        return X402_R_BS_PERMIT2_AMOUNT_MISMATCH;
    }

    if (!x402_deadline_ok(&p->deadline, now,
                          min_left > X402_DEADLINE_MARGIN
                          ? min_left : X402_DEADLINE_MARGIN))
    {
        return X402_R_BS_PERMIT2_DEADLINE_EXPIRED;
    }

    /* another length is a contract wallet's, for the chain to judge */
    if (p->deposit_signature_len == 0
        || p->deposit_signature_len == X402_SIGNATURE_ECDSA)
    {
        x402_channel_deposit_digest(digest, chain_id, p);

        if (!x402_signed_by(ctx, digest, p->deposit_signature,
                            p->deposit_signature_len, &p->from))
        {
            return X402_R_BS_PERMIT2_INVALID_SIGNATURE;
        }
    }

    return X402_R_VALID;
}


x402_reason
x402_channel_verify_local(const x402_context *ctx, uint8_t channel_id[32],
    const x402_offer *offer, const x402_channel_payment *p, uint64_t now,
    uint64_t min_left)
{
    uint8_t                     id[32], digest[32];
    x402_reason                 r;
    const x402_channel_config  *c;

    if (offer == NULL || p == NULL || offer->scheme != X402_SCHEME_BATCH) {
        return X402_R_PAYMENT_REQUIRED;
    }

    c = &p->config;

    if (p->accepted.scheme != X402_SCHEME_BATCH) {
        return X402_R_NO_MATCH;
    }

    if (!x402_network_is(p->accepted.network, offer->chain_id)) {
        return X402_R_BS_NETWORK_MISMATCH;
    }

    if (p->type != X402_CHANNEL_DEPOSIT && p->type != X402_CHANNEL_VOUCHER) {
        return X402_R_BS_PAYLOAD_TYPE;
    }

    /* the offer's chain, never the client's */
    x402_channel_id(id, offer->chain_id, c);

    if (channel_id != NULL) {
        memcpy(channel_id, id, 32);
    }

    if (memcmp(id, p->channel_id, 32) != 0) {
        return X402_R_BS_CHANNEL_ID_MISMATCH;
    }

    if (!x402_address_eq(&c->token, &offer->asset)) {
        return X402_R_BS_TOKEN_MISMATCH;
    }

    if (!x402_address_eq(&c->receiver, &offer->pay_to)) {
        return X402_R_BS_RECEIVER_MISMATCH;
    }

    if (!x402_address_eq(&c->receiver_authorizer,
                         &offer->receiver_authorizer))
    {
        return X402_R_BS_RECEIVER_AUTHORIZER_MISMATCH;
    }

    if (c->withdraw_delay != offer->withdraw_delay) {
        return X402_R_BS_WITHDRAW_DELAY_MISMATCH;
    }

    x402_channel_voucher_digest(digest, offer->chain_id, id,
                                &p->max_claimable);

    if (!x402_signed_by(ctx, digest, p->signature, p->signature_len,
                        &c->payer_authorizer))
    {
        return X402_R_BS_VOUCHER_SIGNATURE;
    }

    if (p->type == X402_CHANNEL_DEPOSIT) {
        r = x402_channel_verify_deposit(ctx, offer->chain_id, id, p, now,
                                        min_left);
        if (r != X402_R_VALID) {
            return r;
        }
    }

    if (x402_zero_bytes(p->max_claimable.b, 32)) {
        return X402_R_BS_CUMULATIVE_BELOW_CLAIMED;
    }

    return X402_R_VALID;
}
