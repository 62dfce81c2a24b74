
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Batched settlement (x402_settle_batch size [interval]): a worker's exact
 * payments wait in its queue and go out together, as one transaction of
 * the settler to Multicall3's aggregate3, every call allowed to fail:
 *
 *   the queue is flushed when `size` wait, or `interval` after the first;
 *   -> the batch is simulated (eth_call of the aggregate): a payment whose
 *      call would fail is settled alone instead, which says why (its
 *      reason, or that another settlement of it won);
 *   -> the rest are sent as any settlement (settle.c: fees and estimate,
 *      nonce, every receipt "broadcast" with the hash and the signed
 *      transaction recorded before the send, the wait for the block);
 *   -> once mined, each payment's outcome from the chain: its Permit2
 *      nonce bit at that block and its Transfer log in the receipt, never
 *      the transaction's status; one that did not pay there is settled
 *      alone.
 *
 * Payments served already (async) and payments whose request waits (sync)
 * have a queue each: a batch never mixes them, so that the reconciler may
 * cancel a batch whose requests were never answered.  A queued payment is
 * in its receipt ("reserved", leased past its wait): a worker that dies
 * leaves it to the reconciler, which settles it alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_job.h"
#include "ngx_http_x402_batch.h"




/*
 * A batch transaction's gas limit: what a payment's settle may take there
 * (a settle alone is about 82,000 gas with the 21,000 of its transaction;
 * in a batch about 44,000), within Base's cap of a transaction (EIP-7825,
 * 2^24).  The simulation runs with it: a call it would starve fails
 * there, and is settled alone.
 */
#define NGX_HTTP_X402_BATCH_GAS_BASE   50000
#define NGX_HTTP_X402_BATCH_GAS_ITEM   100000
#define NGX_HTTP_X402_TX_GAS_CAP       16777216


static void ngx_http_x402_batch_tick_served(ngx_event_t *ev);
static void ngx_http_x402_batch_tick_waited(ngx_event_t *ev);
static void ngx_http_x402_batch_tick(ngx_http_x402_main_conf_t *xmcf,
    ngx_uint_t q);
static void ngx_http_x402_batch_flush(ngx_http_x402_main_conf_t *xmcf,
    ngx_uint_t q);
