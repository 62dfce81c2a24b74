
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_MODULE_H_INCLUDED_
#define _NGX_HTTP_X402_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <x402.h>

#include "ngx_http_x402_redis.h"


#define NGX_HTTP_X402_ACCOUNTS_MAX  16

/* the transactions table of a settlement without an account of ours */
#define NGX_HTTP_X402_NO_SETTLER_TXS  "x402:settler:none:txs"


typedef struct ngx_http_x402_main_conf_s  ngx_http_x402_main_conf_t;

/* a settler account: one x402_settler_key_file */
typedef struct {
    ngx_http_x402_main_conf_t   *xmcf;
    ngx_uint_t                   index;
    x402_address                 address;
    char                         text[X402_ADDRESS_STR_LEN];  /* EIP-55 */
    u_char                       key[32];
    char                        *nonce_key;     /* redis keys */
    char                        *released_key;
    char                        *txs_key;       /* nonce -> transaction */

    /* per worker: how many of its transactions are mined (settler.c) */
    ngx_queue_t                  mined_waiting;  /* jobs with a tx out */
    uint64_t                     mined;
    ngx_msec_t                   mined_read;     /* when last asked */
    ngx_msec_t                   mined_at;       /* when last answered */
    ngx_msec_t                   mined_advanced; /* when it last grew */
    unsigned                     mined_known:1;
    unsigned                     mined_asking:1;

    /* per worker: its oldest settlement recorded pending, until mined */
    uint64_t                     stale_nonce;
    time_t                       stale_created;
    ngx_event_t                  stale_ev;   /* reads the count meanwhile */
    unsigned                     stale_known:1;
} ngx_http_x402_account_t;


struct ngx_http_x402_main_conf_s {
    x402_context                *x402;      /* per worker process */
    ngx_flag_t                   enabled;   /* "x402 on" somewhere */

    ngx_str_t                    rpc;       /* x402_rpc URL */
    ngx_msec_t                   rpc_timeout;
    ngx_http_x402_redis_conf_t   redis;     /* x402_redis */
    ngx_msec_t                   timeout;   /* x402_timeout: a parked wait */
    time_t                       receipt_ttl;

    /* the built-in settler (x402_settler_key_file): its accounts, each
       with a nonce sequence; exact settlements spread over them, the
       rest (upto, channels) are the first's, the address offers name */
    ngx_http_x402_account_t      accounts[NGX_HTTP_X402_ACCOUNTS_MAX];
    ngx_uint_t                   naccounts;
    ngx_uint_t                   next_account;  /* per worker */
    ngx_flag_t                   has_settler;
    x402_address                 settler;       /* the first's */
    ngx_msec_t                   settle_timeout;
    ngx_msec_t                   reconcile_interval;
    ngx_uint_t                   gas_limit_max;
    uint64_t                     chain_id;  /* the settler's (locations') */
    x402_u256                    max_fee;   /* x402_settle_max_fee, wei */
    ngx_flag_t                   max_fee_set;

    /* per worker: the settlements in progress, oldest first (settle.c) */
    ngx_queue_t                  jobs;
    ngx_uint_t                   jobs_freed;    /* since the heap was trimmed */

    /* per worker: payments waiting for their batch (flow/batch.c), those
       served already [0] and those whose request waits [1] */
    ngx_queue_t                  batch_queue[2];
    ngx_uint_t                   batch_waiting[2];
    ngx_event_t                  batch_ev[2];

    /* per worker: the fees of a recent block, for the next settlements */
    x402_u256                    fees_priority;
    x402_u256                    fees_base;
    ngx_msec_t                   fees_read;
    unsigned                     fees_known:1;

    /* batch-settlement: the shortest x402_claim_interval (0: no channels),
       and per worker the claimer (flow/claim.c) */
    ngx_msec_t                   claim_tick;
    ngx_event_t                  claim_ev;
    uint64_t                     watch_from;    /* withdrawals: blocks */
    uint64_t                     watch_to;
    uint64_t                     watch_span;
    unsigned                     claiming:1;
    unsigned                     watching:1;

