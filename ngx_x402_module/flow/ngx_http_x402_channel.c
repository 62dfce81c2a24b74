
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * A request paid on a batch-settlement channel (x402_scheme
 * batch-settlement), top to bottom:
 *
 *   start      the voucher decoded and verified locally (one signature
 *              recovery; a deposit's Permit2 signature too);
 *   reserved   Redis holds the channel for this request if the voucher is
 *              what was charged so far plus the price, within the balance
 *              (steps/ngx_http_x402_channel.c); a channel Redis does not
 *              know, read long ago, or whose balance looks short, is read
 *              from the chain first; one held by another request, or a
 *              voucher ahead of the charge (an earlier one on its way), is
 *              waited for; a voucher behind it is answered with the
 *              corrective 402 (the channel's state and the last voucher,
 *              for the client to resync);
 *   deposit    a deposit is simulated, then sent by the settler and waited
 *              for (a transaction of its own, settle.c), the channel read
 *              again from the chain;
 *   paid       served, PAYMENT-RESPONSE carrying the charge and the
 *              channel's state;
 *   headers    the charge committed as the response's header goes out
 *              with a status below 400; else (or with no response at all,
 *              the LOG phase) the channel let go uncharged.
 *
 * The vouchers are claimed later, many channels in one transaction
 * (flow/ngx_http_x402_claim.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_job.h"
#include "ngx_http_x402_channel.h"
#include "ngx_http_x402_channel_flow.h"


#define NGX_HTTP_X402_CH_BUSY_WAIT   10         /* ms: the first look */
#define NGX_HTTP_X402_CH_BUSY_MAX    200        /* ms: the longest between */
#define NGX_HTTP_X402_CH_DEPOSIT_GAS 300000


/* a request waiting: for a busy channel, or for its deposit's transaction */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_event_t                  ev;        /* busy: the next look */
    ngx_queue_t                  queue;     /* busy: in the waiting */
    unsigned                     queued:1;
    char                         key[NGX_HTTP_X402_CH_KEY_MAX];
} ngx_http_x402_ch_wait_t;


static void ngx_http_x402_channel_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_channel_let_go(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch, ngx_uint_t charge);
static void ngx_http_x402_channel_again(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_channel_busy(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_channel_look(ngx_event_t *ev);
static void ngx_http_x402_channel_corrective(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch);
static void ngx_http_x402_channel_deposit(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch);
static void ngx_http_x402_channel_simulated(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_deposit_mined(ngx_http_x402_job_t *job,
    ngx_str_t *body);
static void ngx_http_x402_deposit_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_deposit_done(ngx_http_x402_job_t *job,
    x402_reason reason, const char *error);
static void ngx_http_x402_channel_deposited(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_channel_paid(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch);
static void ngx_http_x402_channel_refuse(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch,
    x402_reason reason);


/*
 * Per worker: the requests waiting for a channel; one this worker lets go
 * wakes its waiters at once (others are looked at again on their timer).
 */
static ngx_queue_t  ngx_http_x402_channel_waiting;


static ngx_http_x402_job_hooks_t  ngx_http_x402_deposit_hooks = {
    ngx_http_x402_job_record_owed,  /* it lands even if its request left */
    ngx_http_x402_deposit_mined,
    ngx_http_x402_deposit_end
};


/*
 * The payment header of a batch-settlement request.  NGX_AGAIN: parked;
 * NGX_OK: the verdict is in ctx (a local refusal).
 */

ngx_int_t
ngx_http_x402_channel_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *header)
{
    x402_err                   err;
    ngx_int_t                  rc;
    x402_reason                reason;
    const char                *field;
    ngx_http_x402_channel_t   *ch;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (ctx->channel != NULL
        && ((ngx_http_x402_channel_t *) ctx->channel)->held)
    {
        /* an internal redirect to another channel location */
        ngx_http_x402_channel_let_go(r, ctx->channel, 0);
    }

    ch = ngx_pcalloc(r->pool, sizeof(ngx_http_x402_channel_t));
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ctx->channel = ch;
    ctx->reason = X402_R_PAYMENT_REQUIRED;

    err = x402_channel_payment_decode_header(&ch->pay, &field,
                                             (const char *) header->data,
                                             header->len);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: undecodable PAYMENT-SIGNATURE: %s%s%s",
                      x402_strerror(err), field && *field ? " at " : "",
                      field ? field : "");
        return NGX_OK;
    }

    ctx->decoded = 1;
    ctx->payment.from = ch->pay.config.payer;
    x402_address_format((char *) ctx->payer, &ch->pay.config.payer);

    reason = x402_channel_verify_local(xmcf->x402, ch->id, &ctx->offer,
                                       &ch->pay, (uint64_t) ngx_time(),
                                       (uint64_t) xlcf->settle_margin);

    /* the settler pays each deposit's gas: not for less than announced */

    if (reason == X402_R_VALID && ch->pay.type == X402_CHANNEL_DEPOSIT
        && ctx->offer.has_min_deposit
        && x402_u256_cmp(&ch->pay.deposit_amount, &ctx->offer.min_deposit)
           < 0)
    {
        reason = X402_R_BS_DEPOSIT_BELOW_MIN;
    }

    if (reason != X402_R_VALID) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: channel payment of %s refused: %s",
                      ctx->payer, x402_reason_string(reason));
        ctx->reason = reason;
        return NGX_OK;
    }

    x402_hex_encode(ch->id_hex, ch->id, 32);
    ngx_snprintf((u_char *) ch->key, sizeof(ch->key),
                 NGX_HTTP_X402_CH_PREFIX "%uL:%s%Z", ctx->offer.chain_id,
                 ch->id_hex);
    ch->price = ctx->offer.amount;
    ctx->payment.amount = ch->price;

    rc = ngx_http_x402_channel_reserve(r, ctx, ch,
                                       ngx_http_x402_channel_reserved);
    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error = "payment reservation unavailable";

    return NGX_OK;
}


