
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
 *                        location and method it is bound to, the payment's
 *                        fingerprint, payer, deadline, and (ms, Redis's
 *                        clock) when resumes stop, when it is settled at
 *                        the latest, its idle time;
 *   x402:s:<id>:live     sorted set: the requests in flight, by token, each
 *                        until its longest response is over (a worker that
 *                        dies does not hold the settlement back longer);
 *   x402:s:<id>:charges  hash: each request's token and charge;
 *   x402:sid:<receipt>   the id, for a resume with the same payment.
 *
 * The session is opened with the payment's reservation (reserve.c), in the
 * same script; its receipt waits in x402:unsettled, due when the session
 * has been idle for x402_session_idle, is exhausted, or reaches its permit's
 * deadline less x402_session_margin, and the reconciler settles it then
 * (reconcile.c: the claim marks it settling and reads its total in one
 * script, so no charge is added after the amount is taken).
 *
 * Amounts are decimal strings added and compared digit by digit in Lua:
 * Lua's numbers are doubles, exact only below 2^53.
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


/* a charge on its way to Redis, retried while Redis does not answer */
typedef struct {
    ngx_event_t                  ev;
    ngx_http_x402_redis_conf_t  *redis;
    ngx_uint_t                   attempts;
    char                         key[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN];
    char                         token[33];     /* the request's */
    char                         amount[X402_U256_DEC_MAX];
} ngx_http_x402_charge_t;

#define NGX_HTTP_X402_CHARGE_TRIES  6       /* over about 30 s */


/* exact decimal arithmetic on canonical digit strings */
#define NGX_HTTP_X402_LUA_DECIMAL                                             \
    "local function cmp(a, b) "                                               \
    "if #a ~= #b then return #a < #b and -1 or 1 end "                        \
    "if a == b then return 0 end return a < b and -1 or 1 end "              \
    "local function digits(r) local o = {} "                                  \
    "for k = #r, 1, -1 do o[#o + 1] = r[k] end "                              \
    "local s = string.gsub(table.concat(o), '^0+', '') "                      \
    "if s == '' then return '0' end return s end "                            \
    "local function plus(a, b) local r, c, i, j = {}, 0, #a, #b "             \
    "while i > 0 or j > 0 or c > 0 do local d = c "                           \
    "if i > 0 then d = d + string.byte(a, i) - 48 end "                       \
    "if j > 0 then d = d + string.byte(b, j) - 48 end "                       \
    "r[#r + 1] = d % 10 c = math.floor(d / 10) i = i - 1 j = j - 1 end "      \
    "return digits(r) end "                                                   \
    "local function minus(a, b) local r, c, i, j = {}, 0, #a, #b "            \
    "while i > 0 do local d = string.byte(a, i) - 48 - c "                    \
    "if j > 0 then d = d - (string.byte(b, j) - 48) end "                     \
    "if d < 0 then d = d + 10 c = 1 else c = 0 end "                          \
    "r[#r + 1] = d i = i - 1 j = j - 1 end return digits(r) end "


/*
 * A resume.  KEYS: x402:s:<id> (ARGV[1] "id"), or x402:sid:<receipt>
 * (ARGV[1] "key"); ARGV: how, the location, the method, the payment's
 * fingerprint (by key), the request's token, how long it may run (ms).
 * {"ok", id, cap, total, deadline, payer, receipt key, hard (ms)}, or
 * {why}: unknown, mismatch (another encoding or signature of the payment),
 * exhausted, settling, elsewhere, late.
 */
