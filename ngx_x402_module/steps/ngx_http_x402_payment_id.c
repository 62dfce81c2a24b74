
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The payment-identifier extension (@x402/extensions 2.27): an agent that
 * retries gives the same id, and the id is bound to one signed permit.
 * One Redis key per id, x402:pid:<id>, holds "inflight <fingerprint>"
 * while the first request runs (until its permit expires at the latest),
 * then "done <fingerprint> <status> <PAYMENT-RESPONSE or ->" for
 * x402_receipt_ttl, or nothing once a refusal let the payment go.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_payment_id.h"


#define NGX_HTTP_X402_PID_PREFIX  "x402:pid:"


static void ngx_http_x402_pid_claimed(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_pid_recorded(void *data, redisReply *reply,
    const char *err);


/* KEYS: the id's; ARGV: the fingerprint, the claim's TTL (ms) */
static const char  ngx_http_x402_pid_claim_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v then return v end "
    "redis.call('SET', KEYS[1], 'inflight ' .. ARGV[1], 'PX', ARGV[2]) "
    "return false";

/* KEYS: the id's; ARGV: the fingerprint, "status response" or "" (drop),
 * TTL (ms); only the claim this request holds is changed */
static const char  ngx_http_x402_pid_record_lua[] =
    "if redis.call('GET', KEYS[1]) ~= 'inflight ' .. ARGV[1] then "
    "return 0 end "
    "if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end "
    "redis.call('SET', KEYS[1], 'done ' .. ARGV[1] .. ' ' .. ARGV[2], "
    "'PX', ARGV[3]) "
    "return 1";


static void
ngx_http_x402_pid_key(ngx_http_x402_ctx_t *ctx, u_char *key)
{
    ngx_sprintf(key, NGX_HTTP_X402_PID_PREFIX "%s%Z",
                ctx->payment.payment_id);
}


ngx_int_t
ngx_http_x402_pid_claim(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next)
{
    u_char                      key[sizeof(NGX_HTTP_X402_PID_PREFIX)
                                    + X402_PAYMENT_ID_MAX],
                                ttl[NGX_INT64_LEN + 1];
    uint64_t                    left;
    ngx_http_x402_op_t         *op;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ctx->next = next;
    ctx->pid_state = NGX_HTTP_X402_PID_ERROR;

    ngx_http_x402_payment_fingerprint(ctx);

    /* a claim whose request died goes with the permit it was for */
    left = ngx_http_x402_permit_left(ctx);

    if (left == 0) {
        left = 1;

    } else if (left > NGX_HTTP_X402_TTL_MAX) {
        left = NGX_HTTP_X402_TTL_MAX;
    }

    *ngx_sprintf(ttl, "%uL", left * 1000) = '\0';

    ngx_http_x402_pid_key(ctx, key);

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_pid_claimed, op, "EVAL",
                                 ngx_http_x402_pid_claim_lua, "1",
                                 (char *) key, (char *) ctx->pid_fp,
                                 (char *) ttl, NULL)
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
ngx_http_x402_pid_claimed(void *data, redisReply *reply, const char *err)
{
    u_char               *p, *last, *sp;
    size_t                len;
    ngx_int_t             status;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: redis payment-identifier lookup failed: %s",
                      reply ? reply->str : err);
        ctx->next(r, ctx);
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ctx->pid_state = NGX_HTTP_X402_PID_NEW;
        ctx->pid_owned = 1;
        ctx->next(r, ctx);
        return;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    /* "<state> <fingerprint>[ <status> <response>]" */

    sp = ngx_strlchr(p, last, ' ');

    if (reply->type != REDIS_REPLY_STRING || sp == NULL
        || last - (sp + 1) < 64
        || ngx_strncmp(sp + 1, ctx->pid_fp, 64) != 0)
    {
        ctx->pid_state = NGX_HTTP_X402_PID_CONFLICT;
        ctx->next(r, ctx);
        return;
    }

    if (sp - p != 4 || ngx_strncmp(p, "done", 4) != 0) {
        ctx->pid_state = NGX_HTTP_X402_PID_IN_FLIGHT;
        ctx->next(r, ctx);
        return;
    }

    /* done: its status and PAYMENT-RESPONSE, as answered then */

    p = sp + 1 + 64;
    status = 0;

    if (p < last && *p == ' ') {
        sp = ngx_strlchr(p + 1, last, ' ');
        status = ngx_atoi(p + 1, (sp ? sp : last) - (p + 1));
        p = sp ? sp + 1 : last;
    }

    if (status < 200 || status > 599) {
        ctx->pid_state = NGX_HTTP_X402_PID_CONFLICT;
        ctx->next(r, ctx);
        return;
    }

    ctx->pid_status = (ngx_uint_t) status;
    len = last - p;

    if (len && !(len == 1 && *p == '-')) {
        ctx->payment_response.data = ngx_pnalloc(r->pool, len);

        if (ctx->payment_response.data != NULL) {
            ngx_memcpy(ctx->payment_response.data, p, len);
            ctx->payment_response.len = len;
        }
    }

    ctx->pid_state = NGX_HTTP_X402_PID_DONE;
    ctx->next(r, ctx);
}


void
ngx_http_x402_pid_record(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t served)
{
    u_char                     *answer, *p,
                                key[sizeof(NGX_HTTP_X402_PID_PREFIX)
                                    + X402_PAYMENT_ID_MAX],
                                ttl[NGX_INT64_LEN + 1];
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    ctx->pid_owned = 0;

    answer = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 2
                                  + ctx->payment_response.len + 2);
    if (answer == NULL) {
        return;
    }

    p = answer;

    if (served) {
        p = ngx_sprintf(p, "%ui ", r->headers_out.status);

        if (ctx->payment_response.len) {
            p = ngx_cpymem(p, ctx->payment_response.data,
                           ctx->payment_response.len);

        } else {
            *p++ = '-';
        }
    }

    *p = '\0';

    *ngx_sprintf(ttl, "%uL", (uint64_t) xmcf->receipt_ttl * 1000) = '\0';

    ngx_http_x402_pid_key(ctx, key);

    (void) ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                    ngx_http_x402_pid_recorded, NULL, "EVAL",
                                    ngx_http_x402_pid_record_lua, "1",
                                    (char *) key, (char *) ctx->pid_fp,
                                    (char *) answer, (char *) ttl, NULL);
}


static void
ngx_http_x402_pid_recorded(void *data, redisReply *reply, const char *err)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* the claim expires with the permit: retries wait until then */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "x402: the answer of a payment-identifier was not "
                      "recorded: %s", reply ? reply->str : err);
    }
}
