
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_CHANNEL_FLOW_H_INCLUDED_
#define _NGX_HTTP_X402_CHANNEL_FLOW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/*
 * x402_scheme batch-settlement: the request's payment header (a deposit or
 * a voucher) to its verdict.  NGX_AGAIN: parked; NGX_OK: the verdict is in
 * ctx (refused at once); NGX_ERROR: out of memory.
 */
ngx_int_t ngx_http_x402_channel_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *header);

/* The response's header is going out: charged (status below 400), or the
 * channel let go. */
void ngx_http_x402_channel_headers(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);

/* The request's end with no response: the channel let go. */
void ngx_http_x402_channel_end(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_CHANNEL_FLOW_H_INCLUDED_ */
