
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_REDIS_H_INCLUDED_
#define _NGX_HTTP_X402_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* hiredis's reply: callers that read one include <hiredis/hiredis.h> */
struct redisReply;


/*
 * Redis over hiredis 0.14's async API on nginx events: one connection per
 * worker, opened lazily by the first command, to a numeric address (no
 * blocking name lookups), reconnected with backoff after a failure.
 * hiredis 0.14 has no timeouts, so every command and the connect carry an
 * nginx timer; a command that times out marks the connection unhealthy
 * and it is dropped (its other commands fail at once) and reopened later.
 * With x402_redis_wait, a command that writes is followed by WAIT on its
 * connection and completes once enough replicas have it (else with a
 * NULL reply: the write may have been made on the primary alone).  With
 * sentinels (io/ngx_http_x402_sentinel.c) the address is the primary
 * they name, followed in each worker.
 */


typedef struct ngx_http_x402_redis_conf_s  ngx_http_x402_redis_conf_t;

/* a server of rcf failed at sa (readonly: it answered READONLY, so it is
   a replica now) */
typedef void (*ngx_http_x402_redis_lost_pt)(ngx_http_x402_redis_conf_t *rcf,
    struct sockaddr *sa, socklen_t socklen, ngx_uint_t readonly);

struct ngx_http_x402_redis_conf_s {
    ngx_addr_t                  *addr;      /* the server, numeric; with
                                               sentinels the primary they
                                               named last in this worker
                                               (NULL: none yet) */
    ngx_str_t                    name;      /* "127.0.0.1:6379" for logs */
    ngx_msec_t                   timeout;   /* connect and per command */
    void                        *sentinel;  /* x402_redis sentinel:NAME */
    ngx_http_x402_redis_lost_pt  lost;      /* set by the sentinel watch */
    ngx_uint_t                   wait;      /* x402_redis_wait replicas */
    ngx_msec_t                   wait_timeout;
};


#define NGX_HTTP_X402_REDIS_ARGS_MAX  16

/* Lua: Redis's clock (ms), so that every node's leases are on one clock */
#define NGX_HTTP_X402_LUA_NOW                                                 \
    "local t = redis.call('TIME') "                                           \
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "

/* exact decimal comparison and arithmetic on canonical digit strings */
#define NGX_HTTP_X402_LUA_CMP                                                 \
    "local function cmp(a, b) "                                               \
    "if #a ~= #b then return #a < #b and -1 or 1 end "                        \
    "if a == b then return 0 end return a < b and -1 or 1 end "

/* Lua, in chunks of 14 digits: sums below 2^53, exact in Lua's doubles */
#define NGX_HTTP_X402_LUA_ARITH                                               \
    "local function chunk(s, i) if i >= #s then return 0 end "                \
    "return tonumber(string.sub(s, math.max(1, #s - i - 13), #s - i)) end "   \
    "local function trim(r) r = string.match(r, '^0*(%d-)$') "                \
    "if r == '' then return '0' end return r end "                            \
    "local function plus(a, b) local r, c, i = '', 0, 0 "                     \
    "while i < #a or i < #b or c > 0 do "                                     \
    "local d = chunk(a, i) + chunk(b, i) + c "                                \
    "if d >= 1e14 then c = 1 d = d - 1e14 else c = 0 end "                    \
    "r = string.format('%014.0f', d) .. r i = i + 14 end "                    \
    "return trim(r) end "                                                     \
    "local function minus(a, b) local r, c, i = '', 0, 0 "                    \
    "while i < #a do local d = chunk(a, i) - chunk(b, i) - c "                \
    "if d < 0 then c = 1 d = d + 1e14 else c = 0 end "                        \
    "r = string.format('%014.0f', d) .. r i = i + 14 end "                    \
    "return trim(r) end "

/* lets the compiler check that a command's words end with NULL */
#if (__GNUC__ >= 4)
#define NGX_HTTP_X402_REDIS_SENTINEL  __attribute__((sentinel))
#else
#define NGX_HTTP_X402_REDIS_SENTINEL
#endif


/*
 * The completion of one command, called exactly once per successful
 * ngx_http_x402_redis_send(), never from inside it.
 *   reply: the reply (valid only during the call; REDIS_REPLY_ERROR
 *          replies are passed through), or NULL on failure;
 *   err:   for a NULL reply, why: "timed out", "connection refused",
 *          "disconnected", ... (for logs).
 */
typedef void (*ngx_http_x402_redis_done_pt)(void *data,
    struct redisReply *reply, const char *err);


/*
 * Sends one command: its words as NUL-terminated strings, ended by NULL,
 * at most NGX_HTTP_X402_REDIS_ARGS_MAX of them.  Returns NGX_OK (done will
 * be called later) or NGX_ERROR (done will not be called; logged).  While
 * the server is known to be down (within the reconnect backoff), commands
 * complete with a NULL reply on the next event loop iteration rather than
 * waiting for their timeout.
 *   log:   used only during the call (later events log to the cycle log);
 *   data:  must stay valid until done runs; done may issue new commands;
 *   words: copied; pub/sub commands and MONITOR are refused (NGX_ERROR).
 * A command that timed out may still have been executed by the server.
 * With done NULL the reply is dropped: a command queued ahead of another
 * on the same connection (Redis runs them in order), sent only while a
 * connection exists (else NGX_ERROR, nothing sent).
 */
ngx_int_t ngx_http_x402_redis_send(ngx_http_x402_redis_conf_t *rcf,
    ngx_log_t *log, ngx_http_x402_redis_done_pt done, void *data, ...)
    NGX_HTTP_X402_REDIS_SENTINEL;

/* The same with the words in a va_list, for callers' own wrappers. */
ngx_int_t ngx_http_x402_redis_vsend(ngx_http_x402_redis_conf_t *rcf,
    ngx_log_t *log, ngx_http_x402_redis_done_pt done, void *data,
    va_list args);

/* The same with the words in an array (a command of many words). */
ngx_int_t ngx_http_x402_redis_argv(ngx_http_x402_redis_conf_t *rcf,
    ngx_log_t *log, ngx_http_x402_redis_done_pt done, void *data, int argc,
    const char **argv, size_t *argvlen);

/* exit_process: fail pending commands, free the connection. */
void ngx_http_x402_redis_exit(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_X402_REDIS_H_INCLUDED_ */
