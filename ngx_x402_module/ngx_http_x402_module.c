
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_io.h"
#include "ngx_http_x402_curl.h"
#include "ngx_http_x402_redis.h"
#include "ngx_http_x402_sentinel.h"
#include "ngx_http_x402_stats.h"
#include "ngx_http_x402_admitted.h"
#include "ngx_http_x402_phase.h"
#include "ngx_http_x402_settler.h"
#include "ngx_http_x402_claim.h"
#include "ngx_http_x402_handler.h"
#include "ngx_http_x402_metrics.h"
#include "ngx_http_x402_receipts.h"
#include "ngx_http_x402_reconcile.h"
#include "ngx_http_x402_settle.h"
#include "ngx_http_x402_response.h"
#include "ngx_http_x402_usage.h"
#include "ngx_http_x402_hold.h"
#include "ngx_http_x402_end.h"
#include "ngx_http_x402_variables.h"


#define NGX_HTTP_X402_DEFAULT_NETWORK   "eip155:8453"
#define NGX_HTTP_X402_DEFAULT_ASSET                                          \
    "0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB"
#define NGX_HTTP_X402_DEFAULT_DECIMALS  18
#define NGX_HTTP_X402_MAX_DECIMALS      77
#define NGX_HTTP_X402_DEFAULT_TIMEOUT   300
/* time kept for a settlement to land before the permit expires */
#define NGX_HTTP_X402_DEFAULT_SETTLE_MARGIN  30
/* upto: the longest response admitted (an LLM stream) */
#define NGX_HTTP_X402_DEFAULT_RESPONSE_TIME  120
/* a client's clock and the request's way here, in maxTimeoutSeconds */
#define NGX_HTTP_X402_TRANSIT                10
/* Base's fees stay near 0.005 gwei; a node asking more is not trusted */
#define NGX_HTTP_X402_DEFAULT_MAX_FEE        "0.1"



static ngx_int_t ngx_http_x402_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_x402_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_x402_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_x402_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_x402_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_x402_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_x402_merge_price(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf);
static char *ngx_http_x402_check_offer(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf);