static void
ngx_http_x402_channel_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_channel_t  *ch;

    ch = ctx->channel;

    if (ctx->status) {
        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    switch (ch->verdict) {

    case NGX_HTTP_X402_CH_OK:
        if (ch->pay.type == X402_CHANNEL_DEPOSIT) {
            ngx_http_x402_channel_deposit(r, ctx, ch);
            return;
        }

        ngx_http_x402_channel_paid(r, ctx, ch);
        return;

    case NGX_HTTP_X402_CH_BUSY:
    case NGX_HTTP_X402_CH_AHEAD:
        /* another request holds the channel, or an earlier voucher of it
           (a client that pipelines) has not arrived yet: waited for */
        ngx_http_x402_channel_busy(r, ctx);
        return;

    case NGX_HTTP_X402_CH_MISMATCH:
        ngx_http_x402_channel_corrective(r, ctx, ch);
        return;

    case NGX_HTTP_X402_CH_UNKNOWN:
    case NGX_HTTP_X402_CH_STALE:
    case NGX_HTTP_X402_CH_EXCEEDS:
        /* a channel new here, one read long ago (a withdrawal), or a
           deposit Redis has not seen */
        if (!ch->read) {
            if (ngx_http_x402_channel_read(r, ctx, ch,
                                           ngx_http_x402_channel_again)
                != NGX_AGAIN)
            {
                ngx_http_x402_fail(r, ctx, "payment verification "
                                           "unavailable");
            }

            return;
        }

        ngx_http_x402_channel_refuse(r, ctx, ch,
                                     ch->verdict == NGX_HTTP_X402_CH_EXCEEDS
                                     ? X402_R_BS_CUMULATIVE_EXCEEDS_BALANCE
                                     : X402_R_BS_CHANNEL_NOT_FOUND);
        return;

    default:
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }
}


/* The channel read from the chain: the voucher again. */

