/*
 * Writes the fuzzing seed corpora into OUTDIR/<harness>/ from the test
 * vectors, so that no generated seeds are committed:
 *
 *   seedgen OUTDIR t/fixtures/vectors.json lib/test/anvil-replies.json
 *
 *   payment_header  every PAYMENT-SIGNATURE of vectors.json (chains,
 *                   mutations, encodingVariants), the other headers, and
 *                   an "upto" payment signed here with the vector key
 *   payment_json    the JSON inside each of them
 *   rpc_checks      a healthy on-chain checks reply for the vector payment
 *                   (ids 1..8) and variants (EIP-1271 wallet, reverts)
 *   rpc_settle      the replies of lib/test/anvil-replies.json
 *   receipt         receipts of the vector payment in each state
 *   codec           the vectors' numbers, addresses, networks, hex
 *   facilitator     the vectors' SettleResponses
 *   usage           (besides lib/fuzz/seeds/usage) request bodies for
 *                   x402_request_usage_prepare and replies that reach
 *                   the scanner's corners: escapes, UTF-8, numbers,
 *                   nested and twin keys, CRLF events split over lines
 *
 * Built without sanitizers from lib/src (see lib/fuzz/Makefile).
 */

#include <errno.h>
#include <sys/stat.h>

#include <jansson.h>

#include "fuzz_common.h"


static const char  *outdir;
static json_t      *vectors;
static unsigned     nwritten;


static void
mkdirs(const char *sub)
{
    char  path[4096];

    snprintf(path, sizeof(path), "%s/%s", outdir, sub);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
}


