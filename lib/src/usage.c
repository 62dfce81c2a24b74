/*
 * Token usage of OpenAI-compatible responses (a JSON reply or an SSE
 * stream), read as the body streams past, and the upto charge for it.
 */

#include <string.h>

#include <jansson.h>

#include "x402.h"
#include "x402_internal.h"


/*
 * SSE line states (x402_usage.line): 0..4 is how much of the field name
 * "data" has been matched at the start of a line, then just after
 * "data:", inside its value, or in a line that is ignored.
 */
#define X402_SSE_FIELD   0
#define X402_SSE_COLON   5
#define X402_SSE_VALUE   6
#define X402_SSE_SKIP    7

/* x402_usage.dmatch: 0..6 bytes of "[DONE]" matched, or not it */
#define X402_SSE_NOT_DONE  7


/*
 * The JSON scanner: one byte at a time, so that where the pieces are cut
 * changes nothing.  js.state is what may come next outside a token.
 */
#define X402_JS_VALUE    0      /* a value (first: the top-level object) */
#define X402_JS_ELEM     1      /* after '[': a value or ']' */
#define X402_JS_MEMBER   2      /* after '{': a key or '}' */
#define X402_JS_KEY      3      /* after ',' in an object: a key */
#define X402_JS_COLON    4
#define X402_JS_NEXT     5      /* after a value: ',' or the close */
#define X402_JS_END      6      /* the document is complete */
#define X402_JS_DEEP     7      /* below X402_USAGE_DEPTH_MAX */
#define X402_JS_BAD      8      /* not well-formed: nothing counts */

/* js.tok, and js.sub inside it */
#define X402_TOK_NONE    0
#define X402_TOK_STRING  1
#define X402_TOK_NUMBER  2
#define X402_TOK_LITERAL 3      /* sub: which, n: bytes matched */

#define X402_STR_CHAR    0
#define X402_STR_ESC     1      /* after '\' */
#define X402_STR_HEX     2      /* in \uXXXX, n: digits read */
#define X402_STR_UTF8    3      /* n: continuation bytes left */

#define X402_NUM_MINUS   0
#define X402_NUM_ZERO    1
#define X402_NUM_INT     2
#define X402_NUM_DOT     3
#define X402_NUM_FRAC    4
#define X402_NUM_EXP     5      /* after 'e' */
#define X402_NUM_SIGN    6      /* after "e+" */
#define X402_NUM_EXP_DIG 7

/* js.key: what the last key names, on the paths that matter */
#define X402_KEY_OTHER   0
#define X402_KEY_USAGE   1      /* top level */
#define X402_KEY_CHOICES 2      /* top level */
#define X402_KEY_DELTA   3      /* in a choice */
#define X402_KEY_TEXT    4      /* in a choice */
#define X402_KEY_CONTENT 5      /* in a choice's delta */

/* js.seen: keys that must not come twice where they count */
#define X402_SEEN_USAGE   1     /* top level */
#define X402_SEEN_CHOICES 2     /* top level */
#define X402_SEEN_DELTA   4     /* in the current choice */
#define X402_SEEN_TEXT    8     /* in the current choice */
#define X402_SEEN_CONTENT 16    /* in the current choice's delta */

/* js.cap */
#define X402_CAP_NONE    0
#define X402_CAP_ON      1
#define X402_CAP_OVER    2      /* too long: followed to its end, unread */

/* js.path: how many levels of choices[].delta we are in */
#define X402_PATH_TOP     1     /* the top-level object */
#define X402_PATH_CHOICES 2     /* its "choices" array */
#define X402_PATH_CHOICE  3     /* an element object of it */
#define X402_PATH_DELTA   4     /* the element's "delta" object */

#define X402_FNV_BASIS   0xcbf29ce484222325ULL
#define X402_FNV_PRIME   0x100000001b3ULL


static const char *const  x402_js_literals[] = { "true", "false", "null" };


/* A JSON integer >= 0. */
static int
x402_usage_count(uint64_t *out, json_t *v)
{
    json_int_t  n;

    if (!json_is_integer(v)) {
        return 0;
    }

    n = json_integer_value(v);
    if (n < 0) {
        return 0;
    }

    *out = (uint64_t) n;

    return 1;
}


