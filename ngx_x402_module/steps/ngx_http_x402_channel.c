
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * batch-settlement channels in Redis (x402_scheme batch-settlement), so
 * that every worker of every node sharing the Redis serves a channel as
 * one:
 *
 *   x402:ch:<chain>:<id>   hash: bal (the balance the server counts on:
 *                          the chain's, less a withdrawal in progress),
 *                          clm (claimed on chain), chg (charged so far),
 *                          sgn and sig (the highest voucher and its
 *                          signature, hex), cfg (the channel's config, its
 *                          7 ABI words in hex, for the claim), wd (when a
 *                          withdrawal began, unix s), wdb (the block of the
 *                          last one counted), rd (when the chain was last
 *                          read, ms), lk and lku (the request that holds
 *                          the channel, until when: Redis ms);
 *   x402:ch:due:<chain>    sorted set: channels with value not claimed, by
 *                          when they are claimed at the latest (ms).
 *
 * Requests of one channel are served one at a time: a voucher must be
 * what was charged so far plus the price (the client signs cumulative
 * amounts), so two at once could not both be right.  The charge is added
 * as the response's header goes out with a status below 400; a worker
 * that dies before lets go of the channel when its hold runs out,
 * uncharged.
 * Amounts are decimal strings, added and compared exactly in Lua.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_channel.h"


#define NGX_HTTP_X402_CH_DUE_PREFIX  "x402:ch:due:"
#define NGX_HTTP_X402_CH_HOLD_SLACK  10     /* s past the longest response */


/*
 * The voucher, against the channel (KEYS[1]).  ARGV: the request's token,
 * the price, the voucher's amount, how long it may hold the channel (ms),
 * the deposit it brings ("0": none), how old (ms) the chain's word on it
 * may be ("0": any).  {verdict, bal, clm, chg, sgn, sig, wd}; verdict "ok"
 * (held now), "unknown", "stale", "busy", "mismatch" (below the charge
 * plus the price), "ahead" (above it: an earlier voucher of the channel
 * may still be on its way), "exceeds".
 */
static const char  ngx_http_x402_channel_reserve_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_CMP
    NGX_HTTP_X402_LUA_ARITH
    "local f = redis.call('HMGET', KEYS[1], 'bal', 'clm', 'chg', 'sgn', "
    "'sig', 'wd', 'lk', 'lku', 'rd') "
    "if not f[1] then return {'unknown'} end "
    "if f[7] and tonumber(f[8]) > now then return {'busy'} end "
    "if tonumber(ARGV[6]) > 0 and tonumber(f[9] or '0') + tonumber(ARGV[6]) "
    "< now then return {'stale'} end "
    "local st = {f[1], f[2], f[3], f[4] or '', f[5] or '', f[6] or '0'} "
    "local v = 'ok' "
    "local c = cmp(ARGV[3], plus(f[3], ARGV[2])) "
    "if c > 0 then v = 'ahead' elseif c < 0 then v = 'mismatch' "
    "elseif cmp(ARGV[3], plus(f[1], ARGV[5])) > 0 then v = 'exceeds' "
    "else redis.call('HSET', KEYS[1], 'lk', ARGV[1], "
    "'lku', now + tonumber(ARGV[4])) end "
    "table.insert(st, 1, v) "
    "return st";


/*
 * The chain's word on the channel (KEYS[1]): ARGV the balance less a
 * withdrawal in progress, the total claimed, the config (hex), when the
 * withdrawal began (0: none).  What was charged or claimed never goes
 * down (a claim the chain has not seen yet).  A channel with nothing in
 * it (one a client made up, or before its deposit) is forgotten in an
 * hour.
 */
static const char  ngx_http_x402_channel_read_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_CMP
    "local f = redis.call('HMGET', KEYS[1], 'chg', 'clm') "
    "local chg, clm = f[1] or ARGV[2], f[2] or ARGV[2] "
    "if cmp(chg, ARGV[2]) < 0 then chg = ARGV[2] end "
    "if cmp(clm, ARGV[2]) < 0 then clm = ARGV[2] end "
    "redis.call('HSET', KEYS[1], 'bal', ARGV[1], 'clm', clm, 'chg', chg, "
    "'cfg', ARGV[3], 'wd', ARGV[4], 'rd', now) "
    "if ARGV[1] == '0' and chg == '0' then "
    "redis.call('PEXPIRE', KEYS[1], 3600000) "
    "else redis.call('PERSIST', KEYS[1]) end "
    "return 1";


/*
 * The request's charge (KEYS[1] the channel, KEYS[2] its chain's due
 * set): ARGV its token, the charge it was served on, the new total, its
 * voucher's amount and signature, the channel id, in how many ms its
 * value is claimed at the latest.  0: charged meanwhile by another (its
 * hold ran out): not counted twice.
 */
static const char  ngx_http_x402_channel_commit_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "local f = redis.call('HMGET', KEYS[1], 'chg', 'lk') "
    "if f[2] == ARGV[1] then redis.call('HDEL', KEYS[1], 'lk', 'lku') end "
    "if f[1] ~= ARGV[2] then return 0 end "
    "redis.call('HSET', KEYS[1], 'chg', ARGV[3], 'sgn', ARGV[4], "
    "'sig', ARGV[5]) "
    "redis.call('ZADD', KEYS[2], 'NX', now + tonumber(ARGV[7]), ARGV[6]) "
    "return 1";


static const char  ngx_http_x402_channel_release_lua[] =
    "if redis.call('HGET', KEYS[1], 'lk') == ARGV[1] then "
    "return redis.call('HDEL', KEYS[1], 'lk', 'lku') end "
    "return 0";


/*
 * Channels due (KEYS[1]): ARGV the channels' key prefix, how many, the
 * lease (ms) each is taken for.  A channel with nothing to claim leaves
 * the set.  Flat: id, cfg, sgn, sig, chg, clm per channel.
 */
static const char  ngx_http_x402_channel_due_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_CMP
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, "
    "'LIMIT', 0, tonumber(ARGV[2])) "
    "local out = {} "
    "for _, id in ipairs(ids) do "
    "local f = redis.call('HMGET', ARGV[1] .. id, 'cfg', 'sgn', 'sig', "
    "'chg', 'clm') "
    "if not (f[1] and f[2] and f[3] and f[4] and f[5]) "
    "or cmp(f[4], f[5]) <= 0 then "
    "redis.call('ZREM', KEYS[1], id) else "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id) "
    "for _, v in ipairs({id, f[1], f[2], f[3], f[4], f[5]}) do "
    "out[#out + 1] = v end end end "
    "return out";


