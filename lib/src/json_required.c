/*
 * PaymentRequired encoder (docs/protocol.md#payment-required): compact
 * JSON with the key order of the reference server, optionally base64 for
 * PAYMENT-REQUIRED.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* One accepts[] entry; also the facilitator's paymentRequirements. */
json_t *
x402_offer_json(const x402_offer *o)
{
    json_t  *obj, *extra;
    char     net[X402_NETWORK_MAX + 1], amount[X402_U256_DEC_MAX];

    if (x402_scheme_name(o->scheme) == NULL) {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    if (x402_json_set_str(obj, "scheme", x402_scheme_name(o->scheme))) {
        goto failed;
    }

    x402_network_format(net, o->chain_id);
    if (x402_json_set_str(obj, "network", net)) {
        goto failed;
    }

    x402_u256_format_dec(amount, &o->amount);
    if (x402_json_set_str(obj, "amount", amount)
        || x402_json_set_address(obj, "asset", &o->asset)
        || x402_json_set_address(obj, "payTo", &o->pay_to)
        || x402_json_set(obj, "maxTimeoutSeconds",
                         json_integer((json_int_t) o->max_timeout_seconds)))
    {
        goto failed;
    }

    extra = json_object();
    if (x402_json_set(obj, "extra", extra)) {
        goto failed;
    }

    if (o->scheme == X402_SCHEME_BATCH) {
        /* the channel's terms first, then the token's (channel_api.md) */
        if (o->withdraw_delay > (uint64_t) INT64_MAX
            || x402_json_set_address(extra, "receiverAuthorizer",
                                     &o->receiver_authorizer)
            || x402_json_set(extra, "withdrawDelay",
                             json_integer((json_int_t) o->withdraw_delay))
            || (o->has_min_deposit
                && x402_json_set_u256(extra, "minDeposit", &o->min_deposit))
            || (o->extra_name != NULL
                && x402_json_set_str(extra, "name", o->extra_name))
            || (o->extra_version != NULL
                && x402_json_set_str(extra, "version", o->extra_version))
            || x402_json_set_str(extra, "assetTransferMethod", "permit2"))
        {
            goto failed;
        }

        return obj;
    }

    if (x402_json_set_str(extra, "assetTransferMethod", "permit2")
        || (o->extra_name != NULL
            && x402_json_set_str(extra, "name", o->extra_name))
        || (o->extra_version != NULL
            && x402_json_set_str(extra, "version", o->extra_version))
        || (o->scheme == X402_SCHEME_UPTO
            && x402_json_set_address(extra, "facilitatorAddress",
                                     &o->facilitator)))
    {
        goto failed;
    }

    return obj;

failed:

    json_decref(obj);
    return NULL;
}


static x402_err
x402_payment_required_json(json_t **out, const char *error,
    const x402_resource *resource, const x402_offer *accepts,
    size_t n_accepts)
{
    json_t  *root, *res, *arr;
    size_t   i;

    if (resource == NULL || resource->url == NULL || resource->url[0] == '\0'
        || accepts == NULL || n_accepts == 0)
    {
        return X402_ERR_ARG;
    }

    root = json_object();
    if (root == NULL) {
        return X402_ERR_NOMEM;
    }

    if (x402_json_set(root, "x402Version", json_integer(2))
        || (error != NULL && x402_json_set_str(root, "error", error)))
    {
        goto failed;
    }

    res = json_object();
    if (x402_json_set(root, "resource", res)
        || x402_json_set_str(res, "url", resource->url)
        || (resource->description != NULL
            && x402_json_set_str(res, "description", resource->description))
        || (resource->mime_type != NULL
            && x402_json_set_str(res, "mimeType", resource->mime_type)))
    {
        goto failed;
    }

    arr = json_array();
    if (x402_json_set(root, "accepts", arr)) {
        goto failed;
    }

    for (i = 0; i < n_accepts; i++) {
        if (json_array_append_new(arr, x402_offer_json(&accepts[i])) != 0) {
            goto failed;
        }
    }

    *out = root;

    return X402_OK;

failed:

    /* bad UTF-8, an unknown scheme or allocation failure */
    json_decref(root);
    return X402_ERR_ARG;
}


x402_err
x402_payment_required_encode(char *out, size_t *out_len, const char *error,
    const x402_resource *resource, const x402_offer *accepts,
    size_t n_accepts)
{
    json_t    *root;
    x402_err   rc;

    if (out == NULL || out_len == NULL || *out_len == 0) {
        return X402_ERR_ARG;
    }

    rc = x402_payment_required_json(&root, error, resource, accepts,
                                    n_accepts);
    if (rc != X402_OK) {
        return rc;
    }

    return x402_json_dump(out, out_len, root);
}


x402_err
x402_payment_required_header(char *out, size_t *out_len, const char *error,
    const x402_resource *resource, const x402_offer *accepts,
    size_t n_accepts)
{
    json_t    *root;
    char      *json;
    size_t     n;
    x402_err   rc;

    if (out == NULL || out_len == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_payment_required_json(&root, error, resource, accepts,
                                    n_accepts);
    if (rc != X402_OK) {
        return rc;
    }

    n = json_dumpb(root, NULL, 0, X402_JSON_FLAGS);
    if (n == 0) {
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    if (x402_base64_encoded_len(n) + 1 > *out_len) {
        json_decref(root);
        return X402_ERR_BUFFER;
    }

    json = malloc(n);
    if (json == NULL) {
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    if (json_dumpb(root, json, n, X402_JSON_FLAGS) != n) {
        rc = X402_ERR_NOMEM;

    } else {
        rc = x402_base64_encode(out, *out_len, (const uint8_t *) json, n);
    }

    free(json);
    json_decref(root);

    if (rc != X402_OK) {
        return rc;
    }

    *out_len = x402_base64_encoded_len(n);

    return X402_OK;
}
