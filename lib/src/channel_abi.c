/*
 * batch-settlement calldata: x402BatchSettlement's deposit, claim, settle
 * and state reads, what those reads return, and a channel config as its
 * ABI words (x402.h).
 */

#include <string.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_WORD  32

/* a uint40 word: 27 zero bytes, then 5 */
#define X402_UINT40_ZEROS  (X402_WORD - 5)

/* a uint128 word: 16 zero bytes, then 16 */
#define X402_UINT128_ZEROS  (X402_WORD - 16)

/* a claim row: voucher (config, maxClaimableAmount), the signature's
 * offset, totalClaimed, the signature's length word */
#define X402_CLAIM_ROW_WORDS  (X402_CHANNEL_CONFIG_WORDS + 4)


static void
x402_abi_u64(uint8_t *out, uint64_t v)
{
    x402_u256  w;

    x402_u256_from_u64(&w, v);
    memcpy(out, w.b, X402_WORD);
}


void
x402_channel_config_encode(uint8_t out[224], const x402_channel_config *c)
{
    x402_abi_address(out, &c->payer);
    x402_abi_address(out + X402_WORD, &c->payer_authorizer);
    x402_abi_address(out + 2 * X402_WORD, &c->receiver);
    x402_abi_address(out + 3 * X402_WORD, &c->receiver_authorizer);
    x402_abi_address(out + 4 * X402_WORD, &c->token);
    x402_abi_u64(out + 5 * X402_WORD, c->withdraw_delay);
    memcpy(out + 6 * X402_WORD, c->salt, X402_WORD);
}


x402_err
x402_channel_config_decode(x402_channel_config *c, const uint8_t *in,
    size_t len)
{
    int                  i;
    x402_address        *a[5];
    const uint8_t       *w;

    if (c == NULL || in == NULL) {
        return X402_ERR_ARG;
    }

    if (len != X402_CHANNEL_CONFIG_WORDS * X402_WORD) {
        return X402_ERR_VALUE;
    }

    a[0] = &c->payer;
    a[1] = &c->payer_authorizer;
    a[2] = &c->receiver;
    a[3] = &c->receiver_authorizer;
    a[4] = &c->token;

    for (i = 0; i < 5; i++) {
        w = in + i * X402_WORD;

        if (!x402_zero_bytes(w, 12)) {
            return X402_ERR_VALUE;
        }

        memcpy(a[i]->b, w + 12, 20);
    }

    w = in + 5 * X402_WORD;

    if (!x402_zero_bytes(w, X402_UINT40_ZEROS)) {
        return X402_ERR_VALUE;
    }

    c->withdraw_delay = x402_abi_word_low(w, 5);
    memcpy(c->salt, in + 6 * X402_WORD, X402_WORD);

    return X402_OK;
}


x402_err
x402_abi_channel_deposit(uint8_t *out, size_t *out_len,
    const x402_channel_payment *p)
{
    size_t    need, padded;
    uint8_t  *w;

    if (out_len == NULL || p == NULL || !p->has_permit2
        || p->deposit_signature_len == 0
        || p->deposit_signature_len > X402_SIGNATURE_MAX)
    {
        return X402_ERR_ARG;
    }

    need = X402_CHANNEL_DEPOSIT_LEN(p->deposit_signature_len);
    padded = X402_ABI_PADDED(p->deposit_signature_len);

    if (out == NULL || *out_len < need) {
        return X402_ERR_BUFFER;
    }

    x402_abi_selector(out, X402_SEL_CHANNEL_DEPOSIT);
    w = out + 4;

    /* config (static, inline), amount, collector, collectorData's offset */
    x402_channel_config_encode(w, &p->config);
    w += X402_CHANNEL_CONFIG_WORDS * X402_WORD;
    memcpy(w, p->deposit_amount.b, X402_WORD);
    x402_abi_address(w + X402_WORD, &x402_permit2_deposit_collector_address);
    x402_abi_size(w + 2 * X402_WORD, (X402_CHANNEL_CONFIG_WORDS + 3)
                                     * X402_WORD);
    w += 3 * X402_WORD;

    /* collectorData = abi.encode(nonce, deadline, signature, ""): its
     * length, four head words, the signature, the empty bytes' length */
    x402_abi_size(w, 6 * X402_WORD + padded);
    w += X402_WORD;
    memcpy(w, p->nonce.b, X402_WORD);
    memcpy(w + X402_WORD, p->deadline.b, X402_WORD);
    x402_abi_size(w + 2 * X402_WORD, 4 * X402_WORD);
    x402_abi_size(w + 3 * X402_WORD, 5 * X402_WORD + padded);
    w += 4 * X402_WORD;
    w += x402_abi_bytes(w, p->deposit_signature, p->deposit_signature_len);
    x402_abi_size(w, 0);
    w += X402_WORD;

    *out_len = (size_t) (w - out);

    return X402_OK;
}


size_t
x402_abi_channel_claim_len(const x402_channel_claim *rows, size_t n)
{
    size_t  i, len;

    if (rows == NULL) {
        return 0;
    }

    /* selector, the array's offset and length; per row its offset */
    len = 4 + 2 * X402_WORD;

    for (i = 0; i < n; i++) {
        len += (1 + X402_CLAIM_ROW_WORDS) * X402_WORD
               + X402_ABI_PADDED(rows[i].signature_len);
    }

    return len;
}