/*
 * Claimed on chain (KEYS[1] the due set): ARGV the prefix, in how many ms
 * a channel charged since is due, then id, total claimed and "1" for a
 * channel claimed all it ever will be (the rest is over its balance).
 */
static const char  ngx_http_x402_channel_claimed_lua[] =
    NGX_HTTP_X402_LUA_NOW
    NGX_HTTP_X402_LUA_CMP
    "for i = 3, #ARGV - 2, 3 do "
    "local k = ARGV[1] .. ARGV[i] "
    "local f = redis.call('HMGET', k, 'clm', 'chg') "
    "if f[1] then local c = f[1] "
    "if cmp(ARGV[i + 1], c) > 0 then c = ARGV[i + 1] end "
    "redis.call('HSET', k, 'clm', c) "
    "if cmp(f[2], c) > 0 and ARGV[i + 2] ~= '1' then "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i]) "
    "else redis.call('ZREM', KEYS[1], ARGV[i]) end end end "
    "return 1";


/*
 * A withdrawal began (KEYS[1] the due set): ARGV the prefix, the channel
 * id, the amount, when it began... its block.  Counted once per block: the
 * balance the server counts on drops by the amount (never below what is
 * claimed), and the channel is claimed now.
 */
static const char  ngx_http_x402_channel_withdrawn_lua[] =
    NGX_HTTP_X402_LUA_CMP
    NGX_HTTP_X402_LUA_ARITH
    "local k = ARGV[1] .. ARGV[2] "
    "local f = redis.call('HMGET', k, 'bal', 'clm', 'wdb', 'chg') "
    "if not f[1] or f[3] == ARGV[5] then return 0 end "
    "local b = '0' "
    "if cmp(f[1], ARGV[3]) > 0 then b = minus(f[1], ARGV[3]) end "
    "if cmp(b, f[2]) < 0 then b = f[2] end "
    "redis.call('HSET', k, 'bal', b, 'wd', ARGV[4], 'wdb', ARGV[5]) "
    "if cmp(f[4], f[2]) > 0 then redis.call('ZADD', KEYS[1], 0, ARGV[2]) end "
    "return 1";


