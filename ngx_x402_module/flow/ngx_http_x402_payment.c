
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * One payment, top to bottom, once the request's handler (handler.c) has
 * decoded it and verified it locally:
 *
 *   start     a payment-identifier looked up (an agent's retry is answered
 *             from what its first attempt got), then the second opinion:
 *             the facilitator's /verify, or the on-chain checks (steps/),
 *             the request parked meanwhile;
 *   used      the chain has spent its nonce: refused with the stored
 *             receipt, if any;
 *   deploy    a smart wallet that signed before it existed (ERC-6492):
 *             deployed by the settler, then checked again;
 *   checked   every check passed: how it will be settled, and its
 *             reservation in Redis (steps/ngx_http_x402_reserve.c);
 *   reserved  served at once (async: its settlement starts in the
 *             background; upto: at the response's end), or settled first
 *             (sync);
 *   settled   a sync settlement's result: served with PAYMENT-RESPONSE,
 *             or refused with it.
 *
 * Each step calls the next one back, or ends the request's wait with a
 * verdict (core/ngx_http_x402_park.c); the handler then answers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_facilitator.h"
#include "ngx_http_x402_onchain.h"
#include "ngx_http_x402_payment_id.h"
#include "ngx_http_x402_payment.h"
#include "ngx_http_x402_reserve.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_batch.h"
#include "ngx_http_x402_session.h"
#include "ngx_http_x402_usage.h"
#include "ngx_http_x402_deploy.h"


static void ngx_http_x402_payment_claimed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static ngx_int_t ngx_http_x402_payment_check(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_checked(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_used(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_replayed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_deploy(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_deployed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static ngx_uint_t ngx_http_x402_payment_mode(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static ngx_int_t ngx_http_x402_session_open(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_payment_settled(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settle_result_t *result);


/*
 * The second opinion on a payment verified locally: the facilitator's
 * /verify, or our own checks on chain.  NGX_AGAIN: the request is parked.
 */

ngx_int_t
ngx_http_x402_payment_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    /* an agent's retry with its payment-identifier: looked up first */

    if (xlcf->payment_id != NGX_HTTP_X402_PID_OFF
        && ctx->payment.payment_id_state == X402_PAYMENT_ID_VALID)
    {
        return ngx_http_x402_pid_claim(r, ctx, ngx_http_x402_payment_claimed);
    }

    return ngx_http_x402_payment_check(r, xmcf, ctx);
}


/* The payment-identifier looked up: new, or answered from what it holds. */

static void
ngx_http_x402_payment_claimed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    switch (ctx->pid_state) {

    case NGX_HTTP_X402_PID_NEW:
        if (ngx_http_x402_payment_check(r,
                ngx_http_get_module_main_conf(r, ngx_http_x402_module), ctx)
            != NGX_AGAIN)
        {
            ngx_http_x402_fail(r, ctx, "payment verification unavailable");
        }

        return;

    case NGX_HTTP_X402_PID_IN_FLIGHT:
        ctx->status = NGX_HTTP_CONFLICT;
        ctx->error = "payment_identifier_in_progress";
        break;

    case NGX_HTTP_X402_PID_CONFLICT:
        ctx->status = NGX_HTTP_CONFLICT;
        ctx->error = "payment_identifier_conflict";
        break;

    case NGX_HTTP_X402_PID_DONE:
        /* answered by ngx_http_x402_answer from what was stored */
        break;

    default:
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
}


/*
 * The second opinion proper: the facilitator's /verify, or our own checks
 * on chain.  NGX_AGAIN: the request is parked.
 */

static ngx_int_t
ngx_http_x402_payment_check(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->facilitator_url.len) {
        return ngx_http_x402_facilitator_verify(r, xlcf, xmcf, ctx,
                                                ngx_http_x402_payment_checked);
    }

    return ngx_http_x402_onchain_check(r, xmcf, ctx,
                                       ngx_http_x402_payment_checked,
                                       ngx_http_x402_payment_used,
                                       ngx_http_x402_payment_deploy);
}


/*
 * The chain has spent the payment's nonce: refused, with the receipt when
 * it was settled through this Redis (an agent that lost the answer learns
 * it paid, and what for).
 */

static void
ngx_http_x402_payment_used(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    x402_replay_key(ctx->key, ctx->offer.chain_id, &ctx->payment);

    ngx_http_x402_receipt_fetch(r, ctx, ngx_http_x402_payment_replayed);
}


static void
ngx_http_x402_payment_replayed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_finish(r, ctx, X402_R_INVALID_NONCE);
}


/*
 * A wallet that signed before it existed (ERC-6492), its deployment
 * probed: deployed first (flow/ngx_http_x402_deploy.c), then checked again
 * as any wallet with code.
 */

static void
ngx_http_x402_payment_deploy(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_deploy_wallet(r, ctx, ngx_http_x402_payment_deployed);
}


static void
ngx_http_x402_payment_deployed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    if (ngx_http_x402_payment_check(r,
            ngx_http_get_module_main_conf(r, ngx_http_x402_module), ctx)
        != NGX_AGAIN)
    {
        ngx_http_x402_fail(r, ctx, "payment verification unavailable");
    }
}


/* Every check passed (on chain, or the facilitator's): reserve it. */

static void
ngx_http_x402_payment_checked(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_VERIFIED);

    x402_replay_key(ctx->key, ctx->offer.chain_id, &ctx->payment);

    ctx->mode = ngx_http_x402_payment_mode(r, ctx);

    if (ctx->mode == NGX_HTTP_X402_MODE_STALLED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: payment of %s refused: the settler's "
                      "transactions stall (none mined for "
                      "x402_settle_timeout); served now, it might never be "
                      "paid", ctx->payer);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_STALLED);
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable: the "
                                   "settler's transactions stall");
        return;
    }

    if (ctx->mode == NGX_HTTP_X402_MODE_UPTO
        && ngx_http_x402_session_open(r, ctx) != NGX_OK)
    {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_http_x402_reserve(r, ctx, ngx_http_x402_payment_reserved);
}