/* A new document: the big arrays are written before they are read. */
static void
x402_js_reset(x402_usage *u)
{
    struct x402_usage_json  *js = &u->js;

    js->state = X402_JS_VALUE;
    js->tok = X402_TOK_NONE;
    js->sub = 0;
    js->n = 0;
    js->high = 0;
    js->is_key = 0;
    js->nonempty = 0;
    js->key = X402_KEY_OTHER;
    js->path = 0;
    js->counted = 0;
    js->seen = 0;
    js->cap = X402_CAP_NONE;
    js->got = 0;
    js->cp = 0;
    js->lo = 0;
    js->hi = 0;
    js->depth = 0;
    js->tokens = 0;
    js->prompt = 0;
    js->completion = 0;
    js->khash = 0;
    js->klen = 0;
    js->nkeys = 0;
    js->cap_len = 0;
}


/* The end of a document: a well-formed one counts. */
static void
x402_js_commit(x402_usage *u)
{
    struct x402_usage_json  *js = &u->js;

    if (js->state == X402_JS_END) {
        if (js->got) {
            u->has_usage = 1;
            u->prompt_tokens = js->prompt;
            u->completion_tokens = js->completion;
        }

        if (u->sse) {
            u->streamed_tokens = js->tokens > UINT64_MAX - u->streamed_tokens
                                 ? UINT64_MAX
                                 : u->streamed_tokens + js->tokens;
        }
    }

    x402_js_reset(u);
}


/* The top-level "usage" object is complete: jansson reads its text. */
static void
x402_js_capture_end(x402_usage *u)
{
    struct x402_usage_json  *js = &u->js;
    json_error_t             jerr;
    json_t                  *usage;
    uint64_t                 prompt, completion;

    if (js->cap == X402_CAP_ON) {
        usage = json_loadb(js->cap_buf, js->cap_len, JSON_REJECT_DUPLICATES,
                           &jerr);
        if (usage != NULL) {
            if (x402_usage_count(&prompt,
                                 json_object_get(usage, "prompt_tokens"))
                && x402_usage_count(&completion,
                                    json_object_get(usage,
                                                    "completion_tokens")))
            {
                js->got = 1;
                js->prompt = prompt;
                js->completion = completion;
            }

            json_decref(usage);
        }
    }

    js->cap = X402_CAP_NONE;
}


static void
x402_js_value_end(struct x402_usage_json *js)
{
    js->state = js->depth == 0 ? X402_JS_END : X402_JS_NEXT;
}


/* Whether the innermost open container is an object (depth >= 1). */
static int
x402_js_in_object(const struct x402_usage_json *js)
{
    uint64_t  i = js->depth - 1;

    return (js->kind[i / 8] >> (i % 8)) & 1;
}


static void
x402_js_open(x402_usage *u, int object)
{
    struct x402_usage_json  *js = &u->js;
    uint64_t                 d = js->depth;

    if (d == X402_USAGE_DEPTH_MAX) {
        js->depth++;                        /* only followed from here */
        js->state = X402_JS_DEEP;
        return;
    }

    /* the path to choices[i].delta.content and choices[i].text */
    if ((uint64_t) js->path == d
        && (d == 0
            || (d == 1 && !object && js->key == X402_KEY_CHOICES)
            || (d == 2 && object)
            || (d == 3 && object && js->key == X402_KEY_DELTA)))
    {
        js->path++;
        if (js->path == X402_PATH_CHOICE) {
            js->counted = 0;
            js->seen &= ~(X402_SEEN_DELTA | X402_SEEN_TEXT);
        } else if (js->path == X402_PATH_DELTA) {
            js->seen &= ~X402_SEEN_CONTENT;
        }
    }

    /* the top-level "usage" object: its text is kept for jansson */
    if (d == 1 && object && js->key == X402_KEY_USAGE) {
        js->cap = X402_CAP_ON;
        js->cap_buf[0] = '{';
        js->cap_len = 1;
    }

    if (object) {
        js->kind[d / 8] |= (unsigned char) (1u << (d % 8));
    } else {
        js->kind[d / 8] &= (unsigned char) ~(1u << (d % 8));
    }

    js->depth = d + 1;
    js->state = object ? X402_JS_MEMBER : X402_JS_ELEM;
}


static void
x402_js_close(x402_usage *u, int object)
{
    struct x402_usage_json  *js = &u->js;

    if (x402_js_in_object(js) != object) {
        js->state = X402_JS_BAD;
        return;
    }

    if (js->depth == 2 && js->cap != X402_CAP_NONE) {
        x402_js_capture_end(u);
    }

    js->depth--;
    if ((uint64_t) js->path > js->depth) {
        js->path--;
    }

    x402_js_value_end(js);
}


