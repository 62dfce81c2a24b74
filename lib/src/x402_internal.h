/*
 * Helpers shared between libx402 source files; not part of the API.
 */

#ifndef X402_INTERNAL_H_INCLUDED
#define X402_INTERNAL_H_INCLUDED

#include "x402.h"


/* 0..15 for a hex digit of either case, -1 otherwise. */
int x402_hex_digit(char c);

/* Does s (NUL-terminated) equal the len bytes at t? */
int x402_str_eq(const char *s, const char *t, size_t len);

/* Writes "eip155:<chain_id>" with a NUL; out needs X402_NETWORK_MAX + 1. */
void x402_network_format(char *out, uint64_t chain_id);

/* Writes v in decimal with a NUL (out needs 21 bytes); returns length. */
size_t x402_u64_format(char *out, uint64_t v);


/* jansson helpers (json_util.c).  The setters take the reference of
 * `value` and return non-zero on failure (a NULL value included). */
#define X402_JSON_FLAGS  (JSON_COMPACT | JSON_PRESERVE_ORDER)

struct json_t;
int x402_json_set(struct json_t *obj, const char *key, struct json_t *value);
int x402_json_set_str(struct json_t *obj, const char *key, const char *s);
int x402_json_set_address(struct json_t *obj, const char *key,
    const x402_address *a);
int x402_json_set_u256(struct json_t *obj, const char *key,
    const x402_u256 *v);

/* Compact JSON of root into out (NUL-terminated), *out_len in: capacity,
 * out: length; releases root in every case. */
x402_err x402_json_dump(char *out, size_t *out_len, struct json_t *root);


#endif /* X402_INTERNAL_H_INCLUDED */