static void ngx_http_x402_batch_name(ngx_http_x402_job_t *carrier);
static ngx_int_t ngx_http_x402_batch_calldata(ngx_http_x402_job_t *carrier);
static void ngx_http_x402_batch_simulate(ngx_http_x402_job_t *carrier);
static void ngx_http_x402_batch_simulated(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_batch_go(ngx_http_x402_job_t *carrier);
static ngx_int_t ngx_http_x402_batch_record(ngx_http_x402_job_t *carrier,
    ngx_http_x402_redis_done_pt done);
static void ngx_http_x402_batch_mined(ngx_http_x402_job_t *carrier,
    ngx_str_t *body);
static void ngx_http_x402_batch_bits(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_batch_end(ngx_http_x402_job_t *carrier,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_batch_alone(ngx_http_x402_job_t *job,
    const char *why);
static void ngx_http_x402_batch_items(ngx_http_x402_job_t *carrier,
    x402_batch_item *items);


static ngx_http_x402_job_hooks_t  ngx_http_x402_batch_hooks = {
    ngx_http_x402_batch_record,
    ngx_http_x402_batch_mined,
    ngx_http_x402_batch_end
};


/* a mined batch, while its payments' nonce bits are read */
typedef struct {
    x402_batch_item             *items;
    x402_transfer               *logs;
    size_t                       nlogs;
    uint64_t                     gas_used;
} ngx_http_x402_batch_mined_t;


static void ngx_http_x402_batch_mined_free(ngx_http_x402_batch_mined_t *m);


/*
 * Settles a reserved payment: in its worker's batch when the location
 * batches, else at once (ngx_http_x402_settle_start()).
 */

ngx_int_t
ngx_http_x402_batch_settle(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settled_pt done)
{
    ngx_uint_t                  q;
    ngx_msec_t                  wait;
    ngx_event_t                *ev;
    ngx_http_x402_job_t        *job;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->settle_batch == 0 || xlcf->facilitator_url.len
        || ctx->upto_charge)
    {
        return ngx_http_x402_settle_start(r, ctx, done);
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    /* its queue's wait, the simulation, and its lone settlement after */
    wait = xlcf->settle_batch_interval + 2 * xmcf->rpc_timeout;

    job = ngx_http_x402_settle_prepare(r, ctx, done, wait);
    if (job == NULL) {
        return NGX_ERROR;
    }

    job->batch_max = xlcf->settle_batch;

    q = (done != NULL);

    ngx_queue_insert_tail(&xmcf->batch_queue[q], &job->queue);
    job->queued = 1;
    xmcf->batch_waiting[q]++;

    if (xmcf->batch_waiting[q] >= job->batch_max) {
        ngx_http_x402_batch_flush(xmcf, q);
        return NGX_OK;
    }

    ev = &xmcf->batch_ev[q];

    /* flushed `interval` after the first that waits */

    if (!ev->timer_set) {
        ev->handler = q ? ngx_http_x402_batch_tick_waited
                        : ngx_http_x402_batch_tick_served;
        ev->data = ngx_http_x402_io_dummy();
        ev->log = ngx_cycle->log;
        /*
         * a graceful stop may run it early; until it runs, the payments'
         * own guard timers keep the worker
         */
        ev->cancelable = 1;
        ngx_add_timer(ev, xlcf->settle_batch_interval);

    } else if (ev->timer.key > ngx_current_msec
                               + xlcf->settle_batch_interval)
    {
        ngx_add_timer(ev, xlcf->settle_batch_interval);
    }

    return NGX_OK;
}


static void
ngx_http_x402_batch_tick_served(ngx_event_t *ev)
{
    ngx_http_x402_batch_tick((ngx_http_x402_main_conf_t *)
        ((u_char *) ev - offsetof(ngx_http_x402_main_conf_t, batch_ev)), 0);
}


static void
ngx_http_x402_batch_tick_waited(ngx_event_t *ev)
{
    ngx_http_x402_batch_tick((ngx_http_x402_main_conf_t *)
        ((u_char *) (ev - 1)
         - offsetof(ngx_http_x402_main_conf_t, batch_ev)), 1);
}


/* The queue's time has come (or the worker stops gracefully). */

static void
ngx_http_x402_batch_tick(ngx_http_x402_main_conf_t *xmcf, ngx_uint_t q)
{
    while (xmcf->batch_waiting[q]) {
        ngx_http_x402_batch_flush(xmcf, q);
    }
}


/*
 * Takes a batch off the head of a queue: as many as the smallest size of
 * the locations they paid for allows.  One alone goes alone.
 */

static void
ngx_http_x402_batch_flush(ngx_http_x402_main_conf_t *xmcf, ngx_uint_t q)
{
    ngx_uint_t             n, max;
    ngx_queue_t           *head;
    ngx_http_x402_job_t   *job, **members, *carrier;

    members = ngx_alloc(xmcf->batch_waiting[q]
                        * sizeof(ngx_http_x402_job_t *), ngx_cycle->log);
    n = 0;
    max = X402_BATCH_MAX;

    while (!ngx_queue_empty(&xmcf->batch_queue[q]) && n < max) {
        head = ngx_queue_head(&xmcf->batch_queue[q]);
        job = ngx_queue_data(head, ngx_http_x402_job_t, queue);

        if (n > 0 && n >= job->batch_max) {
            break;
        }

        ngx_queue_remove(head);
        job->queued = 0;
        xmcf->batch_waiting[q]--;
        max = ngx_min(max, job->batch_max);

        if (members == NULL) {
            ngx_http_x402_batch_alone(job, NULL);
            continue;
        }

        members[n++] = job;
    }

    if (xmcf->batch_waiting[q] == 0 && xmcf->batch_ev[q].timer_set) {
        ngx_del_timer(&xmcf->batch_ev[q]);
    }

    if (members == NULL) {
        return;
    }

    if (n < 2) {
        if (n == 1) {
            ngx_http_x402_batch_alone(members[0], NULL);
        }

        ngx_free(members);
        return;
    }

    carrier = ngx_http_x402_settle_carrier(xmcf, &ngx_http_x402_batch_hooks,
                                           members, n);

    if (carrier == NULL) {
        while (n) {
            ngx_http_x402_batch_alone(members[--n], NULL);
        }

        ngx_free(members);
        return;
    }

    ngx_http_x402_batch_name(carrier);

    /* each payment outlives its batch's transaction (its own guard) */

    for (n = 0; n < carrier->nmembers; n++) {
        job = carrier->members[n];

        if (job->guard.timer_set) {
            ngx_del_timer(&job->guard);
        }

        ngx_add_timer(&job->guard, ngx_http_x402_settler_bound(xmcf)
                                   + 2 * xmcf->rpc_timeout);
    }

    if (ngx_http_x402_batch_calldata(carrier) != NGX_OK) {
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_RETRY,
                              "settlement_signing_failed");
        return;
    }

    carrier->gas_limit = ngx_min(NGX_HTTP_X402_TX_GAS_CAP,
                                 NGX_HTTP_X402_BATCH_GAS_BASE
                                 + carrier->nmembers
                                   * ngx_min(xmcf->gas_limit_max,
                                             NGX_HTTP_X402_BATCH_GAS_ITEM));

    ngx_http_x402_batch_simulate(carrier);
}


/* Which of them would fail: eth_call of the aggregate, from the settler. */

static void
ngx_http_x402_batch_simulate(ngx_http_x402_job_t *carrier)
{
    size_t      len;
    u_char     *buf;
    ngx_int_t   rc;

    len = 2 * carrier->data_len + 1024;
    buf = ngx_alloc(len, ngx_cycle->log);

    rc = (buf != NULL
          && x402_rpc_aggregate3_request((char *) buf, &len,
                                         &carrier->acct->address,
                                         carrier->gas_limit, carrier->data,
                                         carrier->data_len, 1)
             == X402_OK)
         ? ngx_http_x402_job_rpc(carrier, buf, len,
                                 ngx_http_x402_batch_simulated)
         : NGX_ERROR;

    if (buf != NULL) {
        ngx_free(buf);
    }

    if (rc != NGX_OK) {
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
    }
}


/* The batch's name in the logs, with what is left of it. */

static void
ngx_http_x402_batch_name(ngx_http_x402_job_t *carrier)
{
    u_char  *p;

    p = ngx_snprintf((u_char *) carrier->key, X402_REPLAY_KEY_MAX - 1,
                     "a batch of %ui (first %s)", carrier->nmembers,
                     carrier->members[0]->key);
    *p = '\0';
}


/* The aggregate of the carrier's members, its calldata. */

static ngx_int_t
ngx_http_x402_batch_calldata(ngx_http_x402_job_t *carrier)
{
    size_t           *lens, len;
    ngx_uint_t        i;
    const uint8_t   **calls;

    lens = ngx_alloc(carrier->nmembers * (sizeof(size_t) + sizeof(uint8_t *)),
                     ngx_cycle->log);
    if (lens == NULL) {
        return NGX_ERROR;
    }

    calls = (const uint8_t **) (lens + carrier->nmembers);

    for (i = 0; i < carrier->nmembers; i++) {
        calls[i] = carrier->members[i]->data;
        lens[i] = carrier->members[i]->data_len;
    }

    len = x402_aggregate3_len(lens, carrier->nmembers);

    if (carrier->data != carrier->calldata) {
        ngx_free(carrier->data);
    }

    carrier->data = ngx_alloc(len, ngx_cycle->log);

    if (carrier->data == NULL
        || x402_abi_aggregate3(carrier->data, &len,
                               x402_scheme_spender(X402_SCHEME_EXACT),
                               calls, lens, carrier->nmembers)
           != X402_OK)
    {
        if (carrier->data == NULL) {
            carrier->data = carrier->calldata;
        }

        ngx_free(lens);
        return NGX_ERROR;
    }

    carrier->data_len = len;
    ngx_free(lens);

    return NGX_OK;
}


static void
ngx_http_x402_batch_simulated(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *carrier = data;

    ngx_uint_t            i, n;
    const char           *reason;
    x402_call_result     *res;

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: RPC node failed: %s",
                      carrier->key, err ? err : "bad HTTP status");
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
        return;
    }

    res = ngx_alloc(carrier->nmembers * sizeof(x402_call_result),
                    ngx_cycle->log);

    if (res == NULL
        || x402_rpc_aggregate3_parse(res, carrier->nmembers,
                                     (const char *) body->data, body->len, 1)
           != X402_OK)
    {
        /* nothing told per payment: each is settled alone, and says why */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: the simulation gave no "
                      "result per payment: settled one by one",
                      carrier->key);

        if (res != NULL) {
            ngx_free(res);
        }

        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_FAILED,
                              "invalid_exact_evm_transaction_failed");
        return;
    }

    n = 0;

    for (i = 0; i < carrier->nmembers; i++) {
        if (res[i].ok) {
            carrier->members[n++] = carrier->members[i];
            continue;
        }

        reason = res[i].has_revert ? x402_settle_error_reason(res[i].revert)
                                   : "invalid_exact_evm_transaction_failed";

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_BATCH_DROPPED);

        ngx_http_x402_batch_alone(carrier->members[i], reason);
    }

    ngx_free(res);

    carrier->nmembers = n;

    if (n < 2) {
        if (n == 1) {
            ngx_http_x402_batch_alone(carrier->members[0], NULL);
        }

        carrier->nmembers = 0;
        ngx_http_x402_job_free(carrier);
        return;
    }

    if (ngx_http_x402_batch_calldata(carrier) != NGX_OK) {
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_RETRY,
                              "settlement_signing_failed");
        return;
    }

    ngx_http_x402_batch_go(carrier);
}


