/*
 * Shared helpers of the libFuzzer harnesses (lib/fuzz/fuzz_*.c).
 *
 * Every harness feeds libFuzzer's bytes to libx402 exactly as a network
 * peer would reach it, and checks the header's contracts (x402.h): outputs
 * NUL-terminated and within their stated sizes, round trips, and the
 * verdicts of the real request path.  A broken invariant calls
 * FUZZ_CHECK(), which aborts: libFuzzer then keeps the input as a crash.
 */

#ifndef X402_FUZZ_COMMON_H_INCLUDED
#define X402_FUZZ_COMMON_H_INCLUDED

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x402.h"


#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s\n",                 \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)


/* The chain of the vectors (t/fixtures/vectors.json chains.8453). */
#define FUZZ_CHAIN_ID       8453u
/* vectors.json mutations.verifyNowSec */
#define FUZZ_NOW            1740672099u
/* the module's first JSON-RPC id of the on-chain checks batch */
#define FUZZ_CHECKS_FIRST_ID 1u
/* ids of lib/test/anvil-replies.json */
#define FUZZ_FEES_ID        10u
#define FUZZ_SEND_ID        20u
#define FUZZ_RECEIPT_ID     30u


/* A copy of data on the heap, exactly len bytes (no NUL), so that ASan
 * catches any read past the stated length.  len 0 gives a 1-byte buffer
 * that must not be read. */
static inline char *
fuzz_dup(const uint8_t *data, size_t len)
{
    char  *p;

    p = malloc(len ? len : 1);
    FUZZ_CHECK(p != NULL);
    if (len) {
        memcpy(p, data, len);
    }
    return p;
}


/* s[0..cap) holds a NUL; returns its index. */
static inline size_t
fuzz_strnlen_checked(const char *s, size_t cap)
{
    const char  *z;

    FUZZ_CHECK(cap > 0);
    z = memchr(s, '\0', cap);
    FUZZ_CHECK(z != NULL);
    return (size_t) (z - s);
}


/* Address text of any case (known-good inputs only). */
static inline x402_address
fuzz_addr(const char *s)
{
    x402_address  a;

    FUZZ_CHECK(x402_address_parse(&a, s, strlen(s)) == X402_OK);
    return a;
}


/* The server's offers: the vectors' requirementTemplate on chain 8453
 * ("exact"), and the same as "upto" with a facilitator. */
#define FUZZ_ASSET        "0x240b09731D96979f50B2C649C9CE10FcF9C7987F"
#define FUZZ_PAY_TO       "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
#define FUZZ_FACILITATOR  "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
#define FUZZ_PAYER        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

static inline void
fuzz_offer(x402_offer *o, x402_scheme scheme)
{
    memset(o, 0, sizeof(*o));
    o->scheme = scheme;
    o->chain_id = FUZZ_CHAIN_ID;
    /* 10^18 */
    FUZZ_CHECK(x402_u256_parse(&o->amount, "1000000000000000000", 19)
               == X402_OK);
    o->asset = fuzz_addr(FUZZ_ASSET);
    o->pay_to = fuzz_addr(FUZZ_PAY_TO);
    if (scheme == X402_SCHEME_UPTO) {
        o->facilitator = fuzz_addr(FUZZ_FACILITATOR);
    }
    o->max_timeout_seconds = 300;
    o->extra_name = "OPG";
    o->extra_version = "1";
}

#endif /* X402_FUZZ_COMMON_H_INCLUDED */
