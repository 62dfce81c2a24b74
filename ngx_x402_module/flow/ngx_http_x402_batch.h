
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_BATCH_H_INCLUDED_
#define _NGX_HTTP_X402_BATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_settle.h"


/*
 * Settles a reserved payment (as ngx_http_x402_settle_start()): with
 * x402_settle_batch, in its worker's next batch transaction.
 */
ngx_int_t ngx_http_x402_batch_settle(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_settled_pt done);


#endif /* _NGX_HTTP_X402_BATCH_H_INCLUDED_ */
