/*
 * JSON-RPC 2.0 requests as a gateway prices them (policy services charge
 * per method): the calls of a body, one object or a batch, and whether a
 * reply reports an error.  The error answer is composed in json_compose.c.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


static x402_err
x402_rpc_call_read(x402_jsonrpc_call *call, json_t *obj)
{
    json_t      *method, *id;
    const char  *s;
    size_t       n, i;
    char        *text;

    if (!json_is_object(obj)) {
        return X402_ERR_TYPE;
    }

    method = json_object_get(obj, "method");

    if (method == NULL) {
        return X402_ERR_MISSING;
    }

    if (!json_is_string(method)) {
        return X402_ERR_TYPE;
    }

    s = json_string_value(method);
    n = json_string_length(method);

    if (n == 0 || n > X402_RPC_METHOD_MAX) {
        return X402_ERR_SIZE;
    }

    /* a method is looked up in a map and named in logs: printable only */
    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x21 || s[i] == 0x7f || s[i] == '"'
            || s[i] == '\\')
        {
            return X402_ERR_VALUE;
        }
    }

    memcpy(call->method, s, n);
    call->method[n] = '\0';

    /* the id, echoed as it was sent: a number, a string or null */
    id = json_object_get(obj, "id");
    strcpy(call->id, "null");

    if (id != NULL && (json_is_integer(id) || json_is_string(id))) {
        text = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);

        if (text != NULL && strlen(text) <= X402_RPC_ID_TEXT_MAX) {
            strcpy(call->id, text);
        }

        free(text);
    }

    return X402_OK;
}


x402_err
x402_rpc_request_calls(x402_jsonrpc_call *calls, size_t cap, size_t *n,
    int *is_batch, const char *body, size_t len)
{
    json_t    *root, *v;
    size_t     i;
    x402_err   rc;

    if (calls == NULL || n == NULL || is_batch == NULL
        || (body == NULL && len != 0))
    {
        return X402_ERR_ARG;
    }

    *n = 0;
    *is_batch = 0;

    if (x402_json_load(&root, body, len) != X402_OK) {
        return X402_ERR_JSON;
    }

    if (json_is_object(root)) {
        if (cap == 0) {
            rc = X402_ERR_SIZE;
            goto done;
        }

        rc = x402_rpc_call_read(&calls[0], root);
        if (rc == X402_OK) {
            *n = 1;
        }

        goto done;
    }

    if (!json_is_array(root) || json_array_size(root) == 0) {
        rc = X402_ERR_JSON;
        goto done;
    }

    if (json_array_size(root) > cap) {
        rc = X402_ERR_SIZE;
        goto done;
    }

    *is_batch = 1;

    json_array_foreach(root, i, v) {
        rc = x402_rpc_call_read(&calls[i], v);
        if (rc != X402_OK) {
            goto done;
        }
    }

    *n = json_array_size(root);
    rc = X402_OK;

done:

    json_decref(root);

    return rc;
}




int
x402_rpc_reply_failed(const char *body, size_t len)
{
    json_t        *root, *v;
    json_error_t   e;
    size_t         i;
    int            failed;

    root = json_loadb(body, len, 0, &e);
    if (root == NULL) {
        return 0;
    }

    failed = 0;

    if (json_is_object(root)) {
        failed = (json_object_get(root, "error") != NULL
                  && json_object_get(root, "result") == NULL);

    } else if (json_is_array(root) && json_array_size(root) > 0) {
        failed = 1;

        json_array_foreach(root, i, v) {
            if (!json_is_object(v) || json_object_get(v, "error") == NULL
                || json_object_get(v, "result") != NULL)
            {
                failed = 0;
                break;
            }
        }
    }

    json_decref(root);

    return failed;
}