static void
ngx_http_x402_channel_again(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    if (ctx->status) {
        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    if (ngx_http_x402_channel_reserve(r, ctx, ctx->channel,
                                      ngx_http_x402_channel_reserved)
        != NGX_AGAIN)
    {
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
    }
}


/*
 * Another request holds the channel, or the voucher is ahead of the
 * charge: looked at again, less and less often.  Past half of
 * x402_timeout the request is refused: a busy channel with
 * invalid_batch_settlement_evm_channel_busy (the client may retry), a
 * voucher still ahead with the corrective 402 (the client's base is off).
 */

static void
ngx_http_x402_channel_busy(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_channel_t    *ch;
    ngx_http_x402_ch_wait_t    *w;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    ch = ctx->channel;

    if (ch->busy_since == 0) {
        ch->busy_since = ngx_current_msec;
        ch->busy_wait = NGX_HTTP_X402_CH_BUSY_WAIT;

    } else if (ngx_current_msec - ch->busy_since >= xmcf->timeout / 2) {
        if (ch->verdict == NGX_HTTP_X402_CH_AHEAD) {
            ngx_http_x402_channel_corrective(r, ctx, ch);

        } else {
            ngx_http_x402_channel_refuse(r, ctx, ch, X402_R_BS_CHANNEL_BUSY);
        }

        return;

    } else {
        ch->busy_wait = ngx_min(2 * ch->busy_wait, NGX_HTTP_X402_CH_BUSY_MAX);
    }

    w = ngx_calloc(sizeof(ngx_http_x402_ch_wait_t), r->connection->log);
    if (w == NULL) {
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    w->op.request = r;
    w->op.ctx = ctx;
    w->ev.handler = ngx_http_x402_channel_look;
    w->ev.data = w;
    w->ev.log = ngx_cycle->log;
    w->ev.cancelable = 1;
    ngx_memcpy(w->key, ch->key, sizeof(w->key));

    if (ngx_http_x402_channel_waiting.next == NULL) {
        ngx_queue_init(&ngx_http_x402_channel_waiting);
    }

    ngx_queue_insert_tail(&ngx_http_x402_channel_waiting, &w->queue);
    w->queued = 1;

    /* still parked: its deadline runs on */
    ctx->op = &w->op;
    ctx->state = NGX_HTTP_X402_REDIS;

    ngx_add_timer(&w->ev, ch->busy_wait);
}


static void
ngx_http_x402_channel_look(ngx_event_t *ev)
{
    ngx_http_x402_ch_wait_t *w = ev->data;

    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    if (w->queued) {
        ngx_queue_remove(&w->queue);
    }

    r = ngx_http_x402_op_finish(&w->op, &ctx);

    if (r != NULL) {
        ngx_http_x402_channel_again(r, ctx);
    }
}


/*
 * The channel is charged or let go: this worker's requests waiting for it
 * look again now (their reservation goes to Redis after this command, on
 * the same connection).
 */

static void
ngx_http_x402_channel_let_go(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch, ngx_uint_t charge)
{
    ngx_queue_t              *q;
    ngx_http_x402_ch_wait_t  *w;

    if (charge) {
        ngx_http_x402_channel_commit(r, ch);

    } else {
        ngx_http_x402_channel_release(r, ch);
    }

    if (ngx_http_x402_channel_waiting.next == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_x402_channel_waiting);
         q != ngx_queue_sentinel(&ngx_http_x402_channel_waiting);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_x402_ch_wait_t, queue);

        if (ngx_strcmp(w->key, ch->key) == 0 && w->ev.timer_set) {
            ngx_del_timer(&w->ev);
            ngx_add_timer(&w->ev, 1);
        }
    }
}


/*
 * The client's voucher is not the charge so far plus the price: 402 with
 * the channel's state and the last voucher it signed, which the official
 * client verifies, adopts and retries with.
 */

static void
ngx_http_x402_channel_corrective(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch)
{
    size_t                     len;
    x402_err                   err;
    x402_channel_state         st;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    ngx_http_x402_channel_state(ch, &st, &ch->charged);

    len = xlcf->accepts_json.len + 4 * X402_SIGNATURE_MAX + 2048;

    ctx->accepts.data = ngx_pnalloc(r->pool, len);
    if (ctx->accepts.data == NULL) {
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    err = x402_channel_accepts_encode((char *) ctx->accepts.data, &len,
                                      &ctx->offer, &st,
                                      ch->sig_len ? &ch->signed_max : NULL,
                                      ch->sig, ch->sig_len);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot encode the channel's state: %s",
                      x402_strerror(err));
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    ctx->accepts.len = len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: channel 0x%s of %s: the voucher is not what was "
                  "charged so far plus the price: the channel's state sent",
                  ch->id_hex, ctx->payer);

    ngx_http_x402_finish(r, ctx, X402_R_BS_CUMULATIVE_MISMATCH);
}


/*
 * A deposit: simulated from the settler (the Permit2 transfer, the
 * collector, the contract's checks), then sent, and waited for.
 */

