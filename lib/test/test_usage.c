/*
 * Usage metering for upto: the model of a request, the token usage of a
 * JSON reply and of an SSE stream (the shapes scripts/mockllm sends, fed
 * whole, byte by byte and in random pieces), and the charge.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x402.h"
#include "x402_internal.h"


/* ------------------------------------------------------------ samples */

/* Captured from scripts/mockllm: POST /v1/chat/completions with
 * "messages":[{"role":"user","content":"hello there world"}],
 * "max_tokens":4 (non-stream: without max_tokens). */
#define XT_CHUNK(c) \
    "data: {\"id\":\"chatcmpl-mock3bed923023c396e818\",\"object\":" \
    "\"chat.completion.chunk\",\"created\":1796003629,\"model\":" \
    "\"mock-gpt\",\"choices\":[" c "]}\n\n"

static const char xt_chat_stream[] =
    XT_CHUNK("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
             "\"\"},\"finish_reason\":null}")
    XT_CHUNK("{\"index\":0,\"delta\":{\"content\":\"Mock\"},"
             "\"finish_reason\":null}")
    XT_CHUNK("{\"index\":0,\"delta\":{\"content\":\" reply\"},"
             "\"finish_reason\":null}")
    XT_CHUNK("{\"index\":0,\"delta\":{\"content\":\" f3002d72:\"},"
             "\"finish_reason\":null}")
    XT_CHUNK("{\"index\":0,\"delta\":{\"content\":\" hello\"},"
             "\"finish_reason\":null}")
    XT_CHUNK("{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}")
    "data: {\"id\":\"chatcmpl-mock3bed923023c396e818\",\"object\":"
    "\"chat.completion.chunk\",\"created\":1796003629,\"model\":"
    "\"mock-gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":4,\"total_tokens\":7}}\n\n"
    "data: [DONE]\n\n";

/* Where the usage chunk starts in xt_chat_stream. */
#define XT_USAGE_MARK "\"choices\":[],\"usage\""

static const char xt_text_stream[] =
    "data: {\"id\":\"cmpl-mock53eae70584909c8227\",\"object\":"
    "\"text_completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[{\"index\":0,\"text\":\"Mock\",\"logprobs\":null,"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-mock53eae70584909c8227\",\"object\":"
    "\"text_completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[{\"index\":0,\"text\":\" reply\",\"logprobs\":null,"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-mock53eae70584909c8227\",\"object\":"
    "\"text_completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[{\"index\":0,\"text\":\" baee264c:\",\"logprobs\":null,"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-mock53eae70584909c8227\",\"object\":"
    "\"text_completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,"
    "\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"id\":\"cmpl-mock53eae70584909c8227\",\"object\":"
    "\"text_completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,"
    "\"total_tokens\":5}}\n\n"
    "data: [DONE]\n\n";

static const char xt_chat_reply[] =
    "{\"id\":\"chatcmpl-mock3bed923023c311027e\",\"object\":"
    "\"chat.completion\",\"created\":1796003629,\"model\":\"mock-gpt\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Mock reply f3002d72: hello there world\"},\"logprobs\":"
    "null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":6,\"total_tokens\":9}}";


/* ------------------------------------------------------------ helpers */

static x402_usage *
xt_usage_new(int sse)
{
    x402_usage  *u;

    u = malloc(sizeof(*u));
    assert_non_null(u);
    memset(u, 0x5a, sizeof(*u));        /* init must not rely on zeroes */
    x402_usage_init(u, sse);

    return u;
}


/* A fixed-seed xorshift32: the same pieces on every platform. */
static uint32_t
xt_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;

    return *s;
}


enum { XT_WHOLE, XT_BYTES, XT_RANDOM };

/* Feeds s in one piece, byte by byte, or in random pieces of 1..97. */
static void
xt_feed(x402_usage *u, const char *s, size_t len, int how, uint32_t seed)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        switch (how) {
        case XT_WHOLE:
            n = len;
            break;
        case XT_BYTES:
            n = 1;
            break;
        default:
            n = 1 + xt_rand(&seed) % 97;
            break;
        }
        if (n > len - i) {
            n = len - i;
        }
        x402_usage_feed(u, s + i, n);
    }
}


