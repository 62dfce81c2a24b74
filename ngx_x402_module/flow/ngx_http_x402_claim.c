
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The claimer of batch-settlement channels: in every worker, each second,
 *
 *   claims    the channels due (their value unclaimed for
 *             x402_claim_interval, or a withdrawal begun), at most
 *             NGX_HTTP_X402_CLAIM_ROWS at a time, each leased so no other
 *             worker or node takes it: their highest vouchers in one
 *             claim(VoucherClaim[]) transaction from the settler (the
 *             channels' receiverAuthorizer), simulated first; a row that
 *             would revert is left out (and logged), the rest go;
 *   sweeps    once a claim is mined, settle(receiver, token): what it
 *             claimed, transferred to the receiver (x402_pay_to);
 *   watches   the contract's WithdrawInitiated logs (one worker of all
 *             nodes at a time, by a lease in Redis): a channel Redis knows
 *             counts on what the withdrawal leaves, and is claimed now.
 *
 * A claim is cumulative on chain (a row claims up to a total, once), so a
 * claim sent twice claims nothing twice; one not mined is taken again when
 * its lease runs out.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_job.h"
#include "ngx_http_x402_channel.h"
#include "ngx_http_x402_claim.h"


#define NGX_HTTP_X402_CLAIM_TICK      1000      /* ms */
#define NGX_HTTP_X402_CLAIM_ROWS      100
#define NGX_HTTP_X402_CLAIM_GAS_BASE  60000
#define NGX_HTTP_X402_CLAIM_GAS_ROW   60000
#define NGX_HTTP_X402_SWEEP_GAS       150000
#define NGX_HTTP_X402_WATCH_LEASE     5000      /* ms */
#define NGX_HTTP_X402_WATCH_BACK      10000     /* blocks, the first time */
#define NGX_HTTP_X402_WATCH_LOGS      1024
#define NGX_HTTP_X402_WATCH_SPAN      1000      /* blocks a read, at most */

#define NGX_HTTP_X402_WATCH_KEY       "x402:ch:watch:"
#define NGX_HTTP_X402_WBLOCK_KEY      "x402:ch:wblock:"


/* one claim transaction, its rows */
typedef struct {
    ngx_http_x402_main_conf_t   *xmcf;
    ngx_uint_t                   n;         /* rows in the transaction */
    ngx_uint_t                   ngone;     /* after them: rows written off */
    ngx_uint_t                   all;
    x402_channel_claim          *rows;
    uint8_t                     *sigs;      /* X402_SIGNATURE_MAX each */
    char                       **ids;       /* 64 hex digits each */
    char                       **totals;    /* decimal */
    char                        *text;      /* what ids and totals point in */
    char                        *caps;      /* totals cut to the balance */
    x402_u256                   *before;    /* claimed, as Redis knew it */
    u_char                      *final;     /* claimed all it ever will be */
    u_char                      *ok;        /* its simulation passed */
} ngx_http_x402_claim_t;


/* a sweep: settle(receiver, token) */
typedef struct {
    ngx_http_x402_main_conf_t   *xmcf;
} ngx_http_x402_sweep_t;


