
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_rpc.h"


ngx_int_t
ngx_http_x402_rpc_post(ngx_http_x402_main_conf_t *xmcf, ngx_log_t *log,
    u_char *buf, size_t len, size_t cap, ngx_http_x402_curl_done_pt done,
    void *data)
{
    ngx_str_t  body;

    body.data = buf;
    body.len = len;

    return ngx_http_x402_curl_post(log, &xmcf->rpc, &body, xmcf->rpc_timeout,
                                   cap, done, data);
}
