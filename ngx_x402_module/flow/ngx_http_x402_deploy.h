
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_DEPLOY_H_INCLUDED_
#define _NGX_HTTP_X402_DEPLOY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_ctx.h"


/*
 * ERC-6492: the settler sends the payer's factory call (its gas limit
 * ctx->deploy_gas) and the request waits for it: mined (or reverted, or
 * refused by the node: the wallet may exist all the same) → ctx->deployed
 * and done, which checks the payment again; not sent, not mined in time,
 * or another deployment of the wallet under way → unavailable (503).
 */
void ngx_http_x402_deploy_wallet(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_step_pt done);


#endif /* _NGX_HTTP_X402_DEPLOY_H_INCLUDED_ */
