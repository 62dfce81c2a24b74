
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The replay reservation in Redis (one script: reserve, or learn the first
 * holder's receipt), the release of reservations nobody will use, the hand
 * over to settlement, and the receipt fields every stage writes.
 *
 * How the payment will be settled is decided before it is reserved: a
 * payment served before its settlement (async, upto) is entered in
 * x402:unsettled with the reservation, in the same step, so that whatever
 * happens to this worker afterwards a reconciler settles it; one settled
 * before it is served (sync) is not, as a worker that dies takes its
 * request with it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_admitted.h"


#define NGX_HTTP_X402_RECEIPT_MAX      2048


/* a reservation in flight: the op, and the record it wrote */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_redis_conf_t  *redis;
    time_t                       deadline;  /* the permit's, bounded */
    size_t                       len;
    char                         key[X402_REPLAY_KEY_MAX];
    u_char                       json[1];
} ngx_http_x402_resv_t;


/* a release waiting for Redis to answer */
typedef struct {
    ngx_event_t                  ev;
    ngx_http_x402_redis_conf_t  *redis;
    ngx_uint_t                   attempts;
    size_t                       len;
    char                         key[X402_REPLAY_KEY_MAX];
    u_char                       json[1];
} ngx_http_x402_release_t;

#define NGX_HTTP_X402_RELEASE_TRIES  6      /* over about 30 s */

static ngx_connection_t  ngx_http_x402_release_dummy;


/* deletes the key only if it still holds this very record */
static const char  ngx_http_x402_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('ZREM', KEYS[2], KEYS[1]) "
    "return redis.call('DEL', KEYS[1]) end return 0";


/* a reservation nobody will settle: the receipt and its debt */
static const char  ngx_http_x402_unreserve_lua[] =
    "redis.call('ZREM', KEYS[2], KEYS[1]) "
    "return redis.call('DEL', KEYS[1])";


/*
 * KEYS: the receipt, x402:unsettled; ARGV: the receipt, its TTL (ms), in
 * how many ms (on Redis's clock) a reconciler may settle it, "-" when it
 * is settled before it is served.  The first holder's receipt, or nil:
 * reserved.
 */
static const char  ngx_http_x402_reserve_lua[] =
    "local old = redis.call('GET', KEYS[1]) "
    "if old then return old end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "if ARGV[3] ~= '-' then "
    "local t = redis.call('TIME') "
    "redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000) "
    "+ tonumber(ARGV[3]), KEYS[1]) end "
    "return false";


static uint64_t ngx_http_x402_permit_left(ngx_http_x402_ctx_t *ctx);
static ngx_uint_t ngx_http_x402_settle_mode(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_reserve_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_release(ngx_http_x402_resv_t *resv);
static void ngx_http_x402_release_retry(ngx_event_t *ev);
static void ngx_http_x402_released(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf,
    char *key);
static void ngx_http_x402_disown(ngx_http_x402_main_conf_t *xmcf,
    char *key);
static void ngx_http_x402_released_once(void *data, redisReply *reply,
    const char *err);


/*
 * Seconds left on the payment's permit: 0 once its deadline has passed (a
 * slow check may end after it), all ones for a deadline beyond 64 bits.
 */

static uint64_t
ngx_http_x402_permit_left(ngx_http_x402_ctx_t *ctx)
{
    uint64_t  deadline, now;

    if (x402_u256_to_u64(&deadline, &ctx->payment.deadline) != X402_OK) {
        return (uint64_t) -1;
    }

    now = (uint64_t) ngx_time();

    return deadline > now ? deadline - now : 0;
}


/*
 * How this payment will be settled (NGX_HTTP_X402_MODE_*).  With async,
 * a request also waits when this worker's settlements lag by more than
 * half the time its permit has left: served first, it might not be
 * settled before the permit expires, and waiting slows the arrivals down
 * to what the chain takes.  A stalling settler refuses the payment.
 */

static ngx_uint_t
ngx_http_x402_settle_mode(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    time_t                      lag;
    uint64_t                    left;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->facilitator_url.len == 0) {

        if (!xmcf->has_settler) {
            return NGX_HTTP_X402_MODE_NONE;
        }

        if (ngx_http_x402_settle_stalled(xmcf)) {
            return NGX_HTTP_X402_MODE_STALLED;
        }
    }

    if (ctx->offer.scheme == X402_SCHEME_UPTO) {
        /* the charge is known once the response is: settled at its end */
        return NGX_HTTP_X402_MODE_UPTO;
    }

    if (xlcf->settle == NGX_HTTP_X402_SETTLE_SYNC) {
        return NGX_HTTP_X402_MODE_SYNC;
    }

    if (xlcf->facilitator_url.len == 0) {
        lag = ngx_http_x402_settle_backlog(xmcf);
        left = ngx_http_x402_permit_left(ctx);

        if (lag > 0 && 2 * (uint64_t) lag > left) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "x402: settlements lag by %T s on this worker: "
                          "payer %s waits for the settlement of this "
                          "payment (its permit expires in %uL s)", lag,
                          ctx->payer, left);
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SETTLE_WAITED);
            return NGX_HTTP_X402_MODE_SYNC;
        }
    }

    return NGX_HTTP_X402_MODE_ASYNC;
}