static void
ngx_http_x402_channel_deposit(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch)
{
    size_t                      len;
    u_char                     *buf;
    ngx_int_t                   rc;
    const uint8_t              *data[1];
    ngx_http_x402_job_t        *job;
    ngx_http_x402_ch_wait_t    *w;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    w = ngx_calloc(sizeof(ngx_http_x402_ch_wait_t), r->connection->log);
    if (w == NULL) {
        goto failed;
    }

    job = ngx_http_x402_settle_call(xmcf, &ctx->offer,
                                    &x402_batch_settlement_address,
                                    &ngx_http_x402_deposit_hooks, w);
    if (job == NULL) {
        ngx_free(w);
        goto failed;
    }

    ngx_snprintf((u_char *) job->key, sizeof(job->key),
                 "the deposit of %s into channel 0x%s%Z", ctx->payer,
                 ch->id_hex);

    job->data = ngx_alloc(X402_CHANNEL_DEPOSIT_MAX, ngx_cycle->log);
    job->data_len = X402_CHANNEL_DEPOSIT_MAX;
    job->gas_limit = NGX_HTTP_X402_CH_DEPOSIT_GAS;

    if (job->data == NULL
        || x402_abi_channel_deposit(job->data, &job->data_len, &ch->pay)
           != X402_OK)
    {
        if (job->data == NULL) {
            job->data = job->calldata;
        }

        ngx_http_x402_job_free(job);
        ngx_free(w);
        goto failed;
    }

    len = 2 * job->data_len + 1024;
    buf = ngx_alloc(len, ngx_cycle->log);
    data[0] = job->data;

    rc = (buf != NULL
          && x402_rpc_calls_request((char *) buf, &len, &job->acct->address,
                                    job->gas_limit,
                                    &x402_batch_settlement_address, data,
                                    &job->data_len, 1, 1)
             == X402_OK)
         ? ngx_http_x402_job_rpc(job, buf, len,
                                 ngx_http_x402_channel_simulated)
         : NGX_ERROR;

    if (buf != NULL) {
        ngx_free(buf);
    }

    if (rc != NGX_OK) {
        ngx_http_x402_job_free(job);
        ngx_free(w);
        goto failed;
    }

    w->op.request = r;
    w->op.ctx = ctx;
    ctx->op = &w->op;
    ngx_http_x402_settle_wait(r, ctx, 0);

    return;

failed:

    ngx_http_x402_channel_let_go(r, ch, 0);
    ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
}


static void
ngx_http_x402_channel_simulated(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    u_char             sel[9];
    x402_call_result   res;

    if (rc != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_calls_parse(&res, NULL, 0, 1, (const char *) body->data,
                                body->len, 1)
           != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s: RPC node failed: %s", job->key,
                      err ? err : "unexpected reply");
        ngx_http_x402_deposit_done(job, X402_R_PAYMENT_REQUIRED,
                                   "payment settlement unavailable");
        return;
    }

    if (!res.ok) {
        sel[0] = '\0';

        if (res.has_revert) {
            x402_hex_encode((char *) sel, res.revert, 4);
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: %s would revert (0x%s): refused", job->key,
                      sel[0] ? sel : (u_char *) "no reason");
        ngx_http_x402_deposit_done(job, X402_R_BS_DEPOSIT_SIMULATION_FAILED,
                                   NULL);
        return;
    }

    if (ngx_http_x402_job_fees(job) != NGX_OK) {
        ngx_http_x402_deposit_done(job, X402_R_PAYMENT_REQUIRED,
                                   "payment settlement unavailable");
    }
}


static void
ngx_http_x402_deposit_mined(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    if (!ngx_http_x402_job_mined_ok(job, body)) {
        ngx_http_x402_deposit_done(job, X402_R_BS_DEPOSIT_TRANSACTION_FAILED,
                                   NULL);
        return;
    }

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CH_DEPOSITS);
    ngx_http_x402_deposit_done(job, X402_R_VALID, NULL);
}


static void
ngx_http_x402_deposit_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: %s: %s%s%s", job->key,
                  reason ? reason : "not settled",
                  job->tx[0] ? ", sent as " : "",
                  job->tx[0] ? (char *) job->tx : "");

    if (outcome == NGX_HTTP_X402_FAILED) {
        ngx_http_x402_deposit_done(job, X402_R_BS_DEPOSIT_TRANSACTION_FAILED,
                                   NULL);
        return;
    }

    /* not seen mined in time (it may still be), or never sent */
    ngx_http_x402_deposit_done(job, X402_R_PAYMENT_REQUIRED,
                               job->tx[0] ? "payment settlement pending"
                                          : "payment settlement unavailable");
}


/*
 * The deposit's end for its request: served once the channel is read
 * again (its balance now the chain's), else refused and the channel let
 * go.  The job is freed.
 */

