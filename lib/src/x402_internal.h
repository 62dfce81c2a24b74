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

/* ABI words (abi.c): an address word (12 zero bytes, then the address),
 * a small integer word (offsets, lengths), and bytes as a length word then
 * the bytes right-padded to whole words (returns the bytes written); and a
 * call's 4-byte selector. */
void x402_abi_selector(uint8_t *out, uint32_t sel);
void x402_abi_address(uint8_t *out, const x402_address *a);
void x402_abi_size(uint8_t *out, size_t v);
size_t x402_abi_bytes(uint8_t *out, const uint8_t *b, size_t len);

/* Reading words back (abi.c): a word that holds a small integer (an
 * offset, a length: the 28 bytes above zero), else 0; the big-endian value
 * of a word's last n (<= 8) bytes, the rest not looked at. */
int x402_abi_word_small(size_t *v, const uint8_t *w);
uint64_t x402_abi_word_low(const uint8_t *w, size_t n);

/* Are the n bytes at p all zero? */
int x402_zero_bytes(const uint8_t *p, size_t n);

/* keccak256("Transfer(address,address,uint256)"), the ERC-20 event */
extern const uint8_t x402_transfer_topic[32];

/* Writes "eip155:<chain_id>" with a NUL; out needs X402_NETWORK_MAX + 1. */
void x402_network_format(char *out, uint64_t chain_id);

/* Writes v in decimal with a NUL (out needs 21 bytes); returns length. */
size_t x402_u64_format(char *out, uint64_t v);

/* out = a * m (out may alias a); X402_ERR_OVERFLOW past 2^256 - 1 (out is
 * then unspecified). */
x402_err x402_u256_mul_u64(x402_u256 *out, const x402_u256 *a, uint64_t m);

/* out = a / d (out may alias a), returns a % d; d must not be 0. */
uint64_t x402_u256_div_u64(x402_u256 *out, const x402_u256 *a, uint64_t d);


/* jansson helpers (json_util.c).  The setters take the reference of
 * `value` and return non-zero on failure (a NULL value included). */
#define X402_JSON_FLAGS  (JSON_COMPACT | JSON_PRESERVE_ORDER)

struct json_t;
int x402_json_set(struct json_t *obj, const char *key, struct json_t *value);
int x402_json_set_str(struct json_t *obj, const char *key, const char *s);
int x402_json_set_address(struct json_t *obj, const char *key,
    const x402_address *a);
int x402_json_set_u256(struct json_t *obj, const char *key,
    const x402_u256 *v);
int x402_json_set_hex(struct json_t *obj, const char *key, const uint8_t *p,
    size_t len);

/* One offer as its accepts[] entry of PAYMENT-REQUIRED (json_required.c),
 * also the paymentRequirements of a facilitator request; NULL for an
 * unknown scheme, bad UTF-8 or allocation failure.  Caller releases it. */
struct json_t *x402_offer_json(const x402_offer *o);

/* Looks up key of type (JSON_TRUE: either boolean).  Absent or null gives
 * *val = NULL: fine when !required, else MISSING (absent) or TYPE (null). */
x402_err x402_json_get(struct json_t **val, struct json_t *obj,
    const char *key, int type, int required);

/* "0x" + hex of 1 to X402_SIGNATURE_MAX bytes into p->signature, or an
 * ERC-6492 wrapper of such a signature (taken apart into p's signature
 * and deployment): 1, or 0 with signature_len 0 for anything else
 * (json_payload.c). */
int x402_signature_from_hex(x402_payment *p, const char *s, size_t len);

/* Parses len bytes of JSON of any type (duplicate keys refused):
 * X402_ERR_JSON otherwise, *root NULL.  Caller releases *root. */
x402_err x402_json_load(struct json_t **root, const char *s, size_t len);

/* Parses len bytes that must be one JSON object (duplicate keys refused):
 * X402_ERR_JSON otherwise, *root NULL.  Caller releases *root. */
x402_err x402_json_object(struct json_t **root, const char *s, size_t len);

/* Compact JSON of root into out (NUL-terminated), *out_len in: capacity,
 * out: length; releases root in every case. */
x402_err x402_json_dump(char *out, size_t *out_len, struct json_t *root);


/* Recoverable signing (secp.c): r‖s (64 bytes, low s, RFC 6979) and the
 * recovery id 0/1 of a 32-byte digest. */
