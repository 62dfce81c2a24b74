/*
 * Usage metering for upto: the model of a request and its preparation
 * for a stream's usage, the token usage of a JSON reply and of an SSE
 * stream (the shapes scripts/mockllm sends, and replies and events of any
 * size, fed whole, byte by byte and in random pieces), and the charge.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

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


/* The size of the buffer the usage scanner had before it read a reply of
 * any size (X402_USAGE_LINE_MAX): the tests around it now check that
 * nothing is lost past it. */
#define XT_OLD_MAX  65536


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


/* ------------------------------------------------- request: stream usage */

/* Prepares body (NUL-terminated) with a roomy buffer; returns the result,
 * the output text in out. */
static x402_err
xt_prep(char *out, size_t cap, size_t *out_len, int *stream,
    uint64_t *prompt, const char *body)
{
    *out_len = cap;
    *stream = -1;
    *prompt = 12345;

    return x402_request_usage_prepare(out, out_len, stream, prompt, body,
                                      strlen(body));
}


/* A body that needs the member inserted: the exact bytes wanted. */
static void
xt_prep_insert(const char *body, const char *want)
{
    char      out[512];
    size_t    out_len, len;
    int       stream;
    uint64_t  prompt;

    len = strlen(body);
    assert_int_equal(strlen(want), len + 40);
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                             body), X402_OK);
    assert_int_equal(stream, 1);
    assert_int_equal(out_len, strlen(want));
    assert_memory_equal(out, want, out_len);
    assert_int_equal(out[out_len], '\0');

    /* len + 48 suffices, and len + 40 too: exactly the length */
    assert_true(out_len <= len + 48);
    memset(out, 'z', sizeof(out));
    out_len = strlen(want);
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                     &prompt, body, len), X402_OK);
    assert_memory_equal(out, want, out_len);
    assert_int_equal(out[out_len], 'z');        /* no room for the NUL */
}


static void
test_prepare_insert(void **state)
{
    (void) state;

    xt_prep_insert("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":"
                   "\"user\",\"content\":\"hi\"}]}",
                   "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":"
                   "\"user\",\"content\":\"hi\"}],\"stream_options\":"
                   "{\"include_usage\":true}}");
    /* spacing, numbers and order kept as the client wrote them */
    xt_prep_insert("  {\n  \"stream\" : true,\n  \"temperature\": 0.7,\n"
                   "  \"top_p\":1.0e0, \"max_tokens\": 16 ,\"x\":\"}\"\n}\n\n",
                   "  {\n  \"stream\" : true,\n  \"temperature\": 0.7,\n"
                   "  \"top_p\":1.0e0, \"max_tokens\": 16 ,\"x\":\"}\"\n"
                   ",\"stream_options\":{\"include_usage\":true}}\n\n");
    xt_prep_insert("{\"stream\":true,\"n\":[0.1,-2E-7,{}]}\t\r ",
                   "{\"stream\":true,\"n\":[0.1,-2E-7,{}],\"stream_options\":"
                   "{\"include_usage\":true}}\t\r ");
}


static void
test_prepare_options(void **state)
{
    static const char  *bodies[] = {
        "{\"stream\":true,\"stream_options\":{},\"temperature\":0.7}",
        "{\"stream\":true,\"stream_options\":{\"include_usage\":false,"
            "\"other\":[1,\"x\"]},\"temperature\":0.7}",
        "{\"stream_options\":{\"other\":{\"a\":null},\"include_usage\":null},"
            "\"stream\":true,\"temperature\":0.7}",
        "{\"stream\":true,\"stream_\\u006fptions\":{\"include_usage\":0},"
            "\"temperature\":0.7}",
    };
    json_error_t  jerr;
    json_t       *root, *so;
    char          out[512];
    size_t        out_len, i, need;
    int           stream;
    uint64_t      prompt;

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream,
                                 &prompt, bodies[i]), X402_OK);
        assert_int_equal(stream, 1);
        assert_true(out_len > 0);
        assert_int_equal(strlen(out), out_len);

        root = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(root);
        so = json_object_get(root, "stream_options");
        assert_true(json_is_true(json_object_get(so, "include_usage")));
        assert_true(json_is_true(json_object_get(root, "stream")));
        assert_true(json_is_real(json_object_get(root, "temperature")));
        assert_true(json_real_value(json_object_get(root, "temperature"))
                    == 0.7);
        assert_int_equal(json_object_size(root), 3);
        if (i == 1) {
            assert_int_equal(json_object_size(so), 2);
            assert_string_equal(json_string_value(json_array_get(
                json_object_get(so, "other"), 1)), "x");
        }
        if (i == 2) {
            assert_int_equal(json_object_size(so), 2);
            assert_true(json_is_null(json_object_get(json_object_get(so,
                        "other"), "a")));
        }
        json_decref(root);

        /* the exact length is enough; one less is not, and says so */
        need = out_len;
        out_len = need;
        assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                         &prompt, bodies[i], strlen(bodies[i])), X402_OK);
        assert_int_equal(out_len, need);
        out_len = need - 1;
        assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                         &prompt, bodies[i], strlen(bodies[i])),
                         X402_ERR_BUFFER);
        assert_int_equal(out_len, need);
        assert_int_equal(stream, 1);
    }

    /* the order kept, compact */
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                     "{ \"a\" : 1 , \"stream\" : true , \"stream_options\" :"
                     " { \"x\" : 2 , \"include_usage\" : false , \"y\" : 3 } ,"
                     " \"b\" : \"\\u00e9\" }"), X402_OK);
    assert_string_equal(out, "{\"a\":1,\"stream\":true,\"stream_options\":"
                        "{\"x\":2,\"include_usage\":true,\"y\":3},"
                        "\"b\":\"\xc3\xa9\"}");
}


