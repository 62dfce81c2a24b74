
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Parking and resuming: the one mechanism of the module's asynchronous
 * steps.  A step in flight is a heap op that points at its request; the
 * request owns a non-cancelable deadline, and its pool cleanup detaches
 * the op, so a reply that arrives after the client left (or after the
 * deadline) only frees it.  finish() is the only code that resumes the
 * phase engine.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"


static void ngx_http_x402_deadline_handler(ngx_event_t *ev);
static void ngx_http_x402_run(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx);


/* Parks the request on its first asynchronous step, with a deadline. */

ngx_int_t
ngx_http_x402_park(ngx_http_request_t *r, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_op_t *op)
{
    ctx->op = op;
    ctx->state = NGX_HTTP_X402_RPC;

    ctx->deadline.handler = ngx_http_x402_deadline_handler;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    /* non-cancelable (the default): a reload waits for this request */
    ngx_add_timer(&ctx->deadline, xmcf->timeout);

    if (!ctx->parked) {
        ctx->parked = 1;
        ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_PARKED, 1);
    }

    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


static void
ngx_http_x402_deadline_handler(ngx_event_t *ev)
{
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    r = ev->data;
    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        return;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: payment %s timed out after %M ms (x402_timeout)",
                  ctx->state == NGX_HTTP_X402_RPC
                  ? (xlcf->facilitator_url.len
                     ? "verification by the facilitator"
                     : "verification on chain")
                  : ctx->state == NGX_HTTP_X402_REDIS
                    ? "reservation in redis" : "settlement",
                  xmcf->timeout);

    ngx_http_x402_detach(ctx);

    ngx_http_x402_fail(r, ctx, "payment verification timed out");
}


ngx_http_x402_op_t *
ngx_http_x402_op_create(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_op_t  *op;

    op = ngx_alloc(sizeof(ngx_http_x402_op_t), r->connection->log);
    if (op == NULL) {
        return NULL;
    }

    op->request = r;
    op->ctx = ctx;

    return op;
}


/* Frees a completed op; returns its request, or NULL if it was detached. */

ngx_http_request_t *
ngx_http_x402_op_finish(void *data, ngx_http_x402_ctx_t **ctxp)
{
    ngx_http_x402_op_t   *op = data;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = op->request;
    ctx = op->ctx;

    ngx_free(op);

    if (r == NULL) {
        return NULL;
    }

    ctx->op = NULL;
    *ctxp = ctx;

    return r;
}


void
ngx_http_x402_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *error)
{
    ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error = error;

    ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
}


/*
 * Resumes the phase engine without a verdict: the handler runs again and
 * goes on from what the step recorded in ctx.
 */

void
ngx_http_x402_wake(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ctx->state = NGX_HTTP_X402_IDLE;

    ngx_http_x402_run(r, ctx);
}


/* Records the verdict and resumes the phase engine. */

void
ngx_http_x402_finish(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_reason reason)
{
    ctx->reason = reason;
    ctx->state = NGX_HTTP_X402_DONE;
    ctx->verdict = 1;
    ctx->paid = (reason == X402_R_VALID && ctx->status == 0);

    if (ctx->paid) {
        x402_u256_format_dec((char *) ctx->amount, &ctx->payment.amount);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment accepted, payer %s amount %s",
                      ctx->payer, ctx->amount);
    }

    ngx_http_x402_run(r, ctx);
}


/* The request waits no more: its phases run on. */

static void
ngx_http_x402_run(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_connection_t  *c;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    ngx_http_x402_unpark(ctx);

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}
