
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The metrics: counters in a shared memory zone, summed over the workers
 * by construction (each worker adds to the same words); gauges in a slot
 * per worker; exact 256-bit amounts under the zone's mutex.  The printer
 * is outputs/ngx_http_x402_metrics.c.
 *
 * The zone has a fixed size and a fixed layout; it is kept across reloads
 * (the counters continue) and reset when nginx restarts.  Reason strings
 * and assets claim a slot of a fixed table on first use; past the table,
 * reasons are counted as "other" and amounts of further assets are not
 * counted (x402_status_overflow_total says so).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_stats.h"


/* this worker's slot (NULL: none) */
static ngx_http_x402_status_slot_t  *ngx_http_x402_status_slot;


static ngx_int_t ngx_http_x402_stat_keyed(ngx_slab_pool_t *sp,
    ngx_http_x402_status_reason_t *table, ngx_uint_t n, ngx_uint_t status,
    const char *name);
static ngx_int_t ngx_http_x402_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


/* upper bounds of the latency buckets, ms */
const ngx_msec_t  ngx_http_x402_status_le[NGX_HTTP_X402_STATUS_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000
};


ngx_int_t
ngx_http_x402_status_zone(ngx_conf_t *cf, ngx_http_x402_main_conf_t *xmcf)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_http_x402_shm_add(cf, "x402_status",
                                     NGX_HTTP_X402_STATUS_ZONE_SIZE,
                                     ngx_http_x402_status_init_zone);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->data = xmcf;

    xmcf->status_zone = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_x402_status_shm_t *ost = data;

    ngx_http_x402_status_shm_t  *st;

    if (ost != NULL && ost->magic == NGX_HTTP_X402_STATUS_MAGIC
        && ost->version == NGX_HTTP_X402_STATUS_VERSION)
    {
        /* a reload: the counters go on */
        shm_zone->data = ost;
        return NGX_OK;
    }

    st = ngx_http_x402_shm_alloc(shm_zone,
                                 sizeof(ngx_http_x402_status_shm_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    /* new, or mapped again as it was (Windows): the same layout */
    st->magic = NGX_HTTP_X402_STATUS_MAGIC;
    st->version = NGX_HTTP_X402_STATUS_VERSION;

    return NGX_OK;
}


/* The zone of the running configuration, or NULL. */

ngx_http_x402_status_shm_t *
ngx_http_x402_status_get(ngx_slab_pool_t **spp)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_x402_module);

    return xmcf ? ngx_http_x402_shm_get(xmcf->status_zone, spp) : NULL;
}


ngx_shm_zone_t *
ngx_http_x402_shm_add(ngx_conf_t *cf, char *name, size_t size,
    ngx_shm_zone_init_pt init)
{
    ngx_str_t        zone;
    ngx_shm_zone_t  *shm_zone;

    zone.data = (u_char *) name;
    zone.len = ngx_strlen(name);

    shm_zone = ngx_shared_memory_add(cf, &zone, size, &ngx_http_x402_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    shm_zone->init = init;

    return shm_zone;
}


void *
ngx_http_x402_shm_alloc(ngx_shm_zone_t *shm_zone, size_t size)
{
    ngx_slab_pool_t  *sp;

    sp = (ngx_slab_pool_t *) shm_zone->shm.addr;

    /* a zone that exists already (Windows) holds its block */

    if (!shm_zone->shm.exists) {
        sp->data = ngx_slab_calloc(sp, size);
    }

    shm_zone->data = sp->data;

    return sp->data;
}


void *
ngx_http_x402_shm_get(ngx_shm_zone_t *shm_zone, ngx_slab_pool_t **spp)
{
    if (shm_zone == NULL || shm_zone->shm.addr == NULL) {
        return NULL;
    }

    if (spp != NULL) {
        *spp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    }

    return shm_zone->data;
}


void
ngx_http_x402_stat_add(ngx_uint_t counter, ngx_atomic_int_t n)
{
    ngx_http_x402_status_shm_t  *st;

    st = ngx_http_x402_status_get(NULL);

    if (st == NULL || counter >= NGX_HTTP_X402_STAT_N) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->counter[counter], n);
}