static void
test_prepare_unchanged(void **state)
{
    static const char  *bodies[] = {
        "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"stream_options\":{\"x\":1,\"include_usage\":true},\"stream\":true}",
        "{\"stream\":false}",
        "{\"stream\":false,\"stream_options\":{}}",
        "{\"stream\":false,\"stream_options\":7}",
        "{\"stream\":\"true\"}",
        "{\"stream\":1}",
        "{\"stream\":null}",
        "{\"model\":\"m\"}",
        "{}",
        "{\"x\":{\"stream\":true}}",
    };
    char      out[64];
    size_t    out_len, i;
    int       stream;
    uint64_t  prompt;

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        memset(out, 'z', sizeof(out));
        assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream,
                                 &prompt, bodies[i]), X402_OK);
        assert_int_equal(out_len, 0);
        assert_int_equal(stream, i < 2);
        assert_int_equal(out[0], 'z');
        /* no text to count: the whole body */
        assert_int_equal(prompt, (strlen(bodies[i]) + 3) / 4);

        /* nothing to write: no buffer needed */
        out_len = 0;
        assert_int_equal(x402_request_usage_prepare(NULL, &out_len, &stream,
                         &prompt, bodies[i], strlen(bodies[i])), X402_OK);
        assert_int_equal(out_len, 0);
    }
}


static void
test_prepare_errors(void **state)
{
    static const char  *not_json[] = {
        "", "[]", "\"x\"", "7", "{", "{\"stream\":true", "{\"stream\":true}x",
        "{\"stream\":true}{}", "stream=true",
        "{\"stream\":true,\"stream\":false}",
        "{\"stream\":false,\"a\":1,\"a\":1}",
        "{\"stream\":true,\"stream_options\":{\"include_usage\":true,"
            "\"include_usage\":false}}",
        "{\"stream\":true,\"s\":\"\\u0000\"}",
    };
    static const char  body[] = "{\"stream\":true,\"prompt\":\"abcdefgh\"}";
    static const char  empty[] = "{\"stream\":true}";
    char      out[128];
    size_t    out_len, i;
    int       stream;
    uint64_t  prompt;

    (void) state;

    for (i = 0; i < sizeof(not_json) / sizeof(not_json[0]); i++) {
        assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream,
                                 &prompt, not_json[i]), X402_ERR_JSON);
        assert_int_equal(out_len, 0);
        assert_int_equal(stream, 0);
        assert_int_equal(prompt, 0);
    }

    /* stream_options that is not an object */
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                     "{\"stream\":true,\"stream_options\":null,\"prompt\":"
                     "\"abcde\"}"), X402_ERR_TYPE);
    assert_int_equal(out_len, 0);
    assert_int_equal(stream, 1);
    assert_int_equal(prompt, 2);
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                     "{\"stream\":true,\"stream_options\":[{\"include_usage\":"
                     "true}]}"), X402_ERR_TYPE);
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                     "{\"stream\":true,\"stream_options\":\"x\"}"),
                     X402_ERR_TYPE);
    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                     "{\"stream\":true,\"stream_options\":true}"),
                     X402_ERR_TYPE);

    /* too small: the length needed; NULL out with no capacity asks it */
    for (i = 0; i < sizeof(body) - 1 + 40; i++) {
        out_len = i;
        stream = 0;
        prompt = 0;
        assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                         &prompt, body, sizeof(body) - 1), X402_ERR_BUFFER);
        assert_int_equal(out_len, sizeof(body) - 1 + 40);
        assert_int_equal(stream, 1);
        assert_int_equal(prompt, 2);
    }
    out_len = 0;
    assert_int_equal(x402_request_usage_prepare(NULL, &out_len, &stream,
                     &prompt, body, sizeof(body) - 1), X402_ERR_BUFFER);
    assert_int_equal(out_len, sizeof(body) - 1 + 40);
    out_len = sizeof(body) - 1 + 40;
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                     &prompt, body, sizeof(body) - 1), X402_OK);
    assert_int_equal(out_len, sizeof(body) - 1 + 40);

    /* the smallest body that needs it, with room for the NUL */
    out_len = sizeof(empty) - 1 + 41;
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                     &prompt, empty, sizeof(empty) - 1), X402_OK);
    assert_string_equal(out, "{\"stream\":true,\"stream_options\":"
                        "{\"include_usage\":true}}");

    /* arguments */
    out_len = sizeof(out);
    assert_int_equal(x402_request_usage_prepare(out, NULL, &stream, &prompt,
                     body, sizeof(body) - 1), X402_ERR_ARG);
    assert_int_equal(x402_request_usage_prepare(out, &out_len, NULL, &prompt,
                     body, sizeof(body) - 1), X402_ERR_ARG);
    stream = 5;
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream, NULL,
                     body, sizeof(body) - 1), X402_ERR_ARG);
    assert_int_equal(stream, 0);
    prompt = 5;
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                     &prompt, NULL, 3), X402_ERR_ARG);
    assert_int_equal(prompt, 0);
    assert_int_equal(x402_request_usage_prepare(NULL, &out_len, &stream,
                     &prompt, body, sizeof(body) - 1), X402_ERR_ARG);
    assert_int_equal(x402_request_usage_prepare(out, &out_len, &stream,
                     &prompt, NULL, 0), X402_ERR_JSON);
}