static void
put(const char *harness, const char *name, const void *p, size_t len)
{
    char   path[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    nwritten++;
}


static void
puts_seed(const char *harness, const char *name, const char *s)
{
    put(harness, name, s, strlen(s));
}


static json_t *
get(json_t *root, const char *path)
{
    char    buf[256], *tok, *save;
    json_t *j;

    snprintf(buf, sizeof(buf), "%s", path);
    j = root;
    for (tok = strtok_r(buf, ".", &save); tok != NULL && j != NULL;
         tok = strtok_r(NULL, ".", &save))
    {
        j = json_object_get(j, tok);
    }
    if (j == NULL) {
        fprintf(stderr, "seedgen: no %s\n", path);
        exit(1);
    }
    return j;
}


static char *
dump(json_t *j)
{
    char  *s;

    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    FUZZ_CHECK(s != NULL);
    return s;
}


/* A PAYMENT-SIGNATURE header: as it is, and the JSON inside. */
static void
header_seed(const char *name, const char *hdr)
{
    size_t    n;
    uint8_t  *json;

    puts_seed("payment_header", name, hdr);

    n = x402_base64_decoded_max(strlen(hdr));
    json = malloc(n + 1);
    FUZZ_CHECK(json != NULL);
    if (x402_base64_decode(json, &n, hdr, strlen(hdr)) == X402_OK) {
        put("payment_json", name, json, n);
    }
    free(json);
}


static void
case_headers(const char *path, const char *prefix)
{
    size_t   i;
    json_t  *c, *h;
    char     name[128];

    json_array_foreach(get(vectors, path), i, c) {
        h = json_object_get(c, "paymentSignatureHeader");
        if (json_is_string(h)) {
            snprintf(name, sizeof(name), "%s-%s", prefix,
                     json_string_value(json_object_get(c, "id")));
            header_seed(name, json_string_value(h));
        }
    }
}


static const char *
str(const char *path)
{
    json_t  *j = get(vectors, path);

    FUZZ_CHECK(json_is_string(j));
    return json_string_value(j);
}


/* The 8453 payload turned into "upto" for FUZZ_FACILITATOR and signed
 * with the vector key (as lib/test/test_verify.c does). */
static void
upto_seed(void)
{
    x402_context  *ctx;
    x402_payment   p;
    json_t        *doc, *auth;
    char          *json, *hdr, sighex[2 * 65 + 3];
    uint8_t        key[32], digest[32], sig[65];
    size_t         n;

    doc = json_deep_copy(get(vectors, "chains.8453.paymentPayload"));
    auth = get(doc, "payload.permit2Authorization");
    json_object_set_new(get(doc, "accepted"), "scheme", json_string("upto"));
    json_object_set_new(get(doc, "accepted.extra"), "facilitatorAddress",
                        json_string(FUZZ_FACILITATOR));
    json_object_set_new(auth, "spender",
        json_string(str("constants.addresses.x402UptoPermit2Proxy")));
    json_object_set_new(get(auth, "witness"), "facilitator",
                        json_string(FUZZ_FACILITATOR));

    json = dump(doc);
    FUZZ_CHECK(x402_payment_decode_json(&p, NULL, json, strlen(json))
               == X402_OK);
    free(json);

    n = sizeof(key);
    FUZZ_CHECK(x402_hex_decode(key, &n, str("common.privateKey") + 2, 64)
               == X402_OK);
    ctx = x402_context_create(NULL);
    FUZZ_CHECK(ctx != NULL);
    FUZZ_CHECK(x402_permit2_digest(digest, X402_SCHEME_UPTO, FUZZ_CHAIN_ID,
                                   &p) == X402_OK);
    FUZZ_CHECK(x402_sign_digest(ctx, sig, digest, key) == X402_OK);
    x402_context_destroy(ctx);

    sighex[0] = '0';
    sighex[1] = 'x';
    x402_hex_encode(sighex + 2, sig, 65);
    json_object_set_new(get(doc, "payload"), "signature",
                        json_string(sighex));

    json = dump(doc);
    json_decref(doc);
    n = x402_base64_encoded_len(strlen(json)) + 1;
    hdr = malloc(n);
    FUZZ_CHECK(hdr != NULL);
    FUZZ_CHECK(x402_base64_encode(hdr, n, (const uint8_t *) json,
                                  strlen(json)) == X402_OK);
    header_seed("upto-8453", hdr);
    free(hdr);
    free(json);
}


static void
payment_seeds(void)
{
    const char  *k;
    json_t      *v;
    char         name[64];

    json_object_foreach(get(vectors, "chains"), k, v) {
        snprintf(name, sizeof(name), "chain-%s", k);
        header_seed(name, json_string_value(get(v, "paymentSignatureHeader")));
    }
    case_headers("mutations.cases", "mutation");
    case_headers("encodingVariants.cases", "encoding");
    /* other headers of the same encoding */
    json_object_foreach(get(vectors, "headers"), k, v) {
        puts_seed("payment_header", k, json_string_value(get(v, "header")));
    }
    upto_seed();
}


/* A healthy reply to the checks batch of ngx_http_x402_onchain.c (ids
 * 1..8, reverse order), with entry i replaced by `repl` when given. */
static void
checks_seed(const char *name, int i, const char *repl)
{
    static const char *const  res[X402_RPC_CHECKS] = {
        "\"0x2105\"",
        "\"0x608060405234801561001057600080fd5b50\"",
        "\"0x\"",
        "\"0x0000000000000000000000000000000000000000000000001bc16d674ec80000\"",
        "\"0x0000000000000000000000000000000000000000000000001bc16d674ec80000\"",
        "\"0x0000000000000000000000000000000000000000000000000000000000000000\"",
        "\"0x\"",
        "\"0x\""
    };
    char   buf[4096];
    size_t len;
    int    k;

    len = 0;
    buf[len++] = '[';
    for (k = X402_RPC_CHECKS - 1; k >= 0; k--) {
        if (k == i) {
            len += (size_t) snprintf(buf + len, sizeof(buf) - len,
                "{\"jsonrpc\":\"2.0\",\"id\":%d,%s}", k + 1, repl);
        } else {
            len += (size_t) snprintf(buf + len, sizeof(buf) - len,
                "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":%s}", k + 1,
                res[k]);
        }
        buf[len++] = (k > 0) ? ',' : ']';
    }
    put("rpc_checks", name, buf, len);
}


