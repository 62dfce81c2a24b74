/*
 * PaymentPayload v2 decoder (docs/protocol.md#payment-payload,
 * docs/protocol.md#numbers-and-addresses): JSON text or base64 header to
 * x402_payment.  Every failure names the dotted path of the offending
 * field.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_P2A  "payload.permit2Authorization"

#define X402_TRY(expr, path)                                                 \
    do {                                                                     \
        rc = (expr);                                                         \
        if (rc != X402_OK) {                                                 \
            *field = (path);                                                 \
            return rc;                                                       \
        }                                                                    \
    } while (0)


/*
 * A JSON number with an integral value: the reference (JavaScript) reads
 * 2 and 2.0 alike, so both are accepted.
 */
x402_err
x402_json_get_int(int64_t *out, json_t *obj, const char *key)
{
    double    d;
    json_t   *v;
    x402_err  rc;

    rc = x402_json_get(&v, obj, key, JSON_INTEGER, 1);

    if (rc == X402_OK) {
        *out = (int64_t) json_integer_value(v);
        return X402_OK;
    }

    v = json_object_get(obj, key);

    if (rc != X402_ERR_TYPE || v == NULL || !json_is_real(v)) {
        return rc;
    }

    d = json_real_value(v);

    /* within 2^53, where doubles hold integers exactly */
    if (d != d || d < -9007199254740992.0 || d > 9007199254740992.0
        || d != (double) (json_int_t) d)
    {
        return X402_ERR_TYPE;
    }

    *out = (int64_t) d;

    return X402_OK;
}


x402_err
x402_json_get_address(x402_address *out, json_t *obj, const char *key,
    int required, int *present)
{
    json_t    *v;
    x402_err   rc;

    rc = x402_json_get(&v, obj, key, JSON_STRING, required);
    if (rc != X402_OK) {
        return rc;
    }

    if (present != NULL) {
        *present = (v != NULL);
    }

    if (v == NULL) {
        return X402_OK;
    }

    return x402_address_parse(out, json_string_value(v),
                              json_string_length(v));
}


/* uint256 fields are strings: decimal or 0x hex, as the TS reference. */
x402_err
x402_json_get_u256(x402_u256 *out, json_t *obj, const char *key)
{
    json_t    *v;
    x402_err   rc;

    rc = x402_json_get(&v, obj, key, JSON_STRING, 1);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_u256_parse(out, json_string_value(v), json_string_length(v));

    return rc == X402_ERR_NUMBER ? X402_ERR_VALUE : rc;
}


size_t
x402_signature_hex(uint8_t *sig, size_t cap, const char *s, size_t len)
{
    size_t  n;

    if (len < 4 || s[0] != '0' || s[1] != 'x') {
        return 0;
    }

    /* longer than cap bytes: X402_ERR_BUFFER */
    n = cap;

    if (x402_hex_decode(sig, &n, s + 2, len - 2) != X402_OK) {
        return 0;
    }

    return n;
}


int
x402_signature_from_hex(x402_payment *out, const char *s, size_t len)
{
    uint8_t       raw[X402_ERC6492_MAX];
    size_t        n;
    x402_erc6492  w;

    out->signature_len = 0;
    out->has_deployment = 0;
    out->factory_data_len = 0;
    memset(out->factory.b, 0, sizeof(out->factory.b));

    n = x402_signature_hex(raw, sizeof(raw), s, len);

    if (n == 0 || x402_erc6492_unwrap(&w, raw, n) != X402_OK) {
        return 0;
    }

    if (!w.wrapped) {
        w.inner = raw;
        w.inner_len = n;
    }

    if (w.inner_len == 0 || w.inner_len > X402_SIGNATURE_MAX
        || w.data_len > X402_FACTORY_DATA_MAX)
    {
        return 0;
    }

    memcpy(out->signature, w.inner, w.inner_len);
    out->signature_len = w.inner_len;

    /* a factory of 0 deploys nothing (the reference's rule) */

    if (w.wrapped && !x402_zero_bytes(w.factory.b, sizeof(w.factory.b))) {
        out->has_deployment = 1;
        out->factory = w.factory;
        memcpy(out->factory_data, w.data, w.data_len);
        out->factory_data_len = w.data_len;
    }

    return 1;
}


