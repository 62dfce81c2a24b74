/*
 * The model named by an OpenAI-style request body.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


x402_err
x402_request_model(char *out, size_t cap, const char *body, size_t len)
{
    json_error_t  jerr;
    json_t       *root, *model;
    const char   *s;
    size_t        n, i;
    x402_err      rc;

    if (out == NULL || cap == 0 || (body == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    out[0] = '\0';

    if (len == 0) {
        return X402_ERR_JSON;
    }

    /* duplicate keys: the upstream must not read another model than we */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return X402_ERR_JSON;
    }

    if (!json_is_object(root)) {
        rc = X402_ERR_JSON;
        goto done;
    }

    model = json_object_get(root, "model");
    if (model == NULL) {
        rc = X402_ERR_MISSING;
        goto done;
    }

    if (!json_is_string(model)) {
        rc = X402_ERR_TYPE;
        goto done;
    }

    s = json_string_value(model);
    n = json_string_length(model);

    if (n >= cap) {
        rc = X402_ERR_SIZE;
        goto done;
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            rc = X402_ERR_SIZE;
            goto done;
        }
    }

    memcpy(out, s, n);
    out[n] = '\0';
    rc = X402_OK;

done:

    json_decref(root);

    return rc;
}
