/*
 * Test helpers over vectors.json; see vectors.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"


#ifndef X402_VECTORS_DEFAULT
#define X402_VECTORS_DEFAULT "../t/fixtures/vectors.json"
#endif


json_t *xt_vectors;


int
xt_setup(void **state)
{
    const char    *path;
    json_error_t   err;

    (void) state;

    path = getenv("X402_VECTORS");
    if (path == NULL || path[0] == '\0') {
        path = X402_VECTORS_DEFAULT;
    }

    xt_vectors = json_load_file(path, 0, &err);
    if (xt_vectors == NULL) {
        fprintf(stderr, "cannot load vectors %s: %s (line %d)\n",
                path, err.text, err.line);
        return -1;
    }

    return 0;
}


int
xt_teardown(void **state)
{
    (void) state;

    json_decref(xt_vectors);
    xt_vectors = NULL;

    return 0;
}


json_t *
xt_get(const char *path)
{
    json_t      *cur;
    char         part[128];
    const char  *p, *dot;
    size_t       n;

    cur = xt_vectors;
    p = path;

    while (cur != NULL && *p != '\0') {
        dot = strchr(p, '.');
        n = dot ? (size_t) (dot - p) : strlen(p);
        assert_true(n < sizeof(part));
        memcpy(part, p, n);
        part[n] = '\0';

        if (json_is_array(cur)) {
            cur = json_array_get(cur, (size_t) strtoul(part, NULL, 10));

        } else {
            cur = json_object_get(cur, part);
        }

        p += n;
        if (*p == '.') {
            p++;
        }
    }

    if (cur == NULL) {
        fail_msg("vector path %s not found", path);
    }

    return cur;
}


const char *
xt_str(const char *path)
{
    json_t  *j;

    j = xt_get(path);
    if (!json_is_string(j)) {
        fail_msg("vector path %s is not a string", path);
    }

    return json_string_value(j);
}


json_int_t
xt_int(const char *path)
{
    json_t  *j;

    j = xt_get(path);
    if (!json_is_integer(j)) {
        fail_msg("vector path %s is not an integer", path);
    }

    return json_integer_value(j);
}


json_t *
xt_member(json_t *obj, const char *key)
{
    json_t  *j;

    j = json_object_get(obj, key);
    if (j == NULL) {
        fail_msg("member %s not found", key);
    }

    return j;
}


const char *
xt_member_str(json_t *obj, const char *key)
{
    json_t  *j;

    j = xt_member(obj, key);
    if (!json_is_string(j)) {
        fail_msg("member %s is not a string", key);
    }

    return json_string_value(j);
}


static int
xt_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    fail_msg("bad hex digit '%c'", c);
    return -1;
}


void
xt_unhex(uint8_t *out, size_t len, const char *hex0x)
{
    size_t  i;

    assert_non_null(hex0x);
    assert_true(hex0x[0] == '0' && hex0x[1] == 'x');
    assert_int_equal(strlen(hex0x + 2), 2 * len);

    for (i = 0; i < len; i++) {
        out[i] = (uint8_t) (xt_nibble(hex0x[2 + 2 * i]) << 4
                            | xt_nibble(hex0x[3 + 2 * i]));
    }
}


void
xt_hex_at(uint8_t *out, size_t len, const char *path)
{
    xt_unhex(out, len, xt_str(path));
}


void
xt_address(x402_address *out, const char *hex0x)
{
    xt_unhex(out->b, 20, hex0x);
}


void
xt_tohex(char *out, const uint8_t *in, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02x", in[i]);
    }
    out[2 * len] = '\0';
}


void
xt_u256_u64(x402_u256 *out, uint64_t v)
{
    int  i;

    memset(out, 0, sizeof(*out));
    for (i = 31; i >= 24; i--) {
        out->b[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}


void
xt_offer(x402_offer *o, uint64_t chain_id)
{
    /* 1000000000000000000 = 0x0de0b6b3a7640000 */
    static const uint8_t  one_opg[8] = {
        0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00
    };

    assert_string_equal(xt_str("common.requirementTemplate.amount"),
                         "1000000000000000000");

    memset(o, 0, sizeof(*o));
    o->scheme = X402_SCHEME_EXACT;
    o->chain_id = chain_id;
    memcpy(o->amount.b + 24, one_opg, 8);
    xt_address(&o->asset, xt_str("common.requirementTemplate.asset"));
    xt_address(&o->pay_to, xt_str("common.requirementTemplate.payTo"));
    o->max_timeout_seconds =
        (uint32_t) xt_int("common.requirementTemplate.maxTimeoutSeconds");
    o->extra_name = xt_str("common.requirementTemplate.extra.name");
    o->extra_version = xt_str("common.requirementTemplate.extra.version");
}


void
xt_privkey(uint8_t key[32])
{
    xt_hex_at(key, 32, "common.privateKey");
}


char *
xt_dump(json_t *j)
{
    char  *s;

    s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);

    return s;
}


void
xt_u256_text(x402_u256 *out, const char *s)
{
    unsigned  acc, base;
    size_t    i;
    int       k, d;

    memset(out, 0, sizeof(*out));
    base = 10;
    if (s[0] == '0' && s[1] == 'x') {
        base = 16;
        s += 2;
    }

    for (i = 0; s[i] != '\0'; i++) {
        d = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0' : xt_nibble(s[i]);
        acc = (unsigned) d;
        for (k = 31; k >= 0; k--) {
            acc += out->b[k] * base;
            out->b[k] = (uint8_t) (acc & 0xff);
            acc >>= 8;
        }
        assert_int_equal(acc, 0);
    }
}


