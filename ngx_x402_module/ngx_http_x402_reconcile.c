
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The reconciler: finishes receipts whose settlement was sent but not seen
 * mined ("broadcast" after a crash or restart, "pending" after
 * x402_settle_timeout).  Settlement jobs keep such keys in the Redis set
 * x402:inflight; one worker per node (worker 0) looks at a few of them every
 * x402_reconcile_interval, asks the chain for the transaction's receipt and
 * records "settled" or "failed".  Several nodes may do this at once: the
 * outcome they record is the chain's, so it is the same.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"


#define NGX_HTTP_X402_RECONCILE_BATCH  16
#define NGX_HTTP_X402_RECONCILE_JSON   4096


typedef struct {
    ngx_http_x402_main_conf_t   *xmcf;
    ngx_event_t                  timer;

    ngx_uint_t                   n;         /* keys of this round */
    ngx_uint_t                   next;
    char                         keys[NGX_HTTP_X402_RECONCILE_BATCH]
                                     [X402_REPLAY_KEY_MAX];
    char                         json[NGX_HTTP_X402_RECONCILE_JSON];
    size_t                       json_len;
    char                         tx[67];

    unsigned                     busy:1;
    unsigned                     exiting:1;
} ngx_http_x402_reconcile_t;


static void ngx_http_x402_reconcile_tick(ngx_event_t *ev);
static void ngx_http_x402_reconcile_keys(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reconcile_next(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_reconcile_got(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reconcile_receipt(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_reconcile_record(ngx_http_x402_reconcile_t *rc,
    const char *status, const char *error);
static void ngx_http_x402_reconcile_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reconcile_forget(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_reconcile_removed(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reconcile_end(ngx_http_x402_reconcile_t *rc);
static ngx_int_t ngx_http_x402_reconcile_redis(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_redis_done_pt done, int argc, const char **argv,
    const size_t *argvlen);


static ngx_http_x402_reconcile_t  *ngx_http_x402_reconciler;
static ngx_connection_t            ngx_http_x402_reconcile_dummy;


ngx_int_t
ngx_http_x402_reconcile_init(ngx_cycle_t *cycle,
    ngx_http_x402_main_conf_t *xmcf)
{
    ngx_http_x402_reconcile_t  *rc;

    if (!xmcf->has_settler || xmcf->reconcile_interval == 0
        || ngx_worker != 0)
    {
        return NGX_OK;
    }

    rc = ngx_calloc(sizeof(ngx_http_x402_reconcile_t), cycle->log);
    if (rc == NULL) {
        return NGX_ERROR;
    }

    rc->xmcf = xmcf;

    ngx_http_x402_reconcile_dummy.fd = (ngx_socket_t) -1;

    rc->timer.handler = ngx_http_x402_reconcile_tick;
    rc->timer.data = &ngx_http_x402_reconcile_dummy;
    rc->timer.log = cycle->log;
    rc->timer.cancelable = 1;

    ngx_add_timer(&rc->timer, xmcf->reconcile_interval);

    ngx_http_x402_reconciler = rc;

    return NGX_OK;
}


void
ngx_http_x402_reconcile_exit(ngx_cycle_t *cycle)
{
    ngx_http_x402_reconcile_t  *rc;

    rc = ngx_http_x402_reconciler;

    if (rc == NULL) {
        return;
    }

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    rc->exiting = 1;

    /* a step still in flight frees it when it completes */

    if (!rc->busy) {
        ngx_free(rc);
    }

    ngx_http_x402_reconciler = NULL;
}


static void
ngx_http_x402_reconcile_tick(ngx_event_t *ev)
{
    size_t                      argvlen[3];
    const char                 *argv[3];
    ngx_http_x402_reconcile_t  *rc;

    rc = (ngx_http_x402_reconcile_t *)
         ((u_char *) ev - offsetof(ngx_http_x402_reconcile_t, timer));

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (rc->busy) {
        ngx_add_timer(&rc->timer, rc->xmcf->reconcile_interval);
        return;
    }

    argv[0] = "SRANDMEMBER";
    argv[1] = NGX_HTTP_X402_INFLIGHT_KEY;
    argv[2] = "16";

    argvlen[0] = sizeof("SRANDMEMBER") - 1;
    argvlen[1] = sizeof(NGX_HTTP_X402_INFLIGHT_KEY) - 1;
    argvlen[2] = 2;

    rc->busy = 1;

    if (ngx_http_x402_reconcile_redis(rc, ngx_http_x402_reconcile_keys, 3,
                                      argv, argvlen)
        != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_reconcile_keys(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    size_t       len;
    ngx_uint_t   i;
    redisReply  *k;

    rc->n = 0;
    rc->next = 0;

    if (rc->exiting || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    for (i = 0; i < reply->elements && rc->n < NGX_HTTP_X402_RECONCILE_BATCH;
         i++)
    {
        k = reply->element[i];

        if (k->type != REDIS_REPLY_STRING || k->len >= X402_REPLAY_KEY_MAX) {
            continue;
        }

        len = k->len;
        ngx_memcpy(rc->keys[rc->n], k->str, len);
        rc->keys[rc->n][len] = '\0';
        rc->n++;
    }

    ngx_http_x402_reconcile_next(rc);
}


static void
ngx_http_x402_reconcile_next(ngx_http_x402_reconcile_t *rc)
{
    size_t       argvlen[2];
    const char  *argv[2];

    if (rc->exiting || rc->next >= rc->n) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    argv[0] = "GET";
    argv[1] = rc->keys[rc->next];

    argvlen[0] = 3;
    argvlen[1] = ngx_strlen(argv[1]);

    if (ngx_http_x402_reconcile_redis(rc, ngx_http_x402_reconcile_got, 2,
                                      argv, argvlen)
        != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_reconcile_got(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char        status[16], buf[NGX_HTTP_X402_RECONCILE_JSON];
    size_t      len;
    uint8_t     hash[32];
    uint64_t    updated;
    ngx_str_t   body;

    if (rc->exiting || reply == NULL) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || reply->len >= NGX_HTTP_X402_RECONCILE_JSON
        || x402_receipt_peek(status, sizeof(status), rc->tx, &updated,
                             reply->str, reply->len)
           != X402_OK
        || (ngx_strcmp(status, "broadcast") != 0
            && ngx_strcmp(status, "pending") != 0))
    {
        /* expired, ended meanwhile, or not ours to finish */
        ngx_http_x402_reconcile_forget(rc);
        return;
    }

    ngx_memcpy(rc->json, reply->str, reply->len);
    rc->json_len = reply->len;

    /* a settlement still running on some worker is left to it */

    len = sizeof(hash);

    if ((ngx_strcmp(status, "broadcast") == 0
         && updated + rc->xmcf->settle_timeout / 1000 + 5
            > (uint64_t) ngx_time())
        || rc->tx[0] != '0'
        || x402_hex_decode(hash, &len, rc->tx + 2, ngx_strlen(rc->tx) - 2)
           != X402_OK
        || len != sizeof(hash))
    {
        rc->next++;
        ngx_http_x402_reconcile_next(rc);
        return;
    }

    len = sizeof(buf);

    if (x402_rpc_receipt_request(buf, &len, hash, 1) != X402_OK) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    body.data = (u_char *) buf;
    body.len = len;

    if (ngx_http_x402_curl_post(ngx_cycle->log, &rc->xmcf->rpc, &body,
                                rc->xmcf->rpc_timeout, 64 * 1024,
                                ngx_http_x402_reconcile_receipt, rc)
        != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_reconcile_receipt(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    int        found, ok;
    uint64_t   block;

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    found = 0;
    ok = 0;

    if (rc_ != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_receipt_parse(&found, &ok, &block,
                                  (const char *) body->data, body->len, 1)
           != X402_OK)
    {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (!found) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "x402: reconcile %s: %s not mined yet",
                       rc->keys[rc->next], rc->tx);
        rc->next++;
        ngx_http_x402_reconcile_next(rc);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: reconciled %s: %s %s in block %uL",
                  rc->keys[rc->next], rc->tx,
                  ok ? "settled" : "reverted", block);

    ngx_http_x402_stat_inc(ok ? NGX_HTTP_X402_STAT_RECONCILED
                              : NGX_HTTP_X402_STAT_RECONCILE_FAILED);

    ngx_http_x402_reconcile_record(rc, ok ? "settled" : "failed",
                                   ok ? NULL
                                      : "invalid_exact_evm_transaction_failed");
}


static void
ngx_http_x402_reconcile_record(ngx_http_x402_reconcile_t *rc,
    const char *status, const char *error)
{
    char         json[NGX_HTTP_X402_RECONCILE_JSON];
    size_t       len, argvlen[5];
    const char  *argv[5];

    len = sizeof(json);

    if (x402_receipt_update(json, &len, rc->json, rc->json_len, status,
                            error, (uint64_t) ngx_time())
        != X402_OK)
    {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    argv[0] = "SET";
    argv[1] = rc->keys[rc->next];
    argv[2] = json;
    argv[3] = "XX";
    argv[4] = "KEEPTTL";

    argvlen[0] = 3;
    argvlen[1] = ngx_strlen(argv[1]);
    argvlen[2] = len;
    argvlen[3] = 2;
    argvlen[4] = 7;

    if (ngx_http_x402_reconcile_redis(rc, ngx_http_x402_reconcile_done, 5,
                                      argv, argvlen)
        != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_reconcile_done(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    if (rc->exiting || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    ngx_http_x402_reconcile_forget(rc);
}


/* The key needs no more work: drop it from the set, go on. */

static void
ngx_http_x402_reconcile_forget(ngx_http_x402_reconcile_t *rc)
{
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "SREM";
    argv[1] = NGX_HTTP_X402_INFLIGHT_KEY;
    argv[2] = rc->keys[rc->next];

    argvlen[0] = 4;
    argvlen[1] = sizeof(NGX_HTTP_X402_INFLIGHT_KEY) - 1;
    argvlen[2] = ngx_strlen(argv[2]);

    rc->next++;

    /* the next key is read once this one is gone */

    if (ngx_http_x402_reconcile_redis(rc, ngx_http_x402_reconcile_removed,
                                      3, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_reconcile_removed(void *data, redisReply *reply,
    const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    ngx_http_x402_reconcile_next(rc);
}


static void
ngx_http_x402_reconcile_end(ngx_http_x402_reconcile_t *rc)
{
    rc->busy = 0;

    if (rc->exiting) {
        ngx_free(rc);
        return;
    }

    if (!rc->timer.timer_set) {
        ngx_add_timer(&rc->timer, rc->xmcf->reconcile_interval);
    }
}


static ngx_int_t
ngx_http_x402_reconcile_redis(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_redis_done_pt done, int argc, const char **argv,
    const size_t *argvlen)
{
    return ngx_http_x402_redis_command(&rc->xmcf->redis, ngx_cycle->log,
                                       done, rc, argc, argv, argvlen);
}
