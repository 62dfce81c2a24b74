
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_SETTLE_H_INCLUDED_
#define _NGX_HTTP_X402_SETTLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"


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

/* a waiting request's settlement ended */
typedef void (*ngx_http_x402_settled_pt)(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settle_result_t *result);

/* The request waits for a settlement (or a transaction of the settler's
 * own for it), held at most extra ms more than the settler's bound. */
void ngx_http_x402_settle_wait(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_msec_t extra);

/* Settles a reserved payment; with done the request waits for it. */
ngx_int_t ngx_http_x402_settle_start(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settled_pt done);

/* Settles a served payment from its receipt alone (a takeover), for
 * charge when not NULL (an upto session's total). */
ngx_int_t ngx_http_x402_settle_receipt(ngx_http_x402_main_conf_t *xmcf,
    const char *key, const char *json, size_t len, const x402_u256 *charge);

/* How far this worker's settlements lag (s), and whether the settler's
 * transactions stall (none mined for x402_settle_timeout): for exact,
 * every account's; else the first's, which settles the rest. */
time_t ngx_http_x402_settle_backlog(ngx_http_x402_main_conf_t *xmcf);
ngx_uint_t ngx_http_x402_settle_stalled(ngx_http_x402_main_conf_t *xmcf,
    x402_scheme scheme);


#endif /* _NGX_HTTP_X402_SETTLE_H_INCLUDED_ */
