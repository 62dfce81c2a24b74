
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * A settlement job (settle.c), as the batch queue (flow/batch.c) sees it:
 * a payment's job waits in its worker's queue, and a batch's transaction
 * is a job of its own (a carrier) whose hooks say what its broadcast
 * records and what its receipt means for each payment it carries.
 */


#ifndef _NGX_HTTP_X402_JOB_H_INCLUDED_
#define _NGX_HTTP_X402_JOB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_settle.h"


typedef struct ngx_http_x402_job_s  ngx_http_x402_job_t;

typedef struct {
    /* the broadcast is recorded (the transaction and each receipt) */
    ngx_int_t  (*record)(ngx_http_x402_job_t *job,
                         ngx_http_x402_redis_done_pt done);
    /* its transaction is mined: body is the node's receipt of it */
    void       (*mined)(ngx_http_x402_job_t *job, ngx_str_t *body);
    /* it ended otherwise (not sent, refused, not seen mined in time) */
    void       (*end)(ngx_http_x402_job_t *job,
                      ngx_http_x402_outcome_e outcome, const char *reason);
} ngx_http_x402_job_hooks_t;


struct ngx_http_x402_job_s {
    ngx_http_x402_op_t          *op;        /* sync: the waiting request */
    ngx_http_x402_settled_pt     done;      /* and what it does then */
    ngx_http_x402_main_conf_t   *xmcf;
    ngx_http_x402_account_t     *acct;      /* whose nonce and key */

    ngx_event_t                  guard;     /* non-cancelable */
    ngx_event_t                  poll;
    ngx_queue_t                  waiting;   /* in xmcf->mined_waiting */
    ngx_queue_t                  all;       /* in xmcf->jobs */

    x402_offer                   offer;
    x402_payment                 payment;
    x402_u256                    charge;    /* what is settled */
    uint64_t                     deadline;  /* the permit's, unix s */
    unsigned                     upto:1;
    char                         key[X402_REPLAY_KEY_MAX];
    char                        *resource;
    uint64_t                     created;

    const x402_address          *to;        /* the proxy, or Multicall3 */
    uint8_t                     *data;      /* calldata: the inline */
    size_t                       data_len;  /* buffer, or a batch's */
    uint8_t                      calldata[X402_SETTLE_UPTO_LEN];
    x402_fees                    fees;
    uint64_t                     nonce;
    uint8_t                     *raw;       /* signed: heap, else NULL */
    size_t                       raw_cap;
    size_t                       raw_len;
    uint8_t                      hash[32];
    u_char                       tx[67];    /* "0x" + hash, or "" */
    ngx_msec_t                   wait_until;
    ngx_msec_t                   rewrite_until; /* its last receipt */
    ngx_msec_t                   resend_at;
    ngx_msec_t                   resend_gap;
    ngx_uint_t                   attempts;

    ngx_http_x402_outcome_e      outcome;
    const char                  *error_reason;
    char                         reason[128];   /* a facilitator's */

    /* a batch's transaction (carrier) and its payments; or a payment
       waiting in its worker's batch queue */
    ngx_http_x402_job_hooks_t   *hooks;
    void                        *hook_data;
    ngx_http_x402_job_t        **members;
    ngx_uint_t                   nmembers;
    ngx_queue_t                  queue;     /* in a batch queue */
    ngx_msec_t                   batch_interval;
    ngx_uint_t                   batch_max;
    uint64_t                     gas_limit;     /* set: a batch's own */
    uint64_t                     batch_size;    /* for its receipt */
    uint64_t                     batch_gas;
    uint8_t                      exclude[32];   /* a batch that did not pay
                                                   it: no proof it paid */

    uint8_t                    (*found)[32];    /* transfers to look into */
    ngx_uint_t                   found_n;
    ngx_uint_t                   found_next;

    unsigned                     has_nonce:1;
    unsigned                     ending:1;
    unsigned                     served:1;      /* else a request waits */
    unsigned                     session:1;     /* an upto session's */
    unsigned                     counted:1;     /* x402_settlement_jobs */
    unsigned                     in_queue:1;    /* waiting for its block */
    unsigned                     unconfirmed:1; /* the node may not have it */
    unsigned                     answer_late:1; /* once Redis has its end */
    unsigned                     queued:1;      /* in a batch queue */
    unsigned                     has_exclude:1;
};


/*
 * A request's payment, ready to settle and not started (its request waits
 * when done is set); the caller starts it (ngx_http_x402_job_fees()) or
 * queues it.  NULL on failure.
 */
ngx_http_x402_job_t *ngx_http_x402_settle_prepare(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settled_pt done,
    ngx_msec_t wait);

/* A batch's transaction: to Multicall3, with the hooks' meaning. */
ngx_http_x402_job_t *ngx_http_x402_settle_carrier(
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_job_hooks_t *hooks,
    ngx_http_x402_job_t **members, ngx_uint_t n);

/* A transaction of the settler's own making to `to`, on the offer's chain
 * (NULL: the settler's), with the hooks' meaning (hook_data theirs);
 * calldata (data, data_len: heap, the job's) and gas_limit are the
 * caller's to set before ngx_http_x402_job_fees(). */
ngx_http_x402_job_t *ngx_http_x402_settle_call(
    ngx_http_x402_main_conf_t *xmcf, x402_offer *offer,
    const x402_address *to, ngx_http_x402_job_hooks_t *hooks,
    void *hook_data);

/* The steps a batch shares with every job (settle.c). */
ngx_int_t ngx_http_x402_job_fees(ngx_http_x402_job_t *job);
void ngx_http_x402_job_end(ngx_http_x402_job_t *job,
    ngx_http_x402_outcome_e outcome, const char *error_reason);
void ngx_http_x402_job_free(ngx_http_x402_job_t *job);
ngx_int_t ngx_http_x402_job_rpc(ngx_http_x402_job_t *job, u_char *buf,
    size_t len, ngx_http_x402_curl_done_pt done);
/* Records a transaction of the settler's own making before it is sent
 * (its hash and signed bytes in the settler's table); key "-": no
 * payment's receipt; owed: sent again by the reconciler until mined. */
ngx_int_t ngx_http_x402_job_record_tx(ngx_http_x402_job_t *job,
    const char *key, ngx_uint_t owed, ngx_http_x402_redis_done_pt done);
/* A record hook: ngx_http_x402_job_record_tx(job, "-", 1, done). */
ngx_int_t ngx_http_x402_job_record_owed(ngx_http_x402_job_t *job,
    ngx_http_x402_redis_done_pt done);
/* A mined hook's first step: did the transaction succeed?  Logged. */
ngx_uint_t ngx_http_x402_job_mined_ok(ngx_http_x402_job_t *job,
    ngx_str_t *body);
/* Writes the job's receipt (done may be NULL: queued quietly ahead of a
 * command that is waited for). */
ngx_int_t ngx_http_x402_job_write_receipt(ngx_http_x402_job_t *job,
    x402_receipt_status status, ngx_http_x402_redis_done_pt done);


#endif /* _NGX_HTTP_X402_JOB_H_INCLUDED_ */
