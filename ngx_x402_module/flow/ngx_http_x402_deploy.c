
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
 * having code.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_job.h"
#include "ngx_http_x402_deploy.h"


/* the request waiting, and what its job's `to` points at */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_step_pt        done;
    x402_address                 factory;
} ngx_http_x402_deploy_t;


static void ngx_http_x402_deploy_mined(ngx_http_x402_job_t *job,
    ngx_str_t *body);
static void ngx_http_x402_deploy_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *reason);
static void ngx_http_x402_deploy_done(ngx_http_x402_job_t *job,
    x402_reason reason, const char *error);


static ngx_http_x402_job_hooks_t  ngx_http_x402_deploy_hooks = {
    ngx_http_x402_job_record_owed,  /* it lands even if its request left */
    ngx_http_x402_deploy_mined,
    ngx_http_x402_deploy_end
};


void
ngx_http_x402_deploy_wallet(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt done)
{
    size_t                      len;
    ngx_http_x402_job_t        *job;
    ngx_http_x402_deploy_t     *d;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    d = ngx_calloc(sizeof(ngx_http_x402_deploy_t), r->connection->log);
    if (d == NULL) {
        goto failed;
    }

    d->done = done;
    d->factory = ctx->payment.factory;

    job = ngx_http_x402_settle_call(xmcf, &ctx->offer, &d->factory,
                                    &ngx_http_x402_deploy_hooks, d);
    if (job == NULL) {
        ngx_free(d);
        goto failed;
    }

    ngx_snprintf((u_char *) job->key, sizeof(job->key),
                 "the deployment of wallet %s (ERC-6492)%Z", ctx->payer);

    len = ctx->payment.factory_data_len;

    job->data = ngx_alloc(len ? len : 1, ngx_cycle->log);
    if (job->data == NULL) {
        job->data = job->calldata;
        ngx_http_x402_job_free(job);
        ngx_free(d);
        goto failed;
    }

    ngx_memcpy(job->data, ctx->payment.factory_data, len);
    job->data_len = len;
    job->gas_limit = ctx->deploy_gas;

    if (ngx_http_x402_job_fees(job) != NGX_OK) {
        ngx_http_x402_job_free(job);
        ngx_free(d);
        goto failed;
    }

    d->op.request = r;
    d->op.ctx = ctx;
    ctx->op = &d->op;
    ngx_http_x402_settle_wait(r, ctx, 0);

    return;

failed:

    ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
}


static void
ngx_http_x402_deploy_mined(ngx_http_x402_job_t *job, ngx_str_t *body)
{
    if (!ngx_http_x402_job_mined_ok(job, body)) {
        ngx_http_x402_deploy_done(job, X402_R_SMART_WALLET_DEPLOYMENT_FAILED,
                                  NULL);
        return;
    }

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_WALLETS_DEPLOYED);
    ngx_http_x402_deploy_done(job, X402_R_VALID, NULL);
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
        ngx_http_x402_deploy_done(job, X402_R_SMART_WALLET_DEPLOYMENT_FAILED,
                                  NULL);
        return;
    }

    /* not seen mined in time (it may still be), or never sent */
    ngx_http_x402_deploy_done(job, X402_R_PAYMENT_REQUIRED,
                              job->tx[0] ? "payment settlement pending"
                                         : "payment settlement unavailable");
}


/* The deployment's end for its request; the job is freed. */

static void
ngx_http_x402_deploy_done(ngx_http_x402_job_t *job, x402_reason reason,
    const char *error)
{
    ngx_http_x402_deploy_t *d = job->hook_data;

    ngx_http_request_t     *r;
    ngx_http_x402_ctx_t    *ctx;
    ngx_http_x402_step_pt   done;

    done = d->done;
    ngx_http_x402_job_free(job);

    r = ngx_http_x402_op_finish(&d->op, &ctx);

    if (r == NULL) {
        /* the client left: the wallet is deployed all the same */
        return;
    }

    if (error != NULL) {
        ngx_http_x402_fail(r, ctx, error);
        return;
    }

    if (reason != X402_R_VALID) {
        ngx_http_x402_finish(r, ctx, reason);
        return;
    }

    ctx->deployed = 1;
    done(r, ctx);
}