/*
 * x402_session on: the payment opens a session, in the same step as its
 * reservation; its id is known to the holder of the payment only, and
 * the payment's fingerprint lets the same payment sent again find it.
 */

static ngx_int_t
ngx_http_x402_session_open(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (!xlcf->session) {
        return NGX_OK;
    }

    if (ngx_http_x402_session_new_id(ctx->session_id) != NGX_OK
        || ngx_http_x402_session_token(ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_x402_payment_fingerprint(ctx);

    ctx->session = NGX_HTTP_X402_SESSION_OPENING;
    ctx->session_room = ctx->payment.amount;

    return NGX_OK;
}


/*
 * How this payment will be settled (NGX_HTTP_X402_MODE_*).  With async,
 * a request also waits when this worker's settlements lag by more than
 * half the time its permit has left: served first, it might not be
 * settled before the permit expires, and waiting slows the arrivals down
 * to what the chain takes.  A stalling settler refuses the payment.
 */

static ngx_uint_t
ngx_http_x402_payment_mode(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    time_t                      lag;
    uint64_t                    left;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->settle == NGX_HTTP_X402_SETTLE_OFF) {
        return NGX_HTTP_X402_MODE_NONE;
    }

    if (xlcf->facilitator_url.len == 0) {

        if (ngx_http_x402_settle_stalled(xmcf, ctx->offer.scheme)) {
            return NGX_HTTP_X402_MODE_STALLED;
        }
    }

    if (ctx->offer.scheme == X402_SCHEME_UPTO) {
        /* the charge is known once the response is: settled at its end */
        return NGX_HTTP_X402_MODE_UPTO;
    }

    if (xlcf->settle == NGX_HTTP_X402_SETTLE_SYNC) {
        /* an upgrade (WebSocket) is a tunnel no filter can hold */
        return r->headers_in.upgrade ? NGX_HTTP_X402_MODE_SYNC
                                     : NGX_HTTP_X402_MODE_ON_SUCCESS;
    }

    if (xlcf->settle == NGX_HTTP_X402_SETTLE_BEFORE_CONTENT) {
        return NGX_HTTP_X402_MODE_SYNC;
    }

    if (xlcf->facilitator_url.len == 0) {
        lag = ngx_http_x402_settle_backlog(xmcf);
        left = ngx_http_x402_permit_left(ctx);

        if (lag > 0 && 2 * (uint64_t) lag > left) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "x402: settlements lag by %T s on this worker: "
                          "payer %s waits for the settlement of this "
                          "payment (its permit expires in %uL s)", lag,
                          ctx->payer, left);
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_WAITED);
            return NGX_HTTP_X402_MODE_SYNC;
        }
    }

    return NGX_HTTP_X402_MODE_ASYNC;
}