static void
xt_check(const x402_usage *u, int has_usage, uint64_t prompt,
    uint64_t completion, uint64_t streamed, int done, int overflow)
{
    assert_int_equal(u->has_usage, has_usage);
    if (has_usage) {
        assert_int_equal(u->prompt_tokens, prompt);
        assert_int_equal(u->completion_tokens, completion);
    }
    assert_int_equal(u->streamed_tokens, streamed);
    assert_int_equal(u->done, done);
    assert_int_equal(u->overflow, overflow);
}


/* Scans text as SSE fed whole; returns the state (caller frees). */
static x402_usage *
xt_sse(const char *s)
{
    x402_usage  *u;

    u = xt_usage_new(1);
    x402_usage_feed(u, s, strlen(s));
    x402_usage_finish(u);

    return u;
}


/* Replaces every LF of s with eol (1 or 2 bytes); caller frees. */
static char *
xt_eol(const char *s, const char *eol, size_t *out_len)
{
    size_t  i, n, k;
    char   *out;

    k = strlen(eol);
    out = malloc(strlen(s) * 2 + 1);
    assert_non_null(out);

    for (i = 0, n = 0; s[i] != '\0'; i++) {
        if (s[i] == '\n') {
            memcpy(out + n, eol, k);
            n += k;
        } else {
            out[n++] = s[i];
        }
    }

    out[n] = '\0';
    *out_len = n;

    return out;
}


/* -------------------------------------------------------------- model */

static void
xt_model_is(const char *body, const char *want)
{
    char  out[64];

    assert_int_equal(x402_request_model(out, sizeof(out), body,
                                        strlen(body)), X402_OK);
    assert_string_equal(out, want);
}


static void
xt_model_err(const char *body, x402_err want)
{
    char  out[64];

    assert_int_equal(x402_request_model(out, sizeof(out), body,
                                        strlen(body)), want);
}


static void
test_model_ok(void **state)
{
    static const char  body[] = "{\"model\":\"gpt-4o\"}trailing";
    char               out[7];

    (void) state;

    xt_model_is("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"hi\"}]}", "gpt-4o");
    /* nested "model" keys are not the request's, before or after it */
    xt_model_is("{\"messages\":[{\"model\":\"evil\"}],\"tools\":{\"model\":"
                "\"evil2\"},\"model\":\"mock-gpt\",\"x\":{\"model\":1}}",
                "mock-gpt");
    xt_model_is("  {\"model\" : \"m\\u00e9\\/1\"}\n", "m\xc3\xa9/1");
    xt_model_is("{\"model\":\"\"}", "");

    /* the body need not be NUL-terminated: len counts */
    assert_int_equal(x402_request_model(out, sizeof(out), body, 18),
                     X402_OK);
    assert_string_equal(out, "gpt-4o");

    /* exactly fits cap - 1, and one less */
    assert_int_equal(x402_request_model(out, 7, body, 18), X402_OK);
    assert_string_equal(out, "gpt-4o");
    assert_int_equal(x402_request_model(out, 6, body, 18), X402_ERR_SIZE);
}


static void
test_model_errors(void **state)
{
    char  out[8];
    char  big[200];

    (void) state;

    xt_model_err("{\"messages\":[]}", X402_ERR_MISSING);
    xt_model_err("{}", X402_ERR_MISSING);
    xt_model_err("{\"messages\":[{\"model\":\"x\"}],\"o\":{\"model\":\"y\"}}",
                 X402_ERR_MISSING);
    xt_model_err("{\"Model\":\"x\"}", X402_ERR_MISSING);

    xt_model_err("{\"model\":7}", X402_ERR_TYPE);
    xt_model_err("{\"model\":null}", X402_ERR_TYPE);
    xt_model_err("{\"model\":[\"x\"]}", X402_ERR_TYPE);
    xt_model_err("{\"model\":{\"id\":\"x\"}}", X402_ERR_TYPE);
    xt_model_err("{\"model\":true}", X402_ERR_TYPE);

    xt_model_err("[{\"model\":\"x\"}]", X402_ERR_JSON);
    xt_model_err("\"model\"", X402_ERR_JSON);
    xt_model_err("", X402_ERR_JSON);
    xt_model_err("model=x", X402_ERR_JSON);
    xt_model_err("{\"model\":\"x\"", X402_ERR_JSON);
    xt_model_err("{\"model\":\"x\"}{}", X402_ERR_JSON);
    /* two readers must not disagree on which model was asked for */
    xt_model_err("{\"model\":\"cheap\",\"model\":\"dear\"}", X402_ERR_JSON);

    xt_model_err("{\"model\":\"a\\nb\"}", X402_ERR_SIZE);
    xt_model_err("{\"model\":\"a\\u0001\"}", X402_ERR_SIZE);
    xt_model_err("{\"model\":\"a\\u007f\"}", X402_ERR_SIZE);

    /* long */
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"model\":\"", 10);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    xt_model_err(big, X402_ERR_SIZE);

    assert_int_equal(x402_request_model(NULL, 8, "{}", 2), X402_ERR_ARG);
    assert_int_equal(x402_request_model(out, 0, "{}", 2), X402_ERR_ARG);
    assert_int_equal(x402_request_model(out, 8, NULL, 2), X402_ERR_ARG);
}


