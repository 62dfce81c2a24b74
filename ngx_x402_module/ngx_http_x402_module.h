
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
#include "ngx_http_x402_status.h"


typedef struct {
    x402_context                *x402;      /* per worker process */
    ngx_flag_t                   enabled;   /* "x402 on" somewhere */

    ngx_str_t                    rpc;       /* x402_rpc URL */
    ngx_msec_t                   rpc_timeout;
    ngx_http_x402_redis_conf_t   redis;     /* x402_redis */
    ngx_msec_t                   timeout;   /* x402_timeout: a parked wait */
    time_t                       receipt_ttl;

    /* the built-in settler (x402_settler_key_file) */
    ngx_str_t                    settler_key_file;
    char                        *nonce_key;     /* redis keys */
    char                        *released_key;
    char                        *txs_key;       /* nonce -> transaction */
    ngx_flag_t                   has_settler;
    u_char                       settler_key[32];
    x402_address                 settler;
    ngx_msec_t                   settle_timeout;
    ngx_msec_t                   reconcile_interval;
    ngx_uint_t                   gas_limit_max;
    uint64_t                     chain_id;  /* the settler's (locations') */
    x402_u256                    max_fee;   /* x402_settle_max_fee, wei */
    ngx_flag_t                   max_fee_set;

    /* per worker: the settlements in progress, oldest first (settle.c) */
    ngx_queue_t                  jobs;

    /* per worker: how many settler transactions are mined (settle.c) */
    ngx_queue_t                  mined_waiting;  /* jobs with a tx out */
    uint64_t                     mined;
    ngx_msec_t                   mined_read;     /* when last asked */
    ngx_msec_t                   mined_at;       /* when last answered */
    ngx_msec_t                   mined_advanced; /* when it last grew */
    unsigned                     mined_known:1;
    unsigned                     mined_asking:1;

    /* per worker: the oldest settlement recorded pending, until mined */
    uint64_t                     stale_nonce;
    time_t                       stale_created;
    ngx_event_t                  stale_ev;   /* reads the count meanwhile */
    unsigned                     stale_known:1;

    /* per worker: the fees of a recent block, for the next settlements */
    x402_u256                    fees_priority;
    x402_u256                    fees_base;
    ngx_msec_t                   fees_read;
    unsigned                     fees_known:1;

    ngx_shm_zone_t              *status_zone;   /* "x402_status" */
    ngx_shm_zone_t              *admitted_zone; /* "x402_admitted" */
    ngx_flag_t                   status_used;   /* x402_status somewhere */
} ngx_http_x402_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_flag_t                   read_model;    /* x402_read_model */
    ngx_uint_t                   usage_missing; /* x402_usage_missing */
    ngx_uint_t                   scheme;
    ngx_uint_t                   settle;    /* NGX_HTTP_X402_SETTLE_* */
    ngx_uint_t                   content;   /* NGX_HTTP_X402_CONTENT_* */
    ngx_int_t                    decimals;
    time_t                       max_timeout;
    time_t                       settle_margin;     /* x402_settle_margin */
    time_t                       response_time; /* x402_max_response_time */
    ngx_uint_t                   receipt_uri;   /* NGX_HTTP_X402_RECEIPT_* */

    ngx_str_t                    network;
    ngx_str_t                    asset;
    ngx_str_t                    pay_to;
    ngx_str_t                    facilitator;
    ngx_str_t                    description;
    ngx_str_t                    facilitator_url;   /* x402_facilitator */
    ngx_str_t                    verify_url;        /* <url>/verify */
    ngx_str_t                    settle_url;        /* <url>/settle */

    ngx_http_complex_value_t    *price;
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

/* Retry-After of a 503: Redis, the node or the settler, seconds */
#define NGX_HTTP_X402_RETRY_AFTER_S     "2"


/*
 * Seconds a payment's permit must have left when it is admitted: its
 * settlement's margin, for upto the longest response before it, and the
 * reference's block-time buffer.
 */
