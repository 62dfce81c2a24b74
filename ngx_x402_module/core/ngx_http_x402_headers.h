
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_HEADERS_H_INCLUDED_
#define _NGX_HTTP_X402_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* where a walk of a header list is; zero it to start */
typedef struct {
    ngx_list_part_t             *part;
    ngx_uint_t                   i;
} ngx_http_x402_header_walk_t;


/*
 * The next header of the list (r->headers_in.headers or headers_out)
 * named name (len bytes, case-insensitive), skipping deleted ones (hash
 * 0); NULL after the last.
 */
ngx_table_elt_t *ngx_http_x402_header_next(ngx_list_t *list,
    ngx_http_x402_header_walk_t *walk, const char *name, size_t len);


#endif /* _NGX_HTTP_X402_HEADERS_H_INCLUDED_ */
