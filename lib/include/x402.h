/*
 * libx402: the pure-C99 core of ngx_x402.
 *
 * x402 v2 payments with Uniswap Permit2 (schemes "exact" and "upto", and
 * the payment channels of "batch-settlement"): codecs, the JSON wire
 * objects, EIP-712 hashing, secp256k1 recovery and
 * signing, and the local verification rules of the reference facilitator
 * (@x402/evm 2.27), returning its reason strings.
 *
 * Rules that hold for every function below (as in libsecp256k1):
 *  - Argument order: context first, then outputs, then in/out, then inputs.
 *    A length follows its buffer.  Flags come last.
 *  - Buffers are caller-owned.  Nothing here allocates memory that outlives
 *    the call, except x402_context_create().  jansson objects never escape.
 *  - No globals other than const tables; every function is reentrant.
 *  - Byte strings are (const uint8_t *p, size_t len); text inputs are
 *    (const char *s, size_t len) and need not be NUL-terminated.
 *  - Functions returning x402_err return X402_OK (0) on success.  On error
 *    the outputs are unspecified (but never read past their stated sizes).
 *  - 256-bit integers and hashes are 32 big-endian bytes; addresses are the
 *    20 raw bytes.  Addresses are always compared as bytes, never as text.
 */

#ifndef X402_H_INCLUDED
#define X402_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif


/* ---------------------------------------------------------------- errors */

/*
 * Codec and decoding errors.  x402_strerror() gives a short English text.
 * Decoding a PaymentPayload reports the offending field separately (see
 * x402_payment_decode()).
 */
typedef enum {
    X402_OK = 0,
    X402_ERR_ARG,           /* illegal argument (NULL, bad size) */
    X402_ERR_BUFFER,        /* output buffer too small */
    X402_ERR_NOMEM,         /* allocation failed (inside jansson) */
    X402_ERR_HEX,           /* not hex, odd length, or missing 0x */
    X402_ERR_BASE64,        /* not standard base64 (url-safe, space, ...) */
    X402_ERR_NUMBER,        /* not a decimal or 0x-hex unsigned integer */
    X402_ERR_OVERFLOW,      /* integer does not fit (>= 2^256, too long) */
    X402_ERR_JSON,          /* not JSON, truncated, or not an object */
    X402_ERR_MISSING,       /* a required field is absent */
    X402_ERR_TYPE,          /* a field has the wrong JSON type */
    X402_ERR_VALUE,         /* a field has a malformed value */
    X402_ERR_SIZE,          /* a field or the whole input is too long */
    X402_ERR_VERSION,       /* x402Version is not 2 */
    X402_ERR_NETWORK,       /* network is not "eip155:<chain id>" */
    X402_ERR_CRYPTO         /* secp256k1 rejected a key or signature */
} x402_err;

const char *x402_strerror(x402_err err);


/*
 * Verification outcomes.  Each maps 1:1 to the reason string of the
 * reference facilitator (x402_reason_string()); X402_R_VALID has none.
 */
typedef enum {
    X402_R_VALID = 0,
    X402_R_PAYMENT_REQUIRED,            /* "Payment required" (undecodable) */
    X402_R_NO_MATCH,                    /* "No matching payment requirements" */
    X402_R_UNSUPPORTED_PAYLOAD_TYPE,    /* unsupported_payload_type */
    X402_R_EXACT_NETWORK_MISMATCH,      /* invalid_exact_evm_network_mismatch */
    X402_R_UPTO_SCHEME,                 /* invalid_upto_evm_scheme */
    X402_R_UPTO_NETWORK_MISMATCH,       /* invalid_upto_evm_network_mismatch */
    X402_R_SPENDER,                     /* invalid_permit2_spender */
    X402_R_RECIPIENT_MISMATCH,          /* invalid_permit2_recipient_mismatch */
    X402_R_UPTO_FACILITATOR_MISMATCH,   /* upto_facilitator_mismatch */
    X402_R_DEADLINE_EXPIRED,            /* permit2_deadline_expired */
    X402_R_NOT_YET_VALID,               /* permit2_not_yet_valid */
    X402_R_AMOUNT_MISMATCH,             /* permit2_amount_mismatch */
    X402_R_TOKEN_MISMATCH,              /* permit2_token_mismatch */
    X402_R_INVALID_SIGNATURE,           /* invalid_permit2_signature */
    /* on-chain outcomes (used by later stages) */
    X402_R_ASSET_NOT_DEPLOYED,          /* asset_not_deployed_contract */
    X402_R_PROXY_NOT_DEPLOYED,          /* permit2_proxy_not_deployed */
    X402_R_INSUFFICIENT_BALANCE,        /* permit2_insufficient_balance */
    X402_R_ALLOWANCE_REQUIRED,          /* permit2_allowance_required (412) */
    X402_R_INVALID_NONCE,               /* permit2_invalid_nonce */
    X402_R_SIMULATION_FAILED,           /* permit2_simulation_failed */
    /* batch-settlement ("invalid_batch_settlement_evm_" + the comment) */
    X402_R_BS_NETWORK_MISMATCH,         /* network_mismatch */
    X402_R_BS_PAYLOAD_TYPE,             /* payload_type */
    X402_R_BS_CHANNEL_ID_MISMATCH,      /* channel_id_mismatch */
    X402_R_BS_TOKEN_MISMATCH,           /* token_mismatch */
    X402_R_BS_RECEIVER_MISMATCH,        /* receiver_mismatch */
    X402_R_BS_RECEIVER_AUTHORIZER_MISMATCH, /* receiver_authorizer_mismatch */
    X402_R_BS_WITHDRAW_DELAY_MISMATCH,  /* withdraw_delay_mismatch */
    X402_R_BS_VOUCHER_SIGNATURE,        /* voucher_signature */
    X402_R_BS_PERMIT2_AUTHORIZATION_REQUIRED,
                                        /* permit2_authorization_required */
    X402_R_BS_PERMIT2_INVALID_SPENDER,  /* permit2_invalid_spender */
    X402_R_BS_PERMIT2_AMOUNT_MISMATCH,  /* permit2_amount_mismatch */
    X402_R_BS_PERMIT2_DEADLINE_EXPIRED, /* permit2_deadline_expired */
    X402_R_BS_PERMIT2_INVALID_SIGNATURE, /* permit2_invalid_signature */
    X402_R_BS_DEPOSIT_PAYLOAD,          /* deposit_payload */
    X402_R_BS_CUMULATIVE_MISMATCH,      /* cumulative_amount_mismatch */
    X402_R_BS_CUMULATIVE_EXCEEDS_BALANCE, /* cumulative_exceeds_balance */
    X402_R_BS_CUMULATIVE_BELOW_CLAIMED, /* cumulative_below_claimed */
    X402_R_BS_CHANNEL_NOT_FOUND,        /* channel_not_found */
    X402_R_BS_CHANNEL_BUSY,             /* channel_busy */
    X402_R_BS_DEPOSIT_SIMULATION_FAILED, /* deposit_simulation_failed */
    X402_R_BS_DEPOSIT_TRANSACTION_FAILED, /* deposit_transaction_failed */
    X402_R_BS_DEPOSIT_BELOW_MIN,        /* deposit_below_min_deposit */
    /* ERC-6492 wallets not deployed yet (the reference's strings) */
    X402_R_EIP6492_FACTORY_NOT_ALLOWED, /* eip6492_factory_not_allowed */
    X402_R_SMART_WALLET_DEPLOYMENT_FAILED, /* smart_wallet_deployment_failed */
    X402_R_MAX
} x402_reason;

/* Returns the wire string for r, or NULL for X402_R_VALID/out of range. */
const char *x402_reason_string(x402_reason r);

/* The HTTP status a gateway answers for a failed verification: 412 for
 * X402_R_ALLOWANCE_REQUIRED, 402 otherwise. */
int x402_reason_http_status(x402_reason r);

/* The reason of a wire string (a facilitator's invalidReason): X402_R_MAX
 * for NULL or a string this library does not name. */
x402_reason x402_reason_parse(const char *s);


/* ------------------------------------------------------------ constants */

typedef struct { uint8_t b[20]; } x402_address;
typedef struct { uint8_t b[32]; } x402_u256;    /* big-endian */

typedef enum {
    X402_SCHEME_UNKNOWN = 0,
    X402_SCHEME_EXACT,
    X402_SCHEME_UPTO,
    X402_SCHEME_BATCH                   /* "batch-settlement" */
} x402_scheme;

/* Canonical addresses (raw bytes). */
extern const x402_address x402_permit2_address;
extern const x402_address x402_exact_proxy_address;
extern const x402_address x402_upto_proxy_address;
extern const x402_address x402_opg_base_address;
/* batch-settlement: x402BatchSettlement, 0x4020074e9dF2ce1deE5A9C1b5c3f5
 * 41D02a10003, and its Permit2DepositCollector, 0x4020425FAf3B746C082C2f9
 * 42b4E5159887B0005 (the spender of a deposit's Permit2 signature) */
extern const x402_address x402_batch_settlement_address;
extern const x402_address x402_permit2_deposit_collector_address;

/* The withdraw delays x402BatchSettlement accepts, in seconds (15 minutes
 * to 30 days). */
#define X402_CHANNEL_WITHDRAW_DELAY_MIN  900
#define X402_CHANNEL_WITHDRAW_DELAY_MAX  2592000

/* "exact" / "upto" / "batch-settlement" / NULL, and the reverse
 * (X402_SCHEME_UNKNOWN if none). */
const char *x402_scheme_name(x402_scheme s);
x402_scheme x402_scheme_parse(const char *s, size_t len);

/* The Permit2 spender each scheme requires: the x402 proxy of exact and
 * upto, the deposit collector of batch-settlement. */
const x402_address *x402_scheme_spender(x402_scheme s);


/* ---------------------------------------------------------------- codecs */

/* Keccak-256 (Ethereum's, padding 0x01; not SHA3-256). */
void x402_keccak256(uint8_t out[32], const uint8_t *in, size_t len);

/* Incremental Keccak-256 for multi-part preimages. */
typedef struct {
    uint64_t st[25];
    size_t   pos;
} x402_keccak_ctx;

void x402_keccak_init(x402_keccak_ctx *k);
void x402_keccak_update(x402_keccak_ctx *k, const uint8_t *in, size_t len);
void x402_keccak_final(x402_keccak_ctx *k, uint8_t out[32]);

/*
 * Hex.  x402_hex_decode: input without "0x", even length, either case;
 * *out_len (in: capacity, out: bytes written).  x402_hex_encode writes
 * 2*len lowercase digits and a NUL (out needs 2*len+1 bytes), no prefix.
 */
x402_err x402_hex_decode(uint8_t *out, size_t *out_len,
    const char *in, size_t in_len);
void x402_hex_encode(char *out, const uint8_t *in, size_t len);

/*
 * Standard base64 (RFC 4648 §4).  Decoding accepts missing '=' padding and
 * rejects the url-safe alphabet, whitespace, line breaks and bad padding.
 * *out_len is capacity in, bytes written out.  Encoding always pads and
 * NUL-terminates; out needs x402_base64_encoded_len(len) + 1 bytes.
 */
size_t x402_base64_encoded_len(size_t len);
size_t x402_base64_decoded_max(size_t len);
x402_err x402_base64_decode(uint8_t *out, size_t *out_len,
    const char *in, size_t in_len);
x402_err x402_base64_encode(char *out, size_t out_cap,
    const uint8_t *in, size_t len);

/*
 * uint256.  x402_u256_parse accepts canonical decimal (leading zeros are
 * allowed, as the reference compares numerically) or "0x"-prefixed hex; the
 * empty string, signs, spaces and anything >= 2^256 are errors
 * (X402_ERR_NUMBER / X402_ERR_OVERFLOW).  x402_u256_parse_dec accepts
 * decimal only.  Formatting writes canonical decimal with a NUL; out needs
 * X402_U256_DEC_MAX bytes.
 */
#define X402_U256_DEC_MAX 79
x402_err x402_u256_parse(x402_u256 *out, const char *s, size_t len);
x402_err x402_u256_parse_dec(x402_u256 *out, const char *s, size_t len);
void x402_u256_format_dec(char out[X402_U256_DEC_MAX], const x402_u256 *v);
void x402_u256_from_u64(x402_u256 *out, uint64_t v);
/* -1, 0, 1 like memcmp. */
int x402_u256_cmp(const x402_u256 *a, const x402_u256 *b);
/* out = a + b (out may alias a or b); X402_ERR_OVERFLOW past 2^256 - 1
 * (out is then unspecified). */