#define ngx_http_x402_min_left(xlcf)                                         \
    ((xlcf)->settle_margin + X402_DEADLINE_MARGIN                            \
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

/* a reservation outlives the permit's deadline; bound absurd deadlines */
#define NGX_HTTP_X402_TTL_MAX           (10 * 365 * 86400)

/* s before a permit's deadline: too late for a settlement to be tried */
#define NGX_HTTP_X402_GIVE_UP           (X402_DEADLINE_MARGIN + 4)


#define NGX_HTTP_X402_SETTLE_SYNC   1
#define NGX_HTTP_X402_SETTLE_ASYNC  2


/* how one payment is settled, decided before it is reserved */
#define NGX_HTTP_X402_MODE_NONE     0       /* nothing settles here */
#define NGX_HTTP_X402_MODE_SYNC     1       /* settled, then served */
#define NGX_HTTP_X402_MODE_ASYNC    2       /* served, then settled */
#define NGX_HTTP_X402_MODE_UPTO     3       /* served, settled at its end */
#define NGX_HTTP_X402_MODE_STALLED  4       /* refused: the settler stalls */


/* a location's content handler from this module: never gated */
#define NGX_HTTP_X402_CONTENT_STATUS    1
#define NGX_HTTP_X402_CONTENT_RECEIPTS  2


/* an asynchronous step in flight; heap memory, it may outlive the request */
typedef struct {
    ngx_http_request_t          *request;   /* NULL once detached */
    void                        *ctx;       /* valid while request is set */
} ngx_http_x402_op_t;


#define NGX_HTTP_X402_IDLE      0
#define NGX_HTTP_X402_RPC       1           /* on-chain checks in flight */
#define NGX_HTTP_X402_REDIS     2           /* reservation in flight */
#define NGX_HTTP_X402_SETTLING  3           /* sync settlement in flight */
#define NGX_HTTP_X402_READING   5           /* reading the request body */
#define NGX_HTTP_X402_DONE      4


typedef struct {
    x402_offer                   offer;     /* what the verdict is for */
    x402_reason                  reason;    /* the verdict */
    ngx_uint_t                   status;    /* 503 etc. when not a reason */
    ngx_uint_t                   state;

    unsigned                     verdict:1;
    unsigned                     paid:1;
    unsigned                     decoded:1; /* payment holds the header */
    unsigned                     local_sig_ok:1;
    unsigned                     body_done:1;   /* x402_read_model */
    unsigned                     upto_charge:1; /* settle after the response */
    unsigned                     charged:1;     /* the upto settlement began */
    unsigned                     upstream_failed:1;
    unsigned                     parked:1;      /* x402_parked_requests */
    unsigned                     counted:1;     /* x402_requests_total */

    ngx_uint_t                   mode;      /* NGX_HTTP_X402_MODE_* */
    ngx_str_t                    model;         /* $x402_model */
    uint64_t                     prompt_tokens; /* upto: from the body */
    x402_u256                    charge;        /* upto: what is settled */
    ngx_str_t                    usage_cost;    /* x402_usage_header value */
    void                        *usage;         /* x402_usage, from r->pool */

    x402_payment                 payment;
    ngx_http_x402_op_t          *op;
    ngx_event_t                  deadline;
    ngx_event_t                  cutoff;    /* upto: the response's end */
    ngx_str_t                    receipt;   /* the stored one, on replay */
    ngx_str_t                    resource;  /* the receipt's, NUL-ended */
    const char                  *error;     /* with status, for the client */
    ngx_str_t                    payment_response;  /* PAYMENT-RESPONSE */
    const char                  *reason_text;   /* a reason from elsewhere: */
    ngx_uint_t                   reason_status; /* facilitator, settlement */
    ngx_str_t                    payload_json;  /* for the facilitator */
    void                        *job;       /* sync settlement in flight */
    char                         key[X402_REPLAY_KEY_MAX];

    u_char                       payer[X402_ADDRESS_STR_LEN];
    u_char                       amount[X402_U256_DEC_MAX];
    u_char                       tx[67];    /* the settlement, "0x…" */
} ngx_http_x402_ctx_t;


ngx_int_t ngx_http_x402_precontent_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_x402_answer(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx);
ngx_http_x402_ctx_t *ngx_http_x402_get_ctx(ngx_http_request_t *r);

ngx_int_t ngx_http_x402_send_payment_required(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_uint_t status,
    const char *error, ngx_str_t *receipt);
ngx_int_t ngx_http_x402_push_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_x402_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);
ngx_int_t ngx_http_x402_send_content(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_x402_request_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_x402_preflight(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf);
ngx_int_t ngx_http_x402_cors_init(ngx_conf_t *cf);

/* status and receipts (ngx_http_x402_status.c, _receipts.c) */
ngx_int_t ngx_http_x402_status_zone(ngx_conf_t *cf,
    ngx_http_x402_main_conf_t *xmcf);
ngx_int_t ngx_http_x402_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_x402_receipts_handler(ngx_http_request_t *r);
void ngx_http_x402_unpark(ngx_http_x402_ctx_t *ctx);

/* settlement (ngx_http_x402_settle.c) */
typedef enum {
    NGX_HTTP_X402_SETTLED = 0,
    NGX_HTTP_X402_PENDING,      /* sent, not seen mined: followed later */
    NGX_HTTP_X402_FAILED,       /* the payment's fault: final */
    NGX_HTTP_X402_RETRY         /* the gateway's: not sent, tried again */
} ngx_http_x402_outcome_e;

typedef struct {
    ngx_http_x402_outcome_e      outcome;
    const char                  *error_reason;  /* static string or NULL */
    u_char                       tx[67];        /* "0x…" or "" */
} ngx_http_x402_settle_result_t;

ngx_int_t ngx_http_x402_settle_start(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_uint_t attach);
ngx_int_t ngx_http_x402_settle_receipt(ngx_http_x402_main_conf_t *xmcf,
    const char *key, const char *json, size_t len);
void ngx_http_x402_settle_detach(ngx_http_x402_ctx_t *ctx);
time_t ngx_http_x402_settle_backlog(ngx_http_x402_main_conf_t *xmcf);
ngx_uint_t ngx_http_x402_settle_stalled(ngx_http_x402_main_conf_t *xmcf);
ngx_msec_t ngx_http_x402_settle_bound(ngx_http_x402_main_conf_t *xmcf);
uint64_t ngx_http_x402_settle_lease(ngx_http_x402_main_conf_t *xmcf,
    uint64_t start, uint64_t deadline);
void ngx_http_x402_settle_mined(ngx_http_x402_main_conf_t *xmcf,
    uint64_t count);
void ngx_http_x402_settle_max_fees(ngx_http_x402_main_conf_t *xmcf,
    x402_tx *tx, x402_fees *fees);
ngx_int_t ngx_http_x402_reconcile_init(ngx_cycle_t *cycle,
    ngx_http_x402_main_conf_t *xmcf);
void ngx_http_x402_reconcile_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_x402_facilitator_body(ngx_pool_t *pool,
    ngx_http_x402_ctx_t *ctx, x402_offer *offer, ngx_str_t *body);
void ngx_http_x402_settled(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settle_result_t *result);
void ngx_http_x402_receipt_init(x402_receipt *rc, x402_offer *offer,
    x402_payment *p, const char *resource, uint64_t created);

/* parking and resuming (ngx_http_x402_onchain.c) */
ngx_int_t ngx_http_x402_park(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_op_t *op);
ngx_http_x402_op_t *ngx_http_x402_op_create(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
ngx_http_request_t *ngx_http_x402_op_finish(void *data,
    ngx_http_x402_ctx_t **ctxp);
void ngx_http_x402_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *error);
void ngx_http_x402_finish(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_reason reason);

/* the reservation (ngx_http_x402_reserve.c) */
void ngx_http_x402_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx);

