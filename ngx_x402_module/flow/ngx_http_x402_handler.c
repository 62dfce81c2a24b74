
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_handler.h"
#include "ngx_http_x402_payment.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_usage.h"
#include "ngx_http_x402_payment_id.h"
#include "ngx_http_x402_resume.h"
#include "ngx_http_x402_channel_flow.h"


static ngx_int_t ngx_http_x402_build_offer(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx,
    x402_offer *offer);
static ngx_int_t ngx_http_x402_price_calls(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx,
    x402_u256 *amount);
static ngx_int_t ngx_http_x402_price_one(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_u256 *amount);
static const char *ngx_http_x402_unpriced(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static x402_reason ngx_http_x402_verify(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *header);
static ngx_uint_t ngx_http_x402_payment_id_refused(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx);
static ngx_uint_t ngx_http_x402_goes_on_chain(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf);
static ngx_int_t ngx_http_x402_keep_payload(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_str_t *header);


ngx_int_t
ngx_http_x402_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   header;
    x402_offer                  offer;
    x402_reason                 reason;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    /* subrequests are the configuration's own, as ACCESS skips them */

    if (!xlcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    /* a real CORS preflight is never gated; any other OPTIONS is */

    if (r->method == NGX_HTTP_OPTIONS) {
        rc = ngx_http_x402_preflight(r, xlcf);

        if (rc == NGX_OK) {
            return NGX_DECLINED;
        }

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    /* like proxy_cache_bypass: any value non-empty and not "0" */

    if (xlcf->bypass != NULL
        && ngx_http_test_predicates(r, xlcf->bypass) == NGX_DECLINED)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "x402: bypassed");
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_BYPASSED);
        return NGX_DECLINED;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (xmcf->x402 == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "x402: no x402 context in this process");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_x402_get_ctx(r);

    /*
     * the request body: its model (for a per-model price); for a paid upto
     * request also what its usage billing needs (x402_usage_prepare)
     */

    if ((ctx == NULL || !ctx->body_done)
        && (xlcf->read_body != NGX_HTTP_X402_BODY_OFF
            || (xlcf->scheme == X402_SCHEME_UPTO
                && (ngx_http_x402_request_header(r, "PAYMENT-SIGNATURE",
                                                 &header)
                    != NGX_DECLINED
                    || (xlcf->session
                        && ngx_http_x402_request_header(r, "X-Upto-Session",
                                                        &header)
                           != NGX_DECLINED)))))
    {

        if (ctx == NULL) {
            ctx = ngx_http_x402_create_ctx(r);
            if (ctx == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (ctx->state == NGX_HTTP_X402_READING) {
            return NGX_AGAIN;
        }

        return ngx_http_x402_read_model(r, ctx);
    }

    rc = ngx_http_x402_build_offer(r, xlcf, ctx, &offer);

    if (rc == NGX_DECLINED) {
        /* no price for this request: refuse before any payment is taken */
        ngx_http_x402_stat_request(r, NGX_HTTP_X402_STAT_BAD_REQUEST);

        return ngx_http_x402_send_unpriced(r, xlcf,
                                           ngx_http_x402_unpriced(r, ctx));
    }

    if (rc == NGX_DONE) {
        /* priced 0 (a free JSON-RPC method): not gated */
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_FREE);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx != NULL
        && (ctx->state == NGX_HTTP_X402_RPC
            || ctx->state == NGX_HTTP_X402_REDIS
            || ctx->state == NGX_HTTP_X402_SETTLING))
    {
        return NGX_AGAIN;
    }

    if (r->error_page && ctx != NULL && ctx->verdict && !ctx->paid) {
        /* the operator's page for our refusal (error_page 402 ...) */
        return NGX_DECLINED;
    }

    if (ctx != NULL
        && ctx->verdict
        && x402_offer_eq(&ctx->offer, &offer))
    {
        /* resumed, or the phase runs again (e.g. after an internal redirect) */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "x402: reusing verdict %d", (int) ctx->reason);

        return ngx_http_x402_answer(r, xlcf, ctx);
    }

    if (ctx == NULL) {
        ctx = ngx_http_x402_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ctx->offer = offer;
    ctx->verdict = 0;
    ctx->paid = 0;
    ctx->decoded = 0;
    ctx->local_sig_ok = 0;
    ctx->status = 0;
    ctx->state = NGX_HTTP_X402_IDLE;
    ctx->reason_text = NULL;
    ctx->payload_json.len = 0;
    ctx->payment_response.len = 0;
    ctx->accepts.len = 0;

    /* x402_session: a request on a session is served from it */

    if (xlcf->session && ctx->session == NGX_HTTP_X402_SESSION_NONE) {
        rc = ngx_http_x402_session_find(r, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
            ctx->error = "payment reservation unavailable";
        }
    }

    if (ctx->status || ctx->session == NGX_HTTP_X402_SESSION_REFUSED) {
        ctx->reason = X402_R_PAYMENT_REQUIRED;
        ctx->verdict = 1;
        ctx->state = NGX_HTTP_X402_DONE;

        return ngx_http_x402_answer(r, xlcf, ctx);
    }

    rc = ngx_http_x402_request_header(r, "PAYMENT-SIGNATURE", &header);

    if (rc == NGX_DECLINED) {
        reason = X402_R_PAYMENT_REQUIRED;

    } else if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: undecodable PAYMENT-SIGNATURE: "
                      "more than one PAYMENT-SIGNATURE header");
        reason = X402_R_PAYMENT_REQUIRED;

    } else if (xlcf->scheme == X402_SCHEME_BATCH) {
        /* a channel's deposit or voucher: steps of its own */
        rc = ngx_http_x402_channel_start(r, xmcf, ctx, &header);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        reason = ctx->reason;

    } else {
        reason = ngx_http_x402_verify(r, xmcf, ctx, &header);

        if (ctx->decoded && ngx_http_x402_payment_id_refused(r, xlcf, ctx)) {
            return ngx_http_x402_answer(r, xlcf, ctx);
        }

        /* a facilitator gets the client's payload as it was sent */

        if (xlcf->facilitator_url.len && ctx->decoded
            && ngx_http_x402_keep_payload(r, ctx, &header) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * the on-chain half: a payer with code (EIP-1271) cannot pass ecrecover,
     * so a failed signature alone goes on chain too
     */

    if (ngx_http_x402_goes_on_chain(r, xmcf)
        && ctx->decoded
        && ctx->payment.signature_len != 0
        && (reason == X402_R_VALID || reason == X402_R_INVALID_SIGNATURE))
    {
        rc = ngx_http_x402_payment_start(r, xmcf, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->error = "payment verification unavailable";
    }

    ctx->reason = reason;
    ctx->verdict = 1;
    ctx->state = NGX_HTTP_X402_DONE;
    ctx->paid = (reason == X402_R_VALID && ctx->status == 0);

    return ngx_http_x402_answer(r, xlcf, ctx);
}


/*
 * x402_payment_identifier required: a payment without a valid id is a
 * bad request (400), as is a malformed id wherever it is declared.
 */

static ngx_uint_t
ngx_http_x402_payment_id_refused(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx)
{
    if (xlcf->payment_id == NGX_HTTP_X402_PID_OFF) {
        return 0;
    }

    if (ctx->payment.payment_id_state == X402_PAYMENT_ID_INVALID) {
        ctx->error = "payment_identifier_invalid";

    } else if (ctx->payment.payment_id_state == X402_PAYMENT_ID_NONE
               && xlcf->payment_id == NGX_HTTP_X402_PID_REQUIRED)
    {
        ctx->error = "payment_identifier_required";

    } else {
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment of %s refused: %s", ctx->payer, ctx->error);

    ctx->status = NGX_HTTP_BAD_REQUEST;
    ctx->reason = X402_R_PAYMENT_REQUIRED;
    ctx->verdict = 1;
    ctx->state = NGX_HTTP_X402_DONE;

    return 1;
}


/* Acts on a verdict: continue to the content handler, or answer. */

ngx_int_t
ngx_http_x402_answer(ngx_http_request_t *r, ngx_http_x402_loc_conf_t *xlcf,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_uint_t   status;
    const char  *reason;

    if (ctx->pid_state == NGX_HTTP_X402_PID_DONE) {
        /* an agent's retry: what its first attempt was answered */

        if (ctx->payment_response.len
            && ngx_http_x402_push_header(r, "PAYMENT-RESPONSE",
                                         &ctx->payment_response)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);

        return ngx_http_x402_send_processed(r, ctx->pid_status,
                                            ctx->payment.payment_id);
    }

    if (ctx->session == NGX_HTTP_X402_SESSION_REFUSED && !ctx->paid
        && ctx->status == 0)
    {
        /* og-x402 clients read the body, stock ones the challenge */
        ngx_http_x402_stat_request(r, NGX_HTTP_X402_STAT_PAYMENT_REQUIRED);
        ngx_http_x402_stat_reason(NGX_HTTP_X402_PAYMENT_REQUIRED,
                                  "session_expired");

        return ngx_http_x402_send_session_expired(r, xlcf, &ctx->offer);
    }

    if (ctx->status) {
        ngx_http_x402_stat_request(r,
                                   ctx->status == NGX_HTTP_SERVICE_UNAVAILABLE
                                   ? NGX_HTTP_X402_STAT_UNAVAILABLE
                                   : NGX_HTTP_X402_STAT_ERROR);

        return ngx_http_x402_send_error(r, ctx->status, ctx->error);
    }

    if (ctx->payment_response.len
        && ngx_http_x402_push_header(r, "PAYMENT-RESPONSE",
                                     &ctx->payment_response)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->paid) {
        /* the phase may run again for one request (internal redirects) */

        if (!ctx->counted) {
            ctx->counted = 1;
            ngx_http_x402_stat_request(r, NGX_HTTP_X402_STAT_PAID);
        }

        /* the phase's other handlers (try_files, mirror) still run */
        return NGX_DECLINED;
    }

    if (ctx->reason_text) {
        status = ctx->reason_status;
        reason = ctx->reason_text;

    } else {
        status = x402_reason_http_status(ctx->reason);
        reason = x402_reason_string(ctx->reason);
    }

    ngx_http_x402_stat_request(r, status == NGX_HTTP_PRECONDITION_FAILED
                                  ? NGX_HTTP_X402_STAT_ALLOWANCE
                                  : NGX_HTTP_X402_STAT_PAYMENT_REQUIRED);
    ngx_http_x402_stat_reason(status, reason);

    return ngx_http_x402_send_payment_required(r, xlcf, &ctx->offer,
                                               ctx->accepts.len
                                               ? &ctx->accepts : NULL,
                                               status,
                                               reason,
                                               ctx->reason_text == NULL
                                               && ctx->receipt.len
                                               ? &ctx->receipt : NULL);
}


static ngx_int_t
ngx_http_x402_build_offer(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx,
    x402_offer *offer)
{
    *offer = xlcf->offer;

    if (xlcf->read_body == NGX_HTTP_X402_BODY_METHOD) {
        return ngx_http_x402_price_calls(r, xlcf, ctx, &offer->amount);
    }

    if (xlcf->price->lengths == NULL) {
        return NGX_OK;
    }

    return ngx_http_x402_price_one(r, xlcf, &offer->amount);
}


/*
 * A JSON-RPC body's price: the sum of its calls' prices, each looked up
 * with $x402_rpc_method set to its method.  The request's cached variable
 * values are put back as they were before each lookup (and after), so that
 * maps (and maps of maps) give every method its own price.  NGX_DONE: it
 * costs nothing; NGX_DECLINED: a call has no price (ctx->rpc_pricing names
 * it).
 */

static ngx_int_t
ngx_http_x402_price_calls(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx,
    x402_u256 *amount)
{
    size_t                      size;
    ngx_int_t                   rc;
    x402_u256                   one;
    ngx_uint_t                  i;
    static const x402_u256      zero;
    ngx_http_variable_value_t  *saved;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_memzero(amount, sizeof(x402_u256));

    if (ctx == NULL || ctx->rpc_n == 0) {
        return NGX_DECLINED;
    }

    if (xlcf->price->lengths == NULL) {
        /* a literal: per call, no variable to look up */
        for (i = 0; i < ctx->rpc_n; i++) {
            if (x402_u256_add(amount, amount, &xlcf->offer.amount)
                != X402_OK)
            {
                return NGX_ERROR;
            }
        }

        return x402_u256_cmp(amount, &zero) == 0 ? NGX_DONE : NGX_OK;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    size = cmcf->variables.nelts * sizeof(ngx_http_variable_value_t);

    saved = ngx_palloc(r->pool, size ? size : 1);
    if (saved == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(saved, r->variables, size);

    rc = NGX_OK;

    for (i = 0; i < ctx->rpc_n; i++) {
        ctx->rpc_pricing = i + 1;
        ngx_memcpy(r->variables, saved, size);

        rc = ngx_http_x402_price_one(r, xlcf, &one);

        if (rc != NGX_OK) {
            break;
        }

        if (x402_u256_add(amount, amount, &one) != X402_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "x402: the prices of a JSON-RPC batch overflow");
            rc = NGX_ERROR;
            break;
        }
    }

    ngx_memcpy(r->variables, saved, size);

    if (rc != NGX_OK) {
        /* ctx->rpc_pricing names the call for the refusal */
        return rc;
    }

    ctx->rpc_pricing = 0;

    return x402_u256_cmp(amount, &zero) == 0 ? NGX_DONE : NGX_OK;
}


/* The evaluated x402_price of this request (or of one JSON-RPC call). */

static ngx_int_t
ngx_http_x402_price_one(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_u256 *amount)
{
    u_char     *p, why[64];
    x402_err    err;
    ngx_str_t   price;

    if (ngx_http_complex_value(r, xlcf->price, &price) != NGX_OK) {
        return NGX_ERROR;
    }

    if (price.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: x402_price is empty for this request "
                      "(an unknown model or method?)");
        return NGX_DECLINED;
    }

    err = x402_amount_parse(amount, (const char *) price.data, price.len,
                            (unsigned) xlcf->decimals);
    if (err == X402_OK) {
        return NGX_OK;
    }

    if (err == X402_ERR_VALUE) {
        p = ngx_snprintf(why, sizeof(why) - 1,
                         "more decimals than x402_asset_decimals %i",
                         xlcf->decimals);

    } else {
        p = ngx_snprintf(why, sizeof(why) - 1, "%s", x402_strerror(err));
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: x402_price \"%V\" evaluated to an invalid amount: %s",
                  &price, why);

    return NGX_ERROR;
}


/* Why a request has no price: its model, its method, or nothing to tell. */

static const char *
ngx_http_x402_unpriced(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    u_char                    *p;
    x402_jsonrpc_call         *call;
    ngx_http_x402_loc_conf_t  *xlcf;

    if (ctx != NULL && ctx->rpc_pricing) {
        call = &ctx->rpc_calls[ctx->rpc_pricing - 1];

        p = ngx_pnalloc(r->pool, sizeof("no price for method ''")
                                 + X402_RPC_METHOD_MAX);
        if (p == NULL) {
            return "no price for this request";
        }

        /* the method has no quote or backslash (x402_rpc_request_calls) */
        ngx_sprintf(p, "no price for method '%s'%Z", call->method);
        return (const char *) p;
    }

    if (ctx == NULL || ctx->model.len == 0) {
        return "no price for this request";
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->models.len == 0) {
        return "unknown model";
    }

    /* the models this location prices (x402_models) */

    p = ngx_pnalloc(r->pool, sizeof("unknown model (priced: )")
                             + xlcf->models.len);
    if (p == NULL) {
        return "unknown model";
    }

    ngx_sprintf(p, "unknown model (priced: %V)%Z", &xlcf->models);

    return (const char *) p;
}


static x402_reason
ngx_http_x402_verify(ngx_http_request_t *r, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx, ngx_str_t *header)
{
    x402_err                   err;
    const char                *field;
    x402_reason                reason;
    x402_payment              *payment;
    ngx_http_x402_loc_conf_t  *xlcf;

    field = NULL;
    payment = &ctx->payment;

    err = x402_payment_decode_header(payment, &field,
                                     (const char *) header->data,
                                     header->len);
    if (err != X402_OK) {

        if (field != NULL && field[0] != '\0') {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: undecodable PAYMENT-SIGNATURE: %s: %s",
                          field, x402_strerror(err));

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: undecodable PAYMENT-SIGNATURE: %s",
                          x402_strerror(err));
        }

        return X402_R_PAYMENT_REQUIRED;
    }

    x402_address_format((char *) ctx->payer, &payment->from);

    reason = x402_offer_match(&ctx->offer, payment);

    if (reason == X402_R_VALID) {
        xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

        reason = x402_verify_local(xmcf->x402, &ctx->offer, payment,
                                   (uint64_t) ngx_time(),
                                   ngx_http_x402_min_left(xlcf));

        if (reason == X402_R_DEADLINE_EXPIRED) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: the permit of payer %s expires too soon: "
                          "this location admits a payment with %T s left, "
                          "for its settlement to land in time",
                          ctx->payer, ngx_http_x402_min_left(xlcf));
        }
    }

    ctx->decoded = (reason == X402_R_VALID
                    || reason == X402_R_INVALID_SIGNATURE);
    ctx->local_sig_ok = (reason == X402_R_VALID);

    if (reason != X402_R_VALID) {

        if (reason != X402_R_INVALID_SIGNATURE
            || payment->signature_len == 0
            || !ngx_http_x402_goes_on_chain(r, xmcf))
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: payment rejected, payer %s: %s",
                          ctx->payer, x402_reason_string(reason));
        }

        return reason;
    }

    x402_u256_format_dec((char *) ctx->amount, &payment->amount);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment verified locally, payer %s amount %s",
                  ctx->payer, ctx->amount);

    return X402_R_VALID;
}



/* Is there a second, asynchronous opinion (chain node or facilitator)? */

static ngx_uint_t
ngx_http_x402_goes_on_chain(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf)
{
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    return xmcf->rpc.len || xlcf->facilitator_url.len;
}


static ngx_int_t
ngx_http_x402_keep_payload(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *header)
{
    size_t   len;
    u_char  *p;

    len = x402_base64_decoded_max(header->len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (x402_base64_decode(p, &len, (const char *) header->data, header->len)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    ctx->payload_json.data = p;
    ctx->payload_json.len = len;

    return NGX_OK;
}