/*
 * One round trip that reserves the payment (and, when it is served before
 * its settlement, enters it in x402:unsettled), or returns the receipt
 * stored by whoever reserved it first.
 */

void
ngx_http_x402_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    u_char                      ttl[NGX_INT64_LEN + 1],
                                owed[NGX_INT64_LEN + 1];
    size_t                      len, argvlen[8];
    u_char                     *json, *p;
    uint64_t                    left, at, now, start;
    x402_err                    err;
    ngx_str_t                   url;
    const char                 *argv[8];
    x402_receipt                rc;
    ngx_http_x402_resv_t       *resv;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    /* every check passed (on chain, or the facilitator's) */
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_VERIFIED);

    x402_replay_key(ctx->key, ctx->offer.chain_id, &ctx->payment);

    ctx->mode = ngx_http_x402_settle_mode(r, ctx);

    if (ctx->mode == NGX_HTTP_X402_MODE_STALLED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: payment of %s refused: the settler's "
                      "transactions stall (none mined for "
                      "x402_settle_timeout); served now, it might never be "
                      "paid", ctx->payer);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_STALLED);
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable: the "
                                   "settler's transactions stall");
        return;
    }

    left = ngx_http_x402_permit_left(ctx);

    if (left > NGX_HTTP_X402_TTL_MAX) {
        left = NGX_HTTP_X402_TTL_MAX;
    }

    *ngx_sprintf(ttl, "%uL", (left + (uint64_t) xmcf->receipt_ttl) * 1000)
        = '\0';

    /*
     * served before it is settled: a reconciler may take it once its job
     * had its time, the job starting now (async) or when the response
     * ends, at the latest at the cut (upto)
     */

    owed[0] = '-';
    owed[1] = '\0';

    if (xlcf->facilitator_url.len == 0
        && (ctx->mode == NGX_HTTP_X402_MODE_ASYNC
            || ctx->mode == NGX_HTTP_X402_MODE_UPTO))
    {
        now = (uint64_t) ngx_time();
        start = now;

        if (ctx->mode == NGX_HTTP_X402_MODE_UPTO
            && left > (uint64_t) xlcf->settle_margin)
        {
            start += left - (uint64_t) xlcf->settle_margin;
        }

        at = ngx_http_x402_settle_lease(xmcf, start * 1000, now + left);

        *ngx_sprintf(owed, "%uL", at - now * 1000) = '\0';
    }

    /*
     * the path paid for; its query string may hold what is nobody else's
     * business (tokens, user names), so it is kept only when asked for
     */

    url = r->unparsed_uri;

    if (xlcf->receipt_uri == NGX_HTTP_X402_RECEIPT_PATH) {
        p = ngx_strlchr(url.data, url.data + url.len, '?');

        if (p != NULL) {
            url.len = p - url.data;
        }
    }

    p = ngx_pnalloc(r->pool, url.len + 1);
    if (p == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    *ngx_cpymem(p, url.data, url.len) = '\0';

    ctx->resource.data = p;
    ctx->resource.len = url.len;

    ngx_http_x402_receipt_init(&rc, &ctx->offer, &ctx->payment,
                               (const char *) p, (uint64_t) ngx_time());
    rc.status = "reserved";
    rc.mode = (ctx->mode == NGX_HTTP_X402_MODE_SYNC) ? "sync"
              : (ctx->mode == NGX_HTTP_X402_MODE_UPTO) ? "upto" : "async";

    if (ctx->mode == NGX_HTTP_X402_MODE_UPTO) {
        /*
         * what a reconciler charges should the worker die before the
         * response's usage is known: as a response without usage
         */
        rc.has_charged = 1;

        if (xlcf->usage_missing == NGX_HTTP_X402_USAGE_MISSING_CAP) {
            rc.charged = ctx->payment.amount;
        }
    }

    json = ngx_pnalloc(r->pool, NGX_HTTP_X402_RECEIPT_MAX + 6 * url.len);
    if (json == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    len = NGX_HTTP_X402_RECEIPT_MAX + 6 * url.len;

    err = x402_receipt_encode((char *) json, &len, &rc);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot encode the receipt: %s",
                      x402_strerror(err));
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    argv[0] = "EVAL";
    argv[1] = ngx_http_x402_reserve_lua;
    argv[2] = "2";
    argv[3] = ctx->key;
    argv[4] = NGX_HTTP_X402_UNSETTLED_KEY;
    argv[5] = (const char *) json;
    argv[6] = (const char *) ttl;
    argv[7] = (const char *) owed;

    argvlen[0] = 4;
    argvlen[1] = sizeof(ngx_http_x402_reserve_lua) - 1;
    argvlen[2] = 1;
    argvlen[3] = ngx_strlen(ctx->key);
    argvlen[4] = sizeof(NGX_HTTP_X402_UNSETTLED_KEY) - 1;
    argvlen[5] = len;
    argvlen[6] = ngx_strlen(ttl);
    argvlen[7] = ngx_strlen(owed);

    /* the op keeps the record: a reservation nobody uses is released */

    resv = ngx_alloc(sizeof(ngx_http_x402_resv_t) + len, r->connection->log);
    if (resv == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    resv->op.request = r;
    resv->op.ctx = ctx;
    resv->redis = &xmcf->redis;
    resv->len = len;
    resv->deadline = ngx_time() + left;
    ngx_memcpy(resv->key, ctx->key, X402_REPLAY_KEY_MAX);
    ngx_memcpy(resv->json, json, len);

    if (ngx_http_x402_redis_command(&xmcf->redis, r->connection->log,
                                    ngx_http_x402_reserve_done, resv,
                                    8, argv, argvlen)
        != NGX_OK)
    {
        ngx_free(resv);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    ctx->op = &resv->op;
    ctx->state = NGX_HTTP_X402_REDIS;
}


/*
 * Deletes a reservation if it still holds exactly this record: the request
 * that took it went away, or its SET timed out and may still run when Redis
 * recovers.  Either way nobody will use it, and the payer must be able to
 * use the same payment again.  Retried while Redis does not answer.
 */

static void
ngx_http_x402_release(ngx_http_x402_resv_t *resv)
{
    ngx_http_x402_release_t  *rel;

    rel = ngx_calloc(sizeof(ngx_http_x402_release_t) + resv->len,
                     ngx_cycle->log);
    if (rel == NULL) {
        return;
    }

    rel->redis = resv->redis;
    rel->len = resv->len;
    ngx_memcpy(rel->key, resv->key, X402_REPLAY_KEY_MAX);
    ngx_memcpy(rel->json, resv->json, resv->len);

    ngx_http_x402_release_dummy.fd = (ngx_socket_t) -1;

    rel->ev.handler = ngx_http_x402_release_retry;
    rel->ev.data = &ngx_http_x402_release_dummy;
    rel->ev.log = ngx_cycle->log;
    rel->ev.cancelable = 1;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "x402: releasing the unused reservation %s", rel->key);

    ngx_http_x402_release_retry(&rel->ev);
}


static void
ngx_http_x402_release_retry(ngx_event_t *ev)
{
    size_t                    argvlen[6];
    const char               *argv[6];
    ngx_http_x402_release_t  *rel;

    rel = (ngx_http_x402_release_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_release_t, ev));

    argv[0] = "EVAL";
    argv[1] = ngx_http_x402_release_lua;
    argv[2] = "2";
    argv[3] = rel->key;
    argv[4] = NGX_HTTP_X402_UNSETTLED_KEY;
    argv[5] = (const char *) rel->json;

    argvlen[0] = 4;
    argvlen[1] = sizeof(ngx_http_x402_release_lua) - 1;
    argvlen[2] = 1;
    argvlen[3] = ngx_strlen(rel->key);
    argvlen[4] = sizeof(NGX_HTTP_X402_UNSETTLED_KEY) - 1;
    argvlen[5] = rel->len;

    if (ngx_http_x402_redis_command(rel->redis, ngx_cycle->log,
                                    ngx_http_x402_released, rel,
                                    6, argv, argvlen)
        != NGX_OK)
    {
        ngx_free(rel);
    }
}