x402_err x402_u256_add(x402_u256 *out, const x402_u256 *a,
    const x402_u256 *b);
/* out = a - b (out may alias a or b); X402_ERR_OVERFLOW when b > a (out
 * is then unspecified). */
x402_err x402_u256_sub(x402_u256 *out, const x402_u256 *a,
    const x402_u256 *b);
/* Returns 0 and sets *out if v fits in 64 bits, else X402_ERR_OVERFLOW. */
x402_err x402_u256_to_u64(uint64_t *out, const x402_u256 *v);

/*
 * Decimal token amounts: "0.001" with `decimals` fractional digits scaled to
 * atomic units.  More fractional digits than `decimals` is X402_ERR_VALUE;
 * overflow is X402_ERR_OVERFLOW; decimals must be <= 77.
 */
x402_err x402_amount_parse(x402_u256 *out, const char *s, size_t len,
    unsigned decimals);

/*
 * The inverse: atomic units as a decimal token amount ("0.001", "12",
 * no trailing zeros), NUL-terminated into X402_AMOUNT_STR_MAX bytes.
 */
#define X402_AMOUNT_STR_MAX  (X402_U256_DEC_MAX + 80)
void x402_amount_format(char out[X402_AMOUNT_STR_MAX], const x402_u256 *v,
    unsigned decimals);

/*
 * Addresses: "0x" + 40 hex digits, any case; the EIP-55 checksum is not
 * enforced (as viem's getAddress).  Formatting writes the EIP-55 checksummed
 * form with a NUL into 43 bytes.
 */
#define X402_ADDRESS_STR_LEN 43
x402_err x402_address_parse(x402_address *out, const char *s, size_t len);
void x402_address_format(char out[X402_ADDRESS_STR_LEN],
    const x402_address *a);
int x402_address_eq(const x402_address *a, const x402_address *b);

/*
 * The EIP-55 checksum of an address text, for what a person typed (a
 * configuration): X402_CHECKSUM_VALID when its letters' case is the
 * checksum, X402_CHECKSUM_NONE when they are all of one case (nothing to
 * check), X402_CHECKSUM_WRONG when the mixed case does not match (a typo:
 * a changed digit changes the checksum).  X402_ERR_VALUE when the text is
 * not an address at all.
 */
typedef enum {
    X402_CHECKSUM_VALID = 0,
    X402_CHECKSUM_NONE,
    X402_CHECKSUM_WRONG
} x402_checksum;

x402_err x402_address_checksum(x402_checksum *out, const char *s,
    size_t len);

/*
 * An HTTP list of field names (a CORS Access-Control-Request-Headers): 1
 * when it is at most X402_FIELD_LIST_MAX bytes of RFC 9110 token
 * characters, commas and blanks, with at least one name; 0 otherwise (it
 * may then not be echoed into a response header).
 */
#define X402_FIELD_LIST_MAX  1024
int x402_field_list_valid(const char *s, size_t len);
int x402_address_is_zero(const x402_address *a);

/* "eip155:<decimal chain id>" (no leading zeros, 1..2^53) -> chain id. */
x402_err x402_network_parse(uint64_t *chain_id, const char *s, size_t len);

/* A chain's name for people ("Base", "Base Sepolia", "Ethereum"), NULL
 * for a chain this table does not know. */
const char *x402_network_name(uint64_t chain_id);


/* ------------------------------------------------------- wire objects */

/* One offer (a PaymentRequirements entry), as the server configures it. */
typedef struct {
    x402_scheme   scheme;
    uint64_t      chain_id;            /* network = "eip155:<chain_id>" */
    x402_u256     amount;              /* exact: the price; upto: the cap */
    x402_address  asset;
    x402_address  pay_to;
    x402_address  facilitator;         /* upto: extra.facilitatorAddress */
    uint32_t      max_timeout_seconds;
    const char   *extra_name;          /* optional extra.name (or NULL) */
    const char   *extra_version;       /* optional extra.version (or NULL) */
    /* batch-settlement only (zero for the other schemes): extra.
     * receiverAuthorizer, extra.withdrawDelay (seconds, within
     * X402_CHANNEL_WITHDRAW_DELAY_MIN..MAX) and extra.minDeposit */
    x402_address  receiver_authorizer;
    uint64_t      withdraw_delay;
    int           has_min_deposit;
    x402_u256     min_deposit;
} x402_offer;

/* The resource an offer is for. */
typedef struct {
    const char   *url;                 /* required, non-empty */
    const char   *description;         /* optional (NULL: omitted) */
    const char   *mime_type;           /* optional (NULL: omitted) */
} x402_resource;

/*
 * Encode a PaymentRequired object as compact JSON with the reference key
 * order: {"x402Version":2,"error":…,"resource":{url,description,mimeType},
 * "accepts":[{scheme,network,amount,asset,payTo,maxTimeoutSeconds,
 * "extra":{"assetTransferMethod":"permit2",name?,version?,
 * facilitatorAddress? (upto)}}]}; batch-settlement's extra is
 * {"receiverAuthorizer","withdrawDelay":<n>,"minDeposit"? (has_min_deposit),
 * name?,version?,"assetTransferMethod":"permit2"} (no facilitatorAddress).
 * `error` may be NULL (omitted).
 * Addresses are written EIP-55 checksummed, amounts in decimal.
 * Writes a NUL-terminated string; *out_len (in: capacity, out: length
 * without the NUL).
 */
x402_err x402_payment_required_encode(char *out, size_t *out_len,
    const char *error, const x402_resource *resource,
    const x402_offer *accepts, size_t n_accepts);

/*
 * The hot path for gateways: the accepts array encoded once per offer
 * (x402_accepts_encode, compact JSON "[{…}]"), then per answer
 * x402_payment_required_compose writes exactly the bytes of
 * x402_payment_required_encode without building a JSON document: only the
 * error and resource texts are escaped (invalid UTF-8 is X402_ERR_ARG).
 */
x402_err x402_accepts_encode(char *out, size_t *out_len,
    const x402_offer *accepts, size_t n_accepts);
x402_err x402_payment_required_compose(char *out, size_t *out_len,
    const char *error, const x402_resource *resource,
    const char *accepts_json, size_t accepts_len);

/*
 * The same with the PaymentRequired's "extensions" object (compact JSON
 * text, e.g. from x402_payment_identifier_declare), written last as the
 * reference does; extensions_json NULL: none.
 */
x402_err x402_payment_required_compose_ext(char *out, size_t *out_len,
    const char *error, const x402_resource *resource,
    const char *accepts_json, size_t accepts_len,
    const char *extensions_json, size_t extensions_len);

/*
 * The "extensions" object that declares the payment-identifier extension
 * (@x402/extensions 2.27 declarePaymentIdentifierExtension): {"payment-
 * identifier":{"info":{"required":…},"schema":{…}}}, NUL-terminated.
 */
x402_err x402_payment_identifier_declare(char *out, size_t *out_len,
    int required);

/* The same, then standard base64 (the PAYMENT-REQUIRED header value). */
x402_err x402_payment_required_header(char *out, size_t *out_len,
    const char *error, const x402_resource *resource,
    const x402_offer *accepts, size_t n_accepts);

#define X402_NETWORK_MAX      64      /* longest accepted "network" text */
#define X402_EXTRA_TEXT_MAX   64      /* longest accepted extra.name/version */
/*
 * A signature is 65 bytes from an EOA (r, s, v), or any length a contract
 * wallet checks with EIP-1271 (passkey and multisig wallets sign far more):
 * up to X402_SIGNATURE_MAX bytes are carried to Permit2 unchanged.
 */
#define X402_SIGNATURE_ECDSA  65
#define X402_SIGNATURE_MAX    1024
/*
 * An ERC-6492 signature (a wallet that may not be deployed yet):
 * abi.encode(address factory, bytes factoryCalldata, bytes signature)
 * followed by the 32-byte magic 0x6492…6492; its calldata is at most
 * X402_FACTORY_DATA_MAX bytes, its inner signature X402_SIGNATURE_MAX.
 */
#define X402_FACTORY_DATA_MAX 1024
#define X402_ERC6492_MAX      (6 * 32 + X402_FACTORY_DATA_MAX \
                               + X402_SIGNATURE_MAX)
#define X402_PAYLOAD_JSON_MAX 16384   /* longest decoded PaymentPayload */
#define X402_PAYMENT_ID_MIN   16      /* payment-identifier id lengths */
#define X402_PAYMENT_ID_MAX   128

/* A decoded PAYMENT-SIGNATURE (PaymentPayload v2, Permit2). */
typedef struct {
    /* "accepted": the client's copy of the offer (unsigned) */
    struct {
        x402_scheme   scheme;          /* X402_SCHEME_UNKNOWN: other text */
        char          network[X402_NETWORK_MAX + 1];
        int           has_chain_id;    /* network parsed as eip155:<n> */
        uint64_t      chain_id;
        x402_u256     amount;
        x402_address  asset;
        x402_address  pay_to;
        uint32_t      max_timeout_seconds;
        int           permit2;         /* extra.assetTransferMethod=="permit2" */
        int           has_facilitator; /* extra.facilitatorAddress present */
        x402_address  facilitator;
        int           has_name;        /* extra.name, extra.version */
        int           has_version;
        char          name[X402_EXTRA_TEXT_MAX + 1];
        char          version[X402_EXTRA_TEXT_MAX + 1];
        /* a member no offer has, in accepted or its extra (or a name or
           version longer than X402_EXTRA_TEXT_MAX): it never matches */
        int           foreign;
    } accepted;

    /* "payload.permit2Authorization": the signed fields */
    x402_address  from;
    x402_address  token;               /* permitted.token */
    x402_u256     amount;              /* permitted.amount */
    x402_address  spender;
    x402_u256     nonce;
    x402_u256     deadline;
    x402_address  to;                  /* witness.to */
    int           has_witness_facilitator;
    x402_address  witness_facilitator; /* witness.facilitator (upto) */
    x402_u256     valid_after;         /* witness.validAfter */

    /*
     * "payload.signature".  A well-typed string that is not "0x" + even hex
     * of 1 to X402_SIGNATURE_MAX bytes is not a decode error: the reference
     * reports it as invalid_permit2_signature, so signature_len is set to 0
     * and verification fails there.  Only X402_SIGNATURE_ECDSA bytes can
     * recover locally; any other length is a contract wallet's, for the
     * chain to judge (EIP-1271 through Permit2).
     */
    uint8_t       signature[X402_SIGNATURE_MAX];
    size_t        signature_len;

    /*
     * An ERC-6492 "payload.signature" (x402_erc6492_unwrap()) is unwrapped
     * as it is decoded: `signature` holds the inner signature (what the
     * wallet's isValidSignature and Permit2 get, what a receipt keeps),
     * and has_deployment says the wallet may first have to be deployed by
     * calling `factory` with factory_data.  A factory of 0 is no
     * deployment (the reference's rule).  A wrapper that does not decode,
     * or whose parts are too long, is a malformed signature
     * (signature_len 0).
     */
    int           has_deployment;
    x402_address  factory;
    uint8_t       factory_data[X402_FACTORY_DATA_MAX];
    size_t        factory_data_len;

    /*
     * "extensions"."payment-identifier".info.id (@x402/extensions 2.27):
     * X402_PAYMENT_ID_NONE, _VALID (16-128 of [A-Za-z0-9_-], in
     * payment_id), or _INVALID (present, not such a text; not a decode
     * error: the server decides what it means).
     */
    int           payment_id_state;
    char          payment_id[X402_PAYMENT_ID_MAX + 1];
} x402_payment;

#define X402_PAYMENT_ID_NONE     0
#define X402_PAYMENT_ID_VALID    1
#define X402_PAYMENT_ID_INVALID  2

/*
 * Decode the JSON text of a PaymentPayload.  Requires x402Version == 2,
 * payload.permit2Authorization and every signed field; optional fields
 * (extensions, resource, accepted.extra.*) may be absent or null.
 * On error, *field (if non-NULL) points to a static dotted path of the
 * offending field (e.g. "payload.permit2Authorization.nonce"), or "" for
 * the document itself.  A required field that is null is X402_ERR_TYPE;
 * duplicate object keys are X402_ERR_JSON (two parsers must not disagree).
 */
x402_err x402_payment_decode_json(x402_payment *out, const char **field,
    const char *json, size_t len);

/* Decode the PAYMENT-SIGNATURE header value: base64, then the JSON above. */
x402_err x402_payment_decode_header(x402_payment *out, const char **field,
    const char *header, size_t len);


/* ------------------------------------------------------------ EIP-712 */

