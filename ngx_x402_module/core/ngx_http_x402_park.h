
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PARK_H_INCLUDED_
#define _NGX_HTTP_X402_PARK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_ctx.h"


/* an asynchronous step in flight; heap memory, it may outlive the request */
struct ngx_http_x402_op_s {
    ngx_http_request_t          *request;   /* NULL once detached */
    ngx_http_x402_ctx_t         *ctx;       /* valid while request is set */
};


/* A new op of this request (ctx->op is the caller's to set). */
ngx_http_x402_op_t *ngx_http_x402_op_create(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);

/* Frees a completed op; returns its request and *ctxp, or NULL when the
 * request went away meanwhile. */
ngx_http_request_t *ngx_http_x402_op_finish(void *data,
    ngx_http_x402_ctx_t **ctxp);

/* Parks the request on op with the x402_timeout deadline: NGX_AGAIN. */
ngx_int_t ngx_http_x402_park(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_op_t *op);

/* The verdict (finish), or a 503 with this error (fail); both resume the
 * request's phases. */
void ngx_http_x402_finish(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_reason reason);
void ngx_http_x402_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *error);


/* Resumes the request's phases with no verdict: its handler goes on. */
void ngx_http_x402_wake(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_PARK_H_INCLUDED_ */