static uint64_t
xt_prompt(const char *body)
{
    char      out[1024];
    size_t    out_len;
    int       stream;
    uint64_t  prompt;

    assert_int_equal(xt_prep(out, sizeof(out), &out_len, &stream, &prompt,
                             body), X402_OK);

    return prompt;
}


static void
test_prepare_prompt(void **state)
{
    static const char  none[] = "{\"model\":\"m\",\"max_tokens\":5}";

    (void) state;

    /* chat: string contents (12 + 5 + 0 bytes) */
    assert_int_equal(xt_prompt("{\"messages\":[{\"role\":\"system\",\"content\":"
                     "\"You are kind\"},{\"role\":\"user\",\"content\":\"hello\"},"
                     "{\"role\":\"assistant\",\"content\":\"\"},{\"role\":"
                     "\"assistant\",\"content\":null,\"tool_calls\":[]}]}"), 5);
    /* parts: each "text" string (4 + 3 + 2 bytes, an escape decoded) */
    assert_int_equal(xt_prompt("{\"stream\":true,\"messages\":[{\"role\":"
                     "\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                     "\"abcd\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                     "\"https://example.com/a-long-url-that-is-not-text\"}},"
                     "{\"type\":\"text\",\"text\":\"xyz\"},{\"text\":7},"
                     "{\"text\":\"\\u00e9\"}]},{\"content\":\"a\"},7,"
                     "{\"content\":{\"text\":\"nope\"}}]}"), 3);
    /* multi-byte UTF-8 counts its bytes: 4 x 4 */
    assert_int_equal(xt_prompt("{\"prompt\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
                     "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}"), 4);
    /* prompt: a string, an array of strings (others skipped) */
    assert_int_equal(xt_prompt("{\"prompt\":\"123456789\"}"), 3);
    assert_int_equal(xt_prompt("{\"prompt\":[\"1234\",\"5\",7,[\"x\"],"
                     "\"678\"]}"), 2);
    assert_int_equal(xt_prompt("{\"prompt\":\"\"}"), 0);
    /* input, and everything together */
    assert_int_equal(xt_prompt("{\"input\":\"12345678\"}"), 2);
    assert_int_equal(xt_prompt("{\"input\":[\"1\",\"2\"]}"), 1);
    assert_int_equal(xt_prompt("{\"input\":\"1234\",\"prompt\":\"1234\","
                     "\"messages\":[{\"content\":\"1\"}]}"), 3);
    /* none of them: the whole body; token arrays are not text */
    assert_int_equal(xt_prompt(none), (sizeof(none) - 1 + 3) / 4);
    assert_int_equal(xt_prompt("{\"prompt\":[1,2,3]}"), 5);
    assert_int_equal(xt_prompt("{\"messages\":[{\"content\":[{\"type\":"
                     "\"image_url\"}]}]}"), 13);
    assert_int_equal(xt_prompt("{\"messages\":\"hello\"}"), 5);
    assert_int_equal(xt_prompt("{}"), 1);
    assert_int_equal(xt_prompt("{ }"), 1);
    assert_int_equal(xt_prompt("{  }"), 1);
    assert_int_equal(xt_prompt("{   }"), 2);
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

    /* the document padded with spaces to exactly the old limit */
    big = malloc(XT_OLD_MAX + 1);
    assert_non_null(big);
    n = strlen(doc);
    memcpy(big, doc, n);
    memset(big + n, ' ', XT_OLD_MAX + 1 - n);

    u = xt_usage_new(0);
    xt_feed(u, big, XT_OLD_MAX, XT_RANDOM, 7);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 0, 0, 0);

    /* one byte more, in one piece or at the end: no limit any more (this
     * was "no usage, overflow" while the reply was buffered) */
    x402_usage_init(u, 0);
    x402_usage_feed(u, big, XT_OLD_MAX + 1);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 0, 0, 0);

    x402_usage_init(u, 0);
    x402_usage_feed(u, big, XT_OLD_MAX);
    x402_usage_feed(u, " ", 1);
    x402_usage_feed(u, "", 0);
    x402_usage_feed(u, NULL, 5);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 0, 0, 0);

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

    /* a long comment is no overflow */
    n = XT_OLD_MAX * 2;
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
    s = malloc(6 + XT_OLD_MAX + 1 + sizeof(after));
    assert_non_null(s);

    /* a data value of exactly the old limit is kept */
    memcpy(s, "data: ", 6);
    memcpy(s + 6, ev, n);
    memset(s + 6 + n, ' ', XT_OLD_MAX - n);
    memcpy(s + 6 + XT_OLD_MAX, after, sizeof(after));
    len = strlen(s);

    u = xt_usage_new(1);
    xt_feed(u, s, len, XT_RANDOM, 11);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 1, 0, 0);

    /* one byte more is kept too (it was dropped, with overflow, while
     * events were buffered), and the stream goes on */
    memset(s + 6 + n, ' ', XT_OLD_MAX + 1 - n);
    memcpy(s + 7 + XT_OLD_MAX, after, sizeof(after));
    len = strlen(s);

    x402_usage_init(u, 1);
    xt_feed(u, s, len, XT_WHOLE, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 1, 0, 0);

    x402_usage_init(u, 1);
    xt_feed(u, s, len, XT_BYTES, 0);
    x402_usage_finish(u);
    xt_check(u, 1, 11, 22, 1, 0, 0);

    /* an event of several lines over the old limit together: scanned
     * (not JSON), no overflow, and [DONE] after it still ends */
    x402_usage_init(u, 1);
    memset(s, 'x', XT_OLD_MAX / 2);
    for (n = 0; n < 3; n++) {
        x402_usage_feed(u, "data: ", 6);
        x402_usage_feed(u, s, XT_OLD_MAX / 2);
        x402_usage_feed(u, "\n", 1);
    }
    x402_usage_feed(u, "\ndata: [DONE]\n\n", 15);
    x402_usage_finish(u);
    xt_check(u, 0, 0, 0, 0, 1, 0);

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
    n = 4 * XT_OLD_MAX;
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
            memset(s + n / 2, 'g', XT_OLD_MAX + 3);
        }
        memcpy(s + n, tail, sizeof(tail));

        x402_usage_init(u, 1);
        xt_feed(u, s, n + sizeof(tail) - 1, XT_RANDOM, seed);
        x402_usage_finish(u);
        assert_int_equal(u->has_usage, 1);
        assert_int_equal(u->prompt_tokens, 4);
        assert_int_equal(u->completion_tokens, 5);
        assert_int_equal(u->done, 0);
        /* nothing is left pending: a second finish changes nothing */
        x402_usage_finish(u);
        assert_int_equal(u->has_usage, 1);
        assert_int_equal(u->prompt_tokens, 4);
        assert_int_equal(u->completion_tokens, 5);
        assert_int_equal(u->done, 0);

        /* the same bytes as a JSON reply: not JSON, and no overflow now
         * that a reply of any size is scanned */
        x402_usage_init(u, 0);
        xt_feed(u, s, n, XT_RANDOM, seed);
        x402_usage_finish(u);
        xt_check(u, 0, 0, 0, 0, 0, 0);
    }

    free(s);
    free(u);
}