static void ngx_http_x402_claim_tick(ngx_event_t *ev);
static void ngx_http_x402_claim_due(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_claim_rows(ngx_http_x402_claim_t *cl,
    redisReply *reply);
static ngx_int_t ngx_http_x402_claim_calldata(ngx_http_x402_job_t *job,
    ngx_http_x402_claim_t *cl);
static ngx_int_t ngx_http_x402_claim_simulate(ngx_http_x402_job_t *job,
    ngx_uint_t each);
static void ngx_http_x402_claim_simulated(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_claim_each(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_claim_read(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_claim_row(ngx_http_x402_claim_t *cl, ngx_uint_t i,
    uint8_t *state);
static void ngx_http_x402_claim_go(ngx_http_x402_job_t *job);
static void ngx_http_x402_claim_swap(ngx_http_x402_claim_t *cl,
    ngx_uint_t a, ngx_uint_t b);
static void ngx_http_x402_claim_mined(ngx_http_x402_job_t *job,
    ngx_str_t *body);
static void ngx_http_x402_claim_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_claim_send(ngx_http_x402_job_t *job);
static x402_call_result *ngx_http_x402_claim_results(
    ngx_http_x402_job_t *job, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err, ngx_uint_t n, size_t ret_size);
static void ngx_http_x402_claim_amounts(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_claim_t *cl);
static void ngx_http_x402_claim_done(ngx_http_x402_job_t *job);
static void ngx_http_x402_claim_free(ngx_http_x402_claim_t *cl);
static void ngx_http_x402_sweep(ngx_http_x402_claim_t *cl);
static void ngx_http_x402_sweep_mined(ngx_http_x402_job_t *job,
    ngx_str_t *body);
static void ngx_http_x402_sweep_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_watch(ngx_http_x402_main_conf_t *xmcf);
static void ngx_http_x402_watch_leased(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_watch_head(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_watch_logs(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);


static ngx_http_x402_job_hooks_t  ngx_http_x402_claim_hooks = {
    ngx_http_x402_job_record_owed,  /* a claim is idempotent */
    ngx_http_x402_claim_mined,
    ngx_http_x402_claim_end
};

static ngx_http_x402_job_hooks_t  ngx_http_x402_sweep_hooks = {
    ngx_http_x402_job_record_owed,
    ngx_http_x402_sweep_mined,
    ngx_http_x402_sweep_end
};


/* Where each worker's claimer starts (init_process). */

void
ngx_http_x402_claim_init(ngx_cycle_t *cycle, ngx_http_x402_main_conf_t *xmcf)
{
    if (xmcf->claim_tick == 0 || !xmcf->has_settler) {
        return;
    }

    xmcf->claim_ev.handler = ngx_http_x402_claim_tick;
    xmcf->claim_ev.data = xmcf;
    xmcf->claim_ev.log = cycle->log;
    xmcf->claim_ev.cancelable = 1;

    ngx_add_timer(&xmcf->claim_ev, NGX_HTTP_X402_CLAIM_TICK);
}


static void
ngx_http_x402_claim_tick(ngx_event_t *ev)
{
    ngx_http_x402_main_conf_t *xmcf = ev->data;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    ngx_add_timer(&xmcf->claim_ev, NGX_HTTP_X402_CLAIM_TICK);

    if (!xmcf->watching) {
        ngx_http_x402_watch(xmcf);
    }

    if (xmcf->claiming) {
        return;
    }

    /* leased for as long as its claim may run (its job's guard) */
    if (ngx_http_x402_channel_due(xmcf, xmcf->chain_id,
                                  NGX_HTTP_X402_CLAIM_ROWS,
                                  ngx_http_x402_settler_bound(xmcf)
                                  + 2 * xmcf->rpc_timeout,
                                  ngx_http_x402_claim_due, xmcf)
        == NGX_OK)
    {
        xmcf->claiming = 1;
    }
}


static void
ngx_http_x402_claim_due(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_main_conf_t *xmcf = data;

    ngx_http_x402_job_t    *job;
    ngx_http_x402_claim_t  *cl;

    if (ngx_exiting || ngx_terminate) {
        /* leased: another worker claims them when the lease runs out */
        xmcf->claiming = 0;
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "x402: channels due for a claim could not be "
                          "read: %s", reply ? reply->str : err);
        }

        xmcf->claiming = 0;
        return;
    }

    if (reply->elements == 0) {
        xmcf->claiming = 0;
        return;
    }

    cl = ngx_calloc(sizeof(ngx_http_x402_claim_t), ngx_cycle->log);
    if (cl == NULL) {
        xmcf->claiming = 0;
        return;
    }

    cl->xmcf = xmcf;

    if (ngx_http_x402_claim_rows(cl, reply) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: channels due for a claim: unexpected record");
        ngx_http_x402_claim_free(cl);
        xmcf->claiming = 0;
        return;
    }

    job = ngx_http_x402_settle_call(xmcf, NULL, &x402_batch_settlement_address,
                                    &ngx_http_x402_claim_hooks, cl);

    if (job == NULL || ngx_http_x402_claim_calldata(job, cl) != NGX_OK
        || ngx_http_x402_claim_simulate(job, 0) != NGX_OK)
    {
        if (job != NULL) {
            job->hook_data = NULL;
            ngx_http_x402_job_free(job);
        }

        ngx_http_x402_claim_free(cl);
        xmcf->claiming = 0;
    }
}


/* id, cfg, sgn, sig, chg per channel, into the claim's rows */

static ngx_int_t
ngx_http_x402_claim_rows(ngx_http_x402_claim_t *cl, redisReply *reply)
{
    char         *p;
    size_t        n, i, len, room;
    uint8_t       cfg[224];
    redisReply  **e;

    if (reply->elements % 6) {
        return NGX_ERROR;
    }

    n = reply->elements / 6;
    room = 0;

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        room += reply->element[i]->len + 1;
    }

    cl->rows = ngx_calloc(n * sizeof(x402_channel_claim), ngx_cycle->log);
    cl->sigs = ngx_alloc(n * X402_SIGNATURE_MAX, ngx_cycle->log);
    cl->ids = ngx_alloc(2 * n * sizeof(char *), ngx_cycle->log);
    cl->text = ngx_alloc(room, ngx_cycle->log);
    cl->caps = ngx_alloc(n * X402_U256_DEC_MAX, ngx_cycle->log);
    cl->final = ngx_calloc(2 * n, ngx_cycle->log);
    cl->before = ngx_alloc(n * sizeof(x402_u256), ngx_cycle->log);

    if (cl->rows == NULL || cl->sigs == NULL || cl->ids == NULL
        || cl->text == NULL || cl->caps == NULL || cl->final == NULL
        || cl->before == NULL)
    {
        return NGX_ERROR;
    }

    cl->ok = cl->final + n;

    cl->totals = cl->ids + n;
    p = cl->text;

    for (i = 0; i < n; i++) {
        e = &reply->element[6 * i];

        cl->ids[i] = p;
        p = (char *) ngx_cpymem(p, e[0]->str, e[0]->len);
        *p++ = '\0';
        cl->totals[i] = p;
        p = (char *) ngx_cpymem(p, e[4]->str, e[4]->len);
        *p++ = '\0';

        len = sizeof(cfg);

        if (x402_hex_decode(cfg, &len, e[1]->str, e[1]->len) != X402_OK
            || x402_channel_config_decode(&cl->rows[i].config, cfg, len)
               != X402_OK
            || x402_u256_parse_dec(&cl->rows[i].max_claimable, e[2]->str,
                                   e[2]->len)
               != X402_OK
            || x402_u256_parse_dec(&cl->rows[i].total_claimed, e[4]->str,
                                   e[4]->len)
               != X402_OK
            || x402_u256_parse_dec(&cl->before[i], e[5]->str, e[5]->len)
               != X402_OK)
        {
            return NGX_ERROR;
        }

        len = X402_SIGNATURE_MAX;

        if (x402_hex_decode(cl->sigs + i * X402_SIGNATURE_MAX, &len,
                            e[3]->str, e[3]->len)
            != X402_OK)
        {
            return NGX_ERROR;
        }

        cl->rows[i].signature = cl->sigs + i * X402_SIGNATURE_MAX;
        cl->rows[i].signature_len = len;
    }

    cl->n = n;
    cl->all = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_claim_calldata(ngx_http_x402_job_t *job,
    ngx_http_x402_claim_t *cl)
{
    size_t  len;

    len = x402_abi_channel_claim_len(cl->rows, cl->n);

    if (job->data != job->calldata) {
        ngx_free(job->data);
    }

    job->data = ngx_alloc(len, ngx_cycle->log);

    if (job->data == NULL
        || x402_abi_channel_claim(job->data, &len, cl->rows, cl->n)
           != X402_OK)
    {
        if (job->data == NULL) {
            job->data = job->calldata;
        }

        return NGX_ERROR;
    }

    job->data_len = len;
    job->gas_limit = NGX_HTTP_X402_CLAIM_GAS_BASE
                     + cl->n * NGX_HTTP_X402_CLAIM_GAS_ROW;

    ngx_snprintf((u_char *) job->key, sizeof(job->key),
                 "the claim of %ui channel%s%Z", cl->n,
                 cl->n == 1 ? "" : "s");

    return NGX_OK;
}


/*
 * The claim simulated from the settler: whole, or each row alone (to leave
 * out the rows that revert).
 */

static ngx_int_t
ngx_http_x402_claim_simulate(ngx_http_x402_job_t *job, ngx_uint_t each)
{
    size_t                  len, *lens, total;
    u_char                 *buf;
    uint8_t               **calls;
    ngx_int_t               rc;
    ngx_uint_t              i, n;
    ngx_http_x402_claim_t  *cl;

    cl = job->hook_data;
    n = each ? cl->n : 1;

    lens = ngx_alloc(n * (sizeof(size_t) + sizeof(uint8_t *)),
                     ngx_cycle->log);
    if (lens == NULL) {
        return NGX_ERROR;
    }

    calls = (uint8_t **) (lens + n);
    total = 0;

    for (i = 0; i < n; i++) {
        calls[i] = NULL;
        lens[i] = 0;
    }

    rc = NGX_OK;

    if (!each) {
        calls[0] = job->data;
        lens[0] = job->data_len;
    }

    for (i = 0; each && i < n; i++) {
        lens[i] = x402_abi_channel_claim_len(&cl->rows[i], 1);
        calls[i] = ngx_alloc(lens[i], ngx_cycle->log);

        if (calls[i] == NULL
            || x402_abi_channel_claim(calls[i], &lens[i], &cl->rows[i], 1)
               != X402_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    for (i = 0; i < n; i++) {
        total += 2 * lens[i] + 256;
    }

    buf = (rc == NGX_OK) ? ngx_alloc(total + 64, ngx_cycle->log) : NULL;
    len = total + 64;

    rc = (buf != NULL
          && x402_rpc_calls_request((char *) buf, &len,
                                    &job->acct->address,
                                    each ? NGX_HTTP_X402_CLAIM_GAS_BASE
                                           + NGX_HTTP_X402_CLAIM_GAS_ROW
                                         : job->gas_limit,
                                    &x402_batch_settlement_address,
                                    (const uint8_t *const *) calls, lens, n,
                                    1)
             == X402_OK)
         ? ngx_http_x402_job_rpc(job, buf, len,
                                 each ? ngx_http_x402_claim_each
                                      : ngx_http_x402_claim_simulated)
         : NGX_ERROR;

    if (buf != NULL) {
        ngx_free(buf);
    }

    for (i = 0; each && i < n; i++) {
        if (calls[i] != NULL) {
            ngx_free(calls[i]);
        }
    }

    ngx_free(lens);

    return rc;
}


static void
ngx_http_x402_claim_simulated(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    ngx_uint_t         ok;
    x402_call_result  *res;

    res = ngx_http_x402_claim_results(job, rc, status, body, err, 1, 0);
    if (res == NULL) {
        return;
    }

    ok = res->ok;
    ngx_free(res);

    if (!ok) {
        /* which rows: each alone */
        if (ngx_http_x402_claim_simulate(job, 1) != NGX_OK) {
            ngx_http_x402_claim_done(job);
        }

        return;
    }

    ngx_http_x402_claim_send(job);
}


static void
ngx_http_x402_claim_each(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    size_t                  len, idlen, *lens;
    u_char                  sel[9], *buf;
    uint8_t                *calls, id[32];
    ngx_uint_t              i, k, n;
    x402_call_result       *res;
    const uint8_t         **reads;
    ngx_http_x402_claim_t  *cl;

    cl = job->hook_data;

    res = ngx_http_x402_claim_results(job, rc, status, body, err, cl->n, 0);
    if (res == NULL) {
        return;
    }

    for (i = 0, n = 0; i < cl->n; i++) {
        cl->ok[i] = (u_char) res[i].ok;

        if (res[i].ok) {
            continue;
        }

        n++;
        sel[0] = '\0';

        if (res[i].has_revert) {
            x402_hex_encode((char *) sel, res[i].revert, 4);
        }

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: channel 0x%s cannot be claimed to %s (revert "
                      "0x%s): its state is read from the chain", cl->ids[i],
                      cl->totals[i], sel[0] ? sel : (u_char *) "none");
    }

    ngx_free(res);

    if (n == 0) {
        ngx_http_x402_claim_go(job);
        return;
    }

    /* channels(id) of each that would revert: a withdrawal may have taken
       part of what it was charged */

    lens = ngx_alloc(n * (sizeof(size_t) + sizeof(uint8_t *) + 36),
                     ngx_cycle->log);
    if (lens == NULL) {
        ngx_http_x402_claim_done(job);
        return;
    }

    reads = (const uint8_t **) (lens + n);
    calls = (uint8_t *) (reads + n);

    for (i = 0, k = 0; i < cl->n; i++) {
        if (cl->ok[i]) {
            continue;
        }

        idlen = sizeof(id);

        if (x402_hex_decode(id, &idlen, cl->ids[i], ngx_strlen(cl->ids[i]))
            != X402_OK || idlen != 32)
        {
            ngx_memzero(id, sizeof(id));
        }

        x402_abi_channel_state(calls + k * 36, id);
        reads[k] = calls + k * 36;
        lens[k] = 36;
        k++;
    }

    len = n * 256 + 64;
    buf = ngx_alloc(len, ngx_cycle->log);

    rc = (buf != NULL
          && x402_rpc_calls_request((char *) buf, &len, NULL, 0,
                                    &x402_batch_settlement_address, reads,
                                    lens, n, 1)
             == X402_OK)
         ? ngx_http_x402_job_rpc(job, buf, len, ngx_http_x402_claim_read)
         : NGX_ERROR;

    if (buf != NULL) {
        ngx_free(buf);
    }

    ngx_free(lens);

    if (rc != NGX_OK) {
        ngx_http_x402_claim_done(job);
    }
}


/*
 * The chain's word on the rows that would revert: a row over its balance
 * (a withdrawal completed before its claim) is claimed as far as the
 * balance goes, once and for all; one with nothing left to claim is
 * written off; any other is left for its lease (and logged).
 */

static void
ngx_http_x402_claim_read(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    uint8_t                *state;
    ngx_uint_t              i, k, n;
    x402_call_result       *res;
    ngx_http_x402_claim_t  *cl;

    cl = job->hook_data;

    for (i = 0, n = 0; i < cl->n; i++) {
        n += !cl->ok[i];
    }

    res = ngx_http_x402_claim_results(job, rc, status, body, err, n, 64);
    if (res == NULL) {
        return;
    }

    state = (uint8_t *) (res + n);

    for (i = 0, k = 0; i < cl->n; i++) {
        if (!cl->ok[i]) {
            if (res[k].ok) {
                ngx_http_x402_claim_row(cl, i, state + 64 * k);
            }

            k++;
        }
    }

    ngx_free(res);

    ngx_http_x402_claim_go(job);
}


static void
ngx_http_x402_claim_row(ngx_http_x402_claim_t *cl, ngx_uint_t i,
    uint8_t *state)
{
    x402_u256            balance, claimed;
    x402_channel_claim  *row;

    row = &cl->rows[i];

    if (x402_channel_state_words(&balance, &claimed, state) != X402_OK
        || x402_u256_cmp(&balance, &row->total_claimed) >= 0)
    {
        /* not the balance: left for its lease */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: channel 0x%s cannot be claimed to %s although "
                      "its balance covers it: left out of the claim",
                      cl->ids[i], cl->totals[i]);
        return;
    }

    cl->final[i] = 1;

    if (x402_u256_cmp(&balance, &claimed) > 0) {
        row->total_claimed = balance;
        cl->ok[i] = 1;

    } else {
        /* written off: recorded as claimed where the chain is */
        balance = claimed;
    }

    x402_u256_format_dec(cl->caps + i * X402_U256_DEC_MAX, &balance);

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: channel 0x%s was charged %s but holds only %s "
                  "(a withdrawal completed before its claim): claimed to %s, "
                  "the rest is lost", cl->ids[i], cl->totals[i],
                  cl->caps + i * X402_U256_DEC_MAX,
                  cl->caps + i * X402_U256_DEC_MAX);

    cl->totals[i] = cl->caps + i * X402_U256_DEC_MAX;
}


/*
 * The rows that passed first (the claim), then those written off; the
 * others are left out.  Sent, or only recorded when nothing is to claim.
 */

static void
ngx_http_x402_claim_go(ngx_http_x402_job_t *job)
{
    ngx_uint_t              i, n, g, gone;
    ngx_http_x402_claim_t  *cl;

    cl = job->hook_data;

    /* compact: the rows claimed first, then those written off */

    for (i = 0, n = 0; i < cl->n; i++) {
        if (cl->ok[i]) {
            ngx_http_x402_claim_swap(cl, i, n++);
        }
    }

    for (i = n, g = n; i < cl->n; i++) {
        if (cl->final[i]) {
            ngx_http_x402_claim_swap(cl, i, g++);
        }
    }

    gone = g - n;
    cl->n = n;
    cl->ngone = gone;

    if (n == 0) {
        if (gone
            && ngx_http_x402_channel_claimed(cl->xmcf, cl->xmcf->chain_id,
                                             cl->xmcf->claim_tick, cl->ids,
                                             cl->totals, cl->final, gone)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "x402: %s: not recorded in redis", job->key);
        }

        ngx_http_x402_claim_done(job);
        return;
    }

    if (ngx_http_x402_claim_calldata(job, cl) != NGX_OK) {
        ngx_http_x402_claim_done(job);
        return;
    }

    ngx_http_x402_claim_send(job);
}


static void
ngx_http_x402_claim_swap(ngx_http_x402_claim_t *cl, ngx_uint_t a,
    ngx_uint_t b)
{
    u_char               f, ok;
    char                *id, *total;
    x402_u256            before;
    x402_channel_claim   row;

    before = cl->before[a];
    cl->before[a] = cl->before[b];
    cl->before[b] = before;

    row = cl->rows[a];
    id = cl->ids[a];
    total = cl->totals[a];
    f = cl->final[a];
    ok = cl->ok[a];

    cl->rows[a] = cl->rows[b];
    cl->ids[a] = cl->ids[b];
    cl->totals[a] = cl->totals[b];
    cl->final[a] = cl->final[b];
    cl->ok[a] = cl->ok[b];

    cl->rows[b] = row;
    cl->ids[b] = id;
    cl->totals[b] = total;
    cl->final[b] = f;
    cl->ok[b] = ok;
}


static void
ngx_http_x402_claim_mined(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    ngx_http_x402_claim_t  *cl;

    cl = job->hook_data;

    if (!ngx_http_x402_job_mined_ok(job, body)) {
        /* taken again when its lease runs out */
        ngx_http_x402_claim_done(job);
        return;
    }

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CH_CLAIMS);
    ngx_http_x402_stat_add(NGX_HTTP_X402_STAT_CH_CLAIMED, cl->n);
    ngx_http_x402_claim_amounts(job->xmcf, cl);

    if (ngx_http_x402_channel_claimed(job->xmcf, job->xmcf->chain_id,
                                      job->xmcf->claim_tick, cl->ids,
                                      cl->totals, cl->final,
                                      cl->n + cl->ngone)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s: not recorded in redis: claimed again "
                      "(for nothing) when its lease runs out", job->key);
    }

    ngx_http_x402_sweep(cl);
    ngx_http_x402_claim_done(job);
}


static void
ngx_http_x402_claim_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: %s: %s%s%s: taken again when its lease runs out",
                  job->key, reason ? reason : "not sent",
                  job->tx[0] ? ", sent as " : "",
                  job->tx[0] ? (char *) job->tx : "");

    ngx_http_x402_claim_done(job);
}


