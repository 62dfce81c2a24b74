
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_CTX_H_INCLUDED_
#define _NGX_HTTP_X402_CTX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* how one payment is settled, decided before it is reserved */
#define NGX_HTTP_X402_MODE_NONE     0       /* nothing settles here */
#define NGX_HTTP_X402_MODE_SYNC     1       /* settled, then served */
#define NGX_HTTP_X402_MODE_ASYNC    2       /* served, then settled */
#define NGX_HTTP_X402_MODE_UPTO     3       /* served, settled at its end */
#define NGX_HTTP_X402_MODE_STALLED  4       /* refused: the settler stalls */
#define NGX_HTTP_X402_MODE_ON_SUCCESS 5     /* settled once the content's
                                               status is < 400, before it
                                               goes out */

/* a response held for its settlement (x402_settle sync) */
#define NGX_HTTP_X402_HOLD_NONE      0
#define NGX_HTTP_X402_HOLD_WAIT      1      /* content not answered yet */
#define NGX_HTTP_X402_HOLD_SETTLING  2      /* answered, held, settling */
#define NGX_HTTP_X402_HOLD_PASS      3      /* released as it is */
#define NGX_HTTP_X402_HOLD_REPLACED  4      /* replaced by our refusal */


/* an upto session (x402_session on), as far as this request knows */
#define NGX_HTTP_X402_SESSION_NONE     0    /* not looked for yet */
#define NGX_HTTP_X402_SESSION_NEW      1    /* none: a payment opens one */
#define NGX_HTTP_X402_SESSION_OPENING  2    /* this payment opens one */
#define NGX_HTTP_X402_SESSION_RESUMED  3    /* served on an open one */
#define NGX_HTTP_X402_SESSION_REFUSED  4    /* unknown, closed, elsewhere */


/* where the request's payment is */
#define NGX_HTTP_X402_IDLE      0
#define NGX_HTTP_X402_RPC       1           /* on-chain checks in flight */
#define NGX_HTTP_X402_REDIS     2           /* reservation in flight */
#define NGX_HTTP_X402_SETTLING  3           /* sync settlement in flight */
#define NGX_HTTP_X402_READING   5           /* reading the request body */
#define NGX_HTTP_X402_DONE      4


typedef struct ngx_http_x402_ctx_s  ngx_http_x402_ctx_t;
typedef struct ngx_http_x402_op_s   ngx_http_x402_op_t;

/* a step's continuation: called when the step has a result */
typedef void (*ngx_http_x402_step_pt)(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);


struct ngx_http_x402_ctx_s {
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
    ngx_uint_t                   hold;      /* NGX_HTTP_X402_HOLD_* */
    ngx_chain_t                 *held;      /* the body, while SETTLING */
    ngx_chain_t                 *held_last;
    ngx_int_t                    hold_rc;   /* an answer sent inline */
    unsigned                     replacing:1;   /* our refusal going out */
    unsigned                     hold_inline:1; /* in the header filter */
    unsigned                     error_paged:1; /* sent to error_page once */
    ngx_str_t                    model;         /* $x402_model */
    x402_jsonrpc_call           *rpc_calls;     /* x402_read_body method */
    ngx_uint_t                   rpc_n;
    ngx_uint_t                   rpc_pricing;   /* 1 + the call priced */
    unsigned                     rpc_batch:1;
    unsigned                     deployed:1;    /* its wallet, by us (6492) */
    ngx_buf_t                   *rpc_reply;     /* upto: the reply, kept */
    uint64_t                     prompt_tokens; /* upto: from the body */
    x402_u256                    charge;        /* upto: what is settled */
    ngx_str_t                    usage_cost;    /* x402_usage_header value */
    void                        *usage;         /* x402_usage, from r->pool */

    x402_payment                 payment;
    void                        *channel;   /* batch-settlement: its
                                               ngx_http_x402_channel_t */
    ngx_str_t                    accepts;   /* a corrective 402's */
    ngx_http_x402_op_t          *op;        /* the step in flight */
    ngx_event_t                  deadline;
    ngx_event_t                  cutoff;    /* upto: the response's end */
    ngx_str_t                    receipt;   /* the stored one, on replay */
    ngx_str_t                    resource;  /* the receipt's, NUL-ended */
    const char                  *error;     /* with status, for the client */
    ngx_str_t                    payment_response;  /* PAYMENT-RESPONSE */
    const char                  *reason_text;   /* a reason from elsewhere: */
    ngx_uint_t                   reason_status; /* facilitator, settlement */
    ngx_str_t                    payload_json;  /* for the facilitator */
    ngx_http_x402_step_pt        next;      /* the running step's */
    ngx_http_x402_step_pt        used;      /* on chain: the nonce is spent */
    ngx_http_x402_step_pt        deploy;    /* on chain: a wallet to deploy
                                               (ERC-6492), deploy_gas its
                                               gas limit */
    uint64_t                     deploy_gas;
    void                        *checks;    /* x402_onchain, r->pool: the
                                               batch a probe goes on from */
    ngx_uint_t                   pid_state;     /* payment-identifier */
    ngx_uint_t                   pid_status;    /* its stored answer's */
    unsigned                     pid_owned:1;   /* claimed by this request */
    u_char                       pid_fp[65];    /* the payment's
                                                   fingerprint, hex */
    ngx_uint_t                   session;       /* NGX_HTTP_X402_SESSION_* */
    const char                  *session_why;   /* REFUSED: for the log */
    uint64_t                     session_hard;  /* s: settled from then */
    x402_u256                    session_room;  /* left, as last read */
    u_char                       session_id[X402_SESSION_ID_LEN + 1];
    u_char                       session_token[33]; /* this request's */
    char                         key[X402_REPLAY_KEY_MAX];

    u_char                       payer[X402_ADDRESS_STR_LEN];
    u_char                       amount[X402_U256_DEC_MAX];
    u_char                       tx[67];    /* the settlement, "0x…" */
};


/*
 * The request's context, kept across internal redirects (which zero
 * r->ctx) by its request pool cleanup; NULL before create.  The cleanup
 * detaches the request from its steps in flight.
 */
ngx_http_x402_ctx_t *ngx_http_x402_get_ctx(ngx_http_request_t *r);
ngx_http_x402_ctx_t *ngx_http_x402_create_ctx(ngx_http_request_t *r);

/* The request no longer waits (the x402_parked_requests gauge). */
void ngx_http_x402_unpark(ngx_http_x402_ctx_t *ctx);

/* The request is going away: its op in flight ends alone, its deadline
 * is off. */
void ngx_http_x402_detach(ngx_http_x402_ctx_t *ctx);

/* seconds the payment's permit has left (0 when past) */
uint64_t ngx_http_x402_permit_left(ngx_http_x402_ctx_t *ctx);

/* ctx->pid_fp: the fingerprint of ctx->payment (x402_payment_fingerprint)
 * in hex, what a payment-identifier and an upto session are bound to. */
void ngx_http_x402_payment_fingerprint(ngx_http_x402_ctx_t *ctx);


#endif /* _NGX_HTTP_X402_CTX_H_INCLUDED_ */
