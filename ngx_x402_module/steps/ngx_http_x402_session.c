
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Upto sessions (x402_session on): one signed cap, many requests, one
 * settlement.  A session lives in Redis, so that any worker of any node
 * sharing the Redis serves and settles it:
 *
 *   x402:s:<id>          hash: the payment's receipt key, cap, total,
 *                        requests, status (open, exhausted, settling), the
 *                        method and location it serves (gate), the
 *                        payment's fingerprint, what a resume needs (meta:
 *                        id, deadline, payer, receipt key, hard limit), and
 *                        on Redis's clock (ms) when resumes stop, when it
 *                        is settled at the latest, its idle time; and
 *                        t:<token> for each request in flight, until its
 *                        longest response is over (a worker that dies holds
 *                        the settlement back no longer);
 *   x402:s:<id>:charges  list: the last 1000 requests' charges;
 *   x402:sid:<receipt>   the id, for a resume with the same payment.
 *
 * The session is opened with the payment's reservation (reserve.c), in the
 * same script; its receipt waits in x402:unsettled, due when the session
 * has been idle for x402_session_idle, is exhausted, or reaches its permit's
 * deadline less x402_session_margin, and the reconciler settles it then
 * (reconcile.c: the claim marks it settling and reads its total in one
 * script, so no charge is added after the amount is taken).
 *
 * A resume by id is three plain commands (no Lua: a script costs Redis
 * several times more); charges go in batches.  Amounts are decimal strings
 * added and compared in Lua in chunks of 14 digits: Lua's numbers are
 * doubles, exact only below 2^53.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_session.h"


#define NGX_HTTP_X402_CHARGE_BATCH  32
#define NGX_HTTP_X402_CHARGE_WAIT   20      /* ms */


/*
 * The charges of one session's requests that ended on this worker, sent
 * together: when NGX_HTTP_X402_CHARGE_BATCH have ended, when they may use
 * up what the session had left when last read, or NGX_HTTP_X402_CHARGE_WAIT
 * after the first (the timer holds a worker that is shutting down until
 * then).  Retried while Redis does not answer: the requests' places make
 * it count once.
 */
typedef struct {
    ngx_queue_t                  queue;     /* open: in the worker's */
    ngx_event_t                  ev;
    ngx_http_x402_redis_conf_t  *redis;
    ngx_uint_t                   attempts;
    ngx_uint_t                   n;
    unsigned                     sent:1;
    x402_u256                    sum;
    x402_u256                    room;      /* the least left, as read */
    char                         key[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN];
    u_char                      *tokens_end;
    u_char                      *amounts_end;
    u_char                       tokens[NGX_HTTP_X402_CHARGE_BATCH * 33];
    u_char                       amounts[NGX_HTTP_X402_CHARGE_BATCH
                                         * X402_U256_DEC_MAX];
} ngx_http_x402_charge_t;

#define NGX_HTTP_X402_CHARGE_TRIES  6       /* over about 20 s */


static ngx_queue_t  ngx_http_x402_charges;  /* open batches, this worker */
static ngx_uint_t   ngx_http_x402_charges_ready;


/* what a resume reads: the checks' fields, and the rest packed in one */
#define NGX_HTTP_X402_SESSION_FIELDS                                          \
    "'status', 'gate', 'stop', 'cap', 'total', 'meta'"


/* a lookup in flight: the op, and what undoes its place if it is gone */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_redis_conf_t  *redis;
    char                         token[33];
    char                         key[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN];  /* by id */
} ngx_http_x402_look_t;


/*
 * A resume that must find the session first: by its payment (KEYS:
 * x402:sid:<receipt>, ARGV[1] "key", the payment's fingerprint), or by id
 * before this worker's connection is up (KEYS: x402:s:<id>, "id").  ARGV:
 * how, the fingerprint or "-", the request's token, until when (ms) it
 * holds a place.  The fields as the plain resume reads them (status, gate,
 * stop, cap, total, meta), or {"unknown"}, {"mismatch"} (another encoding
 * or signature of the payment).
 */
