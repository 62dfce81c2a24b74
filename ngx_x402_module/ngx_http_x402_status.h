
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_STATUS_H_INCLUDED_
#define _NGX_HTTP_X402_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <x402.h>


/*
 * Counters shared by the workers (x402_status): a fixed shared memory zone
 * "x402_status" created when x402 is on somewhere or x402_status is used.
 * Every function below is a no-op without the zone, and never blocks: plain
 * counters are ngx_atomic_fetch_add; only the first use of a reason string
 * or an asset, and the settled amounts (256-bit sums), take the zone's
 * mutex for a few instructions.
 */


/* plain counters (x402_status names them) */
#define NGX_HTTP_X402_STAT_PAID              0
#define NGX_HTTP_X402_STAT_PAYMENT_REQUIRED  1   /* 402 */
#define NGX_HTTP_X402_STAT_ALLOWANCE         2   /* 412 */
#define NGX_HTTP_X402_STAT_UNAVAILABLE       3   /* 503 */
#define NGX_HTTP_X402_STAT_BAD_REQUEST       4   /* 400: no price */
#define NGX_HTTP_X402_STAT_ERROR             5   /* 500 and others */
#define NGX_HTTP_X402_STAT_PREFLIGHT         6   /* OPTIONS answered 204 */
#define NGX_HTTP_X402_STAT_VERIFIED          7
#define NGX_HTTP_X402_STAT_RESERVED          8
#define NGX_HTTP_X402_STAT_REPLAYS           9
#define NGX_HTTP_X402_STAT_SETTLE_STARTED    10
#define NGX_HTTP_X402_STAT_SETTLED           11
#define NGX_HTTP_X402_STAT_SETTLE_FAILED     12
#define NGX_HTTP_X402_STAT_SETTLE_PENDING    13
#define NGX_HTTP_X402_STAT_RECONCILED        14
#define NGX_HTTP_X402_STAT_RECONCILE_FAILED  15
#define NGX_HTTP_X402_STAT_RECEIPT_FOUND     16
#define NGX_HTTP_X402_STAT_RECEIPT_MISSING   17
#define NGX_HTTP_X402_STAT_RECEIPT_INVALID   18
#define NGX_HTTP_X402_STAT_RECEIPT_FAILED    19
#define NGX_HTTP_X402_STAT_SETTLE_WAITED     20  /* async made to wait */
#define NGX_HTTP_X402_STAT_CUT               21  /* upto: at the margin */
#define NGX_HTTP_X402_STAT_FEE_REFUSED       22  /* above max fee */
#define NGX_HTTP_X402_STAT_SETTLE_RETRY      23  /* the gateway's fault */
#define NGX_HTTP_X402_STAT_UNPAID            24  /* served, never paid */
#define NGX_HTTP_X402_STAT_TAKEN_OVER        25  /* by a reconciler */
#define NGX_HTTP_X402_STAT_STALLED           26  /* refused: settler stalls */
#define NGX_HTTP_X402_STAT_RESENT            27  /* by a reconciler */
#define NGX_HTTP_X402_STAT_GAP_FILLED        28
#define NGX_HTTP_X402_STAT_FORGOTTEN         29  /* replays Redis forgot */
#define NGX_HTTP_X402_STAT_CANCELLED         30  /* sync, never answered */
#define NGX_HTTP_X402_STAT_N                 31


/* gauges: one slot per worker, summed over live workers */
#define NGX_HTTP_X402_GAUGE_PARKED           0
#define NGX_HTTP_X402_GAUGE_JOBS             1
#define NGX_HTTP_X402_GAUGE_N                2


/* amounts: exact 256-bit sums per network and asset */
#define NGX_HTTP_X402_AMOUNT_SETTLED         0
#define NGX_HTTP_X402_AMOUNT_UNPAID          1


/* latency histograms */
#define NGX_HTTP_X402_STAT_RPC               0   /* chain node, facilitator */
#define NGX_HTTP_X402_STAT_REDIS             1


void ngx_http_x402_stat_add(ngx_uint_t counter, ngx_atomic_int_t n);
void ngx_http_x402_stat_reason(ngx_uint_t status, const char *reason);
void ngx_http_x402_stat_latency(ngx_uint_t which, ngx_msec_t start,
    ngx_uint_t failed);
void ngx_http_x402_stat_amount(ngx_uint_t kind, uint64_t chain_id,
    const x402_address *asset, const x402_u256 *amount);
void ngx_http_x402_stat_gauge(ngx_uint_t gauge, ngx_atomic_int_t n);
void ngx_http_x402_status_init_process(void);


#define ngx_http_x402_stat_inc(counter)  ngx_http_x402_stat_add(counter, 1)


#endif /* _NGX_HTTP_X402_STATUS_H_INCLUDED_ */
