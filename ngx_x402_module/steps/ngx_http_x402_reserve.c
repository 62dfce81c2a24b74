
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

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_admitted.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_reserve.h"


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
    char                         key[X402_REPLAY_KEY_MAX];
    u_char                       json[1];   /* NUL-terminated */
} ngx_http_x402_release_t;

#define NGX_HTTP_X402_RELEASE_TRIES  6      /* over about 30 s */



/* the receipt KEYS[1], its debt, and the session it opened, if any */
#define NGX_HTTP_X402_LUA_UNRESERVE                                           \
    "local sid = redis.call('GET', '" NGX_HTTP_X402_SID_PREFIX "' "          \
    ".. KEYS[1]) "                                                            \
    "if sid then redis.call('DEL', '" NGX_HTTP_X402_SID_PREFIX "' "          \
    ".. KEYS[1], '" NGX_HTTP_X402_SESSION_PREFIX "' .. sid, "                 \
    "'" NGX_HTTP_X402_SESSION_PREFIX "' .. sid .. ':charges') end "           \
    "redis.call('ZREM', KEYS[2], KEYS[1]) "                                   \
    "return redis.call('DEL', KEYS[1])"


/* deletes the key only if it still holds this very record */
static const char  ngx_http_x402_release_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    NGX_HTTP_X402_LUA_UNRESERVE;


/* a reservation nobody will settle */
static const char  ngx_http_x402_unreserve_lua[] =
    NGX_HTTP_X402_LUA_UNRESERVE;


/*
 * A reservation kept against replays and never served: out of
 * x402:unsettled, and the session it opened (if any) gone, so that nothing
 * is served on it.  KEYS: x402:unsettled, the receipt.
 */
static const char  ngx_http_x402_disown_lua[] =
    "redis.call('ZREM', KEYS[1], KEYS[2]) "
    "local sid = redis.call('GET', '" NGX_HTTP_X402_SID_PREFIX "' .. KEYS[2]) "
    "if sid then redis.call('DEL', '" NGX_HTTP_X402_SID_PREFIX "' .. KEYS[2], "
    "'" NGX_HTTP_X402_SESSION_PREFIX "' .. sid, "
    "'" NGX_HTTP_X402_SESSION_PREFIX "' .. sid .. ':charges') end "
    "return 1";


/*
 * KEYS: the receipt, x402:unsettled, and for a session its record and the
 * receipt's link to it; ARGV: the receipt, its TTL (ms), in how many ms
 * (on Redis's clock) a reconciler may settle it, "-" when it is settled
 * before it is served; for a session its id, "method fingerprint payer cap
 * deadline(s) stop(ms) hard(ms) idle(ms) token live(ms)" (this request's
 * token, and how long it may run), its location.  The first
 * holder's receipt, or nil: reserved (and the session opened, with this
 * request in it).
 */
static const char  ngx_http_x402_reserve_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "local old = redis.call('GET', KEYS[1]) "
    "if old then return old end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "if ARGV[3] ~= '-' then "
    "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), KEYS[1]) end "
    "if KEYS[3] then "
    "local f = {} "
    "for w in string.gmatch(ARGV[5], '%S+') do f[#f + 1] = w end "
    "local hard = now + tonumber(f[7]) "
    "redis.call('HSET', KEYS[3], 'key', KEYS[1], 'fp', f[2], 'cap', f[4], "
    "'deadline', f[5], 'stop', now + tonumber(f[6]), 'hard', hard, "
    "'idle', f[8], 'gate', f[1] .. ' ' .. ARGV[6], "
    "'meta', ARGV[4] .. ' ' .. f[5] .. ' ' .. f[3] .. ' ' .. KEYS[1] "
    ".. ' ' .. hard, "
    "'total', '0', 'requests', '0', 'status', 'open', "
    "'opened', now, 'last', now, 't:' .. f[9], now + tonumber(f[10])) "
    "redis.call('PEXPIRE', KEYS[3], ARGV[2]) "
    "redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[2]) end "
    "return false";