/* keccak(abi.encode(DOMAIN_TYPEHASH, keccak("Permit2"), chainId, PERMIT2)) */
void x402_permit2_domain_separator(uint8_t out[32], uint64_t chain_id);

/* keccak(abi.encode(TOKEN_PERMISSIONS_TYPEHASH, token, amount)) */
void x402_permit2_token_permissions_hash(uint8_t out[32],
    const x402_address *token, const x402_u256 *amount);

/*
 * Witness hash: exact = keccak(abi.encode(W, to, validAfter));
 * upto = keccak(abi.encode(W_UPTO, to, facilitator, validAfter)).
 * `facilitator` is ignored for exact.  Returns X402_ERR_ARG for an unknown
 * scheme.
 */
x402_err x402_permit2_witness_hash(uint8_t out[32], x402_scheme scheme,
    const x402_address *to, const x402_address *facilitator,
    const x402_u256 *valid_after);

/* The PermitWitnessTransferFrom struct hash of a decoded payment. */
x402_err x402_permit2_struct_hash(uint8_t out[32], x402_scheme scheme,
    const x402_payment *p);

/* keccak(0x1901 ‖ domainSeparator(chain_id) ‖ structHash). */
x402_err x402_permit2_digest(uint8_t out[32], x402_scheme scheme,
    uint64_t chain_id, const x402_payment *p);


/* ---------------------------------------------------------- secp256k1 */

typedef struct x402_context_s x402_context;

/*
 * A context holds a secp256k1 context for recovery and signing.  `seed32`
 * (may be NULL) randomizes it against side channels.  Returns NULL on
 * allocation or self-test failure.
 */
x402_context *x402_context_create(const uint8_t *seed32);
void x402_context_destroy(x402_context *ctx);

/*
 * Recover the signer of a 32-byte digest from an Ethereum signature
 * r‖s‖v: exactly 65 bytes, v in {27, 28}.  v in {0, 1}, 64-byte EIP-2098
 * forms and invalid points are X402_ERR_CRYPTO.  High s is accepted, as
 * Permit2 accepts it.
 */
x402_err x402_ecrecover(const x402_context *ctx, x402_address *signer,
    const uint8_t digest[32], const uint8_t *sig, size_t sig_len);

/* Address of a 32-byte private key; X402_ERR_CRYPTO if the key is bad. */
x402_err x402_address_from_privkey(const x402_context *ctx,
    x402_address *out, const uint8_t key[32]);

/* Address of a 65-byte uncompressed public key 0x04‖X‖Y. */
x402_err x402_address_from_pubkey(x402_address *out, const uint8_t *pub,
    size_t len);

/* Sign a digest (RFC 6979, low s) and write r‖s‖v with v in {27, 28}. */
x402_err x402_sign_digest(const x402_context *ctx, uint8_t sig[65],
    const uint8_t digest[32], const uint8_t key[32]);


/* ------------------------------------------------------- verification */

/*
 * Does the client's `accepted` equal this offer, as a whole object (key
 * order aside)?  Compares scheme, network (as text "eip155:<chain_id>"),
 * amount (numerically), asset and payTo (as bytes), maxTimeoutSeconds,
 * extra.assetTransferMethod == "permit2", extra.name and extra.version
 * (present exactly when the offer has them, same text) and, for upto only,
 * extra.facilitatorAddress; a member the offer does not have (in accepted
 * or its extra; null counts as absent) is no match, as at the reference
 * server.  Returns X402_R_VALID or X402_R_NO_MATCH.
 */
x402_reason x402_offer_match(const x402_offer *offer, const x402_payment *p);

/*
 * Is a the same offer as b (the terms a verdict was reached for)?  Scheme,
 * chain, amount, asset, payTo, maxTimeoutSeconds, for upto the
 * facilitator, for batch-settlement the receiver authorizer and the
 * withdraw delay.  1 or 0.
 */
int x402_offer_eq(const x402_offer *a, const x402_offer *b);

/*
 * The local verification of the reference facilitator, in its order,
 * against the server's own offer (never against `accepted`):
 * exact: scheme, network, spender, recipient, deadline >= now + min_left,
 * validAfter <= now, amount (numeric equality), token, signature;
 * upto adds the facilitator check after the recipient, and compares the
 * amount with the cap.  The signature must be 65 bytes with v in {27, 28}
 * and recover to `from`.  Returns the first failing reason or
 * X402_R_VALID.  Pure: `now` is the caller's clock in unix seconds.
 *
 * min_left: the seconds a permit must still have, at least
 * X402_DEADLINE_MARGIN (smaller values, 0 included, mean that margin, the
 * reference's rule).  A gateway that settles after serving passes what the
 * settlement (and, for upto, the longest response) needs, so that nothing
 * is served whose settlement would land after the permit expired; too
 * little is X402_R_DEADLINE_EXPIRED.
 */
x402_reason x402_verify_local(const x402_context *ctx,
    const x402_offer *offer, const x402_payment *p, uint64_t now,
    uint64_t min_left);

/* Deadline margin of the reference (block-time buffer), in seconds. */
#define X402_DEADLINE_MARGIN 6

/*
 * The replay key of a payment: "x402:<chainId>:<from>:<nonce>" with the
 * payer in lowercase hex (no 0x) and the nonce as 64 hex digits, so every
 * encoding of one authorization (high-s twins, case, hex nonces, key
 * order) maps to one key.  Permit2's nonce bitmap is per owner (on one
 * chain), whatever the token or spender: the same nonce signed for two
 * assets, or for exact and upto, is one payment that can settle once, so
 * neither is in the key.  out needs X402_REPLAY_KEY_MAX bytes.
 */
#define X402_REPLAY_KEY_MAX 180
void x402_replay_key(char out[X402_REPLAY_KEY_MAX], uint64_t chain_id,
    const x402_payment *p);

/*
 * What a payment-identifier is bound to: keccak256 of the replay key and
 * the signature, so the same signed permit however it is encoded (and
 * nothing else) is "the same payload".
 */
void x402_payment_fingerprint(uint8_t out[32], uint64_t chain_id,
    const x402_payment *p);


/* ------------------------------------------------------- upto sessions */

/*
 * An upto session's id: uuid4 text ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx",
 * lowercase, y one of 8 9 a b) from 16 random bytes, of which 122 bits are
 * kept.  The id is a bearer secret: whoever holds it spends the session.
 * out needs X402_SESSION_ID_LEN + 1 bytes; it is NUL-terminated.
 */
#define X402_SESSION_ID_LEN  36
void x402_session_id_format(char out[X402_SESSION_ID_LEN + 1],
    const uint8_t random[16]);

/*
 * 1 when s (len bytes) is a session id as x402_session_id_format() writes
 * it; anything else (upper case, braces, another version) is 0, so that a
 * lookup key is never built from a client's arbitrary bytes.
 */
int x402_session_id_valid(const char *s, size_t len);


/* ---------------------------------------------------------- ABI calls */

/* Canonical selectors (first 4 bytes of keccak of the signature). */
#define X402_SEL_BALANCE_OF        0x70a08231u  /* balanceOf(address) */
#define X402_SEL_ALLOWANCE         0xdd62ed3eu  /* allowance(address,address) */
#define X402_SEL_NONCE_BITMAP      0x4fe02b44u  /* nonceBitmap(address,uint256) */
#define X402_SEL_IS_VALID_SIG      0x1626ba7eu  /* isValidSignature(bytes32,bytes) */
#define X402_SEL_SETTLE_EXACT      0x13cd3b53u
#define X402_SEL_SETTLE_UPTO       0xff11e7b4u

/* ABI bytes of length n: padded to 32-byte words */
#define X402_ABI_PADDED(n)  ((((n) + 31) / 32) * 32)

/* settle calldata: the selector, the head words, the signature's length
 * word and the signature; the longest, and with an ECDSA signature (388
 * and 452 bytes) */
#define X402_SETTLE_LEN(head, sig)                                            \
    (4 + ((head) + 1) * 32 + X402_ABI_PADDED(sig))
#define X402_SETTLE_EXACT_LEN        X402_SETTLE_LEN(8, X402_SIGNATURE_MAX)
#define X402_SETTLE_UPTO_LEN         X402_SETTLE_LEN(10, X402_SIGNATURE_MAX)
#define X402_SETTLE_EXACT_ECDSA_LEN  X402_SETTLE_LEN(8, X402_SIGNATURE_ECDSA)
#define X402_SETTLE_UPTO_ECDSA_LEN   X402_SETTLE_LEN(10, X402_SIGNATURE_ECDSA)

/* balanceOf(owner): 36 bytes. */
void x402_abi_balance_of(uint8_t out[36], const x402_address *owner);

/* allowance(owner, spender): 68 bytes. */
void x402_abi_allowance(uint8_t out[68], const x402_address *owner,
    const x402_address *spender);

/* nonceBitmap(owner, nonce >> 8): 68 bytes (Permit2). */
void x402_abi_nonce_bitmap(uint8_t out[68], const x402_address *owner,
    const x402_u256 *nonce);

/* isValidSignature(digest, sig) (EIP-1271); *out_len in: capacity (at
 * least 4 + 32*3 + sig_len rounded up to a multiple of 32: 196 bytes for a
 * 65-byte signature), out: bytes written.  sig_len <= 65536. */
x402_err x402_abi_is_valid_signature(uint8_t *out, size_t *out_len,
    const uint8_t digest[32], const uint8_t *sig, size_t sig_len);

/*
 * The proxy's settle calldata for a decoded payment:
 * exact: settle(permit, owner, witness, signature), 388 bytes with a 65-byte
 * signature, as vectors.json chains.*.settleCalldata;  upto: settle(permit,
 * amount, owner, witness(to, facilitator, validAfter), signature), 452
 * bytes, charging `amount` (<= the cap; not checked here); a longer
 * signature makes them longer (at most X402_SETTLE_*_LEN).  *out_len in:
 * capacity, out: length.  X402_ERR_ARG if there is no signature or the
 * scheme is unknown.
 */
x402_err x402_abi_settle(uint8_t *out, size_t *out_len, x402_scheme scheme,
    const x402_payment *p, const x402_u256 *amount);


/* ------------------------------------------------------- JSON-RPC checks */

/*
 * The on-chain checks of one payment, sent as ONE JSON-RPC 2.0 batch
 * (ids first_id .. first_id + X402_RPC_CHECKS - 1, in this order):
 *   0 eth_chainId
 *   1 eth_getCode(asset, "latest")                 asset deployed?
 *   2 eth_getCode(from, "latest")                  contract wallet?
 *   3 eth_call asset.balanceOf(from)
 *   4 eth_call asset.allowance(from, Permit2)
 *   5 eth_call Permit2.nonceBitmap(from, nonce >> 8)
 *   6 eth_call from.isValidSignature(digest, signature)  (EIP-1271; only
 *     meaningful when `from` has code)
 *   7 eth_call proxy.settle(...) from `sim_from` (the settlement simulation;
 *     exact: the full amount; upto: amount = the cap, and sim_from must be
 *     witness.facilitator to pass)
 * `digest` is the payment's Permit2 digest for the offer's chain.
 * The payment must have passed x402_verify_local() against the offer:
 * an unknown scheme, a signature that is not 65 bytes, or a token other
 * than the offer's asset is X402_ERR_ARG, and so is a first_id above
 * X402_RPC_ID_MAX - (X402_RPC_CHECKS - 1) (ids stay exact JSON numbers).
 * Addresses and data are lowercase 0x-hex; only call 7 has a "from".
 * Writes compact JSON with a NUL; *out_len in: capacity
 * (X402_RPC_CHECKS_REQUEST_MAX always suffices), out: length.
 */
#define X402_RPC_CHECKS 8
#define X402_RPC_CHECKS_REQUEST_MAX (4096 + 4 * X402_SIGNATURE_MAX)
#define X402_RPC_ID_MAX             ((((uint64_t) 1) << 53) - 1)
#define X402_RPC_REPLY_MAX          (1024 * 1024)
x402_err x402_rpc_checks_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p, const uint8_t digest[32],
    const x402_address *sim_from, uint64_t first_id);

/* What the node answered, parsed. */
typedef struct {
    uint64_t      chain_id;
    int           asset_has_code;
    int           from_has_code;
    x402_u256     balance;
    x402_u256     allowance;
    x402_u256     nonce_word;          /* nonceBitmap(from, nonce >> 8) */
    int           erc1271_ok;          /* returned the magic 0x1626ba7e */
    int           sim_ok;              /* the settle simulation succeeded */
    uint8_t       sim_revert[4];       /* selector of the revert data */
    int           sim_has_revert;      /* sim_revert is set */
} x402_onchain;