x402_err
x402_abi_channel_claim(uint8_t *out, size_t *out_len,
    const x402_channel_claim *rows, size_t n)
{
    size_t    i, head, off, max;
    uint8_t  *t;

    /* every row fits its size_t sums however many there are */
    max = (((size_t) -1) - 4 - 2 * X402_WORD)
          / ((1 + X402_CLAIM_ROW_WORDS) * X402_WORD + X402_SIGNATURE_MAX);

    if (out_len == NULL || rows == NULL || n == 0 || n > max) {
        return X402_ERR_ARG;
    }

    for (i = 0; i < n; i++) {
        if (rows[i].signature_len > X402_SIGNATURE_MAX
            || (rows[i].signature == NULL && rows[i].signature_len != 0))
        {
            return X402_ERR_ARG;
        }
    }

    if (out == NULL || *out_len < x402_abi_channel_claim_len(rows, n)) {
        return X402_ERR_BUFFER;
    }

    x402_abi_selector(out, X402_SEL_CHANNEL_CLAIM);
    x402_abi_size(out + 4, X402_WORD);
    x402_abi_size(out + 4 + X402_WORD, n);

    /* the rows' offsets count from the first offset word */
    head = 4 + 2 * X402_WORD;
    off = n * X402_WORD;

    for (i = 0; i < n; i++) {
        x402_abi_size(out + head + i * X402_WORD, off);

        t = out + head + off;
        x402_channel_config_encode(t, &rows[i].config);
        t += X402_CHANNEL_CONFIG_WORDS * X402_WORD;
        memcpy(t, rows[i].max_claimable.b, X402_WORD);
        x402_abi_size(t + X402_WORD, (X402_CHANNEL_CONFIG_WORDS + 3)
                                     * X402_WORD);
        memcpy(t + 2 * X402_WORD, rows[i].total_claimed.b, X402_WORD);
        t += 3 * X402_WORD;
        t += x402_abi_bytes(t, rows[i].signature, rows[i].signature_len);

        off = (size_t) (t - out) - head;
    }

    *out_len = head + off;

    return X402_OK;
}


void
x402_abi_channel_settle(uint8_t out[68], const x402_address *receiver,
    const x402_address *token)
{
    x402_abi_selector(out, X402_SEL_CHANNEL_SETTLE);
    x402_abi_address(out + 4, receiver);
    x402_abi_address(out + 4 + X402_WORD, token);
}


void
x402_abi_channel_state(uint8_t out[36], const uint8_t channel_id[32])
{
    x402_abi_selector(out, X402_SEL_CHANNELS);
    memcpy(out + 4, channel_id, X402_WORD);
}


void
x402_abi_channel_withdrawal(uint8_t out[36], const uint8_t channel_id[32])
{
    x402_abi_selector(out, X402_SEL_PENDING_WITHDRAWALS);
    memcpy(out + 4, channel_id, X402_WORD);
}


/* "0x" and exactly two words */
static x402_err
x402_two_words(uint8_t w[64], const char *hex, size_t len)
{
    size_t  n;

    if (hex == NULL || !x402_hex0x(hex, len, &n) || n != 2 * X402_WORD) {
        return X402_ERR_VALUE;
    }

    x402_hex0x_prefix(w, hex, n);

    return X402_OK;
}


x402_err
x402_channel_state_words(x402_u256 *balance, x402_u256 *total_claimed,
    const uint8_t w[64])
{
    if (balance == NULL || total_claimed == NULL || w == NULL) {
        return X402_ERR_ARG;
    }

    if (!x402_zero_bytes(w, X402_UINT128_ZEROS)
        || !x402_zero_bytes(w + X402_WORD, X402_UINT128_ZEROS))
    {
        return X402_ERR_VALUE;
    }

    memcpy(balance->b, w, X402_WORD);
    memcpy(total_claimed->b, w + X402_WORD, X402_WORD);

    return X402_OK;
}


x402_err
x402_channel_withdrawal_words(x402_u256 *amount, uint64_t *initiated_at,
    const uint8_t w[64])
{
    if (amount == NULL || initiated_at == NULL || w == NULL) {
        return X402_ERR_ARG;
    }

    if (!x402_zero_bytes(w, X402_UINT128_ZEROS)
        || !x402_zero_bytes(w + X402_WORD, X402_UINT40_ZEROS))
    {
        return X402_ERR_VALUE;
    }

    memcpy(amount->b, w, X402_WORD);
    *initiated_at = x402_abi_word_low(w + X402_WORD, 5);

    return X402_OK;
}


x402_err
x402_channel_state_parse(x402_u256 *balance, x402_u256 *total_claimed,
    const char *hex, size_t len)
{
    uint8_t   w[2 * X402_WORD];
    x402_err  rc;

    if (balance == NULL || total_claimed == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_two_words(w, hex, len);

    return rc == X402_OK ? x402_channel_state_words(balance, total_claimed, w)
                         : rc;
}


x402_err
x402_channel_withdrawal_parse(x402_u256 *amount, uint64_t *initiated_at,
    const char *hex, size_t len)
{
    uint8_t   w[2 * X402_WORD];
    x402_err  rc;

    if (amount == NULL || initiated_at == NULL) {
        return X402_ERR_ARG;
    }

    rc = x402_two_words(w, hex, len);

    return rc == X402_OK
           ? x402_channel_withdrawal_words(amount, initiated_at, w) : rc;
}


void
x402_channel_usable(x402_u256 *out, const x402_u256 *balance,
    const x402_u256 *total_claimed, const x402_u256 *withdrawing)
{
    if (withdrawing == NULL
        || x402_u256_sub(out, balance, withdrawing) != X402_OK)
    {
        if (withdrawing == NULL) {
            *out = *balance;

        } else {
            memset(out, 0, sizeof(*out));
        }
    }

    if (x402_u256_cmp(out, total_claimed) < 0) {
        *out = *total_claimed;
    }
}
