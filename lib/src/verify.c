/*
 * Offer matching, local verification in the reference facilitator's order
 * (docs/protocol.md#offer-matching, docs/protocol.md#verification-order),
 * and the replay key (docs/protocol.md#replay-key).
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


/* Compares a client's network text with "eip155:<chain_id>". */
int
x402_network_is(const char *network, uint64_t chain_id)
{
    char  buf[X402_NETWORK_MAX + 1];

    x402_network_format(buf, chain_id);

    return strcmp(buf, network) == 0;
}


static int
x402_network_eq(const x402_offer *offer, const x402_payment *p)
{
    return x402_network_is(p->accepted.network, offer->chain_id);
}


/* An optional extra text: absent in both, or present in both and equal. */
static int
x402_extra_text_eq(const char *offered, int has, const char *accepted)
{
    if (offered == NULL) {
        return !has;
    }

    return has && strcmp(offered, accepted) == 0;
}


x402_reason
x402_offer_match(const x402_offer *offer, const x402_payment *p)
{
    if (offer == NULL || p == NULL
        || offer->scheme == X402_SCHEME_UNKNOWN
        || p->accepted.scheme != offer->scheme
        || !x402_network_eq(offer, p)
        || x402_u256_cmp(&p->accepted.amount, &offer->amount) != 0
        || !x402_address_eq(&p->accepted.asset, &offer->asset)
        || !x402_address_eq(&p->accepted.pay_to, &offer->pay_to)
        || p->accepted.max_timeout_seconds != offer->max_timeout_seconds
        || !p->accepted.permit2)
    {
        return X402_R_NO_MATCH;
    }

    if (offer->scheme == X402_SCHEME_UPTO
        ? (!p->accepted.has_facilitator
           || !x402_address_eq(&p->accepted.facilitator,
                               &offer->facilitator))
        : p->accepted.has_facilitator)
    {
        return X402_R_NO_MATCH;
    }

    if (p->accepted.foreign
        || !x402_extra_text_eq(offer->extra_name, p->accepted.has_name,
                               p->accepted.name)
        || !x402_extra_text_eq(offer->extra_version, p->accepted.has_version,
                               p->accepted.version))
    {
        return X402_R_NO_MATCH;
    }

    return X402_R_VALID;
}


/* deadline >= now + margin, without overflowing either side. */
int
x402_deadline_ok(const x402_u256 *deadline, uint64_t now, uint64_t margin)
{
    uint64_t  d;

    if (x402_u256_to_u64(&d, deadline) != X402_OK) {
        return 1;
    }

    return d >= margin && d - margin >= now;
}


static int
x402_valid_after_ok(const x402_u256 *valid_after, uint64_t now)
{
    uint64_t  v;

    if (x402_u256_to_u64(&v, valid_after) != X402_OK) {
        return 0;
    }

    return v <= now;
}


static int
x402_signature_ok(const x402_context *ctx, x402_scheme scheme,
    uint64_t chain_id, const x402_payment *p)
{
    x402_address  signer;
    uint8_t       digest[32];

    if (ctx == NULL || p->signature_len != X402_SIGNATURE_ECDSA) {
        return 0;
    }

    if (x402_permit2_digest(digest, scheme, chain_id, p) != X402_OK
        || x402_ecrecover(ctx, &signer, digest, p->signature,
                          p->signature_len) != X402_OK)
    {
        return 0;
    }

    return x402_address_eq(&signer, &p->from);
}


x402_reason
x402_verify_local(const x402_context *ctx, const x402_offer *offer,
    const x402_payment *p, uint64_t now, uint64_t min_left)
{
    int  upto;

    if (offer == NULL || p == NULL) {
        return X402_R_PAYMENT_REQUIRED;
    }

    upto = (offer->scheme == X402_SCHEME_UPTO);

    /* 1. both schemes must be the one being verified */
    if (upto) {
        if (p->accepted.scheme != X402_SCHEME_UPTO) {
            return X402_R_UPTO_SCHEME;
        }

    } else if (offer->scheme != X402_SCHEME_EXACT
               || p->accepted.scheme != X402_SCHEME_EXACT)
    {
        return X402_R_UNSUPPORTED_PAYLOAD_TYPE;
    }

    /* 2. network, as text */
    if (!x402_network_eq(offer, p)) {
        return upto ? X402_R_UPTO_NETWORK_MISMATCH
                    : X402_R_EXACT_NETWORK_MISMATCH;
    }

    /* 3.-9. the signed fields against the server's own offer */
    if (!x402_address_eq(&p->spender, x402_scheme_spender(offer->scheme))) {
        return X402_R_SPENDER;
    }

    if (!x402_address_eq(&p->to, &offer->pay_to)) {
        return X402_R_RECIPIENT_MISMATCH;
    }

    if (upto
        && (!p->has_witness_facilitator
            || !x402_address_eq(&p->witness_facilitator,
                                &offer->facilitator)))
    {
        return X402_R_UPTO_FACILITATOR_MISMATCH;
    }

    if (!x402_deadline_ok(&p->deadline, now,
                          min_left > X402_DEADLINE_MARGIN
                          ? min_left : X402_DEADLINE_MARGIN))
    {
        return X402_R_DEADLINE_EXPIRED;
    }

    if (!x402_valid_after_ok(&p->valid_after, now)) {
        return X402_R_NOT_YET_VALID;
    }

    if (x402_u256_cmp(&p->amount, &offer->amount) != 0) {
        return X402_R_AMOUNT_MISMATCH;
    }

    if (!x402_address_eq(&p->token, &offer->asset)) {
        return X402_R_TOKEN_MISMATCH;
    }

    /* the digest uses the offer's chain id, never the client's */
    if (!x402_signature_ok(ctx, offer->scheme, offer->chain_id, p)) {
        return X402_R_INVALID_SIGNATURE;
    }

    return X402_R_VALID;
}


void
x402_replay_key(char out[X402_REPLAY_KEY_MAX], uint64_t chain_id,
    const x402_payment *p)
{
    char  *q;

    q = out;

    memcpy(q, "x402:", 5);
    q += 5;
    q += x402_u64_format(q, chain_id);
    *q++ = ':';
    x402_hex_encode(q, p->from.b, sizeof(p->from.b));
    q += 2 * sizeof(p->from.b);
    *q++ = ':';
    x402_hex_encode(q, p->nonce.b, sizeof(p->nonce.b));
}


void
x402_payment_fingerprint(uint8_t out[32], uint64_t chain_id,
    const x402_payment *p)
{
    char             key[X402_REPLAY_KEY_MAX];
    x402_keccak_ctx  k;

    x402_replay_key(key, chain_id, p);

    x402_keccak_init(&k);
    x402_keccak_update(&k, (const uint8_t *) key, strlen(key));
    x402_keccak_update(&k, p->signature, p->signature_len);
    x402_keccak_final(&k, out);
}


int
x402_offer_eq(const x402_offer *a, const x402_offer *b)
{
    return a->scheme == b->scheme
           && a->chain_id == b->chain_id
           && a->max_timeout_seconds == b->max_timeout_seconds
           && x402_u256_cmp(&a->amount, &b->amount) == 0
           && x402_address_eq(&a->asset, &b->asset)
           && x402_address_eq(&a->pay_to, &b->pay_to)
           && (a->scheme != X402_SCHEME_UPTO
               || x402_address_eq(&a->facilitator, &b->facilitator))
           && (a->scheme != X402_SCHEME_BATCH
               || (x402_address_eq(&a->receiver_authorizer,
                                   &b->receiver_authorizer)
                   && a->withdraw_delay == b->withdraw_delay));
}