static const char  ngx_http_x402_session_find_lua[] =
    "local s = KEYS[1] "
    "if ARGV[1] == 'key' then "
    "local id = redis.call('GET', KEYS[1]) "
    "if not id then return {'unknown'} end "
    "s = '" NGX_HTTP_X402_SESSION_PREFIX "' .. id "
    "if redis.call('HGET', s, 'fp') ~= ARGV[2] then return {'mismatch'} end "
    "elseif redis.call('EXISTS', s) == 0 then return {'unknown'} end "
    "redis.call('HSET', s, 't:' .. ARGV[3], ARGV[4]) "
    "return redis.call('HMGET', s, " NGX_HTTP_X402_SESSION_FIELDS ")";


/*
 * The charges of a batch of requests, once (their places t:<token> are
 * taken back with them): KEYS: x402:s:<id>, its charges (the last 1000),
 * x402:unsettled; ARGV: their sum (digits), their tokens, their charges
 * (space-separated, in the order they ended).  The total never passes the
 * cap: charges beyond it are cut to what is left, in order, and the
 * session is exhausted (due now).  Otherwise it is due when idle, or at
 * its hard limit.  {"ok", charged, total, status}; {"done", ...} for a
 * batch counted before; {status, "0", total} when it takes charges no more.
 */
static const char  ngx_http_x402_session_charge_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_CMP
    NGX_HTTP_X402_LUA_ARITH
    "local f = redis.call('HMGET', KEYS[1], 'status', 'cap', 'total', "
    "'idle', 'hard', 'key', 'requests') "
    "if not f[1] then return {'unknown', '0', '0'} end "
    "local places, amounts = {}, {} "
    "for w in string.gmatch(ARGV[2], '%S+') do "
    "places[#places + 1] = 't:' .. w end "
    "for w in string.gmatch(ARGV[3], '%d+') do amounts[#amounts + 1] = w end "
    "if not string.match(ARGV[1], '^%d+$') or #amounts == 0 "
    "or #amounts ~= #places then "
    "return redis.error_reply('charges are not decimals') end "
    "if redis.call('HDEL', KEYS[1], unpack(places)) == 0 then "
    "return {'done', '0', f[3]} end "
    "if f[1] ~= 'open' then return {f[1], '0', f[3]} end "
    "local add, room = ARGV[1], minus(f[2], f[3]) "
    "if cmp(add, room) > 0 then add = room local left = room "
    "for i = 1, #amounts do "
    "if cmp(amounts[i], left) > 0 then amounts[i] = left end "
    "left = minus(left, amounts[i]) end end "
    "local total = plus(f[3], add) "
    "local before = tonumber(f[7]) "
    "local n = before + #amounts "
    "local st = 'open' "
    "local due = math.min(now + tonumber(f[4]), tonumber(f[5])) "
    "if cmp(total, f[2]) >= 0 then st = 'exhausted' due = now end "
    "redis.call('HSET', KEYS[1], 'total', total, 'last', now, "
    "'requests', n, 'status', st) "
    "redis.call('RPUSH', KEYS[2], unpack(amounts)) "
    "if before == 0 then "
    "redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1])) end "
    "if math.floor(n / 100) > math.floor(before / 100) then "
    "redis.call('LTRIM', KEYS[2], -1000, -1) end "
    "redis.call('ZADD', KEYS[3], 'XX', due, f[6]) "
    "return {'ok', add, total, st}";