static void
ngx_http_x402_deposit_done(ngx_http_x402_job_t *job, x402_reason reason,
    const char *error)
{
    ngx_http_x402_ch_wait_t *w = job->hook_data;

    u_char                    tx[67];
    ngx_http_request_t       *r;
    ngx_http_x402_ctx_t      *ctx;
    ngx_http_x402_channel_t  *ch;

    ngx_memcpy(tx, job->tx, sizeof(tx));
    ngx_http_x402_job_free(job);

    r = ngx_http_x402_op_finish(&w->op, &ctx);

    if (r == NULL) {
        /* the client left: the hold runs out on its own */
        return;
    }

    ch = ctx->channel;

    if (reason != X402_R_VALID) {
        ngx_http_x402_channel_let_go(r, ch, 0);

        if (error != NULL) {
            ngx_http_x402_fail(r, ctx, error);
            return;
        }

        ngx_http_x402_finish(r, ctx, reason);
        return;
    }

    ngx_memcpy(ch->tx, tx, sizeof(tx));

    if (ngx_http_x402_channel_read(r, ctx, ch,
                                   ngx_http_x402_channel_deposited)
        != NGX_AGAIN)
    {
        ngx_http_x402_channel_let_go(r, ch, 0);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
    }
}


static void
ngx_http_x402_channel_deposited(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_channel_t  *ch;

    ch = ctx->channel;

    if (ctx->status) {
        ngx_http_x402_channel_let_go(r, ch, 0);
        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    if (x402_u256_cmp(&ch->pay.max_claimable, &ch->balance) > 0) {
        ngx_http_x402_channel_let_go(r, ch, 0);
        ngx_http_x402_channel_refuse(r, ctx, ch,
                                     X402_R_BS_CUMULATIVE_EXCEEDS_BALANCE);
        return;
    }

    ngx_http_x402_channel_paid(r, ctx, ch);
}


/* Served: PAYMENT-RESPONSE with the charge and the channel's state. */

static void
ngx_http_x402_channel_paid(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch)
{
    char                 json[1024];
    size_t               len;
    x402_u256            total;
    x402_channel_state   st;

    len = sizeof(json);

    if (x402_u256_add(&total, &ch->charged, &ch->price) != X402_OK) {
        goto failed;
    }

    ngx_http_x402_channel_state(ch, &st, &total);

    if (x402_channel_settle_response_encode(json, &len, ctx->offer.chain_id,
                                            &ch->pay.config.payer,
                                            ch->tx[0] ? (char *) ch->tx
                                                      : NULL,
                                            ch->tx[0]
                                            ? &ch->pay.deposit_amount : NULL,
                                            &ch->price, &st)
        != X402_OK)
    {
        goto failed;
    }

    ctx->payment_response.data = ngx_pnalloc(r->pool,
                                             x402_base64_encoded_len(len)
                                             + 1);
    if (ctx->payment_response.data == NULL
        || x402_base64_encode((char *) ctx->payment_response.data,
                              x402_base64_encoded_len(len) + 1,
                              (const uint8_t *) json, len)
           != X402_OK)
    {
        goto failed;
    }

    ctx->payment_response.len = x402_base64_encoded_len(len);

    if (ch->tx[0]) {
        ngx_memcpy(ctx->tx, ch->tx, sizeof(ctx->tx));
    }

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CH_VOUCHERS);
    ngx_http_x402_finish(r, ctx, X402_R_VALID);

    return;

failed:

    ngx_http_x402_channel_let_go(r, ch, 0);
    ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
}


static void
ngx_http_x402_channel_refuse(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch, x402_reason reason)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: channel 0x%s of %s refused: %s", ch->id_hex,
                  ctx->payer, x402_reason_string(reason));

    ngx_http_x402_finish(r, ctx, reason);
}


/*
 * The response's header is going out: a success (status below 400) is
 * charged now, whatever happens to its body; a failure lets the channel go
 * uncharged, and says nothing of a charge (no PAYMENT-RESPONSE).
 */

void
ngx_http_x402_channel_headers(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_uint_t                i;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h;
    ngx_http_x402_channel_t  *ch;

    ch = ctx->channel;

    if (ch == NULL || !ch->held) {
        return;
    }

    if (ctx->paid && r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        ngx_http_x402_channel_let_go(r, ch, 1);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: channel 0x%s of %s not charged: the response "
                  "failed (%ui)", ch->id_hex, ctx->payer,
                  r->headers_out.status);

    ngx_http_x402_channel_let_go(r, ch, 0);

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("PAYMENT-RESPONSE") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "PAYMENT-RESPONSE",
                               h[i].key.len)
               == 0)
        {
            h[i].hash = 0;
        }
    }
}


/* The request's end (LOG phase): no response went out, nothing charged. */

void
ngx_http_x402_channel_end(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_channel_t  *ch;

    ch = ctx->channel;

    if (ch == NULL || !ch->held) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: channel 0x%s of %s not charged: no response went "
                  "out", ch->id_hex, ctx->payer);

    ngx_http_x402_channel_let_go(r, ch, 0);
}
