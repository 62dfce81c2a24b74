
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The on-chain checks of a payment, while its request is parked: one
 * JSON-RPC batch, or, once a batch has shown the node on the offer's chain
 * and the asset deployed (and a separate eth_getCode the settlement
 * proxy), the settlement simulation alone, which passes only when every
 * check would (a revert falls back to the batch for its reason).  A payer
 * without code whose signature carries its wallet's deployment (ERC-6492)
 * is probed in one more call: what the payment would meet once the
 * wallet is deployed.  A valid payment goes on to ctx->next (or
 * ctx->deploy); any other ends the request's wait with a verdict
 * (core/ngx_http_x402_park.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_rpc.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_park.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_onchain.h"


#define NGX_HTTP_X402_CHAIN_OK_TTL     900  /* s, as the reference's cache */


static ngx_int_t ngx_http_x402_onchain_send(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_uint_t full);
static ngx_int_t ngx_http_x402_onchain_post(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *body, ngx_http_x402_curl_done_pt done);
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
static void ngx_http_x402_counterfactual(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, x402_onchain *oc);
static void ngx_http_x402_probe_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);
static void ngx_http_x402_onchain_refused(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, x402_reason reason);


ngx_int_t
ngx_http_x402_onchain_check(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_http_x402_step_pt next, ngx_http_x402_step_pt used,
    ngx_http_x402_step_pt deploy)
{
    ngx_uint_t                 full;
    ngx_http_x402_loc_conf_t  *xlcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);
    ctx->next = next;
    ctx->used = used;
    ctx->deploy = deploy;

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
    ngx_http_x402_curl_done_pt    done;

    /*
     * anyone may submit an exact settle; an upto settle only from the
     * facilitator signed into the witness
     */

    sim_from = (ctx->offer.scheme == X402_SCHEME_UPTO)
               ? &ctx->offer.facilitator : &ctx->offer.pay_to;

    body.data = ngx_pnalloc(r->pool, X402_RPC_CHECKS_REQUEST_MAX);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    len = X402_RPC_CHECKS_REQUEST_MAX;

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

    return ngx_http_x402_onchain_post(r, xmcf, ctx, &body, done);
}


/* One JSON-RPC request of the checks, its answer to done; sets ctx->op. */

static ngx_int_t
ngx_http_x402_onchain_post(ngx_http_request_t *r,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_ctx_t *ctx,
    ngx_str_t *body, ngx_http_x402_curl_done_pt done)
{
    ngx_http_x402_op_t  *op;

    op = ngx_http_x402_op_create(r, ctx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_rpc_post(xmcf, r->connection->log, body->data,
                               body->len, X402_RPC_REPLY_MAX, done, op)
        != NGX_OK)
    {
        ngx_free(op);
        return NGX_ERROR;
    }

    ctx->op = op;

    return NGX_OK;
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
        ctx->next(r, ctx);
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

    if (!oc.from_has_code && ctx->payment.has_deployment
        && oc.asset_has_code && !ctx->local_sig_ok)
    {
        ngx_http_x402_counterfactual(r, ctx, &oc);
        return;
    }

    reason = x402_onchain_verdict(&oc, &ctx->payment, ctx->local_sig_ok);

    if (reason != X402_R_VALID) {
        ngx_http_x402_onchain_refused(r, ctx, reason);
        return;
    }

    ctx->next(r, ctx);
}


static void
ngx_http_x402_onchain_refused(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, x402_reason reason)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: payment rejected on chain, payer %s: %s",
                  ctx->payer, x402_reason_string(reason));

    if (reason == X402_R_INVALID_NONCE) {
        /* used already: settled here, or elsewhere */
        ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_REPLAYS);
        ctx->used(r, ctx);
        return;
    }

    ngx_http_x402_finish(r, ctx, reason);
}


/*
 * ERC-6492: a payer without code that signed with its wallet's deployment.
 * Only an allowed factory's (the reference facilitator's rule), and only
 * once the probe shows the deployed wallet would accept the signature and
 * could pay: the settler spends gas on the deployment.
 */

