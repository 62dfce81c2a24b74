/*
 * micro: the CPU cost of the cryptography of one paid request, with
 * libx402 (build/lib/libx402.a), for scripts/bench.
 *
 *   micro HEADER [ITERATIONS]
 *
 * HEADER is one PAYMENT-SIGNATURE value (e.g. from the official client).
 * Times, in process CPU time:
 *   A. x402_permit2_digest + x402_ecrecover (the EIP-712 keccak hashing
 *      and one secp256k1 recovery): the reference point;
 *   B. x402_payment_decode_header + x402_verify_local (base64, JSON, every
 *      local check, the same digest and recovery): the module's whole local
 *      verification of one payment.
 * Prints one line: BENCH {"iterations":N,"digest_ecrecover_us":..,
 * "decode_verify_local_us":..}
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x402.h"

static double
cpu_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
    x402_payment   p, q;
    x402_context  *ctx;
    x402_offer     offer;
    x402_address   signer;
    uint8_t        digest[32];
    const char    *field, *hdr;
    double         t0, a, b;
    long           i, n;
    size_t         hlen;
    unsigned       sink;

    if (argc < 2) {
        fprintf(stderr, "usage: micro HEADER [ITERATIONS]\n");
        return 2;
    }

    hdr = argv[1];
    hlen = strlen(hdr);
    n = argc > 2 ? atol(argv[2]) : 10000;

    ctx = x402_context_create(NULL);
    if (ctx == NULL) {
        fprintf(stderr, "micro: x402_context_create failed\n");
        return 1;
    }

    field = NULL;
    if (x402_payment_decode_header(&p, &field, hdr, hlen) != X402_OK) {
        fprintf(stderr, "micro: cannot decode the header (%s)\n",
                field ? field : "?");
        return 1;
    }

    memset(&offer, 0, sizeof(offer));
    offer.scheme = X402_SCHEME_EXACT;
    offer.chain_id = p.accepted.chain_id;
    offer.amount = p.accepted.amount;
    offer.asset = p.accepted.asset;
    offer.pay_to = p.accepted.pay_to;
    offer.max_timeout_seconds = p.accepted.max_timeout_seconds;

    if (x402_verify_local(ctx, &offer, &p, (uint64_t) time(NULL),
                          X402_DEADLINE_MARGIN)
        != X402_R_VALID)
    {
        fprintf(stderr, "micro: the payment does not verify locally\n");
        return 1;
    }

    sink = 0;

    /* warm-up */
    for (i = 0; i < 100; i++) {
        x402_permit2_digest(digest, X402_SCHEME_EXACT, p.accepted.chain_id,
                            &p);
        x402_ecrecover(ctx, &signer, digest, p.signature, p.signature_len);
        sink += signer.b[0];
    }

    t0 = cpu_us();
    for (i = 0; i < n; i++) {
        if (x402_permit2_digest(digest, X402_SCHEME_EXACT,
                                p.accepted.chain_id, &p) != X402_OK
            || x402_ecrecover(ctx, &signer, digest, p.signature,
                              p.signature_len) != X402_OK
            || !x402_address_eq(&signer, &p.from))
        {
            fprintf(stderr, "micro: recovery failed\n");
            return 1;
        }
        sink += signer.b[19];
    }
    a = (cpu_us() - t0) / n;

    t0 = cpu_us();
    for (i = 0; i < n; i++) {
        if (x402_payment_decode_header(&q, NULL, hdr, hlen) != X402_OK
            || x402_verify_local(ctx, &offer, &q, (uint64_t) time(NULL),
                                 X402_DEADLINE_MARGIN)
               != X402_R_VALID)
        {
            fprintf(stderr, "micro: verification failed\n");
            return 1;
        }
        sink += q.from.b[0];
    }
    b = (cpu_us() - t0) / n;

    x402_context_destroy(ctx);

    printf("BENCH {\"iterations\":%ld,\"digest_ecrecover_us\":%.2f,"
           "\"decode_verify_local_us\":%.2f,\"sink\":%u}\n", n, a, b,
           sink & 1u);
    return 0;
}
