/*
 * jansson helpers shared by the JSON encoders.
 */

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


int
x402_json_set(json_t *obj, const char *key, json_t *value)
{
    return value == NULL || json_object_set_new(obj, key, value) != 0;
}


/* json_string() also returns NULL for invalid UTF-8: the caller's text. */
int
x402_json_set_str(json_t *obj, const char *key, const char *s)
{
    return x402_json_set(obj, key, json_string(s));
}


int
x402_json_set_address(json_t *obj, const char *key, const x402_address *a)
{
    char  buf[X402_ADDRESS_STR_LEN];

    x402_address_format(buf, a);

    return x402_json_set_str(obj, key, buf);
}


int
x402_json_set_u256(json_t *obj, const char *key, const x402_u256 *v)
{
    char  buf[X402_U256_DEC_MAX];

    x402_u256_format_dec(buf, v);

    return x402_json_set_str(obj, key, buf);
}


x402_err
x402_json_dump(char *out, size_t *out_len, json_t *root)
{
    size_t  n;

    if (out == NULL || out_len == NULL || *out_len == 0) {
        json_decref(root);
        return X402_ERR_ARG;
    }

    /* json_dumpb returns the full size even when it truncates */
    n = json_dumpb(root, out, *out_len - 1, X402_JSON_FLAGS);
    json_decref(root);

    if (n == 0) {
        return X402_ERR_NOMEM;
    }

    if (n >= *out_len) {
        return X402_ERR_BUFFER;
    }

    out[n] = '\0';
    *out_len = n;

    return X402_OK;
}


/* "0x" and lowercase hex of at most X402_SIGNATURE_MAX bytes. */
int
x402_json_set_hex(json_t *obj, const char *key, const uint8_t *p, size_t len)
{
    char  buf[2 + 2 * X402_SIGNATURE_MAX + 1];

    if (len > X402_SIGNATURE_MAX) {
        return 1;
    }

    buf[0] = '0';
    buf[1] = 'x';
    x402_hex_encode(buf + 2, p, len);

    return x402_json_set_str(obj, key, buf);
}


/*
 * Looks up key.  Absent or null: *val = NULL, which is fine for optional
 * fields; for required ones absent is MISSING and null is TYPE.  `type`
 * JSON_TRUE stands for either boolean.
 */
x402_err
x402_json_get(json_t **val, json_t *obj, const char *key, int type,
    int required)
{
    json_t  *v;

    v = json_object_get(obj, key);
    *val = NULL;

    if (v == NULL || json_is_null(v)) {
        if (!required) {
            return X402_OK;
        }
        return v == NULL ? X402_ERR_MISSING : X402_ERR_TYPE;
    }

    if (type == JSON_TRUE ? !json_is_boolean(v)
                          : (int) json_typeof(v) != type)
    {
        return X402_ERR_TYPE;
    }

    *val = v;

    return X402_OK;
}


x402_err
x402_json_load(json_t **root, const char *s, size_t len)
{
    json_error_t  jerr;

    *root = (len == 0) ? NULL
                       : json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);

    return *root != NULL ? X402_OK : X402_ERR_JSON;
}


x402_err
x402_json_object(json_t **root, const char *s, size_t len)
{
    if (x402_json_load(root, s, len) != X402_OK) {
        return X402_ERR_JSON;
    }

    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return X402_ERR_JSON;
    }

    return X402_OK;
}


x402_err
x402_openai_error_body(char *out, size_t *out_len, const char *json,
    size_t len, const char *message, const char *type, const char *code)
{
    json_t    *root, *err;
    x402_err   rc;

    if (out == NULL || out_len == NULL || message == NULL || type == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_json_object(&root, json, len);
    if (rc != X402_OK) {
        return rc;
    }

    err = json_pack("{s:s,s:s,s:o}", "message", message, "type", type,
                    "code", code ? json_string(code) : json_null());

    /* the error object first, where OpenAI clients look; the rest kept */
    if (err == NULL || json_object_set_new(root, "error", err) != 0) {
        json_decref(root);
        return X402_ERR_NOMEM;
    }

    return x402_json_dump(out, out_len, root);
}