static void
ngx_http_x402_released(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_release_t *rel = data;

    /*
     * once Redis answers, a SET sent earlier on any connection has run:
     * 1 deleted it, 0 means there was nothing of ours left
     */

    if (reply != NULL || ++rel->attempts >= NGX_HTTP_X402_RELEASE_TRIES
        || ngx_exiting || ngx_quit || ngx_terminate)
    {
        ngx_free(rel);
        return;
    }

    ngx_add_timer(&rel->ev, 500 << rel->attempts);
}


static void
ngx_http_x402_reserve_done(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_resv_t *resv = data;

    size_t                      len;
    time_t                      deadline;
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_main_conf_t  *xmcf;

    /*
     * taken (nil) for a request that is gone, or unknown (no reply: the
     * SET may still run): nobody will use it
     */

    if ((resv->op.request == NULL
         && reply != NULL && reply->type == REDIS_REPLY_NIL)
        || reply == NULL)
    {
        ngx_http_x402_release(resv);
    }

    deadline = resv->deadline;

    /* frees resv */
    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis reservation failed: %s",
                      reply ? reply->str : err);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {

        /*
         * new to Redis, but this node admitted it already: Redis lost the
         * reservation (restarted without persistence, flushed, failed
         * over) while its first settlement may still be on its way
         */

        if (ngx_http_x402_admitted_add(ctx->key, (uint64_t) deadline)
            == NGX_DECLINED)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "x402: payment replayed, payer %s: admitted here "
                          "before, although redis had no reservation of it "
                          "(does redis keep its data?)", ctx->payer);
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_FORGOTTEN);

            /*
             * the reservation just taken keeps the key from further
             * replays, but it was never served: no reconciler settles it
             * (the first settlement writes its own outcome over it)
             */
            xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
            ngx_http_x402_disown(xmcf, ctx->key);

            ngx_http_x402_finish(r, ctx, X402_R_INVALID_NONCE);
            return;
        }

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RESERVED);
        ngx_http_x402_reserved(r, ctx);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis answered the reservation with type %d",
                      reply->type);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    /*
     * someone reserved this payment first: answer with their receipt,
     * without its signature (re-encoding never makes it longer)
     */

    len = reply->len + 1;

    ctx->receipt.data = ngx_pnalloc(r->pool, len);
    if (ctx->receipt.data == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    if (x402_receipt_public((char *) ctx->receipt.data, &len, reply->str,
                            reply->len)
        == X402_OK)
    {
        ctx->receipt.len = len;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment replayed, payer %s: already reserved",
                  ctx->payer);

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);

    ngx_http_x402_finish(r, ctx, X402_R_INVALID_NONCE);
}