/* --------------------------------------------------------- JSON reply */

static void
test_json_reply(void **state)
{
    x402_usage  *u;
    size_t       len, i, j;

    (void) state;

    len = strlen(xt_chat_reply);
    u = xt_usage_new(0);

    xt_feed(u, xt_chat_reply, len, XT_WHOLE, 0);
    assert_int_equal(u->has_usage, 0);          /* only at finish */
    x402_usage_finish(u);
    xt_check(u, 1, 3, 6, 0, 0, 0);
    x402_usage_finish(u);                       /* harmless */
    xt_check(u, 1, 3, 6, 0, 0, 0);

    /* split in two at every position, and in three around it */
    for (i = 0; i <= len; i++) {
        x402_usage_init(u, 0);
        x402_usage_feed(u, xt_chat_reply, i);
        x402_usage_feed(u, xt_chat_reply + i, len - i);
        x402_usage_finish(u);
        xt_check(u, 1, 3, 6, 0, 0, 0);

        j = i + (len - i) / 2;
        x402_usage_init(u, 0);
        x402_usage_feed(u, xt_chat_reply, i);
        x402_usage_feed(u, xt_chat_reply + i, j - i);
        x402_usage_feed(u, xt_chat_reply + j, len - j);
        x402_usage_finish(u);
        xt_check(u, 1, 3, 6, 0, 0, 0);
    }

    /* a cut reply has none */
    x402_usage_init(u, 0);
    x402_usage_feed(u, xt_chat_reply, len - 1);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 0, 0);

    free(u);
}


static void
xt_json_none(const char *body)
{
    x402_usage  *u;

    u = xt_usage_new(0);
    x402_usage_feed(u, body, strlen(body));
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);
}


static void
test_json_no_usage(void **state)
{
    x402_usage  *u;

    (void) state;

    /* the control: the same shape with a good usage does count */
    u = xt_usage_new(0);
    xt_feed(u, "{\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}",
            strlen("{\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}"),
            XT_WHOLE, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 0, 0, 0, 0, 0);
    free(u);

    xt_json_none("");
    xt_json_none("{\"error\":{\"message\":\"mockllm: forced status 500\","
                 "\"type\":\"server_error\",\"param\":null,\"code\":"
                 "\"mock_forced_status\"}}");
    xt_json_none("{\"usage\":null}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":3}}");
    xt_json_none("{\"usage\":{\"completion_tokens\":3}}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":3}}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":1.0,\"completion_tokens\":3}}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":\"1\",\"completion_tokens\":3}}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":"
                 "99999999999999999999999}}");
    xt_json_none("{\"usage\":[3,4]}");
    xt_json_none("[{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3}}]");
    xt_json_none("{\"choices\":[{\"usage\":{\"prompt_tokens\":1,"
                 "\"completion_tokens\":3}}]}");
    xt_json_none("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3},"
                 "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":9}}");
    /* an SSE body read as JSON */
    xt_json_none(xt_chat_stream);
}


static void
test_json_overflow(void **state)
{
    static const char  doc[] =
        "{\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22}}";
    x402_usage        *u;
    char              *big;
    size_t             n;

    (void) state;

    /* the document padded with spaces to exactly the limit */
    big = malloc(X402_USAGE_LINE_MAX + 1);
    assert_non_null(big);
    n = strlen(doc);
    memcpy(big, doc, n);
    memset(big + n, ' ', X402_USAGE_LINE_MAX + 1 - n);

    u = xt_usage_new(0);
    xt_feed(u, big, X402_USAGE_LINE_MAX, XT_RANDOM, 7);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 0, 0, 0);

    /* one byte more, in one piece or at the end */
    x402_usage_init(u, 0);
    x402_usage_feed(u, big, X402_USAGE_LINE_MAX + 1);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 0, 1);

    x402_usage_init(u, 0);
    x402_usage_feed(u, big, X402_USAGE_LINE_MAX);
    x402_usage_feed(u, " ", 1);
    x402_usage_feed(u, "", 0);
    x402_usage_feed(u, NULL, 5);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 0, 1);

    free(big);
    free(u);
}