/*
 * Parse the batch reply (any order; ids as in the request).  Not JSON,
 * not an array or an entry that is not an object is X402_ERR_JSON; a
 * reply longer than X402_RPC_REPLY_MAX is X402_ERR_SIZE.  A missing,
 * duplicate or foreign id, a malformed result, or a JSON-RPC error on any
 * call other than the simulation (7) or the EIP-1271 call (6, which
 * returns "0x" for EOAs and may revert for wallets without it) is
 * X402_ERR_VALUE: the node is broken, not the payment.
 * Results: eth_chainId a hex quantity; eth_getCode "0x" = no code;
 * balanceOf, allowance and nonceBitmap exactly one 32-byte word (except
 * "0x" from an asset without code, read as 0); isValidSignature is ok
 * when it returns at least one word starting with the magic 0x1626ba7e
 * and 28 zero bytes.
 * A reverted call (error code 3, a message containing "revert", or hex
 * revert data in error.data or error.data.data) on 6 or 7 is not an
 * error: erc1271_ok = 0, or sim_ok = 0 with the revert selector kept when
 * the data has one.  Other errors there (rate limits, internal errors)
 * are X402_ERR_VALUE.
 */
x402_err x402_rpc_checks_parse(x402_onchain *out, const char *json,
    size_t len, uint64_t first_id);

/*
 * The on-chain verdict, in this order: asset without code →
 * X402_R_ASSET_NOT_DEPLOYED; the signature: a payer with code must pass
 * EIP-1271, a payer without code must have passed local ecrecover
 * (`local_sig_ok`) → X402_R_INVALID_SIGNATURE; nonce bit set →
 * X402_R_INVALID_NONCE; allowance < amount → X402_R_ALLOWANCE_REQUIRED;
 * balance < amount → X402_R_INSUFFICIENT_BALANCE; simulation reverted →
 * the mapped revert (x402_revert_reason) or X402_R_SIMULATION_FAILED.
 * `amount` is the signed permitted.amount (for upto the cap); the nonce
 * bit is bit (nonce & 0xff) of nonce_word.  NULL arguments give
 * X402_R_PAYMENT_REQUIRED, never X402_R_VALID.
 * The caller compares chain_id with the offer's first (a node on another
 * chain is a server fault).
 */
x402_reason x402_onchain_verdict(const x402_onchain *oc,
    const x402_payment *p, int local_sig_ok);

/*
 * eth_getCode(a, "latest") as a batch of one entry with id `id`, and its
 * reply: *has_code = 1 when the code is not empty.  The quick form below
 * is only sound where the settlement proxy has code (a call to an address
 * without code returns, as settle(...) does), so callers check the proxy
 * (x402_scheme_spender()) once before they use it.  Errors as
 * x402_rpc_checks_parse().
 */
x402_err x402_rpc_code_request(char *out, size_t *out_len,
    const x402_address *a, uint64_t id);
x402_err x402_rpc_code_parse(int *has_code, const char *json, size_t len,
    uint64_t id);

/*
 * The quick form of the checks, for a payment whose signature recovered
 * locally once a full batch has shown the node on the offer's chain and
 * the asset deployed (callers may cache that, as the reference caches the
 * asset's code for 15 minutes): a batch of one entry, the settlement
 * simulation of x402_rpc_checks_request() (entry 7) with id `id`.  Permit2
 * checks the signature (EIP-1271 for a payer with code), the nonce, the
 * allowance and the balance while it runs, so, the proxy having code, a
 * simulation that returns means x402_onchain_verdict() would say
 * X402_R_VALID; anything else needs the full batch for its reason.  Arguments and errors as
 * x402_rpc_checks_request() (plus X402_ERR_ARG for a signature that is not
 * 65 bytes).
 *
 * The parse: *ok = 1 when the simulation returned, 0 when it reverted; a
 * JSON-RPC error that is not a revert, or a malformed reply, is an error
 * as in x402_rpc_checks_parse().
 */
x402_err x402_rpc_simulate_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p,
    const x402_address *sim_from, uint64_t id);
x402_err x402_rpc_simulate_parse(int *ok, const char *json, size_t len,
    uint64_t id);

/*
 * Revert selector → reason (docs/protocol.md#revert-reasons, selector form):
 * InvalidNonce → X402_R_INVALID_NONCE; InvalidSignature, SignatureExpired,
 * InvalidSignatureLength, InvalidSigner, InvalidContractSignature →
 * X402_R_INVALID_SIGNATURE; others → X402_R_SIMULATION_FAILED.
 */
x402_reason x402_revert_reason(const uint8_t selector[4]);


/* --------------------------------- ERC-6492: wallets not deployed yet */

/*
 * A smart wallet signs before it is deployed by wrapping its signature
 * (ERC-6492): abi.encode(factory, factoryCalldata, innerSignature) ‖
 * 0x6492649264926492649264926492649264926492649264926492649264926492.
 * The gateway handles it as the reference facilitator does: the wrapper
 * is taken off (the wallet's isValidSignature and Permit2 get the inner
 * signature); a payer without code whose factory is on the operator's
 * allow-list (eip6492AllowedFactories there, x402_eip6492_factories
 * here; none by default) is deployed by the settler before its payment
 * settles, others are refused with eip6492_factory_not_allowed, and a
 * deployment that does not give the payer code is
 * smart_wallet_deployment_failed.
 */
typedef struct {
    int             wrapped;        /* ends with the magic */
    x402_address    factory;
    const uint8_t  *data;           /* factoryCalldata, inside sig */
    size_t          data_len;
    const uint8_t  *inner;          /* the wallet's signature, inside sig */
    size_t          inner_len;
} x402_erc6492;

/*
 * Take a signature apart: not ending with the magic is X402_OK with
 * wrapped 0; ending with it, X402_OK with the parts (pointers into sig)
 * when the ABI encoding before the magic holds an address word (12 zero
 * bytes first) and two in-bounds byte strings, else X402_ERR_VALUE.
 * Offsets need not be canonical (as viem's decoder), but every part must
 * lie inside the encoding.
 */
x402_err x402_erc6492_unwrap(x402_erc6492 *out, const uint8_t *sig,
    size_t len);

/*
 * What a counterfactual payer would meet once deployed, asked in one
 * eth_call without a "to" (lib/sol/Erc6492Probe.sol runs as a
 * constructor and returns; nothing is deployed): the factory called with
 * its calldata, then from.isValidSignature(digest, signature),
 * asset.balanceOf(from) and asset.allowance(from, Permit2).  `digest` is
 * the payment's Permit2 digest; p must have a deployment (X402_ERR_ARG
 * otherwise).  One JSON-RPC request (not a batch) with id `id`;
 * *out_len in: capacity (X402_ERC6492_PROBE_REQUEST_MAX suffices), out:
 * length.
 */
#define X402_ERC6492_PROBE_CODE_MAX     2048
#define X402_ERC6492_PROBE_REQUEST_MAX  \
    (512 + 2 * (X402_ERC6492_PROBE_CODE_MAX + 10 * 32 \
                + X402_FACTORY_DATA_MAX + X402_SIGNATURE_MAX))
x402_err x402_rpc_erc6492_probe_request(char *out, size_t *out_len,
    const x402_offer *offer, const x402_payment *p, const uint8_t digest[32],
    uint64_t id);

typedef struct {
    int         deployed;       /* the payer has code after the factory */
    uint64_t    factory_gas;    /* what the factory call used */
    int         erc1271_ok;     /* isValidSignature gave the magic */
    x402_u256   balance;
    x402_u256   allowance;      /* to Permit2 */
} x402_erc6492_probe;

/*
 * The probe's reply: exactly five words.  A JSON-RPC error (the probe
 * never reverts: a node fault or a gas cap) or anything else is
 * X402_ERR_VALUE; not JSON X402_ERR_JSON.
 */
x402_err x402_rpc_erc6492_probe_parse(x402_erc6492_probe *out,
    const char *json, size_t len, uint64_t id);

/*
 * The verdict on a counterfactual payer: not deployed by its factory →
 * X402_R_SMART_WALLET_DEPLOYMENT_FAILED; then x402_onchain_verdict() of
 * the checks (oc: the asset, the nonce) with the wallet's code, signature,
 * balance and allowance as the probe saw them after the deployment (the
 * settlement is simulated once the wallet exists).
 */
x402_reason x402_erc6492_verdict(const x402_onchain *oc,
    const x402_erc6492_probe *pr, const x402_payment *p);

/*
 * The gas limit of the deployment transaction: what the factory used in
 * the probe, half again for the difference of a real transaction, the
 * intrinsic cost and its calldata.
 */
uint64_t x402_erc6492_deploy_gas(const x402_erc6492_probe *pr,
    const x402_payment *p);


/* ------------------------------------------------------------ receipts */

/*
 * The record a gateway keeps per payment (under x402_replay_key()), from
 * the reservation to the end of settlement.  Text fields may be NULL
 * (omitted).  Encoded as compact JSON:
 * {"status","network","scheme","payer","payTo","asset","amount","nonce",
 *  "deadline","resource","created","updated","transaction"?,"error"?,
 *  "charged"?,"validAfter"?,"signature"?,"facilitator"?,"txNonce"?,
 *  "settler"?,"mode"?,"batch"?:{"size","gasPerItem"?}}
 * with addresses EIP-55, amounts and nonce in decimal, times in unix
 * seconds.
 */
typedef struct {
    const char   *status;      /* "reserved", "settled", "failed", ... */
    x402_scheme   scheme;
    uint64_t      chain_id;
    x402_address  payer;
    x402_address  pay_to;
    x402_address  asset;
    x402_u256     amount;
    x402_u256     nonce;
    x402_u256     deadline;
    const char   *resource;    /* the URL paid for */
    uint64_t      created;
    uint64_t      updated;
    const char   *transaction; /* "0x…" */
    const char   *error;       /* a reason string */
    x402_u256     charged;     /* upto: the settled charge */
    int           has_charged;
    x402_address  facilitator; /* upto: the witness's facilitator */
    int           has_facilitator;
    uint64_t      tx_nonce;    /* the settler's nonce of "transaction" */
    int           has_tx_nonce;
    x402_address  settler;     /* the account that sent "transaction" */
    int           has_settler;
    const char   *mode;        /* "sync": settled before it is served;
                                  "async", "upto": after (optional) */
    uint64_t      batch_size;  /* settled in a batch of so many (0: not) */
    uint64_t      batch_gas;   /* its gas per payment, once mined (0) */
    /* what a reconciler needs to settle it again (optional) */
    x402_u256     valid_after;
    const uint8_t *signature;
    size_t        signature_len;
} x402_receipt;

/*
 * The fields of a payment every receipt of it holds: scheme, network,
 * payer, payTo, asset, signed amount, nonce, deadline, validAfter and
 * signature (what a reconciler needs to settle it again), the facilitator
 * of an upto witness, `resource`, `created`, and `updated` = now.  Every
 * other field is zeroed (status, transaction, charge: the caller's).
 * rc borrows resource and p's signature.
 */
void x402_receipt_init(x402_receipt *rc, const x402_offer *offer,
    const x402_payment *p, const char *resource, uint64_t created,
    uint64_t now);

/*
 * A receipt's status, as stored: "reserved" (admitted, not sent),
 * "broadcast" (a transaction recorded, being sent or mined), "pending"
 * (sent, not seen mined in time), "settled", "failed", "retry" (not sent
 * for the gateway's reasons: settled again).  parse gives
 * X402_RS_UNKNOWN for NULL or any other string; string gives NULL for
 * X402_RS_UNKNOWN and out of range.
 */
typedef enum {
    X402_RS_UNKNOWN = 0,
    X402_RS_RESERVED,
    X402_RS_BROADCAST,
    X402_RS_PENDING,
    X402_RS_SETTLED,
    X402_RS_FAILED,
    X402_RS_RETRY,
    X402_RS_MAX
} x402_receipt_status;

x402_receipt_status x402_receipt_status_parse(const char *s);
const char *x402_receipt_status_string(x402_receipt_status st);

/* an encoded receipt, its resource aside (add 6 bytes per byte of it) */
#define X402_RECEIPT_JSON_MAX  (2048 + 2 * X402_SIGNATURE_MAX)

/* Writes the JSON with a NUL; *out_len in: capacity, out: length. */
x402_err x402_receipt_encode(char *out, size_t *out_len,
    const x402_receipt *rc);

/*
 * Reads what a reconciler needs from a stored receipt: its status (into
 * status, NUL-terminated, at most status_cap - 1 bytes), its transaction
 * ("" when none; tx needs 67 bytes) and its last update time.
 * X402_ERR_JSON / X402_ERR_MISSING / X402_ERR_TYPE for anything else than
 * a receipt.
 */
