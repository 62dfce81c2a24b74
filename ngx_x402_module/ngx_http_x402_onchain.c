
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The asynchronous half of verification: one JSON-RPC batch of on-chain
 * checks, then the replay reservation in Redis, while the request is parked
 * in the ACCESS phase.  The request owns a non-cancelable deadline; each
 * step is a heap op that the request-pool cleanup detaches, so a reply that
 * arrives after the client left (or after the deadline) only frees it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"


#define NGX_HTTP_X402_RPC_REQUEST_MAX  8192
#define NGX_HTTP_X402_RPC_REPLY_MAX    (1024 * 1024)
#define NGX_HTTP_X402_RECEIPT_MAX      2048
/* a reservation outlives the permit's deadline; bound absurd deadlines */
#define NGX_HTTP_X402_TTL_MAX          (10 * 365 * 86400)


/* a reservation in flight: the op, and the record it wrote */
typedef struct {
    ngx_http_x402_op_t           op;        /* first: freed as an op */
    ngx_http_x402_redis_conf_t  *redis;
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
    "return redis.call('DEL', KEYS[1]) end return 0";


static ngx_int_t ngx_http_x402_facilitator_verify(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_facilitator_verified(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static ngx_int_t ngx_http_x402_park(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_op_t *op);
static void ngx_http_x402_rpc_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_reserve(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_reserve_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_release(ngx_http_x402_resv_t *resv);
static void ngx_http_x402_release_retry(ngx_event_t *ev);
static void ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf,
    char *key);
static void ngx_http_x402_released_once(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_released(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_reserved(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static void ngx_http_x402_deadline_handler(ngx_event_t *ev);
static ngx_http_x402_op_t *ngx_http_x402_op_create(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx);
static ngx_http_request_t *ngx_http_x402_op_finish(void *data,
    ngx_http_x402_ctx_t **ctxp);
static void ngx_http_x402_fail(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, const char *error);
static void ngx_http_x402_finish(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, x402_reason reason);


ngx_int_t
ngx_http_x402_onchain_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx)
{
    size_t                     len;
    uint8_t                    digest[32];
    x402_err                   err;
    ngx_str_t                  body;
    x402_address              *sim_from;
    ngx_http_x402_op_t        *op;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->facilitator_url.len) {
        return ngx_http_x402_facilitator_verify(r, xlcf, xmcf, ctx);
    }

    if (x402_permit2_digest(digest, ctx->offer.scheme, ctx->offer.chain_id,
                            &ctx->payment)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    /*
     * anyone may submit an exact settle; an upto settle only from the
     * facilitator signed into the witness
     */

    sim_from = (ctx->offer.scheme == X402_SCHEME_UPTO)
               ? &ctx->offer.facilitator : &ctx->offer.pay_to;

    body.data = ngx_pnalloc(r->pool, NGX_HTTP_X402_RPC_REQUEST_MAX);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    len = NGX_HTTP_X402_RPC_REQUEST_MAX;

    err = x402_rpc_checks_request((char *) body.data, &len, &ctx->offer,
                                  &ctx->payment, digest, sim_from, 1);
    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot build the on-chain checks: %s",
                      x402_strerror(err));
        return NGX_ERROR;
    }

    body.len = len;

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_curl_post(r->connection->log, &xmcf->rpc, &body,
                                xmcf->rpc_timeout,
                                NGX_HTTP_X402_RPC_REPLY_MAX,
                                ngx_http_x402_rpc_done, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    return ngx_http_x402_park(r, xmcf, ctx, op);
}


/* The facilitator's POST /verify instead of our own on-chain checks. */

static ngx_int_t
ngx_http_x402_facilitator_verify(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx)
{
    ngx_str_t            body;
    ngx_http_x402_op_t  *op;

    if (ngx_http_x402_facilitator_body(r->pool, ctx, &ctx->offer, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_curl_post(r->connection->log, &xlcf->verify_url, &body,
                                xmcf->rpc_timeout,
                                NGX_HTTP_X402_RPC_REPLY_MAX,
                                ngx_http_x402_facilitator_verified, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    return ngx_http_x402_park(r, xmcf, ctx, op);
}


static void
ngx_http_x402_facilitator_verified(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err)
{
    int                   valid, has_payer;
    char                  reason[128];
    size_t                len;
    u_char               *text;
    x402_err              xerr;
    x402_address          payer;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    /* the reference answers invalid payments with 200 */

    xerr = X402_ERR_ARG;

    if (rc == NGX_OK && body != NULL) {
        xerr = x402_verify_response_parse(&valid, reason, sizeof(reason),
                                          &payer, &has_payer,
                                          (const char *) body->data,
                                          body->len);
    }

    if (xerr != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: facilitator /verify failed: %s "
                      "(HTTP status %ui)",
                      err ? err : x402_strerror(xerr), status);
        ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                                   "the facilitator did not answer");
        return;
    }

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment rejected by the facilitator, "
                      "payer %s: %s", ctx->payer, reason);

        len = ngx_strlen(reason) + 1;
        text = ngx_pnalloc(r->pool, len);

        if (text != NULL) {
            ngx_memcpy(text, reason, len);
        }

        ctx->reason_text = (const char *) text;
        ctx->reason_status = ngx_strcmp(reason,
                                        "permit2_allowance_required") == 0
                             ? NGX_HTTP_PRECONDITION_FAILED
                             : NGX_HTTP_X402_PAYMENT_REQUIRED;

        if (ngx_strcmp(reason, "permit2_invalid_nonce") == 0) {
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
        }

        if (ctx->reason_text == NULL) {
            ngx_http_x402_fail(r, ctx, "internal error");
            return;
        }

        ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
        return;
    }

    ngx_http_x402_reserve(r, ctx);
}


/*
 * {"x402Version":2,"paymentPayload":…,"paymentRequirements":…} for the
 * facilitator, with `offer` (for an upto settlement: the charge).
 */

ngx_int_t
ngx_http_x402_facilitator_body(ngx_pool_t *pool, ngx_http_x402_ctx_t *ctx,
    x402_offer *offer, ngx_str_t *body)
{
    size_t  len;

    len = ctx->payload_json.len + NGX_HTTP_X402_RPC_REQUEST_MAX;

    body->data = ngx_pnalloc(pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    if (x402_facilitator_request((char *) body->data, &len,
                                 (const char *) ctx->payload_json.data,
                                 ctx->payload_json.len, offer)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    body->len = len;

    return NGX_OK;
}


/* Parks the request on its first asynchronous step, with a deadline. */

static ngx_int_t
ngx_http_x402_park(ngx_http_request_t *r, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_ctx_t *ctx, ngx_http_x402_op_t *op)
{
    ctx->op = op;
    ctx->state = NGX_HTTP_X402_RPC;

    ctx->deadline.handler = ngx_http_x402_deadline_handler;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    /* non-cancelable (the default): a reload waits for this request */
    ngx_add_timer(&ctx->deadline, xmcf->timeout);

    if (!ctx->parked) {
        ctx->parked = 1;
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_PARKED);
    }

    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


/* The request no longer waits (x402_parked_requests). */

void
ngx_http_x402_unpark(ngx_http_x402_ctx_t *ctx)
{
    if (ctx->parked) {
        ctx->parked = 0;
        ngx_http_x402_stat_add(NGX_HTTP_X402_STAT_PARKED, -1);
    }
}


/* The request is going away: its ops must not touch it any more. */

void
ngx_http_x402_onchain_detach(ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_settle_detach(ctx);

    if (ctx->op) {
        ctx->op->request = NULL;
        ctx->op = NULL;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }
}


static void
ngx_http_x402_rpc_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    x402_err              xerr;
    x402_reason           reason;
    x402_onchain          oc;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: RPC node failed: %s (HTTP status %ui)",
                      err ? err : "no reply", status);
        ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                                   "the chain node did not answer");
        return;
    }

    xerr = x402_rpc_checks_parse(&oc, (const char *) body->data, body->len,
                                 1);
    if (xerr != X402_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: RPC node sent a malformed reply: %s",
                      x402_strerror(xerr));
        ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                                   "the chain node's reply is malformed");
        return;
    }

    if (oc.chain_id != ctx->offer.chain_id) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: RPC node is on chain %uL, the offer is for "
                      "chain %uL", oc.chain_id, ctx->offer.chain_id);
        ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                                   "the chain node is on another chain");
        return;
    }

    reason = x402_onchain_verdict(&oc, &ctx->payment, ctx->local_sig_ok);

    if (reason != X402_R_VALID) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment rejected on chain, payer %s: %s",
                      ctx->payer, x402_reason_string(reason));

        if (reason == X402_R_INVALID_NONCE) {
            /* used already: settled here, or elsewhere */
            ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
        }

        ngx_http_x402_finish(r, ctx, reason);
        return;
    }

    ngx_http_x402_reserve(r, ctx);
}