static x402_err
x402_decode_payload(x402_payment *out, const char **field, json_t *root)
{
    json_t    *payload, *auth, *permitted, *witness, *sig;
    x402_err   rc;

    X402_TRY(x402_json_get(&payload, root, "payload", JSON_OBJECT, 1),
             "payload");

    X402_TRY(x402_json_get(&auth, payload, "permit2Authorization",
                           JSON_OBJECT, 1),
             X402_P2A);

    X402_TRY(x402_json_get_address(&out->from, auth, "from", 1, NULL),
             X402_P2A ".from");

    X402_TRY(x402_json_get(&permitted, auth, "permitted", JSON_OBJECT, 1),
             X402_P2A ".permitted");
    X402_TRY(x402_json_get_address(&out->token, permitted, "token", 1, NULL),
             X402_P2A ".permitted.token");
    X402_TRY(x402_json_get_u256(&out->amount, permitted, "amount"),
             X402_P2A ".permitted.amount");

    X402_TRY(x402_json_get_address(&out->spender, auth, "spender", 1, NULL),
             X402_P2A ".spender");
    X402_TRY(x402_json_get_u256(&out->nonce, auth, "nonce"),
             X402_P2A ".nonce");
    X402_TRY(x402_json_get_u256(&out->deadline, auth, "deadline"),
             X402_P2A ".deadline");

    X402_TRY(x402_json_get(&witness, auth, "witness", JSON_OBJECT, 1),
             X402_P2A ".witness");
    X402_TRY(x402_json_get_address(&out->to, witness, "to", 1, NULL),
             X402_P2A ".witness.to");

    /* the scheme is not known yet: upto's facilitator is optional here */
    X402_TRY(x402_json_get_address(&out->witness_facilitator, witness,
                                   "facilitator", 0,
                                   &out->has_witness_facilitator),
             X402_P2A ".witness.facilitator");
    X402_TRY(x402_json_get_u256(&out->valid_after, witness, "validAfter"),
             X402_P2A ".witness.validAfter");

    X402_TRY(x402_json_get(&sig, payload, "signature", JSON_STRING, 1),
             "payload.signature");
    /* a malformed signature string is the verifier's business, not ours */
    (void) x402_signature_from_hex(out, json_string_value(sig),
                                   json_string_length(sig));

    return X402_OK;
}


/*
 * Marks `accepted` foreign when obj has a non-null member outside known[]
 * (a NULL-terminated list): an offer never has it, so it cannot match.
 */
static void
x402_foreign_members(x402_payment *out, json_t *obj,
    const char *const *known)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    json_object_foreach(obj, key, v) {
        if (json_is_null(v)) {
            continue;
        }

        for (i = 0; known[i] != NULL; i++) {
            if (strcmp(key, known[i]) == 0) {
                break;
            }
        }

        if (known[i] == NULL) {
            out->accepted.foreign = 1;
            return;
        }
    }
}


/* An optional extra text (name, version), copied when it fits. */
static x402_err
x402_extra_text(x402_payment *out, json_t *extra, const char *key, int *has,
    char *text)
{
    json_t    *v;
    size_t     len;
    x402_err   rc;

    rc = x402_json_get(&v, extra, key, JSON_STRING, 0);
    if (rc != X402_OK || v == NULL) {
        return rc;
    }

    len = json_string_length(v);

    if (len > X402_EXTRA_TEXT_MAX || memchr(json_string_value(v), 0, len)) {
        out->accepted.foreign = 1;
        return X402_OK;
    }

    memcpy(text, json_string_value(v), len);
    text[len] = '\0';
    *has = 1;

    return X402_OK;
}


