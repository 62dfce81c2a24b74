
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_SENTINEL_H_INCLUDED_
#define _NGX_HTTP_X402_SENTINEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_x402_redis.h"


/*
 * x402_redis sentinel:NAME ADDR ...: the sentinels (numeric addresses,
 * 26379 by default) and the master's name, parsed into rcf (args: the
 * directive's words after its name).  NGX_CONF_OK or an error, said.
 */
char *ngx_http_x402_sentinel_conf(ngx_conf_t *cf,
    ngx_http_x402_redis_conf_t *rcf, ngx_str_t *args, ngx_uint_t n);

/*
 * init_process: this worker asks the sentinels for the primary now, then
 * every second, and at once when the primary fails or answers READONLY;
 * rcf->addr follows what they name.
 */
void ngx_http_x402_sentinel_start(ngx_http_x402_redis_conf_t *rcf);


#endif /* _NGX_HTTP_X402_SENTINEL_H_INCLUDED_ */
