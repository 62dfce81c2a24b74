/*
 * batch-settlement PaymentPayload decoder: JSON text or base64 header to
 * x402_channel_payment (x402.h), with the rules of the exact and upto
 * decoder (json_payload.c, whose readers it uses).  Every failure names
 * the dotted path of the offending field.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_CFG  "payload.channelConfig"
#define X402_VCH  "payload.voucher"
#define X402_DEP  "payload.deposit"
#define X402_P2A  "payload.deposit.authorization.permit2Authorization"

#define X402_UINT40_MAX  ((((int64_t) 1) << 40) - 1)

#define X402_TRY(expr, path)                                                 \
    do {                                                                     \
        rc = (expr);                                                         \
        if (rc != X402_OK) {                                                 \
            *field = (path);                                                 \
            return rc;                                                       \
        }                                                                    \
    } while (0)


/* A bytes32 string: "0x" and 64 hex digits. */
static x402_err
x402_json_get_b32(uint8_t out[32], json_t *obj, const char *key)
{
    json_t       *v;
    size_t        n;
    const char   *s;
    x402_err      rc;

    rc = x402_json_get(&v, obj, key, JSON_STRING, 1);
    if (rc != X402_OK) {
        return rc;
    }

    s = json_string_value(v);
    n = 32;

    if (json_string_length(v) != 66 || s[0] != '0' || s[1] != 'x'
        || x402_hex_decode(out, &n, s + 2, 64) != X402_OK)
    {
        return X402_ERR_VALUE;
    }

    return X402_OK;
}


/* A uint128 string: as a uint256, then below 2^128. */
static x402_err
x402_json_get_u128(x402_u256 *out, json_t *obj, const char *key)
{
    x402_err  rc;

    rc = x402_json_get_u256(out, obj, key);

    if (rc == X402_OK && !x402_zero_bytes(out->b, 16)) {
        rc = X402_ERR_OVERFLOW;
    }

    return rc;
}


/* A withdraw delay: a JSON integer within uint40.  Optional ones may be
 * absent or null (*present 0). */
static x402_err
x402_json_get_delay(uint64_t *out, json_t *obj, const char *key,
    int *present)
{
    json_t    *v;
    int64_t    t;
    x402_err   rc;

    if (present != NULL) {
        v = json_object_get(obj, key);
        *present = (v != NULL && !json_is_null(v));

        if (!*present) {
            return X402_OK;
        }
    }

    rc = x402_json_get_int(&t, obj, key);
    if (rc != X402_OK) {
        return rc;
    }

    if (t < 0) {
        return X402_ERR_VALUE;
    }

    if (t > X402_UINT40_MAX) {
        return X402_ERR_OVERFLOW;
    }

    *out = (uint64_t) t;

    return X402_OK;
}


/* A signature string; malformed text gives length 0 (x402.h). */
static x402_err
x402_json_get_signature(uint8_t sig[X402_SIGNATURE_MAX], size_t *len,
    json_t *obj)
{
    json_t    *v;
    x402_err   rc;

    rc = x402_json_get(&v, obj, "signature", JSON_STRING, 1);
    if (rc != X402_OK) {
        return rc;
    }

    *len = x402_signature_hex(sig, X402_SIGNATURE_MAX, json_string_value(v),
                              json_string_length(v));

    return X402_OK;
}


static x402_err
x402_decode_config(x402_channel_config *c, const char **field,
    json_t *payload)
{
    json_t    *cfg;
    x402_err   rc;

    X402_TRY(x402_json_get(&cfg, payload, "channelConfig", JSON_OBJECT, 1),
             X402_CFG);

    X402_TRY(x402_json_get_address(&c->payer, cfg, "payer", 1, NULL),
             X402_CFG ".payer");
    X402_TRY(x402_json_get_address(&c->payer_authorizer, cfg,
                                   "payerAuthorizer", 1, NULL),
             X402_CFG ".payerAuthorizer");
    X402_TRY(x402_json_get_address(&c->receiver, cfg, "receiver", 1, NULL),
             X402_CFG ".receiver");
    X402_TRY(x402_json_get_address(&c->receiver_authorizer, cfg,
                                   "receiverAuthorizer", 1, NULL),
             X402_CFG ".receiverAuthorizer");
    X402_TRY(x402_json_get_address(&c->token, cfg, "token", 1, NULL),
             X402_CFG ".token");
    X402_TRY(x402_json_get_delay(&c->withdraw_delay, cfg, "withdrawDelay",
                                 NULL),
             X402_CFG ".withdrawDelay");
    X402_TRY(x402_json_get_b32(c->salt, cfg, "salt"), X402_CFG ".salt");

    return X402_OK;
}


static x402_err
x402_decode_voucher(x402_channel_payment *out, const char **field,
    json_t *payload)
{
    json_t    *v;
    x402_err   rc;

    X402_TRY(x402_json_get(&v, payload, "voucher", JSON_OBJECT, 1),
             X402_VCH);
    X402_TRY(x402_json_get_b32(out->channel_id, v, "channelId"),
             X402_VCH ".channelId");
    X402_TRY(x402_json_get_u128(&out->max_claimable, v,
                                "maxClaimableAmount"),
             X402_VCH ".maxClaimableAmount");
    X402_TRY(x402_json_get_signature(out->signature, &out->signature_len,
                                     v),
             X402_VCH ".signature");

    return X402_OK;
}


