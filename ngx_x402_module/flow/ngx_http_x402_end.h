
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_END_H_INCLUDED_
#define _NGX_HTTP_X402_END_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* The LOG handler: what a request's response decided about its payment. */
ngx_int_t ngx_http_x402_end_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_X402_END_H_INCLUDED_ */
