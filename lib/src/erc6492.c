/*
 * ERC-6492 signatures of smart wallets that may not be deployed yet: the
 * wrapper taken apart, the probe that asks the chain what the payment
 * would meet once the wallet is deployed, and its verdict
 * (docs/agents.md#smart-wallets).
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


#define X402_WORD           32
#define X402_PROBE_WORDS    5

/* a transaction's intrinsic cost, a calldata byte's (at most), a margin */
#define X402_TX_GAS         21000
#define X402_CALLDATA_GAS   16
#define X402_DEPLOY_MARGIN  25000


static const uint8_t  x402_erc6492_magic[X402_WORD] = {
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92
};

/* X402_ERC6492_PROBE_CODE_MAX bounds the table the generator writes */
typedef char x402_probe_code_fits[
    X402_ERC6492_PROBE_CODE_LEN <= X402_ERC6492_PROBE_CODE_MAX ? 1 : -1];


/* The byte string whose offset word is at `head` in the encoding. */
static int
x402_abi_dyn(const uint8_t **p, size_t *n, const uint8_t *enc, size_t len,
    size_t head)
{
    size_t  off, size;

    if (!x402_abi_word_small(&off, enc + head)
        || off > len || len - off < X402_WORD
        || !x402_abi_word_small(&size, enc + off)
        || size > len - off - X402_WORD)
    {
        return 0;
    }

    *p = enc + off + X402_WORD;
    *n = size;

    return 1;
}


x402_err
x402_erc6492_unwrap(x402_erc6492 *out, const uint8_t *sig, size_t len)
{
    size_t  enc_len;

    if (out == NULL || (sig == NULL && len != 0)) {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));

    if (len < X402_WORD
        || memcmp(sig + len - X402_WORD, x402_erc6492_magic, X402_WORD) != 0)
    {
        return X402_OK;
    }

    enc_len = len - X402_WORD;

    if (enc_len < 3 * X402_WORD
        || !x402_zero_bytes(sig, X402_WORD - sizeof(out->factory.b))
        || !x402_abi_dyn(&out->data, &out->data_len, sig, enc_len,
                         X402_WORD)
        || !x402_abi_dyn(&out->inner, &out->inner_len, sig, enc_len,
                         2 * X402_WORD))
    {
        memset(out, 0, sizeof(*out));
        return X402_ERR_VALUE;
    }

    memcpy(out->factory.b, sig + X402_WORD - sizeof(out->factory.b),
           sizeof(out->factory.b));
    out->wrapped = 1;

    return X402_OK;
}


/* ----------------------------------------------------------------- probe */

x402_err
x402_rpc_erc6492_probe_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p, const uint8_t digest[32],
    uint64_t id)
{
    x402_buf   b;
    uint8_t    data[X402_ERC6492_PROBE_CODE_LEN + 9 * X402_WORD
                    + X402_ABI_PADDED(X402_FACTORY_DATA_MAX)
                    + X402_ABI_PADDED(X402_SIGNATURE_MAX)];
    uint8_t   *a;
    size_t     n, head;

    if (out_len == NULL || offer == NULL || p == NULL || digest == NULL
        || !p->has_deployment || p->signature_len == 0
        || p->signature_len > X402_SIGNATURE_MAX
        || p->factory_data_len > X402_FACTORY_DATA_MAX
        || id > X402_RPC_ID_MAX)
    {
        return X402_ERR_ARG;
    }

    /* the creation code, then its constructor's arguments: factory,
       factoryData, wallet, digest, signature, token, Permit2 */

    memcpy(data, x402_erc6492_probe_code, X402_ERC6492_PROBE_CODE_LEN);
    a = data + X402_ERC6492_PROBE_CODE_LEN;

    head = 7 * X402_WORD;

    x402_abi_address(a, &p->factory);
    x402_abi_size(a + X402_WORD, head);
    x402_abi_address(a + 2 * X402_WORD, &p->from);
    memcpy(a + 3 * X402_WORD, digest, X402_WORD);
    x402_abi_size(a + 4 * X402_WORD,
                  head + X402_WORD + X402_ABI_PADDED(p->factory_data_len));
    x402_abi_address(a + 5 * X402_WORD, &offer->asset);
    x402_abi_address(a + 6 * X402_WORD, &x402_permit2_address);

    n = head;
    n += x402_abi_bytes(a + n, p->factory_data, p->factory_data_len);
    n += x402_abi_bytes(a + n, p->signature, p->signature_len);

    if (out == NULL || *out_len == 0) {
        return X402_ERR_BUFFER;
    }

    x402_buf_init(&b, out, *out_len);

    x402_put_eth_call(&b, "", id, NULL, 0, NULL, data,
                      X402_ERC6492_PROBE_CODE_LEN + n, UINT64_MAX);

    return x402_buf_finish(&b, out_len);
}