/* ---------------------------------------------------------------- SSE */

static void
test_sse_mockllm(void **state)
{
    x402_usage  *u;
    size_t       len;
    uint32_t     seed;

    (void) state;

    len = strlen(xt_chat_stream);
    u = xt_usage_new(1);

    xt_feed(u, xt_chat_stream, len, XT_WHOLE, 0);
    xt_check(u, 1, 3, 4, 4, 1, 0);              /* known before finish */
    x402_usage_finish(u);
    xt_check(u, 1, 3, 4, 4, 1, 0);

    x402_usage_init(u, 1);
    xt_feed(u, xt_chat_stream, len, XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 3, 4, 4, 1, 0);

    for (seed = 1; seed <= 50; seed++) {
        x402_usage_init(u, 1);
        xt_feed(u, xt_chat_stream, len, XT_RANDOM, seed * 2654435761u);
        x402_usage_finish(u);
        xt_check(u, 1, 3, 4, 4, 1, 0);
    }

    /* /v1/completions: choices[].text */
    len = strlen(xt_text_stream);
    x402_usage_init(u, 1);
    xt_feed(u, xt_text_stream, len, XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 2, 3, 3, 1, 0);

    x402_usage_init(u, 1);
    xt_feed(u, xt_text_stream, len, XT_RANDOM, 12345);
    x402_usage_finish(u);
    xt_check(u, 1, 2, 3, 3, 1, 0);

    free(u);
}


static void
test_sse_line_endings(void **state)
{
    static const char  *eols[] = { "\r\n", "\r" };
    x402_usage         *u;
    char               *s;
    size_t              len, k;

    (void) state;

    u = xt_usage_new(1);

    for (k = 0; k < 2; k++) {
        s = xt_eol(xt_chat_stream, eols[k], &len);

        x402_usage_init(u, 1);
        xt_feed(u, s, len, XT_WHOLE, 0);
        x402_usage_finish(u);
        xt_check(u, 1, 3, 4, 4, 1, 0);

        x402_usage_init(u, 1);
        xt_feed(u, s, len, XT_BYTES, 0);       /* CR | LF across feeds */
        x402_usage_finish(u);
        xt_check(u, 1, 3, 4, 4, 1, 0);

        x402_usage_init(u, 1);
        xt_feed(u, s, len, XT_RANDOM, 99 + (uint32_t) k);
        x402_usage_finish(u);
        xt_check(u, 1, 3, 4, 4, 1, 0);

        free(s);
    }

    /* mixed, and a CRLF must not count as two line ends: the data lines
     * of one event are joined */
    free(u);
    u = xt_sse("data: {\"usage\":\r\n"
               "data: {\"prompt_tokens\":5,\n"
               "data: \"completion_tokens\":7}}\r"
               "\r\n"
               "data: [DONE]\r\n\r\n");
    xt_check(u, 1, 5, 7, 0, 1, 0);
    free(u);

    /* CR CR is a line end and a blank line: two events */
    u = xt_sse("data: {\"choices\":[{\"text\":\"a\"}]}\r\r"
               "data: {\"choices\":[{\"text\":\"b\"}]}\r\r");
    xt_check(u, 0, 0, 0, 2, 0, 0);
    free(u);
}


