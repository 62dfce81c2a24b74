
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PAYLOAD_H_INCLUDED_
#define _NGX_HTTP_X402_PAYLOAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_ctx.h"


/* {"x402Version":2,"paymentPayload":…,"paymentRequirements":…} of the
 * request's payload for `offer` (an upto settlement's: the charge) */
ngx_int_t ngx_http_x402_facilitator_body(ngx_pool_t *pool,
    ngx_http_x402_ctx_t *ctx, x402_offer *offer, ngx_str_t *body);


#endif /* _NGX_HTTP_X402_PAYLOAD_H_INCLUDED_ */
