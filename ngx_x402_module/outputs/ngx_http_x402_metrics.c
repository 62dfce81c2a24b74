
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * x402_status: a content handler that prints the metrics zone
 * (core/ngx_http_x402_stats.c) in the Prometheus text format 0.0.4.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_metrics.h"
#include "ngx_http_x402_response.h"


#define NGX_HTTP_X402_STATUS_OUT_FIXED   16384


typedef struct {
    const char                  *name;
    const char                  *help;
    ngx_uint_t                   counter;   /* or gauge */
} ngx_http_x402_status_metric_t;


/* a counter of one metric, labelled by result */
typedef struct {
    const char                  *result;
    ngx_uint_t                   counter;
} ngx_http_x402_status_result_t;


static u_char *ngx_http_x402_status_metrics(u_char *p, u_char *last,
    ngx_http_x402_status_shm_t *st, ngx_http_x402_status_metric_t *m);
static u_char *ngx_http_x402_status_results(u_char *p, u_char *last,
    ngx_http_x402_status_shm_t *st, const char *name, const char *help,
    ngx_http_x402_status_result_t *res);
static u_char *ngx_http_x402_status_hist(u_char *p, u_char *last,
    const char *name, const char *what, const char *failure,
    ngx_http_x402_status_hist_t *h);
static u_char *ngx_http_x402_status_label(u_char *p, u_char *last,
    u_char *s);
static u_char *ngx_http_x402_status_amounts(u_char *p, u_char *last,
    ngx_http_x402_main_conf_t *xmcf,
    const char *name, const char *help, ngx_http_x402_status_amount_t *a);



