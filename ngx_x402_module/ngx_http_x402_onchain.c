
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The asynchronous half of verification while the request is parked in the
 * ACCESS phase: the machinery (park, ops, deadline, resume) and its first
 * step, the on-chain checks: one JSON-RPC batch, or, once a batch has shown
 * the node on the offer's chain and the asset deployed (and a separate
 * eth_getCode the settlement proxy), the settlement simulation alone, which
 * passes only when every check would (a revert falls back to the batch for
 * its reason).  The request owns a
 * non-cancelable deadline; each step is a heap op that the request-pool
 * cleanup detaches, so a reply that arrives after the client left (or
 * after the deadline) only frees it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"


#define NGX_HTTP_X402_RPC_REQUEST_MAX  8192
#define NGX_HTTP_X402_RPC_REPLY_MAX    (1024 * 1024)
#define NGX_HTTP_X402_CHAIN_OK_TTL     900  /* s, as the reference's cache */


static ngx_int_t ngx_http_x402_onchain_send(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t full);
static ngx_int_t ngx_http_x402_rpc_failed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err);
static void ngx_http_x402_rpc_malformed(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, x402_err xerr);
static void ngx_http_x402_sim_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_proxy_check(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_loc_conf_t *xlcf, x402_scheme scheme);
static void ngx_http_x402_proxy_checked(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_rpc_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_deadline_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_x402_onchain_start(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx)
{
    ngx_uint_t                 full;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->facilitator_url.len) {
        return ngx_http_x402_facilitator_verify(r, xlcf, xmcf, ctx);
    }

    /* a signature that did not recover locally may be a contract wallet's */
    full = !ctx->local_sig_ok || xlcf->chain_ok_until <= ngx_time();

    if (ngx_http_x402_onchain_send(r, xmcf, ctx, full) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_x402_park(r, xmcf, ctx, ctx->op);
}


/* Sends the full batch of checks, or the simulation alone; sets ctx->op. */

static ngx_int_t
ngx_http_x402_onchain_send(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t full)
{
    size_t                        len;
    uint8_t                       digest[32];
    x402_err                      err;
    ngx_str_t                     body;
    x402_address                 *sim_from;
    ngx_http_x402_op_t           *op;
    ngx_http_x402_curl_done_pt    done;

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

    if (full) {
        /* the EIP-1271 call needs the digest */
        err = x402_permit2_digest(digest, ctx->offer.scheme,
                                  ctx->offer.chain_id, &ctx->payment);
        if (err == X402_OK) {
            err = x402_rpc_checks_request((char *) body.data, &len,
                                          &ctx->offer, &ctx->payment, digest,
                                          sim_from, 1);
        }

        done = ngx_http_x402_rpc_done;

    } else {
        err = x402_rpc_simulate_request((char *) body.data, &len,
                                        &ctx->offer, &ctx->payment, sim_from,
                                        1);
        done = ngx_http_x402_sim_done;
    }

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
                                NGX_HTTP_X402_RPC_REPLY_MAX, done, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    ctx->op = op;

    return NGX_OK;
}


/* Parks the request on its first asynchronous step, with a deadline. */

ngx_int_t
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
        ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_PARKED, 1);
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
        ngx_http_x402_stat_gauge(NGX_HTTP_X402_GAUGE_PARKED, -1);
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


/* Answers 503 when the node gave no usable answer; returns 1 then. */

static ngx_int_t
ngx_http_x402_rpc_failed(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body, const char *err)
{
    if (rc == NGX_OK && status == NGX_HTTP_OK && body != NULL) {
        return 0;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: RPC node failed: %s (HTTP status %ui)",
                  err ? err : "no reply", status);
    ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                               "the chain node did not answer");
    return 1;
}


static void
ngx_http_x402_rpc_malformed(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_err xerr)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "x402: RPC node sent a malformed reply: %s",
                  x402_strerror(xerr));
    ngx_http_x402_fail(r, ctx, "payment verification unavailable: "
                               "the chain node's reply is malformed");
}