x402_err
x402_accepted_decode(x402_accepted *out, const char **field, json_t *root)
{
    json_t      *v;
    size_t       len;
    x402_err     rc;
    int64_t      t;

    memset(out, 0, sizeof(*out));

    X402_TRY(x402_json_get(&out->obj, root, "accepted", JSON_OBJECT, 1),
             "accepted");

    X402_TRY(x402_json_get(&v, out->obj, "scheme", JSON_STRING, 1),
             "accepted.scheme");
    out->scheme = x402_scheme_parse(json_string_value(v),
                                    json_string_length(v));

    X402_TRY(x402_json_get(&v, out->obj, "network", JSON_STRING, 1),
             "accepted.network");
    len = json_string_length(v);
    if (len > X402_NETWORK_MAX) {
        *field = "accepted.network";
        return X402_ERR_SIZE;
    }
    memcpy(out->network, json_string_value(v), len);
    out->network[len] = '\0';
    out->has_chain_id = x402_network_parse(&out->chain_id, out->network,
                                           len) == X402_OK;

    X402_TRY(x402_json_get_u256(&out->amount, out->obj, "amount"),
             "accepted.amount");
    X402_TRY(x402_json_get_address(&out->asset, out->obj, "asset", 1, NULL),
             "accepted.asset");
    X402_TRY(x402_json_get_address(&out->pay_to, out->obj, "payTo", 1,
                                   NULL),
             "accepted.payTo");

    X402_TRY(x402_json_get_int(&t, out->obj, "maxTimeoutSeconds"),
             "accepted.maxTimeoutSeconds");
    if (t <= 0 || t > (int64_t) UINT32_MAX) {
        *field = "accepted.maxTimeoutSeconds";
        return X402_ERR_VALUE;
    }
    out->max_timeout_seconds = (uint32_t) t;

    X402_TRY(x402_json_get(&out->extra, out->obj, "extra", JSON_OBJECT, 0),
             "accepted.extra");

    return X402_OK;
}


static x402_err
x402_decode_accepted(x402_payment *out, const char **field, json_t *root)
{
    static const char *const  acc_keys[] = {
        "scheme", "network", "amount", "asset", "payTo",
        "maxTimeoutSeconds", "extra", NULL
    };
    static const char *const  extra_keys[] = {
        "assetTransferMethod", "name", "version", "facilitatorAddress", NULL
    };

    json_t         *v, *extra;
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

    x402_foreign_members(out, acc.obj, acc_keys);

    extra = acc.extra;
    if (extra == NULL) {
        return X402_OK;
    }

    x402_foreign_members(out, extra, extra_keys);

    X402_TRY(x402_extra_text(out, extra, "name", &out->accepted.has_name,
                             out->accepted.name),
             "accepted.extra.name");
    X402_TRY(x402_extra_text(out, extra, "version",
                             &out->accepted.has_version,
                             out->accepted.version),
             "accepted.extra.version");

    X402_TRY(x402_json_get(&v, extra, "assetTransferMethod", JSON_STRING, 0),
             "accepted.extra.assetTransferMethod");
    out->accepted.permit2 = v != NULL
        && x402_str_eq("permit2", json_string_value(v),
                       json_string_length(v));

    X402_TRY(x402_json_get_address(&out->accepted.facilitator, extra,
                                   "facilitatorAddress", 0,
                                   &out->accepted.has_facilitator),
             "accepted.extra.facilitatorAddress");

    return X402_OK;
}



/*
 * extensions["payment-identifier"].info.id, as extractPaymentIdentifier
 * reads it: a string there is the id, valid when it is 16-128 characters
 * of [A-Za-z0-9_-].
 */