x402_err x402_receipt_peek(char *status, size_t status_cap, char tx[67],
    uint64_t *updated, const char *json, size_t len);

/*
 * Rewrites a stored receipt with a new status (and `error`, when not NULL)
 * and update time, keeping every other field as it was.
 */
x402_err x402_receipt_update(char *out, size_t *out_len, const char *json,
    size_t len, const char *status, const char *error, uint64_t updated);

/*
 * The settlement a stored receipt describes, rebuilt from it alone (a
 * reconciler settles a payment whose worker is gone): the offer (scheme,
 * chain, asset, payTo, the signed amount, and for upto the facilitator;
 * max_timeout_seconds and the extra texts are 0) and the signed payment
 * (from, token, amount, the spender of the scheme, nonce, deadline,
 * witness to / facilitator / validAfter, signature), the receipt's
 * "charged" (upto) when it has one, its creation time, the settler's nonce
 * of its transaction (UINT64_MAX: none) and the account that sent it
 * (has_settler 0: not said, a receipt of one account), the size of its
 * batch (0: settled
 * alone), whether it is served before its
 * settlement (every mode but "sync"; absent: yes) and its resource, copied
 * NUL-terminated into resource (resource_cap >= len always suffices).
 * A receipt without the signed authorization (validAfter, signature, and
 * for upto facilitator) is X402_ERR_MISSING; a field of the wrong type or
 * value X402_ERR_TYPE / X402_ERR_VALUE; a resource that does not fit
 * X402_ERR_BUFFER; not a receipt X402_ERR_JSON.
 */
typedef struct {
    x402_offer    offer;
    x402_payment  payment;
    x402_u256     charged;
    int           has_charged;
    uint64_t      created;
    uint64_t      tx_nonce;
    x402_address  settler;
    int           has_settler;
    uint64_t      batch_size;  /* its transaction a batch of so many, or 0 */
    int           served;
} x402_receipt_settlement;

x402_err x402_receipt_settlement_decode(x402_receipt_settlement *out,
    char *resource, size_t resource_cap, const char *json, size_t len);

/*
 * A stored receipt as it may be shown to a client: every field but
 * "signature" (with it anyone could submit the payment's settlement, and
 * burn the payer's nonce).  Errors as x402_receipt_update().
 */
x402_err x402_receipt_public(char *out, size_t *out_len, const char *json,
    size_t len);


/* ---------------------------------------------------------- settlement */

/*
 * An EIP-1559 (type 2) transaction, signed by the settler.
 */
typedef struct {
    uint64_t      chain_id;
    uint64_t      nonce;
    x402_u256     max_priority_fee_per_gas;
    x402_u256     max_fee_per_gas;
    uint64_t      gas_limit;
    x402_address  to;
    x402_u256     value;
    const uint8_t *data;
    size_t        data_len;
} x402_tx;

/*
 * RLP-encode and sign: out receives 0x02 ‖ rlp([chainId, nonce,
 * maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
 * accessList=[], yParity, r, s]) (the raw transaction for
 * eth_sendRawTransaction), and hash32 its keccak (the transaction hash).
 * *out_len in: capacity (data_len + X402_TX_OVERHEAD always suffices: 234
 * bytes besides the data when every integer takes its full width), out:
 * length.  tx->data may be NULL when data_len is 0.
 */
#define X402_TX_OVERHEAD 240

/* the longest signed settle transaction (upto, the longest signature) */
#define X402_SETTLE_TX_MAX  (X402_SETTLE_UPTO_LEN + X402_TX_OVERHEAD)

x402_err x402_tx_sign(const x402_context *ctx, uint8_t *out, size_t *out_len,
    uint8_t hash32[32], const x402_tx *tx, const uint8_t key[32]);

/*
 * JSON-RPC builders for settlement (compact JSON with a NUL; *out_len in:
 * capacity, out: length; `id` is the JSON-RPC id):
 *  - fees: a batch [eth_maxPriorityFeePerGas (id), eth_getBlockByNumber
 *    ("latest", false) (id + 1), eth_estimateGas({from, to, data}, "latest")
 *    (id + 2: nodes such as anvil otherwise estimate on top of every
 *    pending transaction),
 *    eth_getTransactionCount(from, "pending") (id + 3)];
 *  - send: eth_sendRawTransaction("0x…");
 *  - receipt: eth_getTransactionReceipt("0x<hash>").
 */
x402_err x402_rpc_fees_request(char *out, size_t *out_len,
    const x402_address *from, const x402_address *to, const uint8_t *data,
    size_t data_len, uint64_t id);
x402_err x402_rpc_send_request(char *out, size_t *out_len,
    const uint8_t *raw, size_t raw_len, uint64_t id);
x402_err x402_rpc_receipt_request(char *out, size_t *out_len,
    const uint8_t hash32[32], uint64_t id);

/* The fees batch, parsed (entries in any order, ids as in the request;
 * errors as x402_rpc_checks_parse()).  Quantities are "0x" hex.  A
 * reverted gas estimate (error code 3, a message containing "revert", or
 * hex revert data) is not an error: estimate_ok = 0 and revert keeps its
 * selector when the node sent data.  Any other JSON-RPC error, a null
 * block or one without baseFeePerGas is X402_ERR_VALUE. */
typedef struct {
    x402_u256     priority_fee;
    x402_u256     base_fee;            /* latest block's baseFeePerGas */
    uint64_t      gas_estimate;
    uint64_t      pending_nonce;
    int           estimate_ok;
    int           has_revert;
    uint8_t       revert[4];
} x402_fees;

x402_err x402_rpc_fees_parse(x402_fees *out, const char *json, size_t len,
    uint64_t id);

/*
 * The per-transaction half of the fees batch, for a caller that keeps the
 * fees of a recent block: [eth_estimateGas({from, to, data}, "latest")
 * (id), eth_getTransactionCount(from, "pending") (id + 1)].  The parse
 * fills gas_estimate, pending_nonce, estimate_ok, has_revert and revert
 * as x402_rpc_fees_parse() does, and zeroes the fees.
 */
x402_err x402_rpc_gas_request(char *out, size_t *out_len,
    const x402_address *from, const x402_address *to, const uint8_t *data,
    size_t data_len, uint64_t id);
x402_err x402_rpc_gas_parse(x402_fees *out, const char *json, size_t len,
    uint64_t id);

/*
 * eth_sendRawTransaction reply: X402_OK with *hash32 set (when non-NULL),
 * or X402_ERR_VALUE with the node's error message copied (truncated,
 * NUL-terminated) into msg, e.g. "nonce too low", "insufficient funds for
 * gas * price + value".  A malformed reply (foreign id, no result, a
 * result that is not a 32-byte 0x-hex hash, an all-zero hash) is also
 * X402_ERR_VALUE, with msg "".  msg may be NULL when msg_cap is 0.
 */
x402_err x402_rpc_send_parse(uint8_t hash32[32], char *msg, size_t msg_cap,
    const char *json, size_t len, uint64_t id);

/*
 * eth_getTransactionReceipt reply: *found = 0 while the transaction is not
 * mined (result null); otherwise *status is 1 (success) or 0 (reverted) and
 * *block the block number.  A JSON-RPC error, a receipt without a status
 * of 0x0 / 0x1 (pre-Byzantium "root") or without a blockNumber is
 * X402_ERR_VALUE.
 */
x402_err x402_rpc_receipt_parse(int *found, int *status, uint64_t *block,
    const char *json, size_t len, uint64_t id);

/*
 * eth_getTransactionCount(from, "latest"): the number of from's mined
 * transactions, so every transaction of from with a nonce below it is in
 * a block.  One call tells a settler which of its transactions to fetch
 * receipts for, instead of polling each.  The parse: *count from the hex
 * quantity; a JSON-RPC error or a result that is not a quantity is
 * X402_ERR_VALUE (errors as x402_rpc_receipt_parse()).
 */
x402_err x402_rpc_mined_count_request(char *out, size_t *out_len,
    const x402_address *from, uint64_t id);
x402_err x402_rpc_mined_count_parse(uint64_t *count, const char *json,
    size_t len, uint64_t id);

/*
 * Finding a payment's settlement on chain, for a settlement that reverts
 * because the Permit2 nonce is used: another settlement of the same
 * payment (a takeover, a resent transaction, the payer's own submission of
 * the permit) may have won.  Three calls:
 *  - head: eth_getBlockByNumber("latest", false); the parse gives the
 *    block's number and timestamp (a JSON-RPC error, a null block or one
 *    without them is X402_ERR_VALUE).  x402_find_first_block() turns them
 *    into the first block that can hold a transaction made at unix time
 *    `since` or later (block timestamps rise by at least one a block), at
 *    most X402_FIND_BLOCKS_MAX blocks below the head.
 *  - transfers: eth_getLogs of the token's Transfer(from, to) events from
 *    from_block to "latest"; the parse keeps the distinct transaction
 *    hashes in order, at most cap of them (*n), and skips removed logs.  A
 *    log without a 32-byte transactionHash is X402_ERR_VALUE.
 *  - txs: a batch of eth_getTransactionByHash (ids id .. id + n - 1, n at
 *    most X402_FIND_TXS_MAX); x402_rpc_txs_find_permit() sets *index to the
 *    first transaction whose input holds both the permit's nonce and the
 *    payer (as a 32-byte word, at any byte offset: a multicall shifts
 *    them), n when none does.  A transaction the node does not know (null)
 *    holds nothing; an error entry or an input that is not hex is
 *    X402_ERR_VALUE.
 * A Transfer(payer, payTo) log in a transaction carrying the permit's
 * random nonce is that permit paying payTo.
 */
#define X402_FIND_BLOCKS_MAX  100000
#define X402_FIND_TXS_MAX     16
x402_err x402_rpc_head_request(char *out, size_t *out_len, uint64_t id);
x402_err x402_rpc_head_parse(uint64_t *number, uint64_t *timestamp,
    const char *json, size_t len, uint64_t id);
uint64_t x402_find_first_block(uint64_t head, uint64_t head_time,
    uint64_t since);
x402_err x402_rpc_transfers_request(char *out, size_t *out_len,
    const x402_address *token, const x402_address *from,
    const x402_address *to, uint64_t from_block, uint64_t id);
x402_err x402_rpc_transfers_parse(uint8_t (*hashes)[32], size_t *n,
    size_t cap, const char *json, size_t len, uint64_t id);
x402_err x402_rpc_txs_request(char *out, size_t *out_len,
    const uint8_t (*hashes)[32], size_t n, uint64_t id);
x402_err x402_rpc_txs_find_permit(size_t *index, const char *json,
    size_t len, size_t n, const x402_address *payer, const x402_u256 *nonce,
    uint64_t id);

/* ------------------------------------------------- batched settlement */

/*
 * Many settle calls in one transaction: Multicall3's
 * aggregate3((address target, bool allowFailure, bytes callData)[]) at its
 * canonical address (deployed on Base and most chains), every call allowed
 * to fail on its own.  The proxies' settle has no caller check, so the
 * calls run from Multicall3 as they would from the settler.
 */
#define X402_SEL_AGGREGATE3  0x82ad56cbu
#define X402_BATCH_MAX       300    /* Base caps a transaction's gas there */

extern const x402_address x402_multicall3_address;

/* The length of aggregate3 calldata for n calls of these lengths. */
size_t x402_aggregate3_len(const size_t *lens, size_t n);

/*
 * aggregate3 calldata: each calls[i] (lens[i] bytes, 1 to 65536) to
 * target, allowFailure true.  *out_len in: capacity (at least
 * x402_aggregate3_len()), out: length.  n is 1 to X402_BATCH_MAX.
 */
x402_err x402_abi_aggregate3(uint8_t *out, size_t *out_len,
    const x402_address *target, const uint8_t *const *calls,
    const size_t *lens, size_t n);

/*
 * The simulation of a batch: eth_call({from, gas?, to: Multicall3, data},
 * "latest"), with the gas limit its transaction will have (0: none, the
 * node's): a call that would run out of it fails here too.  The parse
 * reads Result[] = (bool success, bytes returnData)[]: res[i].ok, and for
 * a call that failed the selector of its revert data (has_revert: at
 * least 4 bytes came back).  A JSON-RPC
 * error (the aggregate itself reverted), a result of another count than n,
 * or any offset or length outside the data is X402_ERR_VALUE, res zeroed.
 */
typedef struct {
    int       ok;
    int       has_revert;
    uint8_t   revert[4];
} x402_call_result;

