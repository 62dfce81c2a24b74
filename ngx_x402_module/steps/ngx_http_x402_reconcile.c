
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The reconciler: one worker per node (worker 0), every
 * x402_reconcile_interval, makes sure nothing served stays unpaid and
 * nothing the settler sent stays stuck.  A round:
 *
 *   1. each settler account's mined transaction count, from the chain;
 *   2. in flight: receipts whose settlement was sent but not seen mined
 *      ("broadcast" after a crash, "pending" after x402_settle_timeout, in
 *      the set x402:inflight): the chain's receipt of the transaction says
 *      "settled" or "failed"; a transaction the chain will never mine (its
 *      nonce went to another one) makes the payment "retry";
 *   3. unsettled: payments served before their settlement (x402:unsettled)
 *      whose job is gone (its worker died) or failed for the gateway's
 *      reasons ("retry": node, Redis, gas, fees): taken over, with a lease
 *      no other node's reconciler takes, and settled from the receipt
 *      alone, until shortly before the permit expires;
 *   4. each account's nonces: every nonce allocated and not mined (its
 *      transaction table) is sent again, so a transaction a node
 *      lost never holds back the ones after it, and one allocated by a
 *      worker that died before signing it is filled with an empty
 *      transaction, so no gap stalls the settler;
 *   5. once: whether Redis keeps its data (an append-only file or
 *      replicas), else a warning.
 *
 * Several nodes may do this at once: what they record is the chain's, the
 * takeovers are leased, and the same signed bytes have the same hash.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_admitted.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_reconcile.h"


#define NGX_HTTP_X402_RECONCILE_BATCH  16
#define NGX_HTTP_X402_RECONCILE_SLACK  512      /* an update's growth */
/* a batch's receipt holds two logs per payment */
#define NGX_HTTP_X402_RECONCILE_RPC    X402_RPC_REPLY_MAX
/* "<ms> <hash> <key> <raw>", the raw transaction in hex: a filler's */
#define NGX_HTTP_X402_TX_RECORD_MAX                                           \
    (400 + 2 * X402_SETTLE_TX_MAX)
/* and a batch's (x402_settle_batch): up to 300 settle calls */
#define NGX_HTTP_X402_TX_RECORD_LIMIT  (2 * X402_RPC_REPLY_MAX)
#define NGX_HTTP_X402_FILL_GAS         21000


/*
 * A receipt the chain has decided, with its sets, unless the receipt
 * changed since it was read (a job or another node wrote it: the next
 * round looks again).  KEYS: the receipt, x402:inflight, x402:unsettled;
 * ARGV: the new receipt, its status, in how many ms it may be tried again
 * ("retry"), the receipt as read.
 */
static const char  ngx_http_x402_record_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "local cur = redis.call('GET', KEYS[1]) "
    "if not cur then redis.call('SREM', KEYS[2], KEYS[1]) "
    "redis.call('ZREM', KEYS[3], KEYS[1]) return 0 end "
    "if cur ~= ARGV[4] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') "
    "redis.call('SREM', KEYS[2], KEYS[1]) "
    "if ARGV[2] == 'retry' then "
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), KEYS[1]) "
    "else redis.call('ZREM', KEYS[3], KEYS[1]) end "
    "return 1";


/* The receipt and its sets gone, unless it changed since it was read. */
static const char  ngx_http_x402_release_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('SREM', KEYS[2], KEYS[1]) "
    "redis.call('ZREM', KEYS[3], KEYS[1]) "
    "return redis.call('DEL', KEYS[1])";


/* Up to ARGV[1] unsettled payments due now. */
static const char  ngx_http_x402_due_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, "
    "'LIMIT', 0, tonumber(ARGV[1]))";


/*
 * Takes over an unsettled payment whose time has come: its receipt, and a
 * lease (ARGV[1] ms) no other reconciler takes; nil when it is not due
 * (another took it, or its job still runs).  The payment of an upto
 * session: {its receipt, the session's total}, the session marked settling
 * in the same step, so that no charge is added once its amount is taken;
 * while a request of it still runs (one whose worker died: until its
 * longest response is over; any: until 5 s past the hard limit, when every
 * response has been cut) it is looked at again a second later.
 */
static const char  ngx_http_x402_claim_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "local sc = redis.call('ZSCORE', KEYS[1], KEYS[2]) "
    "if not sc or tonumber(sc) > now then return false end "
    "local r = redis.call('GET', KEYS[2]) "
    "if not r then redis.call('ZREM', KEYS[1], KEYS[2]) return false end "
    "local sid = redis.call('GET', '" NGX_HTTP_X402_SID_PREFIX "' .. KEYS[2]) "
    "if not sid then "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), KEYS[2]) "
    "return r end "
    "local s = '" NGX_HTTP_X402_SESSION_PREFIX "' .. sid "
    "local f = redis.call('HMGET', s, 'status', 'hard', 'total') "
    "if f[1] == 'open' or f[1] == 'exhausted' then "
    "local live, h = 0, redis.call('HGETALL', s) "
    "for i = 1, #h, 2 do "
    "if string.sub(h[i], 1, 2) == 't:' and tonumber(h[i + 1]) > now then "
    "live = live + 1 end end "
    "if live > 0 and now < tonumber(f[2]) + 5000 then "
    "redis.call('ZADD', KEYS[1], now + 1000, KEYS[2]) return false end "
    "redis.call('HSET', s, 'status', 'settling') end "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), KEYS[2]) "
    "return {r, f[3] or '0'}";


/*
 * The settler's transaction table below the mined count (ARGV[1]) is
 * done: dropped.  Nonces a failed broadcast returned to the pool (KEYS[2])
 * join the table as allocated and never signed, so that they are filled
 * even when no new settlement takes them; they stay in the pool, so that
 * the next settlement still takes the lowest (its allocation rewrites the
 * record, and the fill then leaves it alone).  Returns Redis's time (ms), then
 * the rest, lowest nonces first (at most ARGV[2]): nonce, record, ...
 */
static const char  ngx_http_x402_gaps_lua[] =
    NGX_HTTP_X402_LUA_NOW
    "local mined = tonumber(ARGV[1]) "
    "for _, k in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do "
    "local n = tonumber(k) "
    "if n ~= nil and n >= mined then "
    "redis.call('HSETNX', KEYS[1], string.format('%d', n), "
    "string.format('%d', now)) "
    "else redis.call('ZREM', KEYS[2], k) end end "
    "local open = {} "
    "for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do "
    "local n = tonumber(k) "
    "if n == nil or n < mined then redis.call('HDEL', KEYS[1], k) "
    "else open[#open + 1] = n end end "
    "table.sort(open) "
    "local out = { string.format('%d', now) } "
    "for i = 1, math.min(#open, tonumber(ARGV[2])) do "
    "local k = string.format('%d', open[i]) "
    "out[#out + 1] = k "
    "out[#out + 1] = redis.call('HGET', KEYS[1], k) end "
    "return out";