/* Reserved: settled as decided; with sync the request waits for it. */

static void
ngx_http_x402_payment_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_uint_t                  mode;
    ngx_http_x402_main_conf_t  *xmcf;

    switch (ctx->mode) {

    case NGX_HTTP_X402_MODE_NONE:
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;

    case NGX_HTTP_X402_MODE_UPTO:
        /* settled at the response's end, which is cut in time for it */
        ctx->upto_charge = 1;

        if (ctx->session == NGX_HTTP_X402_SESSION_OPENING) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: session %*s... opened, payer %s",
                          (size_t) 8, ctx->session_id, ctx->payer);
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SESSION_OPENED);
        }

        ngx_http_x402_usage_cutoff(r, ctx);
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;

    case NGX_HTTP_X402_MODE_ON_SUCCESS:
        /* settled once the content's status is known (hold.c) */
        ctx->hold = NGX_HTTP_X402_HOLD_WAIT;
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;
    }

    /* a settlement that ends at once may resume (and end) the request */
    mode = ctx->mode;

    if (ngx_http_x402_batch_settle(r, ctx,
                                   mode == NGX_HTTP_X402_MODE_SYNC
                                   ? ngx_http_x402_payment_settled : NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot start the settlement of %s", ctx->key);

        /* nothing was sent: the payment stays usable */
        xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
        ngx_http_x402_unreserve(xmcf, ctx->key);

        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    if (mode == NGX_HTTP_X402_MODE_ASYNC) {
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
    }
}


/*
 * The synchronous settlement ended: forward with PAYMENT-RESPONSE when it
 * settled (or is pending: the transaction is out and may still land, so
 * the client must not be asked to pay again), answer 402 with
 * PAYMENT-RESPONSE when it failed.
 */

static void
ngx_http_x402_payment_settled(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settle_result_t *result)
{
    if (result->outcome == NGX_HTTP_X402_RETRY) {
        /* the gateway's fault, nothing was sent: the payment stays usable */
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    if (ngx_http_x402_payment_result(r, ctx, result) != NGX_OK) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_http_x402_finish(r, ctx, ctx->reason_text ? X402_R_PAYMENT_REQUIRED
                                                  : X402_R_VALID);
}


/*
 * A settlement's result into the request: its PAYMENT-RESPONSE, and for a
 * failed one its reason (ctx->reason_text, with 402).
 */

ngx_int_t
ngx_http_x402_payment_result(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settle_result_t *result)
{
    size_t       len;
    u_char       json[1024];
    x402_err     err;
    ngx_str_t   *pr;
    ngx_uint_t   success;

    success = (result->outcome == NGX_HTTP_X402_SETTLED);
    len = sizeof(json);

    err = x402_settle_response_encode((char *) json, &len, success,
                                      success ? NULL : result->error_reason,
                                      &ctx->payment.from,
                                      (const char *) result->tx,
                                      ctx->offer.chain_id, NULL);

    pr = &ctx->payment_response;

    ngx_memcpy(ctx->tx, result->tx, sizeof(ctx->tx));

    if (err == X402_OK) {
        pr->len = x402_base64_encoded_len(len);
        pr->data = ngx_pnalloc(r->pool, pr->len + 1);

        if (pr->data == NULL
            || x402_base64_encode((char *) pr->data, pr->len + 1, json, len)
               != X402_OK)
        {
            pr->len = 0;
        }
    }

    /* pending: the transaction is out and may still land */

    if (success || result->outcome == NGX_HTTP_X402_PENDING) {
        return NGX_OK;
    }

    /* the job's text goes away with the job */
    len = ngx_strlen(result->error_reason) + 1;
    ctx->reason_text = ngx_pnalloc(r->pool, len);

    if (ctx->reason_text == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy((u_char *) ctx->reason_text, result->error_reason, len);
    ctx->reason_status = NGX_HTTP_X402_PAYMENT_REQUIRED;

    return NGX_OK;
}