static void
test_sse_fields(void **state)
{
    x402_usage  *u;
    char        *s;
    size_t       n;

    (void) state;

    u = xt_sse(": OPENROUTER PROCESSING\n\n"
               ": data: {\"usage\":{\"prompt_tokens\":90,"
               "\"completion_tokens\":90}}\n"
               "event: message\n"
               "id: 7\n"
               "retry: 1000\n"
               "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n"
               "\n"
               " data: {\"usage\":{\"prompt_tokens\":91,"
               "\"completion_tokens\":91}}\n\n"
               "dataX: {\"usage\":{\"prompt_tokens\":92,"
               "\"completion_tokens\":92}}\n\n"
               "DATA: {\"usage\":{\"prompt_tokens\":93,"
               "\"completion_tokens\":93}}\n\n"
               "dat: {\"usage\":{\"prompt_tokens\":94,"
               "\"completion_tokens\":94}}\n\n"
               "usage: {\"usage\":{\"prompt_tokens\":95,"
               "\"completion_tokens\":95}}\n\n"
               "event: done\n"
               "data:  {\"usage\":{\"prompt_tokens\":8,"
               "\"completion_tokens\":9}}\n"
               ": a comment inside an event\n"
               "id: 8\n"
               "\n");
    xt_check(u, 1, 8, 9, 1, 0, 0);
    free(u);

    /* "data" alone is an empty data line; empty events are not JSON */
    u = xt_sse("data\n\ndata:\n\ndata: \n\n\n\n"
               "data\ndata: {\"choices\":[{\"text\":\"x\"}]}\n\n");
    xt_check(u, 0, 0, 0, 1, 0, 0);              /* "\n{...}" is JSON */
    free(u);
    u = xt_sse("data\ndata: [DONE]\n\n");       /* "\n[DONE]" is not */
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* a comment longer than the buffer is no overflow */
    n = X402_USAGE_LINE_MAX * 2;
    s = malloc(n + 200);
    assert_non_null(s);
    s[0] = ':';
    memset(s + 1, 'c', n);
    strcpy(s + n, "\ndata: {\"usage\":{\"prompt_tokens\":1,"
           "\"completion_tokens\":2}}\n\n");
    u = xt_usage_new(1);
    xt_feed(u, s, strlen(s), XT_RANDOM, 5);
    x402_usage_finish(u);
    xt_check(u, 1, 1, 2, 0, 0, 0);
    free(u);
    free(s);
}


static void
test_sse_cut(void **state)
{
    x402_usage  *u;
    const char  *mark, *line;
    size_t       cut;

    (void) state;

    mark = strstr(xt_chat_stream, XT_USAGE_MARK);
    assert_non_null(mark);
    line = mark;
    while (line[-1] != '\n') {
        line--;
    }

    u = xt_usage_new(1);

    /* cut just before the usage chunk: the four words were delivered */
    cut = (size_t) (line - xt_chat_stream);
    xt_feed(u, xt_chat_stream, cut, XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 4, 0, 0);

    /* cut inside the usage line */
    x402_usage_init(u, 1);
    xt_feed(u, xt_chat_stream, (size_t) (mark - xt_chat_stream) + 5,
            XT_RANDOM, 3);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 4, 0, 0);

    /* the usage line complete, but not the blank line after it */
    x402_usage_init(u, 1);
    xt_feed(u, xt_chat_stream, (size_t) (strchr(mark, '\n') + 1 -
            xt_chat_stream), XT_WHOLE, 0);
    assert_int_equal(u->has_usage, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 3, 4, 4, 0, 0);

    /* cut after two words, inside the third word's line */
    line = strstr(xt_chat_stream, "f3002d72");
    assert_non_null(line);
    x402_usage_init(u, 1);
    xt_feed(u, xt_chat_stream, (size_t) (line - xt_chat_stream),
            XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 2, 0, 0);

    /* nothing at all */
    x402_usage_init(u, 1);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 0, 0);

    free(u);
}


static void
test_sse_done(void **state)
{
    x402_usage  *u;

    (void) state;

    /* anything after [DONE] is ignored */
    u = xt_sse("data: {\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":2}}\n\n"
               "data:[DONE]\n\n"
               "data: {\"usage\":{\"prompt_tokens\":5,"
               "\"completion_tokens\":6},\"choices\":[{\"text\":\"x\"}]}\n\n");
    xt_check(u, 1, 1, 2, 0, 1, 0);
    free(u);

    /* [DONE] without its blank line, at the end of the body */
    u = xt_sse("data: [DONE]");
    xt_check(u, 0, 0, 0, 0, 1, 0);
    free(u);

    /* an unterminated "data" line still joins the event: "[DONE]\n" */
    u = xt_sse("data: [DONE]\ndata");
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* not [DONE] */
    u = xt_sse("data: [DONE] \n\ndata: [done]\n\n: data: [DONE]\n\n"
               "data: \"[DONE]\"\n\ndata: [DONE]x\n\n"
               "data: {\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":2}}\n\n");
    xt_check(u, 1, 1, 2, 0, 0, 0);
    free(u);

    /* the last usage wins; null or malformed ones do not count */
    u = xt_sse("data: {\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":2}}\n\n"
               "data: {\"usage\":{\"prompt_tokens\":3,"
               "\"completion_tokens\":4}}\n\n"
               "data: {\"usage\":null,\"choices\":[{\"delta\":"
               "{\"content\":\"w\"}},{\"delta\":{\"content\":\"v\"}}]}\n\n"
               "data: {\"usage\":{\"prompt_tokens\":9}}\n\n");
    xt_check(u, 1, 3, 4, 2, 0, 0);
    free(u);
}