static ngx_http_x402_status_metric_t  ngx_http_x402_status_payments[] = {

    { "x402_payments_verified_total",
      "Payments that passed every check (local and on chain).",
      NGX_HTTP_X402_STAT_VERIFIED },

    { "x402_payments_reserved_total",
      "Payments reserved in Redis (first use of the authorization).",
      NGX_HTTP_X402_STAT_RESERVED },

    { "x402_replays_refused_total",
      "Payments refused as already used (reserved in Redis, or the nonce "
      "spent on chain).",
      NGX_HTTP_X402_STAT_REPLAYS },

    { "x402_settlements_started_total",
      "Settlement jobs started (built-in settler or facilitator).",
      NGX_HTTP_X402_STAT_SETTLE_STARTED },

    { "x402_settlements_waited_total",
      "Paid requests under x402_settle async that waited for their "
      "settlement: the worker's settlements lagged by more than half the "
      "time left on the payment's permit.",
      NGX_HTTP_X402_STAT_SETTLE_WAITED },

    { "x402_sessions_opened_total",
      "upto sessions opened (x402_session on): a payment checked on chain, "
      "reserved, and drawn on by later requests.",
      NGX_HTTP_X402_STAT_SESSION_OPENED },

    { "x402_session_requests_total",
      "Requests served on an open upto session (resumed: no chain call, no "
      "signature recovery).",
      NGX_HTTP_X402_STAT_SESSION_RESUMED },

    { "x402_sessions_settled_total",
      "upto sessions settled, in their one transaction (or for nothing), "
      "once idle, exhausted, or at their deadline less "
      "x402_session_margin.",
      NGX_HTTP_X402_STAT_SESSION_SETTLED },

    { "x402_settle_batches_total",
      "Batch transactions mined (x402_settle_batch): many exact settlements "
      "in one Multicall3 aggregate3 transaction.",
      NGX_HTTP_X402_STAT_BATCHES },

    { "x402_settle_batch_payments_total",
      "Payments settled in a batch transaction, each confirmed by its "
      "Transfer log and Permit2 nonce bit.",
      NGX_HTTP_X402_STAT_BATCH_SETTLED },

    { "x402_settle_batch_dropped_total",
      "Payments left out of a batch (its simulation, or its receipt, shows "
      "they did not pay there) and settled alone, which says why.",
      NGX_HTTP_X402_STAT_BATCH_DROPPED },

    { "x402_settle_batch_gas_total",
      "Gas the batch transactions used; divided by "
      "x402_settle_batch_payments_total, the gas per payment.",
      NGX_HTTP_X402_STAT_BATCH_GAS },

    { "x402_channel_vouchers_total",
      "batch-settlement requests served on a channel voucher (a deposit's "
      "included), each charged when its response succeeded.",
      NGX_HTTP_X402_STAT_CH_VOUCHERS },

    { "x402_channel_deposits_total",
      "batch-settlement deposits the settler submitted and saw mined.",
      NGX_HTTP_X402_STAT_CH_DEPOSITS },

    { "x402_channel_claims_total",
      "claim(VoucherClaim[]) transactions mined: many channels' vouchers "
      "claimed in one.",
      NGX_HTTP_X402_STAT_CH_CLAIMS },

    { "x402_channel_claimed_total",
      "Channel rows claimed by those transactions.",
      NGX_HTTP_X402_STAT_CH_CLAIMED },

    { "x402_channel_sweeps_total",
      "settle(receiver, token) transactions mined: what the claims "
      "recorded, transferred to x402_pay_to.",
      NGX_HTTP_X402_STAT_CH_SWEEPS },

    { "x402_channel_withdrawals_total",
      "WithdrawInitiated logs read from the channel contract (a channel "
      "this Redis knows is claimed at once).",
      NGX_HTTP_X402_STAT_CH_WITHDRAWS },

    { "x402_wallets_deployed_total",
      "Smart wallets the settler deployed for a payer that signed before "
      "its wallet existed (ERC-6492, a factory of x402_eip6492_factories).",
      NGX_HTTP_X402_STAT_WALLETS_DEPLOYED },

    { "x402_responses_cut_total",
      "upto responses ended at the permit's deadline less "
      "x402_settle_margin, so that their settlement lands in time.",
      NGX_HTTP_X402_STAT_CUT },

    { "x402_settlements_fee_refused_total",
      "Settlements not signed: the node's base fee was above "
      "x402_settle_max_fee.",
      NGX_HTTP_X402_STAT_FEE_REFUSED },

    { "x402_settlements_taken_over_total",
      "Served payments a reconciler settled: their worker died, or the "
      "gateway failed (node, Redis, gas, fees) and they were tried again.",
      NGX_HTTP_X402_STAT_TAKEN_OVER },

    { "x402_settlements_unpaid_total",
      "Payments served and never paid: their settlement failed for good "
      "(the payer moved the funds after an async verification, or the "
      "permit expired while the gateway could not settle).",
      NGX_HTTP_X402_STAT_UNPAID },

    { "x402_stalled_refusals_total",
      "Paid requests answered 503 because the settler's transactions "
      "stalled (none mined for x402_settle_timeout).",
      NGX_HTTP_X402_STAT_STALLED },

    { "x402_settler_resent_total",
      "Settler transactions sent again by a reconciler (the node lost them, "
      "or their worker died before sending).",
      NGX_HTTP_X402_STAT_RESENT },

    { "x402_settler_gaps_filled_total",
      "Settler nonces allocated and never signed (a worker killed between), "
      "filled by a reconciler with an empty transaction.",
      NGX_HTTP_X402_STAT_GAP_FILLED },

    { "x402_settlements_cancelled_total",
      "Settlements of sync payments whose worker died before answering: "
      "their settler nonce given an empty transaction, the payment never "
      "served, its reservation released.",
      NGX_HTTP_X402_STAT_CANCELLED },

    { "x402_bypassed_total",
      "Requests to gated locations let through ungated by x402_bypass "
      "(API-key customers beside paying agents).",
      NGX_HTTP_X402_STAT_BYPASSED },

    { "x402_free_requests_total",
      "Requests priced 0 (a free JSON-RPC method, or a batch of them): not "
      "gated.",
      NGX_HTTP_X402_STAT_FREE },

    { "x402_payments_not_charged_total",
      "Paid requests under x402_settle sync whose content answered with a "
      "status of 400 or more: nothing settled, the reservation released "
      "(the payer's permit stays usable).",
      NGX_HTTP_X402_STAT_NOT_CHARGED },

    { "x402_replays_forgotten_total",
      "Replays refused by this node's memory of the payments it admitted, "
      "although Redis had lost their reservation.",
      NGX_HTTP_X402_STAT_FORGOTTEN },

    { NULL, NULL, 0 }
};