    ngx_shm_zone_t              *status_zone;   /* "x402_status" */
    ngx_shm_zone_t              *admitted_zone; /* "x402_admitted" */
    ngx_flag_t                   status_used;   /* x402_status somewhere */
    ngx_array_t                 *assets;    /* ngx_http_x402_asset_t */
};


/* an asset some location offers, with its decimals (metrics in tokens) */
typedef struct {
    uint64_t                     chain_id;
    x402_address                 asset;
    ngx_uint_t                   decimals;
} ngx_http_x402_asset_t;


typedef struct {
    ngx_flag_t                   enable;
    u_char                      *enable_file;   /* where "x402 on" is */
    ngx_uint_t                   enable_line;
    ngx_flag_t                   read_model;    /* x402_read_model */
    ngx_uint_t                   read_body;     /* NGX_HTTP_X402_BODY_* */
    ngx_uint_t                   usage_missing; /* x402_usage_missing */
    ngx_uint_t                   scheme;
    ngx_uint_t                   settle;    /* NGX_HTTP_X402_SETTLE_* */
    ngx_uint_t                   settle_batch;  /* x402_settle_batch; 0 */
    ngx_msec_t                   settle_batch_interval;
    ngx_msec_t                   claim_interval;    /* batch-settlement */
    time_t                       withdraw_delay;
    ngx_str_t                    min_deposit;   /* x402_channel_deposit */
    ngx_str_t                    models;        /* x402_models, "a, b" */
    ngx_array_t                 *factories;     /* x402_eip6492_factories:
                                                   x402_address */
    ngx_uint_t                   content;   /* NGX_HTTP_X402_CONTENT_* */
    ngx_int_t                    decimals;
    time_t                       max_timeout;
    time_t                       settle_margin;     /* x402_settle_margin */
    time_t                       response_time; /* x402_max_response_time */
    ngx_uint_t                   receipt_uri;   /* NGX_HTTP_X402_RECEIPT_* */
    ngx_flag_t                   session;       /* x402_session */
    time_t                       session_margin;
    ngx_msec_t                   session_idle;
    ngx_str_t                    session_bind;  /* its place, NUL-ended */

    ngx_str_t                    network;
    ngx_str_t                    asset;
    ngx_str_t                    asset_symbol;  /* x402_asset_symbol */
    ngx_str_t                    status_label;  /* x402_status_label */
    ngx_str_t                    status_name;   /* its value here, NUL-ended */
    ngx_str_t                    pay_to;
    ngx_str_t                    facilitator;
    ngx_str_t                    description;
    ngx_str_t                    facilitator_url;   /* x402_facilitator */
    ngx_str_t                    verify_url;        /* <url>/verify */
    ngx_str_t                    settle_url;        /* <url>/settle */

    ngx_http_complex_value_t    *price;
    ngx_array_t                 *bypass;        /* x402_bypass predicates */
    ngx_uint_t                   payment_id;    /* NGX_HTTP_X402_PID_* */
    ngx_str_t                    extensions_json;   /* the 402's */
    ngx_http_complex_value_t    *input_price;   /* per 1000 tokens (upto) */
    ngx_http_complex_value_t    *output_price;
    ngx_str_t                    usage_header;  /* x402_usage_header */
    ngx_http_complex_value_t    *cors;      /* x402_cors; NULL: off */

    /* the offer as configured; amount valid only for a static price */
    x402_offer                   offer;
    ngx_str_t                    accepts_json;  /* static price: encoded once */

    /* per worker: the node was on the offer's chain, with the asset and
       the settlement proxy deployed */
    time_t                       chain_ok_until;
    time_t                       proxy_retry;   /* no code: not before */
    unsigned                     proxy_checking:1;
} ngx_http_x402_loc_conf_t;


#define NGX_HTTP_X402_PAYMENT_REQUIRED  402