/* A key is complete: what it names, and duplicates at the top level and
 * of the keys that count in a choice. */
static void
x402_js_key(struct x402_usage_json *js)
{
    size_t  i;
    int     seen;

    js->key = X402_KEY_OTHER;
    js->state = X402_JS_COLON;
    seen = 0;

#define X402_KEY_IS(s) \
    (js->klen == sizeof(s) - 1 && memcmp(js->kbuf, s, sizeof(s) - 1) == 0)

    if (js->depth == 1) {
        if (X402_KEY_IS("usage")) {
            js->key = X402_KEY_USAGE;
            seen = X402_SEEN_USAGE;

        } else if (X402_KEY_IS("choices")) {
            js->key = X402_KEY_CHOICES;
            seen = X402_SEEN_CHOICES;

        } else {
            /* other keys: by hash, while the table lasts */
            for (i = 0; i < js->nkeys; i++) {
                if (js->keys[i] == js->khash) {
                    js->state = X402_JS_BAD;
                    return;
                }
            }

            if (js->nkeys < X402_USAGE_KEYS_MAX) {
                js->keys[js->nkeys++] = js->khash;
            }

            return;
        }

    } else if (js->path == X402_PATH_CHOICE && js->depth == 3) {
        if (X402_KEY_IS("delta")) {
            js->key = X402_KEY_DELTA;
            seen = X402_SEEN_DELTA;

        } else if (X402_KEY_IS("text")) {
            js->key = X402_KEY_TEXT;
            seen = X402_SEEN_TEXT;
        }

    } else if (js->path == X402_PATH_DELTA && js->depth == 4) {
        if (X402_KEY_IS("content")) {
            js->key = X402_KEY_CONTENT;
            seen = X402_SEEN_CONTENT;
        }
    }

#undef X402_KEY_IS

    if (js->seen & seen) {
        js->state = X402_JS_BAD;            /* which one is meant? */
        return;
    }

    js->seen |= seen;
}


/* The closing quote of a string. */
static void
x402_js_string_end(struct x402_usage_json *js)
{
    js->tok = X402_TOK_NONE;

    if (js->state == X402_JS_DEEP) {
        return;
    }

    if (js->is_key) {
        x402_js_key(js);
        return;
    }

    /* one token per choice with a non-empty text or delta.content */
    if (js->nonempty && !js->counted && (uint64_t) js->path == js->depth
        && ((js->path == X402_PATH_CHOICE && js->key == X402_KEY_TEXT)
            || (js->path == X402_PATH_DELTA
                && js->key == X402_KEY_CONTENT)))
    {
        js->counted = 1;
        js->tokens++;                       /* < bytes fed: no overflow */
    }

    x402_js_value_end(js);
}


/* A byte inside a string, checked as jansson checks it: escapes, UTF-8,
 * no control character, no \u0000, surrogates in pairs. */
static void
x402_js_string(struct x402_usage_json *js, unsigned char c)
{
    int  v;

    if (c == '"' && js->sub == X402_STR_CHAR && !js->high) {
        x402_js_string_end(js);
        return;
    }

    js->nonempty = 1;

    if (js->is_key) {
        if (js->klen < sizeof(js->kbuf)) {
            js->kbuf[js->klen] = (char) c;
        }
        if (js->klen <= sizeof(js->kbuf)) {
            js->klen++;                     /* longer: none of ours */
        }
        js->khash = (js->khash ^ c) * X402_FNV_PRIME;
    }

    switch (js->sub) {

    case X402_STR_CHAR:
        if (js->high && c != '\\') {
            break;                          /* a lone high surrogate */
        }

        if (c == '\\') {
            js->sub = X402_STR_ESC;
            return;
        }

        if (c < 0x80) {
            if (c < 0x20) {
                break;
            }
            return;
        }

        /* a UTF-8 lead byte: no overlong form, surrogate, > U+10FFFF */
        js->lo = 0x80;
        js->hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            js->n = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            js->n = 2;
            if (c == 0xe0) {
                js->lo = 0xa0;
            } else if (c == 0xed) {
                js->hi = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            js->n = 3;
            if (c == 0xf0) {
                js->lo = 0x90;
            } else if (c == 0xf4) {
                js->hi = 0x8f;
            }

        } else {
            break;
        }

        js->sub = X402_STR_UTF8;
        return;

    case X402_STR_UTF8:
        if (c < js->lo || c > js->hi) {
            break;
        }

        js->lo = 0x80;
        js->hi = 0xbf;
        if (--js->n == 0) {
            js->sub = X402_STR_CHAR;
        }
        return;

    case X402_STR_ESC:
        if (c == 'u') {
            js->sub = X402_STR_HEX;
            js->n = 0;
            js->cp = 0;
            return;
        }

        if (js->high || c == '\0' || strchr("\"\\/bfnrt", c) == NULL) {
            break;
        }

        js->sub = X402_STR_CHAR;
        return;

    default:                                /* X402_STR_HEX */
        v = x402_hex_digit((char) c);
        if (v < 0) {
            break;
        }

        js->cp = js->cp << 4 | (uint32_t) v;
        if (++js->n < 4) {
            return;
        }

        js->sub = X402_STR_CHAR;

        if (js->high) {
            if (js->cp < 0xdc00 || js->cp > 0xdfff) {
                break;
            }
            js->high = 0;
            return;
        }

        if (js->cp >= 0xd800 && js->cp <= 0xdbff) {
            js->high = 1;                   /* a low one must follow */
            return;
        }

        if (js->cp == 0 || (js->cp >= 0xdc00 && js->cp <= 0xdfff)) {
            break;
        }
        return;
    }

    js->state = X402_JS_BAD;
}