static void
ngx_http_x402_batch_go(ngx_http_x402_job_t *carrier)
{
    ngx_http_x402_batch_name(carrier);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "x402: settling %s in one transaction", carrier->key);

    if (ngx_http_x402_job_fees(carrier) != NGX_OK) {
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
    }
}


/*
 * Before the send: every payment's receipt "broadcast" with the hash (one
 * command each, in order on the connection), then the signed transaction
 * in the settler's table; done has the table's answer, which comes after
 * the receipts'.
 */

static ngx_int_t
ngx_http_x402_batch_record(ngx_http_x402_job_t *carrier,
    ngx_http_x402_redis_done_pt done)
{
    ngx_uint_t            i;
    ngx_http_x402_job_t  *job;

    for (i = 0; i < carrier->nmembers; i++) {
        job = carrier->members[i];

        /* the carrier's nonce is its account's */
        ngx_memcpy(job->tx, carrier->tx, sizeof(job->tx));
        job->acct = carrier->acct;
        job->nonce = carrier->nonce;
        job->has_nonce = 1;
        job->batch_size = carrier->nmembers;

        if (ngx_http_x402_job_write_receipt(job, X402_RS_BROADCAST, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* served before their settlement ("o": owed) or not yet ("s") */
    return ngx_http_x402_job_record_tx(carrier, carrier->members[0]->key,
                                       carrier->members[0]->served, done);
}


/* Mined: which payments paid, from the receipt's logs and nonce bits. */

static void
ngx_http_x402_batch_mined(ngx_http_x402_job_t *carrier, ngx_str_t *body)
{
    size_t                        len, cap;
    u_char                       *buf;
    x402_tx_outcome               out;
    ngx_http_x402_batch_mined_t  *m;

    m = ngx_calloc(sizeof(ngx_http_x402_batch_mined_t), ngx_cycle->log);
    if (m == NULL) {
        goto pending;
    }

    cap = 2 * carrier->nmembers + 16;

    m->items = ngx_alloc(carrier->nmembers * sizeof(x402_batch_item),
                         ngx_cycle->log);
    m->logs = ngx_alloc(cap * sizeof(x402_transfer), ngx_cycle->log);

    if (m->items == NULL || m->logs == NULL
        || x402_rpc_receipt_transfers_parse(&out, m->logs, cap,
                                            (const char *) body->data,
                                            body->len, 1)
           != X402_OK
        || !out.found)
    {
        goto pending;
    }

    if (!out.status) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s reverted whole in %s (block "
                      "%uL): each settled alone", carrier->key, carrier->tx,
                      out.block);
        ngx_http_x402_batch_mined_free(m);
        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_FAILED,
                              "invalid_exact_evm_transaction_failed");
        return;
    }

    m->nlogs = out.transfers;
    m->gas_used = out.gas_used;

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_BATCHES);
    ngx_http_x402_stat_add(NGX_HTTP_X402_STAT_BATCH_GAS,
                           (ngx_atomic_int_t) out.gas_used);

    ngx_http_x402_batch_items(carrier, m->items);

    len = 300 * carrier->nmembers + 256;
    buf = ngx_alloc(len, ngx_cycle->log);

    if (buf != NULL
        && x402_rpc_nonce_bits_request((char *) buf, &len, m->items,
                                       carrier->nmembers, out.block, 1)
           == X402_OK
        && ngx_http_x402_job_rpc(carrier, buf, len, ngx_http_x402_batch_bits)
           == NGX_OK)
    {
        ngx_free(buf);
        carrier->hook_data = m;     /* the bits' answer finds it there */
        return;
    }

    if (buf != NULL) {
        ngx_free(buf);
    }

pending:

    if (m != NULL) {
        ngx_http_x402_batch_mined_free(m);
    }

    /* mined, and not told apart: the reconciler reads each payment's log */
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: settlement of %s: %s is mined but its outcome per "
                  "payment could not be read: recorded pending",
                  carrier->key, carrier->tx);

    ngx_http_x402_job_end(carrier, NGX_HTTP_X402_PENDING,
                          "settlement_pending");
}


