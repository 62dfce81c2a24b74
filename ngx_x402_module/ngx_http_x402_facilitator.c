
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Verification by a standard x402 facilitator (x402_facilitator): its
 * POST /verify instead of our own on-chain checks, and the request body
 * both /verify and /settle take.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"


#define NGX_HTTP_X402_RPC_REQUEST_MAX  8192
#define NGX_HTTP_X402_RPC_REPLY_MAX    (1024 * 1024)


static void ngx_http_x402_facilitator_verified(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);


/* The facilitator's POST /verify instead of our own on-chain checks. */

ngx_int_t
ngx_http_x402_facilitator_verify(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_str_t            body;
    ngx_http_x402_op_t  *op;

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
                                NGX_HTTP_X402_RPC_REPLY_MAX,
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

        ctx->reason_text = (const char *) text;
        ctx->reason_status = ngx_strcmp(reason,
                                        "permit2_allowance_required") == 0
                             ? NGX_HTTP_PRECONDITION_FAILED
                             : NGX_HTTP_X402_PAYMENT_REQUIRED;

        if (ngx_strcmp(reason, "permit2_invalid_nonce") == 0) {
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
        }

        if (ctx->reason_text == NULL) {
            ngx_http_x402_fail(r, ctx, "internal error");
            return;
        }

        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    ngx_http_x402_reserve(r, ctx);
}


/*
 * {"x402Version":2,"paymentPayload":…,"paymentRequirements":…} for the
 * facilitator, with `offer` (for an upto settlement: the charge).
 */

ngx_int_t
ngx_http_x402_facilitator_body(ngx_pool_t *pool, ngx_http_x402_ctx_t *ctx,
    x402_offer *offer, ngx_str_t *body)
{
    size_t  len;

    len = ctx->payload_json.len + NGX_HTTP_X402_RPC_REQUEST_MAX;

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
