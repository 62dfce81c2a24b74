
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_ADMITTED_H_INCLUDED_
#define _NGX_HTTP_X402_ADMITTED_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The payments this node admitted, until their permits expire: a shared
 * memory table of their replay keys (a 64-bit hash each), so that a
 * replay is refused even when Redis has lost the reservation (a restart
 * without persistence, a FLUSHALL, a failover to a replica that missed
 * it) while the first settlement is still on its way to the chain, which
 * then refuses the rest.  Bounded: when full, the entry whose permit
 * expires first makes room.  Every function is a no-op without the zone.
 */


ngx_int_t ngx_http_x402_admitted_zone(ngx_conf_t *cf);

/* NGX_OK: recorded now; NGX_DECLINED: admitted before, a replay. */
ngx_int_t ngx_http_x402_admitted_add(const char *key, uint64_t deadline);

/* A reservation released for the payer to send again: forgotten too. */
void ngx_http_x402_admitted_remove(const char *key);


#endif /* _NGX_HTTP_X402_ADMITTED_H_INCLUDED_ */
