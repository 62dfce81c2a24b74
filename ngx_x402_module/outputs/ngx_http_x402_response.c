
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_headers.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_page.h"


#define NGX_HTTP_X402_JSON_SIZE  4096

#define NGX_HTTP_X402_CORS_EXPOSE                                            \
    "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-Upto-Session"
#define NGX_HTTP_X402_CORS_HEADERS                                           \
    "PAYMENT-SIGNATURE, X-Upto-Session, Access-Control-Expose-Headers, "     \
    "Content-Type"
#define NGX_HTTP_X402_CORS_METHODS  "GET, POST, HEAD, OPTIONS"
#define NGX_HTTP_X402_CORS_MAX_AGE  "600"


static ngx_int_t ngx_http_x402_challenge(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_str_t *accepts,
    const char *error, ngx_str_t *url, ngx_str_t *json, ngx_str_t *header);
static ngx_int_t ngx_http_x402_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *header, ngx_str_t *body);
static ngx_int_t ngx_http_x402_send_typed(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *header, ngx_str_t *body);
static ngx_uint_t ngx_http_x402_replacing(ngx_http_request_t *r);
static ngx_uint_t ngx_http_x402_has_error_page(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_x402_to_error_page(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *header);
static ngx_int_t ngx_http_x402_answer_headers(ngx_http_request_t *r,
    ngx_str_t *header);
static ngx_int_t ngx_http_x402_error_shape(ngx_http_request_t *r,
    ngx_uint_t status, const char *message, ngx_str_t *body);
static x402_err ngx_http_x402_jsonrpc_body(ngx_http_x402_ctx_t *ctx,
    ngx_uint_t status, const char *message, u_char *json, size_t json_len,
    u_char *out, size_t *out_len);
static x402_err ngx_http_x402_openai_body(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t status, const char *message,
    u_char *json, size_t json_len, u_char *out, size_t *out_len);
static ngx_int_t ngx_http_x402_output(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *header, ngx_str_t *body);
static ngx_int_t ngx_http_x402_cors_headers(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_uint_t preflight);
static ngx_int_t ngx_http_x402_cors_header_filter(ngx_http_request_t *r);
static ngx_uint_t ngx_http_x402_wants_html(ngx_http_request_t *r);
static ngx_int_t ngx_http_x402_resource_url(ngx_http_request_t *r,
    ngx_str_t *url);
static u_char *ngx_http_x402_copy_escaped(u_char *dst, u_char *src,
    size_t len);


static ngx_http_output_header_filter_pt  ngx_http_x402_next_header_filter;


/*
 * Answers 402 (or 412) from the PRECONTENT phase with the PAYMENT-REQUIRED
 * header and the same PaymentRequired JSON as the body, then finalizes the
 * request; the caller returns what this returns (NGX_DONE) to the phase
 * engine.
 */

ngx_int_t
ngx_http_x402_send_payment_required(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_str_t *accepts,
    ngx_uint_t status, const char *error, ngx_str_t *receipt)
{
    u_char     *p;
    ngx_str_t   url, json, header, body, type;

    if (ngx_http_x402_challenge(r, xlcf, offer, accepts, error, &url, &json,
                                &header)
        != NGX_OK)
    {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    if (ngx_http_x402_has_error_page(r, status)) {
        return ngx_http_x402_to_error_page(r, status, &header);
    }

    if (receipt == NULL && ngx_http_x402_wants_html(r)) {
        /* a browser: the same terms, readable */

        if (ngx_http_x402_page(r, xlcf, offer, &url, error, &body)
            != NGX_OK)
        {
            return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           NULL, NULL);
        }

        ngx_str_set(&type, "text/html; charset=utf-8");

        return ngx_http_x402_send_typed(r, status, &type, &header, &body);
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

    if (ngx_http_x402_error_shape(r, status, error, &body) != NGX_OK) {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    return ngx_http_x402_send_json(r, status, &header, &body);
}


/*
 * An upto session that cannot serve the request (unknown, exhausted,
 * settling, bound elsewhere, too close to its deadline): 402 with a fresh
 * challenge in PAYMENT-REQUIRED and og-x402's body.
 */

ngx_int_t
ngx_http_x402_send_session_expired(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer)
{
    ngx_str_t  url, json, header, body;

    if (ngx_http_x402_challenge(r, xlcf, offer, NULL, "session_expired", &url,
                                &json, &header)
        != NGX_OK)
    {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    ngx_str_set(&body, "{\"error\":\"Session expired or exhausted\"}\n");

    return ngx_http_x402_send_json(r, NGX_HTTP_X402_PAYMENT_REQUIRED, &header,
                                   &body);
}


/*
 * The terms of a 402 for this request: its URL, the PaymentRequired JSON
 * and its PAYMENT-REQUIRED header (a static price's accepts array was
 * encoded at load time).
 */

static ngx_int_t
ngx_http_x402_challenge(ngx_http_request_t *r, ngx_http_x402_loc_conf_t *xlcf,
    x402_offer *offer, ngx_str_t *accepts, const char *error, ngx_str_t *url,
    ngx_str_t *json, ngx_str_t *header)
{
    x402_err       err;
    x402_resource  resource;

    if (ngx_http_x402_resource_url(r, url) != NGX_OK) {
        return NGX_ERROR;
    }

    resource.url = (const char *) url->data;
    resource.description = xlcf->description.len
                           ? (const char *) xlcf->description.data : NULL;
    resource.mime_type = NULL;

    err = ngx_http_x402_encode_payment_required(r->pool, json, header, error,
                                                &resource, offer,
                                                accepts ? accepts
                                                : &xlcf->accepts_json,
                                                &xlcf->extensions_json);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot encode the payment requirements "
                      "for \"%V\": %s", url, x402_strerror(err));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A request a location priced per request (a map on $x402_model) has no
 * price for: 400 with the reason, or for a browser the page that says so.
 */

ngx_int_t
ngx_http_x402_send_unpriced(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, const char *error)
{
    ngx_str_t  url, body, type;

    if (!ngx_http_x402_wants_html(r)) {
        return ngx_http_x402_send_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    if (ngx_http_x402_resource_url(r, &url) != NGX_OK
        || ngx_http_x402_page(r, xlcf, NULL, &url, NULL, &body) != NGX_OK)
    {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    ngx_str_set(&type, "text/html; charset=utf-8");

    return ngx_http_x402_send_typed(r, NGX_HTTP_X402_PAYMENT_REQUIRED, &type,
                                    NULL, &body);
}


ngx_int_t
ngx_http_x402_send_processed(ngx_http_request_t *r, ngx_uint_t status,
    const char *id)
{
    ngx_str_t  body;

    body.data = ngx_pnalloc(r->pool, sizeof("{\"paymentIdentifier\":\"\","
                                            "\"processed\":true}\n")
                                     + X402_PAYMENT_ID_MAX);
    if (body.data == NULL) {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    /* the id's characters need no escaping ([A-Za-z0-9_-]) */
    body.len = ngx_sprintf(body.data, "{\"paymentIdentifier\":\"%s\","
                           "\"processed\":true}\n", id)
               - body.data;

    return ngx_http_x402_send_json(r, status, NULL, &body);
}


/* A dependency failed (503): a JSON error, no payment terms. */

ngx_int_t
ngx_http_x402_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   body, retry;

    /* the gateway's fault, for a while: the same payment is welcome again */

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_str_set(&retry, NGX_HTTP_X402_RETRY_AFTER_S);

        if (ngx_http_x402_push_header(r, "Retry-After", &retry) != NGX_OK) {
            return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           NULL, NULL);
        }
    }

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

    if (ngx_http_x402_error_shape(r, status, error, &body) != NGX_OK) {
        return ngx_http_x402_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL, NULL);
    }

    return ngx_http_x402_send_json(r, status, NULL, &body);
}


/*
 * A refusal in the shape its clients read: a JSON-RPC error object on a
 * JSON-RPC location, OpenAI's error object on an OpenAI-compatible one
 * (x402_read_body model), the x402 answer kept in both; x402 clients read
 * PAYMENT-REQUIRED either way.
 */

static ngx_int_t
ngx_http_x402_error_shape(ngx_http_request_t *r, ngx_uint_t status,
    const char *message, ngx_str_t *body)
{
    size_t                     len, dlen;
    u_char                    *out;
    x402_err                   err;
    ngx_http_x402_ctx_t       *ctx;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->read_body != NGX_HTTP_X402_BODY_METHOD
        && xlcf->read_body != NGX_HTTP_X402_BODY_MODEL)
    {
        return NGX_OK;
    }

    ctx = ngx_http_x402_get_ctx(r);

    dlen = body->len;

    if (dlen && body->data[dlen - 1] == LF) {
        dlen--;
    }

    /* every text may be escaped six times over */
    len = dlen + 6 * (ngx_strlen(message) + (ctx ? ctx->model.len : 0))
          + 256 + X402_RPC_ID_TEXT_MAX;

    out = ngx_pnalloc(r->pool, len + 1);
    if (out == NULL) {
        return NGX_ERROR;
    }

    if (xlcf->read_body == NGX_HTTP_X402_BODY_METHOD) {
        err = ngx_http_x402_jsonrpc_body(ctx, status, message, body->data,
                                         dlen, out, &len);

    } else {
        err = ngx_http_x402_openai_body(r, ctx, status, message, body->data,
                                        dlen, out, &len);
    }

    if (err != X402_OK) {
        return NGX_ERROR;
    }

    out[len++] = LF;
    body->data = out;
    body->len = len;

    return NGX_OK;
}


/*
 * OpenAI's {"error":{"message","type","code"}} with the x402 fields beside
 * it; an unknown model is named.
 */

static x402_err
ngx_http_x402_openai_body(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t status, const char *message, u_char *json, size_t json_len,
    u_char *out, size_t *out_len)
{
    u_char                    *p;
    const char                *type, *code;
    ngx_http_x402_loc_conf_t  *xlcf;

    /* a code is one snake_case word: the module's reasons mostly are */
    code = ngx_strchr(message, ' ') == NULL ? message : NULL;

    switch (status) {

    case NGX_HTTP_X402_PAYMENT_REQUIRED:
    case NGX_HTTP_PRECONDITION_FAILED:
        type = "payment_required";
        if (code == NULL) {
            code = "payment_required";
        }
        break;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_CONFLICT:
        type = "invalid_request_error";

        if (ctx != NULL && ctx->model.len) {
            code = "model_not_found";
            xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

            p = ngx_pnalloc(r->pool,
                            ctx->model.len + xlcf->models.len
                            + sizeof("unknown model '' (priced: )"));
            if (p == NULL) {
                return X402_ERR_NOMEM;
            }

            /* escaped as JSON when it is written; x402_models too */
            if (xlcf->models.len) {
                ngx_sprintf(p, "unknown model '%V' (priced: %V)%Z",
                            &ctx->model, &xlcf->models);

            } else {
                ngx_sprintf(p, "unknown model '%V'%Z", &ctx->model);
            }

            message = (const char *) p;

        } else if (code == NULL) {
            code = "no_price";
        }

        break;

    default:
        type = "server_error";
        code = "unavailable";
    }

    return x402_openai_error_body((char *) out, out_len, (const char *) json,
                                  json_len, message, type, code);
}


/*
 * A JSON-RPC error object with the x402 answer as its "data": JSON-RPC
 * clients see a normal error.  The id is the call's (null for a batch, or
 * a body that was no call).
 */

static x402_err
ngx_http_x402_jsonrpc_body(ngx_http_x402_ctx_t *ctx, ngx_uint_t status,
    const char *message, u_char *json, size_t json_len, u_char *out,
    size_t *out_len)
{
    int          code;
    const char  *id;

    id = (ctx != NULL && ctx->rpc_n == 1 && !ctx->rpc_batch)
         ? ctx->rpc_calls[0].id : "null";

    switch (status) {
    case NGX_HTTP_X402_PAYMENT_REQUIRED:
    case NGX_HTTP_PRECONDITION_FAILED:
        code = -32002;
        break;
    case NGX_HTTP_BAD_REQUEST:
        code = (ctx != NULL && ctx->rpc_pricing) ? -32601 : -32600;
        break;
    case NGX_HTTP_CONFLICT:
        code = -32009;
        break;
    default:
        code = -32003;
    }

    return x402_rpc_error_body((char *) out, out_len, id, code, message,
                               (const char *) json, json_len);
}


/*
 * Answers from the PRECONTENT phase with a JSON body
 * (docs/internals.md#answering-with-a-body),
 * with PAYMENT-REQUIRED when `header` is set, and finalizes the request;
 * the caller returns what this returns (NGX_DONE) to the phase engine.
 * Without a body, finalizes with the status (nginx's own error page).
 * A refusal replacing a held response is only sent: its rc is returned.
 */

static ngx_int_t
ngx_http_x402_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *header, ngx_str_t *body)
{
    ngx_int_t  rc;
    ngx_str_t  type;

    if (body == NULL) {
        if (ngx_http_x402_replacing(r)) {
            return NGX_ERROR;
        }

        rc = ngx_http_discard_request_body(r);
        ngx_http_finalize_request(r, rc != NGX_OK ? rc : (ngx_int_t) status);
        return NGX_DONE;
    }

    ngx_str_set(&type, "application/json");

    return ngx_http_x402_send_typed(r, status, &type, header, body);
}


static ngx_int_t
ngx_http_x402_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *header, ngx_str_t *body)
{
    if (ngx_http_x402_replacing(r)) {
        /* inside the filters: the content's runner finalizes the request */
        return ngx_http_x402_output(r, status, type, header, body);
    }

    ngx_http_finalize_request(r, ngx_http_x402_output(r, status, type,
                                                      header, body));
    return NGX_DONE;
}