static void
ngx_http_x402_batch_bits(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_job_t  *carrier = data;

    int                          *used, *settled;
    size_t                        paid;
    ngx_uint_t                    i, n;
    ngx_http_x402_job_t          *job;
    ngx_http_x402_batch_mined_t  *m;

    m = carrier->hook_data;
    carrier->hook_data = NULL;
    n = carrier->nmembers;

    used = ngx_alloc(2 * n * sizeof(int), ngx_cycle->log);

    if (used == NULL || rc != NGX_OK || status != NGX_HTTP_OK
        || body == NULL
        || x402_rpc_nonce_bits_parse(used, m->items, n,
                                     (const char *) body->data, body->len, 1)
           != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: settlement of %s: %s is mined but the "
                      "payments' nonce bits could not be read (%s): "
                      "recorded pending", carrier->key, carrier->tx,
                      err ? err : "bad reply");

        if (used != NULL) {
            ngx_free(used);
        }

        ngx_http_x402_batch_mined_free(m);

        ngx_http_x402_job_end(carrier, NGX_HTTP_X402_PENDING,
                              "settlement_pending");
        return;
    }

    settled = used + n;

    paid = x402_batch_match(settled, m->items, used, n, m->logs, m->nlogs);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "x402: settled %uz of %s in %s (%uL gas, %uL a payment)",
                  paid, carrier->key, carrier->tx, m->gas_used,
                  paid ? m->gas_used / paid : 0);

    ngx_http_x402_stat_add(NGX_HTTP_X402_STAT_BATCH_SETTLED,
                           (ngx_atomic_int_t) paid);

    for (i = 0; i < n; i++) {
        job = carrier->members[i];

        if (settled[i]) {
            job->batch_gas = m->gas_used / paid;
            ngx_http_x402_job_end(job, NGX_HTTP_X402_SETTLED, NULL);
            continue;
        }

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_BATCH_DROPPED);

        /* its nonce may be in the batch's input: that is no payment */
        ngx_memcpy(job->exclude, carrier->hash, 32);
        job->has_exclude = 1;

        ngx_http_x402_batch_alone(job, used[i]
                                       ? "its nonce was used elsewhere"
                                       : "its call failed in the batch");
    }

    ngx_free(used);
    ngx_http_x402_batch_mined_free(m);

    carrier->nmembers = 0;
    ngx_http_x402_job_free(carrier);
}


