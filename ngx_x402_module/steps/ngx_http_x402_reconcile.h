
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RECONCILE_H_INCLUDED_
#define _NGX_HTTP_X402_RECONCILE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* a settlement of a served payment from its receipt (the takeover), of
 * charge when not NULL (an upto session's total) */
typedef ngx_int_t (*ngx_http_x402_takeover_pt)(
    ngx_http_x402_main_conf_t *xmcf, const char *key, const char *json,
    size_t len, const x402_u256 *charge);

/* init_process: the reconciler's timer (x402_reconcile_interval). */
ngx_int_t ngx_http_x402_reconcile_init(ngx_cycle_t *cycle,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_takeover_pt takeover);
void ngx_http_x402_reconcile_exit(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_X402_RECONCILE_H_INCLUDED_ */
