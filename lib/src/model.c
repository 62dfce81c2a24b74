/*
 * The model named by an OpenAI-style request body.  Duplicate keys are
 * refused: the upstream must not read another model or request than we do.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


x402_err
x402_request_model(char *out, size_t cap, const char *body, size_t len)
{
    json_t       *root, *model;
    const char   *s;
    size_t        n, i;
    x402_err      rc;

    if (out == NULL || cap == 0 || (body == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    out[0] = '\0';

    rc = x402_json_object(&root, body, len);
    if (rc != X402_OK) {
        return rc;
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


/* The member a stream needs for its usage, inserted as text. */
static const char  x402_include_usage[] =
    ",\"stream_options\":{\"include_usage\":true}";


static uint64_t
x402_add_sat(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}


/* The bytes of v if it is a string, or of the strings of an array. */
static void
x402_prompt_text(uint64_t *bytes, int *found, json_t *v)
{
    json_t  *e;
    size_t   i;

    if (json_is_string(v)) {
        *bytes = x402_add_sat(*bytes, json_string_length(v));
        *found = 1;
        return;
    }

    json_array_foreach(v, i, e) {           /* nothing if not an array */
        if (json_is_string(e)) {
            *bytes = x402_add_sat(*bytes, json_string_length(e));
            *found = 1;
        }
    }
}


/* ceil(B / 4), B the bytes of the prompt's text (len without any). */
static uint64_t
x402_prompt_estimate(json_t *root, size_t len)
{
    json_t    *m, *content, *part, *text;
    size_t     i, j;
    uint64_t   bytes;
    int        found;

    bytes = 0;
    found = 0;

    json_array_foreach(json_object_get(root, "messages"), i, m) {
        content = json_object_get(m, "content");

        if (json_is_string(content)) {
            x402_prompt_text(&bytes, &found, content);
            continue;
        }

        json_array_foreach(content, j, part) {
            text = json_object_get(part, "text");
            if (json_is_string(text)) {
                x402_prompt_text(&bytes, &found, text);
            }
        }
    }

    x402_prompt_text(&bytes, &found, json_object_get(root, "prompt"));
    x402_prompt_text(&bytes, &found, json_object_get(root, "input"));

    if (!found) {
        bytes = len;
    }

    return bytes / 4 + (bytes % 4 != 0);
}


x402_err
x402_request_usage_prepare(char *out, size_t *out_len, int *stream,
    uint64_t *prompt_tokens, const char *body, size_t len)
{
    json_t       *root, *options;
    size_t        cap, need, end, ins;
    char          none[1];
    x402_err      rc;

    if (stream != NULL) {
        *stream = 0;
    }

    if (prompt_tokens != NULL) {
        *prompt_tokens = 0;
    }

    if (out_len == NULL || stream == NULL || prompt_tokens == NULL
        || (body == NULL && len != 0) || (out == NULL && *out_len != 0))
    {
        return X402_ERR_ARG;
    }

    cap = *out_len;
    *out_len = 0;

    rc = x402_json_object(&root, body, len);
    if (rc != X402_OK) {
        return rc;
    }

    *stream = json_is_true(json_object_get(root, "stream"));
    *prompt_tokens = x402_prompt_estimate(root, len);

    rc = X402_OK;
    options = json_object_get(root, "stream_options");

    if (!*stream) {
        goto done;
    }

    if (options == NULL) {
        /* as text: the client's bytes (numbers, spacing, order) kept */
        end = len;
        while (end > 0 && (body[end - 1] == ' ' || body[end - 1] == '\t'
                           || body[end - 1] == '\n' || body[end - 1] == '\r'))
        {
            end--;
        }

        if (end == 0 || body[end - 1] != '}') {
            rc = X402_ERR_JSON;             /* not after jansson's yes */
            goto done;
        }

        /* the object has "stream": never empty, so the comma is right */
        end--;
        ins = sizeof(x402_include_usage) - 1;
        need = len + ins;
        if (need > cap) {
            *out_len = need;
            rc = X402_ERR_BUFFER;
            goto done;
        }

        memcpy(out, body, end);
        memcpy(out + end, x402_include_usage, ins);
        memcpy(out + end + ins, body + end, len - end);

    } else if (!json_is_object(options)) {
        rc = X402_ERR_TYPE;
        goto done;

    } else if (json_is_true(json_object_get(options, "include_usage"))) {
        goto done;                          /* already asked */

    } else {
        if (json_object_set_new(options, "include_usage", json_true())
            != 0)
        {
            rc = X402_ERR_NOMEM;
            goto done;
        }

        need = json_dumpb(root, cap ? out : none, cap,
                          JSON_COMPACT | JSON_PRESERVE_ORDER
                          | JSON_REAL_PRECISION(17));
        if (need == 0) {
            rc = X402_ERR_NOMEM;
            goto done;
        }

        if (need > cap) {
            *out_len = need;
            rc = X402_ERR_BUFFER;
            goto done;
        }
    }

    *out_len = need;
    if (need < cap) {
        out[need] = '\0';
    }

done:

    json_decref(root);

    return rc;
}