static char *ngx_http_x402_set_network(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_address(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_parse_address(ngx_conf_t *cf, const char *name,
    ngx_str_t *value, x402_address *addr);
static char *ngx_http_x402_set_decimals(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_scheme(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_max_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_rpc(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_redis_wait(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_x402_set_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_cors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_content(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_load_settler(ngx_conf_t *cf,
    ngx_http_x402_main_conf_t *xmcf, ngx_str_t *path);
static char *ngx_http_x402_facilitator_urls(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf);
static ngx_int_t ngx_http_x402_check_url(ngx_str_t *url);
static char *ngx_http_x402_set_max_fee(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_settle_batch(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_x402_check_batch(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf, ngx_http_x402_main_conf_t *xmcf);
static char *ngx_http_x402_set_factories(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_x402_checksum_ok(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value);
static char *ngx_http_x402_set_models(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_check_channel(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf, ngx_http_x402_main_conf_t *xmcf);
static char *ngx_http_x402_set_settle(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_x402_set_settler_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_x402_declare_payment_id(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf);
static ngx_int_t ngx_http_x402_add_asset(ngx_conf_t *cf,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_x402_loc_conf_t *conf);
static void ngx_http_x402_conf_error(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf, const char *fmt, ...);
static char *ngx_http_x402_check_session(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_core_loc_conf_t *clcf);
static char *ngx_http_x402_check_timing(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf);
static void ngx_http_x402_forget_keys(void *data);


static ngx_conf_enum_t  ngx_http_x402_usage_missing[] = {
    { ngx_string("cap"), NGX_HTTP_X402_USAGE_MISSING_CAP },
    { ngx_string("zero"), NGX_HTTP_X402_USAGE_MISSING_ZERO },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_x402_settle_modes[] = {
    { ngx_string("sync"), NGX_HTTP_X402_SETTLE_SYNC },
    { ngx_string("async"), NGX_HTTP_X402_SETTLE_ASYNC },
    { ngx_string("off"), NGX_HTTP_X402_SETTLE_OFF },
    { ngx_null_string, 0 }
};

static ngx_conf_enum_t  ngx_http_x402_read_bodies[] = {
    { ngx_string("model"), NGX_HTTP_X402_BODY_MODEL },
    { ngx_string("method"), NGX_HTTP_X402_BODY_METHOD },
    { ngx_string("off"), NGX_HTTP_X402_BODY_OFF },
    { ngx_null_string, 0 }
};

static ngx_conf_enum_t  ngx_http_x402_payment_ids[] = {
    { ngx_string("off"), NGX_HTTP_X402_PID_OFF },
    { ngx_string("on"), NGX_HTTP_X402_PID_ON },
    { ngx_string("required"), NGX_HTTP_X402_PID_REQUIRED },
    { ngx_null_string, 0 }
};

static ngx_conf_enum_t  ngx_http_x402_receipt_uris[] = {
    { ngx_string("path"), NGX_HTTP_X402_RECEIPT_PATH },
    { ngx_string("full"), NGX_HTTP_X402_RECEIPT_FULL },
    { ngx_null_string, 0 }
};


static ngx_int_t ngx_http_x402_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_x402_init_process(ngx_cycle_t *cycle);
static void ngx_http_x402_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_x402_commands[] = {

    { ngx_string("x402"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_x402_set_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, enable),
      NULL },

    { ngx_string("x402_network"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_network,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, network),
      NULL },

    { ngx_string("x402_asset"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_address,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, asset),
      NULL },

    { ngx_string("x402_asset_decimals"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_decimals,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, decimals),
      NULL },

    { ngx_string("x402_asset_symbol"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, asset_symbol),
      NULL },

    { ngx_string("x402_status_label"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, status_label),
      NULL },

    { ngx_string("x402_pay_to"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_address,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, pay_to),
      NULL },

    { ngx_string("x402_price"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, price),
      NULL },

    { ngx_string("x402_scheme"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_scheme,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, scheme),
      NULL },

    { ngx_string("x402_max_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_max_timeout,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, max_timeout),
      NULL },

    { ngx_string("x402_description"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, description),
      NULL },

    { ngx_string("x402_facilitator_address"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_address,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, facilitator),
      NULL },

    { ngx_string("x402_read_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, read_model),
      NULL },

    { ngx_string("x402_read_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, read_body),
      &ngx_http_x402_read_bodies },

    { ngx_string("x402_input_price"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, input_price),
      NULL },

    { ngx_string("x402_output_price"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, output_price),
      NULL },

    { ngx_string("x402_usage_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, usage_header),
      NULL },

    { ngx_string("x402_usage_missing"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, usage_missing),
      &ngx_http_x402_usage_missing },

    { ngx_string("x402_facilitator"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, facilitator_url),
      NULL },

    { ngx_string("x402_cors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_cors,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_x402_set_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_X402_CONTENT_STATUS,
      NULL },

    { ngx_string("x402_receipts"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_x402_set_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_X402_CONTENT_RECEIPTS,
      NULL },

    { ngx_string("x402_rpc"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_rpc,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, rpc),
      NULL },

    { ngx_string("x402_rpc_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, rpc_timeout),
      NULL },

    { ngx_string("x402_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_x402_set_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_redis_wait"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_x402_set_redis_wait,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, redis.timeout),
      NULL },

    { ngx_string("x402_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, timeout),
      NULL },

    { ngx_string("x402_settler_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_settler_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_payment_identifier"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, payment_id),
      &ngx_http_x402_payment_ids },

    { ngx_string("x402_bypass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_set_predicate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, bypass),
      NULL },

    { ngx_string("x402_settle"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_x402_set_settle,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, settle),
      &ngx_http_x402_settle_modes },

    { ngx_string("x402_settle_batch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_x402_set_settle_batch,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_settle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, settle_timeout),
      NULL },

    { ngx_string("x402_reconcile_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, reconcile_interval),
      NULL },

    { ngx_string("x402_settle_gas_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, gas_limit_max),
      NULL },

    { ngx_string("x402_settle_margin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, settle_margin),
      NULL },

    { ngx_string("x402_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, session),
      NULL },

    { ngx_string("x402_session_margin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, session_margin),
      NULL },

    { ngx_string("x402_session_idle"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, session_idle),
      NULL },

    { ngx_string("x402_models"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_x402_set_models,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, models),
      NULL },

    { ngx_string("x402_eip6492_factories"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_x402_set_factories,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, factories),
      NULL },

    { ngx_string("x402_claim_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, claim_interval),
      NULL },

    { ngx_string("x402_channel_withdraw_delay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, withdraw_delay),
      NULL },

    { ngx_string("x402_channel_deposit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, min_deposit),
      NULL },

    { ngx_string("x402_max_response_time"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, response_time),
      NULL },

    { ngx_string("x402_settle_max_fee"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_max_fee,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("x402_receipt_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_x402_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_x402_loc_conf_t, receipt_uri),
      &ngx_http_x402_receipt_uris },

    { ngx_string("x402_receipt_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_x402_main_conf_t, receipt_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_x402_module_ctx = {
    ngx_http_x402_preconfiguration,        /* preconfiguration */
    ngx_http_x402_postconfiguration,       /* postconfiguration */

    ngx_http_x402_create_main_conf,        /* create main configuration */
    ngx_http_x402_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_x402_create_loc_conf,         /* create location configuration */
    ngx_http_x402_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_x402_module = {
    NGX_MODULE_V1,
    &ngx_http_x402_module_ctx,             /* module context */
    ngx_http_x402_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_x402_init_module,             /* init module */
    ngx_http_x402_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_x402_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_x402_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_x402_add_variables(cf);
}


static ngx_int_t
ngx_http_x402_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_x402_main_conf_t  *xmcf;

    /*
     * after ACCESS: allow/deny, auth_basic and auth_request decide (with
     * "satisfy") before a payment is offered or taken; pushed last, it
     * runs before try_files and mirror in this phase
     */

    if (ngx_http_x402_phase_add(cf, NGX_HTTP_PRECONTENT_PHASE,
                                ngx_http_x402_precontent_handler)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_x402_cors_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* after the merge: "enabled" is known */

    xmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_x402_module);

    if ((xmcf->enabled || xmcf->status_used)
        && ngx_http_x402_status_zone(cf, xmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (xmcf->enabled && ngx_http_x402_admitted_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_x402_usage_init(cf) != NGX_OK
        || ngx_http_x402_end_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* last: the first filter to see a response, to hold it whole */
    return ngx_http_x402_hold_init(cf);
}


static void *
ngx_http_x402_create_main_conf(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_x402_main_conf_t));
    if (xmcf == NULL) {
        return NULL;
    }

    ngx_queue_init(&xmcf->jobs);

    for (i = 0; i < NGX_HTTP_X402_ACCOUNTS_MAX; i++) {
        ngx_queue_init(&xmcf->accounts[i].mined_waiting);
    }

    ngx_queue_init(&xmcf->batch_queue[0]);
    ngx_queue_init(&xmcf->batch_queue[1]);

    /*
     * set by ngx_pcalloc():
     *
     *     xmcf->x402 = NULL;
     *     xmcf->enabled = 0;
     *     xmcf->rpc = { 0, NULL };
     *     xmcf->redis.addr = NULL;
     *     xmcf->redis.name = { 0, NULL };
     *     xmcf->status_zone = NULL;
     *     xmcf->status_used = 0;
     */

    xmcf->rpc_timeout = NGX_CONF_UNSET_MSEC;
    xmcf->redis.timeout = NGX_CONF_UNSET_MSEC;
    xmcf->timeout = NGX_CONF_UNSET_MSEC;
    xmcf->receipt_ttl = NGX_CONF_UNSET;
    xmcf->settle_timeout = NGX_CONF_UNSET_MSEC;
    xmcf->reconcile_interval = NGX_CONF_UNSET_MSEC;
    xmcf->gas_limit_max = NGX_CONF_UNSET_UINT;

    return xmcf;
}


static char *
ngx_http_x402_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_x402_main_conf_t *xmcf = conf;

    ngx_conf_init_msec_value(xmcf->rpc_timeout, 3000);
    ngx_conf_init_msec_value(xmcf->redis.timeout, 1000);
    ngx_conf_init_msec_value(xmcf->timeout, 5000);
    ngx_conf_init_value(xmcf->receipt_ttl, 7 * 86400);
    ngx_conf_init_msec_value(xmcf->settle_timeout, 30000);
    ngx_conf_init_msec_value(xmcf->reconcile_interval, 10000);
    ngx_conf_init_uint_value(xmcf->gas_limit_max, 500000);

    if (!xmcf->max_fee_set) {
        (void) x402_amount_parse(&xmcf->max_fee,
                                 NGX_HTTP_X402_DEFAULT_MAX_FEE,
                                 sizeof(NGX_HTTP_X402_DEFAULT_MAX_FEE) - 1, 9);
    }

    if (xmcf->timeout == 0 || xmcf->rpc_timeout == 0
        || xmcf->redis.timeout == 0 || xmcf->receipt_ttl <= 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_timeout, x402_rpc_timeout, "
                           "x402_redis_timeout and x402_receipt_ttl must be "
                           "above zero");
        return NGX_CONF_ERROR;
    }

    /* WAIT answers within the command's own deadline */

    if (xmcf->redis.wait && xmcf->redis.wait_timeout == 0) {
        xmcf->redis.wait_timeout = xmcf->redis.timeout / 2;
    }

    if (xmcf->redis.wait
        && (xmcf->redis.wait_timeout >= xmcf->redis.timeout
            || xmcf->redis.wait_timeout == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_redis_wait's timeout %M ms must be above "
                           "0 and below x402_redis_timeout %M ms, every "
                           "command's deadline, WAIT included",
                           xmcf->redis.wait_timeout, xmcf->redis.timeout);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_x402_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_x402_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_x402_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->network = { 0, NULL };
     *     conf->asset = { 0, NULL };
     *     conf->pay_to = { 0, NULL };
     *     conf->facilitator = { 0, NULL };
     *     conf->description = { 0, NULL };
     *     conf->offer = { 0 };
     *     conf->content = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->scheme = NGX_CONF_UNSET_UINT;
    conf->settle = NGX_CONF_UNSET_UINT;
    conf->read_model = NGX_CONF_UNSET;
    conf->read_body = NGX_CONF_UNSET_UINT;
    conf->usage_missing = NGX_CONF_UNSET_UINT;
    conf->input_price = NGX_CONF_UNSET_PTR;
    conf->output_price = NGX_CONF_UNSET_PTR;
    conf->decimals = NGX_CONF_UNSET;
    conf->max_timeout = NGX_CONF_UNSET;
    conf->price = NGX_CONF_UNSET_PTR;
    conf->bypass = NGX_CONF_UNSET_PTR;
    conf->factories = NGX_CONF_UNSET_PTR;
    conf->payment_id = NGX_CONF_UNSET_UINT;
    conf->cors = NGX_CONF_UNSET_PTR;
    conf->settle_margin = NGX_CONF_UNSET;
    conf->response_time = NGX_CONF_UNSET;
    conf->receipt_uri = NGX_CONF_UNSET_UINT;
    conf->session = NGX_CONF_UNSET;
    conf->session_margin = NGX_CONF_UNSET;
    conf->session_idle = NGX_CONF_UNSET_MSEC;
    conf->settle_batch = NGX_CONF_UNSET_UINT;
    conf->settle_batch_interval = NGX_CONF_UNSET_MSEC;
    conf->claim_interval = NGX_CONF_UNSET_MSEC;
    conf->withdraw_delay = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_x402_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_x402_loc_conf_t *prev = parent;
    ngx_http_x402_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_x402_main_conf_t  *xmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->enable_file == NULL && conf->enable) {
        conf->enable_file = prev->enable_file;
        conf->enable_line = prev->enable_line;
    }
    ngx_conf_merge_ptr_value(conf->cors, prev->cors, NULL);

    xmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_x402_module);

    if (conf->content) {
        /* x402_status and x402_receipts are never gated */
        conf->enable = 0;
    }

    if (conf->content == NGX_HTTP_X402_CONTENT_RECEIPTS
        && xmcf->redis.addr == NULL && xmcf->redis.sentinel == NULL)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_receipts\" requires \"x402_redis\" "
                                 "(the receipts are kept in Redis)");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->scheme, prev->scheme, X402_SCHEME_EXACT);
    ngx_conf_merge_uint_value(conf->settle, prev->settle,
                              NGX_HTTP_X402_SETTLE_SYNC);
    ngx_conf_merge_value(conf->read_model, prev->read_model, 0);

    /* x402_read_model on is x402_read_body model */
    if (conf->read_body == NGX_CONF_UNSET_UINT && conf->read_model) {
        conf->read_body = NGX_HTTP_X402_BODY_MODEL;
    }

    ngx_conf_merge_uint_value(conf->read_body, prev->read_body,
                              NGX_HTTP_X402_BODY_OFF);
    conf->read_model = (conf->read_body == NGX_HTTP_X402_BODY_MODEL);
    ngx_conf_merge_uint_value(conf->usage_missing, prev->usage_missing,
                              NGX_HTTP_X402_USAGE_MISSING_CAP);
    ngx_conf_merge_ptr_value(conf->input_price, prev->input_price, NULL);
    ngx_conf_merge_ptr_value(conf->output_price, prev->output_price, NULL);
    ngx_conf_merge_str_value(conf->usage_header, prev->usage_header, "");
    ngx_conf_merge_value(conf->decimals, prev->decimals,
                         NGX_HTTP_X402_DEFAULT_DECIMALS);
    ngx_conf_merge_sec_value(conf->max_timeout, prev->max_timeout,
                             NGX_HTTP_X402_DEFAULT_TIMEOUT);
    ngx_conf_merge_sec_value(conf->settle_margin, prev->settle_margin,
                             NGX_HTTP_X402_DEFAULT_SETTLE_MARGIN);
    ngx_conf_merge_sec_value(conf->response_time, prev->response_time,
                             NGX_HTTP_X402_DEFAULT_RESPONSE_TIME);
    ngx_conf_merge_uint_value(conf->receipt_uri, prev->receipt_uri,
                              NGX_HTTP_X402_RECEIPT_PATH);
    ngx_conf_merge_value(conf->session, prev->session, 0);
    ngx_conf_merge_sec_value(conf->session_margin, prev->session_margin, 120);
    ngx_conf_merge_msec_value(conf->session_idle, prev->session_idle, 60000);
    ngx_conf_merge_uint_value(conf->settle_batch, prev->settle_batch, 0);
    ngx_conf_merge_msec_value(conf->settle_batch_interval,
                              prev->settle_batch_interval, 2000);
    ngx_conf_merge_msec_value(conf->claim_interval, prev->claim_interval,
                              60000);
    ngx_conf_merge_sec_value(conf->withdraw_delay, prev->withdraw_delay,
                             X402_CHANNEL_WITHDRAW_DELAY_MIN);
    ngx_conf_merge_str_value(conf->min_deposit, prev->min_deposit, "");
    ngx_conf_merge_str_value(conf->models, prev->models, "");

    ngx_conf_merge_str_value(conf->network, prev->network,
                             NGX_HTTP_X402_DEFAULT_NETWORK);
    ngx_conf_merge_str_value(conf->asset, prev->asset,
                             NGX_HTTP_X402_DEFAULT_ASSET);
    ngx_conf_merge_str_value(conf->pay_to, prev->pay_to, "");
    ngx_conf_merge_str_value(conf->asset_symbol, prev->asset_symbol, "");

    ngx_conf_merge_str_value(conf->status_label, prev->status_label, "");

    /* by default the location's own name (the merge runs with its conf) */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->status_label.len) {
        conf->status_name = conf->status_label;

    } else if (clcf->name.len) {
        conf->status_name = clcf->name;

    } else {
        ngx_str_set(&conf->status_name, "server");
    }
    ngx_conf_merge_str_value(conf->facilitator, prev->facilitator, "");
    ngx_conf_merge_str_value(conf->description, prev->description, "");
    ngx_conf_merge_str_value(conf->facilitator_url, prev->facilitator_url,
                             "");

    if (conf->facilitator_url.len
        && ngx_http_x402_facilitator_urls(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->price, prev->price, NULL);
    ngx_conf_merge_ptr_value(conf->bypass, prev->bypass, NULL);
    ngx_conf_merge_ptr_value(conf->factories, prev->factories, NULL);
    ngx_conf_merge_uint_value(conf->payment_id, prev->payment_id,
                              NGX_HTTP_X402_PID_OFF);

    if (conf->payment_id != NGX_HTTP_X402_PID_OFF
        && ngx_http_x402_declare_payment_id(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the values were validated when parsed */

    ngx_memzero(&conf->offer, sizeof(x402_offer));

    conf->offer.scheme = (x402_scheme) conf->scheme;
    conf->offer.max_timeout_seconds = (uint32_t) conf->max_timeout;

    if (x402_network_parse(&conf->offer.chain_id,
                           (const char *) conf->network.data,
                           conf->network.len)
        != X402_OK)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_network \"%V\" is invalid "
                                 "(expected \"eip155:<chain id>\")",
                                 &conf->network);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_x402_parse_address(cf, "x402_asset", &conf->asset,
                                    &conf->offer.asset)
           != NGX_CONF_OK
        || (conf->pay_to.len
            && ngx_http_x402_parse_address(cf, "x402_pay_to", &conf->pay_to,
                                           &conf->offer.pay_to)
               != NGX_CONF_OK)
        || (conf->facilitator.len
            && ngx_http_x402_parse_address(cf, "x402_facilitator_address",
                                           &conf->facilitator,
                                           &conf->offer.facilitator)
               != NGX_CONF_OK))
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_x402_merge_price(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }


    /* what people read on the 402 page: OPG's own, or a neutral word */

    if (conf->asset_symbol.len == 0) {
        if (x402_address_eq(&conf->offer.asset, &x402_opg_base_address)) {
            ngx_str_set(&conf->asset_symbol, "OPG");

        } else {
            ngx_str_set(&conf->asset_symbol, "tokens");
        }

    } else if (conf->asset_symbol.len > 32) {
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_asset_symbol \"%V\" is too long "
                                 "(at most 32 bytes)", &conf->asset_symbol);
        return NGX_CONF_ERROR;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->pay_to.len == 0) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_pay_to\" is required "
                                 "where \"x402 on\" is set");
        return NGX_CONF_ERROR;
    }

    if ((xmcf->rpc.len == 0 && conf->facilitator_url.len == 0)
        || (xmcf->redis.addr == NULL && xmcf->redis.sentinel == NULL))
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_rpc\" (or \"x402_facilitator\") and "
                                 "\"x402_redis\" are required where "
                                 "\"x402 on\" is set (payments are checked "
                                 "on chain and reserved in Redis)");
        return NGX_CONF_ERROR;
    }

    if (conf->price == NULL) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_price\" is required "
                                 "where \"x402 on\" is set");
        return NGX_CONF_ERROR;
    }

    if (conf->scheme == X402_SCHEME_UPTO && conf->facilitator.len == 0
        && xmcf->has_settler)
    {
        /* only the address signed into the witness may settle: ours */
        conf->offer.facilitator = xmcf->settler;
        ngx_str_set(&conf->facilitator, "settler");
    }

    if (conf->scheme == X402_SCHEME_UPTO && conf->facilitator.len == 0) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_facilitator_address\" (or "
                                 "\"x402_settler_key_file\") is required "
                                 "where \"x402 on\" and \"x402_scheme upto\" "
                                 "are set");
        return NGX_CONF_ERROR;
    }

    /*
     * the upto proxy takes settle(...) only from the facilitator signed
     * into the witness: without an x402_facilitator to settle, that must be
     * our own settler, or every settlement reverts and every request is free
     */

    if (conf->scheme == X402_SCHEME_UPTO && conf->facilitator_url.len == 0
        && xmcf->has_settler
        && !x402_address_eq(&conf->offer.facilitator, &xmcf->settler))
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_facilitator_address\" %V is not the "
                                 "settler of \"x402_settler_key_file\", and no "
                                 "\"x402_facilitator\" settles for it: the "
                                 "upto proxy would refuse every settlement "
                                 "(UnauthorizedFacilitator)",
                                 &conf->facilitator);
        return NGX_CONF_ERROR;
    }

    /* content served and never settled is given away: say it explicitly */

    if (!xmcf->has_settler && conf->facilitator_url.len == 0
        && conf->settle != NGX_HTTP_X402_SETTLE_OFF)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "payments would never be settled here: no "
                                 "\"x402_settler_key_file\" and no "
                                 "\"x402_facilitator\"; set one, or "
                                 "\"x402_settle off\" to verify and reserve "
                                 "payments without collecting them");
        return NGX_CONF_ERROR;
    }

    /* the settler deploys the wallets: nobody else would here */

    if (conf->factories != NULL
        && (conf->facilitator_url.len || !xmcf->has_settler
            || conf->scheme == X402_SCHEME_BATCH))
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_eip6492_factories\" needs the "
                                 "settler (\"x402_settler_key_file\"), which "
                                 "deploys the wallets, and an exact or upto "
                                 "location that it settles (not "
                                 "\"x402_facilitator\", which decides for "
                                 "itself)");
        return NGX_CONF_ERROR;
    }

    if (conf->session
        && ngx_http_x402_check_session(cf, conf, xmcf, clcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->settle_batch
        && ngx_http_x402_check_batch(cf, conf, xmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->scheme == X402_SCHEME_BATCH
        && ngx_http_x402_check_channel(cf, conf, xmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_x402_check_timing(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * x402_settle sync holds the response while it settles: nginx's own
     * wait for the client must outlast that, or the request ends unanswered
     * while its settlement goes on (x402_settle_timeout is the usual wait,
     * the settler's bound the longest, with every retry)
     */

    if (conf->settle == NGX_HTTP_X402_SETTLE_SYNC
        && conf->scheme == X402_SCHEME_EXACT
        && clcf->send_timeout <= ngx_http_x402_settler_bound(xmcf))
    {
        if (clcf->send_timeout <= xmcf->settle_timeout) {
            ngx_http_x402_conf_error(cf, conf,
                                     "\"send_timeout\" %M ms is not longer "
                                     "than x402_settle_timeout %M ms, the "
                                     "time x402_settle sync holds a "
                                     "response for its settlement: raise "
                                     "send_timeout or lower "
                                     "x402_settle_timeout",
                                     clcf->send_timeout,
                                     xmcf->settle_timeout);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"send_timeout\" %M ms is shorter than the "
                           "longest x402_settle sync may hold a response "
                           "when the node or Redis must be retried "
                           "(%M ms): such a response would end unanswered "
                           "while its settlement goes on",
                           clcf->send_timeout,
                           ngx_http_x402_settler_bound(xmcf));
    }

    /* one settler, one node: one chain (the reconciler signs on it too) */

    if (xmcf->has_settler && conf->facilitator_url.len == 0) {
        if (xmcf->chain_id == 0) {
            xmcf->chain_id = conf->offer.chain_id;

        } else if (xmcf->chain_id != conf->offer.chain_id) {
            ngx_http_x402_conf_error(cf, conf,
                                     "\"x402_network\" %V is not the network "
                                     "of the other locations the settler "
                                     "settles for (eip155:%uL): one x402_rpc "
                                     "node serves one chain",
                                     &conf->network, xmcf->chain_id);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_x402_check_offer(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_x402_add_asset(cf, xmcf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    xmcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * x402_session: upto only, settled by our own settler through the
 * reconciler (which settles a session once it is due), with a margin that
 * leaves its settlement time.  A session is bound to its location: the
 * location's name, payTo and asset.
 */

static char *
ngx_http_x402_check_session(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf,
    ngx_http_x402_main_conf_t *xmcf, ngx_http_core_loc_conf_t *clcf)
{
    u_char  *p;

    if (conf->scheme != X402_SCHEME_UPTO) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_session on\" requires "
                                 "\"x402_scheme upto\" (a session draws "
                                 "many requests on one signed cap)");
        return NGX_CONF_ERROR;
    }

    if (conf->facilitator_url.len || !xmcf->has_settler
        || xmcf->reconcile_interval == 0)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_session on\" requires "
                                 "\"x402_settler_key_file\", no "
                                 "\"x402_facilitator\", and the reconciler "
                                 "(x402_reconcile_interval above 0): "
                                 "sessions are settled by the reconciler "
                                 "once they are due");
        return NGX_CONF_ERROR;
    }

    if (conf->session_margin < NGX_HTTP_X402_GIVE_UP + 10
        || conf->session_idle < 1000)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_session_margin\" must be at least "
                                 "%d s (its settlement's time before the "
                                 "permit expires) and \"x402_session_idle\" "
                                 "at least 1 s",
                                 NGX_HTTP_X402_GIVE_UP + 10);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, clcf->name.len + 2 * X402_ADDRESS_STR_LEN + 3);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->session_bind.data = p;

    p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
    *p++ = ' ';
    x402_address_format((char *) p, &conf->offer.pay_to);
    p += ngx_strlen(p);
    *p++ = ' ';
    x402_address_format((char *) p, &conf->offer.asset);
    p += ngx_strlen(p);
    *p = '\0';

    conf->session_bind.len = p - conf->session_bind.data;

    return NGX_CONF_OK;
}


/*
 * x402_eip6492_factories address ...: the factories whose wallets the
 * settler deploys for a payer that signed before its wallet existed
 * (ERC-6492), the reference facilitator's eip6492AllowedFactories.
 */

static char *
ngx_http_x402_set_factories(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t      *value;
    ngx_uint_t      i, k;
    ngx_array_t   **list;
    x402_address   *a, *all;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(x402_address));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        a = ngx_array_push(*list);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_x402_parse_address(cf, (const char *) cmd->name.data,
                                        &value[i], a)
            != NGX_CONF_OK
            || ngx_http_x402_checksum_ok(cf, &cmd->name, &value[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        all = (*list)->elts;

        for (k = 0; k + 1 < (*list)->nelts; k++) {
            if (x402_address_eq(&all[k], a)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V \"%V\" is listed twice",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


/*
 * x402_models name ...: the models a location prices, named to a client
 * that asks for another (a map's keys cannot be read back); kept as the
 * text "a, b, c".  Names are JSON-safe: no quote, backslash or control.
 */

static char *
ngx_http_x402_set_models(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char      *q;
    size_t       len;
    ngx_str_t   *value, *models;
    ngx_uint_t   i, k;

    models = (ngx_str_t *) (p + cmd->offset);

    if (models->data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    len = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        for (k = 0; k < value[i].len; k++) {
            if (value[i].data[k] < 0x20 || value[i].data[k] == '"'
                || value[i].data[k] == '\\' || value[i].data[k] == 0x7f)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V \"%V\" is invalid (a model name "
                                   "has no quote, backslash or control "
                                   "character)", &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        len += value[i].len + 2;
    }

    models->data = ngx_pnalloc(cf->pool, len);
    if (models->data == NULL) {
        return NGX_CONF_ERROR;
    }

    q = models->data;

    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *q++ = ',';
            *q++ = ' ';
        }

        q = ngx_cpymem(q, value[i].data, value[i].len);
    }

    models->len = q - models->data;

    return NGX_CONF_OK;
}


/*
 * x402_scheme batch-settlement: channels the settler claims, so it must be
 * the channel's receiverAuthorizer; a claim interval the withdraw delay
 * leaves room for (a payer's withdrawal would otherwise outrun claims).
 */

static char *
ngx_http_x402_check_channel(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf,
    ngx_http_x402_main_conf_t *xmcf)
{
    const char  *why;

    why = NULL;

    if (!xmcf->has_settler || conf->facilitator_url.len) {
        why = "\"x402_settler_key_file\" and no \"x402_facilitator\" (the "
              "settler submits deposits and claims vouchers as the channels' "
              "receiverAuthorizer)";

    } else if (conf->settle == NGX_HTTP_X402_SETTLE_OFF) {
        why = "settlement on (not \"x402_settle off\")";

    } else if (conf->session) {
        why = "no \"x402_session\" (an upto feature)";

    } else if (conf->settle_batch) {
        why = "no \"x402_settle_batch\" (an exact feature)";

    } else if (conf->input_price != NULL
               || conf->read_body == NGX_HTTP_X402_BODY_METHOD)
    {
        why = "a fixed price per request (no \"x402_input_price\" or "
              "\"x402_read_body method\")";
    }

    if (why != NULL) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_scheme batch-settlement\" requires "
                                 "%s", why);
        return NGX_CONF_ERROR;
    }

    if (conf->withdraw_delay < X402_CHANNEL_WITHDRAW_DELAY_MIN
        || conf->withdraw_delay > X402_CHANNEL_WITHDRAW_DELAY_MAX)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_channel_withdraw_delay\" %T s is "
                                 "out of the contract's range (15m to 30d)",
                                 conf->withdraw_delay);
        return NGX_CONF_ERROR;
    }

    if (conf->claim_interval < 1000
        || conf->claim_interval * 3 > (ngx_msec_t) conf->withdraw_delay * 1000)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_claim_interval\" %M ms must be at "
                                 "least 1s and at most a third of "
                                 "\"x402_channel_withdraw_delay\" (%T s), so "
                                 "that vouchers are claimed well before a "
                                 "payer's withdrawal can complete",
                                 conf->claim_interval, conf->withdraw_delay);
        return NGX_CONF_ERROR;
    }

    conf->offer.receiver_authorizer = xmcf->settler;
    conf->offer.withdraw_delay = (uint64_t) conf->withdraw_delay;

    if (conf->min_deposit.len) {
        if (x402_amount_parse(&conf->offer.min_deposit,
                              (const char *) conf->min_deposit.data,
                              conf->min_deposit.len,
                              (unsigned) conf->decimals)
            != X402_OK)
        {
            ngx_http_x402_conf_error(cf, conf,
                                     "\"x402_channel_deposit\" \"%V\" is "
                                     "not an amount of the asset",
                                     &conf->min_deposit);
            return NGX_CONF_ERROR;
        }

        conf->offer.has_min_deposit = 1;

        /* the official client ignores a minDeposit below the price */
        if (conf->price != NULL && conf->price->lengths == NULL
            && x402_u256_cmp(&conf->offer.min_deposit, &conf->offer.amount)
               < 0)
        {
            ngx_http_x402_conf_error(cf, conf,
                                     "\"x402_channel_deposit\" \"%V\" is "
                                     "below the price: clients would ignore "
                                     "it", &conf->min_deposit);
            return NGX_CONF_ERROR;
        }
    }

    if (xmcf->claim_tick == 0 || conf->claim_interval < xmcf->claim_tick) {
        xmcf->claim_tick = conf->claim_interval;
    }

    return NGX_CONF_OK;
}


/*
 * x402_settle_batch: exact payments settled by our own settler, many in
 * one transaction (flow/batch.c).
 */

static char *
ngx_http_x402_check_batch(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf,
    ngx_http_x402_main_conf_t *xmcf)
{
    if (conf->scheme != X402_SCHEME_EXACT || conf->facilitator_url.len
        || !xmcf->has_settler || conf->settle == NGX_HTTP_X402_SETTLE_OFF)
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_settle_batch\" requires "
                                 "\"x402_scheme exact\", \"x402_settler_"
                                 "key_file\", no \"x402_facilitator\" and "
                                 "settlement on: it batches the settler's "
                                 "own exact settlements");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A payment is admitted only with time left on its permit for what follows
 * it (x402.h, x402_verify_local): its settlement (x402_settle_margin) and,
 * for upto, which settles once the response is over, the longest response
 * (x402_max_response_time).  The client signs its deadline as now +
 * maxTimeoutSeconds: an offer shorter than that, plus the request's way
 * here, would refuse every payment.
 */

static char *
ngx_http_x402_check_timing(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf)
{
    u_char  batch[64];
    time_t  need, least;

    if (conf->settle_margin <= 0
        || (conf->scheme == X402_SCHEME_UPTO && conf->response_time <= 0))
    {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_settle_margin\" and (with upto) "
                                 "\"x402_max_response_time\" must be above "
                                 "zero");
        return NGX_CONF_ERROR;
    }

    need = ngx_http_x402_min_left(conf);
    least = need + NGX_HTTP_X402_TRANSIT;

    if (conf->max_timeout >= least) {
        return NGX_CONF_OK;
    }

    if (conf->scheme == X402_SCHEME_UPTO) {
        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_max_timeout\" %T is too short here: "
                                 "an upto payment must arrive with %T s left "
                                 "on its permit (x402_max_response_time %T + "
                                 "%s %T + %d s of block time), plus %d s for "
                                 "its way here: set it to at least %T",
                                 conf->max_timeout, need, conf->response_time,
                                 conf->session ? "x402_session_margin"
                                               : "x402_settle_margin",
                                 conf->session ? conf->session_margin
                                               : conf->settle_margin,
                                 X402_DEADLINE_MARGIN, NGX_HTTP_X402_TRANSIT,
                                 least);

    } else {
        /* a batched payment waits for its batch first */
        *ngx_sprintf(batch, " + x402_settle_batch interval %T s",
                     (time_t) (conf->settle_batch_interval + 999) / 1000)
            = '\0';

        ngx_http_x402_conf_error(cf, conf,
                                 "\"x402_max_timeout\" %T is too short here: a "
                                 "payment must arrive with %T s left on its "
                                 "permit (x402_settle_margin %T + %d s of "
                                 "block time%s), plus %d s for its way here: "
                                 "set it to at least %T",
                                 conf->max_timeout, need, conf->settle_margin,
                                 X402_DEADLINE_MARGIN,
                                 conf->settle_batch ? (char *) batch : "",
                                 NGX_HTTP_X402_TRANSIT, least);
    }

    return NGX_CONF_ERROR;
}


static char *
ngx_http_x402_merge_price(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf)
{
    x402_err  err;

    if (conf->price == NULL || conf->price->lengths != NULL) {
        /* no price, or one evaluated per request */
        return NGX_CONF_OK;
    }

    err = x402_amount_parse(&conf->offer.amount,
                            (const char *) conf->price->value.data,
                            conf->price->value.len,
                            (unsigned) conf->decimals);

    switch (err) {

    case X402_OK:
        return NGX_CONF_OK;

    case X402_ERR_VALUE:
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_price \"%V\" has more decimals than "
                                 "x402_asset_decimals %i",
                                 &conf->price->value, conf->decimals);
        break;

    case X402_ERR_OVERFLOW:
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_price \"%V\" is too large (the amount "
                                 "must be below 2^256 atomic units)",
                                 &conf->price->value);
        break;

    default:
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_price \"%V\" is not a valid amount "
                                 "(expected a decimal number such as 0.001)",
                                 &conf->price->value);
        break;
    }

    return NGX_CONF_ERROR;
}


/*
 * Encode the offer of an enabled location once at start-up, so that what
 * the lib would refuse at request time (e.g. an x402_description that is
 * not UTF-8) is reported by "nginx -t" instead.
 */

static char *
ngx_http_x402_check_offer(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf)
{
    x402_err       err;
    ngx_str_t      json, header;
    x402_resource  resource;

    resource.url = "http://localhost/";
    resource.description = conf->description.len
                           ? (const char *) conf->description.data : NULL;
    resource.mime_type = NULL;

    err = ngx_http_x402_encode_payment_required(cf->temp_pool, &json, &header,
                                                "Payment required",
                                                &resource, &conf->offer,
                                                NULL, &conf->extensions_json);

    /*
     * a static price: the accepts array is the same for every answer (not
     * with x402_read_body method: a literal price counts per call)
     */

    if (err == X402_OK && conf->price->lengths == NULL
        && conf->read_body != NGX_HTTP_X402_BODY_METHOD)
    {
        err = ngx_http_x402_encode_accepts(cf->pool, &conf->accepts_json,
                                           &conf->offer);
    }

    if (err == X402_OK) {
        return NGX_CONF_OK;
    }

    if (conf->description.len) {
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_description \"%V\" cannot be sent in a "
                                 "payment offer (it must be UTF-8 text): %s",
                                 &conf->description, x402_strerror(err));

    } else {
        ngx_http_x402_conf_error(cf, conf,
                                 "x402: the payment offer cannot be "
                                 "encoded: %s", x402_strerror(err));
    }

    return NGX_CONF_ERROR;
}


static char *
ngx_http_x402_set_network(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    uint64_t    chain_id;
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (x402_network_parse(&chain_id, (const char *) value[1].data,
                           value[1].len)
        != X402_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is invalid "
                           "(expected \"eip155:<chain id>\")",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_x402_set_address(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t      *field, *value;
    x402_address    addr;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* checked where it is written, so that nginx -t names the line */

    if (ngx_http_x402_parse_address(cf, (const char *) cmd->name.data,
                                    &value[1], &addr)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_x402_checksum_ok(cf, &cmd->name, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


/*
 * A one-letter typo is another address, and money sent there is lost:
 * a mixed-case address must pass EIP-55; one of a single case is only
 * warned about.
 */

static ngx_int_t
ngx_http_x402_checksum_ok(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *value)
{
    x402_checksum  cs;

    (void) x402_address_checksum(&cs, (const char *) value->data,
                                 value->len);

    if (cs == X402_CHECKSUM_WRONG) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" fails its EIP-55 checksum (the case "
                           "of its letters): a character of it is wrong; "
                           "copy the address again from its source",
                           name, value);
        return NGX_ERROR;
    }

    if (cs == X402_CHECKSUM_NONE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%V \"%V\" is all one case: its EIP-55 checksum "
                           "could not be checked (write it checksummed, "
                           "as a wallet or block explorer shows it)",
                           name, value);
    }

    return NGX_OK;
}


/* An address directive's value into bytes, or a clear nginx -t error. */

static char *
ngx_http_x402_parse_address(ngx_conf_t *cf, const char *name,
    ngx_str_t *value, x402_address *addr)
{
    if (x402_address_parse(addr, (const char *) value->data, value->len)
        == X402_OK)
    {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s \"%V\" is not a valid address "
                       "(expected 0x followed by 40 hex digits)",
                       name, value);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_x402_set_decimals(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t  *np;
    ngx_str_t  *value;

    np = (ngx_int_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *np = ngx_atoi(value[1].data, value[1].len);

    if (*np == NGX_ERROR || *np > NGX_HTTP_X402_MAX_DECIMALS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is invalid "
                           "(expected an integer from 0 to %d)",
                           &cmd->name, &value[1], NGX_HTTP_X402_MAX_DECIMALS);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_x402_set_scheme(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t    *value;
    ngx_uint_t   *np;
    x402_scheme   scheme;

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    scheme = x402_scheme_parse((const char *) value[1].data, value[1].len);

    if (scheme == X402_SCHEME_UNKNOWN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is invalid "
                           "(expected \"exact\", \"upto\" or "
                           "\"batch-settlement\")",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    *np = scheme;

    return NGX_CONF_OK;
}


static char *
ngx_http_x402_set_max_timeout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    time_t     *sp;
    ngx_str_t  *value;

    sp = (time_t *) (p + cmd->offset);

    if (*sp != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *sp = ngx_parse_time(&value[1], 1);

    if (*sp == (time_t) NGX_ERROR || *sp <= 0
        || (uint64_t) *sp > NGX_MAX_UINT32_VALUE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is invalid (expected a time "
                           "from 1s to 4294967295s, e.g. 300 or 5m)",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_x402_init_module(ngx_cycle_t *cycle)
{
    /* the io layer's calls are timed into the metrics (x402_status) */
    ngx_http_x402_io_set_timed(ngx_http_x402_stat_latency);

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_init_process(ngx_cycle_t *cycle)
{
    u_char                      seed[32];
    ssize_t                     n;
    ngx_fd_t                    fd;
    ngx_http_x402_main_conf_t  *xmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    xmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_x402_module);

    if (xmcf == NULL || !xmcf->enabled) {
        return NGX_OK;
    }

    /* a blocking read is acceptable once, before any request */

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "x402: " ngx_open_file_n " \"/dev/urandom\" failed");
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, seed, sizeof(seed));

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "x402: " ngx_close_file_n " \"/dev/urandom\" failed");
    }

    if (n != (ssize_t) sizeof(seed)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "x402: " ngx_read_fd_n " \"/dev/urandom\" failed");
        return NGX_ERROR;
    }

    xmcf->x402 = x402_context_create(seed);

    ngx_explicit_memzero(seed, sizeof(seed));

    if (xmcf->x402 == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "x402: x402_context_create() failed");
        return NGX_ERROR;
    }

    ngx_http_x402_status_init_process();
    ngx_http_x402_sentinel_start(&xmcf->redis);
    ngx_http_x402_claim_init(cycle, xmcf);

    return ngx_http_x402_reconcile_init(cycle, xmcf,
                                        ngx_http_x402_settle_receipt);
}


static void
ngx_http_x402_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_x402_main_conf_t  *xmcf;

    xmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_x402_module);

    ngx_http_x402_reconcile_exit(cycle);
    ngx_http_x402_curl_exit(cycle);
    ngx_http_x402_redis_exit(cycle);

    if (xmcf != NULL) {
        ngx_http_x402_forget_keys(xmcf);
    }

    if (xmcf == NULL || xmcf->x402 == NULL) {
        return;
    }

    x402_context_destroy(xmcf->x402);
    xmcf->x402 = NULL;
}


static char *
ngx_http_x402_set_rpc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    ngx_str_t  *url;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    url = &((ngx_http_x402_main_conf_t *) conf)->rpc;

    if (ngx_http_x402_check_url(url) == NGX_OK) {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "x402_rpc \"%V\" is invalid (expected an http:// or "
                       "https:// URL of a JSON-RPC node)", url);
    return NGX_CONF_ERROR;
}


/*
 * x402_cors off | * | <origin> | <value with variables>: the
 * Access-Control-Allow-Origin of the module's answers and of paid
 * responses; a value that evaluates to "" means no CORS headers.
 */

static char *
ngx_http_x402_set_cors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_loc_conf_t *xlcf = conf;

    ngx_str_t                         *value;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    if (xlcf->cors != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        xlcf->cors = NULL;
        return NGX_CONF_OK;
    }

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cv->lengths == NULL
        && !(value[1].len == 1 && value[1].data[0] == '*')
        && ngx_http_x402_check_url(&value[1]) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_cors \"%V\" is invalid (expected off, *, "
                           "an origin such as https://app.example.com, or "
                           "a value with variables)", &value[1]);
        return NGX_CONF_ERROR;
    }

    xlcf->cors = cv;

    return NGX_CONF_OK;
}


/* x402_status; and x402_receipts;: the location's content handler */

static char *
ngx_http_x402_set_content(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_loc_conf_t *xlcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_x402_main_conf_t  *xmcf;

    if (xlcf->content) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    xlcf->content = cmd->offset;

    if (cmd->offset == NGX_HTTP_X402_CONTENT_STATUS) {
        clcf->handler = ngx_http_x402_status_handler;

        xmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_x402_module);
        xmcf->status_used = 1;

    } else {
        clcf->handler = ngx_http_x402_receipts_handler;
    }

    return NGX_CONF_OK;
}


/*
 * x402_redis_wait N [timeout]: every write acknowledged by N replicas
 * (WAIT) within timeout (default: half of x402_redis_timeout, and less
 * than it), else it fails as Redis being unavailable.
 */

static char *
ngx_http_x402_set_redis_wait(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_main_conf_t *xmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t   ms;

    if (xmcf->redis.wait) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_redis_wait \"%V\" is invalid (expected "
                           "the number of replicas, 1 to 16)", &value[1]);
        return NGX_CONF_ERROR;
    }

    ms = 0;

    if (cf->args->nelts == 3) {
        ms = ngx_parse_time(&value[2], 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "x402_redis_wait timeout \"%V\" is invalid",
                               &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    xmcf->redis.wait = (ngx_uint_t) n;
    xmcf->redis.wait_timeout = ms;

    return NGX_CONF_OK;
}


/* x402_redis IP[:PORT]: numeric only, as hiredis would resolve names
 * with a blocking lookup */

static char *
ngx_http_x402_set_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_main_conf_t *xmcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_addr_t  *addr;

    if (xmcf->redis.addr != NULL || xmcf->redis.sentinel != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len >= sizeof("sentinel:") - 1
        && ngx_strncmp(value[1].data, "sentinel:", sizeof("sentinel:") - 1)
           == 0)
    {
        return ngx_http_x402_sentinel_conf(cf, &xmcf->redis, &value[1],
                                           cf->args->nelts - 1);
    }

    if (cf->args->nelts > 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_redis takes one address, or "
                           "\"sentinel:NAME\" and the sentinels' addresses");
        return NGX_CONF_ERROR;
    }

    addr = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (addr == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_parse_addr_port(cf->pool, addr, value[1].data, value[1].len);

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_redis \"%V\" is invalid (expected a "
                           "numeric address such as 127.0.0.1:6379)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_inet_get_port(addr->sockaddr) == 0) {
        ngx_inet_set_port(addr->sockaddr, 6379);
    }

    xmcf->redis.addr = addr;
    xmcf->redis.name = value[1];

    return NGX_CONF_OK;
}


/* ngx_conf_set_enum_slot, with an error that names the allowed values. */

static char *
ngx_http_x402_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char           *p, *last, list[128];
    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_conf_enum_t  *e;

    e = cmd->post;
    value = cf->args->elts;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            return ngx_conf_set_enum_slot(cf, cmd, conf);
        }
    }

    p = list;
    last = list + sizeof(list);

    for (i = 0; e[i].name.len; i++) {
        p = ngx_slprintf(p, last, "%s%V", i ? " or " : "", &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%V \"%V\" is invalid (expected %*s)",
                       &cmd->name, &value[1], p - list, list);

    return NGX_CONF_ERROR;
}


/* The 402's "extensions": the payment-identifier declaration. */

static ngx_int_t
ngx_http_x402_declare_payment_id(ngx_conf_t *cf,
    ngx_http_x402_loc_conf_t *conf)
{
    size_t  len;
    u_char  buf[1024];

    len = sizeof(buf);

    if (x402_payment_identifier_declare((char *) buf, &len,
                                        conf->payment_id
                                        == NGX_HTTP_X402_PID_REQUIRED)
        != X402_OK)
    {
        return NGX_ERROR;
    }

    conf->extensions_json.data = ngx_pnalloc(cf->pool, len);
    if (conf->extensions_json.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(conf->extensions_json.data, buf, len);
    conf->extensions_json.len = len;

    return NGX_OK;
}


/* The offer's asset and its decimals, for the metrics in whole tokens. */

static ngx_int_t
ngx_http_x402_add_asset(ngx_conf_t *cf, ngx_http_x402_main_conf_t *xmcf,
    ngx_http_x402_loc_conf_t *conf)
{
    ngx_uint_t              i;
    ngx_http_x402_asset_t  *a;

    if (xmcf->assets == NULL) {
        xmcf->assets = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_x402_asset_t));
        if (xmcf->assets == NULL) {
            return NGX_ERROR;
        }
    }

    a = xmcf->assets->elts;

    for (i = 0; i < xmcf->assets->nelts; i++) {
        if (a[i].chain_id == conf->offer.chain_id
            && x402_address_eq(&a[i].asset, &conf->offer.asset))
        {
            if (a[i].decimals != (ngx_uint_t) conf->decimals) {
                ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                   "x402_asset %V is given %i decimals here "
                                   "and %ui elsewhere: its metrics in tokens "
                                   "use %ui", &conf->asset, conf->decimals,
                                   a[i].decimals, a[i].decimals);
            }

            return NGX_OK;
        }
    }

    a = ngx_array_push(xmcf->assets);
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->chain_id = conf->offer.chain_id;
    a->asset = conf->offer.asset;
    a->decimals = (ngx_uint_t) conf->decimals;

    return NGX_OK;
}


/* x402 on|off, and where it is written: errors found later point at it. */

static char *
ngx_http_x402_set_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_loc_conf_t *xlcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK && xlcf->enable) {
        xlcf->enable_file = cf->conf_file->file.name.data;
        xlcf->enable_line = cf->conf_file->line;
    }

    return rv;
}


