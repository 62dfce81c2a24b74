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


/* The "usage" member of a reply or chunk, if well-formed. */
static void
x402_usage_take(x402_usage *u, json_t *root)
{
    json_t    *usage;
    uint64_t   prompt, completion;

    usage = json_object_get(root, "usage");
    if (!json_is_object(usage)) {
        return;                             /* absent or null */
    }

    if (!x402_usage_count(&prompt, json_object_get(usage, "prompt_tokens"))
        || !x402_usage_count(&completion,
                             json_object_get(usage, "completion_tokens")))
    {
        return;
    }

    u->has_usage = 1;
    u->prompt_tokens = prompt;
    u->completion_tokens = completion;
}


static int
x402_nonempty_string(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}


/* One token per choice with a non-empty delta.content or text. */
static void
x402_usage_deltas(x402_usage *u, json_t *root)
{
    json_t  *choices, *c;
    size_t   i, n;

    choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) {
        return;
    }

    n = json_array_size(choices);

    for (i = 0; i < n; i++) {
        c = json_array_get(choices, i);

        if (x402_nonempty_string(
                json_object_get(json_object_get(c, "delta"), "content"))
            || x402_nonempty_string(json_object_get(c, "text")))
        {
            if (u->streamed_tokens != UINT64_MAX) {
                u->streamed_tokens++;
            }
        }
    }
}


static json_t *
x402_usage_load(const char *p, size_t len)
{
    json_error_t  jerr;
    json_t       *root;

    if (len == 0) {
        return NULL;
    }

    /* duplicate keys: two readers of the reply must not disagree */
    root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }

    return root;
}


/* The end of an event (a blank line, or the end of the body). */
static void
x402_sse_dispatch(x402_usage *u)
{
    json_t  *root;

    if (u->data && !u->drop) {
        if (u->len == 6 && memcmp(u->buf, "[DONE]", 6) == 0) {
            u->done = 1;

        } else {
            root = x402_usage_load(u->buf, u->len);
            if (root != NULL) {
                x402_usage_take(u, root);
                x402_usage_deltas(u, root);
                json_decref(root);
            }
        }
    }

    u->data = 0;
    u->drop = 0;
    u->len = 0;
}


static void
x402_sse_put(x402_usage *u, char c)
{
    if (u->len == X402_USAGE_LINE_MAX) {
        u->drop = 1;
        u->overflow = 1;
        return;
    }

    if (!u->drop) {
        u->buf[u->len++] = c;
    }
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
    u->drop = 0;
    u->len = 0;
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
        n = X402_USAGE_LINE_MAX - u->len;

        if (u->overflow || len > n) {
            u->overflow = 1;
            return;
        }

        memcpy(u->buf + u->len, p, len);
        u->len += len;
        return;
    }

    for (i = 0; i < len && !u->done; i++) {
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
    json_t  *root;

    if (u == NULL) {
        return;
    }

    if (!u->sse) {
        if (!u->overflow) {
            root = x402_usage_load(u->buf, u->len);
            if (root != NULL) {
                x402_usage_take(u, root);
                json_decref(root);
            }
        }

        u->len = 0;                         /* a second finish: no-op */
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
