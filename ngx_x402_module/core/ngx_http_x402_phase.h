
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_PHASE_H_INCLUDED_
#define _NGX_HTTP_X402_PHASE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* Adds a handler to one of nginx's phases (postconfiguration only). */
ngx_int_t ngx_http_x402_phase_add(ngx_conf_t *cf, ngx_http_phases phase,
    ngx_http_handler_pt handler);


#endif /* _NGX_HTTP_X402_PHASE_H_INCLUDED_ */
