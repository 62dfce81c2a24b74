
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Verification by a standard x402 facilitator (x402_facilitator): its
 * POST /verify instead of our own on-chain checks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_payload.h"
#include "ngx_http_x402_facilitator.h"


static void ngx_http_x402_facilitator_verified(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);


/* The facilitator's POST /verify instead of our own on-chain checks. */

ngx_int_t
ngx_http_x402_facilitator_verify(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_step_pt next)
{
    ngx_str_t            body;
    ngx_http_x402_op_t  *op;

    ctx->next = next;

    if (ngx_http_x402_facilitator_body(r->pool, ctx, &ctx->offer, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_curl_post(r->connection->log, &xlcf->verify_url, &body,
                                xmcf->rpc_timeout,
                                X402_RPC_REPLY_MAX,
                                ngx_http_x402_facilitator_verified, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    return ngx_http_x402_park(r, xmcf, ctx, op);
}


static void
ngx_http_x402_facilitator_verified(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err)
{
    int                   valid, has_payer;
    char                  reason[128];
    size_t                len;
    u_char               *text;
    x402_err              xerr;
    x402_reason           known;
    x402_address          payer;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    /* the reference answers invalid payments with 200 */

    xerr = X402_ERR_ARG;

    if (rc == NGX_OK && body != NULL) {
        xerr = x402_verify_response_parse(&valid, reason, sizeof(reason),
                                          &payer, &has_payer,
                                          (const char *) body->data,
                                          body->len);
    }

    if (xerr != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: facilitator /verify failed: %s "
                      "(HTTP status %ui)",
                      err ? err : x402_strerror(xerr), status);
        ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                                   "the facilitator did not answer");
        return;
    }

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment rejected by the facilitator, "
                      "payer %s: %s", ctx->payer, reason);

        len = ngx_strlen(reason) + 1;
        text = ngx_pnalloc(r->pool, len);

        if (text != NULL) {
            ngx_memcpy(text, reason, len);
        }

        /* the facilitator's reason, as ours when we name it */
        known = x402_reason_parse(reason);

        ctx->reason_text = (const char *) text;
        ctx->reason_status = (known == X402_R_MAX)
                             ? NGX_HTTP_X402_PAYMENT_REQUIRED
                             : (ngx_uint_t) x402_reason_http_status(known);

        if (known == X402_R_INVALID_NONCE) {
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
        }

        if (ctx->reason_text == NULL) {
            ngx_http_x402_fail(r, ctx, "internal error");
            return;
        }

        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    ctx->next(r, ctx);
}
