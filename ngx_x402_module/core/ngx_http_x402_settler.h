
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_SETTLER_H_INCLUDED_
#define _NGX_HTTP_X402_SETTLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_module.h"


/* sends of one transaction before a job gives up on the node */
#define NGX_HTTP_X402_SEND_ATTEMPTS  3


/* the longest a settlement job takes, ms */
ngx_msec_t ngx_http_x402_settler_bound(ngx_http_x402_main_conf_t *xmcf);

/* until when (ms) a job started at start (ms) holds a served payment whose
 * permit ends at deadline (s), before a reconciler may take it over */
uint64_t ngx_http_x402_settler_lease(ngx_http_x402_main_conf_t *xmcf,
    uint64_t start, uint64_t deadline);

/* a transaction's max fee and tip from the node's fees, capped by
 * x402_settle_max_fee */
void ngx_http_x402_settler_max_fees(ngx_http_x402_main_conf_t *xmcf,
    x402_tx *tx, x402_fees *fees);

/* an account's mined transaction count, as just read from the node */
void ngx_http_x402_settler_mined(ngx_http_x402_account_t *acct,
    uint64_t count);

/* the account of an address, or NULL */
ngx_http_x402_account_t *ngx_http_x402_settler_find(
    ngx_http_x402_main_conf_t *xmcf, const x402_address *a);


#endif /* _NGX_HTTP_X402_SETTLER_H_INCLUDED_ */
