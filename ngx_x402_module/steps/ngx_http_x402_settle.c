
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The built-in settler: a settlement job per paid request (or per receipt
 * the reconciler takes over) that sends the proxy's settle(...) as an
 * EIP-1559 transaction from the settler account and follows it to its
 * receipt:
 *
 *   fees + gas estimate + pending nonce (one JSON-RPC batch; the fees are
 *   those of a recent block, read at most once per block time per worker)
 *   -> a transaction nonce from Redis (shared by workers and nodes; the
 *      allocation is recorded in the settler's transaction table)
 *   -> receipt "broadcast" with the hash, and the signed transaction kept
 *      in that table, both written before the send in one script
 *   -> eth_sendRawTransaction
 *   -> wait until the settler's mined count passes the nonce (one
 *      eth_getTransactionCount per worker, at most every 100 ms, serves
 *      every waiting job)
 *   -> eth_getTransactionReceipt, once mined, or x402_settle_timeout
 *   -> the outcome: "settled", "pending" (sent, not seen mined: the
 *      reconciler follows it), "failed" (the payment's fault: final) or
 *      "retry" (the gateway's fault: node, Redis, gas, fees; tried again
 *      by any node's reconciler until shortly before the permit expires)
 *
 * A job is heap memory and never needs its request: with x402_settle sync
 * the request waits for it (and may go away meanwhile); with async and
 * upto it runs alone, the payment already served.  A non-cancelable guard
 * timer keeps a gracefully exiting worker alive until the job ends; every
 * step has its own deadline.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_admitted.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_payload.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_job.h"


#define NGX_HTTP_X402_JOB_REPLY_MAX  (256 * 1024)
#define NGX_HTTP_X402_POLL_INTERVAL  250
#define NGX_HTTP_X402_MINED_FRESH    100     /* a mined count is reused */
#define NGX_HTTP_X402_STALE_WATCH    500     /* a pending one's count */
#define NGX_HTTP_X402_STALL          2000    /* nothing mined: resend */
#define NGX_HTTP_X402_RESEND_MAX     16000
#define NGX_HTTP_X402_FEES_FRESH     2000    /* Base's block time */
#define NGX_HTTP_X402_RETRY_AFTER    2000    /* ms: a gateway failure again */
#define NGX_HTTP_X402_REWRITE_INTERVAL  1000 /* ms: a job's last receipt */
#define NGX_HTTP_X402_TRIM_AFTER     1024    /* jobs freed: give back */


/*
 * A transaction of the settler's own making (a batch, a channel's deposit,
 * claim or sweep) joins the settler's table (KEYS[1]) at its nonce
 * (ARGV[1]) as "<hash> <key> <o|s> <raw>" (ARGV[2]), unless the nonce's
 * record is gone or holds another transaction (-1: a reconciler filled
 * it; it must not be sent).
 */
static const char  ngx_http_x402_tx_record_lua[] =
    "local old = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if not old then return -1 end "
    "local signed = string.match(old, '^%d+ (%S+)') "
    "if signed and signed ~= string.match(ARGV[2], '^(%S+)') then "
    "return -1 end "
    "redis.call('HSET', KEYS[1], ARGV[1], "
    "string.match(old, '^%d+') .. ' ' .. ARGV[2]) "
    "return 1";


/*
 * Allocates the settler's next transaction nonce: a nonce released by a
 * failed broadcast first (so no gap stalls later transactions), else the
 * counter, never below the chain's pending count (ARGV[1]).  The
 * allocation is recorded in the settler's transaction table (KEYS[3]:
 * nonce -> "<ms>"), where the signed transaction joins it before it is
 * sent: the reconciler finds there every nonce the chain has not mined.
 */
static const char  ngx_http_x402_nonce_lua[] =
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local n "
    "local r = redis.call('ZPOPMIN', KEYS[2]) "
    "if #r > 0 and tonumber(r[1]) >= tonumber(ARGV[1]) then "
    "n = tonumber(r[1]) else "
    "n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "local p = tonumber(ARGV[1]) "
    "if n < p then n = p end "
    "redis.call('SET', KEYS[1], n + 1) end "
    "redis.call('HSET', KEYS[3], string.format('%d', n), "
    "string.format('%d', now)) "
    "return n";


/* A nonce that never reached the chain goes back to the pool. */

static const char  ngx_http_x402_release_lua[] =
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1]) "
    "redis.call('HDEL', KEYS[2], ARGV[1]) "
    "return 1";


/*
 * Every receipt a job writes, with the sets that follow the receipt's
 * status, in one step:
 *   KEYS: the receipt, x402:inflight, x402:unsettled, the settler's
 *         transaction table;
 *   ARGV: the receipt, its status, a TTL for a receipt Redis lost (else
 *         the TTL is kept), in how many ms a reconciler may take it
 *         ("retry", or "reserved": the job's lease, on Redis's clock; "-":
 *         none, a request waits for it), the
 *         settler nonce and "<hash> <key> <o|s> <raw>" of a broadcast (else
 *         ""): the transaction of a payment served already (owed), or not
 *         yet.
 * A receipt already "settled" is never overwritten by another outcome.  A
 * broadcast is refused (-1) when its nonce's record is gone or holds
 * another transaction (a reconciler filled it): it must not be sent.
 */

static const char  ngx_http_x402_receipt_lua[] =
    "local old = nil "
    "if ARGV[6] ~= '' then "
    "old = redis.call('HGET', KEYS[4], ARGV[5]) "
    "if not old then return -1 end "
    "local signed = string.match(old, '^%d+ (%S+)') "
    "if signed and signed ~= string.match(ARGV[6], '^(%S+)') then "
    "return -1 end end "
    "local cur = redis.call('GET', KEYS[1]) "
    "local s = ARGV[2] "
    "if cur and s ~= 'settled' "
    "and string.find(cur, '\"status\":\"settled\"', 1, true) then "
    "return 0 end "
    "if cur then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') "
    "else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end "
    "if s == 'broadcast' or s == 'pending' then "
    "redis.call('SADD', KEYS[2], KEYS[1]) "
    "else redis.call('SREM', KEYS[2], KEYS[1]) end "
    "if s == 'retry' or (s == 'reserved' and ARGV[4] ~= '-') then "
    "local t = redis.call('TIME') "
    "redis.call('ZADD', KEYS[3], t[1] * 1000 + math.floor(t[2] / 1000) "
    "+ tonumber(ARGV[4]), KEYS[1]) "
    "else redis.call('ZREM', KEYS[3], KEYS[1]) end "
    "if old then "
    "redis.call('HSET', KEYS[4], ARGV[5], "
    "string.match(old, '^%d+') .. ' ' .. ARGV[6]) end "
    "return 1";


/* the receipt status of each outcome (ngx_http_x402_outcome_e) */
static const x402_receipt_status  ngx_http_x402_outcomes[] = {
    X402_RS_SETTLED, X402_RS_PENDING, X402_RS_FAILED, X402_RS_RETRY
};


static ngx_http_x402_job_t *ngx_http_x402_job_create(
    ngx_http_x402_main_conf_t *xmcf, x402_offer *offer,
    x402_payment *payment, x402_u256 *charge, ngx_uint_t upto,
    const char *key, u_char *resource, size_t resource_len,
    uint64_t created);
static ngx_http_x402_job_t *ngx_http_x402_settle_job(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settled_pt done);
static ngx_int_t ngx_http_x402_job_calldata(ngx_http_x402_job_t *job);
static u_char *ngx_http_x402_job_body(u_char *stack, size_t size, size_t len,
    size_t *cap);
static ngx_int_t ngx_http_x402_job_run(ngx_http_x402_job_t *job,
    ngx_str_t *facilitator_url, ngx_str_t *facilitator_body);