/*
 * A nonce whose record is still ARGV[2] (allocated and never signed, or
 * the transaction of a sync payment never answered) gets the filler's
 * transaction (ARGV[3]) instead, unless its record changed meanwhile; it
 * leaves the pool of released nonces (KEYS[2]), taken.
 */
static const char  ngx_http_x402_fill_lua[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if v ~= ARGV[2] then return 0 end "
    "redis.call('ZREM', KEYS[2], ARGV[1]) "
    "redis.call('HSET', KEYS[1], ARGV[1], "
    "string.match(v, '^%d+') .. ' ' .. ARGV[3]) "
    "return 1";


/* a record of the settler's transaction table, parsed */
typedef struct {
    uint64_t                     at;        /* allocated, ms */
    char                        *hash;      /* of the signed transaction */
    char                        *key;       /* the payment's receipt */
    char                        *raw;       /* NULL: never signed */
    ngx_uint_t                   owed;      /* served before settled */
} ngx_http_x402_gap_t;


typedef struct {
    ngx_http_x402_main_conf_t   *xmcf;
    ngx_http_x402_takeover_pt    takeover;   /* settles a served payment */
    ngx_event_t                  timer;

    /* each account's mined count, this round (step 1), and the account
       of steps 1 and 4 with its count */
    uint64_t                     mined_of[NGX_HTTP_X402_ACCOUNTS_MAX];
    u_char                       known_of[NGX_HTTP_X402_ACCOUNTS_MAX];
    ngx_uint_t                   acct;
    ngx_http_x402_account_t     *account;
    uint64_t                     redis_now; /* ms, when step 4 listed */

    ngx_uint_t                   n;         /* keys of this step */
    ngx_uint_t                   next;
    char                         keys[NGX_HTTP_X402_RECONCILE_BATCH]
                                     [X402_REPLAY_KEY_MAX];
    char                        *json;      /* the key's receipt */
    size_t                       json_len;
    size_t                       json_cap;
    char                        *scratch;   /* json_cap + slack bytes */
    x402_receipt_status          status;    /* of the receipt in json */
    char                         tx[67];
    x402_batch_item              item;      /* a batch's payment, and */
    uint64_t                     block;     /* the block of its batch */

    /* the settler's open nonces (step 4) */
    uint64_t                     nonces[NGX_HTTP_X402_RECONCILE_BATCH];
    char                        *records[NGX_HTTP_X402_RECONCILE_BATCH];
    x402_fees                    fees;
    u_char                       fill[NGX_HTTP_X402_TX_RECORD_MAX];

    unsigned                     busy:1;
    unsigned                     exiting:1;
    unsigned                     unknown_logged:1;  /* this round */
    unsigned                     durability:1;  /* step 5 done */
} ngx_http_x402_reconcile_t;


static void ngx_http_x402_reconcile_tick(ngx_event_t *ev);
static void ngx_http_x402_reconcile_mined(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_reconcile_ask(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_gaps_account(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_inflight_start(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_inflight_keys(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_inflight_next(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_inflight_got(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_inflight_receipt(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_inflight_dead(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_inflight_batch(ngx_http_x402_reconcile_t *rc,
    x402_receipt_settlement *st, ngx_str_t *body, uint64_t block);
static void ngx_http_x402_inflight_bit(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_inflight_unpaid(ngx_http_x402_reconcile_t *rc,
    ngx_uint_t served, uint64_t block);
static void ngx_http_x402_batch_item_of(x402_batch_item *item,
    x402_receipt_settlement *st);
static void ngx_http_x402_inflight_release(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_reconcile_record(ngx_http_x402_reconcile_t *rc,
    x402_receipt_status status, const char *error, ngx_uint_t last);
static void ngx_http_x402_inflight_recorded(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_unsettled_start(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_unsettled_keys(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_unsettled_next(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_unsettled_claimed(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_unsettled_recorded(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_gaps_start(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_gaps_listed(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_gaps_next(ngx_http_x402_reconcile_t *rc);
static ngx_int_t ngx_http_x402_gap_parse(char *rec, ngx_http_x402_gap_t *gap);
static char *ngx_http_x402_gap_copy(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_gap_t *gap);
static void ngx_http_x402_gaps_sync(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_gaps_resend(ngx_http_x402_reconcile_t *rc,
    const char *raw);
static void ngx_http_x402_gaps_fill(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_gaps_resent(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_gaps_fees(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_gaps_claimed(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_gaps_clear(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_durability(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_durability_info(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reconcile_end(ngx_http_x402_reconcile_t *rc);
static void ngx_http_x402_reconcile_free(ngx_http_x402_reconcile_t *rc);
static ngx_int_t ngx_http_x402_reconcile_keep(ngx_http_x402_reconcile_t *rc,
    const char *s, size_t len);
static void ngx_http_x402_reconcile_drop(ngx_http_x402_reconcile_t *rc,
    const char *cmd, const char *set, ngx_http_x402_redis_done_pt done);
static void ngx_http_x402_reconcile_advance(ngx_http_x402_reconcile_t *rc,
    redisReply *reply, void (*next)(ngx_http_x402_reconcile_t *rc));
static void ngx_http_x402_reconcile_redis(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_redis_done_pt done, ...) NGX_HTTP_X402_REDIS_SENTINEL;
static ngx_int_t ngx_http_x402_reconcile_rpc(ngx_http_x402_reconcile_t *rc,
    u_char *buf, size_t len, ngx_http_x402_curl_done_pt done);
static void ngx_http_x402_reconcile_amount(ngx_http_x402_reconcile_t *rc,
    ngx_uint_t kind);


static ngx_http_x402_reconcile_t  *ngx_http_x402_reconciler;


ngx_int_t
ngx_http_x402_reconcile_init(ngx_cycle_t *cycle,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_takeover_pt takeover)
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
    rc->takeover = takeover;

    rc->timer.handler = ngx_http_x402_reconcile_tick;
    rc->timer.data = ngx_http_x402_io_dummy();
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
        ngx_http_x402_reconcile_free(rc);
    }

    ngx_http_x402_reconciler = NULL;
}


/* 1. Each account's mined count, for steps 2 and 4. */

static void
ngx_http_x402_reconcile_tick(ngx_event_t *ev)
{
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

    rc->busy = 1;
    rc->acct = 0;
    rc->unknown_logged = 0;
    ngx_memzero(rc->known_of, sizeof(rc->known_of));

    ngx_http_x402_reconcile_ask(rc);
}


static void
ngx_http_x402_reconcile_ask(ngx_http_x402_reconcile_t *rc)
{
    size_t                     len;
    u_char                     buf[512];
    ngx_http_x402_account_t   *acct;

    for ( ;; ) {
        if (rc->acct >= rc->xmcf->naccounts) {
            ngx_http_x402_inflight_start(rc);
            return;
        }

        acct = &rc->xmcf->accounts[rc->acct];
        len = sizeof(buf);

        if (x402_rpc_mined_count_request((char *) buf, &len, &acct->address,
                                         1)
            == X402_OK
            && ngx_http_x402_reconcile_rpc(rc, buf, len,
                                           ngx_http_x402_reconcile_mined)
               == NGX_OK)
        {
            return;
        }

        rc->acct++;
    }
}


static void
ngx_http_x402_reconcile_mined(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->known_of[rc->acct] =
        rc_ == NGX_OK && status == NGX_HTTP_OK && body != NULL
        && x402_rpc_mined_count_parse(&rc->mined_of[rc->acct],
                                      (const char *) body->data, body->len, 1)
           == X402_OK;

    if (rc->known_of[rc->acct]) {
        /* this worker's settler sees it too (a stall ends with it) */
        ngx_http_x402_settler_mined(&rc->xmcf->accounts[rc->acct],
                                    rc->mined_of[rc->acct]);
    }

    rc->acct++;
    ngx_http_x402_reconcile_ask(rc);
}


/* 2. In flight: what the chain says of the transactions sent. */

static void
ngx_http_x402_inflight_start(ngx_http_x402_reconcile_t *rc)
{
    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_inflight_keys,
                                  "SRANDMEMBER", NGX_HTTP_X402_INFLIGHT_KEY,
                                  "16", NULL);
}


/* Copies the keys of a Redis array reply into rc->keys, goes on to next. */

static void
ngx_http_x402_reconcile_take_keys(ngx_http_x402_reconcile_t *rc,
    redisReply *reply, void (*next)(ngx_http_x402_reconcile_t *rc))
{
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

    next(rc);
}


static void
ngx_http_x402_inflight_keys(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_take_keys(data, reply,
                                      ngx_http_x402_inflight_next);
}


static void
ngx_http_x402_inflight_next(ngx_http_x402_reconcile_t *rc)
{
    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (rc->next >= rc->n) {
        ngx_http_x402_unsettled_start(rc);
        return;
    }

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_inflight_got, "GET",
                                  rc->keys[rc->next], NULL);
}


static void
ngx_http_x402_inflight_got(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char         status[16], buf[NGX_HTTP_X402_RPC_BODY_MAX];
    size_t       len;
    uint8_t      hash[32];
    uint64_t     updated;

    if (rc->exiting || reply == NULL) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->status = X402_RS_UNKNOWN;

    if (reply->type == REDIS_REPLY_STRING
        && x402_receipt_peek(status, sizeof(status), rc->tx, &updated,
                             reply->str, reply->len)
           == X402_OK)
    {
        rc->status = x402_receipt_status_parse(status);
    }

    if (rc->status != X402_RS_BROADCAST && rc->status != X402_RS_PENDING) {
        /* expired, ended meanwhile, or not ours to finish */
        ngx_http_x402_reconcile_drop(rc, "SREM", NGX_HTTP_X402_INFLIGHT_KEY,
                                     ngx_http_x402_inflight_recorded);
        return;
    }

    if (ngx_http_x402_reconcile_keep(rc, reply->str, reply->len) != NGX_OK) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    /* a settlement still running on some worker is left to it */

    len = sizeof(hash);

    if ((rc->status == X402_RS_BROADCAST
         && updated + rc->xmcf->settle_timeout / 1000 + 5
            > (uint64_t) ngx_time())
        || ngx_strlen(rc->tx) != 66
        || x402_hex_decode(hash, &len, rc->tx + 2, 64)
           != X402_OK
        || len != sizeof(hash))
    {
        rc->next++;
        ngx_http_x402_inflight_next(rc);
        return;
    }

    len = sizeof(buf);

    if (x402_rpc_receipt_request(buf, &len, hash, 1) != X402_OK
        || ngx_http_x402_reconcile_rpc(rc, (u_char *) buf, len,
                                       ngx_http_x402_inflight_receipt)
           != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_inflight_receipt(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    int                       found, ok;
    uint64_t                  block;
    x402_receipt_settlement   st;

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
        ngx_http_x402_inflight_dead(rc);
        return;
    }

    if (x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                       rc->json, rc->json_len)
        == X402_OK
        && st.batch_size > 0)
    {
        /* a batch mined is not each of its payments paid: its log says */
        ngx_http_x402_inflight_batch(rc, &st, ok ? body : NULL, block);
        return;
    }

    if (!ok
        && x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                          rc->json, rc->json_len)
           == X402_OK
        && st.served)
    {
        /*
         * Served, and its transaction reverted: a settlement job finds
         * out why, and whether another settlement of the payment won
         * (then it is paid), rather than a "failed" that may not be true.
         */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile %s: %s reverted in block %uL: "
                      "settled again to learn why", rc->keys[rc->next],
                      rc->tx, block);
        ngx_http_x402_reconcile_record(rc, X402_RS_RETRY,
                                       "invalid_exact_evm_transaction_failed",
                                       0);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: reconciled %s: %s %s in block %uL",
                  rc->keys[rc->next], rc->tx,
                  ok ? "settled" : "reverted", block);

    ngx_http_x402_stat_inc(ok ? NGX_HTTP_X402_STAT_RECONCILED
                              : NGX_HTTP_X402_STAT_RECONCILE_FAILED);

    if (ok) {
        ngx_http_x402_reconcile_amount(rc, NGX_HTTP_X402_AMOUNT_SETTLED);
    }

    ngx_http_x402_reconcile_record(rc, ok ? X402_RS_SETTLED : X402_RS_FAILED,
                                   ok ? NULL
                                      : "invalid_exact_evm_transaction_failed",
                                   0);
}


/*
 * A payment of a batch whose transaction is mined (its job did not see it
 * end): paid when the receipt holds its Transfer(payer, payTo, amount) of
 * its asset and its Permit2 nonce bit is set at that block.  Else its
 * call failed there (or the batch reverted whole): settled again, which
 * finds out; or, a sync payment whose request was never answered,
 * released.  body is NULL for a batch that reverted whole.
 */

static void
ngx_http_x402_inflight_batch(ngx_http_x402_reconcile_t *rc,
    x402_receipt_settlement *st, ngx_str_t *body, uint64_t block)
{
    int               used, settled;
    size_t            cap, len;
    u_char            buf[NGX_HTTP_X402_RPC_BODY_MAX];
    x402_transfer    *logs;
    x402_tx_outcome   out;

    settled = 0;

    if (body != NULL) {
        cap = 2 * st->batch_size + 16;
        logs = ngx_alloc(cap * sizeof(x402_transfer), ngx_cycle->log);

        if (logs == NULL
            || x402_rpc_receipt_transfers_parse(&out, logs, cap,
                                                (const char *) body->data,
                                                body->len, 1)
               != X402_OK)
        {
            if (logs != NULL) {
                ngx_free(logs);
            }

            ngx_http_x402_reconcile_end(rc);
            return;
        }

        ngx_http_x402_batch_item_of(&rc->item, st);
        used = 1;

        (void) x402_batch_match(&settled, &rc->item, &used, 1, logs,
                                out.transfers);
        ngx_free(logs);
    }

    if (!settled) {
        ngx_http_x402_inflight_unpaid(rc, st->served, block);
        return;
    }

    /* its transfer is there: and its nonce used (the batch's call)? */

    rc->block = block;
    len = sizeof(buf);

    if (x402_rpc_nonce_bits_request((char *) buf, &len, &rc->item, 1, block,
                                    1)
        != X402_OK
        || ngx_http_x402_reconcile_rpc(rc, buf, len,
                                       ngx_http_x402_inflight_bit)
           != NGX_OK)
    {
        ngx_http_x402_reconcile_end(rc);
    }
}


static void
ngx_http_x402_inflight_bit(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    int                       used;
    x402_receipt_settlement   st;

    if (rc->exiting || rc_ != NGX_OK || status != NGX_HTTP_OK
        || body == NULL
        || x402_rpc_nonce_bits_parse(&used, &rc->item, 1,
                                     (const char *) body->data, body->len, 1)
           != X402_OK
        || x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                          rc->json, rc->json_len)
           != X402_OK)
    {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (!used) {
        ngx_http_x402_inflight_unpaid(rc, st.served, rc->block);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: reconciled %s: paid in the batch %s (block %uL)",
                  rc->keys[rc->next], rc->tx, rc->block);
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECONCILED);
    ngx_http_x402_reconcile_amount(rc, NGX_HTTP_X402_AMOUNT_SETTLED);
    ngx_http_x402_reconcile_record(rc, X402_RS_SETTLED, NULL, 0);
}


/* A payment its mined batch did not pay. */

static void
ngx_http_x402_inflight_unpaid(ngx_http_x402_reconcile_t *rc,
    ngx_uint_t served, uint64_t block)
{
    if (!served && rc->status == X402_RS_BROADCAST) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "x402: reconcile %s: not paid in the batch %s, and "
                      "its request was never answered: reservation "
                      "released", rc->keys[rc->next], rc->tx);
        ngx_http_x402_inflight_release(rc);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: reconcile %s: not paid in the batch %s (block %uL):"
                  " settled again", rc->keys[rc->next], rc->tx, block);

    ngx_http_x402_reconcile_record(rc, X402_RS_RETRY, "settlement_lost", 0);
}


/* The batch item a receipt describes (what its transfer looks like). */

static void
ngx_http_x402_batch_item_of(x402_batch_item *item,
    x402_receipt_settlement *st)
{
    item->asset = st->offer.asset;
    item->payer = st->payment.from;
    item->pay_to = st->offer.pay_to;
    item->amount = st->has_charged ? st->charged : st->payment.amount;
    item->nonce = st->payment.nonce;
}


/*
 * Not mined (yet).  When the chain has mined the settler's nonce of this
 * transaction with another one, it never will be: the payment is settled
 * again ("retry"), or, its permit too close to its end, given up.
 */

static void
ngx_http_x402_inflight_dead(ngx_http_x402_reconcile_t *rc)
{
    uint64_t                  deadline;
    x402_receipt_settlement   st;
    ngx_http_x402_account_t  *acct;

    /* the count of the account whose nonce it is (the first's if not said) */

    acct = NULL;

    if (x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                       rc->json, rc->json_len)
        == X402_OK)
    {
        acct = st.has_settler
               ? ngx_http_x402_settler_find(rc->xmcf, &st.settler)
               : &rc->xmcf->accounts[0];

        if (acct == NULL && !rc->unknown_logged) {
            /* a key file removed (or a node with other keys): left to a
               node that has that account, logged once a round */
            rc->unknown_logged = 1;
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "x402: reconcile %s: its transaction is of a "
                          "settler account this node does not have: left "
                          "to a node that has it", rc->keys[rc->next]);
        }
    }

    if (acct == NULL || !rc->known_of[acct->index]
        || st.tx_nonce == UINT64_MAX
        || st.tx_nonce >= rc->mined_of[acct->index])
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "x402: reconcile %s: %s not mined yet",
                       rc->keys[rc->next], rc->tx);
        rc->next++;
        ngx_http_x402_inflight_next(rc);
        return;
    }

    if (x402_u256_to_u64(&deadline, &st.payment.deadline) != X402_OK) {
        deadline = (uint64_t) -1;
    }

    if (deadline < (uint64_t) ngx_time() + NGX_HTTP_X402_GIVE_UP) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: reconcile %s: %s was never mined (nonce %uL went "
                      "to another transaction) and the permit expires: "
                      "unpaid", rc->keys[rc->next], rc->tx, st.tx_nonce);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_UNPAID);
        ngx_http_x402_reconcile_amount(rc, NGX_HTTP_X402_AMOUNT_UNPAID);
        ngx_http_x402_reconcile_record(rc, X402_RS_FAILED,
                                       "settlement_expired", 0);
        return;
    }

    if (!st.served && rc->status == X402_RS_BROADCAST) {
        /* a sync payment whose worker died unanswered: cancelled */
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "x402: reconcile %s: %s was cancelled (nonce %uL went "
                      "to an empty transaction) and its request never "
                      "answered: reservation released, the payment may be "
                      "sent again", rc->keys[rc->next], rc->tx, st.tx_nonce);
        ngx_http_x402_inflight_release(rc);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: reconcile %s: %s will never be mined (nonce %uL "
                  "went to another transaction): settled again",
                  rc->keys[rc->next], rc->tx, st.tx_nonce);

    ngx_http_x402_reconcile_record(rc, X402_RS_RETRY, "settlement_lost", 0);
}


/* A payment nobody was served for, and nothing was paid: forgotten. */

static void
ngx_http_x402_inflight_release(ngx_http_x402_reconcile_t *rc)
{
    ngx_http_x402_admitted_remove(rc->keys[rc->next]);

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_inflight_recorded,
                                  "EVAL", ngx_http_x402_release_lua, "3",
                                  rc->keys[rc->next],
                                  NGX_HTTP_X402_INFLIGHT_KEY,
                                  NGX_HTTP_X402_UNSETTLED_KEY, rc->json, NULL);
}


/*
 * Records what the chain decided.  last: the receipt was claimed from
 * x402:unsettled (step 3) rather than read from x402:inflight.
 */

static void
ngx_http_x402_reconcile_record(ngx_http_x402_reconcile_t *rc,
    x402_receipt_status status, const char *error, ngx_uint_t last)
{
    char    *json;
    size_t   len;

    json = rc->scratch;
    len = rc->json_cap + NGX_HTTP_X402_RECONCILE_SLACK;

    if (x402_receipt_update(json, &len, rc->json, rc->json_len,
                            x402_receipt_status_string(status),
                            error, (uint64_t) ngx_time())
        != X402_OK)
    {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    /* "retry" is due again at once */

    ngx_http_x402_reconcile_redis(rc,
                                  last ? ngx_http_x402_unsettled_recorded
                                       : ngx_http_x402_inflight_recorded,
                                  "EVAL", ngx_http_x402_record_lua, "3",
                                  rc->keys[rc->next],
                                  NGX_HTTP_X402_INFLIGHT_KEY,
                                  NGX_HTTP_X402_UNSETTLED_KEY, json,
                                  x402_receipt_status_string(status), "0",
                                  rc->json, NULL);
}


static void
ngx_http_x402_inflight_recorded(void *data, redisReply *reply,
    const char *err)
{
    ngx_http_x402_reconcile_advance(data, reply, ngx_http_x402_inflight_next);
}


/* 3. Unsettled: served payments whose settlement is due and not running. */

static void
ngx_http_x402_unsettled_start(ngx_http_x402_reconcile_t *rc)
{
    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_unsettled_keys, "EVAL",
                                  ngx_http_x402_due_lua, "1",
                                  NGX_HTTP_X402_UNSETTLED_KEY, "16", NULL);
}


static void
ngx_http_x402_unsettled_keys(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_take_keys(data, reply,
                                      ngx_http_x402_unsettled_next);
}


static void
ngx_http_x402_unsettled_next(ngx_http_x402_reconcile_t *rc)
{
    char  lease[NGX_INT64_LEN + 1];

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (rc->next >= rc->n) {
        ngx_http_x402_gaps_start(rc);
        return;
    }

    /* the takeover's own job: as long as any job */

    *ngx_sprintf((u_char *) lease, "%M",
                 ngx_http_x402_settler_bound(rc->xmcf))
        = '\0';

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_unsettled_claimed,
                                  "EVAL", ngx_http_x402_claim_lua, "2",
                                  NGX_HTTP_X402_UNSETTLED_KEY,
                                  rc->keys[rc->next], lease, NULL);
}


static void
ngx_http_x402_unsettled_claimed(void *data, redisReply *reply,
    const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char                      status[16], tx[67];
    char                     *key;
    uint64_t                  updated, deadline;
    x402_u256                 charge;
    ngx_int_t                 rv;
    redisReply               *total;
    x402_receipt_settlement   st;

    if (rc->exiting || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    key = rc->keys[rc->next];
    total = NULL;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        /* an upto session: settled for its total */
        total = reply->element[1];
        reply = reply->element[0];
    }

    if (reply->type != REDIS_REPLY_STRING) {
        /* not due: taken by another, or its job still runs */
        rc->next++;
        ngx_http_x402_unsettled_next(rc);
        return;
    }

    if (x402_receipt_peek(status, sizeof(status), tx, &updated,
                          reply->str, reply->len)
        != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: reconcile %s: the receipt is not readable",
                      key);
        rc->next++;
        ngx_http_x402_unsettled_next(rc);
        return;
    }

    if (ngx_http_x402_reconcile_keep(rc, reply->str, reply->len) != NGX_OK) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->status = x402_receipt_status_parse(status);

    if (rc->status != X402_RS_RESERVED && rc->status != X402_RS_RETRY) {
        /* sent (followed in flight), or ended: nothing owed here */
        ngx_http_x402_reconcile_drop(rc, "ZREM", NGX_HTTP_X402_UNSETTLED_KEY,
                                     ngx_http_x402_unsettled_recorded);
        return;
    }

    if (x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                       rc->json, rc->json_len)
        != X402_OK
        || x402_u256_to_u64(&deadline, &st.payment.deadline) != X402_OK)
    {
        deadline = (uint64_t) -1;
    }

    if (deadline < (uint64_t) ngx_time() + NGX_HTTP_X402_GIVE_UP) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: reconcile %s: served, never settled, and its "
                      "permit expires: unpaid", key);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_UNPAID);
        ngx_http_x402_reconcile_amount(rc, NGX_HTTP_X402_AMOUNT_UNPAID);
        ngx_http_x402_reconcile_record(rc, X402_RS_FAILED,
                                       "settlement_expired", 1);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "x402: reconcile %s: served and %s: settling it here",
                  key, rc->status == X402_RS_RETRY
                       ? "its settlement failed for the gateway's reasons"
                       : "its settlement was never sent");

    if (total != NULL) {
        if (x402_u256_parse(&charge, total->str, total->len) != X402_OK) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "x402: reconcile %s: the session's total \"%s\" "
                          "is not an amount", key, total->str);
            ngx_http_x402_reconcile_record(rc, X402_RS_FAILED,
                                           "settlement_impossible", 1);
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "x402: reconcile %s: its upto session is due: "
                      "settling its total %s", key, total->str);
    }

    rv = rc->takeover(rc->xmcf, key, rc->json, rc->json_len,
                      total != NULL ? &charge : NULL);

    if (rv == NGX_OK) {
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_TAKEN_OVER);

    } else if (rv == NGX_DECLINED) {
        /* nothing to settle it with: a receipt without its authorization */
        ngx_http_x402_reconcile_record(rc, X402_RS_FAILED,
                                       "settlement_impossible", 1);
        return;
    }

    rc->next++;
    ngx_http_x402_unsettled_next(rc);
}


static void
ngx_http_x402_unsettled_recorded(void *data, redisReply *reply,
    const char *err)
{
    ngx_http_x402_reconcile_advance(data, reply,
                                    ngx_http_x402_unsettled_next);
}


/* 4. Each account's nonces the chain has not mined. */

static void
ngx_http_x402_gaps_start(ngx_http_x402_reconcile_t *rc)
{
    rc->acct = 0;

    ngx_http_x402_gaps_account(rc);
}


/* The nonces of account rc->acct (its count known), then of the next. */

static void
ngx_http_x402_gaps_account(ngx_http_x402_reconcile_t *rc)
{
    char  mined[NGX_INT64_LEN + 1], max[NGX_INT64_LEN + 1];

    while (rc->acct < rc->xmcf->naccounts && !rc->known_of[rc->acct]) {
        rc->acct++;
    }

    if (rc->acct >= rc->xmcf->naccounts) {
        ngx_http_x402_durability(rc);
        return;
    }

    rc->account = &rc->xmcf->accounts[rc->acct];
    *ngx_sprintf((u_char *) mined, "%uL", rc->mined_of[rc->acct]) = '\0';
    *ngx_sprintf((u_char *) max, "%d", NGX_HTTP_X402_RECONCILE_BATCH) = '\0';

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_gaps_listed, "EVAL",
                                  ngx_http_x402_gaps_lua, "2",
                                  rc->account->txs_key,
                                  rc->account->released_key, mined, max,
                                  NULL);
}


static void
ngx_http_x402_gaps_listed(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    off_t        ms;
    ngx_uint_t   i;
    redisReply  *n, *v;

    rc->n = 0;
    rc->next = 0;

    if (rc->exiting || reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    /* the allocations' clock */
    ms = ngx_atoof((u_char *) reply->element[0]->str, reply->element[0]->len);

    if (ms == NGX_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->redis_now = (uint64_t) ms;

    for (i = 1; i + 1 < reply->elements
                && rc->n < NGX_HTTP_X402_RECONCILE_BATCH; i += 2)
    {
        n = reply->element[i];
        v = reply->element[i + 1];

        if (n->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || v->len >= NGX_HTTP_X402_TX_RECORD_LIMIT)
        {
            continue;
        }

        rc->nonces[rc->n] = ngx_atoof((u_char *) n->str, n->len);

        rc->records[rc->n] = ngx_alloc(v->len + 1, ngx_cycle->log);
        if (rc->records[rc->n] == NULL) {
            break;
        }

        ngx_memcpy(rc->records[rc->n], v->str, v->len);
        rc->records[rc->n][v->len] = '\0';
        rc->n++;
    }

    if (rc->n) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "x402: reconcile: %ui settler nonces from %uL not "
                       "mined", rc->n, rc->mined_of[rc->acct]);
    }

    ngx_http_x402_gaps_next(rc);
}


/*
 * A record of the settler's transaction table, in place:
 * "<ms>" (allocated, never signed) or "<ms> <hash> <key> <o|s> <raw hex>"
 * (the key "-" for a filler); NGX_ERROR if it is neither.
 */

static ngx_int_t
ngx_http_x402_gap_parse(char *rec, ngx_http_x402_gap_t *gap)
{
    char        *f[5], *p;
    ngx_uint_t   n;

    ngx_memzero(gap, sizeof(ngx_http_x402_gap_t));

    for (n = 0, p = rec; n < 5 && p != NULL; n++) {
        f[n] = p;
        p = ngx_strchr(p, ' ');

        if (p != NULL) {
            *p++ = '\0';
        }
    }

    if ((n != 1 && n != 5) || p != NULL) {
        return NGX_ERROR;
    }

    gap->at = (uint64_t) ngx_atoof((u_char *) f[0], ngx_strlen(f[0]));

    if (gap->at == (uint64_t) NGX_ERROR) {
        return NGX_ERROR;
    }

    if (n == 5) {
        gap->hash = f[1];
        gap->key = f[2];
        gap->owed = (f[3][0] != 's');
        gap->raw = f[4];
    }

    return NGX_OK;
}


/*
 * One open nonce.  Its signed transaction is sent again: a node that lost
 * it must not hold back the ones after it.  But the transaction of a sync
 * payment whose job died before answering (its receipt still "broadcast"
 * long after any job would have ended) was never served: it is cancelled
 * instead, with an empty transaction at its nonce, and its reservation
 * released once the chain has mined that.  A nonce never signed (its
 * worker died between the allocation and the signature) gets an empty
 * transaction too, once no live job can still sign it.
 */

static void
ngx_http_x402_gaps_next(ngx_http_x402_reconcile_t *rc)
{
    char                       *buf;
    uint64_t                    now;
    ngx_msec_t                  grace;
    ngx_http_x402_gap_t         gap;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = rc->xmcf;

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (rc->next >= rc->n) {
        ngx_http_x402_gaps_clear(rc);
        rc->acct++;
        ngx_http_x402_gaps_account(rc);
        return;
    }

    /* parsed from a copy: the record is compared whole when it is filled */

    buf = ngx_http_x402_gap_copy(rc, &gap);

    if (buf == NULL) {
        rc->next++;
        ngx_http_x402_gaps_next(rc);
        return;
    }

    now = rc->redis_now;

    if (gap.raw == NULL) {
        ngx_free(buf);

        grace = ngx_max(5000, 4 * xmcf->redis.timeout
                              + 2 * xmcf->rpc_timeout);

        if (gap.at + grace > now) {
            /* a live job may still sign it */
            rc->next++;
            ngx_http_x402_gaps_next(rc);
            return;
        }

        ngx_http_x402_gaps_fill(rc);
        return;
    }

    if (!gap.owed) {

        if (gap.at + ngx_http_x402_settler_bound(xmcf) > now) {
            /* its job waits for it, and sends it again itself */
            ngx_free(buf);
            rc->next++;
            ngx_http_x402_gaps_next(rc);
            return;
        }

        /* its job is over: was its request answered? */

        ngx_cpystrn((u_char *) rc->keys[0], (u_char *) gap.key,
                    X402_REPLAY_KEY_MAX);
        ngx_free(buf);

        ngx_http_x402_reconcile_redis(rc, ngx_http_x402_gaps_sync, "GET",
                                      rc->keys[0], NULL);
        return;
    }

    ngx_http_x402_gaps_resend(rc, gap.raw);
    ngx_free(buf);
}


/*
 * The current record, parsed from a copy (a batch's may be long): the
 * caller frees it; NULL when it cannot be read.
 */

static char *
ngx_http_x402_gap_copy(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_gap_t *gap)
{
    char    *buf;
    size_t   len;

    len = ngx_strlen(rc->records[rc->next]);

    buf = ngx_alloc(len + 1, ngx_cycle->log);
    if (buf == NULL) {
        return NULL;
    }

    ngx_memcpy(buf, rc->records[rc->next], len + 1);

    if (ngx_http_x402_gap_parse(buf, gap) != NGX_OK) {
        ngx_free(buf);
        return NULL;
    }

    return buf;
}


/* The same signed bytes again: the same hash, never a second payment. */

static void
ngx_http_x402_gaps_resend(ngx_http_x402_reconcile_t *rc, const char *raw)
{
    size_t      len, rlen;
    u_char     *buf;
    uint8_t    *bytes;
    ngx_int_t   rv;

    rlen = raw ? ngx_strlen(raw) / 2 + 1 : 0;
    len = 2 * rlen + 1024;

    bytes = ngx_alloc(rlen + len, ngx_cycle->log);
    buf = bytes + rlen;

    rv = (bytes != NULL
          && x402_hex_decode(bytes, &rlen, raw, ngx_strlen(raw)) == X402_OK
          && x402_rpc_send_request((char *) buf, &len, bytes, rlen, 1)
             == X402_OK)
         ? ngx_http_x402_reconcile_rpc(rc, buf, len,
                                       ngx_http_x402_gaps_resent)
         : NGX_ERROR;

    if (bytes != NULL) {
        ngx_free(bytes);
    }

    if (rv != NGX_OK) {
        rc->next++;
        ngx_http_x402_gaps_next(rc);
    }
}


/*
 * A sync payment's transaction, its job over.  Answered (served with
 * "pending"): sent again.  Its receipt still "broadcast" with this very
 * transaction: the worker died before answering, and the payment is
 * cancelled.  Anything else (the reservation released after a 503, the
 * job moved on to another nonce): never sent again, the nonce filled.
 */

static void
ngx_http_x402_gaps_sync(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char                  status[16], tx[67], *buf;
    uint64_t              updated;
    ngx_uint_t            same;
    ngx_http_x402_gap_t   gap;

    if (rc->exiting || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    buf = ngx_http_x402_gap_copy(rc, &gap);

    if (buf == NULL || gap.raw == NULL) {
        if (buf != NULL) {
            ngx_free(buf);
        }

        rc->next++;
        ngx_http_x402_gaps_next(rc);
        return;
    }

    same = reply->type == REDIS_REPLY_STRING
           && x402_receipt_peek(status, sizeof(status), tx, &updated,
                                reply->str, reply->len)
              == X402_OK
           && ngx_strcasecmp((u_char *) tx, (u_char *) gap.hash) == 0;

    if (same && x402_receipt_status_parse(status) != X402_RS_BROADCAST) {
        ngx_http_x402_gaps_resend(rc, gap.raw);
        ngx_free(buf);
        return;
    }

    ngx_free(buf);

    if (same) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile %s: its worker died before its "
                      "request was answered: the settler's nonce %uL is "
                      "given an empty transaction, cancelling its payment, "
                      "unless the node has it already", rc->keys[0],
                      rc->nonces[rc->next]);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CANCELLED);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile %s: the settler's nonce %uL holds a "
                      "transaction its payment no longer uses (refused, "
                      "or settled at another nonce): filled with an empty "
                      "transaction", rc->keys[0], rc->nonces[rc->next]);
    }

    ngx_http_x402_gaps_fill(rc);
}