static void
ngx_http_x402_claim_send(ngx_http_x402_job_t *job)
{
    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0, "x402: sending %s",
                  job->key);

    if (ngx_http_x402_job_fees(job) != NGX_OK) {
        ngx_http_x402_claim_done(job);
    }
}


/*
 * The results of n simulated calls (and ret_size bytes each returned,
 * after them), or NULL when the node failed: the claim ends, logged.
 */

static x402_call_result *
ngx_http_x402_claim_results(ngx_http_x402_job_t *job, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err, ngx_uint_t n,
    size_t ret_size)
{
    x402_call_result  *res;

    res = ngx_alloc(n * (sizeof(x402_call_result) + ret_size),
                    ngx_cycle->log);

    if (res == NULL || rc != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_calls_parse(res, ret_size ? (uint8_t *) (res + n) : NULL,
                                ret_size, n, (const char *) body->data,
                                body->len, 1)
           != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s: RPC node failed: %s", job->key,
                      err ? err : "unexpected reply");

        if (res != NULL) {
            ngx_free(res);
        }

        ngx_http_x402_claim_done(job);
        return NULL;
    }

    return res;
}


/* What the claim claimed, channel by channel (as Redis knew them before). */

static void
ngx_http_x402_claim_amounts(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_claim_t *cl)
{
    x402_u256   delta;
    ngx_uint_t  i;

    for (i = 0; i < cl->n; i++) {
        if (x402_u256_sub(&delta, &cl->rows[i].total_claimed,
                          &cl->before[i])
            == X402_OK)
        {
            ngx_http_x402_stat_amount(NGX_HTTP_X402_AMOUNT_CHANNEL,
                                      xmcf->chain_id,
                                      &cl->rows[i].config.token, &delta);
        }
    }
}


