/*
 * The node's reply to the on-chain checks batch → x402_rpc_checks_parse(),
 * then x402_onchain_verdict() for the vectors' payment (chain 8453), with
 * and without a locally recovered signature, as
 * ngx_http_x402_onchain.c does.
 *
 * Invariants: only the documented errors; flags are 0 or 1; a verdict is
 * never "Payment required" and VALID only when every condition of the
 * header holds (asset code, signature, nonce bit, allowance, balance,
 * simulation); the HTTP status is 412 exactly for allowance_required.
 */

#include "fuzz_common.h"


/* t/fixtures/vectors.json chains.8453.paymentPayload */
static const char fuzz_vector_payload[] =
    "{\"x402Version\":2,\"payload\":{\"signature\":\"0x1a3ab0cdec56cb6e3b5c"
    "966b59928a982c026216079ff6ecce073f3314af6ee638d44db5896beabd143ba444"
    "27c5369aea712968da4b43ab25b375d2fc293fec1c\",\"permit2Authorization\""
    ":{\"from\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"permitted\""
    ":{\"token\":\"0x240b09731D96979f50B2C649C9CE10FcF9C7987F\",\"amount\":"
    "\"1000000000000000000\"},\"spender\":\"0x402085c248EeA27D92E8b30b2C58e"
    "d07f9E20001\",\"nonce\":\"45586735632069121150994497750440760339003638"
    "7149619137164185182714736811808\",\"deadline\":\"1740672389\",\"witnes"
    "s\":{\"to\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\",\"validAfte"
    "r\":\"0\"}}},\"resource\":{\"url\":\"http://127.0.0.1:8080/v1/chat/com"
    "pletions\",\"description\":\"chat\",\"mimeType\":\"application/json\"}"
    ",\"accepted\":{\"scheme\":\"exact\",\"network\":\"eip155:8453\",\"amou"
    "nt\":\"1000000000000000000\",\"asset\":\"0x240b09731D96979f50B2C649C9C"
    "E10FcF9C7987F\",\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    "\",\"maxTimeoutSeconds\":300,\"extra\":{\"assetTransferMethod\":\"perm"
    "it2\",\"name\":\"OPG\",\"version\":\"1\"}}}";

static x402_payment fuzz_p;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    FUZZ_CHECK(x402_payment_decode_json(&fuzz_p, NULL, fuzz_vector_payload,
                                        strlen(fuzz_vector_payload))
               == X402_OK);
    return 0;
}


static int
fuzz_bool(int v)
{
    return v == 0 || v == 1;
}


static int
fuzz_nonce_used(const x402_onchain *oc, const x402_payment *p)
{
    unsigned  bit = p->nonce.b[31];

    return (oc->nonce_word.b[31 - bit / 8] >> (bit % 8)) & 1;
}


static void
fuzz_verdict(const x402_onchain *oc, int local_sig_ok)
{
    x402_reason  r;

    r = x402_onchain_verdict(oc, &fuzz_p, local_sig_ok);
    FUZZ_CHECK(r < X402_R_MAX && r != X402_R_PAYMENT_REQUIRED);
    FUZZ_CHECK(r == X402_R_VALID || x402_reason_string(r) != NULL);
    FUZZ_CHECK((x402_reason_http_status(r) == 412)
               == (r == X402_R_ALLOWANCE_REQUIRED));

    if (r == X402_R_VALID) {
        FUZZ_CHECK(oc->asset_has_code && oc->sim_ok);
        FUZZ_CHECK(oc->from_has_code ? oc->erc1271_ok : local_sig_ok);
        FUZZ_CHECK(!fuzz_nonce_used(oc, &fuzz_p));
        FUZZ_CHECK(x402_u256_cmp(&oc->allowance, &fuzz_p.amount) >= 0);
        FUZZ_CHECK(x402_u256_cmp(&oc->balance, &fuzz_p.amount) >= 0);
    }

    if (!oc->asset_has_code) {
        FUZZ_CHECK(r == X402_R_ASSET_NOT_DEPLOYED);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *json;
    x402_err       rc;
    x402_onchain   oc;

    json = fuzz_dup(data, size);

    rc = x402_rpc_checks_parse(&oc, json, size, FUZZ_CHECKS_FIRST_ID);
    FUZZ_CHECK(rc == X402_OK || rc == X402_ERR_JSON || rc == X402_ERR_SIZE
               || rc == X402_ERR_VALUE);

    if (rc == X402_OK) {
        FUZZ_CHECK(fuzz_bool(oc.asset_has_code) && fuzz_bool(oc.from_has_code)
                   && fuzz_bool(oc.erc1271_ok) && fuzz_bool(oc.sim_ok)
                   && fuzz_bool(oc.sim_has_revert));
        FUZZ_CHECK(!(oc.sim_ok && oc.sim_has_revert));
        if (oc.sim_has_revert) {
            FUZZ_CHECK(x402_revert_reason(oc.sim_revert) < X402_R_MAX);
            FUZZ_CHECK(x402_settle_error_reason(oc.sim_revert) != NULL);
        }
        fuzz_verdict(&oc, 1);
        fuzz_verdict(&oc, 0);
    }

    /* the largest first id allowed, and one past it */
    rc = x402_rpc_checks_parse(&oc, json, size,
                               X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1));
    FUZZ_CHECK(rc != X402_ERR_ARG);
    rc = x402_rpc_checks_parse(&oc, json, size,
                               X402_RPC_ID_MAX - (X402_RPC_CHECKS - 2));
    FUZZ_CHECK(rc == X402_ERR_ARG);

    free(json);
    return 0;
}