/* An empty transaction for the current nonce: the fees first. */

static void
ngx_http_x402_gaps_fill(ngx_http_x402_reconcile_t *rc)
{
    size_t   len;
    u_char   buf[NGX_HTTP_X402_RPC_BODY_MAX];

    len = sizeof(buf);

    if (x402_rpc_fees_request((char *) buf, &len, &rc->account->address,
                              &rc->account->address, NULL, 0, 1)
           != X402_OK
        || ngx_http_x402_reconcile_rpc(rc, buf, len,
                                       ngx_http_x402_gaps_fees)
           != NGX_OK)
    {
        rc->next++;
        ngx_http_x402_gaps_next(rc);
    }
}


static void
ngx_http_x402_gaps_resent(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char      msg[128];
    uint8_t   hash[32];

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    msg[0] = '\0';

    if (rc_ == NGX_OK && status == NGX_HTTP_OK && body != NULL
        && x402_rpc_send_parse(hash, msg, sizeof(msg),
                               (const char *) body->data, body->len, 1)
           == X402_OK)
    {
        /* the node did not have it */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile: the settler's transaction of nonce "
                      "%uL was lost by the node: sent again",
                      rc->nonces[rc->next]);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RESENT);

    } else if (msg[0] && !ngx_http_x402_node_says(msg, "already known")
               && !ngx_http_x402_node_says(msg, "already imported")
               && !ngx_http_x402_node_says(msg, "nonce too low"))
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile: the settler's transaction of nonce "
                      "%uL could not be sent again: %s",
                      rc->nonces[rc->next], msg);
    }

    rc->next++;
    ngx_http_x402_gaps_next(rc);
}