/* a command nothing waits for: what it was, for the log if it fails */
typedef struct {
    char                         what[160];
} ngx_http_x402_ch_note_t;


typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_channel_t     *ch;
    ngx_http_x402_redis_conf_t  *redis;
    char                         key[NGX_HTTP_X402_CH_KEY_MAX];
    char                         token[33];
    unsigned                     reserving:1;
} ngx_http_x402_ch_op_t;


static void ngx_http_x402_channel_park(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_op_t *op);
static ngx_int_t ngx_http_x402_channel_send(
    ngx_http_x402_redis_conf_t *redis, ngx_log_t *log, const char *what,
    ...) NGX_HTTP_X402_REDIS_SENTINEL;
static void ngx_http_x402_channel_sent(void *data, redisReply *reply,
    const char *err);
static ngx_http_x402_ch_op_t *ngx_http_x402_channel_op(
    ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch, ngx_http_x402_step_pt next);
static void ngx_http_x402_channel_reserved(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_channel_parse(ngx_http_x402_channel_t *ch,
    redisReply *reply);
static void ngx_http_x402_channel_chain(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_channel_stored(void *data, redisReply *reply,
    const char *err);
static ngx_int_t ngx_http_x402_channel_u256(x402_u256 *out, redisReply *v);
static void ngx_http_x402_channel_fail(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, const char *log_what, const char *err);


ngx_int_t
ngx_http_x402_channel_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch, ngx_http_x402_step_pt next)
{
    char                        price[X402_U256_DEC_MAX],
                                max[X402_U256_DEC_MAX],
                                deposit[X402_U256_DEC_MAX],
                                hold[NGX_INT64_LEN + 1],
                                ttl[NGX_INT64_LEN + 1];
    ngx_msec_t                  fresh;
    uint8_t                     random[16];
    ngx_http_x402_ch_op_t      *op;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (ch->token[0] == '\0') {
        if (getrandom(random, sizeof(random), GRND_NONBLOCK)
            != (ssize_t) sizeof(random))
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          "x402: getrandom() failed");
            return NGX_ERROR;
        }

        x402_hex_encode(ch->token, random, sizeof(random));
    }

    /* the location it was reserved in: its charge goes to its chain */
    ch->chain_id = xlcf->offer.chain_id;
    ch->claim_interval = xlcf->claim_interval;

    /* the chain's word on a channel is taken for a third of the withdraw
       delay, within 30 s to 5 min (the reference's rule) */
    fresh = ngx_min(300000, ngx_max(30000,
                    (ngx_msec_t) xlcf->withdraw_delay * 1000 / 3));
    *ngx_sprintf((u_char *) ttl, "%M", ch->read ? 0 : fresh) = '\0';

    x402_u256_format_dec(price, &ch->price);
    x402_u256_format_dec(max, &ch->pay.max_claimable);
    x402_u256_format_dec(deposit, &ch->pay.deposit_amount);

    /* the longest response, and a deposit's settlement before it */
    *ngx_sprintf((u_char *) hold, "%M",
                 (ngx_msec_t) (xlcf->response_time
                               + NGX_HTTP_X402_CH_HOLD_SLACK) * 1000
                 + (ch->pay.type == X402_CHANNEL_DEPOSIT
                    ? xmcf->timeout + ngx_http_x402_settler_bound(xmcf)
                    : 0))
        = '\0';

    op = ngx_http_x402_channel_op(r, ctx, ch, next);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->reserving = 1;

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_channel_reserved, op, "EVAL",
                                 ngx_http_x402_channel_reserve_lua, "1",
                                 ch->key, ch->token, price, max, hold,
                                 ch->pay.type == X402_CHANNEL_DEPOSIT
                                 ? deposit : "0", ttl, NULL)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    ngx_http_x402_channel_park(r, xmcf, ctx, &op->op);
    ctx->state = NGX_HTTP_X402_REDIS;

    return NGX_AGAIN;
}


