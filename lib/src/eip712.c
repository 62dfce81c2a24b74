/*
 * EIP-712 hashing of Permit2 PermitWitnessTransferFrom for the x402
 * exact and upto witnesses (docs/protocol.md#permit2-hashing).  The
 * typehashes are constants; the tests check them against keccak of the
 * type strings.
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


/* keccak("EIP712Domain(string name,uint256 chainId,address verifyingContract)") */
static const uint8_t  x402_domain_typehash[32] = {
    0x8c, 0xad, 0x95, 0x68, 0x7b, 0xa8, 0x2c, 0x2c,
    0xe5, 0x0e, 0x74, 0xf7, 0xb7, 0x54, 0x64, 0x5e,
    0x51, 0x17, 0xc3, 0xa5, 0xbe, 0xc8, 0x15, 0x1c,
    0x07, 0x26, 0xd5, 0x85, 0x79, 0x80, 0xa8, 0x66
};

/* keccak("Permit2") */
static const uint8_t  x402_permit2_name_hash[32] = {
    0x9a, 0xc9, 0x97, 0x41, 0x6e, 0x8f, 0xf9, 0xd2,
    0xff, 0x6b, 0xeb, 0xeb, 0x71, 0x49, 0xf6, 0x5c,
    0xda, 0xe5, 0xe3, 0x2e, 0x2b, 0x90, 0x44, 0x0b,
    0x56, 0x6b, 0xb3, 0x04, 0x40, 0x41, 0xd3, 0x6a
};

/* keccak("TokenPermissions(address token,uint256 amount)") */
static const uint8_t  x402_token_permissions_typehash[32] = {
    0x61, 0x83, 0x58, 0xac, 0x3d, 0xb8, 0xdc, 0x27,
    0x4f, 0x0c, 0xd8, 0x82, 0x9d, 0xa7, 0xe2, 0x34,
    0xbd, 0x48, 0xcd, 0x73, 0xc4, 0xa7, 0x40, 0xae,
    0xde, 0x1a, 0xde, 0xc9, 0x84, 0x6d, 0x06, 0xa1
};

/* keccak("Witness(address to,uint256 validAfter)") */
static const uint8_t  x402_witness_exact_typehash[32] = {
    0xd9, 0x7b, 0x32, 0x39, 0xa7, 0xf3, 0x22, 0x95,
    0x51, 0x7b, 0xd1, 0x4c, 0xb0, 0x74, 0xed, 0xfd,
    0xd1, 0x88, 0xdf, 0xe5, 0xeb, 0x42, 0xf8, 0x02,
    0xbb, 0x26, 0xd4, 0xfd, 0x1e, 0xb1, 0x2c, 0x37
};

/* keccak("Witness(address to,address facilitator,uint256 validAfter)") */
static const uint8_t  x402_witness_upto_typehash[32] = {
    0xd4, 0x17, 0x1c, 0x44, 0x5a, 0x74, 0x21, 0x8b,
    0x01, 0xd4, 0xfd, 0x8a, 0xf3, 0x4f, 0xf1, 0x10,
    0x65, 0x80, 0xea, 0x1e, 0x36, 0xff, 0x83, 0x7e,
    0x64, 0x48, 0x4b, 0xfa, 0xa2, 0x25, 0x3b, 0x75
};

/* keccak(PermitWitnessTransferFrom(...)TokenPermissions(...)Witness(address to,uint256 validAfter)) */
static const uint8_t  x402_pwtf_exact_typehash[32] = {
    0xeb, 0xc1, 0x56, 0xcd, 0x23, 0x67, 0x8a, 0x74,
    0xc9, 0x4d, 0xf1, 0x3d, 0x77, 0x2e, 0xf5, 0x47,
    0x84, 0x20, 0x63, 0x7f, 0x0c, 0x94, 0xbd, 0x10,
    0xd5, 0x09, 0xe1, 0xdc, 0x98, 0xf5, 0x21, 0xc7
};

