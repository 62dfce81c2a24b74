
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * Usage-based billing for LLM endpoints (x402_scheme upto) and per-model
 * prices:
 *
 *  - x402_read_model: the PRECONTENT handler reads the (bounded, in-memory)
 *    request body first and takes its "model" for $x402_model;
 *  - a header and a body filter watch a paid upto response as it passes,
 *    without holding it: the upstream's x402_usage_header (removed before
 *    the client sees it), or the "usage" of a JSON reply or of the final
 *    SSE event;
 *  - the LOG phase, which runs for every finished request (also when the
 *    client went away mid-stream), prices the usage, clamps it to the
 *    signed cap and starts the settlement of that amount in the
 *    background.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_ctx.h"
#include "ngx_http_x402_headers.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_session.h"
#include "ngx_http_x402_usage.h"


#define NGX_HTTP_X402_MODEL_MAX      256
#define NGX_HTTP_X402_RPC_REPLY_MAX  (64 * 1024)


static void ngx_http_x402_body_read(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_x402_body_buffer(ngx_http_request_t *r);
static void ngx_http_x402_rpc_calls(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_buf_t *b);
static void ngx_http_x402_usage_prepare(ngx_http_request_t *r,
    ngx_http_x402_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_x402_usage_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_x402_usage_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_x402_rpc_keep(ngx_buf_t *keep, ngx_buf_t *b);
static ngx_int_t ngx_http_x402_usage_cost(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx);
static ngx_int_t ngx_http_x402_usage_price(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t decimals, x402_u256 *out);
static void ngx_http_x402_usage_cut(ngx_event_t *ev);
static const x402_u256 *ngx_http_x402_usage_limit(ngx_http_x402_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_x402_usage_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_x402_usage_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_x402_usage_body_filter;

    return NGX_OK;
}


/* PRECONTENT: read the request body, then run the phases again. */

ngx_int_t
ngx_http_x402_read_model(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->state = NGX_HTTP_X402_READING;

    /* the body stays in memory up to client_body_buffer_size */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_x402_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_x402_body_read(ngx_http_request_t *r)
{
    char                       model[NGX_HTTP_X402_MODEL_MAX];
    u_char                    *p;
    size_t                     len;
    ngx_buf_t                 *b;
    ngx_http_x402_ctx_t       *ctx;
    ngx_http_x402_loc_conf_t  *xlcf;

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL) {
        return;
    }

    ctx->body_done = 1;
    ctx->state = NGX_HTTP_X402_IDLE;

    len = 0;
    b = NULL;

    if (r->request_body && r->request_body->bufs) {
        b = ngx_http_x402_body_buffer(r);

        if (b != NULL) {
            len = b->last - b->pos;
        }
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (xlcf->scheme == X402_SCHEME_UPTO) {
        ngx_http_x402_usage_prepare(r, ctx, b);

        if (b != NULL && r->request_body->bufs->buf != b) {
            /* rewritten: the model is the same in the new body */
            b = r->request_body->bufs->buf;
            len = b->last - b->pos;
        }
    }

    if (xlcf->read_model && b != NULL
        && x402_request_model(model, sizeof(model), (const char *) b->pos,
                              len)
           == X402_OK)
    {
        len = ngx_strlen(model);

        p = ngx_pnalloc(r->pool, len);
        if (p != NULL) {
            ngx_memcpy(p, model, len);
            ctx->model.data = p;
            ctx->model.len = len;
        }
    }

    if (xlcf->read_body == NGX_HTTP_X402_BODY_METHOD && b != NULL) {
        ngx_http_x402_rpc_calls(r, ctx, b);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "x402: request model \"%V\"", &ctx->model);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* The JSON-RPC calls of the body, for their per-method prices. */

static void
ngx_http_x402_rpc_calls(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_buf_t *b)
{
    size_t               n;
    int                  batch;
    x402_err             err;
    x402_jsonrpc_call   *calls;

    calls = ngx_palloc(r->pool, X402_RPC_CALLS_MAX * sizeof(x402_jsonrpc_call));
    if (calls == NULL) {
        return;
    }

    err = x402_rpc_request_calls(calls, X402_RPC_CALLS_MAX, &n, &batch,
                                 (const char *) b->pos, b->last - b->pos);

    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: the request body is not a JSON-RPC call or "
                      "batch (of at most %d calls): %s",
                      X402_RPC_CALLS_MAX, x402_strerror(err));
        return;
    }

    ctx->rpc_calls = calls;
    ctx->rpc_n = n;
    ctx->rpc_batch = batch;
}


/*
 * The request body as one memory buffer: the part read with the header and
 * the rest come in two, joined here (the body forwarded is the joined
 * one).  NULL when nginx kept it in a file (larger than
 * client_body_buffer_size): no model, and billed by its length.
 */

static ngx_buf_t *
ngx_http_x402_body_buffer(ngx_http_request_t *r)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file || !ngx_buf_in_memory(cl->buf)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "x402: the request body is larger than "
                          "client_body_buffer_size: it is not read");
            return NULL;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL) {
        return cl->buf;
    }

    p = ngx_pnalloc(r->pool, len);
    b = ngx_calloc_buf(r->pool);
    if (p == NULL || b == NULL) {
        return NULL;
    }

    b->start = p;
    b->pos = p;
    b->temporary = 1;

    for ( /* void */ ; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        b->last_buf |= cl->buf->last_buf;
        b->last_in_chain |= cl->buf->last_in_chain;
    }

    b->last = p;
    b->end = p;

    cl = r->request_body->bufs;
    cl->buf = b;
    cl->next = NULL;

    return b;
}