static void
ngx_http_x402_claim_done(ngx_http_x402_job_t *job)
{
    ngx_http_x402_claim_t      *cl;
    ngx_http_x402_main_conf_t  *xmcf;

    cl = job->hook_data;
    xmcf = job->xmcf;

    job->hook_data = NULL;
    ngx_http_x402_job_free(job);

    if (cl != NULL) {
        ngx_http_x402_claim_free(cl);
    }

    xmcf->claiming = 0;
}


static void
ngx_http_x402_claim_free(ngx_http_x402_claim_t *cl)
{
    if (cl->rows != NULL) {
        ngx_free(cl->rows);
    }

    if (cl->sigs != NULL) {
        ngx_free(cl->sigs);
    }

    if (cl->ids != NULL) {
        ngx_free(cl->ids);
    }

    if (cl->text != NULL) {
        ngx_free(cl->text);
    }

    if (cl->caps != NULL) {
        ngx_free(cl->caps);
    }

    if (cl->final != NULL) {
        ngx_free(cl->final);
    }

    if (cl->before != NULL) {
        ngx_free(cl->before);
    }

    ngx_free(cl);
}


/* settle(receiver, token) for each pair the claim claimed for */

static void
ngx_http_x402_sweep(ngx_http_x402_claim_t *cl)
{
    ngx_uint_t            i, k;
    ngx_http_x402_job_t  *job;

    if (ngx_exiting || ngx_terminate) {
        /* the next claim sweeps it */
        return;
    }

    for (i = 0; i < cl->n; i++) {

        for (k = 0; k < i; k++) {
            if (x402_address_eq(&cl->rows[k].config.receiver,
                                &cl->rows[i].config.receiver)
                && x402_address_eq(&cl->rows[k].config.token,
                                   &cl->rows[i].config.token))
            {
                break;
            }
        }

        if (k < i) {
            continue;
        }

        job = ngx_http_x402_settle_call(cl->xmcf, NULL,
                                        &x402_batch_settlement_address,
                                        &ngx_http_x402_sweep_hooks, NULL);
        if (job == NULL) {
            return;
        }

        x402_abi_channel_settle(job->calldata, &cl->rows[i].config.receiver,
                                &cl->rows[i].config.token);
        job->data_len = 68;
        job->gas_limit = NGX_HTTP_X402_SWEEP_GAS;
        ngx_cpystrn((u_char *) job->key,
                    (u_char *) "the sweep of claimed channel value",
                    sizeof(job->key));

        if (ngx_http_x402_job_fees(job) != NGX_OK) {
            ngx_http_x402_job_free(job);
        }
    }
}