static void
test_sse_overflow(void **state)
{
    static const char  ev[] =
        "{\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22}}";
    static const char  after[] =
        "\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"z\"}}]}\n\n";
    x402_usage        *u;
    char              *s;
    size_t             n, len;

    (void) state;

    n = strlen(ev);
    s = malloc(6 + X402_USAGE_LINE_MAX + 1 + sizeof(after));
    assert_non_null(s);

    /* a data value of exactly the limit is kept */
    memcpy(s, "data: ", 6);
    memcpy(s + 6, ev, n);
    memset(s + 6 + n, ' ', X402_USAGE_LINE_MAX - n);
    memcpy(s + 6 + X402_USAGE_LINE_MAX, after, sizeof(after));
    len = strlen(s);

    u = xt_usage_new(1);
    xt_feed(u, s, len, XT_RANDOM, 11);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 1, 0, 0);

    /* one byte more is dropped, and the stream goes on */
    memset(s + 6 + n, ' ', X402_USAGE_LINE_MAX + 1 - n);
    memcpy(s + 7 + X402_USAGE_LINE_MAX, after, sizeof(after));
    len = strlen(s);

    x402_usage_init(u, 1);
    xt_feed(u, s, len, XT_WHOLE, 0);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 1, 0, 1);

    x402_usage_init(u, 1);
    xt_feed(u, s, len, XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 1, 0, 1);

    /* an event of several lines over the limit together */
    x402_usage_init(u, 1);
    memset(s, 'x', X402_USAGE_LINE_MAX / 2);
    for (n = 0; n < 3; n++) {
        x402_usage_feed(u, "data: ", 6);
        x402_usage_feed(u, s, X402_USAGE_LINE_MAX / 2);
        x402_usage_feed(u, "\n", 1);
    }
    x402_usage_feed(u, "\ndata: [DONE]\n\n", 15);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 1, 1);

    free(s);
    free(u);
}


static void
test_sse_garbage(void **state)
{
    static const char  tail[] =
        "\n\ndata: {\"usage\":{\"prompt_tokens\":4,"
        "\"completion_tokens\":5}}\n\n";
    x402_usage        *u;
    char              *s;
    size_t             i, n;
    uint32_t           seed;
    int                round;

    (void) state;

    /* well-formed SSE, bad JSON: nothing counts, nothing sticks */
    u = xt_sse("data: {not json\n\n"
               "data: [1,2]\n\n"
               "data: \"str\"\n\n"
               "data: {\"choices\":\"x\"}\n\n"
               "data: {\"choices\":[1,null,{\"delta\":5},{\"delta\":"
               "{\"content\":7}},{\"text\":[\"a\"]},{\"delta\":"
               "{\"content\":\"\"}},{\"text\":\"\"}]}\n\n"
               "data: {\"a\":1,\"a\":2,\"choices\":[{\"text\":\"x\"}]}\n\n"
               "data: {\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":2},\"usage\":null}\n\n"
               "data: {\"choices\":[{\"text\":\"\\u0000\"}]}\n\n"
               "data: {\"choices\":[{\"text\":\"ok\"}]}\n\n");
    xt_check(u, 0, 0, 0, 1, 0, 0);
    free(u);

    /* random bytes (NUL, CR, LF, ':' and "data:" more often than chance),
     * then a good event: no crash, and the scanner resynchronises */
    n = 4 * X402_USAGE_LINE_MAX;
    s = malloc(n + sizeof(tail));
    assert_non_null(s);
    seed = 2024;
    u = xt_usage_new(1);

    for (round = 0; round < 8; round++) {
        for (i = 0; i < n; i++) {
            switch (xt_rand(&seed) % 8) {
            case 0:
                s[i] = "\r\n:\0{}[d"[xt_rand(&seed) % 8];
                break;
            case 1:
                if (i + 6 < n) {
                    memcpy(s + i, "data: ", 6);
                    i += 5;
                    break;
                }
                /* fall through */
            default:
                s[i] = (char) (xt_rand(&seed) >> (round % 4 * 8));
                break;
            }
        }
        if (round % 2) {
            memset(s + n / 2, 'g', X402_USAGE_LINE_MAX + 3);
        }
        memcpy(s + n, tail, sizeof(tail));

        x402_usage_init(u, 1);
        xt_feed(u, s, n + sizeof(tail) - 1, XT_RANDOM, seed);
        x402_usage_finish(u);
        assert_int_equal(u->has_usage, 1);
        assert_int_equal(u->prompt_tokens, 4);
        assert_int_equal(u->completion_tokens, 5);
        assert_int_equal(u->done, 0);
        assert_true(u->len == 0);

        /* the same bytes as a JSON reply */
        x402_usage_init(u, 0);
        xt_feed(u, s, n, XT_RANDOM, seed);
        x402_usage_finish(u);
        xt_check(u, 0, 0, 0, 0, 0, 1);
    }

    free(s);
    free(u);
}