/*
 * An upto request's body, before it goes upstream: OpenAI-compatible
 * backends state the usage of a stream only when the client asks for it
 * (stream_options.include_usage), so the module asks for it; and the
 * prompt's size is kept, to bill it should the backend state no usage
 * anyway.  A body that is not one in-memory buffer, not JSON, or sent
 * chunked is forwarded as it is and billed by its length.
 */

static void
ngx_http_x402_usage_prepare(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx,
    ngx_buf_t *b)
{
    int           stream;
    u_char       *p;
    size_t        len, cap;
    x402_err      err;
    uint64_t      prompt;
    ngx_buf_t    *nb;
    ngx_chain_t  *cl;

    if (b == NULL) {
        len = r->headers_in.content_length_n > 0
              ? (size_t) r->headers_in.content_length_n : 0;
        ctx->prompt_tokens = (len + 3) / 4;
        return;
    }

    len = b->last - b->pos;
    ctx->prompt_tokens = (len + 3) / 4;

    cap = len + 64;

    p = ngx_pnalloc(r->pool, cap);
    if (p == NULL) {
        return;
    }

    err = x402_request_usage_prepare((char *) p, &cap, &stream, &prompt,
                                     (const char *) b->pos, len);

    if (err == X402_ERR_BUFFER) {
        /* a re-serialised stream_options may be longer: its length is told */
        p = ngx_pnalloc(r->pool, cap + 1);
        if (p == NULL) {
            return;
        }

        cap++;
        err = x402_request_usage_prepare((char *) p, &cap, &stream, &prompt,
                                         (const char *) b->pos, len);
    }

    if (err == X402_ERR_JSON || err == X402_ERR_ARG) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: upto request body is not an OpenAI-style JSON "
                      "object (%s): a stream without usage bills its "
                      "length", x402_strerror(err));
        return;
    }

    /* the prompt's estimate holds whatever else went wrong */
    ctx->prompt_tokens = prompt;

    if (err != X402_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: upto stream's usage not asked for (%s): "
                      "billed by the prompt's text if none comes",
                      x402_strerror(err));
        return;
    }

    if (cap == 0 || r->headers_in.chunked) {
        return;
    }

    nb = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (nb == NULL || cl == NULL) {
        return;
    }

    nb->pos = p;
    nb->last = p + cap;
    nb->start = p;
    nb->end = p + cap;
    nb->temporary = 1;
    nb->last_buf = b->last_buf;
    nb->last_in_chain = b->last_in_chain;

    cl->buf = nb;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->headers_in.content_length_n = cap;

    if (r->headers_in.content_length) {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return;
        }

        r->headers_in.content_length->value.data = p;
        r->headers_in.content_length->value.len =
            ngx_sprintf(p, "%O", (off_t) cap) - p;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "x402: upto stream asks for its usage (%uz bytes)", cap);
}


