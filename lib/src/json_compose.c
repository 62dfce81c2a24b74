/*
 * The PaymentRequired JSON without jansson on the hot path: the accepts
 * array is encoded once (per offer), and only the error and resource texts
 * are written per answer, escaped exactly as jansson's compact output
 * escapes them, so the bytes equal x402_payment_required_encode()'s.
 */

#include <stdio.h>
#include <string.h>

#include "x402.h"
#include "x402_internal.h"

#include <jansson.h>


/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
x402_utf8_len(const unsigned char *s, size_t n)
{
    size_t    len, i;
    unsigned  c, min;

    c = s[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        c &= 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (len > n) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (s[i] & 0x3f);
    }

    /* overlong forms, surrogates and code points past U+10FFFF */
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    return len;
}


/* "text" as jansson writes it; 0 on invalid UTF-8. */
static int
x402_json_string_put(x402_buf *o, const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";

    char                  esc[6];
    size_t                n, len, run;
    const unsigned char  *p;

    p = (const unsigned char *) s;
    n = strlen(s);

    x402_put(o, "\"", 1);

    while (n) {
        run = 0;

        /* the longest run that needs no escape */
        while (run < n && p[run] >= 0x20 && p[run] != '"' && p[run] != '\\') {
            len = x402_utf8_len(p + run, n - run);

            if (len == 0) {
                return 0;
            }

            run += len;
        }

        x402_put(o, (const char *) p, run);
        p += run;
        n -= run;

        if (n == 0) {
            break;
        }

        esc[0] = '\\';

        switch (*p) {
        case '"':  esc[1] = '"';  len = 2; break;
        case '\\': esc[1] = '\\'; len = 2; break;
        case '\b': esc[1] = 'b';  len = 2; break;
        case '\f': esc[1] = 'f';  len = 2; break;
        case '\n': esc[1] = 'n';  len = 2; break;
        case '\r': esc[1] = 'r';  len = 2; break;
        case '\t': esc[1] = 't';  len = 2; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0x0f];
            len = 6;
        }

        x402_put(o, esc, len);
        p++;
        n--;
    }

    x402_put(o, "\"", 1);

    return 1;
}


x402_err
x402_accepts_encode(char *out, size_t *out_len, const x402_offer *accepts,
    size_t n_accepts)
{
    size_t   i;
    json_t  *arr;

    if (accepts == NULL || n_accepts == 0) {
        return X402_ERR_ARG;
    }

    arr = json_array();
    if (arr == NULL) {
        return X402_ERR_NOMEM;
    }

    for (i = 0; i < n_accepts; i++) {
        if (json_array_append_new(arr, x402_offer_json(&accepts[i])) != 0) {
            json_decref(arr);
            return X402_ERR_ARG;
        }
    }

    return x402_json_dump(out, out_len, arr);
}


x402_err
x402_payment_required_compose(char *out, size_t *out_len, const char *error,
    const x402_resource *resource, const char *accepts_json,
    size_t accepts_len)
{
    return x402_payment_required_compose_ext(out, out_len, error, resource,
                                             accepts_json, accepts_len,
                                             NULL, 0);
}


x402_err
x402_payment_required_compose_ext(char *out, size_t *out_len,
    const char *error, const x402_resource *resource,
    const char *accepts_json, size_t accepts_len,
    const char *extensions_json, size_t extensions_len)
{
    x402_buf  o;

    if (out == NULL || out_len == NULL || *out_len == 0 || resource == NULL
        || resource->url == NULL || accepts_json == NULL)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&o, out, *out_len);

    x402_put(&o, "{\"x402Version\":2", 16);

    if (error != NULL) {
        x402_put(&o, ",\"error\":", 9);
        if (!x402_json_string_put(&o, error)) {
            return X402_ERR_ARG;
        }
    }

    x402_put(&o, ",\"resource\":{\"url\":", 19);
    if (!x402_json_string_put(&o, resource->url)) {
        return X402_ERR_ARG;
    }

    if (resource->description != NULL) {
        x402_put(&o, ",\"description\":", 15);
        if (!x402_json_string_put(&o, resource->description)) {
            return X402_ERR_ARG;
        }
    }

    if (resource->mime_type != NULL) {
        x402_put(&o, ",\"mimeType\":", 12);
        if (!x402_json_string_put(&o, resource->mime_type)) {
            return X402_ERR_ARG;
        }
    }

    x402_put(&o, "},\"accepts\":", 12);
    x402_put(&o, accepts_json, accepts_len);

    if (extensions_json != NULL) {
        x402_put(&o, ",\"extensions\":", 14);
        x402_put(&o, extensions_json, extensions_len);
    }

    x402_put(&o, "}", 1);

    return x402_buf_finish(&o, out_len);
}


x402_err
x402_payment_identifier_declare(char *out, size_t *out_len, int required)
{
    x402_buf  o;

    if (out == NULL || out_len == NULL || *out_len == 0) {
        return X402_ERR_ARG;
    }

    x402_buf_init(&o, out, *out_len);

    /* declarePaymentIdentifierExtension(required), key for key */
    x402_puts(&o, "{\"payment-identifier\":{\"info\":{\"required\":");
    x402_puts(&o, required ? "true" : "false");
    x402_puts(&o, "},\"schema\":{\"$schema\":"
              "\"https://json-schema.org/draft/2020-12/schema\","
              "\"type\":\"object\",\"properties\":{\"required\":"
              "{\"type\":\"boolean\"},\"id\":{\"type\":\"string\","
              "\"minLength\":16,\"maxLength\":128,"
              "\"pattern\":\"^[a-zA-Z0-9_-]+$\"}},"
              "\"required\":[\"required\"]}}}");

    return x402_buf_finish(&o, out_len);
}


x402_err
x402_rpc_error_body(char *out, size_t *out_len, const char *id, int code,
    const char *message, const char *data_json, size_t data_len)
{
    x402_buf  o;
    char      num[24];

    if (out == NULL || out_len == NULL || *out_len == 0 || id == NULL
        || message == NULL)
    {
        return X402_ERR_ARG;
    }

    x402_buf_init(&o, out, *out_len);

    (void) snprintf(num, sizeof(num), "%d", code);

    x402_puts(&o, "{\"jsonrpc\":\"2.0\",\"id\":");
    x402_puts(&o, id);
    x402_puts(&o, ",\"error\":{\"code\":");
    x402_puts(&o, num);
    x402_puts(&o, ",\"message\":");

    if (!x402_json_string_put(&o, message)) {
        return X402_ERR_ARG;
    }

    if (data_json != NULL) {
        x402_puts(&o, ",\"data\":");
        x402_put(&o, data_json, data_len);
    }

    x402_puts(&o, "}}");

    return x402_buf_finish(&o, out_len);
}