/* The fees are in: an empty transaction for the nonce, claimed, sent. */

static void
ngx_http_x402_gaps_fees(void *data, ngx_int_t rc_, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    char                        nonce[NGX_INT64_LEN + 1];
    u_char                     *p, hash_text[67];
    size_t                      raw_len;
    uint8_t                     raw[512], hash[32];
    x402_tx                     tx;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = rc->xmcf;

    if (rc->exiting) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (rc_ != NGX_OK || status != NGX_HTTP_OK || body == NULL
        || x402_rpc_fees_parse(&rc->fees, (const char *) body->data,
                               body->len, 1)
           != X402_OK
        || x402_u256_cmp(&rc->fees.base_fee, &xmcf->max_fee) > 0)
    {
        /* the node cannot say, or asks too much: the next round */
        rc->next++;
        ngx_http_x402_gaps_next(rc);
        return;
    }

    ngx_memzero(&tx, sizeof(x402_tx));

    tx.chain_id = xmcf->chain_id;
    tx.nonce = rc->nonces[rc->next];
    tx.gas_limit = NGX_HTTP_X402_FILL_GAS;
    tx.to = rc->account->address;

    ngx_http_x402_settler_max_fees(xmcf, &tx, &rc->fees);

    raw_len = sizeof(raw);

    if (tx.chain_id == 0
        || x402_tx_sign(xmcf->x402, raw, &raw_len, hash, &tx,
                        rc->account->key)
           != X402_OK)
    {
        rc->next++;
        ngx_http_x402_gaps_next(rc);
        return;
    }

    hash_text[0] = '0';
    hash_text[1] = 'x';
    x402_hex_encode((char *) hash_text + 2, hash, 32);

    /* "<hash> - o <raw hex>": nobody's payment, always sent again */
    p = ngx_sprintf(rc->fill, "%s - o ", hash_text);
    x402_hex_encode((char *) p, raw, raw_len);
    p += 2 * raw_len;
    *p = '\0';

    *ngx_sprintf((u_char *) nonce, "%uL", tx.nonce) = '\0';

    ngx_explicit_memzero(raw, sizeof(raw));

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_gaps_claimed, "EVAL",
                                  ngx_http_x402_fill_lua, "2",
                                  rc->account->txs_key,
                                  rc->account->released_key,
                                  nonce, rc->records[rc->next],
                                  (char *) rc->fill, NULL);
}