static void ngx_http_x402_job_facilitated(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_fees_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_gas_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static ngx_int_t ngx_http_x402_job_fees_answered(ngx_http_x402_job_t *job,
    ngx_uint_t full, ngx_int_t rc, ngx_uint_t status, ngx_str_t *body,
    const char *err);
static void ngx_http_x402_job_gas_ready(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_diagnose(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_diagnosed(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_find(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_ask(ngx_http_x402_job_t *job, x402_err xerr,
    u_char *buf, size_t len, ngx_http_x402_curl_done_pt done);
static void ngx_http_x402_job_find_head(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_find_logs(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_find_txs(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_find_txs_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_nonce_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_job_broadcast_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_job_send_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_sent(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_wait(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_unwait(ngx_http_x402_job_t *job);
static ngx_int_t ngx_http_x402_job_expired(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_poll(ngx_event_t *ev);
static void ngx_http_x402_job_receipt(ngx_http_x402_job_t *job);
static void ngx_http_x402_mined_ask(ngx_http_x402_account_t *acct);
static void ngx_http_x402_stale_watch(ngx_http_x402_account_t *acct);
static ngx_uint_t ngx_http_x402_account_stalled(
    ngx_http_x402_account_t *acct);
static ngx_http_x402_account_t *ngx_http_x402_job_account(
    ngx_http_x402_main_conf_t *xmcf, x402_scheme scheme);
static void ngx_http_x402_stale_tick(ngx_event_t *ev);
static void ngx_http_x402_mined_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_receipt_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_release_nonce(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_log_fee(ngx_http_x402_job_t *job,
    const char *what);
static void ngx_http_x402_job_guard(ngx_event_t *ev);
static void ngx_http_x402_job_write_end(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_rewrite(ngx_event_t *ev);
static void ngx_http_x402_job_ended(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_job_ignored(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_job_notify(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_release(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_resend(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_resent(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_job_started(ngx_http_x402_job_t *job);
static void ngx_http_x402_job_call(ngx_http_x402_job_t *job, x402_err xerr,
    u_char *buf, size_t len, ngx_http_x402_curl_done_pt done,
    ngx_http_x402_outcome_e outcome, const char *reason);


static const x402_u256   ngx_http_x402_zero;


/*
 * Starts the settlement of a reserved payment.  With done, the request
 * waits for it (x402_settle sync, or async made to wait), and done gets
 * the result unless the request went away; without, the payment is served
 * (async, or upto at the end of its response).
 */

ngx_int_t
ngx_http_x402_settle_start(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settled_pt done)
{
    ngx_int_t                   rc;
    ngx_str_t                   body;
    x402_offer                  offer;
    ngx_http_x402_job_t        *job;
    ngx_http_x402_loc_conf_t   *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    job = ngx_http_x402_settle_job(r, ctx, done);
    if (job == NULL) {
        return NGX_ERROR;
    }

    ngx_str_null(&body);

    if (xlcf->facilitator_url.len
        && x402_u256_cmp(&job->charge, &ngx_http_x402_zero) != 0)
    {
        /* the facilitator broadcasts and waits for the block itself */
        offer = ctx->offer;
        offer.amount = job->charge;

        if (ngx_http_x402_facilitator_body(r->pool, ctx, &offer, &body)
            != NGX_OK)
        {
            goto failed;
        }
    }

    rc = ngx_http_x402_job_run(job, &xlcf->settle_url, &body);

    if (rc == NGX_ERROR) {
        goto failed;
    }

    if (done != NULL && rc == NGX_AGAIN) {
        ngx_http_x402_settle_wait(r, ctx, 0);
    }

    return NGX_OK;

failed:

    ngx_http_x402_job_free(job);

    return NGX_ERROR;
}


/*
 * A payment's job, not started: its worker's batch queue holds it until
 * its batch is sent (or it is sent alone); wait: the longest it may be
 * held there, added to its bounds.
 */

ngx_http_x402_job_t *
ngx_http_x402_settle_prepare(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settled_pt done, ngx_msec_t wait)
{
    ngx_http_x402_job_t  *job;

    job = ngx_http_x402_settle_job(r, ctx, done);
    if (job == NULL) {
        return NULL;
    }

    if (ngx_http_x402_job_calldata(job) != NGX_OK) {
        ngx_http_x402_job_free(job);
        return NULL;
    }

    ngx_add_timer(&job->guard,
                  ngx_http_x402_settler_bound(job->xmcf) + wait);

    ngx_http_x402_job_started(job);

    if (done != NULL) {
        ngx_http_x402_settle_wait(r, ctx, wait);
    }

    return job;
}


/* A request's job, with its waiting request (done) or served. */

static ngx_http_x402_job_t *
ngx_http_x402_settle_job(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settled_pt done)
{
    ngx_http_x402_job_t        *job;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    job = ngx_http_x402_job_create(xmcf, &ctx->offer, &ctx->payment,
                                   ctx->upto_charge ? &ctx->charge
                                                    : &ctx->payment.amount,
                                   ctx->upto_charge, ctx->key,
                                   ctx->resource.data, ctx->resource.len,
                                   (uint64_t) ngx_time());
    if (job == NULL) {
        return NULL;
    }

    job->served = (done == NULL);

    if (done != NULL) {
        job->op = ngx_http_x402_op_create(r, ctx);
        if (job->op == NULL) {
            ngx_http_x402_job_free(job);
            return NULL;
        }

        job->done = done;
        ctx->op = job->op;
    }

    return job;
}


/* The request now waits for its settlement, held at most "extra" more. */

void
ngx_http_x402_settle_wait(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_msec_t extra)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ctx->state = NGX_HTTP_X402_SETTLING;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    ngx_add_timer(&ctx->deadline,
                  ngx_http_x402_settler_bound(xmcf) + xmcf->timeout + extra);
}


/*
 * A batch's transaction: aggregate3 to Multicall3, its calldata and
 * signed bytes on the heap.  Its members' jobs are the caller's.
 */

ngx_http_x402_job_t *
ngx_http_x402_settle_carrier(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_job_hooks_t *hooks, ngx_http_x402_job_t **members,
    ngx_uint_t n)
{
    ngx_http_x402_job_t  *job;

    job = ngx_http_x402_settle_call(xmcf, &members[0]->offer,
                                    &x402_multicall3_address, hooks, NULL);
    if (job == NULL) {
        return NULL;
    }

    /* its account now: the batch is simulated from it before its fees */
    job->acct = ngx_http_x402_job_account(xmcf, X402_SCHEME_EXACT);

    job->payment = members[0]->payment;
    job->charge = members[0]->charge;
    job->deadline = members[0]->deadline;
    job->members = members;
    job->nmembers = n;
    job->served = 1;        /* its members are answered each */

    return job;
}


/*
 * A transaction of the settler's own making to `to` (a batch, a channel's
 * deposit, claim or sweep), for the offer's chain (NULL: the settler's),
 * with the hooks' meaning; its calldata and gas limit are the caller's to
 * set.
 */

ngx_http_x402_job_t *
ngx_http_x402_settle_call(ngx_http_x402_main_conf_t *xmcf, x402_offer *offer,
    const x402_address *to, ngx_http_x402_job_hooks_t *hooks,
    void *hook_data)
{
    char                   key[X402_REPLAY_KEY_MAX];
    x402_u256              zero;
    x402_offer             own;
    x402_payment          *payment;
    ngx_http_x402_job_t   *job;

    ngx_memzero(key, sizeof(key));
    ngx_memzero(&zero, sizeof(zero));

    if (offer == NULL) {
        /* not for a request: the settler's chain */
        ngx_memzero(&own, sizeof(own));
        own.scheme = X402_SCHEME_BATCH;
        own.chain_id = xmcf->chain_id;
        offer = &own;
    }

    payment = ngx_calloc(sizeof(x402_payment), ngx_cycle->log);
    if (payment == NULL) {
        return NULL;
    }

    job = ngx_http_x402_job_create(xmcf, offer, payment, &zero, 0, key,
                                   (u_char *) "", 0, (uint64_t) ngx_time());
    ngx_free(payment);

    if (job == NULL) {
        return NULL;
    }

    job->hooks = hooks;
    job->hook_data = hook_data;
    job->to = to;
    job->deadline = (uint64_t) -1;

    ngx_add_timer(&job->guard, ngx_http_x402_settler_bound(xmcf));

    return job;
}


/* A payment's settle(...) calldata, in the job's own buffer. */

static ngx_int_t
ngx_http_x402_job_calldata(ngx_http_x402_job_t *job)
{
    job->data_len = sizeof(job->calldata);

    return x402_abi_settle(job->data, &job->data_len, job->offer.scheme,
                           &job->payment, &job->charge) == X402_OK
           ? NGX_OK : NGX_ERROR;
}


/*
 * The buffer of a JSON-RPC request carrying len bytes as hex: stack when
 * they fit (a payment's), else the heap (a batch's; the caller frees it).
 */

static u_char *
ngx_http_x402_job_body(u_char *stack, size_t size, size_t len, size_t *cap)
{
    u_char  *buf;

    *cap = 2 * len + 1024;

    if (*cap <= size) {
        *cap = size;
        return stack;
    }

    buf = ngx_alloc(*cap, ngx_cycle->log);

    return buf;
}


/*
 * The reconciler takes over a served payment whose settlement never
 * happened (its worker died, or the gateway failed): a job from the
 * receipt alone, run like any other, never attached to a request.
 */

ngx_int_t
ngx_http_x402_settle_receipt(ngx_http_x402_main_conf_t *xmcf, const char *key,
    const char *json, size_t len, const x402_u256 *charge)
{
    char                     *resource;
    x402_err                  err;
    ngx_str_t                 none;
    ngx_http_x402_job_t      *job;
    x402_receipt_settlement   st;

    resource = ngx_alloc(len + 1, ngx_cycle->log);
    if (resource == NULL) {
        return NGX_ERROR;
    }

    err = x402_receipt_settlement_decode(&st, resource, len + 1, json, len);

    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: the receipt of %s cannot be settled again: %s",
                      key, x402_strerror(err));
        ngx_free(resource);
        return NGX_DECLINED;
    }

    if (charge != NULL) {
        st.charged = *charge;
        st.has_charged = 1;
    }

    job = ngx_http_x402_job_create(xmcf, &st.offer, &st.payment,
                                   st.has_charged ? &st.charged
                                                  : &st.payment.amount,
                                   st.offer.scheme == X402_SCHEME_UPTO, key,
                                   (u_char *) resource, ngx_strlen(resource),
                                   st.created);
    ngx_free(resource);

    if (job == NULL) {
        return NGX_ERROR;
    }

    job->served = 1;
    job->session = (charge != NULL);

    ngx_str_null(&none);

    if (ngx_http_x402_job_run(job, &none, &none) == NGX_ERROR) {
        ngx_http_x402_job_free(job);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_x402_job_t *
ngx_http_x402_job_create(ngx_http_x402_main_conf_t *xmcf, x402_offer *offer,
    x402_payment *payment, x402_u256 *charge, ngx_uint_t upto,
    const char *key, u_char *resource, size_t resource_len, uint64_t created)
{
    ngx_http_x402_job_t  *job;

    job = ngx_calloc(sizeof(ngx_http_x402_job_t), ngx_cycle->log);
    if (job == NULL) {
        return NULL;
    }

    job->resource = ngx_alloc(resource_len + 1, ngx_cycle->log);
    if (job->resource == NULL) {
        ngx_free(job);
        return NULL;
    }

    ngx_memcpy(job->resource, resource, resource_len);
    job->resource[resource_len] = '\0';

    job->xmcf = xmcf;

    /* an exact payment's account is taken when it is sent: one waiting in
       a batch queue sends nothing, its batch has an account of its own */

    if (offer->scheme != X402_SCHEME_EXACT || xmcf->naccounts < 2) {
        job->acct = ngx_http_x402_job_account(xmcf, offer->scheme);
    }

    ngx_queue_insert_tail(&xmcf->jobs, &job->all);
    job->to = x402_scheme_spender(offer->scheme);
    job->data = job->calldata;
    job->offer = *offer;
    job->payment = *payment;
    job->upto = upto;
    job->charge = *charge;
    job->created = created;
    ngx_memcpy(job->key, key, X402_REPLAY_KEY_MAX);

    if (x402_u256_to_u64(&job->deadline, &payment->deadline) != X402_OK) {
        job->deadline = (uint64_t) -1;
    }

    job->poll.handler = ngx_http_x402_job_poll;
    job->poll.data = ngx_http_x402_io_dummy();
    job->poll.log = ngx_cycle->log;
    job->poll.cancelable = 1;


    job->guard.handler = ngx_http_x402_job_guard;
    job->guard.data = ngx_http_x402_io_dummy();
    job->guard.log = ngx_cycle->log;

    return job;
}


/*
 * The first step.  NGX_AGAIN: the job runs; NGX_OK: it ended at once (a
 * zero charge); NGX_ERROR: not started (the caller frees it).
 */

static ngx_int_t
ngx_http_x402_job_run(ngx_http_x402_job_t *job, ngx_str_t *facilitator_url,
    ngx_str_t *facilitator_body)
{
    ngx_int_t  rc;

    if (x402_u256_cmp(&job->charge, &ngx_http_x402_zero) == 0) {
        /* nothing to move: a zero receipt, no transaction */
        ngx_add_timer(&job->guard, job->xmcf->redis.timeout * 2);
        ngx_http_x402_job_started(job);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_SETTLED, NULL);
        return NGX_OK;
    }

    if (facilitator_url->len) {
        rc = ngx_http_x402_curl_post(ngx_cycle->log, facilitator_url,
                                     facilitator_body,
                                     job->xmcf->settle_timeout,
                                     NGX_HTTP_X402_JOB_REPLY_MAX,
                                     ngx_http_x402_job_facilitated, job);

    } else {
        if (job->upto && job->served) {
            /*
             * the measured charge, for a reconciler that takes over: the
             * reservation holds only what a response without usage costs
             */
            (void) ngx_http_x402_job_write_receipt(job, X402_RS_RESERVED,
                                                   ngx_http_x402_job_ignored);
        }

        rc = ngx_http_x402_job_calldata(job) == NGX_OK
             ? ngx_http_x402_job_fees(job) : NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_add_timer(&job->guard, ngx_http_x402_settler_bound(job->xmcf));

    ngx_http_x402_job_started(job);

    return NGX_AGAIN;
}


/*
 * How long ago this worker's oldest unfinished settlement started: the
 * oldest job in progress, or an older one recorded pending (sent, not
 * mined within x402_settle_timeout) until the chain has mined its nonce.
 */

time_t
ngx_http_x402_settle_backlog(ngx_http_x402_main_conf_t *xmcf)
{
    time_t                    oldest;
    ngx_uint_t                i;
    ngx_http_x402_job_t      *job;
    ngx_http_x402_account_t  *acct;

    oldest = ngx_time();

    if (!ngx_queue_empty(&xmcf->jobs)) {
        job = ngx_queue_data(ngx_queue_head(&xmcf->jobs),
                             ngx_http_x402_job_t, all);
        oldest = (time_t) job->created;
    }

    for (i = 0; i < xmcf->naccounts; i++) {
        acct = &xmcf->accounts[i];

        if (acct->stale_known && acct->stale_created < oldest) {
            oldest = acct->stale_created;
        }
    }

    return ngx_time() - oldest;
}


/*
 * The settler stalls: its transactions wait for blocks (this worker's, or
 * one recorded pending) and the chain has mined none of them for
 * x402_settle_timeout (a nonce gap holds them, or the node lost them).
 * New payments are then refused (503) rather than served unsettled until
 * the reconciler has repaired it; the mined count is asked again, so the
 * stall ends as soon as the chain moves.
 */

ngx_uint_t
ngx_http_x402_settle_stalled(ngx_http_x402_main_conf_t *xmcf,
    x402_scheme scheme)
{
    ngx_uint_t  i;

    if (!xmcf->has_settler) {
        return 0;
    }

    /* upto and channels settle from the first account only */

    if (scheme != X402_SCHEME_EXACT) {
        return ngx_http_x402_account_stalled(&xmcf->accounts[0]);
    }

    /* exact: stalled when every account is, a new payment takes another */

    for (i = 0; i < xmcf->naccounts; i++) {
        if (!ngx_http_x402_account_stalled(&xmcf->accounts[i])) {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
ngx_http_x402_account_stalled(ngx_http_x402_account_t *acct)
{
    if (ngx_queue_empty(&acct->mined_waiting) && !acct->stale_known) {
        return 0;
    }

    ngx_http_x402_mined_ask(acct);

    /*
     * the last count answered, kept fresh while settlements wait; signed:
     * a wait that began after the last answer is no stall
     */

    return acct->mined_known
           && (ngx_msec_int_t) (acct->mined_at - acct->mined_advanced)
              > (ngx_msec_int_t) acct->xmcf->settle_timeout;
}


/*
 * The account a new settlement goes from: exact payments (and their
 * batches) take turns over the accounts that do not stall, so that their
 * nonce sequences advance side by side; anything else is the first's,
 * the address offers name (upto's witness facilitator, a channel's
 * receiverAuthorizer).  NULL: no account of ours (a facilitator's).
 */

static ngx_http_x402_account_t *
ngx_http_x402_job_account(ngx_http_x402_main_conf_t *xmcf, x402_scheme scheme)
{
    ngx_uint_t                i;
    ngx_http_x402_account_t  *acct;

    if (!xmcf->has_settler) {
        return NULL;
    }

    if (scheme != X402_SCHEME_EXACT || xmcf->naccounts == 1) {
        return &xmcf->accounts[0];
    }

    for (i = 0; i < xmcf->naccounts; i++) {
        acct = &xmcf->accounts[xmcf->next_account++ % xmcf->naccounts];

        if (!ngx_http_x402_account_stalled(acct)) {
            return acct;
        }
    }

    return &xmcf->accounts[xmcf->next_account++ % xmcf->naccounts];
}


/*
 * While a settlement recorded pending is not mined, the mined count is
 * read on its own (no job waits to ask for it), so that the backlog and a
 * stall end as soon as the chain moves.
 */

static void
ngx_http_x402_stale_watch(ngx_http_x402_account_t *acct)
{
    ngx_event_t  *ev;

    ev = &acct->stale_ev;

    if (ev->timer_set) {
        return;
    }

    ev->handler = ngx_http_x402_stale_tick;
    ev->data = ngx_http_x402_io_dummy();
    ev->log = ngx_cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_X402_STALE_WATCH);
}


static void
ngx_http_x402_stale_tick(ngx_event_t *ev)
{
    ngx_http_x402_account_t  *acct;

    acct = (ngx_http_x402_account_t *)
           ((u_char *) ev - offsetof(ngx_http_x402_account_t, stale_ev));

    if (acct->stale_known) {
        ngx_http_x402_mined_ask(acct);
        ngx_http_x402_stale_watch(acct);
    }
}


ngx_int_t
ngx_http_x402_job_fees(ngx_http_x402_job_t *job)
{
    size_t                        len, data_len;
    u_char                        stack[NGX_HTTP_X402_RPC_BODY_MAX], *buf;
    x402_err                      err;
    ngx_int_t                     rc;
    const uint8_t                *data;
    const x402_address           *to;
    ngx_http_x402_main_conf_t    *xmcf;
    ngx_http_x402_curl_done_pt    done;

    xmcf = job->xmcf;

    if (job->acct == NULL) {
        job->acct = ngx_http_x402_job_account(xmcf, job->offer.scheme);

        if (job->acct == NULL) {
            return NGX_ERROR;
        }
    }

    to = job->to;
    data = job->data;
    data_len = job->data_len;

    if (job->gas_limit) {
        /*
         * a batch has its gas limit, simulated: the node's estimate of
         * it would run the whole batch over and over; an empty call is
         * estimated instead
         */
        to = &job->acct->address;
        data = NULL;
        data_len = 0;
    }

    buf = ngx_http_x402_job_body(stack, sizeof(stack), data_len, &len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (xmcf->fees_known
        && ngx_current_msec - xmcf->fees_read < NGX_HTTP_X402_FEES_FRESH)
    {
        err = x402_rpc_gas_request((char *) buf, &len, &job->acct->address,
                                   to, data, data_len, 1);
        done = ngx_http_x402_job_gas_done;

    } else {
        err = x402_rpc_fees_request((char *) buf, &len,
                                    &job->acct->address, to, data, data_len,
                                    1);
        done = ngx_http_x402_job_fees_done;
    }

    rc = (err == X402_OK) ? ngx_http_x402_job_rpc(job, buf, len, done)
                          : NGX_ERROR;

    if (buf != stack) {
        ngx_free(buf);
    }

    return rc;
}


static void
ngx_http_x402_job_fees_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    ngx_http_x402_main_conf_t  *xmcf;

    if (!ngx_http_x402_job_fees_answered(job, 1, rc, status, body, err)) {
        return;
    }

    xmcf = job->xmcf;

    xmcf->fees_priority = job->fees.priority_fee;
    xmcf->fees_base = job->fees.base_fee;
    xmcf->fees_read = ngx_current_msec;
    xmcf->fees_known = 1;

    ngx_http_x402_job_gas_ready(job);
}


static void
ngx_http_x402_job_gas_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    if (!ngx_http_x402_job_fees_answered(job, 0, rc, status, body, err)) {
        return;
    }

    job->fees.priority_fee = job->xmcf->fees_priority;
    job->fees.base_fee = job->xmcf->fees_base;

    ngx_http_x402_job_gas_ready(job);
}


/* Parses the fees (full) or gas reply into job->fees; ends the job if not. */

static ngx_int_t
ngx_http_x402_job_fees_answered(ngx_http_x402_job_t *job, ngx_uint_t full,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body, const char *err)
{
    x402_err  xerr;

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: RPC node failed: %s",
                      job->key, err ? err : "bad HTTP status");
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return 0;
    }

    xerr = full
           ? x402_rpc_fees_parse(&job->fees, (const char *) body->data,
                                 body->len, 1)
           : x402_rpc_gas_parse(&job->fees, (const char *) body->data,
                                body->len, 1);
    if (xerr != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: malformed fee reply: %s",
                      job->key, x402_strerror(xerr));
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return 0;
    }

    return 1;
}


/* The estimate and the fees are in: a nonce, then the transaction. */

static void
ngx_http_x402_job_gas_ready(ngx_http_x402_job_t *job)
{
    char                        nonce_arg[NGX_INT64_LEN + 1];
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = job->xmcf;

    if (job->gas_limit) {
        /* a batch: its own limit, its calls simulated with it */
        job->fees.gas_estimate = job->gas_limit;

    } else if (!job->fees.estimate_ok) {
        /* the settlement would revert: never broadcast it; say why */
        ngx_http_x402_job_diagnose(job);
        return;
    }

    if (x402_u256_cmp(&job->fees.base_fee, &xmcf->max_fee) > 0) {
        /* the node's fees are above what the operator pays: not signed */
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_FEE_REFUSED);
        ngx_http_x402_job_log_fee(job, "the node's base fee");
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_fee_above_max");
        return;
    }

    if (!job->gas_limit && job->fees.gas_estimate > xmcf->gas_limit_max) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s needs %uL gas, above "
                      "x402_settle_gas_max %ui", job->key,
                      job->fees.gas_estimate, xmcf->gas_limit_max);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_gas_above_max");
        return;
    }

    *ngx_sprintf((u_char *) nonce_arg, "%uL", job->fees.pending_nonce) = '\0';

    if (ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log,
                                 ngx_http_x402_job_nonce_done, job, "EVAL",
                                 ngx_http_x402_nonce_lua, "3",
                                 job->acct->nonce_key,
                                 job->acct->released_key,
                                 job->acct->txs_key, nonce_arg, NULL)
        != NGX_OK)
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_redis_unavailable");
    }
}


/*
 * The gas estimate reverted: the payment cannot settle as it is.  The
 * checks a payment passes before it is admitted, asked again, say why
 * (the payer moved the funds, revoked the allowance, used the nonce);
 * the revert's selector when they cannot.
 */

static void
ngx_http_x402_job_diagnose(ngx_http_x402_job_t *job)
{
    size_t     len;
    u_char     buf[X402_RPC_CHECKS_REQUEST_MAX];
    uint8_t    digest[32];
    x402_err   xerr;

    job->error_reason = job->fees.has_revert
                        ? x402_settle_error_reason(job->fees.revert)
                        : "invalid_exact_evm_transaction_failed";

    if (job->hooks != NULL) {
        /* a batch: each of its payments says why on its own */
        ngx_http_x402_job_end(job, NGX_HTTP_X402_FAILED, job->error_reason);
        return;
    }

    len = sizeof(buf);

    xerr = x402_permit2_digest(digest, job->offer.scheme, job->offer.chain_id,
                               &job->payment);
    if (xerr == X402_OK) {
        xerr = x402_rpc_checks_request((char *) buf, &len, &job->offer,
                                       &job->payment, digest,
                                       &job->acct->address, 1);
    }

    ngx_http_x402_job_call(job, xerr, buf, len, ngx_http_x402_job_diagnosed,
                           NGX_HTTP_X402_FAILED, job->error_reason);
}


static void
ngx_http_x402_job_diagnosed(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    x402_reason   reason;
    x402_onchain  oc;

    if (rc == NGX_OK && status == NGX_HTTP_OK && body != NULL
        && x402_rpc_checks_parse(&oc, (const char *) body->data, body->len,
                                 1)
           == X402_OK)
    {
        /* the signature recovered when the payment was admitted */
        reason = x402_onchain_verdict(&oc, &job->payment, 1);

        if (reason != X402_R_VALID && reason != X402_R_SIMULATION_FAILED) {
            job->error_reason = x402_reason_string(reason);
        }

        if (reason == X402_R_INVALID_NONCE) {
            /* another settlement of this payment may have won */
            ngx_http_x402_job_find(job);
            return;
        }
    }

    ngx_http_x402_job_end(job, NGX_HTTP_X402_FAILED, job->error_reason);
}


/*
 * The permit's nonce is used: a takeover that raced a late job, a resent
 * transaction, or the payer's own submission may have settled this very
 * payment.  Recorded "failed", it would count a paid payment as unpaid.
 * The token's Transfer(payer, payTo) logs since the payment was admitted
 * and the transactions that emitted them say whether the permit paid.
 */

#define NGX_HTTP_X402_FIND_LOGS_MAX  256
#define NGX_HTTP_X402_FIND_SKEW      60     /* s, our clock against blocks */

static void
ngx_http_x402_job_find(ngx_http_x402_job_t *job)
{
    size_t    len;
    u_char    buf[256];
    x402_err  xerr;

    len = sizeof(buf);
    xerr = x402_rpc_head_request((char *) buf, &len, 1);

    ngx_http_x402_job_ask(job, xerr, buf, len, ngx_http_x402_job_find_head);
}


/*
 * Sends a request of the search (xerr: how building it went): one that
 * cannot be built ends the job as the diagnosis found, one that cannot be
 * sent is tried again.
 */

static void
ngx_http_x402_job_ask(ngx_http_x402_job_t *job, x402_err xerr, u_char *buf,
    size_t len, ngx_http_x402_curl_done_pt done)
{
    if (xerr != X402_OK) {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_FAILED, job->error_reason);
        return;
    }

    /* logs and transactions may answer more than the job's other calls */
    if (ngx_http_x402_rpc_post(job->xmcf, ngx_cycle->log, buf, len,
                               X402_RPC_REPLY_MAX, done, job)
        != NGX_OK)
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
    }
}


static void
ngx_http_x402_job_find_head(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    size_t     len;
    u_char     buf[512];
    uint64_t   head, head_time, since;
    x402_err   xerr;

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL
        || x402_rpc_head_parse(&head, &head_time, (const char *) body->data,
                               body->len, 1)
           != X402_OK)
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return;
    }

    since = job->created > NGX_HTTP_X402_FIND_SKEW
            ? job->created - NGX_HTTP_X402_FIND_SKEW : 0;

    len = sizeof(buf);
    xerr = x402_rpc_transfers_request((char *) buf, &len, &job->offer.asset,
                                      &job->payment.from,
                                      &job->offer.pay_to,
                                      x402_find_first_block(head, head_time,
                                                            since), 1);

    ngx_http_x402_job_ask(job, xerr, buf, len, ngx_http_x402_job_find_logs);
}


static void
ngx_http_x402_job_find_logs(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    size_t  n;

    if (job->found == NULL) {
        job->found = ngx_alloc(NGX_HTTP_X402_FIND_LOGS_MAX * 32,
                               ngx_cycle->log);
    }

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL
        || job->found == NULL
        || x402_rpc_transfers_parse(job->found, &n,
                                    NGX_HTTP_X402_FIND_LOGS_MAX,
                                    (const char *) body->data, body->len, 1)
           != X402_OK)
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return;
    }

    job->found_n = n;
    job->found_next = 0;

    ngx_http_x402_job_find_txs(job);
}


static void
ngx_http_x402_job_find_txs(ngx_http_x402_job_t *job)
{
    size_t    len, n;
    u_char    buf[X402_FIND_TXS_MAX * 160];
    x402_err  xerr;

    n = ngx_min(job->found_n - job->found_next, X402_FIND_TXS_MAX);

    if (n == 0) {
        /* no transfer of this permit: the payer used the nonce otherwise */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: settlement of %s: its Permit2 nonce is used, "
                      "and no transfer to the merchant carries it (%ui "
                      "transfers looked into)", job->key, job->found_n);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_FAILED, job->error_reason);
        return;
    }

    len = sizeof(buf);
    xerr = x402_rpc_txs_request((char *) buf, &len,
                                (const uint8_t (*)[32])
                                    job->found + job->found_next,
                                n, 1);

    ngx_http_x402_job_ask(job, xerr, buf, len,
                          ngx_http_x402_job_find_txs_done);
}


static void
ngx_http_x402_job_find_txs_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    char     winner[2 * 32 + 1];
    size_t   n, index;
    u_char  *hash;

    n = ngx_min(job->found_n - job->found_next, X402_FIND_TXS_MAX);

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL
        || x402_rpc_txs_find_permit(&index, (const char *) body->data,
                                    body->len, n, &job->payment.from,
                                    &job->payment.nonce, 1)
           != X402_OK)
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return;
    }

    hash = (index < n) ? job->found[job->found_next + index] : NULL;

    if (index == n
        || (job->has_exclude && ngx_memcmp(hash, job->exclude, 32) == 0))
    {
        /* none here; or the batch it was left out of, which paid others */
        job->found_next += (index == n) ? n : index + 1;
        ngx_http_x402_job_find_txs(job);
        return;
    }

    x402_hex_encode(winner, hash, 32);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: settlement of %s%s%s: the payment was settled "
                  "already, in 0x%s", job->key,
                  job->tx[0] ? " reverted in " : "",
                  job->tx[0] ? (char *) job->tx : "", winner);

    job->tx[0] = '0';
    job->tx[1] = 'x';
    ngx_memcpy(job->tx + 2, winner, sizeof(winner));

    ngx_http_x402_job_end(job, NGX_HTTP_X402_SETTLED, NULL);
}


