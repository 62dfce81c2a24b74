
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_RECEIPTS_H_INCLUDED_
#define _NGX_HTTP_X402_RECEIPTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* GET of an x402_receipts location: a stored receipt by its payment. */
ngx_int_t ngx_http_x402_receipts_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_X402_RECEIPTS_H_INCLUDED_ */
