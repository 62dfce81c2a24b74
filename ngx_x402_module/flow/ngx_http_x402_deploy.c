
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * A smart wallet that signed before it existed (ERC-6492), its factory
 * allowed and the probe content (steps/ngx_http_x402_onchain.c): the
 * settler deploys it as the reference facilitator does, with a
 * transaction of its own (recorded in the settler's table first, so the
 * reconciler sends it again if this worker dies), and the request waits
 * for it to be mined; the payment is then checked again, the wallet
 * having code (or not: refused then).  One deployment of a wallet at a
 * time in all nodes (a lock in Redis): the same payment sent many times
 * at once costs one transaction, the others are answered 503.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_job.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_deploy.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_X402_DEPLOY_KEY_MAX  (sizeof("x402:deploy::") \
                                       + NGX_INT64_LEN + X402_ADDRESS_STR_LEN)


/* the request waiting, and what its job's `to` points at */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_step_pt        done;
    ngx_http_x402_main_conf_t   *xmcf;
    x402_address                 factory;
    char                         lock[NGX_HTTP_X402_DEPLOY_KEY_MAX];
} ngx_http_x402_deploy_t;


static void ngx_http_x402_deploy_locked(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_deploy_send(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_deploy_t *d);
static void ngx_http_x402_deploy_unlock(ngx_http_x402_deploy_t *d);
static void ngx_http_x402_deploy_mined(ngx_http_x402_job_t *job,
    ngx_str_t *body);
static void ngx_http_x402_deploy_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_deploy_done(ngx_http_x402_job_t *job,
    const char *error);


static ngx_http_x402_job_hooks_t  ngx_http_x402_deploy_hooks = {
    ngx_http_x402_job_record_owed,  /* it lands even if its request left */
    ngx_http_x402_deploy_mined,
    ngx_http_x402_deploy_end
};


void
ngx_http_x402_deploy_wallet(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt done)
{
    u_char                      ms[NGX_INT_T_LEN + 1];
    ngx_http_x402_deploy_t     *d;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    d = ngx_calloc(sizeof(ngx_http_x402_deploy_t), r->connection->log);
    if (d == NULL) {
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    d->done = done;
    d->xmcf = xmcf;
    d->factory = ctx->payment.factory;
    d->op.request = r;
    d->op.ctx = ctx;

    ngx_snprintf((u_char *) d->lock, sizeof(d->lock),
                 "x402:deploy:%uL:%s%Z", ctx->offer.chain_id, ctx->payer);
    *ngx_sprintf(ms, "%M", ngx_http_x402_settler_bound(xmcf)) = '\0';

    /* held for as long as the settler may take over it */

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_deploy_locked, d, "SET",
                                 d->lock, "1", "NX", "PX", (char *) ms, NULL)
        != NGX_OK)
    {
        ngx_free(d);
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    ctx->op = &d->op;
}


static void
ngx_http_x402_deploy_locked(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_deploy_t *d = data;

    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = d->op.request;
    ctx = d->op.ctx;

    if (r == NULL) {
        /* the client left before anything was sent */
        if (reply != NULL && reply->type == REDIS_REPLY_STATUS) {
            ngx_http_x402_deploy_unlock(d);
        }

        ngx_free(d);
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis: no lock for the deployment of %s: %s",
                      ctx->payer, reply ? reply->str : err);
        ctx->op = NULL;
        ngx_free(d);
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        /* another request deploys this wallet now */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: the deployment of wallet %s is under way for "
                      "another request: try again", ctx->payer);
        ctx->op = NULL;
        ngx_free(d);
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable: the "
                                   "payer's wallet is being deployed");
        return;
    }

    ngx_http_x402_deploy_send(r, ctx, d);
}


static void
ngx_http_x402_deploy_send(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_deploy_t *d)
{
    size_t                      len;
    ngx_http_x402_job_t        *job;

    job = ngx_http_x402_settle_call(d->xmcf, &ctx->offer, &d->factory,
                                    &ngx_http_x402_deploy_hooks, d);
    if (job == NULL) {
        goto failed;
    }

    ngx_snprintf((u_char *) job->key, sizeof(job->key),
                 "the deployment of wallet %s (ERC-6492)%Z", ctx->payer);

    len = ctx->payment.factory_data_len;

    job->data = ngx_alloc(len ? len : 1, ngx_cycle->log);
    if (job->data == NULL) {
        job->data = job->calldata;
        ngx_http_x402_job_free(job);
        goto failed;
    }

    ngx_memcpy(job->data, ctx->payment.factory_data, len);
    job->data_len = len;
    job->gas_limit = ctx->deploy_gas;

    if (ngx_http_x402_job_fees(job) != NGX_OK) {
        ngx_http_x402_job_free(job);
        goto failed;
    }

    ngx_http_x402_settle_wait(r, ctx, 0);

    return;

failed:

    ngx_http_x402_deploy_unlock(d);
    ctx->op = NULL;
    ngx_free(d);
    ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
}


/* Best effort, on a connection that is up: the lock expires on its own. */

static void
ngx_http_x402_deploy_unlock(ngx_http_x402_deploy_t *d)
{
    (void) ngx_http_x402_redis_send(&d->xmcf->redis, ngx_cycle->log, NULL,
                                    NULL, "DEL", d->lock, NULL);
}


static void
ngx_http_x402_deploy_mined(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    if (ngx_http_x402_job_mined_ok(job, body)) {
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_WALLETS_DEPLOYED);
    }

    /* reverted: deployed meanwhile (some factories revert then), or not;
       the check again says which */

    ngx_http_x402_deploy_done(job, NULL);
}


static void
ngx_http_x402_deploy_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason)
{
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "x402: %s: %s%s%s", job->key,
                  reason ? reason : "not sent",
                  job->tx[0] ? ", sent as " : "",
                  job->tx[0] ? (char *) job->tx : "");

    if (outcome == NGX_HTTP_X402_FAILED) {
        /* refused by the node: the check again says whether it exists */
        ngx_http_x402_deploy_done(job, NULL);
        return;
    }

    /* not seen mined in time (it may still be), or never sent */
    ngx_http_x402_deploy_done(job, job->tx[0]
                                   ? "payment settlement pending"
                                   : "payment settlement unavailable");
}


/*
 * The deployment's end for its request: error NULL, checked again (the
 * wallet has code or the check refuses it); else unavailable.  The job is
 * freed.
 */

static void
ngx_http_x402_deploy_done(ngx_http_x402_job_t *job, const char *error)
{
    ngx_http_x402_deploy_t *d = job->hook_data;

    ngx_http_request_t     *r;
    ngx_http_x402_ctx_t    *ctx;
    ngx_http_x402_step_pt   done;

    done = d->done;
    ngx_http_x402_job_free(job);
    ngx_http_x402_deploy_unlock(d);

    r = ngx_http_x402_op_finish(&d->op, &ctx);

    if (r == NULL) {
        /* the client left: the wallet is deployed all the same */
        return;
    }

    if (error != NULL) {
        ngx_http_x402_fail(r, ctx, error);
        return;
    }

    ctx->deployed = 1;
    done(r, ctx);
}
