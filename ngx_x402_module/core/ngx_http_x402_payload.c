
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The request body an x402 facilitator's /verify and /settle take: the
 * client's payload as it was sent, and the requirements it pays.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_payload.h"


/* room for the requirements besides the payload */
#define NGX_HTTP_X402_REQUIREMENTS_MAX  8192


/*
 * {"x402Version":2,"paymentPayload":…,"paymentRequirements":…} for the
 * facilitator, with `offer` (for an upto settlement: the charge).
 */

ngx_int_t
ngx_http_x402_facilitator_body(ngx_pool_t *pool, ngx_http_x402_ctx_t *ctx,
    x402_offer *offer, ngx_str_t *body)
{
    size_t  len;

    len = ctx->payload_json.len + NGX_HTTP_X402_REQUIREMENTS_MAX;

    body->data = ngx_pnalloc(pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    if (x402_facilitator_request((char *) body->data, &len,
                                 (const char *) ctx->payload_json.data,
                                 ctx->payload_json.len, offer)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    body->len = len;

    return NGX_OK;
}