static void
ngx_http_x402_batch_mined_free(ngx_http_x402_batch_mined_t *m)
{
    if (m->items != NULL) {
        ngx_free(m->items);
    }

    if (m->logs != NULL) {
        ngx_free(m->logs);
    }

    ngx_free(m);
}


/*
 * The batch's transaction ended before its payments could be told apart:
 * not sent, or sent and not seen mined (each payment ends so, with the
 * hash), or refused (each is settled alone, and says why).
 */

static void
ngx_http_x402_batch_end(ngx_http_x402_job_t *carrier,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    ngx_uint_t            i;
    ngx_http_x402_job_t  *job;

    for (i = 0; i < carrier->nmembers; i++) {
        job = carrier->members[i];

        if (outcome == NGX_HTTP_X402_FAILED) {
            ngx_http_x402_batch_alone(job, reason);
            continue;
        }

        ngx_memcpy(job->tx, carrier->tx, sizeof(job->tx));
        job->acct = carrier->acct;
        job->has_nonce = carrier->has_nonce && carrier->tx[0];
        job->nonce = carrier->nonce;
        job->batch_size = job->tx[0] ? carrier->nmembers : 0;

        ngx_http_x402_job_end(job, outcome, reason);
    }

    carrier->nmembers = 0;
    ngx_http_x402_job_free(carrier);
}


