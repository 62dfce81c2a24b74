
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_CLAIM_H_INCLUDED_
#define _NGX_HTTP_X402_CLAIM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_module.h"


/* init_process: this worker's claimer of batch-settlement channels (when
 * a location offers them and the settler is ours). */
void ngx_http_x402_claim_init(ngx_cycle_t *cycle,
    ngx_http_x402_main_conf_t *xmcf);


#endif /* _NGX_HTTP_X402_CLAIM_H_INCLUDED_ */