static void
ngx_http_x402_gaps_claimed(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    if (rc->exiting || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        /* signed meanwhile by a job, or filled by another node */
        rc->next++;
        ngx_http_x402_gaps_next(rc);
        return;
    }

    if (ngx_strchr(rc->records[rc->next], ' ') == NULL) {
        /* "<ms>" alone: not a cancelled sync transaction (logged there) */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: reconcile: the settler's nonce %uL was "
                      "allocated and never signed (its worker died): "
                      "filled with an empty transaction, so that the later "
                      "ones are mined", rc->nonces[rc->next]);

        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_GAP_FILLED);
    }

    /*
     * the fill is "<hash> - o <raw hex>", recorded: if it cannot be sent
     * now, the next round sends it
     */

    ngx_http_x402_gaps_resend(rc, ngx_strchr((char *) rc->fill, ' ') + 5);
}


static void
ngx_http_x402_gaps_clear(ngx_http_x402_reconcile_t *rc)
{
    ngx_uint_t  i;

    for (i = 0; i < rc->n && i < NGX_HTTP_X402_RECONCILE_BATCH; i++) {
        if (rc->records[i] != NULL) {
            ngx_free(rc->records[i]);
            rc->records[i] = NULL;
        }
    }

    rc->n = 0;
}


/* 5. Once: does Redis keep what it is told? */