/* The low 8 bytes of a word whose higher bytes are zero. */
static int
x402_word_u64(uint64_t *out, const uint8_t *w)
{
    if (!x402_zero_bytes(w, X402_WORD - 8)) {
        return 0;
    }

    *out = x402_abi_word_low(w, 8);

    return 1;
}


x402_err
x402_rpc_erc6492_probe_parse(x402_erc6492_probe *out, const char *json,
    size_t len, uint64_t id)
{
    json_t    *root, *res;
    uint8_t    w[X402_PROBE_WORDS * X402_WORD];
    uint64_t   deployed;
    x402_err   rc;

    if (out == NULL || (json == NULL && len != 0) || id > X402_RPC_ID_MAX) {
        return X402_ERR_ARG;
    }

    memset(out, 0, sizeof(*out));
    root = NULL;

    rc = x402_rpc_single_result(&res, &root, json, len, id);

    if (rc == X402_OK
        && (x402_rpc_bytes(w, sizeof(w), res) != X402_OK
            || !x402_word_u64(&deployed, w) || deployed > 1
            || !x402_word_u64(&out->factory_gas, w + X402_WORD)))
    {
        rc = X402_ERR_VALUE;
    }

    if (root != NULL) {
        json_decref(root);
    }

    if (rc != X402_OK) {
        memset(out, 0, sizeof(*out));
        return rc;
    }

    out->deployed = (int) deployed;
    out->erc1271_ok = x402_erc1271_magic(w + 2 * X402_WORD);
    memcpy(out->balance.b, w + 3 * X402_WORD, X402_WORD);
    memcpy(out->allowance.b, w + 4 * X402_WORD, X402_WORD);

    return X402_OK;
}


x402_reason
x402_erc6492_verdict(const x402_onchain *oc, const x402_erc6492_probe *pr,
    const x402_payment *p)
{
    x402_onchain  after;

    if (oc == NULL || pr == NULL || p == NULL) {
        return X402_R_PAYMENT_REQUIRED;
    }

    if (!oc->asset_has_code) {
        return X402_R_ASSET_NOT_DEPLOYED;
    }

    if (!pr->deployed) {
        return X402_R_SMART_WALLET_DEPLOYMENT_FAILED;
    }

    /* the settlement itself is simulated once the wallet exists */

    after = *oc;
    after.from_has_code = 1;
    after.erc1271_ok = pr->erc1271_ok;
    after.balance = pr->balance;
    after.allowance = pr->allowance;
    after.sim_ok = 1;
    after.sim_has_revert = 0;

    return x402_onchain_verdict(&after, p, 0);
}


uint64_t
x402_erc6492_deploy_gas(const x402_erc6492_probe *pr, const x402_payment *p)
{
    if (pr == NULL || p == NULL) {
        return 0;
    }

    return pr->factory_gas + pr->factory_gas / 2 + X402_TX_GAS
           + X402_CALLDATA_GAS * (uint64_t) p->factory_data_len
           + X402_DEPLOY_MARGIN;
}