/* ------------------------------------------------------------- charge */

static void
xt_charge_is(uint64_t prompt, uint64_t completion, const char *in,
    const char *out, const char *cap, const char *want, int want_clamped)
{
    x402_u256  pin, pout, pcap, got;
    char       text[X402_U256_DEC_MAX];
    int        clamped;

    assert_int_equal(x402_u256_parse(&pin, in, strlen(in)), X402_OK);
    assert_int_equal(x402_u256_parse(&pout, out, strlen(out)), X402_OK);
    assert_int_equal(x402_u256_parse(&pcap, cap, strlen(cap)), X402_OK);

    clamped = -1;
    memset(&got, 0xee, sizeof(got));
    x402_usage_charge(&got, &clamped, prompt, completion, &pin, &pout,
                      &pcap);
    x402_u256_format_dec(text, &got);
    assert_string_equal(text, want);
    assert_int_equal(clamped, want_clamped);
}


#define XT_MAX256 "0x" \
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define XT_2_255 "0x" \
    "8000000000000000000000000000000000000000000000000000000000000000"
#define XT_2_255_M1 "0x" \
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void
test_charge(void **state)
{
    x402_u256  one, cap, got, b3;
    int        clamped;

    (void) state;

    /* exact: the mockllm stream at 1000 and 2000 per 1k tokens */
    xt_charge_is(3, 4, "1000", "2000", "1000000", "11", 0);
    xt_charge_is(3, 6, "1500", "2500", "1000000", "20", 0);
    /* rounding up */
    xt_charge_is(1, 0, "1", "1", "1000000", "1", 0);
    xt_charge_is(999, 1, "1", "1", "1000000", "1", 0);
    xt_charge_is(1000, 1, "1", "1", "1000000", "2", 0);
    xt_charge_is(3, 4, "1001", "2000", "1000000", "12", 0);
    xt_charge_is(0, 7, "5", "143", "1000000", "2", 0);    /* 1001/1000 */
    /* zero */
    xt_charge_is(0, 0, "1000", "2000", "1000000", "0", 0);
    xt_charge_is(5, 9, "0", "0", "1000000", "0", 0);
    xt_charge_is(5, 9, "0", "0", "0", "0", 0);
    /* clamping */
    xt_charge_is(3, 4, "1000", "2000", "10", "10", 1);
    xt_charge_is(3, 4, "1000", "2000", "11", "11", 0);
    xt_charge_is(3, 4, "1000", "2000", "0", "0", 1);
    xt_charge_is(1, 0, "1", "1", "0", "0", 1);
    /* 256-bit: large counts and prices */
    xt_charge_is(UINT64_MAX, 5, "1000000000000000000000000000000", "7",
                 XT_MAX256,
                 "18446744073709551615000000000000000000000000001", 0);
    xt_charge_is(UINT64_MAX, UINT64_MAX, "1000", "1000", XT_MAX256,
                 "36893488147419103230", 0);
    /* overflow clamps: a product, then the sum */
    xt_charge_is(2, 0, XT_2_255, "0", "123", "123", 1);
    xt_charge_is(1, 1, XT_2_255, XT_2_255, "456", "456", 1);
    xt_charge_is(UINT64_MAX, 0, XT_MAX256, "0", XT_MAX256,
                 "115792089237316195423570985008687907853269984665640564039"
                 "457584007913129639935", 1);
    /* just below 2^256: fits, divides */
    xt_charge_is(1, 1, XT_2_255, XT_2_255_M1, XT_MAX256,
                 "115792089237316195423570985008687907853269984665640564039"
                 "457584007913129640", 0);

    /* NULL clamped; NULL prices charge cap, a NULL cap 0 */
    x402_u256_from_u64(&one, 1);
    x402_u256_from_u64(&cap, 77);
    x402_usage_charge(&got, NULL, 3000, 0, &one, &one, &cap);
    x402_u256_from_u64(&b3, 3);
    assert_int_equal(x402_u256_cmp(&got, &b3), 0);
    x402_usage_charge(&got, &clamped, 1, 1, NULL, &one, &cap);
    assert_int_equal(x402_u256_cmp(&got, &cap), 0);
    assert_int_equal(clamped, 1);
    clamped = 0;
    x402_usage_charge(&got, &clamped, 1, 1, &one, &one, NULL);
    x402_u256_from_u64(&cap, 0);
    assert_int_equal(x402_u256_cmp(&got, &cap), 0);
    assert_int_equal(clamped, 1);
    x402_usage_charge(NULL, &clamped, 1, 1, &one, &one, &cap);
}