static void
ngx_http_x402_durability(ngx_http_x402_reconcile_t *rc)
{
    if (rc->durability) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    ngx_http_x402_reconcile_redis(rc, ngx_http_x402_durability_info, "INFO",
                                  NULL);
}


static void
ngx_http_x402_durability_info(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_reconcile_t *rc = data;

    u_char  *aof, *replicas, *last;

    if (rc->exiting || reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->durability = 1;

    last = (u_char *) reply->str + reply->len;

    aof = ngx_strlcasestrn((u_char *) reply->str, last,
                           (u_char *) "aof_enabled:1", 13 - 1);
    replicas = ngx_strlcasestrn((u_char *) reply->str, last,
                                (u_char *) "connected_slaves:", 17 - 1);

    if (aof == NULL
        && (replicas == NULL || replicas + 17 >= last || replicas[17] == '0'))
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: redis %V keeps no append-only file and has no "
                      "replicas: a restart loses reservations and receipts "
                      "(a replay could then be served again, by another "
                      "node; this node remembers what it admitted); set "
                      "\"appendonly yes\" and \"appendfsync everysec\", or "
                      "replicate it", &rc->xmcf->redis.name);
    }

    ngx_http_x402_reconcile_end(rc);
}


static void
ngx_http_x402_reconcile_end(ngx_http_x402_reconcile_t *rc)
{
    rc->busy = 0;

    ngx_http_x402_gaps_clear(rc);

    if (rc->exiting) {
        ngx_http_x402_reconcile_free(rc);
        return;
    }

    if (!rc->timer.timer_set) {
        ngx_add_timer(&rc->timer, rc->xmcf->reconcile_interval);
    }
}