/* A payment settled on its own after all (its job's own steps). */

static void
ngx_http_x402_batch_alone(ngx_http_x402_job_t *job, const char *why)
{
    if (why != NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: settlement of %s: left out of its batch (%s): "
                      "settled alone", job->key, why);
    }

    if (job->tx[0] != '\0') {
        /* its receipt names the batch: no more (a reconciler would follow
           it), it waits for its own settlement */
        job->tx[0] = '\0';
        job->has_nonce = 0;
        job->batch_size = 0;

        (void) ngx_http_x402_job_write_receipt(job, X402_RS_RESERVED, NULL);
    }

    job->tx[0] = '\0';
    job->has_nonce = 0;
    job->batch_size = 0;

    if (job->guard.timer_set) {
        ngx_del_timer(&job->guard);
    }

    ngx_add_timer(&job->guard, ngx_http_x402_settler_bound(job->xmcf));

    if (ngx_http_x402_job_fees(job) != NGX_OK) {
        ngx_http_x402_job_end(job, NGX_HTTP_X402_RETRY,
                              "settlement_rpc_unavailable");
    }
}


static void
ngx_http_x402_batch_items(ngx_http_x402_job_t *carrier,
    x402_batch_item *items)
{
    ngx_uint_t            i;
    ngx_http_x402_job_t  *job;

    for (i = 0; i < carrier->nmembers; i++) {
        job = carrier->members[i];

        items[i].asset = job->offer.asset;
        items[i].payer = job->payment.from;
        items[i].pay_to = job->offer.pay_to;
        items[i].amount = job->charge;
        items[i].nonce = job->payment.nonce;
    }
}
