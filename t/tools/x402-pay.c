/*
 * x402-pay: build a PAYMENT-SIGNATURE header the way @x402/fetch 2.27 does
 * (same JSON key order, Permit2 exact or upto), signed with libx402.
 * Test tool: the e2e tests need freshly signed payments, and options to
 * produce each kind of bad payment (another chain, tampered signature, ...).
 *
 * Prints the base64 header value (or the JSON with --json).
 */

#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x402.h"

/* anvil/hardhat account #0: a public test key, never fund it for real */
#define DEFAULT_KEY \
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

static void
die(const char *what, const char *arg)
{
    fprintf(stderr, "x402-pay: %s%s%s\n", what, arg ? ": " : "",
            arg ? arg : "");
    exit(2);
}

static void
parse_addr(x402_address *a, const char *s, const char *opt)
{
    if (x402_address_parse(a, s, strlen(s)) != X402_OK) {
        die("bad address for", opt);
    }
}

static void
parse_u256(x402_u256 *v, const char *s, const char *opt)
{
    if (x402_u256_parse(v, s, strlen(s)) != X402_OK) {
        die("bad number for", opt);
    }
}

static void
random_nonce(x402_u256 *n)
{
    FILE  *f;

    f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(n->b, 1, 32, f) != 32) {
        die("cannot read /dev/urandom", NULL);
    }
    fclose(f);
}

