/*
 * ABI calldata of the on-chain reads and of the proxies' settle calls
 * (docs/protocol.md#settle-calldata): selector, then 32-byte words.
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_WORD  32


void
x402_abi_selector(uint8_t *out, uint32_t sel)
{
    out[0] = (uint8_t) (sel >> 24);
    out[1] = (uint8_t) (sel >> 16);
    out[2] = (uint8_t) (sel >> 8);
    out[3] = (uint8_t) sel;
}


/* An address word: 12 zero bytes, then the 20 address bytes. */
void
x402_abi_address(uint8_t *out, const x402_address *a)
{
    memset(out, 0, 12);
    memcpy(out + 12, a->b, sizeof(a->b));
}


/* A small integer word (offsets and lengths). */
void
x402_abi_size(uint8_t *out, size_t v)
{
    int  i;

    memset(out, 0, X402_WORD);

    for (i = X402_WORD - 1; i >= X402_WORD - 8; i--) {
        out[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}


/* Length word, then the bytes right-padded to whole words; returns the
 * number of bytes written (32 + len rounded up to 32). */
size_t
x402_abi_bytes(uint8_t *out, const uint8_t *b, size_t len)
{
    size_t  padded;

    padded = (len + X402_WORD - 1) / X402_WORD * X402_WORD;

    x402_abi_size(out, len);
    if (len != 0) {
        memcpy(out + X402_WORD, b, len);
    }
    memset(out + X402_WORD + len, 0, padded - len);

    return X402_WORD + padded;
}


int
x402_abi_word_small(size_t *v, const uint8_t *w)
{
    if (!x402_zero_bytes(w, X402_WORD - 4)) {
        return 0;
    }

    *v = ((size_t) w[28] << 24) | ((size_t) w[29] << 16)
         | ((size_t) w[30] << 8) | w[31];

    return 1;
}


uint64_t
x402_abi_word_low(const uint8_t *w, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = X402_WORD - n; i < X402_WORD; i++) {
        v = (v << 8) | w[i];
    }

    return v;
}


void
x402_abi_balance_of(uint8_t out[36], const x402_address *owner)
{
    x402_abi_selector(out, X402_SEL_BALANCE_OF);
    x402_abi_address(out + 4, owner);
}


void
x402_abi_allowance(uint8_t out[68], const x402_address *owner,
    const x402_address *spender)
{
    x402_abi_selector(out, X402_SEL_ALLOWANCE);
    x402_abi_address(out + 4, owner);
    x402_abi_address(out + 4 + X402_WORD, spender);
}


void
x402_abi_nonce_bitmap(uint8_t out[68], const x402_address *owner,
    const x402_u256 *nonce)
{
    uint8_t  *word;

    x402_abi_selector(out, X402_SEL_NONCE_BITMAP);
    x402_abi_address(out + 4, owner);

    /* wordPos = nonce >> 8: drop the last byte, shift in a zero byte */
    word = out + 4 + X402_WORD;
    word[0] = 0;
    memcpy(word + 1, nonce->b, X402_WORD - 1);
}


x402_err
x402_abi_is_valid_signature(uint8_t *out, size_t *out_len,
    const uint8_t digest[32], const uint8_t *sig, size_t sig_len)
{
    size_t  need;

    if (out_len == NULL || digest == NULL || (sig == NULL && sig_len != 0)
        || sig_len > 65536)
    {
        return X402_ERR_ARG;
    }

    /* selector, digest, offset, length, padded bytes */
    need = 4 + 3 * X402_WORD
           + (sig_len + X402_WORD - 1) / X402_WORD * X402_WORD;

    if (out == NULL || *out_len < need) {
        return X402_ERR_BUFFER;
    }

    x402_abi_selector(out, X402_SEL_IS_VALID_SIG);
    memcpy(out + 4, digest, X402_WORD);
    x402_abi_size(out + 4 + X402_WORD, 2 * X402_WORD);
    x402_abi_bytes(out + 4 + 2 * X402_WORD, sig, sig_len);

    *out_len = need;

    return X402_OK;
}


x402_err
x402_abi_settle(uint8_t *out, size_t *out_len, x402_scheme scheme,
    const x402_payment *p, const x402_u256 *amount)
{
    static const x402_address  zero;
    size_t                     need, head;
    uint8_t                   *w;

    if (out_len == NULL || p == NULL || p->signature_len == 0
        || p->signature_len > X402_SIGNATURE_MAX)
    {
        return X402_ERR_ARG;
    }

    if (scheme == X402_SCHEME_EXACT) {
        head = 8;

    } else if (scheme == X402_SCHEME_UPTO) {
        if (amount == NULL) {
            return X402_ERR_ARG;
        }
        head = 10;

    } else {
        return X402_ERR_ARG;
    }

    need = X402_SETTLE_LEN(head, p->signature_len);

    if (out == NULL || *out_len < need) {
        return X402_ERR_BUFFER;
    }

    x402_abi_selector(out, scheme == X402_SCHEME_EXACT
                           ? X402_SEL_SETTLE_EXACT : X402_SEL_SETTLE_UPTO);
    w = out + 4;

    /* permit ((token, amount), nonce, deadline): static, inline */
    x402_abi_address(w, &p->token);
    memcpy(w + 1 * X402_WORD, p->amount.b, X402_WORD);
    memcpy(w + 2 * X402_WORD, p->nonce.b, X402_WORD);
    memcpy(w + 3 * X402_WORD, p->deadline.b, X402_WORD);
    w += 4 * X402_WORD;

    if (scheme == X402_SCHEME_UPTO) {
        memcpy(w, amount->b, X402_WORD);
        w += X402_WORD;
    }

    x402_abi_address(w, &p->from);
    x402_abi_address(w + X402_WORD, &p->to);
    w += 2 * X402_WORD;

    if (scheme == X402_SCHEME_UPTO) {
        x402_abi_address(w, p->has_witness_facilitator
                            ? &p->witness_facilitator : &zero);
        w += X402_WORD;
    }

    memcpy(w, p->valid_after.b, X402_WORD);
    w += X402_WORD;

    /* the signature follows the head words */
    x402_abi_size(w, head * X402_WORD);
    w += X402_WORD;
    w += x402_abi_bytes(w, p->signature, p->signature_len);

    *out_len = (size_t) (w - out);

    return X402_OK;
}
