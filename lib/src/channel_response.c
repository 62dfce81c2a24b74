/*
 * batch-settlement answers: the SettleResponse of a deposit or voucher
 * (its extra carries the channel's state) and the accepts of a corrective
 * 402 (x402.h).
 */

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* extra.channelState; NULL on allocation failure or a time past JSON's
 * integers. */
static json_t *
x402_channel_state_json(const x402_channel_state *st)
{
    json_t  *obj;

    if (st->withdraw_requested_at > (uint64_t) INT64_MAX) {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    if (x402_json_set_hex(obj, "channelId", st->channel_id, 32)
        || x402_json_set_u256(obj, "balance", &st->balance)
        || x402_json_set_u256(obj, "totalClaimed", &st->total_claimed)
        || x402_json_set(obj, "withdrawRequestedAt",
                         json_integer((json_int_t)
                                      st->withdraw_requested_at))
        || x402_json_set_u256(obj, "refundNonce", &st->refund_nonce)
        || (st->has_charged_cumulative
            && x402_json_set_u256(obj, "chargedCumulativeAmount",
                                  &st->charged_cumulative)))
    {
        json_decref(obj);
        return NULL;
    }

    return obj;
}


x402_err
x402_channel_settle_response_encode(char *out, size_t *out_len,
    uint64_t chain_id, const x402_address *payer, const char *tx,
    const x402_u256 *deposit, const x402_u256 *charged,
    const x402_channel_state *st)
{
    char     net[X402_NETWORK_MAX + 1];
    json_t  *root, *extra;

    if (out_len == NULL || payer == NULL || st == NULL) {
        return X402_ERR_ARG;
    }

    root = json_object();
    if (root == NULL) {
        return X402_ERR_NOMEM;
    }

    x402_network_format(net, chain_id);

    if (x402_json_set(root, "success", json_true())
        || x402_json_set_str(root, "transaction", tx != NULL ? tx : "")
        || x402_json_set_str(root, "network", net)
        || x402_json_set_address(root, "payer", payer)
        || (deposit != NULL
            ? x402_json_set_u256(root, "amount", deposit)
            : x402_json_set_str(root, "amount", "")))
    {
        goto failed;
    }

    extra = json_object();

    if (x402_json_set(root, "extra", extra)
        || (charged != NULL
            && x402_json_set_u256(extra, "chargedAmount", charged))
        || x402_json_set(extra, "channelState",
                         x402_channel_state_json(st)))
    {
        goto failed;
    }

    return x402_json_dump(out, out_len, root);

failed:

    /* bad UTF-8 in tx, or allocation failure */
    json_decref(root);
    return X402_ERR_ARG;
}


x402_err
x402_channel_accepts_encode(char *out, size_t *out_len,
    const x402_offer *offer, const x402_channel_state *st,
    const x402_u256 *signed_max, const uint8_t *sig, size_t sig_len)
{
    json_t  *arr, *obj, *extra, *vs;

    if (out_len == NULL || offer == NULL || st == NULL
        || offer->scheme != X402_SCHEME_BATCH
        || (sig_len != 0 && (sig == NULL || signed_max == NULL))
        || sig_len > X402_SIGNATURE_MAX)
    {
        return X402_ERR_ARG;
    }

    arr = json_array();
    if (arr == NULL) {
        return X402_ERR_NOMEM;
    }

    /* the offer as x402_accepts_encode() writes it, then the state */
    obj = x402_offer_json(offer);

    if (json_array_append_new(arr, obj) != 0) {
        goto failed;
    }

    extra = json_object_get(obj, "extra");

    if (x402_json_set(extra, "channelState", x402_channel_state_json(st))) {
        goto failed;
    }

    if (sig_len != 0) {
        vs = json_object();

        if (x402_json_set(extra, "voucherState", vs)
            || x402_json_set_u256(vs, "signedMaxClaimable", signed_max)
            || x402_json_set_hex(vs, "signature", sig, sig_len))
        {
            goto failed;
        }
    }

    return x402_json_dump(out, out_len, arr);

failed:

    /* bad UTF-8 in the offer's texts, or allocation failure */
    json_decref(arr);
    return X402_ERR_ARG;
}