/* The key is read where the directive is, so that nginx -t names it. */

static char *
ngx_http_x402_set_settler_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_x402_main_conf_t *xmcf = conf;

    ngx_str_t  *value, path;

    value = cf->args->elts;
    path = value[1];

    /* one account a file: each its own nonce sequence */

    if (xmcf->naccounts == NGX_HTTP_X402_ACCOUNTS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_settler_key_file: at most %d accounts",
                           NGX_HTTP_X402_ACCOUNTS_MAX);
        return NGX_CONF_ERROR;
    }

    return ngx_http_x402_load_settler(cf, xmcf, &path);
}


/*
 * An error found when a location is merged: at the end of the http block
 * for nginx, so it names the location and points at its "x402 on".
 */

static void
ngx_http_x402_conf_error(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf,
    const char *fmt, ...)
{
    u_char                    *p, buf[NGX_MAX_CONF_ERRSTR];
    va_list                    args;
    ngx_str_t                  where;
    ngx_http_core_loc_conf_t  *clcf;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (conf->enable_file == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - buf, buf);
        return;
    }

    /* the merge runs with the location's own configuration as cf's */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->name.len == 0) {
        /* the server's (or http's) own configuration */
        ngx_str_set(&where, "the server block");

    } else {
        where.len = sizeof("location \"\"") - 1 + clcf->name.len;
        where.data = ngx_pnalloc(cf->pool, where.len);

        if (where.data == NULL) {
            return;
        }

        ngx_sprintf(where.data, "location \"%V\"", &clcf->name);
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "%*s, in %V (its \"x402 on\" is in %s:%ui)",
                  p - buf, buf, &where, conf->enable_file, conf->enable_line);
}


