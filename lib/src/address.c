/*
 * Ethereum addresses (parse any case, format EIP-55) and CAIP-2 EVM
 * networks.
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_CHAIN_ID_MAX  9007199254740992ULL     /* 2^53 */


x402_err
x402_address_parse(x402_address *out, const char *s, size_t len)
{
    size_t  n;

    if (out == NULL || (s == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    /* viem's isAddress: ^0x[0-9a-fA-F]{40}$, checksum not enforced */
    if (len != 42 || s[0] != '0' || s[1] != 'x') {
        return X402_ERR_VALUE;
    }

    n = sizeof(out->b);

    if (x402_hex_decode(out->b, &n, s + 2, 40) != X402_OK) {
        return X402_ERR_VALUE;
    }

    return X402_OK;
}


void
x402_address_format(char out[X402_ADDRESS_STR_LEN], const x402_address *a)
{
    uint8_t  h[32];
    char    *hex;
    int      i, nib;

    out[0] = '0';
    out[1] = 'x';
    hex = out + 2;

    x402_hex_encode(hex, a->b, sizeof(a->b));

    /* EIP-55: uppercase a letter when its nibble of keccak(lowercase) >= 8 */
    x402_keccak256(h, (const uint8_t *) hex, 40);

    for (i = 0; i < 40; i++) {
        nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0x0f;
        if (hex[i] >= 'a' && hex[i] <= 'f' && nib >= 8) {
            hex[i] = (char) (hex[i] - 'a' + 'A');
        }
    }
}


int
x402_address_eq(const x402_address *a, const x402_address *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}


x402_err
x402_address_checksum(x402_checksum *out, const char *s, size_t len)
{
    char          want[X402_ADDRESS_STR_LEN];
    size_t        i;
    x402_err      err;
    x402_address  a;
    int           lower, upper;

    if (out == NULL) {
        return X402_ERR_ARG;
    }

    err = x402_address_parse(&a, s, len);
    if (err != X402_OK) {
        return err;
    }

    x402_address_format(want, &a);

    if (memcmp(want + 2, s + 2, 40) == 0) {
        *out = X402_CHECKSUM_VALID;
        return X402_OK;
    }

    lower = 0;
    upper = 0;

    for (i = 2; i < 42; i++) {
        lower |= (s[i] >= 'a' && s[i] <= 'f');
        upper |= (s[i] >= 'A' && s[i] <= 'F');
    }

    *out = (lower && upper) ? X402_CHECKSUM_WRONG : X402_CHECKSUM_NONE;

    return X402_OK;
}


int
x402_address_is_zero(const x402_address *a)
{
    static const x402_address  zero = { { 0 } };

    return x402_address_eq(a, &zero);
}


const char *
x402_network_name(uint64_t chain_id)
{
    static const struct {
        uint64_t     id;
        const char  *name;
    } names[] = {
        { 1, "Ethereum" },
        { 8453, "Base" },
        { 84532, "Base Sepolia" },
        { 11155111, "Sepolia" }
    };
    size_t  i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].id == chain_id) {
            return names[i].name;
        }
    }

    return NULL;
}


x402_err
x402_network_parse(uint64_t *chain_id, const char *s, size_t len)
{
    static const char  prefix[] = "eip155:";
    uint64_t           v;
    size_t             i, plen;

    if (chain_id == NULL || (s == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    plen = sizeof(prefix) - 1;

    if (len <= plen || memcmp(s, prefix, plen) != 0) {
        return X402_ERR_NETWORK;
    }

    /* no leading zeros, and at most 16 digits (2^53 has 16) */
    if (s[plen] == '0' || len - plen > 16) {
        return X402_ERR_NETWORK;
    }

    v = 0;

    for (i = plen; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return X402_ERR_NETWORK;
        }
        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (v > X402_CHAIN_ID_MAX) {
        return X402_ERR_NETWORK;
    }

    *chain_id = v;

    return X402_OK;
}


size_t
x402_u64_format(char *out, uint64_t v)
{
    char    tmp[20];
    size_t  n, i;

    n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    for (i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }

    out[n] = '\0';

    return n;
}


void
x402_network_format(char *out, uint64_t chain_id)
{
    memcpy(out, "eip155:", 7);
    (void) x402_u64_format(out + 7, chain_id);
}


int
x402_str_eq(const char *s, const char *t, size_t len)
{
    return strlen(s) == len && memcmp(s, t, len) == 0;
}