/* Parked once: looking again (a busy channel, a read) keeps its deadline. */

static void
ngx_http_x402_channel_park(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_op_t *op)
{
    if (ctx->deadline.timer_set) {
        ctx->op = op;
        return;
    }

    (void) ngx_http_x402_park(r, xmcf, ctx, op);
}


/*
 * A command nothing waits for (a charge, a release, a claim recorded):
 * sent like any other (connecting if need be), its failure logged with
 * what it was; a script's 0 too, for a charge ("not counted").
 */

static ngx_int_t
ngx_http_x402_channel_send(ngx_http_x402_redis_conf_t *redis, ngx_log_t *log,
    const char *what, ...)
{
    va_list                   args;
    ngx_int_t                 rc;
    ngx_http_x402_ch_note_t  *note;

    note = ngx_alloc(sizeof(ngx_http_x402_ch_note_t), log);
    if (note == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn((u_char *) note->what, (u_char *) what, sizeof(note->what));

    va_start(args, what);
    rc = ngx_http_x402_redis_vsend(redis, log, ngx_http_x402_channel_sent,
                                   note, args);
    va_end(args);

    if (rc != NGX_OK) {
        ngx_free(note);
    }

    return rc;
}


static void
ngx_http_x402_channel_sent(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_ch_note_t *note = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s failed: %s", note->what,
                      reply ? reply->str : err);

    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0
               && ngx_strncmp(note->what, "the charge", 10) == 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: %s not counted: the channel was charged "
                      "meanwhile (its hold ran out): served uncharged",
                      note->what);
    }

    ngx_free(note);
}


static ngx_http_x402_ch_op_t *
ngx_http_x402_channel_op(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch, ngx_http_x402_step_pt next)
{
    ngx_http_x402_ch_op_t      *op;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    op = ngx_calloc(sizeof(ngx_http_x402_ch_op_t), r->connection->log);
    if (op == NULL) {
        return NULL;
    }

    op->op.request = r;
    op->op.ctx = ctx;
    op->ch = ch;
    op->redis = &xmcf->redis;
    ngx_memcpy(op->key, ch->key, sizeof(op->key));
    ngx_memcpy(op->token, ch->token, sizeof(op->token));
    ctx->next = next;

    return op;
}