/* keccak(PermitWitnessTransferFrom(...)TokenPermissions(...)Witness(address to,address facilitator,uint256 validAfter)) */
static const uint8_t  x402_pwtf_upto_typehash[32] = {
    0x51, 0xdf, 0xf6, 0x97, 0x4a, 0xd4, 0x38, 0x8c,
    0x49, 0x9e, 0x7f, 0xcf, 0xe8, 0x38, 0xd2, 0xbd,
    0x76, 0x71, 0x62, 0x55, 0x3a, 0x14, 0x40, 0x98,
    0xce, 0x20, 0xea, 0x66, 0x1d, 0x70, 0xc2, 0xee
};


static void
x402_word_address(uint8_t w[32], const x402_address *a)
{
    memset(w, 0, 12);
    memcpy(w + 12, a->b, 20);
}


void
x402_permit2_domain_separator(uint8_t out[32], uint64_t chain_id)
{
    uint8_t    buf[128];
    x402_u256  id;

    x402_u256_from_u64(&id, chain_id);

    memcpy(buf, x402_domain_typehash, 32);
    memcpy(buf + 32, x402_permit2_name_hash, 32);
    memcpy(buf + 64, id.b, 32);
    x402_word_address(buf + 96, &x402_permit2_address);

    x402_keccak256(out, buf, sizeof(buf));
}


void
x402_permit2_token_permissions_hash(uint8_t out[32],
    const x402_address *token, const x402_u256 *amount)
{
    uint8_t  buf[96];

    memcpy(buf, x402_token_permissions_typehash, 32);
    x402_word_address(buf + 32, token);
    memcpy(buf + 64, amount->b, 32);

    x402_keccak256(out, buf, sizeof(buf));
}


x402_err
x402_permit2_witness_hash(uint8_t out[32], x402_scheme scheme,
    const x402_address *to, const x402_address *facilitator,
    const x402_u256 *valid_after)
{
    uint8_t  buf[128];

    switch (scheme) {

    case X402_SCHEME_EXACT:
        memcpy(buf, x402_witness_exact_typehash, 32);
        x402_word_address(buf + 32, to);
        memcpy(buf + 64, valid_after->b, 32);
        x402_keccak256(out, buf, 96);
        return X402_OK;

    case X402_SCHEME_UPTO:
        if (facilitator == NULL) {
            return X402_ERR_ARG;
        }
        memcpy(buf, x402_witness_upto_typehash, 32);
        x402_word_address(buf + 32, to);
        x402_word_address(buf + 64, facilitator);
        memcpy(buf + 96, valid_after->b, 32);
        x402_keccak256(out, buf, 128);
        return X402_OK;

    default:
        return X402_ERR_ARG;
    }
}


x402_err
x402_permit2_struct_hash(uint8_t out[32], x402_scheme scheme,
    const x402_payment *p)
{
    uint8_t   buf[192];
    x402_err  rc;

    if (p == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_permit2_witness_hash(buf + 160, scheme, &p->to,
                                   &p->witness_facilitator, &p->valid_after);
    if (rc != X402_OK) {
        return rc;
    }

    memcpy(buf, scheme == X402_SCHEME_UPTO ? x402_pwtf_upto_typehash
                                           : x402_pwtf_exact_typehash, 32);
    x402_permit2_token_permissions_hash(buf + 32, &p->token, &p->amount);
    x402_word_address(buf + 64, &p->spender);
    memcpy(buf + 96, p->nonce.b, 32);
    memcpy(buf + 128, p->deadline.b, 32);

    x402_keccak256(out, buf, sizeof(buf));

    return X402_OK;
}


void
x402_eip712_hash(uint8_t out[32], const uint8_t domain[32],
    const uint8_t struct_hash[32])
{
    uint8_t  buf[66];

    buf[0] = 0x19;
    buf[1] = 0x01;
    memcpy(buf + 2, domain, 32);
    memcpy(buf + 34, struct_hash, 32);

    x402_keccak256(out, buf, sizeof(buf));
}


x402_err
x402_permit2_digest(uint8_t out[32], x402_scheme scheme, uint64_t chain_id,
    const x402_payment *p)
{
    uint8_t   domain[32], hash[32];
    x402_err  rc;

    rc = x402_permit2_struct_hash(hash, scheme, p);
    if (rc != X402_OK) {
        return rc;
    }

    x402_permit2_domain_separator(domain, chain_id);
    x402_eip712_hash(out, domain, hash);

    return X402_OK;
}