/* Reserved: settle as decided, and with sync wait for the receipt. */

static void
ngx_http_x402_reserved(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_main_conf_t  *xmcf;

    switch (ctx->mode) {

    case NGX_HTTP_X402_MODE_NONE:
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;

    case NGX_HTTP_X402_MODE_UPTO:
        ctx->upto_charge = 1;
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;
    }

    if (ngx_http_x402_settle_start(r, ctx,
                                   ctx->mode == NGX_HTTP_X402_MODE_SYNC)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot start the settlement of %s", ctx->key);

        /* nothing was sent: the payment stays usable */
        xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
        ngx_http_x402_unreserve(xmcf, ctx->key);

        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    if (ctx->mode == NGX_HTTP_X402_MODE_ASYNC) {
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
    }
}


/* Deletes a reservation this request took and will not use. */

static void
ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf, char *key)
{
    size_t       argvlen[5];
    const char  *argv[5];

    argv[0] = "EVAL";
    argv[1] = ngx_http_x402_unreserve_lua;
    argv[2] = "2";
    argv[3] = key;
    argv[4] = NGX_HTTP_X402_UNSETTLED_KEY;

    argvlen[0] = 4;
    argvlen[1] = sizeof(ngx_http_x402_unreserve_lua) - 1;
    argvlen[2] = 1;
    argvlen[3] = ngx_strlen(key);
    argvlen[4] = sizeof(NGX_HTTP_X402_UNSETTLED_KEY) - 1;

    ngx_http_x402_admitted_remove(key);

    (void) ngx_http_x402_redis_command(&xmcf->redis, ngx_cycle->log,
                                       ngx_http_x402_released_once, NULL,
                                       5, argv, argvlen);
}


