
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * x402_receipts: a content handler that answers whether a payment was
 * taken, from the receipt the module keeps in Redis under the payment's
 * replay key (x402_replay_key(): chain, payer, nonce):
 *
 *   GET <location>?payer=0x...&nonce=<decimal or 0x hex>
 *       [&network=eip155:<chain id>]
 *   GET <location> with the PAYMENT-SIGNATURE header that was sent
 *
 * 200 with the stored receipt (JSON, without the payment's signature: it
 * would let anyone submit the settlement), 404 {"error":"no receipt"}, 400 for
 * bad parameters, 503 when Redis does not answer.  The lookup is an
 * asynchronous GET with the request's own non-cancelable deadline
 * (x402_timeout); the op is detached by a pool cleanup when the client
 * goes away first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_receipts.h"
#include "ngx_http_x402_response.h"


/*
 * KEYS: the receipt.  nil, or {receipt}, or for the payment of an upto
 * session {receipt, id, cap, total, requests, status, its charges...}.
 */
static const char  ngx_http_x402_receipts_lua[] =
    "local r = redis.call('GET', KEYS[1]) "
    "if not r then return false end "
    "local sid = redis.call('GET', '" NGX_HTTP_X402_SID_PREFIX "' .. KEYS[1]) "
    "if not sid then return {r} end "
    "local s = '" NGX_HTTP_X402_SESSION_PREFIX "' .. sid "
    "local f = redis.call('HMGET', s, 'cap', 'total', 'requests', 'status') "
    "if not f[1] then return {r} end "
    "local out = {r, sid, f[1], f[2], f[3], f[4]} "
    "for _, v in ipairs(redis.call('LRANGE', s .. ':charges', 0, -1)) do "
    "out[#out + 1] = v end "
    "return out";


static ngx_int_t ngx_http_x402_receipts_session(ngx_http_request_t *r,
    ngx_str_t *body, redisReply *reply);
static const char *ngx_http_x402_receipts_key(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, char *key);
static ngx_int_t ngx_http_x402_receipts_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static void ngx_http_x402_receipts_done(void *data, redisReply *reply,
    const char *err);
static void ngx_http_x402_receipts_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_x402_receipts_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);


ngx_int_t
ngx_http_x402_receipts_handler(ngx_http_request_t *r)
{
    char                           key[X402_REPLAY_KEY_MAX];
    ngx_int_t                      rc;
    const char                    *error;
    ngx_http_x402_op_t            *op;
    ngx_http_x402_loc_conf_t      *xlcf;
    ngx_http_x402_main_conf_t     *xmcf;
    ngx_http_x402_ctx_t           *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);
    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    error = ngx_http_x402_receipts_key(r, xlcf, key);

    if (error != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: receipt lookup refused: %s", error);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_INVALID);
        return ngx_http_x402_receipts_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    /* a paid request redirected here keeps its payment's context */
    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_x402_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_x402_redis_send(&xmcf->redis, r->connection->log,
                                 ngx_http_x402_receipts_done, op, "EVAL",
                                 ngx_http_x402_receipts_lua, "1", key, NULL)
        != NGX_OK)
    {
        ngx_free(op);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_FAILED);
        return ngx_http_x402_receipts_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "receipt lookup unavailable");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "x402: receipt lookup %s", key);

    ctx->op = op;

    ctx->deadline.handler = ngx_http_x402_receipts_timeout;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    /* non-cancelable (the default), as every parked request's */
    ngx_add_timer(&ctx->deadline, xmcf->timeout);

    r->read_event_handler = ngx_http_test_reading;
    r->main->count++;

    return NGX_DONE;
}


/*
 * The replay key of the payment asked about, or an error text for the
 * client (a 400).
 */

static const char *
ngx_http_x402_receipts_key(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, char *key)
{
    uint64_t       chain_id;
    x402_err       err;
    ngx_int_t      rc;
    ngx_str_t      header, v;
    const char    *field;
    x402_payment   payment;

    ngx_memzero(&payment, sizeof(x402_payment));

    chain_id = xlcf->offer.chain_id;

    rc = ngx_http_x402_request_header(r, "PAYMENT-SIGNATURE", &header);

    if (rc == NGX_ERROR) {
        return "more than one PAYMENT-SIGNATURE header";
    }

    if (rc == NGX_OK) {
        field = NULL;

        err = x402_payment_decode_header(&payment, &field,
                                         (const char *) header.data,
                                         header.len);
        if (err != X402_OK) {
            return "undecodable PAYMENT-SIGNATURE";
        }

        if (payment.accepted.has_chain_id) {
            chain_id = payment.accepted.chain_id;
        }

        x402_replay_key(key, chain_id, &payment);

        return NULL;
    }

    rc = ngx_http_x402_receipts_arg(r, "payer", &v);

    if (rc == NGX_DECLINED) {
        return "payer and nonce are required (or a PAYMENT-SIGNATURE header)";
    }

    if (rc != NGX_OK
        || x402_address_parse(&payment.from, (const char *) v.data, v.len)
           != X402_OK)
    {
        return "invalid payer (expected 0x followed by 40 hex digits)";
    }

    rc = ngx_http_x402_receipts_arg(r, "nonce", &v);

    if (rc == NGX_DECLINED) {
        return "payer and nonce are required (or a PAYMENT-SIGNATURE header)";
    }

    if (rc != NGX_OK
        || x402_u256_parse(&payment.nonce, (const char *) v.data, v.len)
           != X402_OK)
    {
        return "invalid nonce (expected a decimal or 0x hex integer "
               "below 2^256)";
    }

    rc = ngx_http_x402_receipts_arg(r, "network", &v);

    if (rc == NGX_ERROR
        || (rc == NGX_OK
            && x402_network_parse(&chain_id, (const char *) v.data, v.len)
               != X402_OK))
    {
        return "invalid network (expected eip155:<chain id>)";
    }

    /* accepted as before; a nonce is the payer's on every asset */

    rc = ngx_http_x402_receipts_arg(r, "asset", &v);

    if (rc == NGX_ERROR
        || (rc == NGX_OK
            && x402_address_parse(&payment.token, (const char *) v.data,
                                  v.len)
               != X402_OK))
    {
        return "invalid asset (expected 0x followed by 40 hex digits)";
    }

    x402_replay_key(key, chain_id, &payment);

    return NULL;
}


