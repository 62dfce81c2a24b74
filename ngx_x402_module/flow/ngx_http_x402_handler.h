
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_HANDLER_H_INCLUDED_
#define _NGX_HTTP_X402_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* PRECONTENT: the gate of an "x402 on" location. */
ngx_int_t ngx_http_x402_precontent_handler(ngx_http_request_t *r);

/* Acts on the request's verdict: NGX_DECLINED (paid: on to the content),
 * or the refusal sent (402, 412, 503). */
ngx_int_t ngx_http_x402_answer(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_HANDLER_H_INCLUDED_ */