static void
ngx_http_x402_sim_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    int                   ok;
    x402_err              xerr;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (ngx_http_x402_rpc_failed(r, ctx, rc, status, body, err)) {
        return;
    }

    xerr = x402_rpc_simulate_parse(&ok, (const char *) body->data, body->len,
                                   1);
    if (xerr != X402_OK) {
        ngx_http_x402_rpc_malformed(r, ctx, xerr);
        return;
    }

    if (ok) {
        ngx_http_x402_reserve(r, ctx);
        return;
    }

    /* it would revert: the full batch tells why, in the reference's order */

    if (ngx_http_x402_onchain_send(r,
            ngx_http_get_module_main_conf(r, ngx_http_x402_module), ctx, 1)
        != NGX_OK)
    {
        ngx_http_x402_fail(r, ctx, "internal error");
    }
}


static void
ngx_http_x402_rpc_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    x402_err                   xerr;
    x402_reason                reason;
    x402_onchain               oc;
    ngx_http_request_t        *r;
    ngx_http_x402_ctx_t       *ctx;
    ngx_http_x402_loc_conf_t  *xlcf;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (ngx_http_x402_rpc_failed(r, ctx, rc, status, body, err)) {
        return;
    }

    xerr = x402_rpc_checks_parse(&oc, (const char *) body->data, body->len,
                                 1);
    if (xerr != X402_OK) {
        ngx_http_x402_rpc_malformed(r, ctx, xerr);
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

    if (oc.asset_has_code) {
        /* the next payments here may go by the simulation alone */
        xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);
        ngx_http_x402_proxy_check(
            ngx_http_get_module_main_conf(r, ngx_http_x402_module), xlcf,
            ctx->offer.scheme);
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
 * A call to an address without code returns as settle(...) does: the
 * simulation alone proves nothing until the proxy is known deployed.
 */

static void
ngx_http_x402_proxy_check(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_loc_conf_t *xlcf, x402_scheme scheme)
{
    size_t     len;
    u_char     buf[256];
    ngx_str_t  body;

    if (xlcf->chain_ok_until > ngx_time() || xlcf->proxy_checking
        || xlcf->proxy_retry > ngx_time())
    {
        return;
    }

    len = sizeof(buf);

    if (x402_rpc_code_request((char *) buf, &len, x402_scheme_spender(scheme),
                              1)
        != X402_OK)
    {
        return;
    }

    body.data = buf;
    body.len = len;

    if (ngx_http_x402_curl_post(ngx_cycle->log, &xmcf->rpc, &body,
                                xmcf->rpc_timeout,
                                NGX_HTTP_X402_RPC_REPLY_MAX,
                                ngx_http_x402_proxy_checked, xlcf)
        == NGX_OK)
    {
        xlcf->proxy_checking = 1;
    }
}


static void
ngx_http_x402_proxy_checked(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    ngx_http_x402_loc_conf_t  *xlcf = data;

    int  has_code;

    xlcf->proxy_checking = 0;

    if (rc != NGX_OK || status != NGX_HTTP_OK || body == NULL
        || x402_rpc_code_parse(&has_code, (const char *) body->data,
                               body->len, 1)
           != X402_OK)
    {
        /* asked again after the next full batch */
        return;
    }

    if (!has_code) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: the x402 settlement proxy has no code on the "
                      "node's chain: payments are checked with the full "
                      "batch, and no settlement can move tokens");
        xlcf->proxy_retry = ngx_time() + NGX_HTTP_X402_CHAIN_OK_TTL;
        return;
    }

    xlcf->chain_ok_until = ngx_time() + NGX_HTTP_X402_CHAIN_OK_TTL;
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
    size_t       len;
    u_char       json[1024];
    x402_err     err;
    ngx_str_t   *pr;
    ngx_uint_t   success;

    if (result->outcome == NGX_HTTP_X402_RETRY) {
        /* the gateway's fault, nothing was sent: the payment stays usable */
        ngx_http_x402_fail(r, ctx, "payment settlement unavailable");
        return;
    }

    success = (result->outcome == NGX_HTTP_X402_SETTLED);
    len = sizeof(json);

    err = x402_settle_response_encode((char *) json, &len, success,
                                      success ? NULL : result->error_reason,
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

    if (success || result->outcome == NGX_HTTP_X402_PENDING) {
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


ngx_http_x402_op_t *
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

ngx_http_request_t *
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


void
ngx_http_x402_fail(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    const char *error)
{
    ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error = error;

    ngx_http_x402_finish(r, ctx, X402_R_PAYMENT_REQUIRED);
}


/* Records the verdict and resumes the phase engine. */

void
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

        if (ctx->upto_charge) {
            ngx_http_x402_usage_cutoff(r, ctx);
        }
    }

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}