static void
ngx_http_x402_channel_reserved(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_ch_op_t *op = data;

    char                         key[NGX_HTTP_X402_CH_KEY_MAX], token[33];
    ngx_http_request_t          *r;
    ngx_http_x402_ctx_t         *ctx;
    ngx_http_x402_channel_t     *ch;
    ngx_http_x402_redis_conf_t  *redis;

    ngx_memcpy(key, op->key, sizeof(key));
    ngx_memcpy(token, op->token, sizeof(token));
    redis = op->redis;
    ch = op->ch;

    r = ngx_http_x402_op_finish(&op->op, &ctx);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0 || reply->element[0]->type
                                   != REDIS_REPLY_STRING)
    {
        /* it may have run (a timeout): let the channel go either way */
        (void) ngx_http_x402_channel_send(redis, ngx_cycle->log,
                                          "a channel's release", "EVAL",
                                          ngx_http_x402_channel_release_lua,
                                          "1", key, token, NULL);

        if (r != NULL) {
            ngx_http_x402_channel_fail(r, ctx, "reservation",
                                       reply == NULL ? err
                                       : reply->type == REDIS_REPLY_ERROR
                                         ? reply->str : "unexpected reply");
        }

        return;
    }

    if (r == NULL) {
        /* the client left: the channel is not kept waiting for it */
        if (ngx_strcmp(reply->element[0]->str, "ok") == 0) {
            (void) ngx_http_x402_channel_send(redis, ngx_cycle->log,
                                              "a channel's release", "EVAL",
                                              ngx_http_x402_channel_release_lua,
                                              "1", key, token, NULL);
        }

        return;
    }

    if (ngx_http_x402_channel_parse(ch, reply) != NGX_OK) {
        (void) ngx_http_x402_channel_send(redis, ngx_cycle->log,
                                          "a channel's release", "EVAL",
                                          ngx_http_x402_channel_release_lua,
                                          "1", key, token, NULL);
        ngx_http_x402_channel_fail(r, ctx, "reservation",
                                   "unexpected reply");
        return;
    }

    ch->held = (ch->verdict == NGX_HTTP_X402_CH_OK);

    ctx->next(r, ctx);
}


/* {verdict, bal, clm, chg, sgn, sig, wd} into ch */