/* The internal helpers against independently computed values. */
static void
test_u256_mul_div(void **state)
{
    x402_u256  a, b;
    char       text[X402_U256_DEC_MAX];

    (void) state;

    assert_int_equal(x402_u256_parse(&a, "0x" "abababababababababababab"
                     "abababababababababababab", 50), X402_OK);
    assert_int_equal(x402_u256_mul_u64(&b, &a, UINT64_MAX), X402_OK);
    x402_u256_format_dec(text, &b);
    assert_string_equal(text, "776488127826708604563029570185667052246794"
                        "01515513825465061136043581140915285");
    assert_int_equal(x402_u256_mul_u64(&a, &a, 0), X402_OK);   /* alias */
    x402_u256_from_u64(&b, 0);
    assert_int_equal(x402_u256_cmp(&a, &b), 0);

    assert_int_equal(x402_u256_parse(&a, XT_2_255, 66), X402_OK);
    assert_int_equal(x402_u256_mul_u64(&b, &a, 1), X402_OK);
    assert_int_equal(x402_u256_cmp(&a, &b), 0);
    assert_int_equal(x402_u256_mul_u64(&b, &a, 2), X402_ERR_OVERFLOW);
    assert_int_equal(x402_u256_parse(&a, "0x1" "00000000000000000000000000"
                     "00000000000000000000000000", 55), X402_OK);  /* 2^208 */
    assert_int_equal(x402_u256_mul_u64(&b, &a, (uint64_t) 1 << 47),
                     X402_OK);
    assert_int_equal(x402_u256_mul_u64(&b, &a, (uint64_t) 1 << 48),
                     X402_ERR_OVERFLOW);

    assert_int_equal(x402_u256_parse(&a, XT_MAX256, 66), X402_OK);
    assert_int_equal(x402_u256_div_u64(&b, &a, UINT64_MAX), 0);
    x402_u256_format_dec(text, &b);
    assert_string_equal(text, "627710173538668076417607179012860487958417"
                        "6795969512275969");
    assert_int_equal(x402_u256_div_u64(&a, &a, ((uint64_t) 1 << 63) + 12345),
                     371607405135209999u);                     /* alias */
    x402_u256_format_dec(text, &a);
    assert_string_equal(text, "125542034707733447245283002904964971372566"
                        "58788507656505712");
    x402_u256_from_u64(&a, 1999);
    assert_int_equal(x402_u256_div_u64(&a, &a, 1000), 999);
    x402_u256_format_dec(text, &a);
    assert_string_equal(text, "1");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_ok),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_json_reply),
        cmocka_unit_test(test_json_no_usage),
        cmocka_unit_test(test_json_overflow),
        cmocka_unit_test(test_sse_mockllm),
        cmocka_unit_test(test_sse_line_endings),
        cmocka_unit_test(test_sse_fields),
        cmocka_unit_test(test_sse_cut),
        cmocka_unit_test(test_sse_done),
        cmocka_unit_test(test_sse_overflow),
        cmocka_unit_test(test_sse_garbage),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_u256_mul_div),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