static void
rpc_checks_seeds(void)
{
    checks_seed("ok", -1, NULL);
    checks_seed("wallet-code", 2, "\"result\":\"0x6080604052\"");
    checks_seed("erc1271-magic", 6, "\"result\":\"0x1626ba7e0000000000000000"
                "0000000000000000000000000000000000000000\"");
    checks_seed("erc1271-revert", 6, "\"error\":{\"code\":3,\"message\":"
                "\"execution reverted\",\"data\":\"0x\"}");
    checks_seed("sim-invalid-nonce", 7, "\"error\":{\"code\":3,\"message\":"
                "\"execution reverted\",\"data\":\"0x756688fe\"}");
    checks_seed("sim-nested-data", 7, "\"error\":{\"code\":-32000,\"message\""
                ":\"execution reverted\",\"data\":{\"data\":\"0x815e1d64\"}}");
    checks_seed("sim-rate-limited", 7, "\"error\":{\"code\":-32005,"
                "\"message\":\"rate limited\"}");
    checks_seed("no-asset", 1, "\"result\":\"0x\"");
    checks_seed("nonce-used", 5, "\"result\":\"0x000000000000000000000000000"
                "0000000000000000000000000ffffffffff\"");
    checks_seed("balance-error", 3, "\"error\":{\"code\":-32000,\"message\":"
                "\"header not found\"}");
}


static void
rpc_settle_seeds(const char *anvil_path)
{
    json_t       *root, *e;
    json_error_t  err;
    size_t        i;

    root = json_load_file(anvil_path, 0, &err);
    if (root == NULL) {
        fprintf(stderr, "seedgen: %s: %s\n", anvil_path, err.text);
        exit(1);
    }
    json_array_foreach(get(root, "entries"), i, e) {
        puts_seed("rpc_settle", json_string_value(get(e, "name")),
                  json_string_value(get(e, "reply")));
    }
    json_decref(root);
}


static void
receipt_seeds(void)
{
    static const char  *tx =
        "0xabababababababababababababababababababababababababababababababab";
    x402_payment   p;
    x402_receipt   r;
    const char    *json;
    char           out[4096];
    size_t         len;

    json = dump(get(vectors, "chains.8453.paymentPayload"));
    FUZZ_CHECK(x402_payment_decode_json(&p, NULL, json, strlen(json))
               == X402_OK);
    free((char *) json);

    memset(&r, 0, sizeof(r));
    r.status = "reserved";
    r.scheme = X402_SCHEME_EXACT;
    r.chain_id = FUZZ_CHAIN_ID;
    r.payer = p.from;
    r.pay_to = p.to;
    r.asset = p.token;
    r.amount = p.amount;
    r.nonce = p.nonce;
    r.deadline = p.deadline;
    r.resource = "/v1/chat/completions";
    r.created = FUZZ_NOW;
    r.updated = FUZZ_NOW;

    len = sizeof(out);
    FUZZ_CHECK(x402_receipt_encode(out, &len, &r) == X402_OK);
    put("receipt", "reserved", out, len);

    r.status = "settled";
    r.transaction = tx;
    r.updated = FUZZ_NOW + 12;
    len = sizeof(out);
    FUZZ_CHECK(x402_receipt_encode(out, &len, &r) == X402_OK);
    put("receipt", "settled", out, len);

    r.status = "failed";
    r.transaction = NULL;
    r.error = "permit2_invalid_nonce";
    len = sizeof(out);
    FUZZ_CHECK(x402_receipt_encode(out, &len, &r) == X402_OK);
    put("receipt", "failed", out, len);

    r.status = "pending";
    r.scheme = X402_SCHEME_UPTO;
    r.transaction = tx;
    r.error = NULL;
    r.has_charged = 1;
    x402_u256_from_u64(&r.charged, 12345);
    r.valid_after = p.valid_after;
    r.signature = p.signature;
    r.signature_len = p.signature_len;
    len = sizeof(out);
    FUZZ_CHECK(x402_receipt_encode(out, &len, &r) == X402_OK);
    put("receipt", "upto-pending", out, len);
}


