
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_io.h"


static ngx_connection_t        ngx_http_x402_dummy;
static ngx_http_x402_timed_pt  ngx_http_x402_timed;


ngx_connection_t *
ngx_http_x402_io_dummy(void)
{
    ngx_http_x402_dummy.fd = (ngx_socket_t) -1;

    return &ngx_http_x402_dummy;
}


void
ngx_http_x402_io_set_timed(ngx_http_x402_timed_pt timed)
{
    ngx_http_x402_timed = timed;
}


void
ngx_http_x402_io_timed(ngx_uint_t which, ngx_msec_t start, ngx_uint_t failed)
{
    if (ngx_http_x402_timed != NULL) {
        ngx_http_x402_timed(which, start, failed);
    }
}