static ngx_int_t
ngx_http_x402_channel_parse(ngx_http_x402_channel_t *ch, redisReply *reply)
{
    char         *v;
    size_t        len;
    ngx_uint_t    i;
    redisReply  **e;

    v = reply->element[0]->str;

    if (ngx_strcmp(v, "unknown") == 0) {
        ch->verdict = NGX_HTTP_X402_CH_UNKNOWN;
        return NGX_OK;
    }

    if (ngx_strcmp(v, "busy") == 0) {
        ch->verdict = NGX_HTTP_X402_CH_BUSY;
        return NGX_OK;
    }

    if (ngx_strcmp(v, "stale") == 0) {
        ch->verdict = NGX_HTTP_X402_CH_STALE;
        return NGX_OK;
    }

    if (reply->elements != 7) {
        return NGX_ERROR;
    }

    e = reply->element;

    for (i = 1; i < 7; i++) {
        if (e[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }
    }

    ch->verdict = ngx_strcmp(v, "ok") == 0 ? NGX_HTTP_X402_CH_OK
                  : ngx_strcmp(v, "mismatch") == 0 ? NGX_HTTP_X402_CH_MISMATCH
                  : ngx_strcmp(v, "ahead") == 0 ? NGX_HTTP_X402_CH_AHEAD
                  : ngx_strcmp(v, "exceeds") == 0 ? NGX_HTTP_X402_CH_EXCEEDS
                  : NGX_HTTP_X402_CH_FAILED;

    if (ch->verdict == NGX_HTTP_X402_CH_FAILED
        || ngx_http_x402_channel_u256(&ch->balance, e[1]) != NGX_OK
        || ngx_http_x402_channel_u256(&ch->claimed, e[2]) != NGX_OK
        || ngx_http_x402_channel_u256(&ch->charged, e[3]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&ch->signed_max, sizeof(x402_u256));
    ch->sig_len = 0;

    if (e[4]->len && e[5]->len) {
        len = sizeof(ch->sig);

        if (ngx_http_x402_channel_u256(&ch->signed_max, e[4]) != NGX_OK
            || x402_hex_decode(ch->sig, &len, e[5]->str, e[5]->len)
               != X402_OK)
        {
            return NGX_ERROR;
        }

        ch->sig_len = len;
    }

    ch->withdraw_at = (uint64_t) ngx_atoof((u_char *) e[6]->str, e[6]->len);

    if (ch->withdraw_at == (uint64_t) NGX_ERROR) {
        ch->withdraw_at = 0;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_channel_u256(x402_u256 *out, redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS) {
        return NGX_ERROR;
    }

    return x402_u256_parse_dec(out, v->str, v->len) == X402_OK
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_x402_channel_read(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_channel_t *ch, ngx_http_x402_step_pt next)
{
    size_t                      len, lens[2];
    u_char                      buf[2048];
    uint8_t                     calls[2][36];
    const uint8_t              *data[2];
    ngx_http_x402_ch_op_t      *op;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    x402_abi_channel_state(calls[0], ch->id);
    x402_abi_channel_withdrawal(calls[1], ch->id);
    data[0] = calls[0];
    data[1] = calls[1];
    lens[0] = 36;
    lens[1] = 36;
    len = sizeof(buf);

    if (x402_rpc_calls_request((char *) buf, &len, NULL, 0,
                               &x402_batch_settlement_address, data, lens, 2,
                               1)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    op = ngx_http_x402_channel_op(r, ctx, ch, next);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_rpc_post(xmcf, r->connection->log, buf, len, 4096,
                               ngx_http_x402_channel_chain, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    ngx_http_x402_channel_park(r, xmcf, ctx, &op->op);
    ctx->state = NGX_HTTP_X402_RPC;

    return NGX_AGAIN;
}


static void
ngx_http_x402_channel_chain(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_ch_op_t *op = data;

    char                        bal[X402_U256_DEC_MAX],
                                clm[X402_U256_DEC_MAX],
                                wd[NGX_INT64_LEN + 1],
                                cfg[2 * 224 + 1];
    uint8_t                     ret[2][64], words[224];
    uint64_t                    at;
    x402_u256                   amount, balance;
    x402_call_result            res[2];
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_channel_t    *ch;
    ngx_http_x402_main_conf_t  *xmcf;

    r = op->op.request;

    if (r == NULL) {
        ngx_free(op);
        return;
    }

    ctx = op->op.ctx;
    ch = op->ch;

    if (rc != NGX_OK || status != NGX_HTTP_OK
        || x402_rpc_calls_parse(res, &ret[0][0], 64, 2,
                                (const char *) body->data, body->len, 1)
           != X402_OK
        || !res[0].ok || !res[1].ok
        || x402_channel_state_words(&balance, &ch->claimed, ret[0])
           != X402_OK
        || x402_channel_withdrawal_words(&amount, &at, ret[1]) != X402_OK)
    {
        (void) ngx_http_x402_op_finish(&op->op, &ctx);
        ngx_http_x402_channel_fail(r, ctx, "read on chain",
                                   err ? err : "unexpected reply");
        return;
    }

    /* the server counts only on what a withdrawal in progress leaves */
    x402_channel_usable(&ch->balance, &balance, &ch->claimed,
                        at ? &amount : NULL);
    ch->withdraw_at = at;
    ch->read = 1;

    x402_u256_format_dec(bal, &ch->balance);
    x402_u256_format_dec(clm, &ch->claimed);
    *ngx_sprintf((u_char *) wd, "%uL", at) = '\0';
    x402_channel_config_encode(words, &ch->pay.config);
    x402_hex_encode(cfg, words, sizeof(words));

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_channel_stored, op, "EVAL",
                                 ngx_http_x402_channel_read_lua, "1",
                                 ch->key, bal, clm, cfg, wd, NULL)
        != NGX_OK)
    {
        (void) ngx_http_x402_op_finish(&op->op, &ctx);
        ngx_http_x402_channel_fail(r, ctx, "record", "redis unavailable");
        return;
    }

    ctx->state = NGX_HTTP_X402_REDIS;
}


static void
ngx_http_x402_channel_stored(void *data, redisReply *reply, const char *err)
{
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);

    if (r == NULL) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_channel_fail(r, ctx, "record",
                                   reply ? reply->str : err);
        return;
    }

    ctx->next(r, ctx);
}


static void
ngx_http_x402_channel_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *what, const char *err)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: channel %s failed: %s", what, err);

    ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error = "payment reservation unavailable";
    ctx->next(r, ctx);
}


