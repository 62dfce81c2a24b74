
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RPC_H_INCLUDED_
#define _NGX_HTTP_X402_RPC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"


/* a request body the steps build on their stack (a raw transaction, a
 * settle call): room for a contract wallet's longest signature */
#define NGX_HTTP_X402_RPC_BODY_MAX  (4096 + 4 * X402_SIGNATURE_MAX)


/*
 * POSTs a JSON-RPC body (len bytes of buf, copied) to the chain node
 * (x402_rpc) with x402_rpc_timeout, accepting a reply of at most cap bytes:
 * NGX_OK (done runs later) or NGX_ERROR (done never runs; logged).
 */
ngx_int_t ngx_http_x402_rpc_post(ngx_http_x402_main_conf_t *xmcf,
    ngx_log_t *log, u_char *buf, size_t len, size_t cap,
    ngx_http_x402_curl_done_pt done, void *data);


#endif /* _NGX_HTTP_X402_RPC_H_INCLUDED_ */
