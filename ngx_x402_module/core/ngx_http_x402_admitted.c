
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The payments this node admitted (ngx_http_x402_admitted.h): an open
 * addressing table in shared memory, a window of slots per hash, under the
 * zone's mutex for a few instructions.  Entries end with their permits:
 * past its deadline a payment is refused anyway.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_admitted.h"


#define NGX_HTTP_X402_ADMITTED_SLOTS   16384
#define NGX_HTTP_X402_ADMITTED_WINDOW  16
#define NGX_HTTP_X402_ADMITTED_SIZE    (512 * 1024)


typedef struct {
    uint64_t                     hash;      /* 0: free */
    uint64_t                     expires;   /* the permit's deadline */
} ngx_http_x402_admitted_slot_t;


typedef struct {
    ngx_http_x402_admitted_slot_t  slot[NGX_HTTP_X402_ADMITTED_SLOTS];
} ngx_http_x402_admitted_shm_t;


static ngx_int_t ngx_http_x402_admitted_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_x402_admitted_shm_t *ngx_http_x402_admitted_get(
    ngx_slab_pool_t **spp);
static uint64_t ngx_http_x402_admitted_hash(const char *key);


ngx_int_t
ngx_http_x402_admitted_zone(ngx_conf_t *cf)
{
    ngx_shm_zone_t             *shm_zone;
    ngx_http_x402_main_conf_t  *xmcf;

    shm_zone = ngx_http_x402_shm_add(cf, "x402_admitted",
                                     NGX_HTTP_X402_ADMITTED_SIZE,
                                     ngx_http_x402_admitted_init_zone);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    xmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_x402_module);
    xmcf->admitted_zone = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_admitted_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    if (data != NULL) {
        /* a reload: what was admitted stays admitted */
        shm_zone->data = data;
        return NGX_OK;
    }

    if (ngx_http_x402_shm_alloc(shm_zone,
                                sizeof(ngx_http_x402_admitted_shm_t))
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_x402_admitted_shm_t *
ngx_http_x402_admitted_get(ngx_slab_pool_t **spp)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_x402_module);

    return xmcf ? ngx_http_x402_shm_get(xmcf->admitted_zone, spp) : NULL;
}


/* keccak of the key: its text is already the canonical payment */

static uint64_t
ngx_http_x402_admitted_hash(const char *key)
{
    uint8_t   h[32];
    uint64_t  v;

    x402_keccak256(h, (const uint8_t *) key, ngx_strlen(key));

    ngx_memcpy(&v, h, sizeof(uint64_t));

    return v ? v : 1;
}


ngx_int_t
ngx_http_x402_admitted_add(const char *key, uint64_t deadline)
{
    uint64_t                        h, now;
    ngx_uint_t                      i, at;
    ngx_slab_pool_t                *sp;
    ngx_http_x402_admitted_shm_t   *ad;
    ngx_http_x402_admitted_slot_t  *s, *free, *first;

    ad = ngx_http_x402_admitted_get(&sp);

    if (ad == NULL) {
        return NGX_OK;
    }

    h = ngx_http_x402_admitted_hash(key);
    now = (uint64_t) ngx_time();
    at = (ngx_uint_t) (h % NGX_HTTP_X402_ADMITTED_SLOTS);
    free = NULL;
    first = NULL;

    ngx_shmtx_lock(&sp->mutex);

    for (i = 0; i < NGX_HTTP_X402_ADMITTED_WINDOW; i++) {
        s = &ad->slot[(at + i) % NGX_HTTP_X402_ADMITTED_SLOTS];

        if (s->hash == h && s->expires >= now) {
            ngx_shmtx_unlock(&sp->mutex);
            return NGX_DECLINED;
        }

        if (s->hash == 0 || s->expires < now) {
            if (free == NULL) {
                free = s;
            }

            continue;
        }

        if (first == NULL || s->expires < first->expires) {
            first = s;
        }
    }

    /* a free or expired slot, else the payment whose permit ends first */

    s = free ? free : first;

    s->hash = h;
    s->expires = deadline;

    ngx_shmtx_unlock(&sp->mutex);

    return NGX_OK;
}


void
ngx_http_x402_admitted_remove(const char *key)
{
    uint64_t                        h;
    ngx_uint_t                      i, at;
    ngx_slab_pool_t                *sp;
    ngx_http_x402_admitted_shm_t   *ad;
    ngx_http_x402_admitted_slot_t  *s;

    ad = ngx_http_x402_admitted_get(&sp);

    if (ad == NULL) {
        return;
    }

    h = ngx_http_x402_admitted_hash(key);
    at = (ngx_uint_t) (h % NGX_HTTP_X402_ADMITTED_SLOTS);

    ngx_shmtx_lock(&sp->mutex);

    for (i = 0; i < NGX_HTTP_X402_ADMITTED_WINDOW; i++) {
        s = &ad->slot[(at + i) % NGX_HTTP_X402_ADMITTED_SLOTS];

        if (s->hash == h) {
            s->hash = 0;
            s->expires = 0;
            break;
        }
    }

    ngx_shmtx_unlock(&sp->mutex);
}