static ngx_int_t
ngx_http_x402_usage_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                     id;
    ngx_uint_t                    sse;
    ngx_table_elt_t              *h;
    x402_usage                   *u;
    ngx_http_x402_ctx_t          *ctx;
    ngx_http_x402_loc_conf_t     *xlcf;
    ngx_http_x402_header_walk_t   walk;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || !ctx->upto_charge) {
        return ngx_http_next_header_filter(r);
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    /* every response of a session names it, whatever its status */

    if (ctx->session == NGX_HTTP_X402_SESSION_OPENING
        || ctx->session == NGX_HTTP_X402_SESSION_RESUMED)
    {
        id.data = ctx->session_id;
        id.len = X402_SESSION_ID_LEN;

        if (ngx_http_x402_push_header(r, "X-Upto-Session", &id) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* a failed response costs nothing */

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
        ctx->upstream_failed = 1;
    }

    /* the backend's statement of the cost never reaches the client */

    if (xlcf->usage_header.len) {
        ngx_memzero(&walk, sizeof(walk));

        while ((h = ngx_http_x402_header_next(&r->headers_out.headers, &walk,
                                              (char *) xlcf->usage_header.data,
                                              xlcf->usage_header.len))
               != NULL)
        {
            ctx->usage_cost = h->value;
            h->hash = 0;
        }
    }

    u = ngx_palloc(r->pool, sizeof(x402_usage));
    if (u == NULL) {
        return NGX_ERROR;
    }

    sse = r->headers_out.content_type.len >= sizeof("text/event-stream") - 1
          && ngx_strncasecmp(r->headers_out.content_type.data,
                             (u_char *) "text/event-stream",
                             sizeof("text/event-stream") - 1)
             == 0;

    x402_usage_init(u, (int) sse);
    ctx->usage = u;

    /* a JSON-RPC error is a failure too: its reply is kept to tell */

    if (ctx->rpc_n && !sse) {
        ctx->rpc_reply = ngx_create_temp_buf(r->pool,
                                             NGX_HTTP_X402_RPC_REPLY_MAX);
        if (ctx->rpc_reply == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


/* The first NGX_HTTP_X402_RPC_REPLY_MAX bytes of a JSON-RPC reply. */

static void
ngx_http_x402_rpc_keep(ngx_buf_t *keep, ngx_buf_t *b)
{
    size_t  n;

    n = ngx_min((size_t) (b->last - b->pos),
                (size_t) (keep->end - keep->last));

    keep->last = ngx_cpymem(keep->last, b->pos, n);
}


/* Reads the usage as the response passes; never holds a byte back. */

static ngx_int_t
ngx_http_x402_usage_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t          *cl;
    ngx_http_x402_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->usage == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf) && cl->buf->last > cl->buf->pos) {
            x402_usage_feed(ctx->usage, (const char *) cl->buf->pos,
                            cl->buf->last - cl->buf->pos);

            if (ctx->rpc_reply != NULL) {
                ngx_http_x402_rpc_keep(ctx->rpc_reply, cl->buf);
            }
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * An upto payment settles once its response is over, and the settlement
 * must land before the permit's deadline: a response still running when
 * only x402_settle_margin is left is cut there (the client's connection is
 * closed, as on an upstream error) and what it delivered is charged.  The
 * admission left at least x402_max_response_time before that moment.
 */

void
ngx_http_x402_usage_cutoff(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    uint64_t                   deadline, now, left, end;
    ngx_http_x402_loc_conf_t  *xlcf;

    if (ctx->cutoff.timer_set
        || x402_u256_to_u64(&deadline, &ctx->payment.deadline) != X402_OK)
    {
        return;
    }

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);
    now = (uint64_t) ngx_time();

    /*
     * a session's request: its longest response, at the latest the
     * session's hard limit (from then it is settled; a request's place in
     * it lasts as long as its longest response)
     */

    if (ctx->session_hard) {
        end = ngx_min(now + (uint64_t) xlcf->response_time,
                      ctx->session_hard);

    } else {
        end = deadline - (uint64_t) xlcf->settle_margin;
    }

    if (deadline < (uint64_t) xlcf->settle_margin || end <= now) {
        left = 0;

    } else {
        left = end - now;
    }

    /* a week at most: ngx_msec_t and the timer tree stay in range */
    left = ngx_min(left, 7 * 86400);

    ctx->cutoff.handler = ngx_http_x402_usage_cut;
    ctx->cutoff.data = r;
    ctx->cutoff.log = r->connection->log;
    ctx->cutoff.cancelable = 1;     /* the request keeps its worker alive */

    ngx_add_timer(&ctx->cutoff, (ngx_msec_t) (left * 1000));
}


static void
ngx_http_x402_usage_cut(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_x402_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_x402_get_ctx(r);

    if (ctx == NULL || ctx->charged) {
        return;
    }

    if (ctx->session_hard) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "x402: the response of payer %s on session %*s... is "
                      "cut: it ran for x402_max_response_time, or the "
                      "session's settlement is due; what it delivered is "
                      "charged", ctx->payer, (size_t) 8, ctx->session_id);

    } else {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "x402: the response of payer %s is cut: its permit "
                      "expires in x402_settle_margin, the time its "
                      "settlement needs; what it delivered is charged",
                      ctx->payer);
    }

    ngx_http_x402_stat_inc(NGX_HTTP_X402_STAT_CUT);

    /* the client must see an unfinished response: close, never keep alive */
    r->keepalive = 0;

    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/* The request is over (served, or the client left): settle what it cost. */