static void ngx_http_x402_session_resumed(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_session_check(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_x402_session_meta(ngx_http_x402_ctx_t *ctx,
    redisReply *meta);
static void ngx_http_x402_session_leave(ngx_http_x402_redis_conf_t *redis,
    redisReply *reply, char *key, char *token);
static ngx_int_t ngx_http_x402_session_random(uint8_t random[16],
    const char *what);
static void ngx_http_x402_session_charge_send(ngx_event_t *ev);
static void ngx_http_x402_session_charge_wait(ngx_event_t *ev);
static void ngx_http_x402_session_charged(void *data, redisReply *reply,
    const char *err);


ngx_int_t
ngx_http_x402_session_new_id(u_char *id)
{
    uint8_t  random[16];

    if (ngx_http_x402_session_random(random, "a session id") != NGX_OK) {
        return NGX_ERROR;
    }

    x402_session_id_format((char *) id, random);

    return NGX_OK;
}


/* The request's token in its session: its place there, and its charge. */

ngx_int_t
ngx_http_x402_session_token(ngx_http_x402_ctx_t *ctx)
{
    uint8_t  random[16];

    if (ngx_http_x402_session_random(random, "a session request")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    x402_hex_encode((char *) ctx->session_token, random, sizeof(random));
    ctx->session_token[32] = '\0';

    return NGX_OK;
}


/* 16 bytes from the kernel's CSPRNG, for what (logged when it fails) */

static ngx_int_t
ngx_http_x402_session_random(uint8_t random[16], const char *what)
{
    if (getrandom(random, 16, 0) != 16) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "x402: getrandom() for %s failed", what);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Looks the request's session up: by ctx->session_id, or (by_payment) by
 * the payment decoded into ctx (ctx->key and ctx->pid_fp set), and takes
 * a place in it (t:<token>, until the longest response is over) before its
 * state is read, so that a settlement that starts after the read waits
 * for this request (the claim, reconcile.c, is one script).  By id, three
 * plain commands in one round trip: HSET of the place, PEXPIRE ... NX (a
 * place taken in a session that does not exist goes away), HMGET.  next
 * finds ctx->session RESUMED, REFUSED (ctx->session_why) or NEW, or
 * ctx->status when Redis failed.
 */

ngx_int_t
ngx_http_x402_session_resume(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t by_payment, ngx_http_x402_step_pt next)
{
    char                        key[sizeof(NGX_HTTP_X402_SID_PREFIX)
                                    + X402_REPLAY_KEY_MAX],
                                until[NGX_INT64_LEN + 1],
                                ttl[NGX_INT64_LEN + 1],
                                field[sizeof("t:") + 32];
    ngx_msec_t                  hold;
    ngx_int_t                   rc;
    ngx_http_x402_look_t       *look;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    ctx->next = next;

    if (ngx_http_x402_session_token(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    hold = (ngx_msec_t) (xlcf->response_time + NGX_HTTP_X402_SESSION_SLACK)
           * 1000;

    *ngx_sprintf((u_char *) until, "%uL",
                 (uint64_t) ngx_time() * 1000 + hold) = '\0';
    *ngx_sprintf((u_char *) ttl, "%M", hold) = '\0';
    *ngx_sprintf((u_char *) field, "t:%s", ctx->session_token) = '\0';

    if (by_payment) {
        ngx_sprintf((u_char *) key, NGX_HTTP_X402_SID_PREFIX "%s%Z",
                    ctx->key);

    } else {
        ngx_sprintf((u_char *) key, NGX_HTTP_X402_SESSION_PREFIX "%s%Z",
                    ctx->session_id);
    }

    look = ngx_alloc(sizeof(ngx_http_x402_look_t), r->connection->log);
    if (look == NULL) {
        return NGX_ERROR;
    }

    look->op.request = r;
    look->op.ctx = ctx;
    look->redis = &xmcf->redis;
    ngx_memcpy(look->token, ctx->session_token, sizeof(look->token));
    look->key[0] = '\0';

    if (!by_payment) {
        ngx_memcpy(look->key, key, sizeof(look->key));
    }

    if (!by_payment
        && ngx_http_x402_redis_send(&xmcf->redis, r->connection->log, NULL,
                                    NULL, "HSET", key, field, until, NULL)
           == NGX_OK)
    {
        (void) ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                        NULL, NULL, "PEXPIRE", key, ttl,
                                        "NX", NULL);

        rc = ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                      ngx_http_x402_session_resumed, look,
                                      "HMGET", key, "status", "gate", "stop",
                                      "cap", "total", "meta", NULL);

    } else {
        rc = ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                      ngx_http_x402_session_resumed, look,
                                      "EVAL", ngx_http_x402_session_find_lua,
                                      "1", key, by_payment ? "key" : "id",
                                      by_payment ? (char *) ctx->pid_fp : "-",
                                      (char *) ctx->session_token, until,
                                      NULL);
    }

    if (rc != NGX_OK) {
        ngx_free(look);
        return NGX_ERROR;
    }

    (void) ngx_http_x402_park(r, xmcf, ctx, &look->op);
    ctx->state = NGX_HTTP_X402_REDIS;

    return NGX_AGAIN;
}


static void
ngx_http_x402_session_resumed(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_look_t *look = data;

    char                         token[33],
                                 key[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN];
    ngx_http_request_t          *r;
    ngx_http_x402_ctx_t         *ctx;
    ngx_http_x402_redis_conf_t  *redis;

    ngx_memcpy(token, look->token, sizeof(token));
    ngx_memcpy(key, look->key, sizeof(key));
    redis = look->redis;

    r = ngx_http_x402_op_finish(&look->op, &ctx);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0)
    {
        if (r == NULL) {
            return;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis session lookup failed: %s",
                      reply == NULL ? err
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                      : "unexpected reply");
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->error = "payment reservation unavailable";
        ctx->next(r, ctx);
        return;
    }

    if (r == NULL || ngx_http_x402_session_check(r, ctx, reply) != NGX_OK) {
        /* gone, or refused: its place is given back */
        ngx_http_x402_session_leave(redis, reply, key, token);

        if (r != NULL) {
            ctx->next(r, ctx);
        }

        return;
    }

    ctx->session = NGX_HTTP_X402_SESSION_RESUMED;
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SESSION_RESUMED);
    ctx->next(r, ctx);
}