/* A byte inside a number: 1 if it is part of it, 0 if it ends it (the
 * number is complete).  A number cut short makes the document bad. */
static int
x402_js_number(struct x402_usage_json *js, unsigned char c)
{
    int  digit = (c >= '0' && c <= '9');
    int  exp = (c == 'e' || c == 'E');

    switch (js->sub) {

    case X402_NUM_MINUS:
        if (digit) {
            js->sub = c == '0' ? X402_NUM_ZERO : X402_NUM_INT;
            return 1;
        }
        break;

    case X402_NUM_ZERO:
    case X402_NUM_INT:
        if (digit) {
            if (js->sub == X402_NUM_ZERO) {
                break;                      /* a leading zero */
            }
            return 1;
        }
        if (c == '.') {
            js->sub = X402_NUM_DOT;
            return 1;
        }
        if (exp) {
            js->sub = X402_NUM_EXP;
            return 1;
        }
        return 0;

    case X402_NUM_DOT:
        if (digit) {
            js->sub = X402_NUM_FRAC;
            return 1;
        }
        break;

    case X402_NUM_FRAC:
        if (digit) {
            return 1;
        }
        if (exp) {
            js->sub = X402_NUM_EXP;
            return 1;
        }
        return 0;

    case X402_NUM_EXP:
        if (c == '+' || c == '-') {
            js->sub = X402_NUM_SIGN;
            return 1;
        }
        /* fall through */
    case X402_NUM_SIGN:
        if (digit) {
            js->sub = X402_NUM_EXP_DIG;
            return 1;
        }
        break;

    default:                                /* X402_NUM_EXP_DIG */
        return digit;
    }

    js->state = X402_JS_BAD;

    return 1;
}


/* A byte outside any token. */
static void
x402_js_structure(x402_usage *u, unsigned char c)
{
    struct x402_usage_json  *js = &u->js;

    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        return;
    }

    switch (js->state) {

    case X402_JS_DEEP:
        /* too deep to check: brackets counted, strings still read */
        if (c == '"') {
            js->tok = X402_TOK_STRING;
            js->sub = X402_STR_CHAR;
            js->is_key = 0;
            js->high = 0;

        } else if (c == '{' || c == '[') {
            js->depth++;

        } else if (c == '}' || c == ']') {
            if (--js->depth == X402_USAGE_DEPTH_MAX) {
                x402_js_value_end(js);
            }
        }
        return;

    case X402_JS_MEMBER:
        if (c == '}') {
            x402_js_close(u, 1);
            return;
        }
        /* fall through */
    case X402_JS_KEY:
        if (c == '"') {
            js->tok = X402_TOK_STRING;
            js->sub = X402_STR_CHAR;
            js->is_key = 1;
            js->nonempty = 0;
            js->high = 0;
            js->klen = 0;
            js->khash = X402_FNV_BASIS;
            return;
        }
        break;

    case X402_JS_COLON:
        if (c == ':') {
            js->state = X402_JS_VALUE;
            return;
        }
        break;

    case X402_JS_NEXT:
        if (c == ',') {
            js->state = x402_js_in_object(js) ? X402_JS_KEY : X402_JS_VALUE;
            return;
        }
        if (c == '}' || c == ']') {
            x402_js_close(u, c == '}');
            return;
        }
        break;

    case X402_JS_ELEM:
        if (c == ']') {
            x402_js_close(u, 0);
            return;
        }
        /* fall through */
    case X402_JS_VALUE:
        if (js->depth == 0 && c != '{') {
            break;                          /* the document is an object */
        }

        if (c == '{' || c == '[') {
            x402_js_open(u, c == '{');
            return;
        }

        if (c == '"') {
            js->tok = X402_TOK_STRING;
            js->sub = X402_STR_CHAR;
            js->is_key = 0;
            js->nonempty = 0;
            js->high = 0;
            return;
        }

        if (c == '-' || (c >= '0' && c <= '9')) {
            js->tok = X402_TOK_NUMBER;
            js->sub = c == '-' ? X402_NUM_MINUS
                      : c == '0' ? X402_NUM_ZERO : X402_NUM_INT;
            return;
        }

        if (c == 't' || c == 'f' || c == 'n') {
            js->tok = X402_TOK_LITERAL;
            js->sub = c == 't' ? 0 : c == 'f' ? 1 : 2;
            js->n = 1;
            return;
        }
        break;

    default:                                /* X402_JS_END */
        break;
    }

    js->state = X402_JS_BAD;
}