static void
ngx_http_x402_sweep_mined(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    if (ngx_http_x402_job_mined_ok(job, body)) {
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CH_SWEEPS);
    }

    ngx_http_x402_job_free(job);
}


static void
ngx_http_x402_sweep_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    /* the next claim sweeps what this one did not */
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "x402: %s: %s", job->key,
                  reason ? reason : "not sent");

    ngx_http_x402_job_free(job);
}


/*
 * Withdrawals: one watcher at a time over all nodes (a lease in Redis),
 * from the block after the last one read.
 */

static void
ngx_http_x402_watch(ngx_http_x402_main_conf_t *xmcf)
{
    char  watch[sizeof(NGX_HTTP_X402_WATCH_KEY) + 20],
          wblock[sizeof(NGX_HTTP_X402_WBLOCK_KEY) + 20],
          lease[NGX_INT64_LEN + 1], pid[NGX_INT64_LEN + 1];

    ngx_snprintf((u_char *) watch, sizeof(watch),
                 NGX_HTTP_X402_WATCH_KEY "%uL%Z", xmcf->chain_id);
    ngx_snprintf((u_char *) wblock, sizeof(wblock),
                 NGX_HTTP_X402_WBLOCK_KEY "%uL%Z", xmcf->chain_id);
    *ngx_sprintf((u_char *) lease, "%d", NGX_HTTP_X402_WATCH_LEASE) = '\0';
    *ngx_sprintf((u_char *) pid, "%P", ngx_pid) = '\0';

    if (ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log,
                                 ngx_http_x402_watch_leased, xmcf, "EVAL",
                                 "if redis.call('SET', KEYS[1], ARGV[1], "
                                 "'NX', 'PX', ARGV[2]) then "
                                 "return redis.call('GET', KEYS[2]) or '' "
                                 "end return false",
                                 "2", watch, wblock, pid, lease, NULL)
        == NGX_OK)
    {
        xmcf->watching = 1;
    }
}