static void ngx_http_x402_reserve_done(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_reserve_session(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_loc_conf_t *xlcf,
    ngx_http_x402_resv_t *resv, char *ttl, char *owed);
static void ngx_http_x402_release(ngx_http_x402_resv_t *resv);
static void ngx_http_x402_release_retry(ngx_event_t *ev);
static void ngx_http_x402_released(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_disown(ngx_http_x402_main_conf_t *xmcf,
    char *key);
static void ngx_http_x402_released_once(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_receipt_fetched(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_keep_receipt(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, redisReply *reply);



/*
 * One round trip that reserves the payment (and, when it is served before
 * its settlement, enters it in x402:unsettled), or returns the receipt
 * stored by whoever reserved it first.
 */

void
ngx_http_x402_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next)
{
    u_char                      ttl[NGX_INT64_LEN + 1],
                                owed[NGX_INT64_LEN + 1];
    size_t                      len;
    u_char                     *json, *p;
    uint64_t                    left, at, now, start;
    x402_err                    err;
    ngx_str_t                   url;
    ngx_int_t                   rv;
    x402_receipt                rc;
    ngx_http_x402_resv_t       *resv;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    ctx->next = next;

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

        /* a batched payment's job starts once its batch goes out */
        at = ngx_http_x402_settler_lease(xmcf, start * 1000
                                         + (xlcf->settle_batch
                                            ? xlcf->settle_batch_interval
                                              + 2 * xmcf->rpc_timeout
                                            : 0),
                                         now + left);

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

    x402_receipt_init(&rc, &ctx->offer, &ctx->payment, (const char *) p,
                      (uint64_t) ngx_time(), (uint64_t) ngx_time());
    rc.status = "reserved";
    /* as the job labels it: settled before served (sync), or after */
    rc.mode = (ctx->mode == NGX_HTTP_X402_MODE_SYNC
               || ctx->mode == NGX_HTTP_X402_MODE_ON_SUCCESS) ? "sync"
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

    json = ngx_pnalloc(r->pool, X402_RECEIPT_JSON_MAX + 6 * url.len);
    if (json == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    len = X402_RECEIPT_JSON_MAX + 6 * url.len;

    err = x402_receipt_encode((char *) json, &len, &rc);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot encode the receipt: %s",
                      x402_strerror(err));
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

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
    resv->json[len] = '\0';

    if (ctx->session == NGX_HTTP_X402_SESSION_OPENING) {
        rv = ngx_http_x402_reserve_session(r, ctx, xlcf, resv, (char *) ttl,
                                           (char *) owed);

    } else {
        rv = ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                      ngx_http_x402_reserve_done, resv,
                                      "EVAL", ngx_http_x402_reserve_lua, "2",
                                      ctx->key, NGX_HTTP_X402_UNSETTLED_KEY,
                                      (char *) json, (char *) ttl,
                                      (char *) owed, NULL);
    }

    if (rv != NGX_OK) {
        ngx_free(resv);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    ctx->op = &resv->op;
    ctx->state = NGX_HTTP_X402_REDIS;
}


/*
 * The reservation that opens a session: the session's record with it, due
 * (in x402:unsettled) once idle for x402_session_idle, at the latest at its
 * hard limit, the permit's deadline less x402_session_margin; resumes stop
 * the longest response before that.
 */

static ngx_int_t
ngx_http_x402_reserve_session(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_resv_t *resv, char *ttl,
    char *owed)
{
    u_char                     *p;
    char                        cap[X402_U256_DEC_MAX],
                                skey[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN],
                                sid[sizeof(NGX_HTTP_X402_SID_PREFIX)
                                    + X402_REPLAY_KEY_MAX];
    uint64_t                    deadline, now, hard, stop;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (x402_u256_to_u64(&deadline, &ctx->payment.deadline) != X402_OK) {
        return NGX_ERROR;
    }

    /* admitted (ngx_http_x402_min_left): both are ahead */
    now = (uint64_t) ngx_time();
    hard = deadline - (uint64_t) xlcf->session_margin;
    stop = hard - (uint64_t) xlcf->response_time;

    if (stop <= now || hard > deadline) {
        return NGX_ERROR;
    }

    ctx->session_hard = hard;

    *ngx_sprintf((u_char *) owed, "%uL",
                 (uint64_t) ngx_min((uint64_t) xlcf->session_idle,
                                    (hard - now) * 1000))
        = '\0';

    x402_u256_format_dec(cap, &ctx->payment.amount);

    p = ngx_pnalloc(r->pool, r->method_name.len + 64 + X402_ADDRESS_STR_LEN
                             + X402_U256_DEC_MAX + 6 * NGX_INT64_LEN + 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_sprintf(p, "%V %s %s %s %uL %uL %uL %M %s %T", &r->method_name,
                 ctx->pid_fp, ctx->payer, cap, deadline, (stop - now) * 1000,
                 (hard - now) * 1000, xlcf->session_idle, ctx->session_token,
                 (xlcf->response_time + NGX_HTTP_X402_SESSION_SLACK) * 1000)
        = '\0';

    ngx_sprintf((u_char *) skey, NGX_HTTP_X402_SESSION_PREFIX "%s%Z",
                ctx->session_id);
    ngx_sprintf((u_char *) sid, NGX_HTTP_X402_SID_PREFIX "%s%Z", ctx->key);

    return ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                    ngx_http_x402_reserve_done, resv, "EVAL",
                                    ngx_http_x402_reserve_lua, "4", ctx->key,
                                    NGX_HTTP_X402_UNSETTLED_KEY, skey, sid,
                                    (char *) resv->json, ttl, owed,
                                    (char *) ctx->session_id, (char *) p,
                                    (char *) xlcf->session_bind.data, NULL);
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
    ngx_memcpy(rel->key, resv->key, X402_REPLAY_KEY_MAX);
    ngx_memcpy(rel->json, resv->json, resv->len);


    rel->ev.handler = ngx_http_x402_release_retry;
    rel->ev.data = ngx_http_x402_io_dummy();
    rel->ev.log = ngx_cycle->log;
    rel->ev.cancelable = 1;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "x402: releasing the unused reservation %s", rel->key);

    ngx_http_x402_release_retry(&rel->ev);
}


static void
ngx_http_x402_release_retry(ngx_event_t *ev)
{
    ngx_http_x402_release_t  *rel;

    rel = (ngx_http_x402_release_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_release_t, ev));

    if (ngx_http_x402_redis_send(rel->redis, ngx_cycle->log,
                                 ngx_http_x402_released, rel, "EVAL",
                                 ngx_http_x402_release_lua, "2", rel->key,
                                 NGX_HTTP_X402_UNSETTLED_KEY,
                                 (char *) rel->json, NULL)
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
     * 1 deleted it, 0 means there was nothing of ours left; an error (out
     * of memory, a replica) is tried again
     */

    if ((reply != NULL && reply->type != REDIS_REPLY_ERROR)
        || ++rel->attempts >= NGX_HTTP_X402_RELEASE_TRIES
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
        ctx->next(r, ctx);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis answered the reservation with type %d",
                      reply->type);
        ngx_http_x402_fail(r, ctx, "payment reservation unavailable");
        return;
    }

    /* someone reserved this payment first: answer with their receipt */

    if (ngx_http_x402_keep_receipt(r, ctx, reply) != NGX_OK) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment replayed, payer %s: already reserved",
                  ctx->payer);

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);

    ngx_http_x402_finish(r, ctx, X402_R_INVALID_NONCE);
}


