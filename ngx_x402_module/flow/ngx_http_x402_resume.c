
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * A request on an upto session (x402_session on) is served from the
 * session, with no chain call and no signature recovery: found by its
 * X-Upto-Session id (what og-x402's client sends), or by the very payment
 * that opened it sent again (what a stock x402 client does).  A payment the
 * session store does not know goes the way of any payment, and opens a
 * session once reserved (payment.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_session.h"
#include "ngx_http_x402_usage.h"
#include "ngx_http_x402_resume.h"


static void ngx_http_x402_session_found(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


/*
 * NGX_AGAIN: looked up, the request parked; NGX_DECLINED: no session to
 * look for (ctx->session NEW), or a session id that cannot be one
 * (REFUSED), for the handler to go on with; NGX_ERROR: Redis cannot be
 * asked.
 */

ngx_int_t
ngx_http_x402_session_find(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_str_t    id, header;
    const char  *field;

    rc = ngx_http_x402_request_header(r, "PAYMENT-SIGNATURE", &header);

    if (rc == NGX_DECLINED) {
        /* an og-x402 client: the session id alone */

        rc = ngx_http_x402_request_header(r, "X-Upto-Session", &id);

        if (rc == NGX_DECLINED) {
            ctx->session = NGX_HTTP_X402_SESSION_NEW;
            return NGX_DECLINED;
        }

        if (rc != NGX_OK
            || !x402_session_id_valid((const char *) id.data, id.len))
        {
            ctx->session = NGX_HTTP_X402_SESSION_REFUSED;
            ctx->session_why = "unknown";
            return NGX_DECLINED;
        }

        ngx_memcpy(ctx->session_id, id.data, X402_SESSION_ID_LEN);
        ctx->session_id[X402_SESSION_ID_LEN] = '\0';

        return ngx_http_x402_session_resume(r, ctx, 0,
                                            ngx_http_x402_session_found);
    }

    /* a payment, the one that opened a session perhaps: it wins */

    field = NULL;

    if (rc != NGX_OK
        || x402_payment_decode_header(&ctx->payment, &field,
                                      (const char *) header.data, header.len)
           != X402_OK)
    {
        ctx->session = NGX_HTTP_X402_SESSION_NEW;
        return NGX_DECLINED;
    }

    x402_replay_key(ctx->key, ctx->offer.chain_id, &ctx->payment);
    ngx_http_x402_payment_fingerprint(ctx);

    return ngx_http_x402_session_resume(r, ctx, 1,
                                        ngx_http_x402_session_found);
}


static void
ngx_http_x402_session_found(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    if (ctx->status) {
        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    switch (ctx->session) {

    case NGX_HTTP_X402_SESSION_RESUMED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: session %*s... resumed, payer %s",
                      (size_t) 8, ctx->session_id, ctx->payer);

        /* billed as any upto response, into the session */
        ctx->mode = NGX_HTTP_X402_MODE_UPTO;
        ctx->upto_charge = 1;
        ngx_http_x402_usage_cutoff(r, ctx);
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;

    case NGX_HTTP_X402_SESSION_REFUSED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: session %*s... refused: %s",
                      (size_t) 8, ctx->session_id[0] ? ctx->session_id
                                                     : (u_char *) "-       ",
                      ctx->session_why);
        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;

    default:
        /* a payment no session knows: checked as any payment */
        ngx_http_x402_wake(r, ctx);
        return;
    }
}
