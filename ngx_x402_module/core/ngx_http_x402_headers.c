
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_headers.h"


ngx_table_elt_t *
ngx_http_x402_header_next(ngx_list_t *list, ngx_http_x402_header_walk_t *walk,
    const char *name, size_t len)
{
    ngx_table_elt_t  *h;

    if (walk->part == NULL) {
        walk->part = &list->part;
        walk->i = 0;
    }

    for ( ;; ) {

        if (walk->i >= walk->part->nelts) {
            if (walk->part->next == NULL) {
                return NULL;
            }

            walk->part = walk->part->next;
            walk->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) walk->part->elts + walk->i++;

        if (h->hash != 0
            && h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}
