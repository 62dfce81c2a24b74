
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PAGE_H_INCLUDED_
#define _NGX_HTTP_X402_PAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* The 402 as a page for a browser, into body (r->pool): the offer's terms,
 * or with offer NULL a location priced per request that has no price for
 * this one; error is the refusal's reason, NULL for none. */
ngx_int_t ngx_http_x402_page(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, x402_offer *offer, ngx_str_t *url,
    const char *error, ngx_str_t *body);


#endif /* _NGX_HTTP_X402_PAGE_H_INCLUDED_ */