/*
 * The receipt stored under ctx->key, for a payment whose nonce the chain
 * has spent: settled through this Redis before, so that an agent that lost
 * the answer learns it paid.  Then next, with ctx->receipt or without it
 * (none stored, or Redis did not answer: the refusal stands either way).
 */

void
ngx_http_x402_receipt_fetch(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next)
{
    ngx_http_x402_op_t         *op;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ctx->next = next;

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        next(r, ctx);
        return;
    }

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_receipt_fetched, op, "GET",
                                 ctx->key, NULL)
        != NGX_OK)
    {
        ngx_free(op);
        next(r, ctx);
        return;
    }

    ctx->op = op;
    ctx->state = NGX_HTTP_X402_REDIS;
}


static void
ngx_http_x402_receipt_fetched(void *data, redisReply *reply, const char *err)
{
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        (void) ngx_http_x402_keep_receipt(r, ctx, reply);
    }

    ctx->next(r, ctx);
}


/* A stored receipt into ctx->receipt, without its signature. */

static ngx_int_t
ngx_http_x402_keep_receipt(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    redisReply *reply)
{
    size_t  len;

    /* re-encoding never makes it longer */
    len = reply->len + 1;

    ctx->receipt.data = ngx_pnalloc(r->pool, len);
    if (ctx->receipt.data == NULL) {
        return NGX_ERROR;
    }

    if (x402_receipt_public((char *) ctx->receipt.data, &len, reply->str,
                            reply->len)
        == X402_OK)
    {
        ctx->receipt.len = len;
    }

    return NGX_OK;
}


/* Deletes a reservation this request took and will not use. */

void
ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf, char *key)
{
    ngx_http_x402_admitted_remove(key);

    (void) ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log,
                                    ngx_http_x402_released_once, NULL,
                                    "EVAL", ngx_http_x402_unreserve_lua, "2",
                                    key, NGX_HTTP_X402_UNSETTLED_KEY, NULL);
}


/* A reservation nobody served: out of x402:unsettled, the key kept. */

static void
ngx_http_x402_disown(ngx_http_x402_main_conf_t *xmcf, char *key)
{
    (void) ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log,
                                    ngx_http_x402_released_once, NULL,
                                    "EVAL", ngx_http_x402_disown_lua, "2",
                                    NGX_HTTP_X402_UNSETTLED_KEY, key, NULL);
}


static void
ngx_http_x402_released_once(void *data, redisReply *reply, const char *err)
{
    /* best effort */
}