static void
x402_decode_payment_id(x402_payment *out, json_t *extensions)
{
    json_t      *id;
    const char  *s;
    size_t       i, len;

    /* *out is zeroed (X402_PAYMENT_ID_NONE); a non-object gives NULL */
    id = json_object_get(json_object_get(json_object_get(extensions,
                         "payment-identifier"), "info"), "id");

    if (!json_is_string(id)) {
        return;
    }

    s = json_string_value(id);
    len = json_string_length(id);

    out->payment_id_state = X402_PAYMENT_ID_INVALID;

    if (len < X402_PAYMENT_ID_MIN || len > X402_PAYMENT_ID_MAX) {
        return;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
        {
            return;
        }
    }

    memcpy(out->payment_id, s, len);
    out->payment_id[len] = '\0';
    out->payment_id_state = X402_PAYMENT_ID_VALID;
}

x402_err
x402_payload_open(json_t **root, const char **field, void *out, size_t size,
    const char *json, size_t len)
{
    int64_t     version;
    x402_err    rc;

    *root = NULL;
    *field = "";

    if (out == NULL || (json == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    memset(out, 0, size);

    if (len > X402_PAYLOAD_JSON_MAX) {
        return X402_ERR_SIZE;
    }

    /* duplicate keys would let two parsers see two different payments */
    rc = x402_json_object(root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    rc = x402_json_get_int(&version, *root, "x402Version");

    if (rc == X402_OK && version != 2) {
        rc = X402_ERR_VERSION;
    }

    if (rc != X402_OK) {
        *field = "x402Version";
        json_decref(*root);
        *root = NULL;
    }

    return rc;
}


x402_err
x402_payment_decode_json(x402_payment *out, const char **field,
    const char *json, size_t len)
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

    rc = x402_decode_payload(out, field, root);
    if (rc != X402_OK) {
        goto done;
    }

    rc = x402_decode_accepted(out, field, root);
    if (rc != X402_OK) {
        goto done;
    }

    /* optional objects: absent or null, else an object */
    rc = x402_json_get(&v, root, "resource", JSON_OBJECT, 0);
    if (rc != X402_OK) {
        *field = "resource";
        goto done;
    }

    rc = x402_json_get(&v, root, "extensions", JSON_OBJECT, 0);
    if (rc != X402_OK) {
        *field = "extensions";
        goto done;
    }

    x402_decode_payment_id(out, v);

done:

    json_decref(root);
    return rc;
}


/*
 * A PAYMENT-SIGNATURE value: its base64 (at most the encoding of
 * X402_PAYLOAD_JSON_MAX bytes, else X402_ERR_SIZE), then the JSON decoder
 * of its kind (a channel's payment, or a Permit2 one) on the bytes.
 */
static x402_err
x402_payload_header(void *out, size_t size, int channel, const char **field,
    const char *header, size_t len)
{
    uint8_t     *buf;
    size_t       n;
    const char  *dummy;
    x402_err     rc;

    if (field == NULL) {
        field = &dummy;
    }

    *field = "";

    if (out == NULL || (header == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    memset(out, 0, size);

    if (len > x402_base64_encoded_len(X402_PAYLOAD_JSON_MAX)) {
        return X402_ERR_SIZE;
    }

    n = x402_base64_decoded_max(len);

    buf = malloc(n + 1);
    if (buf == NULL) {
        return X402_ERR_NOMEM;
    }

    rc = x402_base64_decode(buf, &n, header, len);

    if (rc == X402_OK) {
        rc = channel
             ? x402_channel_payment_decode_json(out, field,
                                                (const char *) buf, n)
             : x402_payment_decode_json(out, field, (const char *) buf, n);
    }

    free(buf);

    return rc;
}


x402_err
x402_payment_decode_header(x402_payment *out, const char **field,
    const char *header, size_t len)
{
    return x402_payload_header(out, sizeof(*out), 0, field, header, len);
}


x402_err
x402_channel_payment_decode_header(x402_channel_payment *out,
    const char **field, const char *header, size_t len)
{
    return x402_payload_header(out, sizeof(*out), 1, field, header, len);
}
