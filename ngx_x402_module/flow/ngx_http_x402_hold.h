
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_HOLD_H_INCLUDED_
#define _NGX_HTTP_X402_HOLD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* x402_settle sync: the filters that hold a response for its settlement,
 * and the LOG handler that releases a reservation no response used. */
ngx_int_t ngx_http_x402_hold_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_X402_HOLD_H_INCLUDED_ */
