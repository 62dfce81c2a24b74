
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PAYMENT_H_INCLUDED_
#define _NGX_HTTP_X402_PAYMENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_settle.h"


/* The second opinion on a locally verified payment and what follows:
 * NGX_AGAIN (parked), or NGX_ERROR (nothing started). */
ngx_int_t ngx_http_x402_payment_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx);

/* A settlement's result into ctx: PAYMENT-RESPONSE, and the reason of a
 * failed one (ctx->reason_text); NGX_ERROR when out of memory. */
ngx_int_t ngx_http_x402_payment_result(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settle_result_t *result);


#endif /* _NGX_HTTP_X402_PAYMENT_H_INCLUDED_ */