x402_err x402_rpc_aggregate3_request(char *out, size_t *out_len,
    const x402_address *from, uint64_t gas, const uint8_t *data,
    size_t data_len, uint64_t id);
x402_err x402_rpc_aggregate3_parse(x402_call_result *res, size_t n,
    const char *json, size_t len, uint64_t id);

/*
 * What a mined transaction did, from its eth_getTransactionReceipt reply
 * (the request is x402_rpc_receipt_request()): found (0 while not mined;
 * nothing else is set then), status (1 success, 0 reverted), block,
 * gas_used, and its ERC-20 Transfer logs in log order (3 topics, a 32-byte
 * value; removed logs skipped) into t, at most cap (truncated: more
 * there were).  Errors as x402_rpc_receipt_parse(), and a receipt without
 * gasUsed or logs is X402_ERR_VALUE.
 */
typedef struct {
    x402_address  token;
    x402_address  from;
    x402_address  to;
    x402_u256     value;
} x402_transfer;

typedef struct {
    int           found;
    int           status;
    int           truncated;
    uint64_t      block;
    uint64_t      gas_used;
    size_t        transfers;
} x402_tx_outcome;

x402_err x402_rpc_receipt_transfers_parse(x402_tx_outcome *out,
    x402_transfer *t, size_t cap, const char *json, size_t len,
    uint64_t id);

/* One payment of a batch, as the chain shows it paid. */
typedef struct {
    x402_address  asset;
    x402_address  payer;
    x402_address  pay_to;
    x402_u256     amount;
    x402_u256     nonce;       /* the permit's Permit2 nonce */
} x402_batch_item;

/*
 * The items' Permit2 nonce bits at a block: a batch of n eth_call
 * nonceBitmap(payer, nonce >> 8) (ids id .. id + n - 1) at `block`
 * (UINT64_MAX: "latest"); the parse sets used[i] to bit (nonce & 0xff).
 * Any error entry or a result that is not one word is X402_ERR_VALUE.
 */
x402_err x402_rpc_nonce_bits_request(char *out, size_t *out_len,
    const x402_batch_item *items, size_t n, uint64_t block, uint64_t id);
x402_err x402_rpc_nonce_bits_parse(int *used, const x402_batch_item *items,
    size_t n, const char *json, size_t len, uint64_t id);

/*
 * Which items of a mined batch paid (settled[i] = 1), returns how many:
 * an item whose nonce bit is set (used[i]) and whose Transfer(payer,
 * payTo, amount) of its asset follows, in log order, the transfer of the
 * item before it that paid (the calls ran in order; a call that failed
 * left no log).  An item whose nonce is used but has no such transfer was
 * used by another transaction.  Two items alike in asset, payer, payTo and
 * amount, the first used elsewhere and the second paid here, cannot be
 * told apart: the first is counted paid.
 */
size_t x402_batch_match(int *settled, const x402_batch_item *items,
    const int *used, size_t n, const x402_transfer *logs, size_t m);


/*
 * A SettleResponse (the PAYMENT-RESPONSE header value is its base64):
 * {"success":…,"errorReason"?,"payer","transaction","network","amount"?}.
 * `error_reason` and `amount` may be NULL (omitted); `transaction` "" when
 * nothing was broadcast.  Writes compact JSON with a NUL.
 */
x402_err x402_settle_response_encode(char *out, size_t *out_len,
    int success, const char *error_reason, const x402_address *payer,
    const char *transaction, uint64_t chain_id, const x402_u256 *amount);

/*
 * Revert selector of a failed settlement → its errorReason string
 * (docs/protocol.md#revert-reasons, selector form): permit2_invalid_amount,
 * permit2_invalid_destination, permit2_invalid_owner,
 * permit2_payment_too_early, invalid_permit2_signature,
 * permit2_invalid_nonce, upto_amount_exceeds_permitted,
 * upto_unauthorized_facilitator, permit2_2612_amount_mismatch; anything
 * else "invalid_exact_evm_transaction_failed".
 */
const char *x402_settle_error_reason(const uint8_t selector[4]);


/* --------------------------------------------------------- facilitator */

/*
 * Delegating verify and settle to an x402 facilitator
 * (docs/protocol.md#facilitator-api): POST {url}/verify and POST
 * {url}/settle, both with the body
 * {"x402Version":2,"paymentPayload":…,"paymentRequirements":…}, answered
 * with a VerifyResponse (docs/protocol.md#verify-response) or a
 * SettleResponse (docs/protocol.md#settle-response).
 * The reference facilitator answers HTTP 200 for valid and invalid results
 * alike, 400 {"error"} for a body without paymentPayload or
 * paymentRequirements and 500 {"error"} on exceptions (e.g. "No facilitator
 * registered for scheme: exact and network: eip155:1"); the SDK client
 * also reads a non-2xx body that has isValid / success as a result.  HTTP
 * is the caller's; these are the codecs.
 */

/* Longest facilitator reply accepted by the parsers below. */
#define X402_FACILITATOR_RESPONSE_MAX  (64 * 1024)

/* Enough for every request whose paymentPayload came from a
 * PAYMENT-SIGNATURE of at most X402_PAYLOAD_JSON_MAX bytes without JSON
 * real numbers (jansson may print a real longer than it was written). */
#define X402_FACILITATOR_REQUEST_MAX   (X402_PAYLOAD_JSON_MAX + 2048)

/* A reason buffer of this size holds every reference reason untruncated
 * ("invalid_exact_evm_transaction_failed: " + a 500-character message). */
#define X402_FACILITATOR_REASON_MAX    1024

/* "0x" + 64 hex digits + NUL: an EVM transaction hash. */
#define X402_TX_HASH_TEXT_LEN          67

/*
 * The /verify and /settle request body:
 * {"x402Version":2,"paymentPayload":<payload>,"paymentRequirements":<offer>}
 * in this key order, compact.  `payload_json` is the client's decoded
 * PaymentPayload (the JSON inside PAYMENT-SIGNATURE, at most
 * X402_PAYLOAD_JSON_MAX bytes, else X402_ERR_SIZE); it is parsed and
 * re-serialised as it is (key order kept, never edited): not JSON, not an
 * object or duplicate keys are X402_ERR_JSON, an x402Version that is
 * absent X402_ERR_MISSING, not an integer X402_ERR_TYPE, not 2
 * X402_ERR_VERSION.  The payload is otherwise not validated (decode it with
 * x402_payment_decode_json() first).  `offer` is written exactly as its
 * accepts[] entry in x402_payment_required_encode() (the server's own
 * requirements, never the client's `accepted`); for an upto /settle pass
 * a copy of the offer whose amount is the charge.  An offer with an
 * unknown scheme or extra texts that are not UTF-8 is X402_ERR_ARG.
 * Writes a NUL-terminated string; *out_len in: capacity, out: length
 * without the NUL (X402_ERR_BUFFER if it does not fit).
 */
x402_err x402_facilitator_request(char *out, size_t *out_len,
    const char *payload_json, size_t payload_len, const x402_offer *offer);

/*
 * Common rules of the two reply parsers: the reply must be one JSON object
 * of at most X402_FACILITATOR_RESPONSE_MAX bytes (else X402_ERR_SIZE),
 * without duplicate keys (else X402_ERR_JSON).  Unknown fields are
 * ignored; an optional field may be absent or null; a known field of the
 * wrong JSON type is X402_ERR_TYPE, an absent required one
 * X402_ERR_MISSING.  Reason texts are copied NUL-terminated into
 * reason[reason_cap], truncated at a UTF-8 character boundary when longer,
 * with control characters (viem's messages contain newlines) replaced by
 * spaces; reason is "" when the reply has none.  reason may be NULL when
 * reason_cap is 0.
 */

/*
 * A VerifyResponse: {"isValid":bool, "invalidReason"?:string,
 * "invalidMessage"?:string, "payer"?:string, "extensions"?:object,
 * "extra"?:object}.  *valid is 1 or 0; reason gets invalidReason (as sent,
 * also when isValid is true); *has_payer is 1 and *payer set when payer is
 * present, and a payer that is not an address is X402_ERR_VALUE.
 */
x402_err x402_verify_response_parse(int *valid, char *reason,
    size_t reason_cap, x402_address *payer, int *has_payer,
    const char *json, size_t len);

/*
 * A SettleResponse: {"success":bool, "errorReason"?:string,
 * "errorMessage"?:string, "payer"?:string, "transaction":string,
 * "network"?:string, "amount"?:string, "extensions"?:object,
 * "extra"?:object}.  *success is 1 or 0; reason gets errorReason.
 * `transaction` is required when success is true (it may be "": the
 * reference's upto charge of 0 moves nothing) and optional otherwise (then
 * tx is ""; a failure after a broadcast, settlement_pending, does carry the
 * hash).  It is copied NUL-terminated into tx[tx_cap]: longer than
 * tx_cap - 1 is X402_ERR_BUFFER, a byte outside printable ASCII
 * (0x21..0x7e) X402_ERR_VALUE; the format is not checked
 * (X402_TX_HASH_TEXT_LEN holds an EVM hash).  payer, network and amount
 * are only type-checked: the caller knows them from its own request.
 */
x402_err x402_settle_response_parse(int *success, char *reason,
    size_t reason_cap, char *tx, size_t tx_cap, const char *json,
    size_t len);


/* ---------------------------------------------------- batch-settlement */

/*
 * The x402 "batch-settlement" scheme (@x402/evm 2.27, contract
 * x402BatchSettlement): a payer deposits into a channel once (a Permit2
 * transfer through the deposit collector) and then pays each request with
 * a voucher, an EIP-712 signature over the cumulative amount the receiver
 * may claim; the receiver claims vouchers in batches (claim) and sweeps
 * what it claimed (settle).
 */

/* The immutable channel parameters; their EIP-712 hash is the channel id. */
typedef struct {
    x402_address  payer;
    x402_address  payer_authorizer;    /* signs the vouchers */
    x402_address  receiver;
    x402_address  receiver_authorizer;
    x402_address  token;
    uint64_t      withdraw_delay;      /* uint40, seconds */
    uint8_t       salt[32];
} x402_channel_config;

/*
 * EIP-712 under the domain {name "x402 Batch Settlement", version "1",
 * chainId, verifyingContract x402_batch_settlement_address}:
 *  - the domain separator: keccak(abi.encode(keccak("EIP712Domain(string
 *    name,string version,uint256 chainId,address verifyingContract)"),
 *    keccak(name), keccak(version), chainId, verifyingContract));
 *  - the channel id: keccak(0x1901 ‖ domain ‖ keccak(abi.encode(
 *    keccak("ChannelConfig(address payer,address payerAuthorizer,address
 *    receiver,address receiverAuthorizer,address token,uint40
 *    withdrawDelay,bytes32 salt)"), the seven fields)));
 *  - a voucher's digest, what payer_authorizer signs: the same over
 *    keccak("Voucher(bytes32 channelId,uint128 maxClaimableAmount)").
 */
void x402_channel_domain_separator(uint8_t out[32], uint64_t chain_id);
void x402_channel_id(uint8_t out[32], uint64_t chain_id,
    const x402_channel_config *c);
void x402_channel_voucher_digest(uint8_t out[32], uint64_t chain_id,
    const uint8_t channel_id[32], const x402_u256 *max_claimable);

typedef enum {
    X402_CHANNEL_DEPOSIT = 1,          /* payload.type "deposit" */
    X402_CHANNEL_VOUCHER,              /* "voucher" */
    X402_CHANNEL_REFUND                /* "refund" */
} x402_channel_type;

/* A decoded PAYMENT-SIGNATURE of a batch-settlement request. */
typedef struct {
    /* "accepted": as x402_payment's, plus two members of its extra */
    struct {
        x402_scheme   scheme;          /* X402_SCHEME_UNKNOWN: other text */
        char          network[X402_NETWORK_MAX + 1];
        int           has_chain_id;    /* network parsed as eip155:<n> */
        uint64_t      chain_id;
        x402_u256     amount;
        x402_address  asset;
        x402_address  pay_to;
        uint32_t      max_timeout_seconds;
        int           has_receiver_authorizer;
        x402_address  receiver_authorizer;
        int           has_withdraw_delay;
        uint64_t      withdraw_delay;
    } accepted;

    x402_channel_type    type;
    x402_channel_config  config;               /* payload.channelConfig */

    /* payload.voucher */
    uint8_t       channel_id[32];              /* channelId, as sent */
    x402_u256     max_claimable;               /* < 2^128 */
    uint8_t       signature[X402_SIGNATURE_MAX];
    size_t        signature_len;

    /* deposit only: payload.deposit.amount (< 2^128) and
     * .authorization.permit2Authorization (has_permit2 0 when absent: an
     * erc3009Authorization) */
    x402_u256     deposit_amount;
    int           has_permit2;
    x402_address  from;
    x402_address  token;                       /* permitted.token */
    x402_address  spender;
    x402_u256     permit_amount;               /* permitted.amount */
    x402_u256     nonce;
    x402_u256     deadline;
    uint8_t       witness_channel_id[32];      /* witness.channelId */
    uint8_t       deposit_signature[X402_SIGNATURE_MAX];
    size_t        deposit_signature_len;

    /* refund only: payload.amount (< 2^128), optional */
    int           has_refund_amount;
    x402_u256     refund_amount;
} x402_channel_payment;