/*
 * The session as read (status, gate, stop, cap, total, meta): NGX_OK when
 * it serves this request (ctx filled from it); otherwise ctx->session is
 * NEW (a payment no session knows) or REFUSED with its reason.
 */

static ngx_int_t
ngx_http_x402_session_check(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    redisReply *reply)
{
    u_char                    *gate, *p;
    size_t                     len;
    ngx_uint_t                 i;
    redisReply                *e[6];
    const char                *why;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING) {
        /* the lookup by payment found nothing to resume: a new payment */
        why = reply->element[0]->str;
        goto refused;
    }

    if (reply->elements != 6 || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        why = "unknown";
        goto refused;
    }

    for (i = 0; i < 6; i++) {
        e[i] = reply->element[i];

        if (e[i]->type != REDIS_REPLY_STRING) {
            why = "unknown";
            goto refused;
        }
    }

    if (e[0]->len != 4 || ngx_strncmp(e[0]->str, "open", 4) != 0) {
        why = e[0]->len == 9 ? "exhausted" : "settling";
        goto refused;
    }

    /* bound to the location and the method that opened it */

    len = r->method_name.len + 1 + xlcf->session_bind.len;
    gate = ngx_pnalloc(r->pool, len);
    if (gate == NULL) {
        why = "unknown";
        goto refused;
    }

    p = ngx_cpymem(gate, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    ngx_memcpy(p, xlcf->session_bind.data, xlcf->session_bind.len);

    if (e[1]->len != len || ngx_strncmp(e[1]->str, gate, len) != 0) {
        why = "elsewhere";
        goto refused;
    }

    if ((uint64_t) ngx_time() * 1000
        >= (uint64_t) ngx_atoi((u_char *) e[2]->str, e[2]->len))
    {
        why = "late";
        goto refused;
    }

    /* digits without leading zeros: the longer, or the greater, is more */

    if (e[4]->len > e[3]->len
        || (e[4]->len == e[3]->len
            && ngx_strncmp(e[4]->str, e[3]->str, e[3]->len) >= 0))
    {
        why = "exhausted";
        goto refused;
    }

    if (x402_u256_parse(&ctx->payment.amount, e[3]->str, e[3]->len)
           != X402_OK
        || x402_u256_parse(&ctx->session_room, e[4]->str, e[4]->len)
           != X402_OK
        || x402_u256_sub(&ctx->session_room, &ctx->payment.amount,
                         &ctx->session_room)
           != X402_OK
        || ngx_http_x402_session_meta(ctx, e[5]) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: the session in redis is not readable");
        why = "unknown";
        goto refused;
    }

    return NGX_OK;

refused:

    if (ctx->session_id[0] == '\0'
        && (ngx_strcmp(why, "unknown") == 0
            || ngx_strcmp(why, "mismatch") == 0))
    {
        /* a payment no session knows is checked as any payment */
        ctx->session = NGX_HTTP_X402_SESSION_NEW;
        ctx->session_why = "unknown";
        return NGX_DECLINED;
    }

    ctx->session = NGX_HTTP_X402_SESSION_REFUSED;
    ctx->session_why = why;

    return NGX_DECLINED;
}


/* meta: "<id> <deadline> <payer> <receipt key> <hard ms>" */