static void
ngx_http_x402_watch_leased(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_main_conf_t *xmcf = data;

    size_t   len;
    u_char   buf[512];
    off_t    from;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        /* another watches now, or Redis is away */
        xmcf->watching = 0;
        return;
    }

    from = reply->len ? ngx_atoof((u_char *) reply->str, reply->len) : -1;
    xmcf->watch_from = (from == NGX_ERROR) ? (uint64_t) -1 : (uint64_t) from;

    len = sizeof(buf);

    if (x402_rpc_head_request((char *) buf, &len, 1) != X402_OK
        || ngx_http_x402_rpc_post(xmcf, ngx_cycle->log, buf, len, 65536,
                                  ngx_http_x402_watch_head, xmcf)
           != NGX_OK)
    {
        xmcf->watching = 0;
    }
}


static void
ngx_http_x402_watch_head(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_main_conf_t *xmcf = data;

    size_t     len;
    u_char     buf[512];
    uint64_t   head, t;

    if (rc != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_head_parse(&head, &t, (const char *) body->data,
                               body->len, 1)
           != X402_OK)
    {
        xmcf->watching = 0;
        return;
    }

    if (xmcf->watch_from == (uint64_t) -1) {
        xmcf->watch_from = head > NGX_HTTP_X402_WATCH_BACK
                           ? head - NGX_HTTP_X402_WATCH_BACK : 0;
    }

    if (xmcf->watch_from > head) {
        xmcf->watching = 0;
        return;
    }

    /* a bounded range a read (nodes limit it; every payer's withdrawals
       of the canonical contract are in it): a failed read halves it */
    if (xmcf->watch_span == 0) {
        xmcf->watch_span = NGX_HTTP_X402_WATCH_SPAN;
    }

    xmcf->watch_to = ngx_min(head, xmcf->watch_from + xmcf->watch_span - 1);
    len = sizeof(buf);

    if (x402_rpc_withdraw_logs_request((char *) buf, &len, xmcf->watch_from,
                                       xmcf->watch_to, 1)
        != X402_OK
        || ngx_http_x402_rpc_post(xmcf, ngx_cycle->log, buf, len,
                                  X402_RPC_REPLY_MAX,
                                  ngx_http_x402_watch_logs, xmcf)
           != NGX_OK)
    {
        xmcf->watching = 0;
    }
}