void
ngx_http_x402_usage_end(ngx_http_request_t *r, ngx_http_x402_ctx_t *ctx)
{
    char                       amount[X402_U256_DEC_MAX];
    ngx_http_x402_loc_conf_t  *xlcf;

    if (!ctx->upto_charge || ctx->charged) {
        return;
    }

    ctx->charged = 1;

    xlcf = ngx_http_get_module_loc_conf(r, ngx_http_x402_module);

    if (ngx_http_x402_usage_cost(r, xlcf, ctx) != NGX_OK) {
        /* nothing could be priced: charge per x402_usage_missing */
        if (xlcf->usage_missing == NGX_HTTP_X402_USAGE_MISSING_CAP) {
            ctx->charge = *ngx_http_x402_usage_limit(ctx);

        } else {
            ngx_memzero(&ctx->charge, sizeof(x402_u256));
        }
    }

    x402_u256_format_dec(amount, &ctx->charge);

    if (ctx->session == NGX_HTTP_X402_SESSION_OPENING
        || ctx->session == NGX_HTTP_X402_SESSION_RESUMED)
    {
        /* into the session, settled with it */
        ngx_http_x402_session_charge(r, ctx);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "x402: upto usage of %s: charging %s of cap %s",
                  ctx->key, amount, ctx->amount);

    if (ngx_http_x402_settle_start(r, ctx, NULL) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: cannot start the upto settlement of %s",
                      ctx->key);
    }
}


/*
 * The most one response is charged: the signed cap, or on a session (whose
 * cap is for all of its requests) this request's price, x402_price.
 */

static const x402_u256 *
ngx_http_x402_usage_limit(ngx_http_x402_ctx_t *ctx)
{
    if (ctx->session != NGX_HTTP_X402_SESSION_NONE
        && ctx->session != NGX_HTTP_X402_SESSION_NEW
        && x402_u256_cmp(&ctx->offer.amount, &ctx->payment.amount) < 0)
    {
        return &ctx->offer.amount;
    }

    return &ctx->payment.amount;
}


/*
 * The charge: the upstream's stated cost, else the priced usage of the
 * response (the usage object, or for a stream cut short the tokens
 * delivered), always within the cap; a failed response costs nothing.
 * NGX_DECLINED when there is nothing to price.
 */

static ngx_int_t
ngx_http_x402_usage_cost(ngx_http_request_t *r,
    ngx_http_x402_loc_conf_t *xlcf, ngx_http_x402_ctx_t *ctx)
{
    int          clamped;
    uint64_t     prompt, completion;
    x402_u256    in, out, stated;
    x402_usage  *u;

    ngx_memzero(&ctx->charge, sizeof(x402_u256));

    if (ctx->upstream_failed) {
        return NGX_OK;
    }

    if (ctx->rpc_reply != NULL
        && x402_rpc_reply_failed((const char *) ctx->rpc_reply->pos,
                                 ctx->rpc_reply->last - ctx->rpc_reply->pos))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "x402: the JSON-RPC reply is an error: nothing is "
                      "charged");
        return NGX_OK;
    }

    if (ctx->usage_cost.len) {
        if (x402_amount_parse(&stated, (const char *) ctx->usage_cost.data,
                              ctx->usage_cost.len,
                              (unsigned) xlcf->decimals)
            != X402_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "x402: %V \"%V\" from the backend is not an "
                          "amount", &xlcf->usage_header, &ctx->usage_cost);
            return NGX_DECLINED;
        }

        ctx->charge = x402_u256_cmp(&stated, ngx_http_x402_usage_limit(ctx))
                      > 0 ? *ngx_http_x402_usage_limit(ctx) : stated;
        return NGX_OK;
    }

    u = ctx->usage;

    if (u == NULL) {
        return NGX_DECLINED;
    }

    x402_usage_finish(u);

    if (u->has_usage) {
        prompt = u->prompt_tokens;
        completion = u->completion_tokens;

    } else if (u->sse && u->streamed_tokens) {
        /* no usage from the backend: the prompt by what the body showed */
        prompt = ctx->prompt_tokens;
        completion = u->streamed_tokens;

    } else {
        return NGX_DECLINED;
    }

    if (ngx_http_x402_usage_price(r, xlcf->input_price, xlcf->decimals, &in)
           != NGX_OK
        || ngx_http_x402_usage_price(r, xlcf->output_price, xlcf->decimals,
                                     &out)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    x402_usage_charge(&ctx->charge, &clamped, prompt, completion, &in, &out,
                      ngx_http_x402_usage_limit(ctx));

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "x402: usage %uL + %uL tokens, clamped %d",
                   prompt, completion, clamped);

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_usage_price(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t decimals, x402_u256 *out)
{
    ngx_str_t  v;

    ngx_memzero(out, sizeof(x402_u256));

    if (cv == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, cv, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (x402_amount_parse(out, (const char *) v.data, v.len,
                          (unsigned) decimals)
        != X402_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: token price \"%V\" is not an amount", &v);
        return NGX_ERROR;
    }

    return NGX_OK;
}