/*
 * x402_settle sync [before_content] | async | off: "before_content" is
 * for content that must never be produced unpaid (the settlement runs
 * before it, so a backend error is paid too).
 */

static char *
ngx_http_x402_set_settle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_loc_conf_t *xlcf = conf;

    char       *rv;
    ngx_str_t  *value;

    rv = ngx_http_x402_set_enum(cf, cmd, conf);

    if (rv != NGX_CONF_OK || cf->args->nelts == 2) {
        return rv;
    }

    value = cf->args->elts;

    if (xlcf->settle != NGX_HTTP_X402_SETTLE_SYNC
        || ngx_strcmp(value[2].data, "before_content") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V %V\" is invalid (expected \"sync\", "
                           "\"sync before_content\", \"async\" or \"off\")",
                           &cmd->name, &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    xlcf->settle = NGX_HTTP_X402_SETTLE_BEFORE_CONTENT;

    return NGX_CONF_OK;
}


/*
 * x402_settle_batch off | SIZE [INTERVAL]: exact payments wait for their
 * batch, sent when SIZE wait or INTERVAL (2s) after the first.
 */

static char *
ngx_http_x402_set_settle_batch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_x402_loc_conf_t *xlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;
    ngx_msec_t  interval;

    if (xlcf->settle_batch != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no interval with \"off\"";
        }

        xlcf->settle_batch = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 2 || n > X402_BATCH_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_settle_batch \"%V\" is invalid (expected "
                           "\"off\" or a size from 2 to %d: payments in "
                           "one transaction)", &value[1], X402_BATCH_MAX);
        return NGX_CONF_ERROR;
    }

    interval = 2000;

    if (cf->args->nelts == 3) {
        interval = ngx_parse_time(&value[2], 0);

        if (interval == (ngx_msec_t) NGX_ERROR || interval < 100
            || interval > 60000)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "x402_settle_batch interval \"%V\" is "
                               "invalid (expected 100ms to 60s: the longest "
                               "a payment waits for its batch)", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    xlcf->settle_batch = (ngx_uint_t) n;
    xlcf->settle_batch_interval = interval;

    return NGX_CONF_OK;
}