void
ngx_http_x402_channel_commit(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch)
{
    char                        base[X402_U256_DEC_MAX],
                                total[X402_U256_DEC_MAX],
                                max[X402_U256_DEC_MAX],
                                due[NGX_INT64_LEN + 1],
                                set[sizeof(NGX_HTTP_X402_CH_DUE_PREFIX) + 20],
                                what[160],
                                *sig;
    x402_u256                   sum;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    sig = ngx_pnalloc(r->pool, 2 * ch->pay.signature_len + 1);

    if (sig == NULL
        || x402_u256_add(&sum, &ch->charged, &ch->price) != X402_OK)
    {
        ngx_http_x402_channel_release(r, ch);
        return;
    }

    ch->held = 0;

    x402_hex_encode(sig, ch->pay.signature, ch->pay.signature_len);
    x402_u256_format_dec(base, &ch->charged);
    x402_u256_format_dec(total, &sum);
    x402_u256_format_dec(max, &ch->pay.max_claimable);
    *ngx_sprintf((u_char *) due, "%M", ch->claim_interval) = '\0';
    ngx_http_x402_channel_due_key(set, sizeof(set), ch->chain_id);
    ngx_snprintf((u_char *) what, sizeof(what),
                 "the charge of channel 0x%s to %s%Z", ch->id_hex, total);

    if (ngx_http_x402_channel_send(&xmcf->redis, r->connection->log, what,
                                   "EVAL", ngx_http_x402_channel_commit_lua,
                                   "2", ch->key, set, ch->token, base, total,
                                   max, sig, ch->id_hex, due, NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: %s could not be recorded (redis unavailable): "
                      "the request was served uncharged", what);
    }
}


void
ngx_http_x402_channel_release(ngx_http_request_t *r,
    ngx_http_x402_channel_t *ch)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ch->held = 0;

    /* when it cannot be sent, the hold runs out on its own */
    (void) ngx_http_x402_channel_send(&xmcf->redis, r->connection->log,
                                      "a channel's release", "EVAL",
                                      ngx_http_x402_channel_release_lua, "1",
                                      ch->key, ch->token, NULL);
}


void
ngx_http_x402_channel_state(ngx_http_x402_channel_t *ch,
    x402_channel_state *st, const x402_u256 *charged)
{
    ngx_memzero(st, sizeof(x402_channel_state));

    ngx_memcpy(st->channel_id, ch->id, 32);
    st->balance = ch->balance;
    st->total_claimed = ch->claimed;
    st->withdraw_requested_at = ch->withdraw_at;
    st->has_charged_cumulative = 1;
    st->charged_cumulative = *charged;
}


void
ngx_http_x402_channel_due_key(char *out, size_t size, uint64_t chain)
{
    ngx_snprintf((u_char *) out, size, NGX_HTTP_X402_CH_DUE_PREFIX "%uL%Z",
                 chain);
}


ngx_int_t
ngx_http_x402_channel_due(ngx_http_x402_main_conf_t *xmcf, uint64_t chain,
    ngx_uint_t limit, ngx_msec_t lease, ngx_http_x402_redis_done_pt done,
    void *data)
{
    char  set[sizeof(NGX_HTTP_X402_CH_DUE_PREFIX) + 20],
          prefix[sizeof(NGX_HTTP_X402_CH_PREFIX) + 22],
          n[NGX_INT64_LEN + 1], ms[NGX_INT64_LEN + 1];

    ngx_http_x402_channel_due_key(set, sizeof(set), chain);
    ngx_snprintf((u_char *) prefix, sizeof(prefix),
                 NGX_HTTP_X402_CH_PREFIX "%uL:%Z", chain);
    *ngx_sprintf((u_char *) n, "%ui", limit) = '\0';
    *ngx_sprintf((u_char *) ms, "%M", lease) = '\0';

    return ngx_http_x402_redis_send(&xmcf->redis, ngx_cycle->log, done, data,
                                    "EVAL", ngx_http_x402_channel_due_lua,
                                    "1", set, prefix, n, ms, NULL);
}