static void
ngx_http_x402_counterfactual(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    x402_onchain *oc)
{
    u_char                      factory[X402_ADDRESS_STR_LEN];
    size_t                      len;
    uint8_t                     digest[32];
    ngx_str_t                   body;
    ngx_uint_t                  i;
    x402_address               *allowed;
    ngx_http_x402_loc_conf_t   *xlcf;
    ngx_http_x402_main_conf_t  *xmcf;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);
    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (ctx->deployed) {
        /* deployed by us, and still without code */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: wallet %s has no code after its factory's "
                      "transaction was mined", ctx->payer);
        ngx_http_x402_finish(r, ctx, X402_R_SMART_WALLET_DEPLOYMENT_FAILED);
        return;
    }

    x402_address_format((char *) factory, &ctx->payment.factory);

    allowed = xlcf->factories ? xlcf->factories->elts : NULL;

    for (i = 0; allowed && i < xlcf->factories->nelts; i++) {
        if (x402_address_eq(&allowed[i], &ctx->payment.factory)) {
            break;
        }
    }

    if (allowed == NULL || i == xlcf->factories->nelts) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment of %s refused: its wallet is not "
                      "deployed and its factory %s is not in "
                      "x402_eip6492_factories", ctx->payer, factory);
        ngx_http_x402_finish(r, ctx, X402_R_EIP6492_FACTORY_NOT_ALLOWED);
        return;
    }

    ctx->checks = ngx_palloc(r->pool, sizeof(x402_onchain));
    body.data = ngx_pnalloc(r->pool, X402_ERC6492_PROBE_REQUEST_MAX);
    len = X402_ERC6492_PROBE_REQUEST_MAX;

    if (ctx->checks == NULL || body.data == NULL
        || x402_permit2_digest(digest, ctx->offer.scheme, ctx->offer.chain_id,
                               &ctx->payment)
           != X402_OK
        || x402_rpc_erc6492_probe_request((char *) body.data, &len,
                                          &ctx->offer, &ctx->payment, digest,
                                          1)
           != X402_OK)
    {
        ngx_http_x402_fail(r, ctx, "internal error");
        return;
    }

    ngx_memcpy(ctx->checks, oc, sizeof(x402_onchain));
    body.len = len;

    if (ngx_http_x402_onchain_post(r, xmcf, ctx, &body,
                                   ngx_http_x402_probe_done)
        != NGX_OK)
    {
        ngx_http_x402_fail(r, ctx, "payment verification unavailable");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: wallet %s is not deployed: probing its deployment "
                  "by factory %s", ctx->payer, factory);
}


static void
ngx_http_x402_probe_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body, const char *err)
{
    x402_err                    xerr;
    x402_reason                 reason;
    ngx_http_request_t         *r;
    ngx_http_x402_ctx_t        *ctx;
    x402_erc6492_probe          pr;
    ngx_http_x402_main_conf_t  *xmcf;

    r = ngx_http_x402_op_finish(data, &ctx);
    if (r == NULL) {
        return;
    }

    if (ngx_http_x402_rpc_failed(r, ctx, rc, status, body, err)) {
        return;
    }

    xerr = x402_rpc_erc6492_probe_parse(&pr, (const char *) body->data,
                                        body->len, 1);
    if (xerr != X402_OK) {
        ngx_http_x402_rpc_malformed(r, ctx, xerr);
        return;
    }

    reason = x402_erc6492_verdict(ctx->checks, &pr, &ctx->payment);

    if (reason != X402_R_VALID) {
        ngx_http_x402_onchain_refused(r, ctx, reason);
        return;
    }

    ctx->deploy_gas = x402_erc6492_deploy_gas(&pr, &ctx->payment);
    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    if (ctx->deploy_gas > xmcf->gas_limit_max) {
        /* the payer writes the factory's calldata: the settler's gas is
           bounded as for any settlement */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: payment of %s refused: its wallet's deployment "
                      "needs %uL gas, above x402_settle_gas_max %ui",
                      ctx->payer, ctx->deploy_gas, xmcf->gas_limit_max);
        ngx_http_x402_finish(r, ctx, X402_R_SMART_WALLET_DEPLOYMENT_FAILED);
        return;
    }

    ctx->deploy(r, ctx);
}


/*
 * A call to an address without code returns as settle(...) does: the
 * simulation alone proves nothing until the proxy is known deployed.
 */

static void
ngx_http_x402_proxy_check(ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_loc_conf_t *xlcf, x402_scheme scheme)
{
    size_t   len;
    u_char   buf[256];

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

    if (ngx_http_x402_rpc_post(xmcf, ngx_cycle->log, buf, len,
                               X402_RPC_REPLY_MAX,
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