static const char  ngx_http_x402_session_resume_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_DECIMAL
    "local s = KEYS[1] "
    "if ARGV[1] == 'key' then "
    "local id = redis.call('GET', KEYS[1]) "
    "if not id then return {'unknown'} end "
    "s = '" NGX_HTTP_X402_SESSION_PREFIX "' .. id end "
    "local f = redis.call('HMGET', s, 'status', 'bind', 'method', 'stop', "
    "'cap', 'total', 'fp', 'id', 'deadline', 'payer', 'key', 'hard') "
    "if not f[1] then return {'unknown'} end "
    "if ARGV[1] == 'key' and f[7] ~= ARGV[4] then return {'mismatch'} end "
    "if f[1] ~= 'open' then return {f[1]} end "
    "if f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then return {'elsewhere'} end "
    "if now >= tonumber(f[4]) then return {'late'} end "
    "if cmp(f[6], f[5]) >= 0 then return {'exhausted'} end "
    "redis.call('ZADD', s .. ':live', now + tonumber(ARGV[6]), ARGV[5]) "
    "redis.call('PEXPIRE', s .. ':live', redis.call('PTTL', s)) "
    "redis.call('HSET', s, 'last', now) "
    "return {'ok', f[8], f[5], f[6], f[9], f[10], f[11], f[12]}";


/*
 * A request's charge, once: KEYS: x402:s:<id>, its charges, x402:unsettled,
 * its requests in flight; ARGV: the charge (digits), the request's token.  The total never passes
 * the cap: a charge beyond it is cut to what is left, and the session is
 * exhausted (due now).  Otherwise it is due when idle, or at its hard
 * limit.  {"ok", charged, total, status} or {status, "0", total} when it
 * no longer takes charges.
 */
static const char  ngx_http_x402_session_charge_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_DECIMAL
    "local f = redis.call('HMGET', KEYS[1], 'status', 'cap', 'total', "
    "'idle', 'hard', 'key') "
    "if not f[1] then return {'unknown', '0', '0'} end "
    "local done = redis.call('HGET', KEYS[2], ARGV[2]) "
    "if done then return {'ok', done, f[3], f[1]} end "
    "redis.call('ZREM', KEYS[4], ARGV[2]) "
    "if f[1] ~= 'open' then return {f[1], '0', f[3]} end "
    "if not string.match(ARGV[1], '^%d+$') then "
    "return redis.error_reply('charge is not a decimal') end "
    "local add = string.gsub(ARGV[1], '^0+', '') "
    "if add == '' then add = '0' end "
    "local room = minus(f[2], f[3]) "
    "if cmp(add, room) > 0 then add = room end "
    "local total = plus(f[3], add) "
    "redis.call('HSET', KEYS[1], 'total', total, 'last', now) "
    "redis.call('HINCRBY', KEYS[1], 'requests', 1) "
    "redis.call('HSET', KEYS[2], ARGV[2], add) "
    "redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1])) "
    "local due = math.min(now + tonumber(f[4]), tonumber(f[5])) "
    "if cmp(total, f[2]) >= 0 then "
    "redis.call('HSET', KEYS[1], 'status', 'exhausted') due = now end "
    "redis.call('ZADD', KEYS[3], 'XX', due, f[6]) "
    "local st = redis.call('HGET', KEYS[1], 'status') "
    "return {'ok', add, total, st}";


static void ngx_http_x402_session_resumed(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_session_take(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, redisReply *reply);
static void ngx_http_x402_session_charge_send(ngx_event_t *ev);
static void ngx_http_x402_session_charged(void *data, redisReply *reply,
    const char *err);


ngx_int_t
ngx_http_x402_session_new_id(u_char *id)
{
    uint8_t  random[16];

    if (getrandom(random, sizeof(random), 0) != (ssize_t) sizeof(random)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "x402: getrandom() for a session id failed");
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

    if (getrandom(random, sizeof(random), 0) != (ssize_t) sizeof(random)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "x402: getrandom() for a session request failed");
        return NGX_ERROR;
    }

    x402_hex_encode((char *) ctx->session_token, random, sizeof(random));
    ctx->session_token[32] = '\0';

    return NGX_OK;
}


/*
 * Looks the request's session up: by ctx->session_id, or (by_payment) by
 * the payment decoded into ctx (ctx->key and ctx->pid_fp set).  next
 * finds ctx->session RESUMED, REFUSED (ctx->session_why) or NEW, or
 * ctx->status set when Redis failed.
 */