/* ------------------------------------------------ replies of any size */

/* A growing text, for the big replies. */
typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} xt_text;


static void
xt_put(xt_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }

    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}


static void
xt_puts(xt_text *t, const char *s)
{
    xt_put(t, s, strlen(s));
}


/* Whole copies of s until at least n bytes were added. */
static void
xt_repeat(xt_text *t, const char *s, size_t n)
{
    size_t  k, m;

    k = strlen(s);
    for (m = 0; m < n; m += k) {
        xt_put(t, s, k);
    }
}


static void
xt_same(const x402_usage *a, const x402_usage *b)
{
    assert_int_equal(a->has_usage, b->has_usage);
    assert_int_equal(a->prompt_tokens, b->prompt_tokens);
    assert_int_equal(a->completion_tokens, b->completion_tokens);
    assert_int_equal(a->streamed_tokens, b->streamed_tokens);
    assert_int_equal(a->done, b->done);
    assert_int_equal(a->overflow, b->overflow);
}


/* Scans len bytes of s whole, byte by byte and in random pieces: they
 * must agree, and a second finish must change nothing.  Returns the
 * one-piece state (caller frees). */
static x402_usage *
xt_scan(const char *s, size_t len, int sse)
{
    x402_usage  *u, *v;
    uint32_t     seed;

    u = xt_usage_new(sse);
    xt_feed(u, s, len, XT_WHOLE, 0);
    x402_usage_finish(u);

    v = xt_usage_new(sse);
    xt_feed(v, s, len, XT_BYTES, 0);
    x402_usage_finish(v);
    xt_same(u, v);
    x402_usage_finish(v);
    xt_same(u, v);

    for (seed = 1; seed <= 3; seed++) {
        x402_usage_init(v, sse);
        xt_feed(v, s, len, XT_RANDOM, seed * 40503u);
        x402_usage_finish(v);
        xt_same(u, v);
    }

    free(v);

    return u;
}