int
main(int argc, char **argv)
{
    enum { O_KEY = 1, O_NETWORK, O_SIGN_CHAIN, O_SCHEME, O_ASSET, O_AMOUNT,
           O_ACC_AMOUNT, O_PAY_TO, O_ACC_PAY_TO, O_ACC_ASSET, O_SPENDER,
           O_NONCE, O_DEADLINE, O_TTL, O_VALID_AFTER, O_FACILITATOR,
           O_MAX_TIMEOUT, O_URL, O_TAMPER, O_V01, O_FROM, O_JSON,
           O_ACC_SCHEME, O_ACC_NETWORK, O_SIG_HEX, O_ACC_FAC };
    static const struct option opts[] = {
        { "key", required_argument, NULL, O_KEY },
        { "network", required_argument, NULL, O_NETWORK },
        { "sign-chain", required_argument, NULL, O_SIGN_CHAIN },
        { "scheme", required_argument, NULL, O_SCHEME },
        { "asset", required_argument, NULL, O_ASSET },
        { "amount", required_argument, NULL, O_AMOUNT },
        { "accepted-amount", required_argument, NULL, O_ACC_AMOUNT },
        { "accepted-asset", required_argument, NULL, O_ACC_ASSET },
        { "accepted-scheme", required_argument, NULL, O_ACC_SCHEME },
        { "accepted-network", required_argument, NULL, O_ACC_NETWORK },
        { "pay-to", required_argument, NULL, O_PAY_TO },
        { "accepted-pay-to", required_argument, NULL, O_ACC_PAY_TO },
        { "spender", required_argument, NULL, O_SPENDER },
        { "nonce", required_argument, NULL, O_NONCE },
        { "deadline", required_argument, NULL, O_DEADLINE },
        { "ttl", required_argument, NULL, O_TTL },
        { "valid-after", required_argument, NULL, O_VALID_AFTER },
        { "facilitator", required_argument, NULL, O_FACILITATOR },
        { "accepted-facilitator", required_argument, NULL, O_ACC_FAC },
        { "max-timeout", required_argument, NULL, O_MAX_TIMEOUT },
        { "url", required_argument, NULL, O_URL },
        { "tamper-sig", no_argument, NULL, O_TAMPER },
        { "sig-v01", no_argument, NULL, O_V01 },
        { "signature", required_argument, NULL, O_SIG_HEX },
        { "from", required_argument, NULL, O_FROM },
        { "json", no_argument, NULL, O_JSON },
        { NULL, 0, NULL, 0 }
    };

    x402_payment   p;
    x402_context  *ctx;
    x402_scheme    scheme, acc_scheme;
    x402_address   acc_asset, acc_pay_to, acc_fac, from_override;
    x402_u256      acc_amount;
    uint64_t       chain, sign_chain, ttl;
    uint8_t        key[32], digest[32], sig[65];
    size_t         klen, n;
    char           a1[X402_ADDRESS_STR_LEN], a2[X402_ADDRESS_STR_LEN],
                   a3[X402_ADDRESS_STR_LEN], a4[X402_ADDRESS_STR_LEN],
                   a5[X402_ADDRESS_STR_LEN], a6[X402_ADDRESS_STR_LEN],
                   a7[X402_ADDRESS_STR_LEN], a8[X402_ADDRESS_STR_LEN];
    char           d1[X402_U256_DEC_MAX], d2[X402_U256_DEC_MAX],
                   d3[X402_U256_DEC_MAX], d4[X402_U256_DEC_MAX],
                   d5[X402_U256_DEC_MAX];
    char           sighex[2 * 65 + 1], witness[256], extra[256], *json, *b64;
    const char    *key_hex, *network, *acc_network, *url, *sig_text;
    int            c, have_amount, have_pay_to, have_acc_amount,
                   have_acc_pay_to, have_acc_asset, have_deadline,
                   have_nonce, have_sign_chain, have_from, have_spender,
                   have_acc_fac,
                   tamper, v01, as_json, max_timeout;

    memset(&p, 0, sizeof(p));
    key_hex = DEFAULT_KEY;
    network = "eip155:8453";
    acc_network = NULL;
    url = "http://127.0.0.1/";
    sig_text = NULL;
    scheme = X402_SCHEME_EXACT;
    acc_scheme = X402_SCHEME_UNKNOWN;
    ttl = 300;
    sign_chain = 0;
    max_timeout = 300;
    have_amount = have_pay_to = have_acc_amount = have_acc_pay_to = 0;
    have_acc_asset = have_deadline = have_nonce = have_sign_chain = 0;
    have_from = have_spender = tamper = v01 = as_json = have_acc_fac = 0;
    p.token = x402_opg_base_address;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_KEY: key_hex = optarg; break;
        case O_NETWORK: network = optarg; break;
        case O_SIGN_CHAIN:
            sign_chain = strtoull(optarg, NULL, 10);
            have_sign_chain = 1;
            break;
        case O_SCHEME:
            scheme = x402_scheme_parse(optarg, strlen(optarg));
            if (scheme == X402_SCHEME_UNKNOWN) {
                die("unknown scheme", optarg);
            }
            break;
        case O_ACC_SCHEME:
            acc_scheme = x402_scheme_parse(optarg, strlen(optarg));
            if (!have_acc_fac) {
        acc_fac = p.witness_facilitator;
    }

    if (acc_scheme == X402_SCHEME_UNKNOWN) {
                die("unknown scheme", optarg);
            }
            break;
        case O_ACC_NETWORK: acc_network = optarg; break;
        case O_ASSET: parse_addr(&p.token, optarg, "--asset"); break;
        case O_AMOUNT:
            parse_u256(&p.amount, optarg, "--amount");
            have_amount = 1;
            break;
        case O_ACC_AMOUNT:
            parse_u256(&acc_amount, optarg, "--accepted-amount");
            have_acc_amount = 1;
            break;
        case O_ACC_ASSET:
            parse_addr(&acc_asset, optarg, "--accepted-asset");
            have_acc_asset = 1;
            break;
        case O_PAY_TO:
            parse_addr(&p.to, optarg, "--pay-to");
            have_pay_to = 1;
            break;
        case O_ACC_PAY_TO:
            parse_addr(&acc_pay_to, optarg, "--accepted-pay-to");
            have_acc_pay_to = 1;
            break;
        case O_SPENDER:
            parse_addr(&p.spender, optarg, "--spender");
            have_spender = 1;
            break;
        case O_NONCE:
            parse_u256(&p.nonce, optarg, "--nonce");
            have_nonce = 1;
            break;
        case O_DEADLINE:
            parse_u256(&p.deadline, optarg, "--deadline");
            have_deadline = 1;
            break;
        case O_TTL: ttl = strtoull(optarg, NULL, 10); break;
        case O_VALID_AFTER:
            parse_u256(&p.valid_after, optarg, "--valid-after");
            break;
        case O_FACILITATOR:
            parse_addr(&p.witness_facilitator, optarg, "--facilitator");
            p.has_witness_facilitator = 1;
            break;
        case O_ACC_FAC:
            parse_addr(&acc_fac, optarg, "--accepted-facilitator");
            have_acc_fac = 1;
            break;
        case O_MAX_TIMEOUT: max_timeout = atoi(optarg); break;
        case O_URL: url = optarg; break;
        case O_TAMPER: tamper = 1; break;
        case O_V01: v01 = 1; break;
        case O_SIG_HEX: sig_text = optarg; break;
        case O_FROM:
            parse_addr(&from_override, optarg, "--from");
            have_from = 1;
            break;
        case O_JSON: as_json = 1; break;
        default:
            die("usage: x402-pay --amount ATOMIC --pay-to 0x... [options]",
                NULL);
        }
    }

    if (!have_amount || !have_pay_to) {
        die("--amount and --pay-to are required", NULL);
    }

    if (scheme == X402_SCHEME_UPTO && !p.has_witness_facilitator) {
        die("--scheme upto needs --facilitator", NULL);
    }

    if (x402_network_parse(&chain, network, strlen(network)) != X402_OK) {
        die("bad --network", network);
    }

    if (!have_sign_chain) {
        sign_chain = chain;
    }

    if (!have_spender) {
        p.spender = *x402_scheme_spender(scheme);
    }

    if (!have_nonce) {
        random_nonce(&p.nonce);
    }

    if (!have_deadline) {
        x402_u256_from_u64(&p.deadline, (uint64_t) time(NULL) + ttl);
    }

    if (!have_acc_amount) {
        acc_amount = p.amount;
    }

    if (!have_acc_asset) {
        acc_asset = p.token;
    }

    if (!have_acc_pay_to) {
        acc_pay_to = p.to;
    }

    if (!have_acc_fac) {
        acc_fac = p.witness_facilitator;
    }

    if (acc_scheme == X402_SCHEME_UNKNOWN) {
        acc_scheme = scheme;
    }

    if (acc_network == NULL) {
        acc_network = network;
    }

    ctx = x402_context_create(NULL);
    if (ctx == NULL) {
        die("x402_context_create failed", NULL);
    }

    klen = sizeof(key);
    if (strncmp(key_hex, "0x", 2) == 0) {
        key_hex += 2;
    }

    if (x402_hex_decode(key, &klen, key_hex, strlen(key_hex)) != X402_OK
        || klen != 32
        || x402_address_from_privkey(ctx, &p.from, key) != X402_OK)
    {
        die("bad --key", NULL);
    }

    if (x402_permit2_digest(digest, scheme, sign_chain, &p) != X402_OK
        || x402_sign_digest(ctx, sig, digest, key) != X402_OK)
    {
        die("signing failed", NULL);
    }

    if (tamper) {
        sig[31] ^= 0x01;
    }

    if (v01) {
        sig[64] -= 27;
    }

    if (have_from) {
        p.from = from_override;
    }

    x402_hex_encode(sighex, sig, 65);

    x402_address_format(a1, &p.from);
    x402_address_format(a2, &p.token);
    x402_address_format(a3, &p.spender);
    x402_address_format(a4, &p.to);
    x402_address_format(a5, &acc_asset);
    x402_address_format(a6, &acc_pay_to);
    x402_address_format(a7, &p.witness_facilitator);
    x402_address_format(a8, &acc_fac);
    x402_u256_format_dec(d1, &p.amount);
    x402_u256_format_dec(d2, &p.nonce);
    x402_u256_format_dec(d3, &p.deadline);
    x402_u256_format_dec(d4, &p.valid_after);
    x402_u256_format_dec(d5, &acc_amount);

    if (scheme == X402_SCHEME_UPTO) {
        snprintf(witness, sizeof(witness),
                 "{\"to\":\"%s\",\"facilitator\":\"%s\",\"validAfter\":\"%s\"}",
                 a4, a7, d4);
        snprintf(extra, sizeof(extra),
                 "{\"assetTransferMethod\":\"permit2\","
                 "\"facilitatorAddress\":\"%s\"}", a8);

    } else {
        snprintf(witness, sizeof(witness),
                 "{\"to\":\"%s\",\"validAfter\":\"%s\"}", a4, d4);
        snprintf(extra, sizeof(extra),
                 "{\"assetTransferMethod\":\"permit2\"}");
    }

    n = 4096 + strlen(url);
    json = malloc(n);
    b64 = malloc(2 * n);
    if (json == NULL || b64 == NULL) {
        die("out of memory", NULL);
    }

    snprintf(json, n,
        "{\"x402Version\":2,\"payload\":{\"signature\":\"%s%s\","
        "\"permit2Authorization\":{\"from\":\"%s\",\"permitted\":"
        "{\"token\":\"%s\",\"amount\":\"%s\"},\"spender\":\"%s\","
        "\"nonce\":\"%s\",\"deadline\":\"%s\",\"witness\":%s}},"
        "\"resource\":{\"url\":\"%s\"},"
        "\"accepted\":{\"scheme\":\"%s\",\"network\":\"%s\","
        "\"amount\":\"%s\",\"asset\":\"%s\",\"payTo\":\"%s\","
        "\"maxTimeoutSeconds\":%d,\"extra\":%s}}",
        sig_text ? "" : "0x", sig_text ? sig_text : sighex,
        a1, a2, d1, a3, d2, d3, witness, url,
        x402_scheme_name(acc_scheme), acc_network, d5, a5, a6,
        max_timeout, extra);

    if (as_json) {
        puts(json);

    } else {
        if (x402_base64_encode(b64, 2 * n, (const uint8_t *) json,
                               strlen(json)) != X402_OK)
        {
            die("base64 failed", NULL);
        }
        puts(b64);
    }

    free(json);
    free(b64);
    x402_context_destroy(ctx);

    return 0;
}