/* the facilitator (ngx_http_x402_facilitator.c) */
ngx_int_t ngx_http_x402_facilitator_verify(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx);

ngx_int_t ngx_http_x402_onchain_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx);
void ngx_http_x402_onchain_detach(ngx_http_x402_ctx_t *ctx);
x402_err ngx_http_x402_encode_payment_required(ngx_pool_t *pool,
    ngx_str_t *json, ngx_str_t *header, const char *error,
    x402_resource *resource, x402_offer *offer, ngx_str_t *accepts);
x402_err ngx_http_x402_encode_accepts(ngx_pool_t *pool, ngx_str_t *accepts,
    x402_offer *offer);

ngx_int_t ngx_http_x402_add_variables(ngx_conf_t *cf);

/* upto billing (ngx_http_x402_usage.c) */
ngx_int_t ngx_http_x402_usage_init(ngx_conf_t *cf);
ngx_int_t ngx_http_x402_read_model(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
void ngx_http_x402_usage_cutoff(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);

#define NGX_HTTP_X402_USAGE_MISSING_CAP   1
#define NGX_HTTP_X402_USAGE_MISSING_ZERO  2


extern ngx_module_t  ngx_http_x402_module;


#endif /* _NGX_HTTP_X402_MODULE_H_INCLUDED_ */