static void
xt_scan_is(const char *s, int sse, int has_usage, uint64_t prompt,
    uint64_t completion, uint64_t streamed, int done, int overflow)
{
    x402_usage  *u;

    u = xt_scan(s, strlen(s), sse);
    xt_check(u, has_usage, prompt, completion, streamed, done, overflow);
    free(u);
}


/* The members of a chat reply with a long content and logprobs-like
 * padding, each followed by a comma: the usage may come after them. */
static void
xt_big_reply(xt_text *t, size_t content, size_t logprobs)
{
    static const char  lp[] =
        "{\"token\":\"a\\\"b\",\"logprob\":-0.25,\"bytes\":[97,34,98],"
        "\"top_logprobs\":[{\"token\":\"}\",\"logprob\":-1.5e-3,"
        "\"bytes\":[125]}]},";
    size_t             n;

    xt_puts(t, "\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\","
            "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":\"");
    /* escaped quotes and backslashes, braces, and a usage as text */
    xt_puts(t, "He said \\\"{\\\\\\\"usage\\\": {\\\"prompt_tokens\\\":1,"
            "\\\"completion_tokens\\\":1}}\\\" \\u00e9\\ud83d\\ude00 ");
    xt_repeat(t, "lorem ipsum \\\" \\\\ } ] { [ , : \\n \xc3\xa9 ", content);
    xt_puts(t, "\"},\"logprobs\":{\"content\":[");
    for (n = 0; n < logprobs; n += sizeof(lp) - 1) {
        xt_puts(t, lp);
    }
    xt_puts(t, "{}]},\"finish_reason\":\"length\"}],");
}


static void
test_json_any_size(void **state)
{
    xt_text      t = { NULL, 0, 0 };
    x402_usage  *u;

    (void) state;

    /* 72 KB: a long content, padding, then usage */
    xt_puts(&t, "{");
    xt_big_reply(&t, 48 * 1024, 24 * 1024);
    xt_puts(&t, "\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":12000,"
            "\"total_tokens\":12017,\"completion_tokens_details\":"
            "{\"reasoning_tokens\":0}}}");
    assert_true(t.len > 72 * 1024);
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 17, 12000, 0, 0, 0);
    free(u);

    /* cut before the last brace: nothing */
    u = xt_scan(t.p, t.len - 1, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* 200 KB, the usage at the end */
    t.len = 0;
    xt_puts(&t, "{");
    xt_big_reply(&t, 120 * 1024, 80 * 1024);
    xt_puts(&t, "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n");
    assert_true(t.len > 200 * 1024);
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 5, 7, 0, 0, 0);
    free(u);

    /* the usage first, then the big members */
    t.len = 0;
    xt_puts(&t, "{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9},");
    xt_big_reply(&t, 120 * 1024, 80 * 1024);
    xt_puts(&t, "\"model\":\"m\"}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 8, 9, 0, 0, 0);
    free(u);

    /* ... and a second top-level "usage" after them: ambiguous */
    t.len = 0;
    xt_puts(&t, "{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9},");
    xt_big_reply(&t, 70 * 1024, 10 * 1024);
    xt_puts(&t, "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* garbage after the big document */
    t.len = 0;
    xt_puts(&t, "{");
    xt_big_reply(&t, 70 * 1024, 1024);
    xt_puts(&t, "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}} x");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    free(t.p);
}


static void
test_json_nested_usage(void **state)
{
    (void) state;

    /* "usage" keys below the top level are not the reply's */
    xt_scan_is("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
               "\"content\":\"x\",\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":1}}}],\"meta\":{\"usage\":{"
               "\"prompt_tokens\":2,\"completion_tokens\":2}},\"list\":"
               "[{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3}}]}",
               0, 0, 0, 0, 0, 0, 0);

    /* nor a top-level one's neighbours, before or after it */
    xt_scan_is("{\"choices\":[{\"message\":{\"usage\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":1}}}],\"usage\":{\"prompt_tokens\":40,"
               "\"completion_tokens\":41,\"details\":{\"usage\":{"
               "\"prompt_tokens\":3,\"completion_tokens\":3}}},\"x\":{"
               "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":4}}}",
               0, 1, 40, 41, 0, 0, 0);

    /* nor the text of one in a string, as a value or as a key */
    xt_scan_is("{\"content\":\"\\\"usage\\\": {\\\"prompt_tokens\\\":1,"
               "\\\"completion_tokens\\\":1}\"}", 0, 0, 0, 0, 0, 0, 0);
    xt_scan_is("{\"note\":\"\\\\\",\"x\":\"\\\\\\\"usage\\\":{}\","
               "\"\\\"usage\\\":{\\\"prompt_tokens\\\":9,"
               "\\\"completion_tokens\\\":9}\":1}", 0, 0, 0, 0, 0, 0, 0);
    xt_scan_is("{\"content\":\"\\\"usage\\\": {\\\"prompt_tokens\\\":1,"
               "\\\"completion_tokens\\\":1}\",\"usage\":{\"prompt_tokens\":"
               "6,\"completion_tokens\":7}}", 0, 1, 6, 7, 0, 0, 0);

    /* escaped quotes and backslashes right before the closing quote */
    xt_scan_is("{\"a\":\"\\\\\",\"b\":\"\\\"\",\"c\":\"\\\\\\\"\\\\\","
               "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
               "\"s\":\"}\\\"}\"}}", 0, 1, 1, 2, 0, 0, 0);

    /* keys are matched by their raw text */
    xt_scan_is("{\"usag\\u0065\":{\"prompt_tokens\":1,"
               "\"completion_tokens\":2}}", 0, 0, 0, 0, 0, 0, 0);
}