static ngx_http_x402_status_metric_t  ngx_http_x402_status_gauges[] = {

    { "x402_parked_requests",
      "Requests waiting for the chain, Redis or a settlement.",
      NGX_HTTP_X402_GAUGE_PARKED },

    { "x402_settlement_jobs",
      "Settlement jobs running.",
      NGX_HTTP_X402_GAUGE_JOBS },

    { NULL, NULL, 0 }
};


static ngx_http_x402_status_result_t  ngx_http_x402_status_settlements[] = {
    { "settled", NGX_HTTP_X402_STAT_SETTLED },
    { "failed", NGX_HTTP_X402_STAT_SETTLE_FAILED },
    { "pending", NGX_HTTP_X402_STAT_SETTLE_PENDING },
    { "retry", NGX_HTTP_X402_STAT_SETTLE_RETRY },
    { NULL, 0 }
};


static ngx_http_x402_status_result_t  ngx_http_x402_status_reconciled[] = {
    { "settled", NGX_HTTP_X402_STAT_RECONCILED },
    { "failed", NGX_HTTP_X402_STAT_RECONCILE_FAILED },
    { NULL, 0 }
};


static ngx_http_x402_status_result_t  ngx_http_x402_status_lookups[] = {
    { "found", NGX_HTTP_X402_STAT_RECEIPT_FOUND },
    { "missing", NGX_HTTP_X402_STAT_RECEIPT_MISSING },
    { "invalid", NGX_HTTP_X402_STAT_RECEIPT_INVALID },
    { "unavailable", NGX_HTTP_X402_STAT_RECEIPT_FAILED },
    { NULL, 0 }
};

/* GET <x402_status location>: the Prometheus text format. */