static void
ngx_http_x402_reconcile_free(ngx_http_x402_reconcile_t *rc)
{
    ngx_http_x402_gaps_clear(rc);

    if (rc->json != NULL) {
        ngx_free(rc->json);
    }

    ngx_free(rc);
}


/* The amount of the receipt in rc->json, to a settled or unpaid total. */

static void
ngx_http_x402_reconcile_amount(ngx_http_x402_reconcile_t *rc,
    ngx_uint_t kind)
{
    x402_receipt_settlement   st;

    if (x402_receipt_settlement_decode(&st, rc->scratch, rc->json_cap,
                                       rc->json, rc->json_len)
        != X402_OK)
    {
        return;
    }

    ngx_http_x402_stat_amount(kind, st.offer.chain_id, &st.offer.asset,
                              st.has_charged ? &st.charged
                                             : &st.payment.amount);
}


/*
 * A copy of the key's receipt, whatever its size (a long resource), with
 * room for what the steps derive from it.
 */

static ngx_int_t
ngx_http_x402_reconcile_keep(ngx_http_x402_reconcile_t *rc, const char *s,
    size_t len)
{
    if (len + 1 > rc->json_cap) {
        if (rc->json != NULL) {
            ngx_free(rc->json);
        }

        rc->json = ngx_alloc(2 * (len + 1) + NGX_HTTP_X402_RECONCILE_SLACK,
                             ngx_cycle->log);
        if (rc->json == NULL) {
            rc->json_cap = 0;
            return NGX_ERROR;
        }

        rc->json_cap = len + 1;
        rc->scratch = rc->json + rc->json_cap;
    }

    ngx_memcpy(rc->json, s, len);
    rc->json[len] = '\0';
    rc->json_len = len;

    return NGX_OK;
}