static void
ngx_http_x402_job_facilitated(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    int        success;
    char       tx[80];
    x402_err   xerr;

    xerr = X402_ERR_ARG;

    if (rc == NGX_OK && body != NULL) {
        xerr = x402_settle_response_parse(&success, job->reason,
                                          sizeof(job->reason), tx, sizeof(tx),
                                          (const char *) body->data,
                                          body->len);
    }

    if (xerr != X402_OK) {
        /* it may still land: indeterminate, never "failed" */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: facilitator /settle gave no "
                      "answer: %s (HTTP status %ui)", job->key,
                      err ? err : x402_strerror(xerr), status);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_PENDING,
                              "settlement_pending");
        return;
    }

    if (ngx_strlen(tx) == 66) {
        ngx_memcpy(job->tx, tx, 67);
    }

    if (success) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: settled %s by the facilitator in %s",
                      job->key, job->tx[0] ? (char *) job->tx : "no tx");
        ngx_http_x402_job_end(job, NGX_HTTP_X402_SETTLED, NULL);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: settlement of %s refused by the facilitator: %s",
                  job->key, job->reason);

    ngx_http_x402_job_end(job,
                          ngx_strcmp(job->reason, "settlement_pending") == 0
                          ? NGX_HTTP_X402_PENDING : NGX_HTTP_X402_FAILED,
                          job->reason);
}