/*
 * x402_settle_max_fee GWEI: the most the settler pays per unit of gas
 * (maxFeePerGas), whatever the node says the fees are: a broken or hostile
 * node cannot make settlements cost more than this.
 */

static char *
ngx_http_x402_set_max_fee(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_x402_main_conf_t *xmcf = conf;

    ngx_str_t  *value;
    x402_u256   zero;

    if (xmcf->max_fee_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&zero, sizeof(x402_u256));

    if (x402_amount_parse(&xmcf->max_fee, (const char *) value[1].data,
                          value[1].len, 9)
        != X402_OK
        || x402_u256_cmp(&xmcf->max_fee, &zero) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_settle_max_fee \"%V\" is invalid "
                           "(expected a fee per gas in gwei above zero, "
                           "with at most 9 decimals, e.g. 0.1)", &value[1]);
        return NGX_CONF_ERROR;
    }

    xmcf->max_fee_set = 1;

    return NGX_CONF_OK;
}


/* The settler's keys leave no copy in a configuration pool that is freed. */

static void
ngx_http_x402_forget_keys(void *data)
{
    ngx_http_x402_main_conf_t *xmcf = data;

    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_X402_ACCOUNTS_MAX; i++) {
        ngx_explicit_memzero(xmcf->accounts[i].key,
                             sizeof(xmcf->accounts[i].key));
    }
}


