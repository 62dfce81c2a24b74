
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_STATS_H_INCLUDED_
#define _NGX_HTTP_X402_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <x402.h>

#include "ngx_http_x402_io.h"


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
#define NGX_HTTP_X402_STAT_NOT_CHARGED       31  /* sync: content >= 400 */
#define NGX_HTTP_X402_STAT_BYPASSED          32  /* x402_bypass */
#define NGX_HTTP_X402_STAT_FREE              33  /* priced 0 */
#define NGX_HTTP_X402_STAT_SESSION_OPENED    34  /* upto sessions */
#define NGX_HTTP_X402_STAT_SESSION_RESUMED   35  /* requests on one */
#define NGX_HTTP_X402_STAT_SESSION_SETTLED   36  /* taken to settlement */
#define NGX_HTTP_X402_STAT_BATCHES           37  /* batch transactions */
#define NGX_HTTP_X402_STAT_BATCH_SETTLED     38  /* payments paid in one */
#define NGX_HTTP_X402_STAT_BATCH_DROPPED     39  /* left out: settled alone */
#define NGX_HTTP_X402_STAT_BATCH_GAS         40  /* gas the batches used */
#define NGX_HTTP_X402_STAT_CH_VOUCHERS       41  /* channel requests served */
#define NGX_HTTP_X402_STAT_CH_DEPOSITS       42  /* channel deposits mined */
#define NGX_HTTP_X402_STAT_CH_CLAIMS         43  /* claim transactions mined */
#define NGX_HTTP_X402_STAT_CH_CLAIMED        44  /* channel rows claimed */
#define NGX_HTTP_X402_STAT_CH_SWEEPS         45  /* settle(receiver, token) */
#define NGX_HTTP_X402_STAT_CH_WITHDRAWS      46  /* withdrawals seen */
#define NGX_HTTP_X402_STAT_WALLETS_DEPLOYED  47  /* ERC-6492 deployments */
#define NGX_HTTP_X402_STAT_N                 48


/* gauges: one slot per worker, summed over live workers */
#define NGX_HTTP_X402_GAUGE_PARKED           0
#define NGX_HTTP_X402_GAUGE_JOBS             1
#define NGX_HTTP_X402_GAUGE_N                2


/* amounts: exact 256-bit sums per network and asset */
#define NGX_HTTP_X402_AMOUNT_SETTLED         0
#define NGX_HTTP_X402_AMOUNT_UNPAID          1
#define NGX_HTTP_X402_AMOUNT_SESSION         2   /* settled sessions */
#define NGX_HTTP_X402_AMOUNT_CHANNEL         3   /* claimed on channels */
#define NGX_HTTP_X402_AMOUNT_N               4


/* latency histograms, of the io layer's calls */
#define NGX_HTTP_X402_STAT_RPC               NGX_HTTP_X402_IO_RPC
#define NGX_HTTP_X402_STAT_REDIS             NGX_HTTP_X402_IO_REDIS


/* A request's outcome (NGX_HTTP_X402_STAT_PAID ... _PREFLIGHT): counted in
 * all and under its location's x402_status_label. */
void ngx_http_x402_stat_request(ngx_http_request_t *r, ngx_uint_t outcome);

void ngx_http_x402_stat_add(ngx_uint_t counter, ngx_atomic_int_t n);
void ngx_http_x402_stat_reason(ngx_uint_t status, const char *reason);
void ngx_http_x402_stat_latency(ngx_uint_t which, ngx_msec_t start,
    ngx_uint_t failed);
void ngx_http_x402_stat_amount(ngx_uint_t kind, uint64_t chain_id,
    const x402_address *asset, const x402_u256 *amount);
void ngx_http_x402_stat_gauge(ngx_uint_t gauge, ngx_atomic_int_t n);

/* a transaction sent from settler account i (x402_settler_key_file's) */
void ngx_http_x402_stat_account(ngx_uint_t i);
void ngx_http_x402_status_init_process(void);

/* the zone "x402_status" (configuration) */
struct ngx_http_x402_main_conf_s;
ngx_int_t ngx_http_x402_status_zone(ngx_conf_t *cf,
    struct ngx_http_x402_main_conf_s *xmcf);



/* the zone's layout, for its printer (outputs/ngx_http_x402_metrics.c) */