static void
ngx_http_x402_watch_logs(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_main_conf_t *xmcf = data;

    char                    wblock[sizeof(NGX_HTTP_X402_WBLOCK_KEY) + 20],
                            next[NGX_INT64_LEN + 1];
    size_t                  n, i;
    x402_channel_withdraw  *w;

    xmcf->watching = 0;

    w = ngx_alloc(NGX_HTTP_X402_WATCH_LOGS * sizeof(x402_channel_withdraw),
                  ngx_cycle->log);

    if (w == NULL || rc != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_withdraw_logs_parse(w, &n, NGX_HTTP_X402_WATCH_LOGS,
                                        (const char *) body->data,
                                        body->len, 1)
           != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: channel withdrawals of blocks %uL to %uL could "
                      "not be read: %s", xmcf->watch_from, xmcf->watch_to,
                      err ? err : "unexpected reply");

        xmcf->watch_span = ngx_max(1, xmcf->watch_span / 2);

        if (w != NULL) {
            ngx_free(w);
        }

        return;
    }

    xmcf->watch_span = ngx_min(NGX_HTTP_X402_WATCH_SPAN,
                               2 * xmcf->watch_span);

    for (i = 0; i < n; i++) {
        if (ngx_http_x402_channel_withdrawn(xmcf, xmcf->chain_id, &w[i])
            != NGX_OK)
        {
            ngx_free(w);
            return;
        }

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CH_WITHDRAWS);
    }

    ngx_free(w);

    ngx_snprintf((u_char *) wblock, sizeof(wblock),
                 NGX_HTTP_X402_WBLOCK_KEY "%uL%Z", xmcf->chain_id);
    *ngx_sprintf((u_char *) next, "%uL", xmcf->watch_to + 1) = '\0';

    (void) ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log, NULL, NULL,
                                    "SET", wblock, next, NULL);
}