ngx_int_t
ngx_http_x402_session_resume(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t by_payment, ngx_http_x402_step_pt next)
{
    u_char                     *method;
    char                        key[sizeof(NGX_HTTP_X402_SID_PREFIX)
                                    + X402_REPLAY_KEY_MAX],
                                live[NGX_INT64_LEN + 1];
    ngx_http_x402_op_t         *op;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    ctx->next = next;

    if (by_payment) {
        ngx_sprintf((u_char *) key, NGX_HTTP_X402_SID_PREFIX "%s%Z",
                    ctx->key);

    } else {
        ngx_sprintf((u_char *) key, NGX_HTTP_X402_SESSION_PREFIX "%s%Z",
                    ctx->session_id);
    }

    method = ngx_pnalloc(r->pool, r->method_name.len + 1);
    if (method == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(method, r->method_name.data, r->method_name.len) = '\0';

    if (ngx_http_x402_session_token(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    *ngx_sprintf((u_char *) live, "%T",
                 (xlcf->response_time + NGX_HTTP_X402_SESSION_SLACK) * 1000)
        = '\0';

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_session_resumed, op, "EVAL",
                                 ngx_http_x402_session_resume_lua, "1", key,
                                 by_payment ? "key" : "id",
                                 (char *) xlcf->session_bind.data,
                                 (char *) method,
                                 by_payment ? (char *) ctx->pid_fp : "-",
                                 (char *) ctx->session_token, live, NULL)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    (void) ngx_http_x402_park(r, xmcf, ctx, op);
    ctx->state = NGX_HTTP_X402_REDIS;

    return NGX_AGAIN;
}


static void
ngx_http_x402_session_resumed(void *data, redisReply *reply, const char *err)
{
    redisReply           *why;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
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

    why = reply->element[0];

    if (why->len == 2 && ngx_strncmp(why->str, "ok", 2) == 0) {

        if (ngx_http_x402_session_take(r, ctx, reply) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "x402: the session in redis is not readable");
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            ctx->error = "internal error";
            ctx->next(r, ctx);
            return;
        }

        ctx->session = NGX_HTTP_X402_SESSION_RESUMED;
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_SESSION_RESUMED);
        ctx->next(r, ctx);
        return;
    }

    /* a payment no session knows is checked as any payment */

    if (ctx->session_id[0] == '\0'
        && ((why->len == 7 && ngx_strncmp(why->str, "unknown", 7) == 0)
            || (why->len == 8 && ngx_strncmp(why->str, "mismatch", 8) == 0)))
    {
        ctx->session = NGX_HTTP_X402_SESSION_NEW;
        ctx->session_why = "unknown";

    } else {
        ctx->session = NGX_HTTP_X402_SESSION_REFUSED;
        ctx->session_why = ngx_pnalloc(r->pool, why->len + 1);

        if (ctx->session_why != NULL) {
            *ngx_cpymem((u_char *) ctx->session_why, why->str, why->len)
                = '\0';

        } else {
            ctx->session_why = "closed";
        }
    }

    ctx->next(r, ctx);
}


/* {"ok", id, cap, total, deadline, payer, receipt key, hard ms} */

static ngx_int_t
ngx_http_x402_session_take(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    redisReply *reply)
{
    ngx_int_t    deadline, hard;
    ngx_uint_t   i;
    redisReply  *e;

    if (reply->elements != 8) {
        return NGX_ERROR;
    }

    for (i = 1; i < 8; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }
    }

    e = reply->element[1];

    if (!x402_session_id_valid(e->str, e->len)) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->session_id, e->str, X402_SESSION_ID_LEN + 1);

    e = reply->element[2];

    if (x402_u256_parse(&ctx->payment.amount, e->str, e->len) != X402_OK) {
        return NGX_ERROR;
    }

    deadline = ngx_atoi((u_char *) reply->element[4]->str,
                        reply->element[4]->len);
    hard = ngx_atoi((u_char *) reply->element[7]->str,
                    reply->element[7]->len);

    if (deadline == NGX_ERROR || hard == NGX_ERROR
        || reply->element[5]->len >= sizeof(ctx->payer)
        || reply->element[6]->len >= X402_REPLAY_KEY_MAX)
    {
        return NGX_ERROR;
    }

    x402_u256_from_u64(&ctx->payment.deadline, (uint64_t) deadline);
    ctx->session_hard = (uint64_t) hard / 1000;

    e = reply->element[5];
    *ngx_cpymem(ctx->payer, e->str, e->len) = '\0';

    e = reply->element[6];
    *ngx_cpymem(ctx->key, e->str, e->len) = '\0';

    return NGX_OK;
}


