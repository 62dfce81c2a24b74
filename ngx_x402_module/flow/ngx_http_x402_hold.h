
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_HOLD_H_INCLUDED_
#define _NGX_HTTP_X402_HOLD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_ctx.h"


/* x402_settle sync: the filters that hold a response for its settlement. */
ngx_int_t ngx_http_x402_hold_init(ngx_conf_t *cf);

/* The end of a request (LOG): a reservation no response used is released. */
void ngx_http_x402_hold_end(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_HOLD_H_INCLUDED_ */