static ngx_int_t
ngx_http_x402_session_meta(ngx_http_x402_ctx_t *ctx, redisReply *meta)
{
    u_char     *w[5], *p, *last;
    size_t      n[5];
    ngx_int_t   deadline, hard;
    ngx_uint_t  i;

    p = (u_char *) meta->str;
    last = p + meta->len;

    for (i = 0; i < 5; i++) {
        w[i] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        n[i] = p - w[i];

        if (n[i] == 0 || (i < 4 && p == last)) {
            return NGX_ERROR;
        }

        p++;
    }

    deadline = ngx_atoi(w[1], n[1]);
    hard = ngx_atoi(w[4], n[4]);

    if (!x402_session_id_valid((char *) w[0], n[0])
        || deadline == NGX_ERROR || hard == NGX_ERROR
        || n[2] >= sizeof(ctx->payer) || n[3] >= X402_REPLAY_KEY_MAX)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->session_id, w[0], X402_SESSION_ID_LEN);
    ctx->session_id[X402_SESSION_ID_LEN] = '\0';

    x402_u256_from_u64(&ctx->payment.deadline, (uint64_t) deadline);
    ctx->session_hard = (uint64_t) hard / 1000;

    *ngx_cpymem(ctx->payer, w[2], n[2]) = '\0';
    *ngx_cpymem(ctx->key, w[3], n[3]) = '\0';

    return NGX_OK;
}


/*
 * A place taken and not used (refused, or the client left meanwhile) is
 * given back, so that it holds no settlement: in the session looked up by
 * id (key), else in the one the payment's lookup read (its meta).  A place
 * taken in a session that does not exist is the key's only field: it goes
 * with it, so that made-up ids leave nothing in Redis.
 */

static void
ngx_http_x402_session_leave(ngx_http_x402_redis_conf_t *redis,
    redisReply *reply, char *key, char *token)
{
    char         field[sizeof("t:") + 32];
    redisReply  *meta;

    if (key[0] == '\0') {
        if (reply->elements != 6
            || reply->element[5]->type != REDIS_REPLY_STRING)
        {
            return;
        }

        meta = reply->element[5];

        if (meta->len <= X402_SESSION_ID_LEN
            || !x402_session_id_valid(meta->str, X402_SESSION_ID_LEN))
        {
            return;
        }

        ngx_sprintf((u_char *) key, NGX_HTTP_X402_SESSION_PREFIX "%*s%Z",
                    (size_t) X402_SESSION_ID_LEN, meta->str);
    }

    ngx_sprintf((u_char *) field, "t:%s%Z", token);

    (void) ngx_http_x402_redis_send(redis, ngx_cycle->log, NULL, NULL,
                                    "HDEL", key, field, NULL);
}


/*
 * The request's charge into its session, in the background (the request
 * may be gone), with the others of its batch.
 */

void
ngx_http_x402_session_charge(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    char                        key[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                    + X402_SESSION_ID_LEN];
    ngx_queue_t                *q;
    ngx_http_x402_charge_t     *ch;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (!ngx_http_x402_charges_ready) {
        ngx_queue_init(&ngx_http_x402_charges);
        ngx_http_x402_charges_ready = 1;
    }

    ngx_sprintf((u_char *) key, NGX_HTTP_X402_SESSION_PREFIX "%s%Z",
                ctx->session_id);

    ch = NULL;

    for (q = ngx_queue_head(&ngx_http_x402_charges);
         q != ngx_queue_sentinel(&ngx_http_x402_charges);
         q = ngx_queue_next(q))
    {
        ch = ngx_queue_data(q, ngx_http_x402_charge_t, queue);

        if (ngx_strcmp(ch->key, key) == 0) {
            break;
        }

        ch = NULL;
    }

    if (ch == NULL) {
        ch = ngx_calloc(sizeof(ngx_http_x402_charge_t), r->connection->log);
        if (ch == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "x402: session %*s...: a charge is lost: no "
                          "memory", (size_t) 8, ctx->session_id);
            return;
        }

        ngx_memcpy(ch->key, key, sizeof(key));
        ch->redis = &xmcf->redis;
        ch->room = ctx->session_room;
        ch->tokens_end = ch->tokens;
        ch->amounts_end = ch->amounts;

        ch->ev.handler = ngx_http_x402_session_charge_send;
        ch->ev.data = ngx_http_x402_io_dummy();
        ch->ev.log = ngx_cycle->log;

        ngx_queue_insert_tail(&ngx_http_x402_charges, &ch->queue);

        /* not cancelable: a worker shutting down sends it first */
        ngx_add_timer(&ch->ev, NGX_HTTP_X402_CHARGE_WAIT);
    }

    if (ch->tokens_end != ch->tokens) {
        *ch->tokens_end++ = ' ';
        *ch->amounts_end++ = ' ';
    }

    ch->tokens_end = ngx_cpymem(ch->tokens_end, ctx->session_token, 32);
    x402_u256_format_dec((char *) ch->amounts_end, &ctx->charge);
    ch->amounts_end += ngx_strlen(ch->amounts_end);

    (void) x402_u256_add(&ch->sum, &ch->sum, &ctx->charge);

    if (x402_u256_cmp(&ctx->session_room, &ch->room) < 0) {
        ch->room = ctx->session_room;
    }

    /* full, or it may use the session up: sent now */

    if (++ch->n == NGX_HTTP_X402_CHARGE_BATCH
        || x402_u256_cmp(&ch->sum, &ch->room) >= 0)
    {
        ngx_del_timer(&ch->ev);
        ngx_http_x402_session_charge_send(&ch->ev);
    }
}