x402_err x402_sign_recoverable(const x402_context *ctx, uint8_t rs[64],
    int *recid, const uint8_t digest[32], const uint8_t key[32]);


/* RLP (rlp.c).  A bounded writer; with p == NULL it only counts, so a
 * list's payload length can be taken before its header is written.
 * `full` sticks once something did not fit (or the length overflowed). */
typedef struct {
    uint8_t  *p;
    size_t    cap;
    size_t    len;
    int       full;
} x402_rlp;

void x402_rlp_init(x402_rlp *r, uint8_t *out, size_t cap);
/* Bytes as they are (no RLP header): a transaction type, a nested item. */
void x402_rlp_raw(x402_rlp *r, const uint8_t *s, size_t n);
/* A byte string. */
void x402_rlp_bytes(x402_rlp *r, const uint8_t *s, size_t n);
/* A big-endian unsigned integer: leading zeros dropped, 0 is "". */
void x402_rlp_uint(x402_rlp *r, const uint8_t *be, size_t n);
void x402_rlp_u64(x402_rlp *r, uint64_t v);
/* The header of a list whose items take payload_len bytes. */
void x402_rlp_list(x402_rlp *r, size_t payload_len);


/* Bounded text writer for JSON-RPC requests (rpc_json.c); one byte stays
 * free for the NUL.  `full` sticks once something did not fit. */
typedef struct {
    char    *p;
    size_t   cap;
    size_t   len;
    int      full;
} x402_buf;

void x402_buf_init(x402_buf *b, char *out, size_t cap);
void x402_put(x402_buf *b, const char *s, size_t n);
void x402_puts(x402_buf *b, const char *s);
/* "0x" and lowercase hex, no quotes. */
void x402_put_hex(x402_buf *b, const uint8_t *in, size_t len);
void x402_put_u64(x402_buf *b, uint64_t v);
/* A JSON-RPC quantity: "0x" and hex digits without leading zeros. */
void x402_put_quantity(x402_buf *b, uint64_t v);
/* `open`, then eth_call [{"from"?, "gas"?, "to"?, "data"}, block]: from
 * NULL, gas 0 and to NULL (a creation: the code runs as a constructor)
 * are left out, block UINT64_MAX is "latest". */
void x402_put_eth_call(x402_buf *b, const char *open, uint64_t id,
    const x402_address *from, uint64_t gas, const x402_address *to,
    const uint8_t *data, size_t len, uint64_t block);
/* `open` ("[", "," or ""), then {"jsonrpc":"2.0","id":<id>,"method":
 * "<method>","params":[ */
void x402_rpc_head(x402_buf *b, const char *open, uint64_t id,
    const char *method);
/* NUL-terminates; X402_ERR_BUFFER if anything did not fit. */
x402_err x402_buf_finish(x402_buf *b, size_t *out_len);


/* JSON-RPC replies (rpc_json.c). */

/* Is s "0x" followed by an even number of hex digits?  *n = byte count. */
int x402_hex0x(const char *s, size_t len, size_t *n);
/* The first `len` bytes of a string already checked by x402_hex0x. */
void x402_hex0x_prefix(uint8_t *out, const char *s, size_t len);
/* Case-insensitive search of an ASCII lowercase needle. */
int x402_contains_ci(const char *s, size_t len, const char *needle);

/*
 * Parses a reply: longer than X402_RPC_REPLY_MAX is X402_ERR_SIZE, not
 * JSON (or empty, or with duplicate keys) X402_ERR_JSON.  *root must be
 * released with json_decref.
 */
x402_err x402_rpc_load(struct json_t **root, const char *json, size_t len);

/*
 * A batch reply of n entries with ids first_id .. first_id + n - 1, in any
 * order, into slot[id - first_id].  Not an array or an entry that is not
 * an object is X402_ERR_JSON; a wrong count, a missing, duplicate or
 * foreign id X402_ERR_VALUE.
 */
x402_err x402_rpc_batch(struct json_t **slot, size_t n, struct json_t *root,
    uint64_t first_id);

/* A single reply: an object (else X402_ERR_JSON) with this id (else
 * X402_ERR_VALUE). */
x402_err x402_rpc_single(struct json_t *root, uint64_t id);

/*
 * One reply entry: either a result (*res set; any JSON value, null
 * included) or an error object (*err set).  Neither, both, or an error
 * that is not an object is X402_ERR_VALUE.
 */