static void
ngx_http_x402_job_nonce_done(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    x402_tx                     tx;
    uint64_t                    gas;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = job->xmcf;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER
        || reply->integer < 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: no transaction nonce from "
                      "redis: %s", job->key,
                      reply ? (reply->type == REDIS_REPLY_ERROR
                               ? reply->str : "unexpected reply")
                            : err);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_redis_unavailable");
        return;
    }

    job->nonce = (uint64_t) reply->integer;
    job->has_nonce = 1;

    /* a margin over the estimate, within the cap */

    gas = job->fees.gas_estimate + job->fees.gas_estimate / 4;

    if (gas > xmcf->gas_limit_max) {
        gas = xmcf->gas_limit_max;
    }

    if (job->gas_limit) {
        /* a batch's, its simulation's */
        gas = job->gas_limit;
    }

    ngx_memzero(&tx, sizeof(x402_tx));

    tx.chain_id = job->offer.chain_id;
    tx.nonce = job->nonce;
    tx.max_priority_fee_per_gas = job->fees.priority_fee;
    tx.gas_limit = gas;
    tx.to = *job->to;
    tx.data = job->data;
    tx.data_len = job->data_len;

    ngx_http_x402_settler_max_fees(xmcf, &tx, &job->fees);

    if (job->raw_cap < job->data_len + X402_TX_OVERHEAD) {
        /* signed bytes only once signed: a queued payment has none */
        if (job->raw != NULL) {
            ngx_free(job->raw);
        }

        job->raw_cap = job->data_len + X402_TX_OVERHEAD;
        job->raw = ngx_alloc(job->raw_cap, ngx_cycle->log);

        if (job->raw == NULL) {
            job->raw_cap = 0;
        }
    }

    job->raw_len = job->raw_cap;

    if (job->raw == NULL
        || x402_tx_sign(xmcf->x402, job->raw, &job->raw_len, job->hash, &tx,
                        job->acct->key)
           != X402_OK)
    {
        job->raw_len = 0;

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "x402: settlement of %s: signing failed", job->key);
        ngx_http_x402_job_release_nonce(job);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_signing_failed");
        return;
    }

    job->tx[0] = '0';
    job->tx[1] = 'x';
    x402_hex_encode((char *) job->tx + 2, job->hash, 32);

    /* the hash is on record, and the signed bytes kept, before it is sent */

    if ((job->hooks != NULL
         ? job->hooks->record(job, ngx_http_x402_job_broadcast_done)
         : ngx_http_x402_job_write_receipt(job, X402_RS_BROADCAST,
                                           ngx_http_x402_job_broadcast_done))
        != NGX_OK)
    {
        ngx_http_x402_job_release_nonce(job);
        job->tx[0] = '\0';
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_redis_unavailable");
    }
}