/*
 * Decode a batch-settlement PaymentPayload, with the rules of
 * x402_payment_decode_json(): x402Version 2, at most X402_PAYLOAD_JSON_MAX
 * bytes, duplicate keys X402_ERR_JSON, *field the dotted path of the
 * offending field ("payload.voucher.maxClaimableAmount"), a required field
 * that is null X402_ERR_TYPE, absent X402_ERR_MISSING.  Amounts are
 * strings (decimal or 0x hex); a uint128 field (maxClaimableAmount,
 * deposit.amount, the refund's amount) of 2^128 or more is
 * X402_ERR_OVERFLOW.  channelConfig.withdrawDelay, accepted.extra.
 * withdrawDelay and maxTimeoutSeconds are JSON integers (2.0 counts): a
 * negative withdraw delay is X402_ERR_VALUE, one past uint40
 * X402_ERR_OVERFLOW; maxTimeoutSeconds is 1 to 2^32 - 1 (X402_ERR_VALUE).
 * channelId, witness.channelId and salt are "0x" + 64 hex digits (else
 * X402_ERR_VALUE); payload.type one of "deposit", "voucher", "refund"
 * (else X402_ERR_VALUE); a deposit needs deposit.amount and
 * deposit.authorization, and its permit2Authorization, when present,
 * every field.  A signature string that is not "0x" + even hex of 1 to
 * X402_SIGNATURE_MAX bytes gives a length of 0 (verification fails then),
 * as in x402_payment.  Other members of accepted.extra (channelState,
 * voucherState, minDeposit, name, version, assetTransferMethod) and
 * "extensions" are not read; "resource" may be absent, null or an object.
 */
x402_err x402_channel_payment_decode_json(x402_channel_payment *out,
    const char **field, const char *json, size_t len);

/* The PAYMENT-SIGNATURE header value: base64, then the JSON above. */
x402_err x402_channel_payment_decode_header(x402_channel_payment *out,
    const char **field, const char *header, size_t len);

/*
 * The local verification of a batch-settlement payment against the
 * server's own offer (a batch-settlement offer), in this order:
 *  1. accepted.scheme is not batch-settlement: X402_R_NO_MATCH;
 *  2. accepted.network is not the offer's "eip155:<chain_id>":
 *     X402_R_BS_NETWORK_MISMATCH;
 *  3. a refund: X402_R_BS_PAYLOAD_TYPE (not taken here);
 *  4. the channel id of config on the offer's chain (written to
 *     channel_id, which may be NULL) is not voucher.channelId:
 *     X402_R_BS_CHANNEL_ID_MISMATCH;
 *  5. config.token, .receiver, .receiverAuthorizer, .withdrawDelay against
 *     the offer's asset, pay_to, receiver_authorizer, withdraw_delay:
 *     X402_R_BS_TOKEN_MISMATCH, _RECEIVER_MISMATCH,
 *     _RECEIVER_AUTHORIZER_MISMATCH, _WITHDRAW_DELAY_MISMATCH;
 *  6. the voucher must be 65 bytes recovering to a non-zero
 *     config.payerAuthorizer: X402_R_BS_VOUCHER_SIGNATURE;
 *  7. a deposit: without permit2Authorization
 *     X402_R_BS_PERMIT2_AUTHORIZATION_REQUIRED; from other than
 *     config.payer, permitted.token other than config.token or
 *     witness.channelId other than the channel id
 *     X402_R_BS_DEPOSIT_PAYLOAD; a spender other than the deposit collector
 *     X402_R_BS_PERMIT2_INVALID_SPENDER; permitted.amount other than
 *     deposit.amount, or 0, X402_R_BS_PERMIT2_AMOUNT_MISMATCH; deadline
 *     before now + min_left (at least X402_DEADLINE_MARGIN, as in
 *     x402_verify_local()) X402_R_BS_PERMIT2_DEADLINE_EXPIRED; a 65-byte
 *     signature that does not recover (x402_channel_deposit_digest()) to
 *     from, or an empty one, X402_R_BS_PERMIT2_INVALID_SIGNATURE (other
 *     lengths are a contract wallet's: the chain's simulation judges);
 *  8. maxClaimableAmount 0: X402_R_BS_CUMULATIVE_BELOW_CLAIMED.
 * Returns X402_R_VALID otherwise; NULL offer or payment, or an offer of
 * another scheme, X402_R_PAYMENT_REQUIRED.  Pure: the amounts against the
 * channel's state (X402_R_BS_CUMULATIVE_*) are the caller's.
 */
x402_reason x402_channel_verify_local(const x402_context *ctx,
    uint8_t channel_id[32], const x402_offer *offer,
    const x402_channel_payment *p, uint64_t now, uint64_t min_left);

/*
 * The Permit2 PermitWitnessTransferFrom digest of a deposit: witness type
 * "DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions
 * (address token,uint256 amount)", witness hash keccak(abi.encode(keccak(
 * "DepositWitness(bytes32 channelId)"), witness.channelId)), permitted
 * (token, permitted.amount), spender, nonce and deadline as signed, under
 * Permit2's domain on chain_id.
 */
void x402_channel_deposit_digest(uint8_t out[32], uint64_t chain_id,
    const x402_channel_payment *p);

/* x402BatchSettlement's selectors */
#define X402_SEL_CHANNEL_DEPOSIT     0x140f1e75u  /* deposit(config,...) */
#define X402_SEL_CHANNEL_CLAIM       0x29237b0cu  /* claim(VoucherClaim[]) */
#define X402_SEL_CHANNEL_SETTLE      0x9db32a8fu  /* settle(address,address) */
#define X402_SEL_CHANNELS            0x7a7ebd7bu  /* channels(bytes32) */
#define X402_SEL_PENDING_WITHDRAWALS 0xb7f06ebeu  /* pendingWithdrawals() */

/* A ChannelConfig's ABI words (7 static words, 224 bytes). */
#define X402_CHANNEL_CONFIG_WORDS  7

/*
 * deposit(ChannelConfig config, uint128 amount, address collector, bytes
 * collectorData) of a decoded deposit: amount = deposit.amount, collector =
 * x402_permit2_deposit_collector_address, collectorData = abi.encode(
 * uint256 nonce, uint256 deadline, bytes signature, bytes eip2612Data = "").
 * X402_CHANNEL_DEPOSIT_LEN(sig) bytes, 644 with a 65-byte signature; at
 * most X402_CHANNEL_DEPOSIT_MAX.  *out_len in: capacity, out: length.
 * X402_ERR_ARG for a payment without permit2Authorization or signature.
 */
#define X402_CHANNEL_DEPOSIT_LEN(sig)  (4 + 17 * 32 + X402_ABI_PADDED(sig))
#define X402_CHANNEL_DEPOSIT_MAX  X402_CHANNEL_DEPOSIT_LEN(X402_SIGNATURE_MAX)
x402_err x402_abi_channel_deposit(uint8_t *out, size_t *out_len,
    const x402_channel_payment *p);

/* One row of a claim: a signed voucher and the cumulative amount claimed. */
typedef struct {
    x402_channel_config  config;
    x402_u256            max_claimable;
    const uint8_t       *signature;
    size_t               signature_len;    /* at most X402_SIGNATURE_MAX */
    x402_u256            total_claimed;
} x402_channel_claim;

/*
 * claim(VoucherClaim[] voucherClaims), VoucherClaim = ((ChannelConfig
 * channel, uint128 maxClaimableAmount) voucher, bytes signature, uint128
 * totalClaimed), for n >= 1 rows (the contract refuses an empty batch):
 * x402_abi_channel_claim_len() bytes (4 + 64 + n * 384 + the signatures
 * padded to words).  *out_len in: capacity, out: length.  X402_ERR_ARG for
 * no rows or a signature longer than X402_SIGNATURE_MAX (or NULL with a
 * length); the amounts are written as they are (uint128 is the caller's
 * to respect).
 */
size_t x402_abi_channel_claim_len(const x402_channel_claim *rows, size_t n);
x402_err x402_abi_channel_claim(uint8_t *out, size_t *out_len,
    const x402_channel_claim *rows, size_t n);

/* settle(address receiver, address token): 68 bytes. */
void x402_abi_channel_settle(uint8_t out[68], const x402_address *receiver,
    const x402_address *token);

/* channels(bytes32 channelId): 36 bytes; it returns (uint128 balance,
 * uint128 totalClaimed). */
void x402_abi_channel_state(uint8_t out[36], const uint8_t channel_id[32]);

/* pendingWithdrawals(bytes32 channelId): 36 bytes; it returns (uint128
 * amount, uint40 initiatedAt). */
void x402_abi_channel_withdrawal(uint8_t out[36],
    const uint8_t channel_id[32]);

/*
 * The "result" of those eth_calls: "0x" + exactly two words (128 hex
 * digits), each within its type (uint128, uint40); anything else ("0x"
 * from an address without code included) is X402_ERR_VALUE.
 */
x402_err x402_channel_state_parse(x402_u256 *balance,
    x402_u256 *total_claimed, const char *hex, size_t len);
x402_err x402_channel_withdrawal_parse(x402_u256 *amount,
    uint64_t *initiated_at, const char *hex, size_t len);

/*
 * What a server can count on of a channel: its balance less a withdrawal
 * in progress (withdrawing: its amount, NULL for none), never below what
 * is claimed already (that is the receiver's whatever the withdrawal).
 */
void x402_channel_usable(x402_u256 *out, const x402_u256 *balance,
    const x402_u256 *total_claimed, const x402_u256 *withdrawing);

/* The same from the two words a call returned (x402_rpc_calls_parse()). */
x402_err x402_channel_state_words(x402_u256 *balance,
    x402_u256 *total_claimed, const uint8_t w[64]);
x402_err x402_channel_withdrawal_words(x402_u256 *amount,
    uint64_t *initiated_at, const uint8_t w[64]);

/* topic0 of WithdrawInitiated (a payer starting to take the channel
 * back): x402_channel_withdraw_topic, below with the logs' reader. */

/*
 * A config as its 7 ABI words (224 bytes), to store it, and the reverse:
 * a length other than 224, an address word with a non-zero high byte or a
 * withdraw delay past uint40 is X402_ERR_VALUE.
 */
void x402_channel_config_encode(uint8_t out[224],
    const x402_channel_config *c);
x402_err x402_channel_config_decode(x402_channel_config *c,
    const uint8_t *in, size_t len);

/* A channel's state as a server answers it. */
typedef struct {
    uint8_t    channel_id[32];
    x402_u256  balance;
    x402_u256  total_claimed;
    uint64_t   withdraw_requested_at;    /* unix seconds, 0: none */
    x402_u256  refund_nonce;
    int        has_charged_cumulative;
    x402_u256  charged_cumulative;       /* what the server charged so far */
} x402_channel_state;

/*
 * The SettleResponse of a batch-settlement payment, compact JSON in this
 * key order: {"success":true,"transaction":tx or "","network":
 * "eip155:<chain_id>","payer":"0x…" (EIP-55),"amount":deposit (decimal) or
 * "","extra":{"chargedAmount":"…" (omitted when charged is NULL),
 * "channelState":{"channelId":"0x…","balance":"…","totalClaimed":"…",
 * "withdrawRequestedAt":<n>,"refundNonce":"…","chargedCumulativeAmount":
 * "…" (when has_charged_cumulative)}}}.  tx: "0x…" text (NULL: "");
 * deposit: NULL for a voucher.  Writes a NUL; *out_len in: capacity, out:
 * length without it.
 */
x402_err x402_channel_settle_response_encode(char *out, size_t *out_len,
    uint64_t chain_id, const x402_address *payer, const char *tx,
    const x402_u256 *deposit, const x402_u256 *charged,
    const x402_channel_state *st);