/*
 * The operator's own page for this status (error_page 402 ...): the terms
 * go in its PAYMENT-REQUIRED header, the page is nginx's to serve.  Not
 * for a refusal replacing a held response: that one is already answering.
 */

static ngx_uint_t
ngx_http_x402_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *page;
    ngx_http_x402_ctx_t       *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ctx = ngx_http_x402_get_ctx(r);

    /* once per request: with recursive_error_pages r->error_page stays
     * unset, and a gated error page would answer its own refusal again */
    if (clcf->error_pages == NULL || r->error_page
        || (ctx != NULL && (ctx->replacing || ctx->error_paged)))
    {
        return 0;
    }

    page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (page[i].status == (ngx_int_t) status) {
            if (ctx != NULL) {
                ctx->error_paged = 1;
            }

            return 1;
        }
    }

    return 0;
}


/* Returns the status for nginx to answer with the error page. */

static ngx_int_t
ngx_http_x402_to_error_page(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *header)
{
    ngx_int_t  rc;

    rc = ngx_http_x402_answer_headers(r, header);

    return rc == NGX_OK ? (ngx_int_t) status : rc;
}


/*
 * What every answer of the module carries: the request body discarded,
 * PAYMENT-REQUIRED (when header is set), Cache-Control: no-store, CORS.
 */

