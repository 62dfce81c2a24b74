
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_CHANNEL_H_INCLUDED_
#define _NGX_HTTP_X402_CHANNEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


/* what Redis said of a voucher (ngx_http_x402_channel_reserve()) */
#define NGX_HTTP_X402_CH_FAILED     0       /* Redis failed: ctx->status */
#define NGX_HTTP_X402_CH_OK         1       /* reserved: the channel is ours */
#define NGX_HTTP_X402_CH_UNKNOWN    2       /* no record: read the chain */
#define NGX_HTTP_X402_CH_BUSY       3       /* another request holds it */
#define NGX_HTTP_X402_CH_MISMATCH   4       /* not charged + price */
#define NGX_HTTP_X402_CH_EXCEEDS    5       /* over the balance */
#define NGX_HTTP_X402_CH_STALE      6       /* read the chain again first */
#define NGX_HTTP_X402_CH_AHEAD      7       /* above charged + price */

#define NGX_HTTP_X402_CH_PREFIX     "x402:ch:"
/* x402:ch:<chain>:<channel id, 64 hex digits> */
#define NGX_HTTP_X402_CH_KEY_MAX    (sizeof(NGX_HTTP_X402_CH_PREFIX) + 20 + 66)


/* a request's channel, from its payment to its end (r->pool) */
typedef struct {
    x402_channel_payment         pay;
    uint8_t                      id[32];
    char                         id_hex[65];
    char                         key[NGX_HTTP_X402_CH_KEY_MAX];
    char                         token[33];     /* its hold on the channel */
    x402_u256                    price;
    uint64_t                     chain_id;      /* its location's, when */
    ngx_msec_t                   claim_interval;    /* reserved */

    /* the channel as Redis (or the chain) last told */
    ngx_uint_t                   verdict;       /* NGX_HTTP_X402_CH_* */
    x402_u256                    balance;
    x402_u256                    claimed;
    x402_u256                    charged;       /* before this request */
    x402_u256                    signed_max;    /* its highest voucher */
    uint8_t                      sig[X402_SIGNATURE_MAX];
    size_t                       sig_len;
    uint64_t                     withdraw_at;

    u_char                       tx[67];        /* its deposit's, or "" */
    ngx_msec_t                   busy_since;    /* waiting for another */
    ngx_msec_t                   busy_wait;
    unsigned                     read:1;        /* the chain was read */
    unsigned                     held:1;        /* reserved, not ended */
} ngx_http_x402_channel_t;


/*
 * Reserves the voucher: the channel held for this request, if its
 * voucher is the charge so far plus the price within the balance (plus
 * the deposit it brings).  ch->verdict says; next runs with the request
 * resumed (parked meanwhile: NGX_AGAIN), NGX_ERROR: not sent.
 */
ngx_int_t ngx_http_x402_channel_reserve(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch,
    ngx_http_x402_step_pt next);

/*
 * Reads the channel from the chain (its balance less a pending
 * withdrawal, its total claimed) into Redis, never lowering what Redis
 * counts as charged or claimed.  ctx->status on failure.
 */
ngx_int_t ngx_http_x402_channel_read(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_channel_t *ch,
    ngx_http_x402_step_pt next);

/*
 * The request's end: its charge committed (the response succeeded), or
 * the channel let go.  Neither waits for Redis.
 */
void ngx_http_x402_channel_commit(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch);
void ngx_http_x402_channel_release(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch);

/* The channel's state for its client (balance etc.), charged as given. */
void ngx_http_x402_channel_state(ngx_http_x402_channel_t *ch,
    x402_channel_state *st, const x402_u256 *charged);


/* the claimer's side (flow/claim.c) */

/* x402:ch:due:<chain>: channels with value not claimed, by when due (ms) */
void ngx_http_x402_channel_due_key(char *out, size_t size, uint64_t chain);

/*
 * Up to limit channels due, each leased for lease ms: a flat array of
 * id, config (hex), signed max, signature (hex), charged, claimed, per
 * channel.
 */
ngx_int_t ngx_http_x402_channel_due(ngx_http_x402_main_conf_t *xmcf,
    uint64_t chain, ngx_uint_t limit, ngx_msec_t lease,
    ngx_http_x402_redis_done_pt done, void *data);

/* Claimed on chain: each id's total claimed (ids[i], totals[i]); final[i]:
 * all it ever will be (the rest is over its balance: no longer due). */
ngx_int_t ngx_http_x402_channel_claimed(ngx_http_x402_main_conf_t *xmcf,
    uint64_t chain, ngx_msec_t interval, char **ids, char **totals,
    const u_char *final, ngx_uint_t n);

/* A withdrawal seen on chain: the channel claimed now, its balance less
 * the amount (once per log). */
ngx_int_t ngx_http_x402_channel_withdrawn(ngx_http_x402_main_conf_t *xmcf,
    uint64_t chain, x402_channel_withdraw *w);


#endif /* _NGX_HTTP_X402_CHANNEL_H_INCLUDED_ */
