
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Redis Sentinel: each worker asks one sentinel after another
 * "SENTINEL get-master-addr-by-name NAME" and points its Redis
 * configuration at the address named (io/ngx_http_x402_redis.c connects
 * to it on the next command).  Asked at start, every second (a failover
 * is seen within one), and at once when the primary's connection fails or
 * it answers READONLY (a replica: it is forgotten until a sentinel names
 * a primary again, so nothing is written to a replica).  The questions
 * are ordinary commands with the Redis timeout: nothing waits longer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_sentinel.h"


#define NGX_HTTP_X402_SENTINEL_EVERY  1000     /* ms between questions */
#define NGX_HTTP_X402_SENTINEL_RETRY  100      /* ms after no answer */
#define NGX_HTTP_X402_SENTINEL_PORT   26379


typedef struct {
    ngx_str_t                    master;    /* NAME */
    ngx_http_x402_redis_conf_t  *servers;   /* one a sentinel */
    ngx_uint_t                   n;

    /* per worker */
    ngx_http_x402_redis_conf_t  *rcf;       /* whose addr it sets */
    ngx_addr_t                   primary;
    ngx_sockaddr_t               sockaddr;
    u_char                       text[NGX_SOCKADDR_STRLEN];
    ngx_event_t                  ev;
    ngx_uint_t                   next;      /* the sentinel to ask */
    ngx_uint_t                   misses;    /* sentinels in a row */
    unsigned                     asking:1;
    unsigned                     started:1;
} ngx_http_x402_sentinel_t;


static void ngx_http_x402_sentinel_lost(ngx_http_x402_redis_conf_t *rcf,
    struct sockaddr *sa, socklen_t socklen, ngx_uint_t readonly);
static void ngx_http_x402_sentinel_timer(ngx_event_t *ev);
static void ngx_http_x402_sentinel_ask(ngx_http_x402_sentinel_t *st);
static void ngx_http_x402_sentinel_answer(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_sentinel_primary(ngx_http_x402_sentinel_t *st,
    redisReply *reply);
static void ngx_http_x402_sentinel_later(ngx_http_x402_sentinel_t *st,
    ngx_msec_t ms);


char *
ngx_http_x402_sentinel_conf(ngx_conf_t *cf, ngx_http_x402_redis_conf_t *rcf,
    ngx_str_t *args, ngx_uint_t n)
{
    ngx_uint_t                   i;
    ngx_addr_t                  *addr;
    ngx_http_x402_sentinel_t    *st;
    ngx_http_x402_redis_conf_t  *srv;

    st = ngx_pcalloc(cf->pool, sizeof(ngx_http_x402_sentinel_t));
    if (st == NULL) {
        return NGX_CONF_ERROR;
    }

    /* args[0] is "sentinel:NAME" */

    st->master.data = args[0].data + sizeof("sentinel:") - 1;
    st->master.len = args[0].len - (sizeof("sentinel:") - 1);

    for (i = 0; i < st->master.len; i++) {
        if (st->master.data[i] <= ' ' || st->master.data[i] >= 0x7f) {
            break;
        }
    }

    if (st->master.len == 0 || i < st->master.len || n < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_redis \"%V\" is invalid (expected "
                           "\"sentinel:NAME\" followed by the sentinels' "
                           "addresses, such as sentinel:mymaster "
                           "127.0.0.1:26379 127.0.0.1:26380)", &args[0]);
        return NGX_CONF_ERROR;
    }

    st->servers = ngx_pcalloc(cf->pool,
                              (n - 1) * sizeof(ngx_http_x402_redis_conf_t));
    if (st->servers == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < n; i++) {
        addr = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_parse_addr_port(cf->pool, addr, args[i].data, args[i].len)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "x402_redis sentinel \"%V\" is invalid "
                               "(expected a numeric address such as "
                               "127.0.0.1:26379)", &args[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_inet_get_port(addr->sockaddr) == 0) {
            ngx_inet_set_port(addr->sockaddr, NGX_HTTP_X402_SENTINEL_PORT);
        }

        srv = &st->servers[i - 1];
        srv->addr = addr;
        srv->name = args[i];
    }

    st->n = n - 1;
    rcf->sentinel = st;
    rcf->name = args[0];

    return NGX_CONF_OK;
}


void
ngx_http_x402_sentinel_start(ngx_http_x402_redis_conf_t *rcf)
{
    ngx_uint_t                 i;
    ngx_http_x402_sentinel_t  *st;

    st = rcf->sentinel;

    if (st == NULL || st->started) {
        return;
    }

    st->started = 1;
    st->rcf = rcf;
    rcf->addr = NULL;
    rcf->lost = ngx_http_x402_sentinel_lost;

    for (i = 0; i < st->n; i++) {
        /* its questions: as any command */
        st->servers[i].timeout = rcf->timeout;
    }

    st->ev.handler = ngx_http_x402_sentinel_timer;
    st->ev.data = ngx_http_x402_io_dummy();
    st->ev.log = ngx_cycle->log;
    st->ev.cancelable = 1;

    /* workers start on different sentinels */
    st->next = (ngx_uint_t) ngx_pid % st->n;

    ngx_http_x402_sentinel_ask(st);
}


/* The primary's connection failed, or it is a replica now. */