/*
 * The accepts array "[{…}]" of a corrective 402 (the client's voucher base
 * is stale): the batch-settlement offer as x402_accepts_encode() writes
 * it, with extra.channelState (st, as in the SettleResponse) and, when
 * sig_len > 0, extra.voucherState {"signedMaxClaimable":"…","signature":
 * "0x…"} (the last voucher the server holds) added at the end of "extra".
 * X402_ERR_ARG for an offer of another scheme, or sig_len > 0 without
 * signed_max, or beyond X402_SIGNATURE_MAX.
 */
x402_err x402_channel_accepts_encode(char *out, size_t *out_len,
    const x402_offer *offer, const x402_channel_state *st,
    const x402_u256 *signed_max, const uint8_t *sig, size_t sig_len);


/* --------------------------------------------------------------- usage */


/*
 * JSON-RPC 2.0 request bodies (policy services priced per method): the
 * calls of one object or of a batch array, each with its method (1 to
 * X402_RPC_METHOD_MAX printable characters, no quote or backslash) and its
 * id as compact JSON (a number or a string as sent, else "null").
 * *is_batch tells an array.  X402_ERR_JSON: not JSON, or neither an object
 * nor a non-empty array; X402_ERR_MISSING/_TYPE/_SIZE/_VALUE: a call
 * without a usable method; X402_ERR_SIZE also for more than cap calls.
 */
#define X402_RPC_METHOD_MAX   128
#define X402_RPC_ID_TEXT_MAX  80
#define X402_RPC_CALLS_MAX    32

typedef struct {
    char  method[X402_RPC_METHOD_MAX + 1];
    char  id[X402_RPC_ID_TEXT_MAX + 1];
} x402_jsonrpc_call;

x402_err x402_rpc_request_calls(x402_jsonrpc_call *calls, size_t cap, size_t *n,
    int *is_batch, const char *body, size_t len);

/* The JSON-RPC error answer {"jsonrpc":"2.0","id":<id>,"error":{"code":…,
 * "message":…,"data":<data_json>}} (data omitted when NULL). */
x402_err x402_rpc_error_body(char *out, size_t *out_len, const char *id,
    int code, const char *message, const char *data_json, size_t data_len);

/*
 * The same refusal for OpenAI-compatible clients: the module's JSON answer
 * (an object: the x402 fields, or {"error":…}) with its "error" replaced by
 * {"message","type","code"} (code NULL: null), the other fields kept.
 */
x402_err x402_openai_error_body(char *out, size_t *out_len, const char *json,
    size_t len, const char *message, const char *type, const char *code);

/* 1 when a JSON-RPC reply reports an error and no result: an object with
 * "error", or a batch whose every reply has one; 0 otherwise. */
int x402_rpc_reply_failed(const char *body, size_t len);

/*
 * The model of an OpenAI-style request: the top-level "model" string of a
 * JSON object body, copied NUL-terminated into out (at most cap - 1
 * bytes).  X402_ERR_JSON if the body is not a JSON object, X402_ERR_MISSING
 * without a "model", X402_ERR_TYPE if it is not a string, X402_ERR_SIZE if
 * it does not fit or contains control characters.
 */
x402_err x402_request_model(char *out, size_t cap, const char *body,
    size_t len);

/*
 * Prepares an OpenAI-style request for metering.  body is the client's
 * JSON request: not JSON, not an object, or with duplicate keys is
 * X402_ERR_JSON, as for x402_request_model.
 *
 * *stream is 1 when its top-level "stream" is true, else 0.
 * *prompt_tokens estimates the prompt as ceil(B / 4), B the byte length
 * (decoded UTF-8) of its text: every "messages"[i]."content" string (of
 * an array content, each part's "text" string), and a top-level "prompt"
 * or "input" string or the strings of such an array.  When the body has
 * none of these, B is len.  It saturates.
 *
 * A stream sends its usage only when asked: "stream_options":
 * {"include_usage":true}.  When *stream is 1 and include_usage is not
 * already true, out gets the body to send instead, with include_usage
 * true, and *out_len its length (in: the capacity of out; a NUL follows
 * the body when the capacity has room for it, and is not counted).
 * Without "stream_options", ,"stream_options":{"include_usage":true} is
 * inserted before the object's closing brace (the object has "stream", so
 * it is never empty) and every other byte is kept: a capacity of len + 48
 * always suffices.  A "stream_options" object is instead re-serialised with
 * include_usage set to true (jansson: compact, key order kept, reals with
 * 17 significant digits, so 0.7 becomes 0.69999999999999996): no bound on
 * that length is promised (1e-7 becomes 9.9999999999999995e-08).
 * Otherwise (not a stream, or include_usage already true) *out_len is 0:
 * send the body as it is.
 *
 * X402_ERR_TYPE: a stream whose "stream_options" is not an object (null
 * too); leave the body alone.  X402_ERR_BUFFER: out is too small, and
 * *out_len is set to the length needed (without the NUL); out may be NULL
 * when *out_len is 0.  *stream and *prompt_tokens are set whatever the
 * result (to 0 with X402_ERR_JSON and X402_ERR_ARG).
 */
x402_err x402_request_usage_prepare(char *out, size_t *out_len, int *stream,
    uint64_t *prompt_tokens, const char *body, size_t len);

/*
 * Token usage of an OpenAI-compatible response, read as it streams past:
 * a JSON reply (Content-Type application/json: its top-level "usage") or
 * Server-Sent Events (text/event-stream: "data: {...}" events, the last
 * "usage" object wins, "data: [DONE]" ends).  The scanner also counts the
 * streamed output (one token per element of the top-level "choices" whose
 * "delta"."content" or "text" is a non-empty string, per event), so a
 * stream cut short still tells what was delivered.
 *
 * A reply or an event of any size is scanned, fed in any pieces (where
 * they are cut changes nothing), within the state (under 5 KiB): nothing
 * is allocated or buffered but the raw text of the top-level "usage"
 * object, which jansson then reads.  The JSON is checked as it passes, as jansson
 * would (RFC 8259 syntax, UTF-8, no \u0000, no lone surrogate; but the
 * range of a number outside "usage" is not checked), and only a complete
 * document whose top level is an object counts: its usage, and in SSE
 * its streamed tokens.  Nesting deeper than X402_USAGE_DEPTH_MAX is only
 * followed (brackets counted, strings read), not checked.
 *
 * A usage counts only with both prompt_tokens and completion_tokens as
 * non-negative integers; "usage": null (OpenAI's chunks before the last),
 * a malformed usage, or one longer than X402_USAGE_CAPTURE_MAX (this sets
 * overflow) leaves the previous one.  A key that appears twice where it
 * matters makes the document ambiguous (two readers must not disagree):
 * it does not count.  This is certain for "usage" and "choices" at the top
 * level, "delta" and "text" in a choice and "content" in its delta; other
 * top-level keys are compared by a 64-bit hash of their raw text, the
 * first X402_USAGE_KEYS_MAX of them; deeper twins are not looked for.
 * Keys are matched by their raw text: "usag\u0065" is not "usage".
 *
 * SSE lines end with LF, CRLF or CR; the data lines of an event (up to a
 * blank line) are joined with LF as the SSE specification says; comments
 * and other fields are ignored, whatever their length.  An event whose
 * data is exactly "[DONE]" ends the stream: input after it is ignored.
 */
#define X402_USAGE_CAPTURE_MAX  4096    /* longest "usage" object read */
#define X402_USAGE_DEPTH_MAX    2048    /* nesting checked, as jansson's */
#define X402_USAGE_KEYS_MAX     32      /* top-level keys checked for twins */

typedef struct {
    int           sse;                  /* stream format, set by init */
    int           has_usage;            /* a "usage" object was seen */
    uint64_t      prompt_tokens;
    uint64_t      completion_tokens;
    uint64_t      streamed_tokens;      /* counted from SSE deltas */
    int           done;                 /* "data: [DONE]" seen */
    int           overflow;             /* a "usage" object was too long */
    /* private: SSE framing */
    int           line;                 /* where in the current line */
    int           cr;                   /* the last byte was a CR */
    int           data;                 /* the event has a data line */
    int           dmatch;               /* event data matching "[DONE]" */
    /* private: the JSON scanner of the reply, or of one event's data */
    struct x402_usage_json {
        int            state;           /* what may come next */
        int            tok;             /* in a string, number, literal */
        int            sub;             /* where in the token */
        int            n;               /* hex digits, UTF-8 bytes */
        int            high;            /* after a \u high surrogate */
        int            is_key;          /* the string is a key */
        int            nonempty;        /* the string has a byte */
        int            key;             /* the role of the last key */
        int            path;            /* levels on choices[].delta */
        int            counted;         /* the choice has its token */
        int            seen;            /* keys that must not repeat */
        int            cap;             /* capturing the usage object */
        int            got;             /* the document has a usage */
        uint32_t       cp;              /* a \u escape's value */
        unsigned char  lo, hi;          /* the next UTF-8 byte's range */
        uint64_t       depth;           /* open objects and arrays */
        uint64_t       tokens;          /* the document's streamed ones */
        uint64_t       prompt;          /* the document's usage */
        uint64_t       completion;
        uint64_t       khash;           /* FNV-1a of the key's raw text */
        size_t         klen;
        size_t         nkeys;
        size_t         cap_len;
        uint64_t       keys[X402_USAGE_KEYS_MAX];
        unsigned char  kind[X402_USAGE_DEPTH_MAX / 8];  /* 1: object */
        char           kbuf[8];         /* the key's first bytes */
        char           cap_buf[X402_USAGE_CAPTURE_MAX];
    } js;
} x402_usage;

void x402_usage_init(x402_usage *u, int sse);
void x402_usage_feed(x402_usage *u, const char *p, size_t len);
/* End of body: a JSON reply counts only now; in SSE, a last unterminated
 * line and an event not closed by a blank line are taken.  Calling it
 * twice is harmless. */
void x402_usage_finish(x402_usage *u);

/*
 * The charge for a usage: ceil((prompt * input_per_1k + completion *
 * output_per_1k) / 1000) in atomic units, clamped to cap.  *clamped
 * (clamped may be NULL) is 1 when the charge exceeded cap and cap was
 * charged instead, else 0; overflow past 2^256 - 1 clamps to cap as well.
 * A NULL price charges cap and a NULL cap 0 (both with *clamped = 1).
 */
void x402_usage_charge(x402_u256 *out, int *clamped, uint64_t prompt,
    uint64_t completion, const x402_u256 *input_per_1k,
    const x402_u256 *output_per_1k, const x402_u256 *cap);


/* ------------------------------------- batch-settlement: JSON-RPC reads */

/*
 * A batch of n eth_calls ("[…]", ids first_id .. first_id + n - 1) to one
 * contract `to`, from `from` (NULL: none) with gas (0: the node's), the
 * calldata data[i] (lens[i] bytes, at least 1).  n is 1 to X402_CALLS_MAX.
 * The parse: res[i].ok for a call that returned at least ret_size bytes
 * (the first ret_size of them in ret + i * ret_size); a revert is
 * res[i].ok = 0 with its selector when it has one.  Any other JSON-RPC
 * error, a short return, or a malformed reply is X402_ERR_VALUE (res and
 * ret zeroed).
 */
#define X402_CALLS_MAX  128
x402_err x402_rpc_calls_request(char *out, size_t *out_len,
    const x402_address *from, uint64_t gas, const x402_address *to,
    const uint8_t *const *data, const size_t *lens, size_t n,
    uint64_t first_id);
x402_err x402_rpc_calls_parse(x402_call_result *res, uint8_t *ret,
    size_t ret_size, size_t n, const char *json, size_t len,
    uint64_t first_id);

/*
 * The contract's WithdrawInitiated(bytes32 indexed channelId, uint128
 * amount, uint40 finalizeAfter) logs from_block .. to_block: eth_getLogs
 * on x402_batch_settlement_address.  The parse keeps each log that was
 * not removed by a reorganisation, in order; more than cap is
 * X402_ERR_BUFFER, a log that is not such an event X402_ERR_VALUE.
 */
typedef struct {
    uint8_t    channel_id[32];
    x402_u256  amount;
    uint64_t   finalize_after;     /* unix s */
    uint64_t   block;
} x402_channel_withdraw;

extern const uint8_t x402_channel_withdraw_topic[32];

x402_err x402_rpc_withdraw_logs_request(char *out, size_t *out_len,
    uint64_t from_block, uint64_t to_block, uint64_t id);
x402_err x402_rpc_withdraw_logs_parse(x402_channel_withdraw *out, size_t *n,
    size_t cap, const char *json, size_t len, uint64_t id);


#ifdef __cplusplus
}
#endif

#endif /* X402_H_INCLUDED */