/*
 * SET <key> <receipt> NX GET PX <ttl>: one round trip that reserves the
 * payment, or returns the receipt stored by whoever reserved it first
 * (Redis >= 7.0).
 */

static void
ngx_http_x402_reserve(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    char                        ttl[NGX_INT64_LEN + 1];
    size_t                      len, argvlen[7];
    u_char                     *json, *p;
    uint64_t                    deadline;
    x402_err                    err;
    ngx_str_t                   url;
    const char                 *argv[7];
    x402_receipt                rc;
    ngx_http_x402_resv_t       *resv;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    /* every check passed (on chain, or the facilitator's) */
    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_VERIFIED);

    x402_replay_key(ctx->key, ctx->offer.chain_id, &ctx->payment);

    if (x402_u256_to_u64(&deadline, &ctx->payment.deadline) != X402_OK
        || deadline > (uint64_t) ngx_time() + NGX_HTTP_X402_TTL_MAX)
    {
        deadline = (uint64_t) ngx_time() + NGX_HTTP_X402_TTL_MAX;
    }

    /* a slow check may end after the deadline: never a negative TTL */
    if (deadline < (uint64_t) ngx_time()) {
        deadline = (uint64_t) ngx_time();
    }

    p = ngx_sprintf((u_char *) ttl, "%uL",
                    ((deadline - (uint64_t) ngx_time())
                     + (uint64_t) xmcf->receipt_ttl) * 1000);
    *p = '\0';

    url = r->unparsed_uri;

    p = ngx_pnalloc(r->pool, url.len + 1);
    if (p == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    *ngx_cpymem(p, url.data, url.len) = '\0';

    ngx_http_x402_receipt_init(&rc, &ctx->offer, &ctx->payment,
                               (const char *) p, (uint64_t) ngx_time());
    rc.status = "reserved";

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

    argv[0] = "SET";
    argv[1] = ctx->key;
    argv[2] = (const char *) json;
    argv[3] = "NX";
    argv[4] = "GET";
    argv[5] = "PX";
    argv[6] = ttl;

    argvlen[0] = 3;
    argvlen[1] = ngx_strlen(ctx->key);
    argvlen[2] = len;
    argvlen[3] = 2;
    argvlen[4] = 3;
    argvlen[5] = 2;
    argvlen[6] = ngx_strlen(ttl);

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
    ngx_memcpy(resv->key, ctx->key, X402_REPLAY_KEY_MAX);
    ngx_memcpy(resv->json, json, len);

    if (ngx_http_x402_redis_command(&xmcf->redis, r->connection->log,
                                    ngx_http_x402_reserve_done, resv,
                                    7, argv, argvlen)
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
    size_t                    argvlen[5];
    const char               *argv[5];
    ngx_http_x402_release_t  *rel;

    rel = (ngx_http_x402_release_t *)
          ((u_char *) ev - offsetof(ngx_http_x402_release_t, ev));

    argv[0] = "EVAL";
    argv[1] = ngx_http_x402_release_lua;
    argv[2] = "1";
    argv[3] = rel->key;
    argv[4] = (const char *) rel->json;

    argvlen[0] = 4;
    argvlen[1] = sizeof(ngx_http_x402_release_lua) - 1;
    argvlen[2] = 1;
    argvlen[3] = ngx_strlen(rel->key);
    argvlen[4] = rel->len;

    if (ngx_http_x402_redis_command(rel->redis, ngx_cycle->log,
                                    ngx_http_x402_released, rel,
                                    5, argv, argvlen)
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

    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

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

    /* someone reserved this payment first: answer with their receipt */

    ctx->receipt.data = ngx_pnalloc(r->pool, reply->len);
    if (ctx->receipt.data == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_memcpy(ctx->receipt.data, reply->str, reply->len);
    ctx->receipt.len = reply->len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment replayed, payer %s: already reserved",
                  ctx->payer);

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);

    ngx_http_x402_finish(r, ctx, X402_R_INVALID_NONCE);
}


/* Reserved: settle, and with x402_settle sync wait for the receipt. */

static void
ngx_http_x402_reserved(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_uint_t                  sync;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (!xmcf->has_settler && xlcf->facilitator_url.len == 0) {
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;
    }

    if (ctx->offer.scheme == X402_SCHEME_UPTO) {
        /* the charge is known once the response is: settled at its end */
        ctx->upto_charge = 1;
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;
    }

    sync = (xlcf->settle == NGX_HTTP_X402_SETTLE_SYNC);

    if (ngx_http_x402_settle_start(r, ctx, sync) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot start the settlement of %s", ctx->key);

        /* nothing was sent: the payment stays usable */
        ngx_http_x402_unreserve(xmcf, ctx->key);

        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    if (!sync) {
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
    }
}


/*
 * The synchronous settlement ended: forward with PAYMENT-RESPONSE when it
 * settled (or is pending: the transaction is out and may still land, so
 * the client must not be asked to pay again), answer 402 with
 * PAYMENT-RESPONSE when it failed.
 */

void
ngx_http_x402_settled(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_settle_result_t *result)
{
    size_t     len;
    u_char     json[1024];
    x402_err   err;
    ngx_str_t  *pr;

    if (result->unavailable) {
        /* the gateway's fault, nothing was sent: the payment stays usable */
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    len = sizeof(json);

    err = x402_settle_response_encode((char *) json, &len, result->success,
                                      result->success
                                      ? NULL : result->error_reason,
                                      &ctx->payment.from,
                                      (const char *) result->tx,
                                      ctx->offer.chain_id, NULL);

    pr = &ctx->payment_response;

    ngx_memcpy(ctx->tx, result->tx, sizeof(ctx->tx));

    if (err == X402_OK) {
        pr->len = x402_base64_encoded_len(len);
        pr->data = ngx_pnalloc(r->pool, pr->len + 1);

        if (pr->data == NULL
            || x402_base64_encode((char *) pr->data, pr->len + 1, json, len)
               != X402_OK)
        {
            pr->len = 0;
        }
    }

    if (result->success
        || ngx_strcmp(result->error_reason, "settlement_pending") == 0)
    {
        ngx_http_x402_finish(r, ctx, X402_R_VALID);
        return;
    }

    /* the job's text goes away with the job */
    len = ngx_strlen(result->error_reason) + 1;
    ctx->reason_text = ngx_pnalloc(r->pool, len);

    if (ctx->reason_text == NULL) {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_memcpy((u_char *) ctx->reason_text, result->error_reason, len);
    ctx->reason_status = NGX_HTTP_X402_PAYMENT_REQUIRED;

    ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
}


/* Deletes a reservation this request took and will not use. */

static void
ngx_http_x402_unreserve(ngx_http_x402_main_conf_t *xmcf, char *key)
{
    size_t       argvlen[2];
    const char  *argv[2];

    argv[0] = "DEL";
    argv[1] = key;

    argvlen[0] = 3;
    argvlen[1] = ngx_strlen(key);

    (void) ngx_http_x402_redis_command(&xmcf->redis, ngx_cycle->log,
                                       ngx_http_x402_released_once, NULL,
                                       2, argv, argvlen);
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
}


static void
ngx_http_x402_deadline_handler(ngx_event_t *ev)
{
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    ngx_http_x402_main_conf_t  *xmcf;

    r = ev->data;
    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        return;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: payment %s timed out after %M ms (x402_timeout)",
                  ctx->state == NGX_HTTP_X402_RPC
                  ? "verification on chain"
                  : ctx->state == NGX_HTTP_X402_REDIS
                    ? "reservation in redis" : "settlement",
                  xmcf->timeout);

    ngx_http_x402_onchain_detach(ctx);

    ngx_http_x402_fail(r, ctx, "payment verification timed out");
}


static ngx_http_x402_op_t *
ngx_http_x402_op_create(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_http_x402_op_t  *op;

    op = ngx_alloc(sizeof(ngx_http_x402_op_t), r->connection->log);
    if (op == NULL) {
        return NULL;
    }

    op->request = r;
    op->ctx = ctx;

    return op;
}


/* Frees a completed op; returns its request, or NULL if it was detached. */

static ngx_http_request_t *
ngx_http_x402_op_finish(void *data, ngx_http_x402_ctx_t **ctxp)
{
    ngx_http_x402_op_t   *op = data;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = op->request;
    ctx = op->ctx;

    ngx_free(op);

    if (r == NULL) {
        return NULL;
    }

    ctx->op = NULL;
    *ctxp = ctx;

    return r;
}


static void
ngx_http_x402_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *error)
{
    ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error = error;

    ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
}


/* Records the verdict and resumes the phase engine. */

static void
ngx_http_x402_finish(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_reason reason)
{
    ngx_connection_t  *c;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    ngx_http_x402_unpark(ctx);

    ctx->reason = reason;
    ctx->state = NGX_HTTP_X402_DONE;
    ctx->verdict = 1;
    ctx->paid = (reason == X402_R_VALID && ctx->status == 0);

    if (ctx->paid) {
        x402_u256_format_dec((char *) ctx->amount, &ctx->payment.amount);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment accepted, payer %s amount %s",
                      ctx->payer, ctx->amount);
    }

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}
