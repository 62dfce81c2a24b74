/*
 * Facilitator codec (docs/protocol.md#facilitator-api): the /verify and
 * /settle request body, and the VerifyResponse / SettleResponse replies.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/* A JSON object of at most X402_FACILITATOR_RESPONSE_MAX bytes. */
static x402_err
x402_fac_load(json_t **root, const char *json, size_t len)
{
    *root = NULL;

    if (json == NULL) {
        return X402_ERR_ARG;
    }

    if (len > X402_FACILITATOR_RESPONSE_MAX) {
        return X402_ERR_SIZE;
    }

    return x402_json_object(root, json, len);
}


/*
 * Copies a reason (valid UTF-8, as jansson checked) into out[cap]:
 * control characters become spaces; when too long it is cut before the
 * first byte of a character.
 */
static void
x402_fac_reason(char *out, size_t cap, json_t *s)
{
    const char  *p;
    size_t       n, i;

    if (cap == 0) {
        return;
    }

    if (s == NULL) {
        out[0] = '\0';
        return;
    }

    p = json_string_value(s);
    n = json_string_length(s);

    if (n > cap - 1) {
        n = cap - 1;
        /* p[n] is the first byte left out: back up to a lead byte */
        while (n > 0 && ((unsigned char) p[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    for (i = 0; i < n; i++) {
        out[i] = ((unsigned char) p[i] < 0x20 || p[i] == 0x7f) ? ' ' : p[i];
    }

    out[n] = '\0';
}


/* Type checks of optional fields that are not returned. */
static x402_err
x402_fac_check_optional(json_t *root, const char *const *strings,
    const char *const *objects)
{
    json_t    *v;
    x402_err   rc;

    for ( /* void */ ; *strings != NULL; strings++) {
        rc = x402_json_get(&v, root, *strings, JSON_STRING, 0);
        if (rc != X402_OK) {
            return rc;
        }
    }

    for ( /* void */ ; *objects != NULL; objects++) {
        rc = x402_json_get(&v, root, *objects, JSON_OBJECT, 0);
        if (rc != X402_OK) {
            return rc;
        }
    }

    return X402_OK;
}


x402_err
x402_facilitator_request(char *out, size_t *out_len,
    const char *payload_json, size_t payload_len, const x402_offer *offer)
{
    json_t        *payload, *v, *req, *root;
    json_error_t   jerr;
    x402_err       rc;

    if (out == NULL || out_len == NULL || *out_len == 0
        || payload_json == NULL || offer == NULL)
    {
        return X402_ERR_ARG;
    }

    if (payload_len > X402_PAYLOAD_JSON_MAX) {
        return X402_ERR_SIZE;
    }

    payload = json_loadb(payload_json, payload_len, JSON_REJECT_DUPLICATES,
                         &jerr);
    if (payload == NULL) {
        return X402_ERR_JSON;
    }

    if (!json_is_object(payload)) {
        json_decref(payload);
        return X402_ERR_JSON;
    }

    rc = x402_json_get(&v, payload, "x402Version", JSON_INTEGER, 1);
    if (rc != X402_OK) {
        json_decref(payload);
        return rc;
    }

    if (json_integer_value(v) != 2) {
        json_decref(payload);
        return X402_ERR_VERSION;
    }

    req = x402_offer_json(offer);
    if (req == NULL) {
        json_decref(payload);
        return X402_ERR_ARG;
    }

    root = json_object();
    if (root == NULL) {
        json_decref(payload);
        json_decref(req);
        return X402_ERR_NOMEM;
    }

    /* x402_json_set takes the reference of its value, also on failure */
    if (x402_json_set(root, "x402Version", json_integer(2))) {
        json_decref(payload);
        json_decref(req);
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    if (x402_json_set(root, "paymentPayload", payload)) {
        json_decref(req);
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    if (x402_json_set(root, "paymentRequirements", req)) {
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    return x402_json_dump(out, out_len, root);
}


x402_err
x402_verify_response_parse(int *valid, char *reason, size_t reason_cap,
    x402_address *payer, int *has_payer, const char *json, size_t len)
{
    static const char *const  strings[] = { "invalidMessage", NULL };
    static const char *const  objects[] = { "extensions", "extra", NULL };

    json_t    *root, *v;
    x402_err   rc;

    if (valid == NULL || (reason == NULL && reason_cap != 0)
        || payer == NULL || has_payer == NULL)
    {
        return X402_ERR_ARG;
    }

    rc = x402_fac_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_json_get(&v, root, "isValid", JSON_TRUE, 1);
    if (rc != X402_OK) {
        goto done;
    }

    *valid = json_is_true(v);

    rc = x402_fac_check_optional(root, strings, objects);
    if (rc != X402_OK) {
        goto done;
    }

    rc = x402_json_get(&v, root, "payer", JSON_STRING, 0);
    if (rc != X402_OK) {
        goto done;
    }

    *has_payer = 0;
    if (v != NULL) {
        if (x402_address_parse(payer, json_string_value(v),
                               json_string_length(v)) != X402_OK)
        {
            rc = X402_ERR_VALUE;
            goto done;
        }
        *has_payer = 1;
    }

    rc = x402_json_get(&v, root, "invalidReason", JSON_STRING, 0);
    if (rc != X402_OK) {
        goto done;
    }

    x402_fac_reason(reason, reason_cap, v);

done:

    json_decref(root);

    return rc;
}


x402_err
x402_settle_response_parse(int *success, char *reason, size_t reason_cap,
    char *tx, size_t tx_cap, const char *json, size_t len)
{
    static const char *const  strings[] = {
        "errorMessage", "payer", "network", "amount", NULL
    };
    static const char *const  objects[] = { "extensions", "extra", NULL };

    json_t          *root, *v;
    const char      *s;
    size_t           n, i;
    unsigned char    c;
    x402_err         rc;

    if (success == NULL || (reason == NULL && reason_cap != 0)
        || tx == NULL || tx_cap == 0)
    {
        return X402_ERR_ARG;
    }

    rc = x402_fac_load(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_json_get(&v, root, "success", JSON_TRUE, 1);
    if (rc != X402_OK) {
        goto done;
    }

    *success = json_is_true(v);

    rc = x402_fac_check_optional(root, strings, objects);
    if (rc != X402_OK) {
        goto done;
    }

    rc = x402_json_get(&v, root, "transaction", JSON_STRING, *success);
    if (rc != X402_OK) {
        goto done;
    }

    tx[0] = '\0';
    if (v != NULL) {
        s = json_string_value(v);
        n = json_string_length(v);

        /* printable ASCII: it may end up in a header or a log line */
        for (i = 0; i < n; i++) {
            c = (unsigned char) s[i];
            if (c < 0x21 || c > 0x7e) {
                rc = X402_ERR_VALUE;
                goto done;
            }
        }

        if (n >= tx_cap) {
            rc = X402_ERR_BUFFER;
            goto done;
        }

        memcpy(tx, s, n);
        tx[n] = '\0';
    }

    rc = x402_json_get(&v, root, "errorReason", JSON_STRING, 0);
    if (rc != X402_OK) {
        goto done;
    }

    x402_fac_reason(reason, reason_cap, v);

done:

    json_decref(root);

    return rc;
}