/* The key needs no more work: drop it from its set, go on. */

static void
ngx_http_x402_reconcile_drop(ngx_http_x402_reconcile_t *rc, const char *cmd,
    const char *set, ngx_http_x402_redis_done_pt done)
{
    ngx_http_x402_reconcile_redis(rc, done, cmd, set, rc->keys[rc->next],
                                  NULL);
}


/* A key's write answered: on to the next key of the step. */

static void
ngx_http_x402_reconcile_advance(ngx_http_x402_reconcile_t *rc,
    redisReply *reply, void (*next)(ngx_http_x402_reconcile_t *rc))
{
    if (rc->exiting || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_x402_reconcile_end(rc);
        return;
    }

    rc->next++;
    next(rc);
}


/* A command of the round (its words ended by NULL); unsent, it ends it. */

static void
ngx_http_x402_reconcile_redis(ngx_http_x402_reconcile_t *rc,
    ngx_http_x402_redis_done_pt done, ...)
{
    va_list    args;
    ngx_int_t  rv;

    va_start(args, done);
    rv = ngx_http_x402_redis_vsend(&rc->xmcf->redis, ngx_cycle->log, done, rc,
                                   args);
    va_end(args);

    if (rv != NGX_OK) {
        ngx_http_x402_reconcile_end(rc);
    }
}


static ngx_int_t
ngx_http_x402_reconcile_rpc(ngx_http_x402_reconcile_t *rc, u_char *buf,
    size_t len, ngx_http_x402_curl_done_pt done)
{
    return ngx_http_x402_rpc_post(rc->xmcf, ngx_cycle->log, buf, len,
                                  NGX_HTTP_X402_RECONCILE_RPC, done, rc);
}
