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


#endif /* X402_INTERNAL_H_INCLUDED */
