
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_x402_io.h"


static ngx_connection_t        ngx_http_x402_dummy;
static ngx_http_x402_timed_pt  ngx_http_x402_timed;


ngx_connection_t *
ngx_http_x402_io_dummy(void)
{
    ngx_http_x402_dummy.fd = (ngx_socket_t) -1;

    return &ngx_http_x402_dummy;
}


/* level-triggered: the libraries do one bounded step per socket action */

ngx_int_t
ngx_http_x402_io_want(ngx_event_t *ev, ngx_uint_t want)
{
    ngx_uint_t  event;

    event = ev->write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (want && !ev->active) {
        return ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    }

    if (!want && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


void
ngx_http_x402_io_release(ngx_connection_t *c, ngx_uint_t flags)
{
    if (c->fd == (ngx_socket_t) -1) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
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