ngx_int_t
ngx_http_x402_channel_claimed(ngx_http_x402_main_conf_t *xmcf,
    uint64_t chain, ngx_msec_t interval, char **ids, char **totals,
    const u_char *final, ngx_uint_t n)
{
    char                 set[sizeof(NGX_HTTP_X402_CH_DUE_PREFIX) + 20],
                         prefix[sizeof(NGX_HTTP_X402_CH_PREFIX) + 22],
                         ms[NGX_INT64_LEN + 1];
    size_t              *argl;
    ngx_int_t            rc;
    ngx_uint_t           i, k;
    const char         **argv;
    ngx_http_x402_ch_note_t  *note;

    /* EVAL script 1 set prefix ms (id total final)... */
    argv = ngx_alloc((6 + 3 * n) * (sizeof(char *) + sizeof(size_t)),
                     ngx_cycle->log);
    note = ngx_alloc(sizeof(ngx_http_x402_ch_note_t), ngx_cycle->log);

    if (argv == NULL || note == NULL) {
        if (argv != NULL) {
            ngx_free(argv);
        }

        return NGX_ERROR;
    }

    argl = (size_t *) (argv + 6 + 3 * n);

    ngx_http_x402_channel_due_key(set, sizeof(set), chain);
    ngx_snprintf((u_char *) prefix, sizeof(prefix),
                 NGX_HTTP_X402_CH_PREFIX "%uL:%Z", chain);
    *ngx_sprintf((u_char *) ms, "%M", interval) = '\0';
    ngx_snprintf((u_char *) note->what, sizeof(note->what),
                 "the record of a claim of %ui channel%s%Z", n,
                 n == 1 ? "" : "s");

    k = 0;
    argv[k++] = "EVAL";
    argv[k++] = ngx_http_x402_channel_claimed_lua;
    argv[k++] = "1";
    argv[k++] = set;
    argv[k++] = prefix;
    argv[k++] = ms;

    for (i = 0; i < n; i++) {
        argv[k++] = ids[i];
        argv[k++] = totals[i];
        argv[k++] = final[i] ? "1" : "0";
    }

    for (i = 0; i < k; i++) {
        argl[i] = ngx_strlen(argv[i]);
    }

    rc = ngx_http_x402_redis_argv(&xmcf->redis, ngx_cycle->log,
                                  ngx_http_x402_channel_sent, note, (int) k,
                                  argv, argl);
    ngx_free(argv);

    if (rc != NGX_OK) {
        ngx_free(note);
    }

    return rc;
}


ngx_int_t
ngx_http_x402_channel_withdrawn(ngx_http_x402_main_conf_t *xmcf,
    uint64_t chain, x402_channel_withdraw *w)
{
    char  set[sizeof(NGX_HTTP_X402_CH_DUE_PREFIX) + 20],
          prefix[sizeof(NGX_HTTP_X402_CH_PREFIX) + 22],
          id[65], amount[X402_U256_DEC_MAX], at[NGX_INT64_LEN + 1],
          block[NGX_INT64_LEN + 1];

    ngx_http_x402_channel_due_key(set, sizeof(set), chain);
    ngx_snprintf((u_char *) prefix, sizeof(prefix),
                 NGX_HTTP_X402_CH_PREFIX "%uL:%Z", chain);
    x402_hex_encode(id, w->channel_id, 32);
    x402_u256_format_dec(amount, &w->amount);
    *ngx_sprintf((u_char *) at, "%uL", (uint64_t) ngx_time()) = '\0';
    *ngx_sprintf((u_char *) block, "%uL", w->block) = '\0';

    return ngx_http_x402_channel_send(&xmcf->redis, ngx_cycle->log,
                                      "the record of a channel's withdrawal",
                                      "EVAL",
                                      ngx_http_x402_channel_withdrawn_lua,
                                      "1", set, prefix, id, amount, at, block,
                                      NULL);
}
