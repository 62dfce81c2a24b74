
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The request's context: created on the first need, found again after an
 * internal redirect (which zeroes r->ctx) through its request pool cleanup,
 * as ngx_http_realip_module does; the cleanup detaches the request from
 * its steps in flight, which then end alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"


static void ngx_http_x402_cleanup(void *data);


ngx_http_x402_ctx_t *
ngx_http_x402_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_x402_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_x402_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_x402_module);
            break;
        }
    }

    return ctx;
}


ngx_http_x402_ctx_t *
ngx_http_x402_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_x402_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_x402_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_x402_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_x402_module);

    return ctx;
}


/* the request is going away */

static void
ngx_http_x402_cleanup(void *data)
{
    ngx_http_x402_ctx_t  *ctx = data;

    ngx_http_x402_detach(ctx);
    ngx_http_x402_unpark(ctx);

    if (ctx->cutoff.timer_set) {
        ngx_del_timer(&ctx->cutoff);
    }
}


/*
 * Seconds left on the payment's permit: 0 once its deadline has passed (a
 * slow check may end after it), all ones for a deadline beyond 64 bits.
 */

uint64_t
ngx_http_x402_permit_left(ngx_http_x402_ctx_t *ctx)
{
    uint64_t  deadline, now;

    if (x402_u256_to_u64(&deadline, &ctx->payment.deadline) != X402_OK) {
        return (uint64_t) -1;
    }

    now = (uint64_t) ngx_time();

    return deadline > now ? deadline - now : 0;
}


/* The request no longer waits (x402_parked_requests). */

void
ngx_http_x402_unpark(ngx_http_x402_ctx_t *ctx)
{
    if (ctx->parked) {
        ctx->parked = 0;
        ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_PARKED, -1);
    }
}


/* The request is going away: its ops must not touch it any more. */

void
ngx_http_x402_detach(ngx_http_x402_ctx_t *ctx)
{
    if (ctx->op) {
        ctx->op->request = NULL;
        ctx->op = NULL;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }
}


void
ngx_http_x402_payment_fingerprint(ngx_http_x402_ctx_t *ctx)
{
    uint8_t  fp[32];

    x402_payment_fingerprint(fp, ctx->offer.chain_id, &ctx->payment);
    x402_hex_encode((char *) ctx->pid_fp, fp, sizeof(fp));
    ctx->pid_fp[64] = '\0';
}