void
ngx_http_x402_stat_account(ngx_uint_t i)
{
    ngx_http_x402_status_shm_t  *st;

    st = ngx_http_x402_status_get(NULL);

    if (st == NULL || i >= NGX_HTTP_X402_STATUS_ACCOUNTS) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->accounts[i], 1);
}


/* A 402 or 412 answer with its reason string. */

void
ngx_http_x402_stat_reason(ngx_uint_t status, const char *reason)
{
    ngx_slab_pool_t             *sp;
    ngx_http_x402_status_shm_t  *st;

    st = ngx_http_x402_status_get(&sp);

    if (st == NULL) {
        return;
    }

    if (ngx_http_x402_stat_keyed(sp, st->reasons,
                                 NGX_HTTP_X402_STATUS_REASONS, status,
                                 reason ? reason : "")
        != NGX_OK)
    {
        (void) ngx_atomic_fetch_add(&st->reasons_other[status == 412 ? 1 : 0],
                                    1);
    }
}


void
ngx_http_x402_stat_request(ngx_http_request_t *r, ngx_uint_t outcome)
{
    ngx_slab_pool_t             *sp;
    ngx_http_x402_loc_conf_t    *xlcf;
    ngx_http_x402_status_shm_t  *st;

    ngx_http_x402_stat_inc(outcome);

    st = ngx_http_x402_status_get(&sp);

    if (st == NULL) {
        return;
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    (void) ngx_http_x402_stat_keyed(sp, st->locations,
                                    NGX_HTTP_X402_STATUS_LOCATIONS, outcome,
                                    (const char *) xlcf->status_name.data);
}


/*
 * One more in a table of (status, name) counters, the slot claimed on
 * first use; NGX_DECLINED (and the overflow counted) when it is full.
 */

static ngx_int_t
ngx_http_x402_stat_keyed(ngx_slab_pool_t *sp,
    ngx_http_x402_status_reason_t *table, ngx_uint_t n, ngx_uint_t status,
    const char *name)
{
    size_t                          len;
    ngx_uint_t                      i;
    ngx_http_x402_status_shm_t     *st;
    ngx_http_x402_status_reason_t  *rs;

    len = ngx_strlen(name);

    if (len >= NGX_HTTP_X402_STATUS_REASON_LEN) {
        len = NGX_HTTP_X402_STATUS_REASON_LEN - 1;
    }

    for (i = 0; i < n; i++) {
        rs = &table[i];

        if (!rs->used) {
            break;
        }

        if (rs->status == status
            && ngx_strncmp(rs->name, name, len) == 0
            && rs->name[len] == '\0')
        {
            (void) ngx_atomic_fetch_add(&rs->count, 1);
            return NGX_OK;
        }
    }

    /* first use: claim a slot under the lock (another worker may race) */

    ngx_shmtx_lock(&sp->mutex);

    for (i = 0; i < n; i++) {
        rs = &table[i];

        if (!rs->used) {
            rs->status = status;
            ngx_memcpy(rs->name, name, len);
            rs->name[len] = '\0';
            rs->count = 1;

            ngx_memory_barrier();
            rs->used = 1;

            ngx_shmtx_unlock(&sp->mutex);
            return NGX_OK;
        }

        if (rs->status == status
            && ngx_strncmp(rs->name, name, len) == 0
            && rs->name[len] == '\0')
        {
            ngx_shmtx_unlock(&sp->mutex);
            (void) ngx_atomic_fetch_add(&rs->count, 1);
            return NGX_OK;
        }
    }

    ngx_shmtx_unlock(&sp->mutex);

    st = sp->data;
    (void) ngx_atomic_fetch_add(&st->overflow, 1);

    return NGX_DECLINED;
}


/* One Redis command or HTTP call ended; `start` is when it was sent. */

void
ngx_http_x402_stat_latency(ngx_uint_t which, ngx_msec_t start,
    ngx_uint_t failed)
{
    ngx_uint_t                    i;
    ngx_msec_t                    ms;
    ngx_http_x402_status_shm_t   *st;
    ngx_http_x402_status_hist_t  *h;

    st = ngx_http_x402_status_get(NULL);

    if (st == NULL || which > NGX_HTTP_X402_STAT_REDIS) {
        return;
    }

    h = &st->hist[which];

    ms = ngx_current_msec - start;

    if ((ngx_msec_int_t) ms < 0) {
        ms = 0;
    }

    for (i = 0; i < NGX_HTTP_X402_STATUS_BUCKETS; i++) {
        if (ms <= ngx_http_x402_status_le[i]) {
            (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->sum, (ngx_atomic_int_t) ms);
    (void) ngx_atomic_fetch_add(&h->count, 1);

    if (failed) {
        (void) ngx_atomic_fetch_add(&h->errors, 1);
    }
}


/*
 * This worker's gauges start at zero in a slot of its own: a free one, or
 * one whose worker is gone (killed, or exited after a reload).
 */

void
ngx_http_x402_status_init_process(void)
{
    ngx_uint_t                    i, n;
    ngx_http_x402_status_shm_t   *st;
    ngx_http_x402_status_slot_t  *sl;

    ngx_http_x402_status_slot = NULL;

    st = ngx_http_x402_status_get(NULL);

    if (st == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_X402_STATUS_SLOTS; i++) {
        sl = &st->slots[i];

        if (sl->pid != 0 && ngx_http_x402_status_alive(sl->pid)) {
            continue;
        }

        if (!ngx_atomic_cmp_set(&sl->pid, sl->pid, (ngx_atomic_uint_t) ngx_pid))
        {
            continue;
        }

        for (n = 0; n < NGX_HTTP_X402_GAUGE_N; n++) {
            sl->gauge[n] = 0;
        }

        ngx_http_x402_status_slot = sl;
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: more than %d workers: this one's gauges are not "
                  "counted", NGX_HTTP_X402_STATUS_SLOTS);
}


ngx_int_t
ngx_http_x402_status_alive(ngx_atomic_uint_t pid)
{
    return kill((ngx_pid_t) pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


void
ngx_http_x402_stat_gauge(ngx_uint_t gauge, ngx_atomic_int_t n)
{
    if (ngx_http_x402_status_slot == NULL || gauge >= NGX_HTTP_X402_GAUGE_N
        || ngx_http_x402_status_get(NULL) == NULL)
    {
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_x402_status_slot->gauge[gauge], n);
}


/*
 * A settlement was mined (or a served payment never paid): add its amount
 * to its asset's total, exactly.
 */

void
ngx_http_x402_stat_amount(ngx_uint_t kind, uint64_t chain_id,
    const x402_address *asset, const x402_u256 *amount)
{
    ngx_uint_t                      i;
    x402_u256                       sum;
    ngx_slab_pool_t                *sp;
    ngx_http_x402_status_shm_t     *st;
    ngx_http_x402_status_amount_t  *a, *slot;

    st = ngx_http_x402_status_get(&sp);

    if (st == NULL || kind >= NGX_HTTP_X402_AMOUNT_N) {
        return;
    }

    slot = NULL;

    ngx_shmtx_lock(&sp->mutex);

    for (i = 0; i < NGX_HTTP_X402_STATUS_ASSETS; i++) {
        a = &st->amounts[kind][i];

        if (!a->used) {
            if (slot == NULL) {
                slot = a;
            }

            continue;
        }

        if (a->chain_id == chain_id && x402_address_eq(&a->asset, asset)) {
            goto found;
        }
    }

    if (slot == NULL) {
        ngx_shmtx_unlock(&sp->mutex);
        (void) ngx_atomic_fetch_add(&st->overflow, 1);
        return;
    }

    a = slot;
    a->used = 1;
    a->chain_id = chain_id;
    a->asset = *asset;
    ngx_memzero(&a->total, sizeof(x402_u256));

found:

    if (x402_u256_add(&sum, &a->total, amount) != X402_OK) {
        /* past 2^256 - 1: stays at the maximum */
        ngx_memset(sum.b, 0xff, sizeof(sum.b));
    }

    a->total = sum;

    ngx_shmtx_unlock(&sp->mutex);
}


