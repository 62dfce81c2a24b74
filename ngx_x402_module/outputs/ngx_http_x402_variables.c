
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_variables.h"


static ngx_int_t ngx_http_x402_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_x402_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_x402_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_x402_rpc_method_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_x402_variable_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len);
static ngx_int_t ngx_http_x402_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_x402_charged_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/*
 * A NUL-terminated field of the ctx: data is its offset times two, plus one
 * when it is shown only for a paid request.
 */
#define NGX_HTTP_X402_TEXT(field, paid_only)                                 \
    (offsetof(ngx_http_x402_ctx_t, field) * 2 + (paid_only))


static ngx_http_variable_t  ngx_http_x402_vars[] = {

    { ngx_string("x402_payer"), NULL, ngx_http_x402_text_variable,
      NGX_HTTP_X402_TEXT(payer, 1), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_amount"), NULL, ngx_http_x402_text_variable,
      NGX_HTTP_X402_TEXT(amount, 1), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_tx"), NULL, ngx_http_x402_text_variable,
      NGX_HTTP_X402_TEXT(tx, 0), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_model"), NULL, ngx_http_x402_model_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_result"), NULL, ngx_http_x402_result_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_rpc_method"), NULL, ngx_http_x402_rpc_method_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_session"), NULL, ngx_http_x402_session_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("x402_charged"), NULL, ngx_http_x402_charged_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_x402_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_x402_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *text;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ((data & 1) && !ctx->paid)) {
        v->not_found = 1;
        return NGX_OK;
    }

    text = (u_char *) ctx + data / 2;

    if (*text == '\0') {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_x402_variable_set(v, text, ngx_strlen(text));

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char           *s;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    /* one vocabulary, snake_case: paid, or why not */

    if (ctx == NULL || !ctx->verdict) {
        s = "";

    } else if (ctx->hold == NGX_HTTP_X402_HOLD_PASS && ctx->paid
               && ctx->payment_response.len == 0)
    {
        /* x402_settle sync: the content failed, nothing was charged */
        s = "not_charged";

    } else if (ctx->paid) {
        s = "paid";

    } else if (ctx->status) {
        s = ctx->status == NGX_HTTP_SERVICE_UNAVAILABLE ? "unavailable"
                                                        : "error";

    } else if (ctx->reason_text) {
        s = ctx->reason_text;       /* the settlement's own reason */

    } else if (ctx->reason == X402_R_PAYMENT_REQUIRED) {
        s = "payment_required";

    } else if (ctx->reason == X402_R_NO_MATCH) {
        /* the wire's text is the reference's sentence */
        s = "no_matching_requirements";

    } else {
        s = x402_reason_string(ctx->reason);

        if (s == NULL) {
            s = "";
        }
    }

    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) s;

    return NGX_OK;
}


/* The "model" of the request body (x402_read_model). */

static ngx_int_t
ngx_http_x402_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->model.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_x402_variable_set(v, ctx->model.data, ctx->model.len);

    return NGX_OK;
}


/*
 * The JSON-RPC method (x402_read_body method): while the price of a call
 * is looked up, that call's; else the batch's methods, comma-separated.
 */

static ngx_int_t
ngx_http_x402_rpc_method_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    size_t                len;
    ngx_uint_t            i;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->rpc_n == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (ctx->rpc_pricing) {
        v->data = (u_char *) ctx->rpc_calls[ctx->rpc_pricing - 1].method;
        v->len = ngx_strlen(v->data);
        return NGX_OK;
    }

    len = 0;

    for (i = 0; i < ctx->rpc_n; i++) {
        len += ngx_strlen(ctx->rpc_calls[i].method) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < ctx->rpc_n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, ctx->rpc_calls[i].method,
                       ngx_strlen(ctx->rpc_calls[i].method));
    }

    v->len = p - v->data;

    return NGX_OK;
}


/*
 * The request's upto session, by the first 8 characters of its id: enough
 * to follow it through the logs; the whole id would let a log reader spend
 * the session.
 */

static ngx_int_t
ngx_http_x402_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL
        || (ctx->session != NGX_HTTP_X402_SESSION_OPENING
            && ctx->session != NGX_HTTP_X402_SESSION_RESUMED)
        || !ctx->paid)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_x402_variable_set(v, ctx->session_id, 8);

    return NGX_OK;
}


/* What an upto response was charged (token units), once it is known. */

static ngx_int_t
ngx_http_x402_charged_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || !ctx->charged) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, X402_U256_DEC_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    x402_u256_format_dec((char *) p, &ctx->charge);

    ngx_http_x402_variable_set(v, p, ngx_strlen(p));

    return NGX_OK;
}


/* A value found, not cached: it changes as the payment goes on. */

static void
ngx_http_x402_variable_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = data;
}