static void
x402_js_byte(x402_usage *u, unsigned char c)
{
    struct x402_usage_json  *js = &u->js;
    const char              *lit;

    if (js->state == X402_JS_BAD) {
        return;
    }

    if (js->cap == X402_CAP_ON) {
        if (js->cap_len == X402_USAGE_CAPTURE_MAX) {
            js->cap = X402_CAP_OVER;
            u->overflow = 1;

        } else {
            js->cap_buf[js->cap_len++] = (char) c;
        }
    }

    switch (js->tok) {

    case X402_TOK_STRING:
        x402_js_string(js, c);
        return;

    case X402_TOK_LITERAL:
        lit = x402_js_literals[js->sub];
        if (c != (unsigned char) lit[js->n]) {
            js->state = X402_JS_BAD;
            return;
        }
        if (lit[++js->n] == '\0') {
            js->tok = X402_TOK_NONE;
            x402_js_value_end(js);
        }
        return;

    case X402_TOK_NUMBER:
        if (x402_js_number(js, c)) {
            return;
        }
        js->tok = X402_TOK_NONE;            /* the byte after it ends it */
        x402_js_value_end(js);
        break;

    default:
        break;
    }

    x402_js_structure(u, c);
}


/* The end of an event (a blank line, or the end of the body). */
static void
x402_sse_dispatch(x402_usage *u)
{
    if (u->data) {
        if (u->dmatch == 6) {
            u->done = 1;                    /* the data is "[DONE]" */

        } else {
            x402_js_commit(u);
        }
    }

    x402_js_reset(u);
    u->data = 0;
    u->dmatch = 0;
}


/* A byte of the event's data: to the scanner, and to the "[DONE]"
 * matcher beside it. */
static void
x402_sse_put(x402_usage *u, char c)
{
    if (u->dmatch < 6 && c == "[DONE]"[u->dmatch]) {
        u->dmatch++;

    } else {
        u->dmatch = X402_SSE_NOT_DONE;
    }

    x402_js_byte(u, (unsigned char) c);
}


/* A data line starts: its value is appended to the event's data, after a
 * LF when the event already has a data line. */
static void
x402_sse_data_line(x402_usage *u)
{
    if (u->data) {
        x402_sse_put(u, '\n');
    }

    u->data = 1;
}


static void
x402_sse_eol(x402_usage *u)
{
    if (u->line == X402_SSE_FIELD) {
        x402_sse_dispatch(u);               /* a blank line */

    } else if (u->line == X402_SSE_FIELD + 4) {
        x402_sse_data_line(u);              /* "data" alone: empty value */
    }

    u->line = X402_SSE_FIELD;
}


static void
x402_sse_byte(x402_usage *u, char c)
{
    switch (u->line) {

    case X402_SSE_VALUE:
        x402_sse_put(u, c);
        return;

    case X402_SSE_SKIP:
        return;

    case X402_SSE_COLON:
        u->line = X402_SSE_VALUE;
        if (c != ' ') {                     /* one optional space */
            x402_sse_put(u, c);
        }
        return;

    default:                                /* 0..4 of "data" matched */
        if (u->line < 4 && c == "data"[u->line]) {
            u->line++;

        } else if (u->line == 4 && c == ':') {
            x402_sse_data_line(u);
            u->line = X402_SSE_COLON;

        } else {
            u->line = X402_SSE_SKIP;        /* comment, other field */
        }
        return;
    }
}