#define NGX_HTTP_X402_STATUS_ZONE_SIZE   (128 * 1024)
#define NGX_HTTP_X402_STATUS_MAGIC       0x78343032
#define NGX_HTTP_X402_STATUS_VERSION     5
#define NGX_HTTP_X402_STATUS_REASONS     64
#define NGX_HTTP_X402_STATUS_REASON_LEN  64
#define NGX_HTTP_X402_STATUS_ASSETS      32
/* (location label, outcome) pairs: x402_location_requests_total */
#define NGX_HTTP_X402_STATUS_LOCATIONS   256
#define NGX_HTTP_X402_STATUS_BUCKETS     12
#define NGX_HTTP_X402_STATUS_SLOTS       64     /* workers, old and new */
#define NGX_HTTP_X402_STATUS_ACCOUNTS    16     /* settler accounts */


typedef struct {
    ngx_atomic_t                 bucket[NGX_HTTP_X402_STATUS_BUCKETS];
    ngx_atomic_t                 count;
    ngx_atomic_t                 sum;       /* ms */
    ngx_atomic_t                 errors;
} ngx_http_x402_status_hist_t;


typedef struct {
    ngx_atomic_t                 used;      /* name and status are set */
    ngx_atomic_t                 count;
    ngx_uint_t                   status;
    u_char                       name[NGX_HTTP_X402_STATUS_REASON_LEN];
} ngx_http_x402_status_reason_t;


typedef struct {
    ngx_uint_t                   used;
    uint64_t                     chain_id;
    x402_address                 asset;
    x402_u256                    total;     /* exact, under the mutex */
} ngx_http_x402_status_amount_t;


/*
 * A worker's gauges: its own slot, claimed at start, so that what a
 * worker killed by a signal held (parked requests, settlement jobs) stops
 * counting with it; only live workers' slots are summed.
 */
typedef struct {
    ngx_atomic_t                 pid;       /* 0: free */
    ngx_atomic_t                 gauge[NGX_HTTP_X402_GAUGE_N];
} ngx_http_x402_status_slot_t;


typedef struct {
    uint32_t                     magic;
    uint32_t                     version;

    ngx_atomic_t                 counter[NGX_HTTP_X402_STAT_N];
    ngx_http_x402_status_hist_t  hist[2];

    ngx_http_x402_status_reason_t  reasons[NGX_HTTP_X402_STATUS_REASONS];
    ngx_atomic_t                 reasons_other[2];  /* 402, 412 */
    ngx_http_x402_status_reason_t  locations[NGX_HTTP_X402_STATUS_LOCATIONS];
    ngx_http_x402_status_amount_t  amounts[NGX_HTTP_X402_AMOUNT_N]
                                          [NGX_HTTP_X402_STATUS_ASSETS];
    ngx_http_x402_status_slot_t  slots[NGX_HTTP_X402_STATUS_SLOTS];
    ngx_atomic_t                 accounts[NGX_HTTP_X402_STATUS_ACCOUNTS];
    ngx_atomic_t                 overflow;
} ngx_http_x402_status_shm_t;



/* upper bounds of the latency buckets, ms */
extern const ngx_msec_t  ngx_http_x402_status_le[NGX_HTTP_X402_STATUS_BUCKETS];

/* the zone, NULL before it is mapped; *spp its slab pool (may be NULL) */
ngx_http_x402_status_shm_t *ngx_http_x402_status_get(ngx_slab_pool_t **spp);
/* is this pid a worker of ours still alive */
ngx_int_t ngx_http_x402_status_alive(ngx_atomic_uint_t pid);


/*
 * The module's zones (this one, x402_admitted) are made alike: one block
 * in the zone's slab pool.  add: the zone, NULL on failure; alloc (from
 * the zone's init): the block, zeroed when the zone is new, NULL without
 * memory; get: the block, NULL without the zone or before it is mapped,
 * *spp its slab pool (spp may be NULL).
 */
ngx_shm_zone_t *ngx_http_x402_shm_add(ngx_conf_t *cf, char *name,
    size_t size, ngx_shm_zone_init_pt init);
void *ngx_http_x402_shm_alloc(ngx_shm_zone_t *shm_zone, size_t size);
void *ngx_http_x402_shm_get(ngx_shm_zone_t *shm_zone, ngx_slab_pool_t **spp);


#define ngx_http_x402_stat_inc(counter)  ngx_http_x402_stat_add(counter, 1)


#endif /* _NGX_HTTP_X402_STATS_H_INCLUDED_ */