static void
ngx_http_x402_job_broadcast_done(void *data, redisReply *reply,
    const char *err)
{
    ngx_http_x402_job_t  *job = data;

    size_t      len;
    u_char      stack[NGX_HTTP_X402_RPC_BODY_MAX], *buf;
    ngx_int_t   rc;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: cannot record the "
                      "broadcast: %s", job->key,
                      reply ? reply->str : err);
        ngx_http_x402_job_release_nonce(job);
        job->tx[0] = '\0';
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_redis_unavailable");
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        /* a reconciler filled the nonce: it is not ours any more */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: settlement of %s: nonce %uL was filled by a "
                      "reconciler before it was signed: not sent",
                      job->key, job->nonce);
        job->tx[0] = '\0';
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_nonce_conflict");
        return;
    }

    buf = ngx_http_x402_job_body(stack, sizeof(stack), job->raw_len, &len);

    if (buf == NULL
        || x402_rpc_send_request((char *) buf, &len, job->raw, job->raw_len,
                                 1)
           != X402_OK)
    {
        if (buf != NULL && buf != stack) {
            ngx_free(buf);
        }

        ngx_http_x402_job_release_nonce(job);
        job->tx[0] = '\0';
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_signing_failed");
        return;
    }

    rc = ngx_http_x402_job_rpc(job, buf, len, ngx_http_x402_job_send_done);

    if (buf != stack) {
        ngx_free(buf);
    }

    if (rc != NGX_OK) {
        /* recorded, not sent: kept for the reconciler to send */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: %s recorded but not sent",
                      job->key, job->tx);
        ngx_http_x402_job_end(job, NGX_HTTP_X402_PENDING,
                              "settlement_pending");
    }
}


static void
ngx_http_x402_job_send_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    char       msg[128];
    uint8_t    hash[32];
    x402_err   xerr;

    if (rc != NGX_OK || status != NGX_HTTP_OK) {
        /* the node may have taken it: follow the hash, do not resend */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: broadcast of %s unconfirmed: "
                      "%s", job->key, job->tx, err ? err : "bad HTTP status");
        job->unconfirmed = 1;
        ngx_http_x402_job_sent(job);
        return;
    }

    msg[0] = '\0';

    xerr = x402_rpc_send_parse(hash, msg, sizeof(msg),
                               (const char *) body->data, body->len, 1);

    if (xerr == X402_OK || ngx_http_x402_node_says(msg, "already known")
        || ngx_http_x402_node_says(msg, "already imported"))
    {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: settlement of %s: sent %s (nonce %uL)",
                      job->key, job->tx, job->nonce);
        ngx_http_x402_job_sent(job);
        return;
    }

    if ((ngx_http_x402_node_says(msg, "nonce too low")
         || ngx_http_x402_node_says(msg, "replacement transaction"))
        && ++job->attempts < NGX_HTTP_X402_SEND_ATTEMPTS)
    {
        /* someone else used the nonce: start over with a fresh one */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: settlement of %s: nonce %uL already used, "
                      "retrying", job->key, job->nonce);
        job->has_nonce = 0;
        job->tx[0] = '\0';

        if (ngx_http_x402_job_fees(job) != NGX_OK) {
            ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                                  "settlement_rpc_unavailable");
        }

        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: settlement of %s: the node refused %s: %s",
                  job->key, job->tx, msg[0] ? msg : x402_strerror(xerr));

    ngx_http_x402_job_release_nonce(job);
    job->tx[0] = '\0';

    /*
     * the settler's account cannot pay (no gas), or its nonces collide:
     * the gateway's fault, tried again; a refusal of the transaction
     * itself is final
     */

    if (ngx_http_x402_node_says(msg, "insufficient funds")) {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_gas_unavailable");
        return;
    }

    if (ngx_http_x402_node_says(msg, "nonce too low")
        || ngx_http_x402_node_says(msg, "replacement transaction"))
    {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_nonce_conflict");
        return;
    }

    ngx_http_x402_job_end(job, NGX_HTTP_X402_FAILED,
                          "invalid_exact_evm_transaction_failed");
}