static x402_err
x402_decode_deposit(x402_channel_payment *out, const char **field,
    json_t *payload)
{
    json_t    *dep, *auth, *p2a, *permitted, *witness;
    x402_err   rc;

    X402_TRY(x402_json_get(&dep, payload, "deposit", JSON_OBJECT, 1),
             X402_DEP);
    X402_TRY(x402_json_get_u128(&out->deposit_amount, dep, "amount"),
             X402_DEP ".amount");
    X402_TRY(x402_json_get(&auth, dep, "authorization", JSON_OBJECT, 1),
             X402_DEP ".authorization");

    /* absent: another transfer method (erc3009Authorization) */
    X402_TRY(x402_json_get(&p2a, auth, "permit2Authorization", JSON_OBJECT,
                           0),
             X402_P2A);
    if (p2a == NULL) {
        return X402_OK;
    }

    out->has_permit2 = 1;

    X402_TRY(x402_json_get_address(&out->from, p2a, "from", 1, NULL),
             X402_P2A ".from");
    X402_TRY(x402_json_get(&permitted, p2a, "permitted", JSON_OBJECT, 1),
             X402_P2A ".permitted");
    X402_TRY(x402_json_get_address(&out->token, permitted, "token", 1,
                                   NULL),
             X402_P2A ".permitted.token");
    X402_TRY(x402_json_get_u256(&out->permit_amount, permitted, "amount"),
             X402_P2A ".permitted.amount");
    X402_TRY(x402_json_get_address(&out->spender, p2a, "spender", 1, NULL),
             X402_P2A ".spender");
    X402_TRY(x402_json_get_u256(&out->nonce, p2a, "nonce"),
             X402_P2A ".nonce");
    X402_TRY(x402_json_get_u256(&out->deadline, p2a, "deadline"),
             X402_P2A ".deadline");
    X402_TRY(x402_json_get(&witness, p2a, "witness", JSON_OBJECT, 1),
             X402_P2A ".witness");
    X402_TRY(x402_json_get_b32(out->witness_channel_id, witness,
                               "channelId"),
             X402_P2A ".witness.channelId");
    X402_TRY(x402_json_get_signature(out->deposit_signature,
                                     &out->deposit_signature_len, p2a),
             X402_P2A ".signature");

    return X402_OK;
}


static x402_err
x402_decode_channel_payload(x402_channel_payment *out, const char **field,
    json_t *root)
{
    json_t      *payload, *v;
    size_t       len;
    x402_err     rc;
    const char  *s;

    X402_TRY(x402_json_get(&payload, root, "payload", JSON_OBJECT, 1),
             "payload");

    X402_TRY(x402_json_get(&v, payload, "type", JSON_STRING, 1),
             "payload.type");
    s = json_string_value(v);
    len = json_string_length(v);

    if (x402_str_eq("deposit", s, len)) {
        out->type = X402_CHANNEL_DEPOSIT;

    } else if (x402_str_eq("voucher", s, len)) {
        out->type = X402_CHANNEL_VOUCHER;

    } else if (x402_str_eq("refund", s, len)) {
        out->type = X402_CHANNEL_REFUND;

    } else {
        *field = "payload.type";
        return X402_ERR_VALUE;
    }

    rc = x402_decode_config(&out->config, field, payload);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_decode_voucher(out, field, payload);
    if (rc != X402_OK) {
        return rc;
    }

    if (out->type == X402_CHANNEL_DEPOSIT) {
        return x402_decode_deposit(out, field, payload);
    }

    if (out->type == X402_CHANNEL_REFUND) {
        /* optional: the whole balance when absent */
        X402_TRY(x402_json_get(&v, payload, "amount", JSON_STRING, 0),
                 "payload.amount");

        if (v != NULL) {
            X402_TRY(x402_json_get_u128(&out->refund_amount, payload,
                                        "amount"),
                     "payload.amount");
            out->has_refund_amount = 1;
        }
    }

    return X402_OK;
}


static x402_err
x402_decode_channel_accepted(x402_channel_payment *out, const char **field,
    json_t *root)
{
    x402_err        rc;
    x402_accepted   acc;

    rc = x402_accepted_decode(&acc, field, root);
    if (rc != X402_OK) {
        return rc;
    }

    out->accepted.scheme = acc.scheme;
    memcpy(out->accepted.network, acc.network, sizeof(acc.network));
    out->accepted.has_chain_id = acc.has_chain_id;
    out->accepted.chain_id = acc.chain_id;
    out->accepted.amount = acc.amount;
    out->accepted.asset = acc.asset;
    out->accepted.pay_to = acc.pay_to;
    out->accepted.max_timeout_seconds = acc.max_timeout_seconds;

    if (acc.extra == NULL) {
        return X402_OK;
    }

    X402_TRY(x402_json_get_address(&out->accepted.receiver_authorizer,
                                   acc.extra, "receiverAuthorizer", 0,
                                   &out->accepted.has_receiver_authorizer),
             "accepted.extra.receiverAuthorizer");
    X402_TRY(x402_json_get_delay(&out->accepted.withdraw_delay, acc.extra,
                                 "withdrawDelay",
                                 &out->accepted.has_withdraw_delay),
             "accepted.extra.withdrawDelay");

    return X402_OK;
}


x402_err
x402_channel_payment_decode_json(x402_channel_payment *out,
    const char **field, const char *json, size_t len)
{
    json_t       *root, *v;
    const char   *dummy;
    x402_err      rc;

    if (field == NULL) {
        field = &dummy;
    }

    rc = x402_payload_open(&root, field, out, sizeof(*out), json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_decode_channel_payload(out, field, root);

    if (rc == X402_OK) {
        rc = x402_decode_channel_accepted(out, field, root);
    }

    /* optional: absent or null, else an object ("extensions" not read) */
    if (rc == X402_OK) {
        rc = x402_json_get(&v, root, "resource", JSON_OBJECT, 0);
        if (rc != X402_OK) {
            *field = "resource";
        }
    }

    json_decref(root);

    return rc;
}
