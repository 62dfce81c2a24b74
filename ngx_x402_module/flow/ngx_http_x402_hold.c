
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * x402_settle sync: the content runs first and its response is held at its
 * header until the payment is settled, as the reference server and
 * OpenGradient charge only for a success:
 *
 *  - a status >= 400 settles nothing: the reservation is released (the
 *    payer's permit stays usable) and the response goes out as it is;
 *  - otherwise the header and the body wait (r->buffered) while the
 *    settlement runs; settled, or sent and pending, they go out with
 *    PAYMENT-RESPONSE; refused, the response is replaced by the refusal a
 *    failed settlement gets (402, or 503 for the gateway's fault) and the
 *    content is dropped.
 *
 * Nothing is copied while held: the body stays in the upstream's buffers
 * (proxy_buffers), which it cannot reuse until they go out: once they are
 * all held the upstream is not read (its proxy_read_timeout runs), so a
 * slow settlement also slows the upstream.  An Upgrade request is settled
 * before its content (payment.c): a tunnel passes no filter.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_reserve.h"
#include "ngx_http_x402_payment_id.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_batch.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_handler.h"
#include "ngx_http_x402_payment.h"
#include "ngx_http_x402_channel_flow.h"
#include "ngx_http_x402_hold.h"


/*
 * r->buffered has four bits, one per buffering filter: this one is the
 * image filter's, which never runs on a paid API response.
 */
#define NGX_HTTP_X402_BUFFERED  0x08


static ngx_int_t ngx_http_x402_hold_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_x402_hold_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_x402_hold_settled(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settle_result_t *result);
static void ngx_http_x402_hold_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_x402_hold_release(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static ngx_int_t ngx_http_x402_hold_refuse(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t status, const char *error);
static void ngx_http_x402_hold_drop(ngx_chain_t *cl);
static void ngx_http_x402_hold_answered(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t paid);
static void ngx_http_x402_hold_wake(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_x402_not_charged(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, const char *why);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_x402_hold_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_x402_hold_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_x402_hold_body_filter;

    return NGX_OK;
}


/* The content's status is known: settle, or release the reservation. */

static ngx_int_t
ngx_http_x402_hold_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_x402_ctx_t       *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /* a channel's request is charged as its header goes out */
    ngx_http_x402_channel_headers(r, ctx);

    if (ctx->hold != NGX_HTTP_X402_HOLD_WAIT) {
        /* a paid answer not held (async, upto, before_content) goes out */
        ngx_http_x402_hold_answered(r, ctx, ctx->paid);
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
        ngx_http_x402_not_charged(r, ctx, "the content answered an error");
        ctx->hold = NGX_HTTP_X402_HOLD_PASS;
        ngx_http_x402_hold_answered(r, ctx, 0);
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS) {
        /*
         * an upgraded connection is a tunnel past every filter: it cannot
         * be held (an Upgrade request is settled before its content, in
         * payment.c; this is a backend that upgraded unasked)
         */
        ngx_http_x402_not_charged(r, ctx, "the content switched protocols");
        ctx->hold = NGX_HTTP_X402_HOLD_PASS;
        return NGX_ERROR;
    }

    ctx->hold = NGX_HTTP_X402_HOLD_SETTLING;
    r->buffered |= NGX_HTTP_X402_BUFFERED;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "x402: content answered %ui: settling %s before it goes "
                   "out", r->headers_out.status, ctx->key);

    ctx->hold_inline = 1;   /* a settlement that ends at once answers here */
    ctx->hold_rc = NGX_OK;

    rc = ngx_http_x402_batch_settle(r, ctx, ngx_http_x402_hold_settled);

    ctx->hold_inline = 0;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot start the settlement of %s", ctx->key);

        /* nothing was sent: the payment stays usable */
        ngx_http_x402_not_charged(r, ctx, "its settlement could not start");

        return ngx_http_x402_hold_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "payment settlement unavailable");
    }

    if (ctx->hold == NGX_HTTP_X402_HOLD_SETTLING && ctx->deadline.timer_set) {
        /*
         * its bound is the settlement's (batch_settle), its end is ours:
         * before nginx's send_timeout would end the request unanswered
         */
        ctx->deadline.handler = ngx_http_x402_hold_timeout;
        ctx->deadline.data = r;
        ctx->deadline.log = r->connection->log;

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (clcf->send_timeout > 1000
            && ctx->deadline.timer.key - ngx_current_msec
               > clcf->send_timeout - 1000)
        {
            ngx_del_timer(&ctx->deadline);
            ngx_add_timer(&ctx->deadline, clcf->send_timeout - 1000);
        }

        return NGX_OK;
    }

    /* settled (or refused) at once: what sending the answer returned */
    return ctx->hold_rc;
}


/* While settling, the body waits; once replaced, it is dropped. */

static ngx_int_t
ngx_http_x402_hold_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_x402_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->replacing) {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->hold) {

    case NGX_HTTP_X402_HOLD_SETTLING:

        /* appended at the tail kept: an SSE stream comes in many pieces */

        if (in != NULL
            && ngx_chain_add_copy(r->pool, ctx->held ? &ctx->held_last->next
                                                      : &ctx->held, in)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->held != NULL) {
            for (ctx->held_last = ctx->held_last ? ctx->held_last : ctx->held;
                 ctx->held_last->next;
                 ctx->held_last = ctx->held_last->next)
            {
                /* void */
            }
        }

        return NGX_OK;

    case NGX_HTTP_X402_HOLD_REPLACED:
        /* the content's buffers go back to it; our refusal goes on */
        ngx_http_x402_hold_drop(in);
        return ngx_http_next_body_filter(r, NULL);

    default:
        return ngx_http_next_body_filter(r, in);
    }
}


