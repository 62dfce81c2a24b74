
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RESUME_H_INCLUDED_
#define _NGX_HTTP_X402_RESUME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/*
 * x402_session on: the request's session, by X-Upto-Session or by its
 * payment.  NGX_AGAIN: parked, the handler runs again with ctx->session
 * set; NGX_DECLINED: ctx->session is NEW (go on) or REFUSED (answer).
 */
ngx_int_t ngx_http_x402_session_find(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_RESUME_H_INCLUDED_ */
