
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_IO_H_INCLUDED_
#define _NGX_HTTP_X402_IO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * What the io layer shares: one connection-like object for the module's
 * own timers and posted events (nginx's debug logging reads an event's
 * data as a connection: its fd is -1), the wrapping of a socket a library
 * owns (libcurl's, hiredis'), and a hook told how long each RPC or Redis
 * call took, so that io knows nothing of who counts.
 */

#define NGX_HTTP_X402_IO_RPC    0       /* the chain node, a facilitator */
#define NGX_HTTP_X402_IO_REDIS  1

typedef void (*ngx_http_x402_timed_pt)(ngx_uint_t which, ngx_msec_t start,
    ngx_uint_t failed);

ngx_connection_t *ngx_http_x402_io_dummy(void);

/* A wrapped socket's event wanted or not, level-triggered. */
ngx_int_t ngx_http_x402_io_want(ngx_event_t *ev, ngx_uint_t want);

/* Frees a wrapper (flags: of ngx_del_event); the fd stays the library's. */
void ngx_http_x402_io_release(ngx_connection_t *c, ngx_uint_t flags);
void ngx_http_x402_io_set_timed(ngx_http_x402_timed_pt timed);
void ngx_http_x402_io_timed(ngx_uint_t which, ngx_msec_t start,
    ngx_uint_t failed);


#endif /* _NGX_HTTP_X402_IO_H_INCLUDED_ */
