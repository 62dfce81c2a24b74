
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


#define NGX_HTTP_X402_JSON_SIZE  4096


static ngx_int_t ngx_http_x402_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *header, ngx_str_t *body);
static ngx_int_t ngx_http_x402_resource_url(ngx_http_request_t *r,
    ngx_str_t *url);
static u_char *ngx_http_x402_copy_escaped(u_char *dst, u_char *src,
    size_t len);


/*
 * Answers 402 (or 412) from the ACCESS phase with the PAYMENT-REQUIRED
 * header and the same PaymentRequired JSON as the body, then finalizes the
 * request; the caller returns what this returns (NGX_DONE) to the phase
 * engine.
 */

ngx_int_t
ngx_http_x402_send_payment_required(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_uint_t status,
    const char *error, ngx_str_t *receipt)
{
    u_char         *p;
    x402_err        err;
    ngx_str_t       url, json, header, body;
    x402_resource   resource;

    if (ngx_http_x402_resource_url(r, &url) != NGX_OK) {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    resource.url = (const char *) url.data;
    resource.description = xlcf->description.len
                           ? (const char *) xlcf->description.data : NULL;
    resource.mime_type = NULL;

    err = ngx_http_x402_encode_payment_required(r->pool, &json, &header,
                                                error, &resource, offer);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot encode the payment requirements "
                      "for \"%V\": %s", &url, x402_strerror(err));
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    if (receipt == NULL) {
        /* the JSON has one spare byte for the newline */
        json.data[json.len++] = LF;
        body = json;

    } else {
        /* a replay: the body also carries the first payer's receipt */

        body.data = ngx_pnalloc(r->pool, json.len + receipt->len
                                         + sizeof(",\"receipt\":}\n"));
        if (body.data == NULL) {
            return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           NULL, NULL);
        }

        p = ngx_cpymem(body.data, json.data, json.len - 1);
        p = ngx_cpymem(p, ",\"receipt\":", sizeof(",\"receipt\":") - 1);
        p = ngx_cpymem(p, receipt->data, receipt->len);
        *p++ = '}';
        *p++ = LF;

        body.len = p - body.data;
    }

    return ngx_http_x402_send_json(r, status, &header, &body);
}


/* A dependency failed (503): a JSON error, no payment terms. */

ngx_int_t
ngx_http_x402_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   body;

    len = ngx_strlen(error);

    body.data = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + len);
    if (body.data == NULL) {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    /* the texts are the module's own: nothing to escape */

    p = ngx_cpymem(body.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_cpymem(p, error, len);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    body.len = p - body.data;

    return ngx_http_x402_send_json(r, status, NULL, &body);
}


/*
 * Answers from the ACCESS phase with a JSON body (nginx.md section 5.3),
 * with PAYMENT-REQUIRED when `header` is set, and finalizes the request;
 * the caller returns what this returns (NGX_DONE) to the phase engine.
 * Without a body, finalizes with the status (nginx's own error page).
 */

static ngx_int_t
ngx_http_x402_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *header, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     cache;
    ngx_chain_t   out;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK || body == NULL) {
        ngx_http_finalize_request(r, rc != NGX_OK ? rc : (ngx_int_t) status);
        return NGX_DONE;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    if (header != NULL
        && ngx_http_x402_push_header(r, "PAYMENT-REQUIRED", header) != NGX_OK)
    {
        goto failed;
    }

    ngx_str_set(&cache, "no-store");

    if (ngx_http_x402_push_header(r, "Cache-Control", &cache) != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_output_filter(r, &out);

    ngx_http_finalize_request(r, rc);
    return NGX_DONE;

failed:

    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    return NGX_DONE;
}


ngx_int_t
ngx_http_x402_push_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


/*
 * Encodes the PaymentRequired JSON (with one spare byte after it, for the
 * caller's newline) and its base64 header value, both NUL-terminated,
 * from the pool.
 */

x402_err
ngx_http_x402_encode_payment_required(ngx_pool_t *pool, ngx_str_t *json,
    ngx_str_t *header, const char *error, x402_resource *resource,
    x402_offer *offer)
{
    char        *p;
    size_t       size, len;
    x402_err     err;
    ngx_uint_t   i;

    size = NGX_HTTP_X402_JSON_SIZE + 6 * ngx_strlen(resource->url);

    if (resource->description != NULL) {
        size += 6 * ngx_strlen(resource->description);
    }

    for (i = 0; /* void */; i++) {

        p = ngx_pnalloc(pool, size + 1);
        if (p == NULL) {
            return X402_ERR_NOMEM;
        }

        len = size;

        err = x402_payment_required_encode(p, &len, error, resource, offer, 1);

        if (err == X402_OK) {
            break;
        }

        if (err != X402_ERR_BUFFER || i == 3) {
            return err;
        }

        size *= 2;
    }

    json->data = (u_char *) p;
    json->len = len;

    size = x402_base64_encoded_len(len) + 1;

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return X402_ERR_NOMEM;
    }

    err = x402_base64_encode(p, size, json->data, json->len);
    if (err != X402_OK) {
        return err;
    }

    header->data = (u_char *) p;
    header->len = size - 1;

    return X402_OK;
}


/*
 * The request's absolute URL: "<scheme>://<host>[:<port>]<unparsed uri>",
 * the host from the Host header (validated by nginx), with its port if it
 * has one; bytes that cannot appear in a URL are percent-encoded.
 */

static ngx_int_t
ngx_http_x402_resource_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char                    *p, *last, *port, addr[NGX_SOCKADDR_STRLEN];
    size_t                     len;
    ngx_str_t                  scheme, host, hport;
    ngx_connection_t          *c;
    ngx_http_core_srv_conf_t  *cscf;

    c = r->connection;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_str_set(&scheme, "https");

    } else
#endif
    {
        ngx_str_set(&scheme, "http");
    }

    ngx_str_null(&hport);

    if (r->headers_in.server.len) {
        host = r->headers_in.server;

        if (r->headers_in.host != NULL) {
            p = r->headers_in.host->value.data;
            last = p + r->headers_in.host->value.len;

            if (p < last && *p == '[') {
                p = ngx_strlchr(p, last, ']');
                if (p == NULL) {
                    p = last;
                }
            }

            port = ngx_strlchr(p, last, ':');

            if (port != NULL) {
                hport.data = port;
                hport.len = last - port;
            }
        }

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

        if (cscf->server_name.len) {
            host = cscf->server_name;

        } else {
            if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            host.len = ngx_sock_ntop(c->local_sockaddr, c->local_socklen,
                                     addr, NGX_SOCKADDR_STRLEN, 1);
            host.data = addr;
        }
    }

    len = scheme.len + sizeof("://") - 1
          + 3 * (host.len + hport.len + r->unparsed_uri.len) + 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    url->data = p;

    p = ngx_cpymem(p, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", sizeof("://") - 1);
    p = ngx_http_x402_copy_escaped(p, host.data, host.len);
    p = ngx_http_x402_copy_escaped(p, hport.data, hport.len);
    p = ngx_http_x402_copy_escaped(p, r->unparsed_uri.data,
                                   r->unparsed_uri.len);
    *p = '\0';

    url->len = p - url->data;

    return NGX_OK;
}


static u_char *
ngx_http_x402_copy_escaped(u_char *dst, u_char *src, size_t len)
{
    u_char         ch;
    static u_char  hex[] = "0123456789ABCDEF";

    while (len--) {
        ch = *src++;

        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            *dst++ = '%';
            *dst++ = hex[ch >> 4];
            *dst++ = hex[ch & 0xf];
            continue;
        }

        *dst++ = ch;
    }

    return dst;
}