/* Each document has a good usage (1, 2): whether it counts must be what
 * jansson says of the whole document. */
static void
test_json_wellformed(void **state)
{
    static const char  *docs[] = {
        /* well-formed */
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        " \t\r\n{ \"usage\" : { \"prompt_tokens\" : 1 , \"completion_tokens\""
            " : 2 } , \"a\" : [ 1 , -0.5e+3 , 0 , -0 , 1E2 , 2e-9 , 0.25 ,"
            " true , false , null , { } , [ ] , [ [ ] ] ] } \n",
        "{\"s\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\\uFFFF\","
            "\"t\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
            "\x7f\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"\":0,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},"
            "\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1,\"b\":[1,{}]}]}",
        /* not: structure */
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}{}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}x",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\":[1,]}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\":[}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\":{]}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\":[1}]",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\" 1}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\":1 "
            "\"b\":2}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},1:2}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"a\"}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},,\"a\":1}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}]",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}",
        "[{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}]",
        "\xef\xbb\xbf{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        /* not: numbers and literals */
        "{\"a\":01,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":1.,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":.5,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":-,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":+1,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":1e,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":1e+,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":0x1,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":1.5.3,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":tru,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":True,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":nulll,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":NaN,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        /* not: strings */
        "{\"a\":\"\\x\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":\"\\u12\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\u00g0\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\u0000\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\ud800\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\udc00\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\ud800\\u0041\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\ud800\\n\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\\ud800x\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\t\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":\"\xff\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\":\"\xc0\x80\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\xe0\x80\x80\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\xed\xa0\x80\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\xf4\x90\x80\x80\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\xe2\x82\",\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
        "{\"a\":\"\x80\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"a\xff\":1,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{'a':1,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        /* not: duplicate top-level keys */
        "{\"a\":1,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},"
            "\"a\":1}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2},\"choices\":[]}",
        "{\"usage\":null,\"usage\":{\"prompt_tokens\":1,"
            "\"completion_tokens\":2}}",
    };
    json_error_t  jerr;
    json_t       *root;
    x402_usage   *u;
    size_t        i;
    int           good;

    (void) state;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        root = json_loads(docs[i], JSON_REJECT_DUPLICATES, &jerr);
        good = json_is_object(root);
        json_decref(root);
        assert_int_equal(good, i < 4);

        u = xt_scan(docs[i], strlen(docs[i]), 0);
        xt_check(u, good, 1, 2, 0, 0, 0);
        free(u);
    }
}