/* A reservation nobody served: out of x402:unsettled, the key kept. */

static void
ngx_http_x402_disown(ngx_http_x402_main_conf_t *xmcf, char *key)
{
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "ZREM";
    argv[1] = NGX_HTTP_X402_UNSETTLED_KEY;
    argv[2] = key;

    argvlen[0] = 4;
    argvlen[1] = sizeof(NGX_HTTP_X402_UNSETTLED_KEY) - 1;
    argvlen[2] = ngx_strlen(key);

    (void) ngx_http_x402_redis_command(&xmcf->redis, ngx_cycle->log,
                                       ngx_http_x402_released_once, NULL,
                                       3, argv, argvlen);
}


static void
ngx_http_x402_released_once(void *data, redisReply *reply, const char *err)
{
    /* best effort */
}


/* The receipt fields every stage writes. */

void
ngx_http_x402_receipt_init(x402_receipt *rc, x402_offer *offer,
    x402_payment *p, const char *resource, uint64_t created)
{
    ngx_memzero(rc, sizeof(x402_receipt));

    rc->scheme = offer->scheme;
    rc->chain_id = offer->chain_id;
    rc->payer = p->from;
    rc->pay_to = offer->pay_to;
    rc->asset = offer->asset;
    rc->amount = p->amount;
    rc->nonce = p->nonce;
    rc->deadline = p->deadline;
    rc->resource = resource;
    rc->created = created;
    rc->updated = (uint64_t) ngx_time();
    rc->valid_after = p->valid_after;
    rc->signature = p->signature;
    rc->signature_len = p->signature_len;

    if (offer->scheme == X402_SCHEME_UPTO) {
        /* signed into the witness: needed to settle it again */
        rc->facilitator = offer->facilitator;
        rc->has_facilitator = 1;
    }
}
