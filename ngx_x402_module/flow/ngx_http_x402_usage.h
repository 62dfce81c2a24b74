
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_USAGE_H_INCLUDED_
#define _NGX_HTTP_X402_USAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* upto billing: the body and header filters that watch the usage */
ngx_int_t ngx_http_x402_usage_init(ngx_conf_t *cf);

/* The end of an upto request (LOG): its usage priced and settled. */
void ngx_http_x402_usage_end(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx);

/* Reads the request body for its model (x402_read_model) and for what
 * upto billing needs. */
ngx_int_t ngx_http_x402_read_model(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);

/* Arms the cut of an upto response at deadline - x402_settle_margin. */
void ngx_http_x402_usage_cutoff(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_USAGE_H_INCLUDED_ */