static void
ngx_http_x402_sentinel_lost(ngx_http_x402_redis_conf_t *rcf,
    struct sockaddr *sa, socklen_t socklen, ngx_uint_t readonly)
{
    ngx_http_x402_sentinel_t  *st;

    st = rcf->sentinel;

    if (readonly && rcf->addr != NULL
        && ngx_cmp_sockaddr(sa, socklen, rcf->addr->sockaddr,
                            rcf->addr->socklen, 1)
           == NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: redis %s answers READONLY: a replica now; "
                      "asking the sentinels of \"%V\" for the primary",
                      st->text, &st->master);
        rcf->addr = NULL;
    }

    if (!st->asking) {
        if (st->ev.timer_set) {
            ngx_del_timer(&st->ev);
        }

        ngx_http_x402_sentinel_ask(st);
    }
}


static void
ngx_http_x402_sentinel_timer(ngx_event_t *ev)
{
    ngx_http_x402_sentinel_t  *st;

    st = (ngx_http_x402_sentinel_t *)
         ((u_char *) ev - offsetof(ngx_http_x402_sentinel_t, ev));

    if (!st->asking) {
        ngx_http_x402_sentinel_ask(st);
    }
}


static void
ngx_http_x402_sentinel_ask(ngx_http_x402_sentinel_t *st)
{
    ngx_http_x402_redis_conf_t  *srv;

    /* asked while a worker drains its settlements too; not once it exits */

    if (ngx_terminate) {
        return;
    }

    srv = &st->servers[st->next];

    if (ngx_http_x402_redis_send(srv, ngx_cycle->log,
                                 ngx_http_x402_sentinel_answer, st,
                                 "SENTINEL", "get-master-addr-by-name",
                                 (char *) st->master.data, NULL)
        != NGX_OK)
    {
        st->next = (st->next + 1) % st->n;
        ngx_http_x402_sentinel_later(st, NGX_HTTP_X402_SENTINEL_RETRY);
        return;
    }

    st->asking = 1;
}


static void
ngx_http_x402_sentinel_answer(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_sentinel_t *st = data;

    ngx_str_t                    *asked;

    st->asking = 0;
    asked = &st->servers[st->next].name;

    if (ngx_http_x402_sentinel_primary(st, reply) == NGX_OK) {
        st->misses = 0;
        ngx_http_x402_sentinel_later(st, NGX_HTTP_X402_SENTINEL_EVERY);
        return;
    }

    /* no answer, or none it knows: the next sentinel, soon */

    if (++st->misses == st->n) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: redis: no sentinel of \"%V\" named its "
                      "primary (the last, %V: %s)", &st->master, asked,
                      reply == NULL ? err
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                      : "does not know it");
        st->misses = 0;
    }

    st->next = (st->next + 1) % st->n;
    ngx_http_x402_sentinel_later(st, NGX_HTTP_X402_SENTINEL_RETRY);
}


/* [ip, port]: rcf->addr becomes that address (logged when it moves). */

static ngx_int_t
ngx_http_x402_sentinel_primary(ngx_http_x402_sentinel_t *st,
    redisReply *reply)
{
    size_t       len;
    u_char       text[NGX_SOCKADDR_STRLEN];
    ngx_addr_t   addr;
    ngx_pool_t  *pool;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[0]->len + reply->element[1]->len + 4
           > sizeof(text) - 2)
    {
        return NGX_ERROR;
    }

    /* an IPv6 address in brackets, as ngx_parse_addr_port reads it */

    len = ngx_snprintf(text, sizeof(text),
                       ngx_strlchr((u_char *) reply->element[0]->str,
                                   (u_char *) reply->element[0]->str
                                   + reply->element[0]->len, ':')
                       ? "[%*s]:%*s" : "%*s:%*s",
                       reply->element[0]->len, reply->element[0]->str,
                       reply->element[1]->len, reply->element[1]->str)
          - text;

    if (st->rcf->addr != NULL && len == st->primary.name.len
        && ngx_strncmp(text, st->text, len) == 0)
    {
        return NGX_OK;
    }

    /* ngx_parse_addr_port allocates the sockaddr: a pool of its own */

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_parse_addr_port(pool, &addr, text, len) != NGX_OK
        || addr.socklen > sizeof(ngx_sockaddr_t))
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: redis: a sentinel of \"%V\" named \"%*s\", "
                      "not a numeric address", &st->master, len, text);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_memcpy(&st->sockaddr, addr.sockaddr, addr.socklen);
    ngx_destroy_pool(pool);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: redis primary of \"%V\" is %*s%s%s", &st->master,
                  len, text, st->primary.name.len ? ", was " : "",
                  st->primary.name.len ? (char *) st->text : "");

    ngx_memcpy(st->text, text, len);
    st->text[len] = '\0';

    st->primary.sockaddr = &st->sockaddr.sockaddr;
    st->primary.socklen = addr.socklen;
    st->primary.name.data = st->text;
    st->primary.name.len = len;

    st->rcf->addr = &st->primary;
    st->rcf->name = st->primary.name;

    return NGX_OK;
}


static void
ngx_http_x402_sentinel_later(ngx_http_x402_sentinel_t *st, ngx_msec_t ms)
{
    /* cancelable: a worker that shuts down does not wait for it */

    if (ngx_terminate) {
        return;
    }

    ngx_add_timer(&st->ev, ms);
}
