
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_X402_RESPONSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* An upto session that cannot serve: 402, a fresh challenge, and the body
 * {"error":"Session expired or exhausted"}. */
ngx_int_t ngx_http_x402_send_session_expired(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer);

/* No price for this request (per model): 400 with the reason, or the page
 * that says so for a browser. */
ngx_int_t ngx_http_x402_send_unpriced(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, const char *error);

/* The 402 with the offer (JSON, or HTML for a browser), and the receipt of
 * a replayed payment when there is one; accepts: the offer as encoded for
 * this answer (a channel's corrective 402), NULL: the location's. */
ngx_int_t ngx_http_x402_send_payment_required(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_str_t *accepts,
    ngx_uint_t status, const char *error, ngx_str_t *receipt);
ngx_int_t ngx_http_x402_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);
ngx_int_t ngx_http_x402_send_content(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_x402_push_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value);

/* The one value of a request header: NGX_OK, NGX_DECLINED (absent) or
 * NGX_ERROR (sent more than once). */
ngx_int_t ngx_http_x402_request_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);

/* A CORS preflight (NGX_OK: answered headers, pass), NGX_DECLINED when the
 * OPTIONS is not one. */
ngx_int_t ngx_http_x402_preflight(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf);
ngx_int_t ngx_http_x402_cors_init(ngx_conf_t *cf);

x402_err ngx_http_x402_encode_payment_required(ngx_pool_t *pool,
    ngx_str_t *json, ngx_str_t *header, const char *error,
    x402_resource *resource, x402_offer *offer, ngx_str_t *accepts,
    ngx_str_t *extensions);

/* A payment-identifier seen before, answered: its stored status (and the
 * PAYMENT-RESPONSE the caller pushed), the content not served twice. */
ngx_int_t ngx_http_x402_send_processed(ngx_http_request_t *r,
    ngx_uint_t status, const char *id);
x402_err ngx_http_x402_encode_accepts(ngx_pool_t *pool, ngx_str_t *accepts,
    x402_offer *offer);


#endif /* _NGX_HTTP_X402_RESPONSE_H_INCLUDED_ */