static void
ngx_http_x402_hold_settled(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settle_result_t *result)
{
    ngx_int_t  rc;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    ctx->state = NGX_HTTP_X402_DONE;

    if (result->outcome == NGX_HTTP_X402_RETRY) {
        /* the gateway's fault, nothing was sent: the payment stays usable */
        rc = ngx_http_x402_hold_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "payment settlement unavailable");

    } else if (ngx_http_x402_payment_result(r, ctx, result) != NGX_OK) {
        rc = ngx_http_x402_hold_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "internal error");

    } else if (ctx->reason_text) {
        rc = ngx_http_x402_hold_refuse(r, ctx, 0, NULL);

    } else {
        rc = ngx_http_x402_hold_release(r, ctx);
    }

    ngx_http_x402_hold_wake(r, ctx, rc);
}


static void
ngx_http_x402_hold_timeout(ngx_event_t *ev)
{
    ngx_int_t                   rc;
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_main_conf_t  *xmcf;

    r = ev->data;
    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->hold != NGX_HTTP_X402_HOLD_SETTLING) {
        return;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: the settlement of %s did not end in time for its "
                  "held response (x402_settle_timeout %M ms, send_timeout): "
                  "the response is refused, the settlement goes on alone "
                  "(a retry of the same payment gets its receipt)",
                  ctx->key, xmcf->settle_timeout);

    /* the job ends alone, as for a client that went away */
    ngx_http_x402_detach(ctx);

    rc = ngx_http_x402_hold_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "payment settlement timed out");

    ngx_http_x402_hold_wake(r, ctx, rc);
}


/* Settled: the held header, with PAYMENT-RESPONSE, and body go out. */

static ngx_int_t
ngx_http_x402_hold_release(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    ctx->hold = NGX_HTTP_X402_HOLD_PASS;
    r->buffered &= ~NGX_HTTP_X402_BUFFERED;

    if (ctx->payment_response.len
        && ngx_http_x402_push_header(r, "PAYMENT-RESPONSE",
                                     &ctx->payment_response)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_x402_hold_answered(r, ctx, 1);

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_x402_hold_drop(ctx->held);
        ctx->held = NULL;
        ctx->held_last = NULL;
        return rc;
    }

    cl = ctx->held;
    ctx->held = NULL;
    ctx->held_last = NULL;

    return cl ? ngx_http_next_body_filter(r, cl) : NGX_OK;
}


/*
 * The held response replaced by a refusal: status and error for a 503
 * (the gateway's), or none for the settlement's own reason (402, with
 * PAYMENT-RESPONSE).
 */

static ngx_int_t
ngx_http_x402_hold_refuse(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t status, const char *error)
{
    ngx_int_t                  rc;
    ngx_http_x402_loc_conf_t  *xlcf;

    ctx->hold = NGX_HTTP_X402_HOLD_REPLACED;
    ctx->paid = 0;
    r->buffered &= ~NGX_HTTP_X402_BUFFERED;

    ngx_http_x402_hold_answered(r, ctx, 0);

    ngx_http_x402_hold_drop(ctx->held);
    ctx->held = NULL;
    ctx->held_last = NULL;

    if (status) {
        ctx->status = status;
        ctx->error = error;
    }

    /* the content's header goes: the refusal is answered like any other */

    ngx_http_clean_header(r);

    /* an error_page's "=code" of the content must not become the status */
    r->err_status = 0;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    /* sent, not finalized: the content's runner (the upstream, or
     * ngx_http_writer once it is over) ends the request */

    ctx->replacing = 1;
    rc = ngx_http_x402_answer(r, xlcf, ctx);
    ctx->replacing = 0;

    return (rc == NGX_OK || rc == NGX_AGAIN) ? rc : NGX_ERROR;
}


/*
 * A claimed payment-identifier learns its answer as the header goes out,
 * before the client can retry: kept when served (< 400), else let go.
 */

static void
ngx_http_x402_hold_answered(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t paid)
{
    if (ctx->pid_owned) {
        ngx_http_x402_pid_record(r, ctx, paid && r->headers_out.status
                                         < NGX_HTTP_BAD_REQUEST);
    }
}


/* The content's buffers, consumed for it to reuse. */

static void
ngx_http_x402_hold_drop(ngx_chain_t *cl)
{
    for ( /* void */ ; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->in_file) {
            cl->buf->file_pos = cl->buf->file_last;
        }
    }
}


/*
 * After a settlement ended outside the filters: whoever writes the
 * response now (the upstream, or ngx_http_writer once it is over) goes
 * on.  Inside the header filter (a settlement that ended at once) the
 * filter's caller goes on by itself.
 */

static void
ngx_http_x402_hold_wake(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_connection_t  *c;

    if (ctx->hold_inline) {
        ctx->hold_rc = (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
        return;
    }

    c = r->connection;

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);

    } else {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_x402_not_charged(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *why)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ngx_http_x402_unreserve(xmcf, ctx->key);
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_NOT_CHARGED);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment of %s not charged: %s (status %ui); its "
                  "reservation is released", ctx->payer, why,
                  r->headers_out.status);
}


/* A paid request that ended before its content answered is not charged. */

void
ngx_http_x402_hold_end(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    if (ctx->hold == NGX_HTTP_X402_HOLD_WAIT) {
        ctx->hold = NGX_HTTP_X402_HOLD_PASS;
        ngx_http_x402_not_charged(r, ctx, "no response was sent");
    }
}
