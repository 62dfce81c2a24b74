
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_X402_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"


/* $x402_payer, $x402_amount, $x402_tx, ... */
ngx_int_t ngx_http_x402_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_X402_VARIABLES_H_INCLUDED_ */