ngx_int_t
ngx_http_x402_status_handler(ngx_http_request_t *r)
{
    u_char                         *p, *last;
    size_t                          size;
    ngx_int_t                       rc;
    ngx_str_t                       body, type;
    ngx_uint_t                      i, n;
    ngx_slab_pool_t                *sp;
    ngx_atomic_int_t                total;
    ngx_http_x402_status_shm_t     *st;
    ngx_http_x402_status_metric_t  *m;
    ngx_http_x402_status_reason_t  *rs;
    ngx_http_x402_main_conf_t      *xmcf;
    ngx_http_x402_status_amount_t   amounts[NGX_HTTP_X402_AMOUNT_N]
                                           [NGX_HTTP_X402_STATUS_ASSETS];

    static const char  *outcomes[] = {
        "paid", "payment_required", "allowance_required", "unavailable",
        "bad_request", "error", "preflight"
    };

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    st = ngx_http_x402_status_get(&sp);

    if (st == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "x402: no x402_status zone in this process");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = NGX_HTTP_X402_STATUS_OUT_FIXED
           + NGX_HTTP_X402_STATUS_LOCATIONS
             * (2 * NGX_HTTP_X402_STATUS_REASON_LEN + 80)
           + NGX_HTTP_X402_STATUS_REASONS
             * (2 * NGX_HTTP_X402_STATUS_REASON_LEN + 64)
           + 4 * NGX_HTTP_X402_STATUS_ASSETS
             * (X402_AMOUNT_STR_MAX + X402_ADDRESS_STR_LEN + 96);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    last = p + size;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_x402_module);

    p = ngx_slprintf(p, last,
                     "# HELP x402_build_info The module's version and the "
                     "nginx it was built for.\n"
                     "# TYPE x402_build_info gauge\n"
                     "x402_build_info{version=\"" NGX_HTTP_X402_VERSION
                     "\",nginx=\"" NGINX_VERSION "\"} 1\n");

    /* requests */

    p = ngx_slprintf(p, last,
                     "# HELP x402_requests_total Requests to x402 "
                     "locations by outcome.\n"
                     "# TYPE x402_requests_total counter\n");

    for (i = 0; i <= NGX_HTTP_X402_STAT_PREFLIGHT; i++) {
        p = ngx_slprintf(p, last, "x402_requests_total{outcome=\"%s\"} %uA\n",
                         outcomes[i], st->counter[i]);
    }

    p = ngx_slprintf(p, last,
                     "# HELP x402_location_requests_total Requests to x402 "
                     "locations by location (x402_status_label, or its "
                     "name) and outcome.\n"
                     "# TYPE x402_location_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_X402_STATUS_LOCATIONS; i++) {
        rs = &st->locations[i];

        if (!rs->used) {
            break;
        }

        ngx_memory_barrier();

        p = ngx_slprintf(p, last, "x402_location_requests_total{location=\"");
        p = ngx_http_x402_status_label(p, last, rs->name);
        p = ngx_slprintf(p, last, "\",outcome=\"%s\"} %uA\n",
                         rs->status <= NGX_HTTP_X402_STAT_PREFLIGHT
                         ? outcomes[rs->status] : "other", rs->count);
    }

    p = ngx_slprintf(p, last,
                     "# HELP x402_refusals_total 402 and 412 answers "
                     "by reason.\n"
                     "# TYPE x402_refusals_total counter\n");

    for (i = 0; i < NGX_HTTP_X402_STATUS_REASONS; i++) {
        rs = &st->reasons[i];

        if (!rs->used) {
            break;
        }

        ngx_memory_barrier();

        p = ngx_slprintf(p, last, "x402_refusals_total{status=\"%ui\","
                         "reason=\"", rs->status);
        p = ngx_http_x402_status_label(p, last, rs->name);
        p = ngx_slprintf(p, last, "\"} %uA\n", rs->count);
    }

    for (i = 0; i < 2; i++) {
        if (st->reasons_other[i]) {
            p = ngx_slprintf(p, last, "x402_refusals_total{status=\"%s\","
                             "reason=\"other\"} %uA\n",
                             i ? "412" : "402", st->reasons_other[i]);
        }
    }

    /* payments */

    p = ngx_http_x402_status_metrics(p, last, st,
                                     ngx_http_x402_status_payments);

    /* settlements */

    p = ngx_http_x402_status_results(p, last, st, "x402_settlements_total",
                                     "Settlement jobs ended, by result.",
                                     ngx_http_x402_status_settlements);

    p = ngx_http_x402_status_results(p, last, st, "x402_reconciled_total",
                                     "Broadcast or pending receipts finished "
                                     "by the reconciler, by result.",
                                     ngx_http_x402_status_reconciled);

    /* a consistent copy of the 256-bit sums */

    ngx_shmtx_lock(&sp->mutex);
    ngx_memcpy(amounts, st->amounts, sizeof(amounts));
    ngx_shmtx_unlock(&sp->mutex);

    p = ngx_http_x402_status_amounts(p, last, xmcf, "x402_settled",
                                     "Amount settled (by the settler, a "
                                     "facilitator or the reconciler)",
                                     amounts[NGX_HTTP_X402_AMOUNT_SETTLED]);
    p = ngx_http_x402_status_amounts(p, last, xmcf, "x402_unpaid",
                                     "Amount of payments served and never "
                                     "paid",
                                     amounts[NGX_HTTP_X402_AMOUNT_UNPAID]);
    p = ngx_http_x402_status_amounts(p, last, xmcf, "x402_session_settled",
                                     "Amount of upto sessions settled by "
                                     "the settler (also in x402_settled)",
                                     amounts[NGX_HTTP_X402_AMOUNT_SESSION]);
    p = ngx_http_x402_status_amounts(p, last, xmcf, "x402_channel_claimed",
                                     "Amount claimed on batch-settlement "
                                     "channels by the settler's claims",
                                     amounts[NGX_HTTP_X402_AMOUNT_CHANNEL]);

    /* each settler account's transactions: shares, a stalled one */

    if (xmcf->naccounts) {
        p = ngx_slprintf(p, last,
                         "# HELP x402_settler_transactions_total "
                         "Transactions each settler account signed and "
                         "sent (settlements, batches, deployments, channel "
                         "transactions; not the reconciler's fills).\n"
                         "# TYPE x402_settler_transactions_total counter\n");

        for (i = 0; i < xmcf->naccounts; i++) {
            n = (i < NGX_HTTP_X402_STATUS_ACCOUNTS) ? st->accounts[i] : 0;
            p = ngx_slprintf(p, last,
                             "x402_settler_transactions_total"
                             "{account=\"%s\"} %ui\n",
                             xmcf->accounts[i].text, n);
        }
    }

    /* receipts lookups */

    p = ngx_http_x402_status_results(p, last, st,
                                     "x402_receipt_lookups_total",
                                     "x402_receipts requests by result.",
                                     ngx_http_x402_status_lookups);

    /* dependencies */

    p = ngx_http_x402_status_hist(p, last, "x402_rpc",
                                  "JSON-RPC and facilitator HTTP calls",
                                  "no reply, timeout, or HTTP status "
                                  "not 2xx",
                                  &st->hist[NGX_HTTP_X402_STAT_RPC]);
    p = ngx_http_x402_status_hist(p, last, "x402_redis", "Redis commands",
                                  "no connection, timeout, or an error "
                                  "reply",
                                  &st->hist[NGX_HTTP_X402_STAT_REDIS]);

    /* gauges, summed over the live workers' slots */

    for (m = ngx_http_x402_status_gauges; m->name; m++) {
        total = 0;

        for (i = 0; i < NGX_HTTP_X402_STATUS_SLOTS; i++) {
            if (st->slots[i].pid != 0
                && ngx_http_x402_status_alive(st->slots[i].pid))
            {
                total += (ngx_atomic_int_t) st->slots[i].gauge[m->counter];
            }
        }

        p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s gauge\n%s %i\n",
                         m->name, m->help, m->name, m->name,
                         (ngx_int_t) total);
    }

    n = st->overflow;

    p = ngx_slprintf(p, last,
                     "# HELP x402_status_overflow_total Reasons or assets "
                     "that found the status tables full.\n"
                     "# TYPE x402_status_overflow_total counter\n"
                     "x402_status_overflow_total %ui\n", n);

    body.len = p - body.data;

    ngx_str_set(&type, "text/plain; version=0.0.4");

    rc = ngx_http_x402_send_content(r, NGX_HTTP_OK, &type, &body);

    return rc;
}