/*
 * The transaction is out (or may be): a request waiting for it asks for
 * the receipt at once, as a chain that mines on arrival has it already;
 * the rest wait for the mined count.
 */

static void
ngx_http_x402_job_sent(ngx_http_x402_job_t *job)
{
    ngx_http_x402_stat_account(job->acct->index);

    job->wait_until = ngx_current_msec + job->xmcf->settle_timeout;
    job->resend_gap = NGX_HTTP_X402_STALL;
    job->resend_at = ngx_current_msec + job->resend_gap;

    if (!job->served) {
        ngx_http_x402_job_receipt(job);
        return;
    }

    ngx_http_x402_job_wait(job);
}


static void
ngx_http_x402_job_wait(ngx_http_x402_job_t *job)
{
    if (!job->in_queue) {

        if (ngx_queue_empty(&job->acct->mined_waiting)
            && !job->acct->stale_known)
        {
            /* nobody waited: a stall is counted from now, not the last block */
            job->acct->mined_advanced = ngx_current_msec;
        }

        ngx_queue_insert_tail(&job->acct->mined_waiting, &job->waiting);
        job->in_queue = 1;
    }

    ngx_add_timer(&job->poll, NGX_HTTP_X402_POLL_INTERVAL);

    ngx_http_x402_mined_ask(job->acct);
}


static void
ngx_http_x402_job_unwait(ngx_http_x402_job_t *job)
{
    if (job->in_queue) {
        ngx_queue_remove(&job->waiting);
        job->in_queue = 0;
    }

    if (job->poll.timer_set) {
        ngx_del_timer(&job->poll);
    }
}


/* Past x402_settle_timeout: ends the job as "pending". */

static ngx_int_t
ngx_http_x402_job_expired(ngx_http_x402_job_t *job)
{
    if ((ngx_msec_int_t) (ngx_current_msec - job->wait_until) < 0) {
        return 0;
    }

    /* not a failure: the transaction may still land; reconcile later */
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: settlement of %s: %s not mined within "
                  "x402_settle_timeout, recorded as pending",
                  job->key, job->tx);
    ngx_http_x402_job_end(job, NGX_HTTP_X402_PENDING, "settlement_pending");

    return 1;
}


/* A tick of a waiting job. */

static void
ngx_http_x402_job_poll(ngx_event_t *ev)
{
    ngx_http_x402_job_t      *job;
    ngx_http_x402_account_t  *acct;

    job = (ngx_http_x402_job_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_job_t, poll));
    acct = job->acct;

    if (acct->mined_known && job->nonce < acct->mined) {
        ngx_http_x402_job_unwait(job);
        ngx_http_x402_job_receipt(job);
        return;
    }

    if (ngx_http_x402_job_expired(job)) {
        return;
    }

    /*
     * a broadcast without an answer, or nothing of the settler's mined for
     * a while: the transaction may have been lost on its way (and its
     * nonce would stall the rest); resend, less often each time
     */

    if ((ngx_msec_int_t) (ngx_current_msec - job->resend_at) >= 0
        && (job->unconfirmed || !acct->mined_known
            || ngx_current_msec - acct->mined_advanced
               >= NGX_HTTP_X402_STALL))
    {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: settlement of %s: re-sending %s (nonce %uL; "
                      "%s)", job->key, job->tx, job->nonce,
                      job->unconfirmed ? "its broadcast was unconfirmed"
                                       : "the settler's transactions stall");

        ngx_http_x402_job_resend(job);

        job->resend_gap = ngx_min(2 * job->resend_gap,
                                  NGX_HTTP_X402_RESEND_MAX);
        job->resend_at = ngx_current_msec + job->resend_gap;
    }

    ngx_add_timer(&job->poll, NGX_HTTP_X402_POLL_INTERVAL);

    ngx_http_x402_mined_ask(acct);
}


static void
ngx_http_x402_job_receipt(ngx_http_x402_job_t *job)
{
    size_t     len;
    u_char     buf[NGX_HTTP_X402_RPC_BODY_MAX];
    x402_err   xerr;

    len = sizeof(buf);
    xerr = x402_rpc_receipt_request((char *) buf, &len, job->hash, 1);

    ngx_http_x402_job_call(job, xerr, buf, len,
                           ngx_http_x402_job_receipt_done,
                           NGX_HTTP_X402_PENDING, "settlement_pending");
}


static void
ngx_http_x402_job_receipt_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    int        found, ok;
    uint64_t   block;

    found = 0;
    ok = 0;

    if (rc == NGX_OK && status == NGX_HTTP_OK
        && x402_rpc_receipt_parse(&found, &ok, &block,
                                  (const char *) body->data, body->len, 1)
           == X402_OK
        && found)
    {
        if (job->hooks != NULL) {
            /* a batch: what each of its payments did */
            job->hooks->mined(job, body);
            return;
        }

        if (ok) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "x402: settled %s in %s (block %uL)",
                          job->key, job->tx, block);
            ngx_http_x402_job_end(job, NGX_HTTP_X402_SETTLED, NULL);

        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "x402: settlement of %s reverted in %s "
                          "(block %uL)", job->key, job->tx, block);

            /* why, and whether another settlement of it won */
            ngx_http_x402_job_diagnose(job);
        }

        return;
    }

    if (ngx_http_x402_job_expired(job)) {
        return;
    }

    /* not mined yet, or the node has no receipt for it yet: wait again */

    ngx_http_x402_job_wait(job);
}


/*
 * How many of the settler's transactions are mined: one read serves every
 * waiting job of this worker, which then fetches its receipt once.
 */

static void
ngx_http_x402_mined_ask(ngx_http_x402_account_t *acct)
{
    size_t     len;
    u_char     buf[NGX_HTTP_X402_RPC_BODY_MAX];

    if (acct->mined_asking
        || ngx_current_msec - acct->mined_read < NGX_HTTP_X402_MINED_FRESH)
    {
        return;
    }

    len = sizeof(buf);

    if (x402_rpc_mined_count_request((char *) buf, &len, &acct->address, 1)
        != X402_OK)
    {
        return;
    }

    /* a failed read is not retried before the next tick either */
    acct->mined_read = ngx_current_msec;

    if (ngx_http_x402_rpc_post(acct->xmcf, ngx_cycle->log, buf, len,
                               NGX_HTTP_X402_JOB_REPLY_MAX,
                               ngx_http_x402_mined_done, acct)
        == NGX_OK)
    {
        acct->mined_asking = 1;
    }
}


static void
ngx_http_x402_mined_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_account_t  *acct = data;

    uint64_t              count;
    x402_err              xerr;
    ngx_queue_t          *q;
    ngx_http_x402_job_t  *job;

    acct->mined_asking = 0;
    acct->mined_read = ngx_current_msec;

    xerr = X402_ERR_ARG;

    if (rc == NGX_OK && status == NGX_HTTP_OK && body != NULL) {
        xerr = x402_rpc_mined_count_parse(&count, (const char *) body->data,
                                          body->len, 1);
    }

    if (xerr != X402_OK) {
        /* the waiting jobs keep their own deadlines */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: cannot read the mined transaction count of "
                      "settler %s: %s", acct->text,
                      err ? err : x402_strerror(xerr));
        return;
    }

    ngx_http_x402_settler_mined(acct, count);

    q = ngx_queue_head(&acct->mined_waiting);

    while (q != ngx_queue_sentinel(&acct->mined_waiting)) {
        job = ngx_queue_data(q, ngx_http_x402_job_t, waiting);
        q = ngx_queue_next(q);

        if (job->nonce < count) {
            ngx_http_x402_job_unwait(job);
            ngx_http_x402_job_receipt(job);
        }
    }
}


/* A nonce that never reached the chain goes back to the pool. */

static void
ngx_http_x402_job_release_nonce(ngx_http_x402_job_t *job)
{
    char                        score[NGX_INT64_LEN + 1];
    ngx_http_x402_main_conf_t  *xmcf;

    if (!job->has_nonce) {
        return;
    }

    job->has_nonce = 0;
    xmcf = job->xmcf;

    *ngx_sprintf((u_char *) score, "%uL", job->nonce) = '\0';

    /*
     * best effort: a release lost with Redis leaves an allocation the
     * chain never sees, which the reconciler fills (a gap never stays)
     */

    (void) ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log,
                                    ngx_http_x402_job_ignored, NULL, "EVAL",
                                    ngx_http_x402_release_lua, "2",
                                    job->acct->released_key,
                                    job->acct->txs_key, score, NULL);
}


static void
ngx_http_x402_job_log_fee(ngx_http_x402_job_t *job, const char *what)
{
    char  fee[X402_U256_DEC_MAX], max[X402_U256_DEC_MAX];

    x402_u256_format_dec(fee, &job->fees.base_fee);
    x402_u256_format_dec(max, &job->xmcf->max_fee);

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: settlement of %s not signed: %s, %s wei per gas, "
                  "is above x402_settle_max_fee (%s wei)",
                  job->key, what, fee, max);
}