/*
 * A query argument, percent-decoded.  NGX_DECLINED: absent, NGX_ERROR:
 * empty or not decodable.
 */

static ngx_int_t
ngx_http_x402_receipts_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (arg.len == 0) {
        return NGX_ERROR;
    }

    dst = ngx_pnalloc(r->pool, arg.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = arg.data;

    ngx_unescape_uri(&dst, &src, arg.len, NGX_UNESCAPE_URI);

    if (src != arg.data + arg.len) {
        return NGX_ERROR;
    }

    value->len = dst - value->data;

    return NGX_OK;
}


static void
ngx_http_x402_receipts_done(void *data, redisReply *reply, const char *err)
{
    ngx_http_x402_op_t  *op = data;

    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      body, type;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_x402_ctx_t           *ctx;

    r = ngx_http_x402_op_finish(op, &ctx);
    if (r == NULL) {
        return;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    c = r->connection;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "x402: receipt lookup failed: %s",
                      reply ? reply->str : err);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_FAILED);
        rc = ngx_http_x402_receipts_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "receipt lookup unavailable");

    } else if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_MISSING);
        rc = ngx_http_x402_receipts_error(r, NGX_HTTP_NOT_FOUND,
                                          "no receipt");

    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
               && reply->element[0]->type == REDIS_REPLY_STRING)
    {
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_FOUND);

        /* shown without its signature; re-encoding never makes it longer */
        len = reply->element[0]->len + 2;
        body.data = ngx_pnalloc(r->pool, len);

        if (body.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else if (x402_receipt_public((char *) body.data, &len,
                                       reply->element[0]->str,
                                       reply->element[0]->len)
                   != X402_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "x402: the receipt in redis is not readable");
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            body.len = len;

            if (ngx_http_x402_receipts_session(r, &body, reply) != NGX_OK) {
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

            } else {
                body.data[body.len++] = LF;

                ngx_str_set(&type, "application/json");

                rc = ngx_http_x402_send_content(r, NGX_HTTP_OK, &type,
                                                &body);
            }
        }

    } else {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "x402: redis answered a receipt lookup with type %d",
                      reply->type);
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_FAILED);
        rc = ngx_http_x402_receipts_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "receipt lookup unavailable");
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_x402_receipts_timeout(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx != NULL) {
        ngx_http_x402_detach(ctx);
    }

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "x402: receipt lookup timed out (x402_timeout)");

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_RECEIPT_FAILED);

    ngx_http_finalize_request(r,
                              ngx_http_x402_receipts_error(r,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "receipt lookup timed out"));
    ngx_http_run_posted_requests(c);
}


/* {"error":"…"} with the status; the texts are the module's own. */

static ngx_int_t
ngx_http_x402_receipts_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   body, type;

    len = ngx_strlen(error);

    body.data = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_cpymem(p, error, len);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    body.len = p - body.data;

    ngx_str_set(&type, "application/json");

    return ngx_http_x402_send_content(r, status, &type, &body);
}


/*
 * The receipt of an upto session's payment shows the session: its id's
 * first 8 characters (the id is a bearer secret), cap, total, requests,
 * status and each request's charge.  body is the receipt's JSON object;
 * it is rebuilt with one byte to spare.
 */

static ngx_int_t
ngx_http_x402_receipts_session(ngx_http_request_t *r, ngx_str_t *body,
    redisReply *reply)
{
    u_char      *p, *out;
    size_t       size;
    ngx_uint_t   i;

    if (reply->elements < 6) {
        /* a payment without a session: the receipt alone */
        return NGX_OK;
    }

    size = body->len + sizeof(",\"session\":{\"id\":\"12345678\",\"cap\":\"\","
                              "\"total\":\"\",\"requests\":,\"status\":"
                              "\"\",\"charges\":[]}}") + 1;

    for (i = 1; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        /* Redis's own digits and words, and ids we wrote: no escaping */
        size += reply->element[i]->len + 4;
    }

    if (body->len < 2 || body->data[body->len - 1] != '}'
        || reply->element[1]->len < 8)
    {
        return NGX_ERROR;
    }

    out = ngx_pnalloc(r->pool, size);
    if (out == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out, body->data, body->len - 1);
    p = ngx_sprintf(p, ",\"session\":{\"id\":\"%*s\",\"cap\":\"%s\","
                    "\"total\":\"%s\",\"requests\":%s,\"status\":\"%s\","
                    "\"charges\":[",
                    (size_t) 8, reply->element[1]->str,
                    reply->element[2]->str, reply->element[3]->str,
                    reply->element[4]->str, reply->element[5]->str);

    for (i = 6; i < reply->elements; i++) {
        p = ngx_sprintf(p, "%s\"%s\"", i > 6 ? "," : "",
                        reply->element[i]->str);
    }

    p = ngx_cpymem(p, "]}}", 3);

    body->data = out;
    body->len = p - out;

    return NGX_OK;
}