/* a node's error message has this text (nodes differ in case) */
#define ngx_http_x402_node_says(msg, text)                                   \
    (ngx_strcasestrn((u_char *) (msg), (char *) (text), sizeof(text) - 2)   \
     != NULL)

#define NGX_HTTP_X402_VERSION           "0.1.0"

/* Retry-After of a 503: Redis, the node or the settler, seconds */
#define NGX_HTTP_X402_RETRY_AFTER_S     "2"


/*
 * Seconds a payment's permit must have left when it is admitted: its
 * settlement's margin (a session's, with x402_session), its wait for its
 * batch (x402_settle_batch), for upto the longest response before it, and
 * the reference's block-time buffer.
 */
#define ngx_http_x402_min_left(xlcf)                                         \
    (((xlcf)->session ? (xlcf)->session_margin : (xlcf)->settle_margin)      \
     + X402_DEADLINE_MARGIN                                                  \
     + (time_t) (((xlcf)->settle_batch ? (xlcf)->settle_batch_interval : 0)  \
                 + 999) / 1000                                               \
     + ((xlcf)->scheme == X402_SCHEME_UPTO ? (xlcf)->response_time : 0))


#define NGX_HTTP_X402_RECEIPT_PATH  1       /* the URI without its query */
#define NGX_HTTP_X402_RECEIPT_FULL  2

/* receipts whose settlement was sent but not seen mined */
#define NGX_HTTP_X402_INFLIGHT_KEY      "x402:inflight"
/*
 * served payments not settled yet, scored by the time (ms) from which a
 * reconciler may take one over: its job's lease, or its next attempt
 */
#define NGX_HTTP_X402_UNSETTLED_KEY     "x402:unsettled"

/* an upto session's record, by id; its id, by its payment's receipt key */
#define NGX_HTTP_X402_SESSION_PREFIX    "x402:s:"
#define NGX_HTTP_X402_SID_PREFIX        "x402:sid:"
/* s a session's request may run past its longest response (its charge) */
#define NGX_HTTP_X402_SESSION_SLACK     10

/* a reservation outlives the permit's deadline; bound absurd deadlines */
#define NGX_HTTP_X402_TTL_MAX           (10 * 365 * 86400)

/* s before a permit's deadline: too late for a settlement to be tried */
#define NGX_HTTP_X402_GIVE_UP           (X402_DEADLINE_MARGIN + 4)


/*
 * x402_settle: sync settles once the content's status is known and before
 * its first byte goes out (a status >= 400 settles nothing); "sync
 * before_content" settles before the content handler runs; async serves
 * first; off never settles (verified and reserved only).
 */
#define NGX_HTTP_X402_SETTLE_SYNC            1
#define NGX_HTTP_X402_SETTLE_ASYNC           2
#define NGX_HTTP_X402_SETTLE_OFF             3
#define NGX_HTTP_X402_SETTLE_BEFORE_CONTENT  4


/* x402_read_body: what the request body is read for */
#define NGX_HTTP_X402_BODY_OFF      1
#define NGX_HTTP_X402_BODY_MODEL    2   /* an OpenAI "model" */
#define NGX_HTTP_X402_BODY_METHOD   3   /* JSON-RPC methods */


/* x402_payment_identifier */
#define NGX_HTTP_X402_PID_OFF       1
#define NGX_HTTP_X402_PID_ON        2
#define NGX_HTTP_X402_PID_REQUIRED  3


/* a location's content handler from this module: never gated */
#define NGX_HTTP_X402_CONTENT_STATUS    1
#define NGX_HTTP_X402_CONTENT_RECEIPTS  2


#define NGX_HTTP_X402_USAGE_MISSING_CAP   1
#define NGX_HTTP_X402_USAGE_MISSING_ZERO  2


extern ngx_module_t  ngx_http_x402_module;


#endif /* _NGX_HTTP_X402_MODULE_H_INCLUDED_ */
