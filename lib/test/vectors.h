/*
 * Test helpers: load t/fixtures/vectors.json and read values from it with
 * code independent of libx402 (so a library bug cannot hide itself).
 */

#ifndef X402_TEST_VECTORS_H_INCLUDED
#define X402_TEST_VECTORS_H_INCLUDED

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "x402.h"


/* The parsed vectors file; valid between setup and teardown. */
extern json_t *xt_vectors;

/* cmocka group setup/teardown: load X402_VECTORS (or the default). */
int xt_setup(void **state);
int xt_teardown(void **state);

/* Value at a dotted path ("chains.8453.digest"); fails the test if absent.
 * A numeric component indexes an array. */
json_t *xt_get(const char *path);

/* A JSON file next to the tests (or in $X402_TEST_DIR); NULL, said why. */
json_t *xt_load_local(const char *name);
const char *xt_str(const char *path);
json_int_t xt_int(const char *path);

/* Member of an object; fails if absent. */
json_t *xt_member(json_t *obj, const char *key);
const char *xt_member_str(json_t *obj, const char *key);

/* "0x"-prefixed hex of exactly len bytes into out (independent parser). */
void xt_unhex(uint8_t *out, size_t len, const char *hex0x);
void xt_hex_at(uint8_t *out, size_t len, const char *path);

/* Address text of any case to 20 bytes (independent parser). */
void xt_address(x402_address *out, const char *hex0x);

/* Lowercase hex of bytes without prefix; out needs 2 * len + 1. */
void xt_tohex(char *out, const uint8_t *in, size_t len);

/* uint64 to a big-endian u256 (independent). */
void xt_u256_u64(x402_u256 *out, uint64_t v);

/* Decimal or 0x-hex text to u256 (independent, schoolbook). */
void xt_u256_text(x402_u256 *out, const char *s);

/* Sets (value != NULL, reference stolen) or deletes the member at a
 * dotted path of root; intermediate objects must exist. */
void xt_set(json_t *root, const char *path, json_t *value);

/* Compares a decoded payment field by field with a paymentPayload. */
void xt_check_payment(const x402_payment *p, json_t *pp);

/* The chain's offer as the server configures it (requirementTemplate). */
void xt_offer(x402_offer *o, uint64_t chain_id);

/* The private key of common.privateKey. */
void xt_privkey(uint8_t key[32]);

/* Compact JSON dump (caller frees). */
char *xt_dump(json_t *j);

/* Standard base64, decoded without libx402 (out needs strlen(in) + 1
 * bytes); NUL-terminates and returns the length. */
size_t xt_b64_decode(char *out, const char *in);

#endif /* X402_TEST_VECTORS_H_INCLUDED */
