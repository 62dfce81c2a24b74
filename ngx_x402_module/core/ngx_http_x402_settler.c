
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The settler account's time and fees, read by the settlement jobs and the
 * reconciler alike: how long a job may take, until when it holds a served
 * payment before a reconciler may take it over, a transaction's fee caps,
 * and how many of the settler's transactions the chain has mined.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_settler.h"


/*
 * Every step is bounded; the guard only catches a stuck job.  A
 * reconciler's lease on a payment it takes over lasts as long.
 */

ngx_msec_t
ngx_http_x402_settler_bound(ngx_http_x402_main_conf_t *xmcf)
{
    return xmcf->settle_timeout
           + NGX_HTTP_X402_SEND_ATTEMPTS
             * (2 * xmcf->rpc_timeout + 2 * xmcf->redis.timeout)
           + 4 * xmcf->redis.timeout;
}


/*
 * Until when (ms) the job of a payment served before its settlement holds
 * it, the job starting at "start" (ms): its whole time, but never so long
 * that a reconciler taking over after it, within one round (its interval,
 * and an RPC and two Redis calls of a round still running), would find the
 * permit too close to its deadline (s) to settle; yet long enough for the
 * job's first steps.  A job that outlives its lease only races a takeover:
 * one of the two settlements lands, the other reverts and finds it.
 */

uint64_t
ngx_http_x402_settler_lease(ngx_http_x402_main_conf_t *xmcf, uint64_t start,
    uint64_t deadline)
{
    uint64_t  lease, latest, least, keep;

    lease = start + ngx_http_x402_settler_bound(xmcf);
    least = start + xmcf->rpc_timeout + 2 * xmcf->redis.timeout;
    keep = (NGX_HTTP_X402_GIVE_UP + 1) * 1000 + xmcf->reconcile_interval
           + xmcf->rpc_timeout + 2 * xmcf->redis.timeout;
    latest = (deadline * 1000 > keep) ? deadline * 1000 - keep : 0;

    if (lease > latest) {
        lease = ngx_max(latest, least);
    }

    return lease;
}


/*
 * The fees of a settler transaction: max fee = twice the base fee plus the
 * tip (survives a few full blocks), never above x402_settle_max_fee; nor
 * the tip above the max fee.  The caller checked the base fee against the
 * ceiling.
 */

void
ngx_http_x402_settler_max_fees(ngx_http_x402_main_conf_t *xmcf, x402_tx *tx,
    x402_fees *fees)
{
    tx->max_priority_fee_per_gas = fees->priority_fee;

    if (x402_u256_add(&tx->max_fee_per_gas, &fees->base_fee,
                      &fees->base_fee) != X402_OK
        || x402_u256_add(&tx->max_fee_per_gas, &tx->max_fee_per_gas,
                         &fees->priority_fee) != X402_OK
        || x402_u256_cmp(&tx->max_fee_per_gas, &xmcf->max_fee) > 0)
    {
        tx->max_fee_per_gas = xmcf->max_fee;
    }

    if (x402_u256_cmp(&tx->max_priority_fee_per_gas, &tx->max_fee_per_gas)
        > 0)
    {
        tx->max_priority_fee_per_gas = tx->max_fee_per_gas;
    }
}


/* A fresh count of an account's mined transactions (the reconciler's too). */

void
ngx_http_x402_settler_mined(ngx_http_x402_account_t *acct, uint64_t count)
{
    if (!acct->mined_known || count > acct->mined) {
        acct->mined_advanced = ngx_current_msec;
    }

    acct->mined = count;
    acct->mined_known = 1;
    acct->mined_at = ngx_current_msec;

    if (acct->stale_known && acct->stale_nonce < count) {
        acct->stale_known = 0;
    }
}


/* The account of an address (a receipt's "settler"), or NULL. */

ngx_http_x402_account_t *
ngx_http_x402_settler_find(ngx_http_x402_main_conf_t *xmcf,
    const x402_address *a)
{
    ngx_uint_t  i;

    for (i = 0; i < xmcf->naccounts; i++) {
        if (x402_address_eq(&xmcf->accounts[i].address, a)) {
            return &xmcf->accounts[i];
        }
    }

    return NULL;
}