static void
codec_seeds(void)
{
    static const char *const  paths[] = {
        "common.signer", "common.nonceDecimal", "common.nonceHex",
        "common.privateKey", "constants.addresses.permit2",
        "chains.8453.network", "chains.84532.network", "chains.31337.network",
        "common.requirementTemplate.amount", "common.deadline",
        "constants.secp256k1Order", "constants.secp256k1HalfOrder",
        "headers.paymentResponseSuccess.header", NULL
    };
    const char *const  *p;
    const char         *s;
    char                name[64];
    unsigned            i;

    for (p = paths, i = 0; *p != NULL; p++, i++) {
        s = str(*p);
        snprintf(name, sizeof(name), "v%02u", i);
        puts_seed("codec", name, s);
        if (s[0] == '0' && s[1] == 'x') {
            snprintf(name, sizeof(name), "v%02u-bare", i);
            puts_seed("codec", name, s + 2);
        }
    }
    /* the signature as hex without 0x */
    puts_seed("codec", "sig", str("chains.8453.signature.hex") + 2);
}


static void
facilitator_seeds(void)
{
    const char  *k;
    json_t      *v;
    char        *s;

    json_object_foreach(get(vectors, "headers"), k, v) {
        if (strncmp(k, "paymentResponse", 15) == 0) {
            s = dump(get(v, "decoded"));
            puts_seed("facilitator", k, s);
            free(s);
        }
    }
}


/* Byte 0 of a usage seed is fuzz_usage.c's flags: bit 0 is SSE. */
static void
usage_seeds(void)
{
    static const char  *seeds[][2] = {
        { "request-stream",
          "\x00{\"model\":\"m\",\"stream\":true,\"temperature\":0.7,"
          "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"text\",\"text\":\"hi \\u00e9\"}]},{\"content\":\"yo\"}]}\n" },
        { "request-options",
          "\x00{\"stream\":true,\"stream_options\":{\"include_usage\":false,"
          "\"x\":1e-7},\"prompt\":[\"a\",\"b\"],\"input\":\"x\"}" },
        { "reply-corners",
          "\x00 {\"id\":\"c\\\"}\",\"choices\":[{\"message\":{\"content\":"
          "\"\\\"usage\\\":{} \\ud83d\\ude00 \xc3\xa9\",\"usage\":{"
          "\"prompt_tokens\":1,\"completion_tokens\":1}},\"n\":[-0.5e+3,0,"
          "1E2,true,false,null,{},[]]}],\"usage\":{\"prompt_tokens\":12,"
          "\"completion_tokens\":34,\"details\":{\"cached\":0}}}\r\n" },
        { "sse-corners",
          "\x01: ping\r\n\r\ndata: {\"choices\":[{\"delta\":\r\ndata: "
          "{\"content\":\"a\\\"\"}},{\"text\":\"b\",\"text\":\"c\"}]}\r\r"
          "data:{\"choices\":[{\"text\":\"x\"}],\"usage\":null}\n\n"
          "data: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2},"
          "\"usage\":null}\n\ndata: {\"usage\":{\"prompt_tokens\":5,"
          "\"completion_tokens\":2}}\n\ndata: [DO\ndata: NE]\n\n"
          "data: [DONE]\n\n" },
    };
    size_t  i;

    for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        /* byte 0 may be NUL: its length is the rest's plus one */
        put("usage", seeds[i][0], seeds[i][1], 1 + strlen(seeds[i][1] + 1));
    }
}


int
main(int argc, char **argv)
{
    json_error_t  err;

    if (argc != 4) {
        fprintf(stderr, "usage: seedgen OUTDIR vectors.json "
                "anvil-replies.json\n");
        return 2;
    }
    outdir = argv[1];

    vectors = json_load_file(argv[2], 0, &err);
    if (vectors == NULL) {
        fprintf(stderr, "seedgen: %s: %s\n", argv[2], err.text);
        return 1;
    }

    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    mkdirs("payment_header");
    mkdirs("payment_json");
    mkdirs("rpc_checks");
    mkdirs("rpc_settle");
    mkdirs("receipt");
    mkdirs("codec");
    mkdirs("facilitator");
    mkdirs("usage");

    payment_seeds();
    rpc_checks_seeds();
    rpc_settle_seeds(argv[3]);
    receipt_seeds();
    codec_seeds();
    facilitator_seeds();
    usage_seeds();

    json_decref(vectors);
    printf("seedgen: %u seeds in %s\n", nwritten, outdir);
    return 0;
}