static void
test_json_keys_depth(void **state)
{
    static const char  tail[] =
        ",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
    xt_text      t = { NULL, 0, 0 };
    x402_usage  *u;
    char         key[32];
    size_t       i;

    (void) state;

    /* more top-level keys than the duplicate table: fine */
    xt_puts(&t, "{");
    for (i = 0; i < X402_USAGE_KEYS_MAX + 8; i++) {
        snprintf(key, sizeof(key), "\"k%u\":%u,", (unsigned) i, (unsigned) i);
        xt_puts(&t, key);
    }
    xt_puts(&t, "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 1, 2, 0, 0, 0);
    free(u);

    /* a twin of one of them: ambiguous */
    t.p[t.len - 1] = ',';
    xt_puts(&t, "\"k7\":0}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* nesting: to the checked depth, where a wrong bracket still shows */
    t.len = 0;
    xt_puts(&t, "{\"a\":");
    xt_repeat(&t, "[", X402_USAGE_DEPTH_MAX - 1);
    xt_puts(&t, "\"]}\"");
    xt_repeat(&t, "]", X402_USAGE_DEPTH_MAX - 1);
    xt_puts(&t, ",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 1, 2, 0, 0, 0);
    free(u);

    t.p[5 + X402_USAGE_DEPTH_MAX - 1 + 4] = '}';
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* and far below it, only followed: the usage after it is found */
    t.len = 0;
    xt_puts(&t, "{\"a\":");
    xt_repeat(&t, "[{\"b\":", 6 * 3 * X402_USAGE_DEPTH_MAX);
    xt_puts(&t, "\"]}\\\"[{\"");
    xt_repeat(&t, "}]", 2 * 3 * X402_USAGE_DEPTH_MAX);
    xt_puts(&t, tail);
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 3, 4, 0, 0, 0);
    free(u);

    /* ... but not when the brackets do not balance */
    t.p[t.len - strlen(tail) - 4 * X402_USAGE_DEPTH_MAX] = '{';
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    /* nor with a wrong bracket back in the checked levels (50 deep) */
    t.p[t.len - strlen(tail) - 4 * X402_USAGE_DEPTH_MAX] = '}';
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 3, 4, 0, 0, 0);
    free(u);
    assert_int_equal(t.p[t.len - strlen(tail) - 100], '}');
    t.p[t.len - strlen(tail) - 100] = ']';
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    free(t.p);
}


static void
test_json_capture_limit(void **state)
{
    xt_text      t = { NULL, 0, 0 };
    x402_usage  *u;
    size_t       n;

    (void) state;

    /* a usage object of exactly X402_USAGE_CAPTURE_MAX bytes is read */
    xt_puts(&t, "{\"id\":\"x\",\"usage\":");
    n = t.len;
    xt_puts(&t, "{\"prompt_tokens\":10,\"completion_tokens\":20,"
            "\"prompt_tokens_details\":{\"note\":\"");
    xt_repeat(&t, "a", X402_USAGE_CAPTURE_MAX - (t.len - n) - 3);
    xt_puts(&t, "\"}}");
    assert_int_equal(t.len - n, X402_USAGE_CAPTURE_MAX);
    xt_puts(&t, "}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 1, 10, 20, 0, 0, 0);
    free(u);

    /* one byte more (a space) is not, and says so */
    t.len -= 4;
    xt_puts(&t, "\"} }}");
    u = xt_scan(t.p, t.len, 0);
    xt_check(u, 0, 0, 0, 0, 0, 1);
    free(u);

    /* in SSE, the previous usage stays */
    t.len = 0;
    xt_puts(&t, "data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":"
            "2}}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],"
            "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,"
            "\"x\":[");
    xt_repeat(&t, "1,", 2 * X402_USAGE_CAPTURE_MAX);
    xt_puts(&t, "1]}}\n\ndata: [DONE]\n\n");
    u = xt_scan(t.p, t.len, 1);
    xt_check(u, 1, 1, 2, 1, 1, 1);
    free(u);

    free(t.p);
}


/* ------------------------------------------------ SSE events of any size */

static void
test_sse_any_size(void **state)
{
    xt_text      t = { NULL, 0, 0 };
    x402_usage  *u;

    (void) state;

    /* a 100 KB delta, then the usage event */
    xt_puts(&t, ": keep-alive\r\n\r\ndata: {\"id\":\"c\",\"choices\":[{\"index\""
            ":0,\"delta\":{\"role\":\"assistant\",\"content\":\"");
    xt_repeat(&t, "word \\\"q\\\" \\\\ \\n {\\\"usage\\\":{}} ", 100 * 1024);
    xt_puts(&t, "\"},\"logprobs\":null}]}\r\n\r\n"
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
            "\"completion_tokens\":3000}}\r\n\r\ndata: [DONE]\r\n\r\n");
    assert_true(t.len > 100 * 1024);
    u = xt_scan(t.p, t.len, 1);
    xt_check(u, 1, 9, 3000, 1, 1, 0);
    free(u);

    /* the same event over several data lines, cut between tokens */
    t.len = 0;
    xt_puts(&t, "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"");
    xt_repeat(&t, "0123456789abcdef", 100 * 1024);
    xt_puts(&t, "\"\ndata: }},\ndata: {\"text\":\"x\"},{\"text\":\"y\"}]}\n\n"
            "data: {\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":4}"
            ",\"choices\":[]}\n\n");
    u = xt_scan(t.p, t.len, 1);
    xt_check(u, 1, 2, 4, 3, 0, 0);
    free(u);

    /* a big event cut short counts nothing of it */
    u = xt_scan(t.p, 60 * 1024, 1);
    xt_check(u, 0, 0, 0, 0, 0, 0);
    free(u);

    free(t.p);
}


static void
test_sse_choices(void **state)
{
    (void) state;

    /* at most one per element; the paths that count, and those that not */
    xt_scan_is("data: {\"choices\":[{\"delta\":{\"content\":\"a\",\"x\":1},"
               "\"text\":\"b\"},{\"delta\":{\"content\":\"\"}},{\"text\":"
               "\"c\"},\"str\",[{\"text\":\"x\"}],{\"delta\":{\"x\":{"
               "\"content\":\"y\"}}},{\"message\":{\"content\":\"m\"}},"
               "{\"delta\":[{\"content\":\"z\"}]},{\"text\":{\"t\":\"t\"}},"
               "{\"x\":{\"text\":\"t\"},\"delta\":{\"content\":[\"c\"]}},"
               "{\"delta\":{\"content\":\"\\u00e9\"}}],\"x\":{\"choices\":"
               "[{\"text\":\"a\"}]}}\n\n", 1, 0, 0, 0, 3, 0, 0);
    xt_scan_is("data: {\"choices\":{\"0\":{\"text\":\"a\"}}}\n\n"
               "data: {\"x\":[{\"choices\":[{\"text\":\"a\"}]}]}\n\n"
               "data: {\"choices\":[{\"text\":\"a\"}],\"choices\":[]}\n\n"
               "data: {\"choices\":[{\"text\":\"a\"}]}{}\n\n"
               "data: {\"choices\":[{\"text\":\"a\"}]\n\n"
               "data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 1,
               0, 0, 0, 1, 0, 0);
    /* a twin of a key that counts, in a choice or its delta: that event
     * counts nothing; each choice and delta has its own keys */
    xt_scan_is("data: {\"choices\":[{\"text\":\"a\",\"text\":\"\"}]}\n\n"
               "data: {\"choices\":[{\"text\":\"\",\"x\":{},\"text\":\"b\"}]}"
               "\n\n"
               "data: {\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":"
               "\"b\"}}]}\n\n"
               "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"delta\":"
               "{}}]}\n\n"
               "data: {\"choices\":[{\"delta\":{\"content\":\"a\",\"x\":{"
               "\"content\":\"b\"}},\"text\":\"t\",\"y\":{\"text\":\"u\","
               "\"delta\":1}},{\"delta\":{\"content\":\"c\"},\"text\":\"d\"}"
               "]}\n\n", 1, 0, 0, 0, 2, 0, 0);
    /* a JSON reply counts none */
    xt_scan_is("{\"choices\":[{\"text\":\"a\"},{\"delta\":{\"content\":"
               "\"b\"}}]}", 0, 0, 0, 0, 0, 0, 0);
}


static void
test_sse_done_split(void **state)
{
    static const char  s[] =
        "data: {\"choices\":[{\"text\":\"a\"}],\"usage\":{\"prompt_tokens\":"
        "1,\"completion_tokens\":1}}\r\n\r\ndata: [DONE]\r\n\r\n"
        "data: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5}}\n\n";
    const char        *d;
    x402_usage        *u;
    size_t             i, j, k;

    (void) state;

    d = strstr(s, "[DONE]");
    assert_non_null(d);
    k = (size_t) (d - s);

    /* cut in three anywhere around "[DONE]" */
    u = xt_usage_new(1);
    for (i = k - 3; i <= k + 8; i++) {
        for (j = i; j <= k + 10; j++) {
            x402_usage_init(u, 1);
            x402_usage_feed(u, s, i);
            x402_usage_feed(u, s + i, j - i);
            x402_usage_feed(u, s + j, sizeof(s) - 1 - j);
            x402_usage_finish(u);
            xt_check(u, 1, 1, 1, 1, 1, 0);
        }
    }
    free(u);

    u = xt_scan(s, sizeof(s) - 1, 1);
    xt_check(u, 1, 1, 1, 1, 1, 0);
    free(u);

    /* "[DONE]" over two data lines is "[DO\nNE]": not it */
    xt_scan_is("data: [DO\ndata: NE]\n\ndata: {\"usage\":{\"prompt_tokens\":"
               "3,\"completion_tokens\":4}}\n\n", 1, 1, 3, 4, 0, 0, 0);
    /* unterminated at the end of the body */
    xt_scan_is("data: {\"choices\":[{\"text\":\"a\"}]}\r\rdata: [DONE]", 1,
               0, 0, 0, 1, 1, 0);
}


static void
test_sse_twin_usage(void **state)
{
    (void) state;

    /* a twin usage in an event: that event's usage is not taken */
    xt_scan_is("data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":"
               "2}}\n\ndata: {\"usage\":{\"prompt_tokens\":3,"
               "\"completion_tokens\":4},\"x\":1,\"usage\":{\"prompt_tokens\":"
               "5,\"completion_tokens\":6},\"choices\":[{\"text\":\"a\"}]}\n\n",
               1, 1, 1, 2, 0, 0, 0);
    /* nor is the usage of an event that is not well-formed */
    xt_scan_is("data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":"
               "2}}\n\ndata: {\"usage\":{\"prompt_tokens\":3,"
               "\"completion_tokens\":4},\"x\":01}\n\n",
               1, 1, 1, 2, 0, 0, 0);
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
        cmocka_unit_test(test_prepare_insert),
        cmocka_unit_test(test_prepare_options),
        cmocka_unit_test(test_prepare_unchanged),
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_prepare_prompt),
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
        cmocka_unit_test(test_json_any_size),
        cmocka_unit_test(test_json_nested_usage),
        cmocka_unit_test(test_json_wellformed),
        cmocka_unit_test(test_json_keys_depth),
        cmocka_unit_test(test_json_capture_limit),
        cmocka_unit_test(test_sse_any_size),
        cmocka_unit_test(test_sse_choices),
        cmocka_unit_test(test_sse_done_split),
        cmocka_unit_test(test_sse_twin_usage),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_u256_mul_div),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