static u_char *
ngx_http_x402_status_metrics(u_char *p, u_char *last,
    ngx_http_x402_status_shm_t *st, ngx_http_x402_status_metric_t *m)
{
    for ( /* void */ ; m->name; m++) {
        p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s counter\n"
                         "%s %uA\n", m->name, m->help, m->name, m->name,
                         st->counter[m->counter]);
    }

    return p;
}


static u_char *
ngx_http_x402_status_results(u_char *p, u_char *last,
    ngx_http_x402_status_shm_t *st, const char *name, const char *help,
    ngx_http_x402_status_result_t *res)
{
    p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s counter\n",
                     name, help, name);

    for ( /* void */ ; res->result; res++) {
        p = ngx_slprintf(p, last, "%s{result=\"%s\"} %uA\n",
                         name, res->result, st->counter[res->counter]);
    }

    return p;
}


static u_char *
ngx_http_x402_status_amounts(u_char *p, u_char *last,
    ngx_http_x402_main_conf_t *xmcf, const char *name, const char *help,
    ngx_http_x402_status_amount_t *a)
{
    char                    dec[X402_U256_DEC_MAX];
    char                    tokens[X402_AMOUNT_STR_MAX];
    char                    addr[X402_ADDRESS_STR_LEN];
    ngx_uint_t              i, k;
    ngx_http_x402_asset_t  *as;

    p = ngx_slprintf(p, last,
                     "# HELP %s_amount_total %s, in atomic units of the asset "
                     "(exact decimal).\n# TYPE %s_amount_total counter\n",
                     name, help, name);

    for (i = 0; i < NGX_HTTP_X402_STATUS_ASSETS; i++) {
        if (!a[i].used) {
            continue;
        }

        x402_address_format(addr, &a[i].asset);
        x402_u256_format_dec(dec, &a[i].total);

        p = ngx_slprintf(p, last, "%s_amount_total{network=\"eip155:%uL\","
                         "asset=\"%s\"} %s\n", name, a[i].chain_id, addr,
                         dec);
    }

    /* in whole tokens, for dashboards: the asset's decimals as configured */

    p = ngx_slprintf(p, last,
                     "# HELP %s_tokens_total %s, in whole tokens of the asset "
                     "(x402_asset_decimals).\n# TYPE %s_tokens_total "
                     "counter\n", name, help, name);

    as = xmcf->assets ? xmcf->assets->elts : NULL;

    for (i = 0; i < NGX_HTTP_X402_STATUS_ASSETS; i++) {
        if (!a[i].used) {
            continue;
        }

        for (k = 0; as && k < xmcf->assets->nelts; k++) {
            if (as[k].chain_id == a[i].chain_id
                && x402_address_eq(&as[k].asset, &a[i].asset))
            {
                break;
            }
        }

        if (as == NULL || k == xmcf->assets->nelts) {
            continue;       /* no location offers it any more */
        }

        x402_address_format(addr, &a[i].asset);
        x402_amount_format(tokens, &a[i].total, (unsigned) as[k].decimals);

        p = ngx_slprintf(p, last, "%s_tokens_total{network=\"eip155:%uL\","
                         "asset=\"%s\"} %s\n", name, a[i].chain_id, addr,
                         tokens);
    }

    return p;
}