/*
 * Reads the settler's private key (hex, optionally 0x-prefixed) at load
 * time, as root in the master.  The file must not be accessible by others;
 * neither the key nor the file's content is ever logged.
 */

static char *
ngx_http_x402_load_settler(ngx_conf_t *cf, ngx_http_x402_main_conf_t *xmcf,
    ngx_str_t *path)
{
    u_char                    *p, *last, buf[256];
    size_t                     len;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_uint_t                 i;
    x402_context              *x402;
    ngx_file_info_t            fi;
    ngx_pool_cleanup_t        *cln;
    ngx_http_x402_account_t   *acct;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    acct = &xmcf->accounts[xmcf->naccounts];

    /*
     * zeroed when this configuration's pool goes: after a reload, or a
     * reload that failed (the master keeps no copy of an old key)
     */

    if (xmcf->naccounts == 0) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_x402_forget_keys;
        cln->data = xmcf;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "x402_settler_key_file \"%V\" cannot be opened",
                           path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "x402_settler_key_file \"%V\": "
                           ngx_fd_info_n " failed", path);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_access(&fi) & 0007) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_settler_key_file \"%V\" is accessible by "
                           "others (mode %04uo); it holds a private key: "
                           "chmod 600 or 640 it",
                           path, (ngx_uint_t) ngx_file_access(&fi));
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));
    (void) ngx_close_file(fd);

    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "x402_settler_key_file \"%V\" cannot be read",
                           path);
        return NGX_CONF_ERROR;
    }

    p = buf;
    last = buf + n;

    while (last > p && (last[-1] == LF || last[-1] == CR
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    if (last - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2;
    }

    len = sizeof(acct->key);

    x402 = x402_context_create(NULL);

    if (x402 == NULL
        || x402_hex_decode(acct->key, &len, (const char *) p, last - p)
           != X402_OK
        || len != sizeof(acct->key)
        || x402_address_from_privkey(x402, &acct->address, acct->key)
           != X402_OK)
    {
        ngx_explicit_memzero(buf, sizeof(buf));
        ngx_explicit_memzero(acct->key, sizeof(acct->key));

        if (x402) {
            x402_context_destroy(x402);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "x402_settler_key_file \"%V\" does not hold a "
                           "private key (expected 64 hex digits)", path);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(buf, sizeof(buf));
    x402_context_destroy(x402);

    for (i = 0; i < xmcf->naccounts; i++) {
        if (x402_address_eq(&xmcf->accounts[i].address, &acct->address)) {
            ngx_explicit_memzero(acct->key, sizeof(acct->key));
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "x402_settler_key_file \"%V\" holds the "
                               "key of an account given before (%s): two "
                               "files of one account would send two "
                               "transactions of one nonce", path,
                               xmcf->accounts[i].text);
            return NGX_CONF_ERROR;
        }
    }

    acct->xmcf = xmcf;
    acct->index = xmcf->naccounts;
    x402_address_format(acct->text, &acct->address);

    /* the account's transaction nonces, shared through Redis */

    acct->nonce_key = ngx_pnalloc(cf->pool, sizeof("x402:settler::nonce")
                                            + X402_ADDRESS_STR_LEN);
    acct->released_key = ngx_pnalloc(cf->pool,
                                     sizeof("x402:settler::released")
                                     + X402_ADDRESS_STR_LEN);
    acct->txs_key = ngx_pnalloc(cf->pool, sizeof("x402:settler::txs")
                                          + X402_ADDRESS_STR_LEN);
    if (acct->nonce_key == NULL || acct->released_key == NULL
        || acct->txs_key == NULL)
    {
        return NGX_CONF_ERROR;
    }

    *ngx_sprintf((u_char *) acct->nonce_key, "x402:settler:%s:nonce",
                 acct->text) = '\0';
    *ngx_sprintf((u_char *) acct->released_key, "x402:settler:%s:released",
                 acct->text) = '\0';
    *ngx_sprintf((u_char *) acct->txs_key, "x402:settler:%s:txs",
                 acct->text) = '\0';

    xmcf->naccounts++;

    if (acct->index == 0) {
        /* the address offers name (upto, channels): the first */
        xmcf->has_settler = 1;
        xmcf->settler = acct->address;
    }

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                       "x402: settling from %s%s", acct->text,
                       acct->index ? " too" : "");

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_x402_check_url(ngx_str_t *url)
{
    if ((url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                         == 0)
        || (url->len > 8
            && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0))
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/* x402_facilitator URL: its /verify and /settle, computed once. */

static char *
ngx_http_x402_facilitator_urls(ngx_conf_t *cf, ngx_http_x402_loc_conf_t *conf)
{
    size_t      len;
    ngx_str_t  *url;

    url = &conf->facilitator_url;

    if (ngx_http_x402_check_url(url) != NGX_OK) {
        ngx_http_x402_conf_error(cf, conf,
                                 "x402_facilitator \"%V\" is invalid (expected "
                                 "an http:// or https:// URL)", url);
        return NGX_CONF_ERROR;
    }

    if (conf->verify_url.len) {
        return NGX_CONF_OK;
    }

    len = url->len;

    while (len && url->data[len - 1] == '/') {
        len--;
    }

    conf->verify_url.data = ngx_pnalloc(cf->pool, len + sizeof("/verify"));
    conf->settle_url.data = ngx_pnalloc(cf->pool, len + sizeof("/settle"));

    if (conf->verify_url.data == NULL || conf->settle_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->verify_url.len = ngx_sprintf(conf->verify_url.data, "%*s/verify%Z",
                                       len, url->data)
                           - conf->verify_url.data - 1;
    conf->settle_url.len = ngx_sprintf(conf->settle_url.data, "%*s/settle%Z",
                                       len, url->data)
                           - conf->settle_url.data - 1;

    return NGX_CONF_OK;
}