static void
ngx_http_x402_job_guard(ngx_event_t *ev)
{
    ngx_http_x402_job_t  *job;

    job = (ngx_http_x402_job_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_job_t, guard));

    if (job->ending) {
        /* only its last receipt is still being written, for a while */
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: settlement of %s did not finish in time", job->key);

    /* its step in flight still holds the job; only stop waiting for it */

    if (job->poll.timer_set) {
        /* waiting for its block; job_end stops the wait */
        ngx_http_x402_job_end(job, NGX_HTTP_X402_PENDING,
                              "settlement_pending");
    }
}


ngx_int_t
ngx_http_x402_job_write_receipt(ngx_http_x402_job_t *job,
    x402_receipt_status status, ngx_http_x402_redis_done_pt done)
{
    u_char                     *p, *json, *record;
    size_t                      len;
    uint64_t                    left, now;
    ngx_int_t                   rv;
    x402_receipt                rc;
    u_char                      ttl[NGX_INT64_LEN + 1],
                                at[NGX_INT64_LEN + 1],
                                nonce[NGX_INT64_LEN + 1];
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = job->xmcf;

    /* the resource may need six bytes per byte once escaped */
    len = X402_RECEIPT_JSON_MAX + 6 * ngx_strlen(job->resource);

    /* the receipt, then "<hash> <key> <o|s> <raw>" of a broadcast */
    json = ngx_alloc(len + 2 * job->raw_len + 256, ngx_cycle->log);
    if (json == NULL) {
        return NGX_ERROR;
    }

    x402_receipt_init(&rc, &job->offer, &job->payment, job->resource,
                      job->created, (uint64_t) ngx_time());

    rc.status = x402_receipt_status_string(status);
    rc.charged = job->charge;
    rc.has_charged = job->upto;
    rc.transaction = job->tx[0] ? (const char *) job->tx : NULL;
    rc.error = job->error_reason;
    rc.tx_nonce = job->nonce;
    rc.has_tx_nonce = job->has_nonce && job->tx[0];

    if (rc.has_tx_nonce && job->acct != NULL) {
        /* whose nonce it is: the reconciler reads that account's count */
        rc.settler = job->acct->address;
        rc.has_settler = 1;
    }
    rc.mode = job->served ? (job->upto ? "upto" : "async") : "sync";
    rc.batch_size = job->batch_size;
    rc.batch_gas = job->batch_gas;

    if (x402_receipt_encode((char *) json, &len, &rc) != X402_OK) {
        ngx_free(json);
        return NGX_ERROR;
    }

    /* after the receipt's NUL: the record needs less than the 256 bytes */
    record = json + len + 1;
    p = record;

    if (status == X402_RS_BROADCAST && job->raw_len) {
        /* served before its settlement ("o": owed) or not yet ("s") */
        p = ngx_sprintf(p, "%s %s %c ", job->tx, job->key,
                        job->served ? 'o' : 's');
        x402_hex_encode((char *) p, job->raw, job->raw_len);
        p += 2 * job->raw_len;
    }

    *p = '\0';

    now = (uint64_t) ngx_time();
    left = (job->deadline > now) ? job->deadline - now : 0;
    left = ngx_min(left, NGX_HTTP_X402_TTL_MAX);

    *ngx_sprintf(ttl, "%uL", (left + (uint64_t) xmcf->receipt_ttl) * 1000)
        = '\0';

    /* retry: when a reconciler may take it; reserved: the job's lease */
    *ngx_sprintf(at, "%uL", status == X402_RS_RETRY
                            ? (uint64_t) NGX_HTTP_X402_RETRY_AFTER
                            : ngx_http_x402_settler_lease(xmcf, now * 1000,
                                                         job->deadline)
                              - now * 1000) = '\0';

    if (status == X402_RS_RESERVED && !job->served) {
        /* its request waits: a reconciler never settles it */
        at[0] = '-';
        at[1] = '\0';
    }

    *ngx_sprintf(nonce, "%uL", job->nonce) = '\0';

    /* hiredis copies the command: the buffer is ours again at once */
    rv = ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log, done, job,
                                  "EVAL", ngx_http_x402_receipt_lua, "4",
                                  job->key, NGX_HTTP_X402_INFLIGHT_KEY,
                                  NGX_HTTP_X402_UNSETTLED_KEY,
                                  job->acct ? job->acct->txs_key
                                            : NGX_HTTP_X402_NO_SETTLER_TXS,
                                  (char *) json, rc.status, (char *) ttl,
                                  (char *) at, (char *) nonce,
                                  (char *) record, NULL);

    ngx_explicit_memzero(record, p - record);
    ngx_free(json);

    return rv;
}


/*
 * Records the outcome, tells the waiting request, frees the job.  A
 * gateway failure (RETRY) is tried again by a reconciler while the permit
 * leaves time; with a request waiting (sync) it is answered 503 and the
 * reservation released instead, so the same payment can be sent again.
 */

void
ngx_http_x402_job_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *error_reason)
{
    char     amount[X402_U256_DEC_MAX], payer[X402_ADDRESS_STR_LEN];
    time_t   now;

    if (job->hooks != NULL) {
        /* a batch's transaction: its payments end (or go on) each */
        job->ending = 1;
        ngx_http_x402_job_unwait(job);
        job->hooks->end(job, outcome, error_reason);
        return;
    }

    now = ngx_time();

    x402_address_format(payer, &job->payment.from);

    if (outcome == NGX_HTTP_X402_RETRY && job->served
        && job->deadline < (uint64_t) now + NGX_HTTP_X402_GIVE_UP)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s (%s, payer %s): gave up, its "
                      "permit expires before another attempt could land",
                      job->key, job->resource,
                      payer);
        outcome = NGX_HTTP_X402_FAILED;
    }

    if (!job->ending) {
        switch (outcome) {

        case NGX_HTTP_X402_SETTLED:
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLED);
            ngx_http_x402_stat_amount(NGX_HTTP_X402_AMOUNT_SETTLED,
                                      job->offer.chain_id, &job->offer.asset,
                                      &job->charge);

            if (job->session) {
                ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SESSION_SETTLED);
                ngx_http_x402_stat_amount(NGX_HTTP_X402_AMOUNT_SESSION,
                                          job->offer.chain_id,
                                          &job->offer.asset, &job->charge);
            }

            break;

        case NGX_HTTP_X402_PENDING:
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_PENDING);
            break;

        case NGX_HTTP_X402_RETRY:
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_RETRY);
            break;

        default:
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_FAILED);

            if (job->served) {
                /* served, and never paid: the documented loss, counted */
                ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_UNPAID);
                ngx_http_x402_stat_amount(NGX_HTTP_X402_AMOUNT_UNPAID,
                                          job->offer.chain_id,
                                          &job->offer.asset, &job->charge);
            }
        }

        if (outcome == NGX_HTTP_X402_FAILED
            || outcome == NGX_HTTP_X402_RETRY)
        {
            x402_u256_format_dec(amount, &job->charge);

            ngx_log_error((outcome == NGX_HTTP_X402_RETRY ? NGX_LOG_WARN
                                                          : NGX_LOG_ERR),
                          ngx_cycle->log, 0,
                          "x402: settlement of %s (%s, payer %s, %s) %s: "
                          "%s%s", job->key, job->resource,
                          payer, amount,
                          outcome == NGX_HTTP_X402_RETRY
                          ? "not sent, tried again" : "failed",
                          error_reason ? error_reason : "unknown",
                          job->served && outcome == NGX_HTTP_X402_FAILED
                          ? " (served, unpaid)" : "");
        }
    }

    job->outcome = outcome;
    job->error_reason = (outcome == NGX_HTTP_X402_SETTLED) ? NULL
                                                           : error_reason;
    job->ending = 1;

    ngx_http_x402_job_unwait(job);

    if (job->has_nonce && job->tx[0] != '\0'
        && outcome == NGX_HTTP_X402_PENDING
        && (!job->acct->stale_known
            || (time_t) job->created < job->acct->stale_created))
    {
        /* still counts in the backlog until its nonce is mined */
        job->acct->stale_nonce = job->nonce;
        job->acct->stale_created = (time_t) job->created;
        job->acct->stale_known = 1;

        ngx_http_x402_stale_watch(job->acct);
    }

    if (!job->served && outcome == NGX_HTTP_X402_RETRY) {
        ngx_http_x402_job_notify(job);
        ngx_http_x402_job_release(job);
        return;
    }

    /*
     * A waiting request served unsettled ("pending") is answered once
     * Redis knows: a sync receipt left "broadcast" means a request never
     * answered, whose transaction a reconciler cancels.  Any other request
     * need not wait for the bookkeeping.
     */

    if (outcome == NGX_HTTP_X402_PENDING
        && job->op != NULL && job->op->request != NULL)
    {
        job->answer_late = 1;

    } else {
        ngx_http_x402_job_notify(job);
    }

    /* the write is tried again for a while, before a reconciler acts */

    job->rewrite_until = ngx_current_msec
                         + (ngx_http_x402_settler_bound(job->xmcf)
                            - job->xmcf->settle_timeout) / 2;

    ngx_http_x402_job_write_end(job);
}


static void
ngx_http_x402_job_write_end(ngx_http_x402_job_t *job)
{
    if (ngx_http_x402_job_write_receipt(job,
                                        ngx_http_x402_outcomes[job->outcome],
                                        ngx_http_x402_job_ended)
        != NGX_OK)
    {
        ngx_http_x402_job_ended(job, NULL, "cannot send the command");
    }
}


