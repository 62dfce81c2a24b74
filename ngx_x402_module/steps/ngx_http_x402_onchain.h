
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_ONCHAIN_H_INCLUDED_
#define _NGX_HTTP_X402_ONCHAIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* The on-chain checks: NGX_AGAIN (parked; a valid payment goes on to
 * next, one whose nonce the chain has spent already to used, one whose
 * wallet its allowed factory must deploy first (ERC-6492) to deploy, with
 * ctx->deploy_gas set), or NGX_ERROR (nothing sent). */
ngx_int_t ngx_http_x402_onchain_check(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next, ngx_http_x402_step_pt used,
    ngx_http_x402_step_pt deploy);


#endif /* _NGX_HTTP_X402_ONCHAIN_H_INCLUDED_ */
