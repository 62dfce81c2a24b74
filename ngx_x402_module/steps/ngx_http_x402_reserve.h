
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RESERVE_H_INCLUDED_
#define _NGX_HTTP_X402_RESERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* Reserves the payment under ctx->key in ctx->mode (x402:unsettled with
 * it when served before its settlement), then next; a payment reserved
 * before is refused with the first holder's receipt. */
void ngx_http_x402_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next);

/* The receipt stored for ctx->key (a payment the chain says is used) into
 * ctx->receipt when there is one, then next. */
void ngx_http_x402_receipt_fetch(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_step_pt next);

/* Deletes a reservation this request took and will not use. */
void ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf, char *key);


#endif /* _NGX_HTTP_X402_RESERVE_H_INCLUDED_ */