static u_char *
ngx_http_x402_status_hist(u_char *p, u_char *last, const char *name,
    const char *what, const char *failure, ngx_http_x402_status_hist_t *h)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  sum, count;

    count = h->count;

    /* Prometheus' base unit: seconds (the zone counts milliseconds) */

    p = ngx_slprintf(p, last,
                     "# HELP %s_duration_seconds %s: time to the reply.\n"
                     "# TYPE %s_duration_seconds histogram\n",
                     name, what, name);

    sum = 0;

    for (i = 0; i < NGX_HTTP_X402_STATUS_BUCKETS; i++) {
        sum += h->bucket[i];

        p = ngx_slprintf(p, last,
                         "%s_duration_seconds_bucket{le=\"%M.%03M\"} %uA\n",
                         name, ngx_http_x402_status_le[i] / 1000,
                         ngx_http_x402_status_le[i] % 1000, sum);
    }

    /* read apart, the total may trail the buckets: never below them */

    if (count < sum) {
        count = sum;
    }

    p = ngx_slprintf(p, last,
                     "%s_duration_seconds_bucket{le=\"+Inf\"} %uA\n"
                     "%s_duration_seconds_sum %uA.%03uA\n"
                     "%s_duration_seconds_count %uA\n"
                     "# HELP %s_errors_total %s that failed (%s).\n"
                     "# TYPE %s_errors_total counter\n"
                     "%s_errors_total %uA\n",
                     name, count, name, h->sum / 1000, h->sum % 1000,
                     name, count, name, what, failure, name, name,
                     h->errors);

    return p;
}


/* A label value: backslash, double quote and line feed escaped. */

static u_char *
ngx_http_x402_status_label(u_char *p, u_char *last, u_char *s)
{
    while (*s && p + 2 <= last) {

        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case LF:
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }

        s++;
    }

    return p;
}