/*
 * The request's charge into its session, in the background: the request
 * may be gone.  A token of its own makes a retry after a lost answer count
 * once.
 */

void
ngx_http_x402_session_charge(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_charge_t     *ch;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ch = ngx_calloc(sizeof(ngx_http_x402_charge_t), r->connection->log);
    if (ch == NULL) {
        return;
    }

    ngx_memcpy(ch->token, ctx->session_token, sizeof(ch->token));

    ngx_sprintf((u_char *) ch->key, NGX_HTTP_X402_SESSION_PREFIX "%s%Z",
                ctx->session_id);
    x402_u256_format_dec(ch->amount, &ctx->charge);

    ch->redis = &xmcf->redis;
    ch->ev.handler = ngx_http_x402_session_charge_send;
    ch->ev.data = ngx_http_x402_io_dummy();
    ch->ev.log = ngx_cycle->log;
    ch->ev.cancelable = 1;

    ngx_http_x402_session_charge_send(&ch->ev);
}


static void
ngx_http_x402_session_charge_send(ngx_event_t *ev)
{
    char                     charges[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                     + X402_SESSION_ID_LEN
                                     + sizeof(":charges")],
                             live[sizeof(NGX_HTTP_X402_SESSION_PREFIX)
                                  + X402_SESSION_ID_LEN + sizeof(":live")];
    ngx_http_x402_charge_t  *ch;

    ch = (ngx_http_x402_charge_t *)
         ((u_char *) ev - offsetof(ngx_http_x402_charge_t, ev));

    ngx_sprintf((u_char *) charges, "%s:charges%Z", ch->key);
    ngx_sprintf((u_char *) live, "%s:live%Z", ch->key);

    if (ngx_http_x402_redis_send(ch->redis, ngx_cycle->log,
                                 ngx_http_x402_session_charged, ch, "EVAL",
                                 ngx_http_x402_session_charge_lua, "4",
                                 ch->key, charges,
                                 NGX_HTTP_X402_UNSETTLED_KEY, live, ch->amount,
                                 ch->token, NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: the charge %s of session %*s... is lost",
                      ch->amount, 8, ch->key
                      + sizeof(NGX_HTTP_X402_SESSION_PREFIX) - 1);
        ngx_free(ch);
    }
}


static void
ngx_http_x402_session_charged(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_charge_t *ch = data;

    u_char  *sid;

    sid = (u_char *) ch->key + sizeof(NGX_HTTP_X402_SESSION_PREFIX) - 1;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3)
    {
        if (++ch->attempts < NGX_HTTP_X402_CHARGE_TRIES && !ngx_exiting
            && !ngx_terminate && !ngx_quit)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: session %*s...: the charge %s is not "
                          "recorded yet (%s), retrying", 8, sid, ch->amount,
                          reply && reply->type == REDIS_REPLY_ERROR
                          ? reply->str : err ? err : "unexpected reply");
            ngx_add_timer(&ch->ev, 1000 * ch->attempts);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: session %*s...: the charge %s is lost: redis "
                      "did not record it", 8, sid, ch->amount);
        ngx_free(ch);
        return;
    }

    if (reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        if (ngx_strcmp(reply->element[0]->str, "ok") == 0) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "x402: session %*s...: charged %s of %s, total %s",
                          8, sid, reply->element[1]->str, ch->amount,
                          reply->element[2]->str);

        } else {
            /* settling since (its deadline came): served, not charged */
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: session %*s... is %s: the charge %s of a "
                          "request that ended after it closed is not "
                          "collected", 8, sid, reply->element[0]->str,
                          ch->amount);
        }
    }

    ngx_free(ch);
}