void
xt_set(json_t *root, const char *path, json_t *value)
{
    json_t      *cur;
    char         part[128];
    const char  *p, *dot;
    size_t       n;

    cur = root;
    p = path;

    for ( ;; ) {
        dot = strchr(p, '.');
        n = dot ? (size_t) (dot - p) : strlen(p);
        assert_true(n < sizeof(part));
        memcpy(part, p, n);
        part[n] = '\0';

        if (dot == NULL) {
            break;
        }

        cur = json_object_get(cur, part);
        if (cur == NULL) {
            fail_msg("xt_set: %s: %s missing", path, part);
        }
        p = dot + 1;
    }

    if (value == NULL) {
        json_object_del(cur, part);

    } else {
        assert_int_equal(json_object_set_new(cur, part, value), 0);
    }
}


static void
xt_check_address(const x402_address *a, json_t *obj, const char *key)
{
    x402_address  want;

    xt_address(&want, xt_member_str(obj, key));
    assert_memory_equal(a->b, want.b, 20);
}


static void
xt_check_u256(const x402_u256 *v, json_t *obj, const char *key)
{
    x402_u256  want;

    xt_u256_text(&want, xt_member_str(obj, key));
    assert_memory_equal(v->b, want.b, 32);
}


void
xt_check_payment(const x402_payment *p, json_t *pp)
{
    json_t       *pl, *auth, *perm, *wit, *acc, *extra, *fac;
    const char   *sig, *net;
    uint8_t       sigb[65];
    size_t        siglen;

    assert_int_equal(json_integer_value(xt_member(pp, "x402Version")), 2);

    pl = xt_member(pp, "payload");
    auth = xt_member(pl, "permit2Authorization");
    perm = xt_member(auth, "permitted");
    wit = xt_member(auth, "witness");

    xt_check_address(&p->from, auth, "from");
    xt_check_address(&p->token, perm, "token");
    xt_check_u256(&p->amount, perm, "amount");
    xt_check_address(&p->spender, auth, "spender");
    xt_check_u256(&p->nonce, auth, "nonce");
    xt_check_u256(&p->deadline, auth, "deadline");
    xt_check_address(&p->to, wit, "to");
    xt_check_u256(&p->valid_after, wit, "validAfter");

    fac = json_object_get(wit, "facilitator");
    assert_int_equal(p->has_witness_facilitator, fac != NULL);
    if (fac != NULL) {
        xt_check_address(&p->witness_facilitator, wit, "facilitator");
    }

    sig = xt_member_str(pl, "signature");
    siglen = (strlen(sig) - 2) / 2;
    assert_true(siglen <= 65);
    xt_unhex(sigb, siglen, sig);
    assert_int_equal(p->signature_len, siglen);
    assert_memory_equal(p->signature, sigb, siglen);

    acc = xt_member(pp, "accepted");
    assert_string_equal(x402_scheme_name(p->accepted.scheme),
                        xt_member_str(acc, "scheme"));
    net = xt_member_str(acc, "network");
    assert_string_equal(p->accepted.network, net);
    assert_true(p->accepted.has_chain_id);
    assert_true(strncmp(net, "eip155:", 7) == 0);
    assert_true(p->accepted.chain_id == strtoull(net + 7, NULL, 10));
    xt_check_u256(&p->accepted.amount, acc, "amount");
    xt_check_address(&p->accepted.asset, acc, "asset");
    xt_check_address(&p->accepted.pay_to, acc, "payTo");
    assert_int_equal(p->accepted.max_timeout_seconds,
                     json_integer_value(xt_member(acc, "maxTimeoutSeconds")));

    extra = xt_member(acc, "extra");
    assert_int_equal(p->accepted.permit2,
        strcmp(xt_member_str(extra, "assetTransferMethod"), "permit2") == 0);
    fac = json_object_get(extra, "facilitatorAddress");
    assert_int_equal(p->accepted.has_facilitator, fac != NULL);
    if (fac != NULL) {
        xt_check_address(&p->accepted.facilitator, extra,
                         "facilitatorAddress");
    }
}


/* Standard base64 decoding, independent of libx402; returns length. */
size_t
xt_b64_decode(char *out, const char *in)
{
    static const char  abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char        *p;
    unsigned           acc, bits;
    size_t             n;

    acc = 0;
    bits = 0;
    n = 0;
    for (; *in != '\0' && *in != '='; in++) {
        p = strchr(abc, *in);
        assert_non_null(p);
        acc = (acc << 6) | (unsigned) (p - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char) ((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';

    return n;
}


/* Next to this source file unless X402_TEST_DIR says otherwise. */
json_t *
xt_load_local(const char *name)
{
    char          path[4096];
    const char   *dir, *slash;
    json_t       *j;
    json_error_t  err;
    int           n;

    dir = getenv("X402_TEST_DIR");
    if (dir != NULL && dir[0] != '\0') {
        n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    } else {
        slash = strrchr(__FILE__, '/');
        n = slash == NULL
            ? snprintf(path, sizeof(path), "%s", name)
            : snprintf(path, sizeof(path), "%.*s/%s",
                       (int) (slash - __FILE__), __FILE__, name);
    }

    if (n < 0 || (size_t) n >= sizeof(path)) {
        return NULL;
    }

    j = json_load_file(path, 0, &err);
    if (j == NULL) {
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text,
                err.line);
    }

    return j;
}