void
x402_usage_init(x402_usage *u, int sse)
{
    if (u == NULL) {
        return;
    }

    u->sse = sse != 0;
    u->has_usage = 0;
    u->prompt_tokens = 0;
    u->completion_tokens = 0;
    u->streamed_tokens = 0;
    u->done = 0;
    u->overflow = 0;
    u->line = X402_SSE_FIELD;
    u->cr = 0;
    u->data = 0;
    u->dmatch = 0;
    x402_js_reset(u);
}


/*
 * The plain bytes at p, inside a string value: printable ASCII but '"'
 * and '\'.  They change nothing but js.nonempty, so they are passed in
 * one go (most of a long reply); returns how many.  Not inside a key (it
 * is hashed) nor in the usage object (it is kept).
 */
static size_t
x402_js_plain(struct x402_usage_json *js, const char *p, size_t len)
{
    size_t  i;

    if (js->tok != X402_TOK_STRING || js->sub != X402_STR_CHAR || js->high
        || js->is_key || js->cap == X402_CAP_ON || js->state == X402_JS_BAD)
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x20 || (unsigned char) p[i] >= 0x80
            || p[i] == '"' || p[i] == '\\')
        {
            break;
        }
    }

    if (i > 0) {
        js->nonempty = 1;
    }

    return i;
}


void
x402_usage_feed(x402_usage *u, const char *p, size_t len)
{
    size_t  i, n;
    char    c;

    if (u == NULL || p == NULL || len == 0 || u->done) {
        return;
    }

    if (!u->sse) {
        for (i = 0; i < len && u->js.state != X402_JS_BAD; i += n) {
            n = x402_js_plain(&u->js, p + i, len - i);
            if (n == 0) {
                x402_js_byte(u, (unsigned char) p[i]);
                n = 1;
            }
        }
        return;
    }

    for (i = 0; i < len && !u->done; i++) {
        /* plain bytes of a data line: no CR or LF among them, and the
         * event is no "[DONE]" once it has a string */
        if (u->line == X402_SSE_VALUE && u->dmatch == X402_SSE_NOT_DONE) {
            n = x402_js_plain(&u->js, p + i, len - i);
            if (n > 0) {
                u->cr = 0;
                i += n - 1;
                continue;
            }
        }

        c = p[i];

        if (c == '\n' && u->cr) {
            u->cr = 0;                      /* the LF of a CRLF */
            continue;
        }

        u->cr = (c == '\r');

        if (c == '\n' || c == '\r') {
            x402_sse_eol(u);

        } else {
            x402_sse_byte(u, c);
        }
    }
}


void
x402_usage_finish(x402_usage *u)
{
    if (u == NULL) {
        return;
    }

    if (!u->sse) {
        x402_js_commit(u);                  /* then a fresh document */
        u->js.state = X402_JS_BAD;          /* a second finish: no-op */
        return;
    }

    if (u->done) {
        return;
    }

    if (u->line != X402_SSE_FIELD) {
        x402_sse_eol(u);                    /* an unterminated last line */
    }

    x402_sse_dispatch(u);
    u->cr = 0;
}


void
x402_usage_charge(x402_u256 *out, int *clamped, uint64_t prompt,
    uint64_t completion, const x402_u256 *input_per_1k,
    const x402_u256 *output_per_1k, const x402_u256 *cap)
{
    x402_u256  a, b;
    int        over;

    if (out == NULL) {
        return;
    }

    if (cap == NULL) {
        memset(out, 0, sizeof(*out));
        over = 1;

    } else if (input_per_1k == NULL || output_per_1k == NULL) {
        *out = *cap;
        over = 1;

    } else {
        over = x402_u256_mul_u64(&a, input_per_1k, prompt) != X402_OK
               || x402_u256_mul_u64(&b, output_per_1k, completion) != X402_OK
               || x402_u256_add(&a, &a, &b) != X402_OK;

        if (!over) {
            if (x402_u256_div_u64(&a, &a, 1000) != 0) {
                x402_u256_from_u64(&b, 1);  /* rounds up; cannot overflow */
                (void) x402_u256_add(&a, &a, &b);
            }

            over = x402_u256_cmp(&a, cap) > 0;
        }

        *out = over ? *cap : a;
    }

    if (clamped != NULL) {
        *clamped = over;
    }
}