static void
ngx_http_x402_job_ended(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_job_t  *job = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {

        /* served meanwhile: Redis may be down for longer than it waits */

        if (job->answer_late) {
            job->answer_late = 0;
            ngx_http_x402_job_notify(job);
        }

        if ((ngx_msec_int_t) (job->rewrite_until - ngx_current_msec)
            > NGX_HTTP_X402_REWRITE_INTERVAL)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: settlement of %s ended %s (%s) but the "
                          "receipt could not be written (%s): trying again",
                          job->key,
                          x402_receipt_status_string(
                              ngx_http_x402_outcomes[job->outcome]),
                          job->tx[0] ? (char *) job->tx : "no tx",
                          reply ? reply->str : err);

            job->poll.handler = ngx_http_x402_job_rewrite;
            ngx_add_timer(&job->poll, NGX_HTTP_X402_REWRITE_INTERVAL);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s ended %s (%s) but the "
                      "receipt could not be written: %s", job->key,
                      x402_receipt_status_string(
                          ngx_http_x402_outcomes[job->outcome]),
                      job->tx[0] ? (char *) job->tx : "no tx",
                      reply ? reply->str : err);

    } else if (job->answer_late) {
        job->answer_late = 0;
        ngx_http_x402_job_notify(job);
    }

    ngx_http_x402_job_free(job);
}


static void
ngx_http_x402_job_rewrite(ngx_event_t *ev)
{
    ngx_http_x402_job_t  *job;

    job = (ngx_http_x402_job_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_job_t, poll));

    ngx_http_x402_job_write_end(job);
}


static void
ngx_http_x402_job_ignored(void *data, redisReply *reply, const char *err)
{
    /* best effort */
}


static void
ngx_http_x402_job_notify(ngx_http_x402_job_t *job)
{
    ngx_http_request_t             *r;
    ngx_http_x402_ctx_t            *ctx;
    ngx_http_x402_settle_result_t   result;

    if (job->op == NULL) {
        return;
    }

    r = ngx_http_x402_op_finish(job->op, &ctx);
    job->op = NULL;

    if (r == NULL) {
        return;
    }

    result.outcome = job->outcome;
    result.error_reason = job->error_reason;
    ngx_memcpy(result.tx, job->tx, sizeof(job->tx));

    job->done(r, ctx, &result);
}


static void
ngx_http_x402_job_started(ngx_http_x402_job_t *job)
{
    job->counted = 1;

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_STARTED);
    ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_JOBS, 1);
}


/* Deletes the job's reservation (it never reached the chain). */

static void
ngx_http_x402_job_release(ngx_http_x402_job_t *job)
{
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: settlement of %s not sent (%s): reservation "
                  "released", job->key, job->error_reason);

    ngx_http_x402_admitted_remove(job->key);

    if (ngx_http_x402_redis_send(&job->xmcf->redis, ngx_cycle->log,
                                 ngx_http_x402_job_ended, job, "DEL",
                                 job->key, NULL)
        != NGX_OK)
    {
        ngx_http_x402_job_free(job);
    }
}


/*
 * Sends the same signed transaction again while waiting for it: a node
 * that lost it (a broadcast without a reply, a dropped transaction) gets it
 * back, so its nonce never becomes a gap that stalls later settlements.
 * The same bytes have the same hash: it can never be paid twice.
 */

static void
ngx_http_x402_job_resend(ngx_http_x402_job_t *job)
{
    size_t     len;
    u_char     stack[NGX_HTTP_X402_RPC_BODY_MAX], *buf;

    if (job->raw_len == 0) {
        return;
    }

    buf = ngx_http_x402_job_body(stack, sizeof(stack), job->raw_len, &len);
    if (buf == NULL) {
        return;
    }

    if (x402_rpc_send_request((char *) buf, &len, job->raw, job->raw_len, 1)
        == X402_OK)
    {
        (void) ngx_http_x402_rpc_post(job->xmcf, ngx_cycle->log, buf, len,
                                      NGX_HTTP_X402_JOB_REPLY_MAX,
                                      ngx_http_x402_job_resent, NULL);
    }

    if (buf != stack) {
        ngx_free(buf);
    }
}


static void
ngx_http_x402_job_resent(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    /* "already known" or a hash: either way the mined count decides */
}


void
ngx_http_x402_job_free(ngx_http_x402_job_t *job)
{
    ngx_http_x402_ctx_t        *ctx;
#if defined(__GLIBC__)
    ngx_http_x402_main_conf_t  *xmcf;
#endif

    if (job->counted) {
        ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_JOBS, -1);
    }

    if (job->guard.timer_set) {
        ngx_del_timer(&job->guard);
    }

    ngx_http_x402_job_unwait(job);

    if (job->op != NULL) {
        /* never notified: the request, if still there, is not told */
        (void) ngx_http_x402_op_finish(job->op, &ctx);
    }

    if (job->raw != NULL) {
        ngx_explicit_memzero(job->raw, job->raw_cap);
        ngx_free(job->raw);
    }

    if (job->data != job->calldata) {
        ngx_free(job->data);
    }

    if (job->members != NULL) {
        ngx_free(job->members);
    }

    if (job->queued) {
        /* its batch queue: [0] served, [1] a request waits */
        ngx_queue_remove(&job->queue);
        job->xmcf->batch_waiting[job->served ? 0 : 1]--;
    }

    ngx_queue_remove(&job->all);


    if (job->found != NULL) {
        ngx_free(job->found);
    }

#if defined(__GLIBC__)
    xmcf = job->xmcf;
#endif

    ngx_free(job->resource);
    ngx_free(job);

#if defined(__GLIBC__)
    /*
     * a burst of settlements drained: glibc keeps the heap they grew
     * (thousands of queued jobs), so the worker's memory would stay at
     * its peak; once, when the last job ends
     */
    if (++xmcf->jobs_freed >= NGX_HTTP_X402_TRIM_AFTER
        && ngx_queue_empty(&xmcf->jobs))
    {
        xmcf->jobs_freed = 0;
        (void) malloc_trim(0);
    }
#endif
}


ngx_int_t
ngx_http_x402_job_rpc(ngx_http_x402_job_t *job, u_char *buf, size_t len,
    ngx_http_x402_curl_done_pt done)
{
    /* a batch's receipt holds two logs per payment */
    return ngx_http_x402_rpc_post(job->xmcf, ngx_cycle->log, buf, len,
                                  job->hooks ? X402_RPC_REPLY_MAX
                                             : NGX_HTTP_X402_JOB_REPLY_MAX,
                                  done, job);
}


/*
 * A request of the job (xerr: how building it went); one that cannot be
 * built or sent ends the job with outcome and reason.
 */

static void
ngx_http_x402_job_call(ngx_http_x402_job_t *job, x402_err xerr, u_char *buf,
    size_t len, ngx_http_x402_curl_done_pt done,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    if (xerr != X402_OK
        || ngx_http_x402_job_rpc(job, buf, len, done) != NGX_OK)
    {
        ngx_http_x402_job_end(job, outcome, reason);
    }
}


/*
 * A transaction of the settler's own making, recorded in the settler's
 * table before it is sent, for the reconciler: "o" (owed: it is sent again
 * until mined) or "s" (a request waits for it), under key ("-": no
 * payment's receipt).
 */

ngx_int_t
ngx_http_x402_job_record_tx(ngx_http_x402_job_t *job, const char *key,
    ngx_uint_t owed, ngx_http_x402_redis_done_pt done)
{
    u_char     *record, *p;
    ngx_int_t   rv;
    u_char      nonce[NGX_INT64_LEN + 1];

    record = ngx_alloc(X402_REPLAY_KEY_MAX + 2 * job->raw_len + 128,
                       ngx_cycle->log);
    if (record == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(record, "%s %s %c ", job->tx, key, owed ? 'o' : 's');
    x402_hex_encode((char *) p, job->raw, job->raw_len);
    p += 2 * job->raw_len;
    *p = '\0';

    *ngx_sprintf(nonce, "%uL", job->nonce) = '\0';

    rv = ngx_http_x402_redis_send(&job->xmcf->redis, ngx_cycle->log, done,
                                  job, "EVAL", ngx_http_x402_tx_record_lua,
                                  "1", job->acct->txs_key, (char *) nonce,
                                  (char *) record, NULL);

    ngx_explicit_memzero(record, p - record);
    ngx_free(record);

    return rv;
}


/* The record hook of a transaction owed to nobody's request (a channel's
 * deposit, claim or sweep): sent again by the reconciler until mined. */

ngx_int_t
ngx_http_x402_job_record_owed(ngx_http_x402_job_t *job,
    ngx_http_x402_redis_done_pt done)
{
    return ngx_http_x402_job_record_tx(job, "-", 1, done);
}


/*
 * A mined transaction of the settler's own making: 1 when it succeeded,
 * 0 when it reverted; logged either way (with its block).
 */

ngx_uint_t
ngx_http_x402_job_mined_ok(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    int        found, ok;
    uint64_t   block;

    found = 0;
    ok = 0;
    block = 0;

    (void) x402_rpc_receipt_parse(&found, &ok, &block,
                                  (const char *) body->data, body->len, 1);

    if (ok) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: %s mined in %s (block %uL)", job->key, job->tx,
                      block);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s reverted in %s (block %uL)", job->key,
                      job->tx, block);
    }

    return ok ? 1 : 0;
}
