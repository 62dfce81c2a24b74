/*
 * Error texts, verification reason strings, scheme names and the
 * canonical contract addresses.
 */

#include <string.h>

#include "x402.h"


/* 0x000000000022D473030F116dDEE9F6B43aC78BA3 */
const x402_address  x402_permit2_address = { {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0xd4, 0x73, 0x03, 0x0f,
    0x11, 0x6d, 0xde, 0xe9, 0xf6, 0xb4, 0x3a, 0xc7, 0x8b, 0xa3
} };

/* 0x402085c248EeA27D92E8b30b2C58ed07f9E20001 */
const x402_address  x402_exact_proxy_address = { {
    0x40, 0x20, 0x85, 0xc2, 0x48, 0xee, 0xa2, 0x7d, 0x92, 0xe8,
    0xb3, 0x0b, 0x2c, 0x58, 0xed, 0x07, 0xf9, 0xe2, 0x00, 0x01
} };

/* 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002 */
const x402_address  x402_upto_proxy_address = { {
    0x40, 0x20, 0xa4, 0xf3, 0xb7, 0xb9, 0x0c, 0xca, 0x42, 0x3b,
    0x9f, 0xab, 0xcc, 0x0c, 0xe5, 0x7c, 0x6c, 0x24, 0x00, 0x02
} };

/* 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003 */
const x402_address  x402_batch_settlement_address = { {
    0x40, 0x20, 0x07, 0x4e, 0x9d, 0xf2, 0xce, 0x1d, 0xee, 0x5a,
    0x9c, 0x1b, 0x5c, 0x3f, 0x54, 0x1d, 0x02, 0xa1, 0x00, 0x03
} };

/* 0x4020425FAf3B746C082C2f942b4E5159887B0005 */
const x402_address  x402_permit2_deposit_collector_address = { {
    0x40, 0x20, 0x42, 0x5f, 0xaf, 0x3b, 0x74, 0x6c, 0x08, 0x2c,
    0x2f, 0x94, 0x2b, 0x4e, 0x51, 0x59, 0x88, 0x7b, 0x00, 0x05
} };

/* 0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB */
const x402_address  x402_opg_base_address = { {
    0xfb, 0xc2, 0x05, 0x1a, 0xe2, 0x26, 0x56, 0x86, 0xa4, 0x69,
    0x42, 0x1b, 0x2c, 0x5a, 0x2d, 0x54, 0x62, 0xfb, 0xf5, 0xeb
} };


static const char *const  x402_err_texts[] = {
    "ok",
    "illegal argument",
    "output buffer too small",
    "out of memory",
    "malformed hex",
    "malformed base64",
    "not an unsigned integer",
    "integer overflow",
    "malformed JSON",
    "missing field",
    "wrong JSON type",
    "malformed value",
    "too long",
    "unsupported x402Version",
    "unsupported network",
    "cryptographic failure"
};

static const char *const  x402_reason_texts[X402_R_MAX] = {
    NULL,
    "Payment required",
    "No matching payment requirements",
    "unsupported_payload_type",
    "invalid_exact_evm_network_mismatch",
    "invalid_upto_evm_scheme",
    "invalid_upto_evm_network_mismatch",
    "invalid_permit2_spender",
    "invalid_permit2_recipient_mismatch",
    "upto_facilitator_mismatch",
    "permit2_deadline_expired",
    "permit2_not_yet_valid",
    "permit2_amount_mismatch",
    "permit2_token_mismatch",
    "invalid_permit2_signature",
    "asset_not_deployed_contract",
    "permit2_proxy_not_deployed",
    "permit2_insufficient_balance",
    "permit2_allowance_required",
    "permit2_invalid_nonce",
    "permit2_simulation_failed",
    "invalid_batch_settlement_evm_network_mismatch",
    "invalid_batch_settlement_evm_payload_type",
    "invalid_batch_settlement_evm_channel_id_mismatch",
    "invalid_batch_settlement_evm_token_mismatch",
    "invalid_batch_settlement_evm_receiver_mismatch",
    "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
    "invalid_batch_settlement_evm_withdraw_delay_mismatch",
    "invalid_batch_settlement_evm_voucher_signature",
    "invalid_batch_settlement_evm_permit2_authorization_required",
    "invalid_batch_settlement_evm_permit2_invalid_spender",
    "invalid_batch_settlement_evm_permit2_amount_mismatch",
    "invalid_batch_settlement_evm_permit2_deadline_expired",
    "invalid_batch_settlement_evm_permit2_invalid_signature",
    "invalid_batch_settlement_evm_deposit_payload",
    "invalid_batch_settlement_evm_cumulative_amount_mismatch",
    "invalid_batch_settlement_evm_cumulative_exceeds_balance",
    "invalid_batch_settlement_evm_cumulative_below_claimed",
    "invalid_batch_settlement_evm_channel_not_found",
    "invalid_batch_settlement_evm_channel_busy",
    "invalid_batch_settlement_evm_deposit_simulation_failed",
    "invalid_batch_settlement_evm_deposit_transaction_failed",
    "invalid_batch_settlement_evm_deposit_below_min_deposit",
    "eip6492_factory_not_allowed",
    "smart_wallet_deployment_failed"
};


const char *
x402_strerror(x402_err err)
{
    if ((unsigned) err >= sizeof(x402_err_texts) / sizeof(x402_err_texts[0]))
    {
        return "unknown error";
    }

    return x402_err_texts[err];
}


const char *
x402_reason_string(x402_reason r)
{
    if ((unsigned) r >= X402_R_MAX) {
        return NULL;
    }

    return x402_reason_texts[r];
}


int
x402_reason_http_status(x402_reason r)
{
    return r == X402_R_ALLOWANCE_REQUIRED ? 412 : 402;
}


x402_reason
x402_reason_parse(const char *s)
{
    int  r;

    if (s == NULL) {
        return X402_R_MAX;
    }

    for (r = 0; r < X402_R_MAX; r++) {
        if (x402_reason_texts[r] != NULL
            && strcmp(x402_reason_texts[r], s) == 0)
        {
            return (x402_reason) r;
        }
    }

    return X402_R_MAX;
}


const char *
x402_scheme_name(x402_scheme s)
{
    switch (s) {
    case X402_SCHEME_EXACT:
        return "exact";
    case X402_SCHEME_UPTO:
        return "upto";
    case X402_SCHEME_BATCH:
        return "batch-settlement";
    default:
        return NULL;
    }
}


x402_scheme
x402_scheme_parse(const char *s, size_t len)
{
    if (s == NULL) {
        return X402_SCHEME_UNKNOWN;
    }

    if (len == 5 && memcmp(s, "exact", 5) == 0) {
        return X402_SCHEME_EXACT;
    }

    if (len == 4 && memcmp(s, "upto", 4) == 0) {
        return X402_SCHEME_UPTO;
    }

    if (len == 16 && memcmp(s, "batch-settlement", 16) == 0) {
        return X402_SCHEME_BATCH;
    }

    return X402_SCHEME_UNKNOWN;
}


const x402_address *
x402_scheme_spender(x402_scheme s)
{
    switch (s) {
    case X402_SCHEME_EXACT:
        return &x402_exact_proxy_address;
    case X402_SCHEME_UPTO:
        return &x402_upto_proxy_address;
    case X402_SCHEME_BATCH:
        return &x402_permit2_deposit_collector_address;
    default:
        return NULL;
    }
}