static ngx_int_t
ngx_http_x402_answer_headers(ngx_http_request_t *r, ngx_str_t *header)
{
    ngx_int_t                  rc;
    ngx_str_t                  cache;
    ngx_http_x402_loc_conf_t  *xlcf;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&cache, "no-store");
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if ((header != NULL
         && ngx_http_x402_push_header(r, "PAYMENT-REQUIRED", header)
            != NGX_OK)
        || ngx_http_x402_push_header(r, "Cache-Control", &cache) != NGX_OK
        || ngx_http_x402_cors_headers(r, xlcf, 0) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* Is this answer replacing a held response (flow/hold.c)? */

static ngx_uint_t
ngx_http_x402_replacing(ngx_http_request_t *r)
{
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    return ctx != NULL && ctx->replacing;
}


/*
 * The answer of a content handler of the module (x402_status,
 * x402_receipts): returns what the content handler returns, or what
 * ngx_http_finalize_request() gets when the answer comes later.
 */

ngx_int_t
ngx_http_x402_send_content(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    return ngx_http_x402_output(r, status, type, NULL, body);
}


/*
 * Sends status, headers (PAYMENT-REQUIRED when `header` is set,
 * Cache-Control: no-store, CORS) and the body; returns the result for
 * ngx_http_finalize_request().
 */

static ngx_int_t
ngx_http_x402_output(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *header, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_x402_answer_headers(r, header);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = body->len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * OPTIONS in a gated location.  Only a real CORS preflight (Origin and
 * Access-Control-Request-Method, no body) goes ungated: with x402_cors it
 * is answered 204 here (NGX_DONE), without it it goes on to the backend
 * (NGX_OK), whose CORS answers it.  Any other OPTIONS is gated like every
 * method (NGX_DECLINED): it could reach the backend's work unpaid.
 */

ngx_int_t
ngx_http_x402_preflight(ngx_http_request_t *r, ngx_http_x402_loc_conf_t *xlcf)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    if (ngx_http_x402_request_header(r, "Access-Control-Request-Method",
                                     &value)
           != NGX_OK
        || ngx_http_x402_request_header(r, "Origin", &value) != NGX_OK
        || r->headers_in.content_length_n > 0
        || r->headers_in.chunked)
    {
        return NGX_DECLINED;
    }

    if (xlcf->cors == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_x402_cors_headers(r, xlcf, 1);

    if (rc == NGX_DECLINED) {
        /* an origin that x402_cors does not allow: no CORS, no work */
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_x402_stat_request(r, NGX_HTTP_X402_STAT_PREFLIGHT);

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_http_finalize_request(r, ngx_http_send_header(r));

    return NGX_DONE;
}


/*
 * x402_cors: Access-Control-Allow-Origin (with Vary: Origin when the value
 * comes from variables) and, for answers, Access-Control-Expose-Headers;
 * for a preflight, the allowed request headers and methods instead.
 * NGX_DECLINED: no CORS here (off, or the value is empty).
 */

static ngx_int_t
ngx_http_x402_cors_headers(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_uint_t preflight)
{
    ngx_str_t  origin, v, vary;

    if (xlcf->cors == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, xlcf->cors, &origin) != NGX_OK) {
        return NGX_ERROR;
    }

    if (origin.len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_x402_push_header(r, "Access-Control-Allow-Origin", &origin)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (xlcf->cors->lengths != NULL) {
        ngx_str_set(&v, "Origin");

        if (ngx_http_x402_push_header(r, "Vary", &v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (!preflight) {
        ngx_str_set(&v, NGX_HTTP_X402_CORS_EXPOSE);

        return ngx_http_x402_push_header(r, "Access-Control-Expose-Headers",
                                         &v);
    }

    /*
     * what the browser asks for (Authorization, an SDK's x-stainless-*):
     * a fixed list would fail its fetch; anything but field names is not
     * echoed
     */

    if (ngx_http_x402_request_header(r, "Access-Control-Request-Headers", &v)
        == NGX_OK
        && x402_field_list_valid((const char *) v.data, v.len))
    {
        ngx_str_set(&vary, "Access-Control-Request-Headers");

        if (ngx_http_x402_push_header(r, "Vary", &vary) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_set(&v, NGX_HTTP_X402_CORS_HEADERS);
    }

    if (ngx_http_x402_push_header(r, "Access-Control-Allow-Headers", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, NGX_HTTP_X402_CORS_METHODS);

    if (ngx_http_x402_push_header(r, "Access-Control-Allow-Methods", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, NGX_HTTP_X402_CORS_MAX_AGE);

    return ngx_http_x402_push_header(r, "Access-Control-Max-Age", &v);
}


ngx_int_t
ngx_http_x402_cors_init(ngx_conf_t *cf)
{
    ngx_http_x402_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_x402_cors_header_filter;

    return NGX_OK;
}


/*
 * A paid response (from the backend) gets the CORS headers too, unless
 * the backend set its own Access-Control-Allow-Origin.
 */

static ngx_int_t
ngx_http_x402_cors_header_filter(ngx_http_request_t *r)
{
    ngx_http_x402_ctx_t          *ctx;
    ngx_http_x402_loc_conf_t     *xlcf;
    ngx_http_x402_header_walk_t   walk;

    if (r != r->main) {
        return ngx_http_x402_next_header_filter(r);
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->cors == NULL) {
        return ngx_http_x402_next_header_filter(r);
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || !ctx->paid) {
        return ngx_http_x402_next_header_filter(r);
    }

    ngx_memzero(&walk, sizeof(walk));

    if (ngx_http_x402_header_next(&r->headers_out.headers, &walk,
                                  "Access-Control-Allow-Origin",
                                  sizeof("Access-Control-Allow-Origin") - 1)
        != NULL)
    {
        return ngx_http_x402_next_header_filter(r);
    }

    if (ngx_http_x402_cors_headers(r, xlcf, 0) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_x402_next_header_filter(r);
}


/*
 * Finds a request header (case-insensitive).  NGX_OK: exactly one,
 * NGX_DECLINED: none, NGX_ERROR: more than one (value is the last).
 */

ngx_int_t
ngx_http_x402_request_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    size_t                        len;
    ngx_uint_t                    n;
    ngx_table_elt_t              *h;
    ngx_http_x402_header_walk_t   walk;

    n = 0;
    len = ngx_strlen(name);
    ngx_memzero(&walk, sizeof(walk));

    while ((h = ngx_http_x402_header_next(&r->headers_in.headers, &walk,
                                          name, len))
           != NULL)
    {
        *value = h->value;
        n++;
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    return (n == 1) ? NGX_OK : NGX_ERROR;
}


/* A browser: Accept has text/html, and it did not try to pay. */

static ngx_uint_t
ngx_http_x402_wants_html(ngx_http_request_t *r)
{
    ngx_str_t  accept, sig;

    if (ngx_http_x402_request_header(r, "PAYMENT-SIGNATURE", &sig)
        != NGX_DECLINED)
    {
        return 0;
    }

    if (ngx_http_x402_request_header(r, "Accept", &accept) == NGX_DECLINED) {
        return 0;
    }

    return ngx_strlcasestrn(accept.data, accept.data + accept.len,
                            (u_char *) "text/html",
                            sizeof("text/html") - 1 - 1)
           != NULL;
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


/* The accepts array of one offer, compact JSON from the pool. */

x402_err
ngx_http_x402_encode_accepts(ngx_pool_t *pool, ngx_str_t *accepts,
    x402_offer *offer)
{
    size_t    len;
    x402_err  err;

    len = NGX_HTTP_X402_JSON_SIZE;

    accepts->data = ngx_pnalloc(pool, len);
    if (accepts->data == NULL) {
        return X402_ERR_NOMEM;
    }

    err = x402_accepts_encode((char *) accepts->data, &len, offer, 1);
    if (err != X402_OK) {
        return err;
    }

    accepts->len = len;

    return X402_OK;
}


/*
 * Encodes the PaymentRequired JSON (with one spare byte after it, for the
 * caller's newline) and its base64 header value, both NUL-terminated,
 * from the pool.
 */

x402_err
ngx_http_x402_encode_payment_required(ngx_pool_t *pool, ngx_str_t *json,
    ngx_str_t *header, const char *error, x402_resource *resource,
    x402_offer *offer, ngx_str_t *accepts, ngx_str_t *extensions)
{
    char        *p;
    size_t       size, len;
    x402_err     err;
    ngx_str_t    acc;
    ngx_uint_t   i;

    if (accepts == NULL || accepts->len == 0) {
        err = ngx_http_x402_encode_accepts(pool, &acc, offer);
        if (err != X402_OK) {
            return err;
        }

        accepts = &acc;
    }

    size = NGX_HTTP_X402_JSON_SIZE + accepts->len + extensions->len
           + 6 * ngx_strlen(resource->url);

    if (resource->description != NULL) {
        size += 6 * ngx_strlen(resource->description);
    }

    for (i = 0; /* void */; i++) {

        p = ngx_pnalloc(pool, size + 1);
        if (p == NULL) {
            return X402_ERR_NOMEM;
        }

        len = size;

        err = x402_payment_required_compose_ext(p, &len, error, resource,
                                                (const char *) accepts->data,
                                                accepts->len,
                                                extensions->len
                                                ? (const char *)
                                                  extensions->data
                                                : NULL,
                                                extensions->len);

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
