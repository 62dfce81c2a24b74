
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PAYMENT_ID_H_INCLUDED_
#define _NGX_HTTP_X402_PAYMENT_ID_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* what Redis holds for a payment-identifier (ctx->pid_state) */
#define NGX_HTTP_X402_PID_NEW        1   /* claimed by this request */
#define NGX_HTTP_X402_PID_IN_FLIGHT  2   /* the same payment, not answered */
#define NGX_HTTP_X402_PID_DONE       3   /* answered: status, response */
#define NGX_HTTP_X402_PID_CONFLICT   4   /* the id of another payment */
#define NGX_HTTP_X402_PID_ERROR      5   /* Redis did not answer */


/* Looks up the payment's id and claims it when it is new, then next with
 * ctx->pid_state (and for DONE the stored status and PAYMENT-RESPONSE):
 * NGX_AGAIN (parked), or NGX_ERROR (nothing sent). */
ngx_int_t ngx_http_x402_pid_claim(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_step_pt next);

/* The claimed id answered: its status and PAYMENT-RESPONSE kept for
 * x402_receipt_ttl (served), or the claim dropped (refused: the same
 * payment may be sent again). */
void ngx_http_x402_pid_record(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t served);


#endif /* _NGX_HTTP_X402_PAYMENT_ID_H_INCLUDED_ */
