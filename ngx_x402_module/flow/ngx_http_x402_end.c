
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The end of a request (LOG phase, which runs also after the client left):
 * what its response decided about its payment.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_phase.h"
#include "ngx_http_x402_payment_id.h"
#include "ngx_http_x402_hold.h"
#include "ngx_http_x402_usage.h"
#include "ngx_http_x402_channel_flow.h"
#include "ngx_http_x402_end.h"


static ngx_int_t ngx_http_x402_end(ngx_http_request_t *r);


ngx_int_t
ngx_http_x402_end_init(ngx_conf_t *cf)
{
    return ngx_http_x402_phase_add(cf, NGX_HTTP_LOG_PHASE, ngx_http_x402_end);
}


/*
 * A held response never answered releases its reservation; an upto
 * response's usage is settled; a channel's request that answered nothing
 * lets the channel go; a payment-identifier still claimed had no
 * answer, and is let go (a retry is processed again).
 */

static ngx_int_t
ngx_http_x402_end(ngx_http_request_t *r)
{
    ngx_http_x402_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_http_x402_hold_end(r, ctx);
    ngx_http_x402_usage_end(r, ctx);
    ngx_http_x402_channel_end(r, ctx);

    if (ctx->pid_owned) {
        /* recorded as a header goes out (hold.c): none did, it goes */
        ngx_http_x402_pid_record(r, ctx, 0);
    }

    return NGX_OK;
}