static void
ngx_http_x402_session_charge_send(ngx_event_t *ev)
{
    char                     charges[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN
                                     + sizeof(":charges")],
                             sum[X402_U256_DEC_MAX];
    ngx_http_x402_charge_t  *ch;

    ch = (ngx_http_x402_charge_t *)
         ((u_char *) ev - offsetof(ngx_http_x402_charge_t, ev));

    if (!ch->sent) {
        /* no more charges join it */
        ch->sent = 1;
        ngx_queue_remove(&ch->queue);
        *ch->tokens_end = '\0';
        *ch->amounts_end = '\0';
    }

    ngx_sprintf((u_char *) charges, "%s:charges%Z", ch->key);
    x402_u256_format_dec(sum, &ch->sum);

    if (ngx_http_x402_redis_send(ch->redis, ngx_cycle->log,
                                 ngx_http_x402_session_charged, ch, "EVAL",
                                 ngx_http_x402_session_charge_lua, "3",
                                 ch->key, charges,
                                 NGX_HTTP_X402_UNSETTLED_KEY, sum,
                                 (char *) ch->tokens, (char *) ch->amounts,
                                 NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: session %*s...: the charges of %ui requests "
                      "(%s) are lost", (size_t) 8,
                      ch->key + sizeof(NGX_HTTP_X402_SESSION_PREFIX) - 1,
                      ch->n, sum);
        ngx_free(ch);
        return;
    }

    /*
     * a worker shutting down waits for the answer: the command is only
     * queued until the event loop writes it, and the command's own timer
     * is cancelable
     */
    ch->ev.handler = ngx_http_x402_session_charge_wait;
    ngx_add_timer(&ch->ev, ch->redis->timeout + 1000);
}


static void
ngx_http_x402_session_charge_wait(ngx_event_t *ev)
{
    /* the command's timeout answers first (ngx_http_x402_session_charged) */
}


static void
ngx_http_x402_session_charged(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_charge_t *ch = data;

    u_char  *sid;

    sid = (u_char *) ch->key + sizeof(NGX_HTTP_X402_SESSION_PREFIX) - 1;

    if (ch->ev.timer_set) {
        ngx_del_timer(&ch->ev);
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3)
    {
        if (++ch->attempts < NGX_HTTP_X402_CHARGE_TRIES && !ngx_terminate) {
            ch->ev.handler = ngx_http_x402_session_charge_send;
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: session %*s...: the charges of %ui requests "
                          "are not recorded yet (%s), retrying", (size_t) 8,
                          sid, ch->n,
                          reply && reply->type == REDIS_REPLY_ERROR
                          ? reply->str : err ? err : "unexpected reply");
            ngx_add_timer(&ch->ev, 1000 * ch->attempts);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: session %*s...: the charges of %ui requests "
                      "are lost: redis did not record them", (size_t) 8, sid,
                      ch->n);
        ngx_free(ch);
        return;
    }

    if (reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        if (ngx_strcmp(reply->element[0]->str, "ok") == 0
            || ngx_strcmp(reply->element[0]->str, "done") == 0)
        {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "x402: session %*s...: %ui requests charged %s, "
                          "total %s", (size_t) 8, sid, ch->n,
                          reply->element[1]->str, reply->element[2]->str);

        } else {
            /* settling since (its deadline came): served, not charged */
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: session %*s... is %s: the charges of %ui "
                          "requests that ended after it closed are not "
                          "collected", (size_t) 8, sid,
                          reply->element[0]->str, ch->n);
        }
    }

    ngx_free(ch);
}
