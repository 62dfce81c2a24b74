
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_SESSION_H_INCLUDED_
#define _NGX_HTTP_X402_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* A new session id (uuid4 text, X402_SESSION_ID_LEN + 1 bytes). */
ngx_int_t ngx_http_x402_session_new_id(u_char *id);

/* A new token for the request in its session (ctx->session_token). */
ngx_int_t ngx_http_x402_session_token(ngx_http_x402_ctx_t *ctx);

/*
 * Looks the request's session up, by ctx->session_id or (by_payment) by
 * the payment decoded into ctx (ctx->key, ctx->pid_fp), and takes a place
 * in it; next finds ctx->session RESUMED (ctx->payment's amount and
 * deadline, ctx->key, ctx->payer, ctx->session_hard are the session's),
 * REFUSED (ctx->session_why) or NEW, or ctx->status when Redis failed.
 * NGX_AGAIN: parked; NGX_ERROR: not sent.
 */
ngx_int_t ngx_http_x402_session_resume(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t by_payment,
    ngx_http_x402_step_pt next);

/* Adds ctx->charge to the request's session, in the background, once. */
void ngx_http_x402_session_charge(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_SESSION_H_INCLUDED_ */