x402_err x402_rpc_entry(struct json_t **res, struct json_t **err,
    struct json_t *e);

/* A single reply's result (not an error): *root to json_decref, set
 * whatever the outcome (rpc_find.c). */
x402_err x402_rpc_single_result(struct json_t **res, struct json_t **root,
    const char *json, size_t len, uint64_t id);

/* A string result of valid 0x-hex; *n = its byte count. */
x402_err x402_rpc_hex(const char **s, size_t *n, struct json_t *res);

/* Exactly n bytes of 0x-hex into out. */
x402_err x402_rpc_bytes(uint8_t *out, size_t n, struct json_t *res);

/* Quantities: "0x" and 1 to 16 (u64) or 64 (u256) hex digits. */
x402_err x402_rpc_quantity_u64(uint64_t *out, struct json_t *res);
x402_err x402_rpc_quantity(x402_u256 *out, struct json_t *res);

/* Is w a clean EIP-1271 answer: the magic 0x1626ba7e, then 28 zeros? */
int x402_erc1271_magic(const uint8_t w[32]);

/* Is this error a revert (code 3, a message containing "revert", or hex
 * data in error.data or error.data.data)?  Keeps the revert selector when
 * the data has one. */
int x402_rpc_revert(uint8_t sel[4], int *has_sel, struct json_t *err);


/* PaymentPayload decoding (json_payload.c), shared with the
 * batch-settlement decoder (channel_json.c).  The readers set *field, a
 * static dotted path, on error. */

/* *field "" and out (size bytes) zeroed first (X402_ERR_ARG for out NULL,
 * or json NULL with a length); then the document: at most
 * X402_PAYLOAD_JSON_MAX bytes (else X402_ERR_SIZE),
 * one object without duplicate keys (X402_ERR_JSON), x402Version 2
 * (X402_ERR_VERSION, or as x402_json_get_int(); *field "x402Version").
 * *root to json_decref on success, NULL otherwise. */
x402_err x402_payload_open(struct json_t **root, const char **field,
    void *out, size_t size, const char *json, size_t len);

/* The members of "accepted" every scheme has; obj and extra (NULL when
 * absent or null; else an object) are borrowed from the document. */
typedef struct {
    struct json_t  *obj;
    struct json_t  *extra;
    x402_scheme     scheme;
    char            network[X402_NETWORK_MAX + 1];
    int             has_chain_id;
    uint64_t        chain_id;
    x402_u256       amount;
    x402_address    asset;
    x402_address    pay_to;
    uint32_t        max_timeout_seconds;
} x402_accepted;

x402_err x402_accepted_decode(x402_accepted *out, const char **field,
    struct json_t *root);

/* Required members: a JSON integer, or a real of integral value within
 * 2^53 (2 and 2.0 alike, as JavaScript reads them); a uint256 string
 * (decimal or 0x hex, X402_ERR_VALUE when neither); an address string,
 * required or not
 * (*present, when present is not NULL, tells whether it was there). */
x402_err x402_json_get_int(int64_t *out, struct json_t *obj,
    const char *key);
x402_err x402_json_get_u256(x402_u256 *out, struct json_t *obj,
    const char *key);
x402_err x402_json_get_address(x402_address *out, struct json_t *obj,
    const char *key, int required, int *present);

/* "0x" + hex of 1 to cap bytes into sig: its length, or 0 for anything
 * else. */
size_t x402_signature_hex(uint8_t *sig, size_t cap, const char *s,
    size_t len);

/* The creation code of lib/sol/Erc6492Probe.sol (erc6492_probe.c, made by
 * scripts/gen-probe.mjs, which checks this length). */
#define X402_ERC6492_PROBE_CODE_LEN 1073
extern const uint8_t x402_erc6492_probe_code[X402_ERC6492_PROBE_CODE_LEN];

/* EIP-712 (eip712.c): keccak(0x1901 ‖ domain ‖ struct_hash). */
void x402_eip712_hash(uint8_t out[32], const uint8_t domain[32],
    const uint8_t struct_hash[32]);

/* Verification helpers (verify.c): is network the text "eip155:<chain_id>";
 * deadline >= now + margin without overflow. */
int x402_network_is(const char *network, uint64_t chain_id);
int x402_deadline_ok(const x402_u256 *deadline, uint64_t now,
    uint64_t margin);


#endif /* X402_INTERNAL_H_INCLUDED */
