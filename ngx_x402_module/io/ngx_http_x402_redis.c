
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_x402_io.h"
#include "ngx_http_x402_redis.h"


/*
 * hiredis 0.14 on nginx events.
 *
 * Per worker there is a list of servers (in practice one, x402_redis), each
 * with at most one redisAsyncContext at a time.  The context's socket is
 * wrapped in an ngx_connection_t (level-triggered events; the fd belongs to
 * hiredis, which closes it right after our cleanup hook).
 *
 * A command is a heap op, the privdata of its hiredis callback, with a
 * cancelable timer.  The done callback runs exactly once per accepted
 * command:
 *   - from the hiredis reply callback (a reply, or NULL when the context is
 *     torn down: connect failure, disconnect, redisAsyncFree);
 *   - from the op's timer ("timed out"); the op is then marked finished and
 *     the context freed, so that a late reply cannot be misattributed; the
 *     hiredis callback of a finished op only frees it;
 *   - from a posted event, for commands that were refused before reaching
 *     hiredis (within the reconnect backoff, or a failed connect);
 *   - from ngx_http_x402_redis_exit() ("worker exiting").
 *
 * Before any done call caused by a failure, the server is detached from the
 * failing context and the failure is recorded, so that a command issued by
 * done itself never lands on a dying context: it waits for the backoff and
 * fails on the next event loop iteration.
 *
 * redisAsyncFree() is called only from our timers and exit_process, never
 * from a hiredis callback: inside onConnect (which hiredis 0.14 runs
 * without REDIS_IN_CALLBACK) it would free the context under hiredis' feet.
 */


#define NGX_HTTP_X402_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_X402_REDIS_BACKOFF_MAX  5000

#define NGX_HTTP_X402_REDIS_ERR_LEN      160

#define NGX_HTTP_X402_REDIS_OP_SENT      0
#define NGX_HTTP_X402_REDIS_OP_FINISHED  1
#define NGX_HTTP_X402_REDIS_OP_REFUSED   2


typedef struct ngx_http_x402_redis_srv_s  ngx_http_x402_redis_srv_t;


typedef struct {
    ngx_http_x402_redis_done_pt   done;
    void                         *data;
    ngx_http_x402_redis_srv_t    *srv;
    const char                   *err;      /* REFUSED: why */
    ngx_queue_t                   queue;    /* REFUSED: in srv->refused */
    ngx_event_t                   timer;    /* SENT: the command timeout */
    ngx_uint_t                    state;
    ngx_msec_t                    start;    /* x402_redis_duration_ms */

    /* sent as EVALSHA: the script and its words, to send as EVAL should
       Redis have lost the script (SCRIPT FLUSH); the words follow the op */
    const char                   *script;
    int                           argc;
    unsigned                      resent:1;

    /* x402_redis_wait: WAIT follows the command; its reply, held until
       WAIT answers; refs: the hiredis callbacks still to come */
    unsigned                      wait:1;
    ngx_uint_t                    refs;
    ngx_uint_t                    replicas;
    redisReply                   *held;

    size_t                        lens[NGX_HTTP_X402_REDIS_ARGS_MAX];
} ngx_http_x402_redis_op_t;


struct ngx_http_x402_redis_srv_s {
    ngx_queue_t                   queue;    /* in the worker's servers */
    ngx_http_x402_redis_conf_t   *rcf;      /* the first to use it */

    ngx_sockaddr_t                sockaddr;
    socklen_t                     socklen;
    ngx_str_t                     name;     /* for logs */
    char                          host[NGX_SOCKADDR_STRLEN + 1];
    int                           port;     /* 0: host is a unix path */

    redisAsyncContext            *ac;       /* NULL: not connected */
    ngx_event_t                   connect;  /* the connect timer */

    const char                   *why;      /* for NULL replies */
    char                          err[NGX_HTTP_X402_REDIS_ERR_LEN];

    ngx_msec_t                    next;     /* no connect before this */
    ngx_msec_t                    backoff;  /* the next delay */

    ngx_queue_t                   refused;  /* ops failed before sending */
    ngx_event_t                   post;     /* completes them */

    uint32_t                      loaded;   /* scripts sent on this ac */

    unsigned                      replied:1;    /* the context answered */
    unsigned                      failing:1;    /* failure logged */
    unsigned                      up:1;         /* ever answered */
};


/*
 * A Lua script run by EVALSHA: Redis keeps scripts by their SHA1, and a
 * script's body (kilobytes) is sent once per connection (SCRIPT LOAD,
 * queued before the first EVALSHA), not with every call.
 */
typedef struct {
    const char                   *body;     /* the caller's static text */
    char                          sha[41];
} ngx_http_x402_redis_script_t;

#define NGX_HTTP_X402_REDIS_SCRIPTS  32     /* bits of srv->loaded */


static ngx_int_t ngx_http_x402_redis_evalsha(ngx_http_x402_redis_srv_t *srv,
    const char **argv, size_t *argvlen);
static ngx_int_t ngx_http_x402_redis_resend(redisAsyncContext *ac,
    ngx_http_x402_redis_op_t *op);
static ngx_int_t ngx_http_x402_redis_command(ngx_http_x402_redis_conf_t *rcf,
    ngx_log_t *log, ngx_http_x402_redis_done_pt done, void *data, int argc,
    const char **argv, size_t *argvlen);
static ngx_http_x402_redis_srv_t *ngx_http_x402_redis_server(
    ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log);
static ngx_int_t ngx_http_x402_redis_supported(const char *cmd, size_t len);
static ngx_int_t ngx_http_x402_redis_connect(ngx_http_x402_redis_srv_t *srv,
    ngx_msec_t timeout);
static void ngx_http_x402_redis_refuse(ngx_http_x402_redis_srv_t *srv,
    ngx_http_x402_redis_op_t *op, const char *err);
static void ngx_http_x402_redis_set_err(ngx_http_x402_redis_srv_t *srv,
    const char *what, const char *detail);
static void ngx_http_x402_redis_failed(ngx_http_x402_redis_srv_t *srv);
static void ngx_http_x402_redis_detach(ngx_http_x402_redis_srv_t *srv,
    const char *why);
static void ngx_http_x402_redis_lost(ngx_http_x402_redis_srv_t *srv,
    const redisAsyncContext *ac, ngx_uint_t pending);

static ngx_uint_t ngx_http_x402_redis_writes(const char *cmd, size_t len);
static ngx_int_t ngx_http_x402_redis_wait(ngx_http_x402_redis_conf_t *rcf,
    ngx_http_x402_redis_srv_t *srv, ngx_http_x402_redis_op_t *op);
static void ngx_http_x402_redis_waited(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_x402_redis_unref(ngx_http_x402_redis_op_t *op);
static void ngx_http_x402_redis_answered(ngx_http_x402_redis_srv_t *srv,
    const redisAsyncContext *ac);
static redisReply *ngx_http_x402_redis_copy(const redisReply *r);
static void ngx_http_x402_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_x402_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_x402_redis_disconnected(const redisAsyncContext *ac,
    int status);

static void ngx_http_x402_redis_want(ngx_event_t *ev, ngx_uint_t want);
static void ngx_http_x402_redis_add_read(void *privdata);
static void ngx_http_x402_redis_del_read(void *privdata);
static void ngx_http_x402_redis_add_write(void *privdata);
static void ngx_http_x402_redis_del_write(void *privdata);
static void ngx_http_x402_redis_cleanup(void *privdata);

static void ngx_http_x402_redis_read_handler(ngx_event_t *ev);
static void ngx_http_x402_redis_write_handler(ngx_event_t *ev);
static void ngx_http_x402_redis_timeout_handler(ngx_event_t *ev);
static void ngx_http_x402_redis_connect_handler(ngx_event_t *ev);
static void ngx_http_x402_redis_post_handler(ngx_event_t *ev);


/* per worker process */

static ngx_queue_t        ngx_http_x402_redis_servers;
static ngx_http_x402_redis_script_t
    ngx_http_x402_redis_scripts[NGX_HTTP_X402_REDIS_SCRIPTS];
static ngx_uint_t  ngx_http_x402_redis_nscripts;
static ngx_uint_t         ngx_http_x402_redis_ready;
static ngx_uint_t         ngx_http_x402_redis_exiting;

ngx_int_t
ngx_http_x402_redis_send(ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log,
    ngx_http_x402_redis_done_pt done, void *data, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, data);
    rc = ngx_http_x402_redis_vsend(rcf, log, done, data, args);
    va_end(args);

    return rc;
}


ngx_int_t
ngx_http_x402_redis_vsend(ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log,
    ngx_http_x402_redis_done_pt done, void *data, va_list args)
{
    int          argc;
    size_t       argvlen[NGX_HTTP_X402_REDIS_ARGS_MAX];
    const char  *arg, *argv[NGX_HTTP_X402_REDIS_ARGS_MAX];

    for (argc = 0; (arg = va_arg(args, const char *)) != NULL; argc++) {

        if (argc == NGX_HTTP_X402_REDIS_ARGS_MAX) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "x402: redis command \"%s\" has more than %d words",
                          argv[0], NGX_HTTP_X402_REDIS_ARGS_MAX);
            return NGX_ERROR;
        }

        argv[argc] = arg;
        argvlen[argc] = ngx_strlen(arg);
    }

    return ngx_http_x402_redis_command(rcf, log, done, data, argc, argv,
                                       argvlen);
}


ngx_int_t
ngx_http_x402_redis_argv(ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log,
    ngx_http_x402_redis_done_pt done, void *data, int argc, const char **argv,
    size_t *argvlen)
{
    return ngx_http_x402_redis_command(rcf, log, done, data, argc, argv,
                                       argvlen);
}


static ngx_int_t
ngx_http_x402_redis_command(ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log,
    ngx_http_x402_redis_done_pt done, void *data, int argc, const char **argv,
    size_t *argvlen)
{
    int                         i;
    u_char                     *p;
    size_t                      extra;
    ngx_uint_t                  eval;
    ngx_http_x402_redis_op_t   *op;
    ngx_http_x402_redis_srv_t  *srv;

    if (ngx_http_x402_redis_exiting) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: redis command while the worker is exiting");
        return NGX_ERROR;
    }

    if (argc < 1) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "x402: empty redis command");
        return NGX_ERROR;
    }

    if (ngx_http_x402_redis_supported(argv[0], argvlen[0]) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "x402: unsupported redis command \"%s\"", argv[0]);
        return NGX_ERROR;
    }

    if (rcf->addr == NULL && rcf->sentinel != NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "x402: redis: the sentinels have named no primary "
                      "yet");

        if (rcf->lost != NULL) {
            rcf->lost(rcf, NULL, 0, 0);
        }

        return NGX_ERROR;
    }

    srv = ngx_http_x402_redis_server(rcf, log);
    if (srv == NULL) {
        return NGX_ERROR;
    }

    if (done == NULL) {
        /* queued ahead of a command that is waited for, on its connection */

        if (srv->ac == NULL
            || redisAsyncCommandArgv(srv->ac, NULL, NULL, argc, argv,
                                     argvlen)
               != REDIS_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    eval = (argvlen[0] == 4 && argc > 1
            && ngx_strncasecmp((u_char *) argv[0], (u_char *) "EVAL", 4)
               == 0);
    extra = 0;

    for (i = 2; eval && i < argc; i++) {
        extra += argvlen[i];
    }

    op = ngx_alloc(sizeof(ngx_http_x402_redis_op_t) + extra, log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(op, sizeof(ngx_http_x402_redis_op_t));

    op->done = done;
    op->data = data;
    op->srv = srv;
    op->start = ngx_current_msec;
    op->refs = 1;

    /* with WAIT after it, a script goes whole: no NOSCRIPT to resend */
    op->wait = (rcf->wait && ngx_http_x402_redis_writes(argv[0], argvlen[0]));
    eval = eval && !op->wait;

    if (srv->ac == NULL) {

        if (srv->failing
            && (ngx_msec_int_t) (srv->next - ngx_current_msec) > 0)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                           "x402: redis %V within the reconnect backoff",
                           &srv->name);

            ngx_http_x402_redis_refuse(srv, op, "unavailable (reconnecting)");
            return NGX_OK;
        }

        if (ngx_http_x402_redis_connect(srv, rcf->timeout) != NGX_OK) {
            ngx_http_x402_redis_refuse(srv, op, srv->err);
            return NGX_OK;
        }
    }

    if (eval) {
        op->script = argv[1];
        op->argc = argc;
        p = (u_char *) (op + 1);

        for (i = 0; i < argc; i++) {
            op->lens[i] = argvlen[i];

            if (i >= 2) {
                p = ngx_cpymem(p, argv[i], argvlen[i]);
            }
        }

        if (ngx_http_x402_redis_evalsha(srv, argv, argvlen) != NGX_OK) {
            ngx_free(op);
            return NGX_ERROR;
        }
    }

    if (redisAsyncCommandArgv(srv->ac, ngx_http_x402_redis_reply, op,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: redis %V: cannot queue a command", &srv->name);
        ngx_free(op);
        return NGX_ERROR;
    }

    op->state = NGX_HTTP_X402_REDIS_OP_SENT;

    if (op->wait && ngx_http_x402_redis_wait(rcf, srv, op) != NGX_OK) {
        /* out of memory in hiredis: the command is queued, and completes
           without WAIT */
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "x402: redis %V: cannot queue WAIT after a command",
                      &srv->name);
        op->wait = 0;
    }

    if (rcf->timeout) {
        op->timer.handler = ngx_http_x402_redis_timeout_handler;
        op->timer.data = ngx_http_x402_io_dummy();
        op->timer.log = ngx_cycle->log;
        op->timer.cancelable = 1;

        ngx_add_timer(&op->timer, rcf->timeout);
    }

    return NGX_OK;
}


/* Does the command write?  (Reads need no replica to have them.) */

static ngx_uint_t
ngx_http_x402_redis_writes(const char *cmd, size_t len)
{
    ngx_uint_t  i;

    static const char  *reads[] = {
        "GET", "MGET", "HGET", "HMGET", "HGETALL", "HLEN", "EXISTS", "TTL",
        "PTTL", "ZSCORE", "ZRANGE", "ZRANGEBYSCORE", "ZCARD", "SCAN", "TIME",
        "PING", "INFO", "ROLE", "SENTINEL", "TYPE", "STRLEN", NULL
    };

    for (i = 0; reads[i] != NULL; i++) {
        if (ngx_strlen(reads[i]) == len
            && ngx_strncasecmp((u_char *) cmd, (u_char *) reads[i], len) == 0)
        {
            return 0;
        }
    }

    return 1;
}


/*
 * x402_redis_wait: WAIT numreplicas timeout right after the command, on
 * its connection: it answers once that many replicas have every write the
 * connection made, or with fewer at its timeout.
 */

static ngx_int_t
ngx_http_x402_redis_wait(ngx_http_x402_redis_conf_t *rcf,
    ngx_http_x402_redis_srv_t *srv, ngx_http_x402_redis_op_t *op)
{
    u_char       n[NGX_INT_T_LEN + 1], ms[NGX_INT_T_LEN + 1];
    size_t       lens[3];
    const char  *argv[3];

    argv[0] = "WAIT";
    argv[1] = (const char *) n;
    argv[2] = (const char *) ms;
    lens[0] = 4;
    lens[1] = ngx_sprintf(n, "%ui", rcf->wait) - n;
    lens[2] = ngx_sprintf(ms, "%M", rcf->wait_timeout) - ms;

    if (redisAsyncCommandArgv(srv->ac, ngx_http_x402_redis_waited, op, 3,
                              argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    op->refs = 2;
    op->replicas = rcf->wait;

    return NGX_OK;
}


/* hiredis frees a reply when its callback returns: one held is a copy */

static redisReply *
ngx_http_x402_redis_copy(const redisReply *r)
{
    size_t       i;
    redisReply  *c;

    c = calloc(1, sizeof(redisReply));
    if (c == NULL) {
        return NULL;
    }

    c->type = r->type;
    c->integer = r->integer;

    if (r->str != NULL) {
        c->str = malloc(r->len + 1);
        if (c->str == NULL) {
            freeReplyObject(c);
            return NULL;
        }

        ngx_memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }

    if (r->element != NULL && r->elements) {
        c->element = calloc(r->elements, sizeof(redisReply *));
        if (c->element == NULL) {
            freeReplyObject(c);
            return NULL;
        }

        c->elements = r->elements;

        for (i = 0; i < r->elements; i++) {
            if (r->element[i] == NULL) {
                continue;
            }

            c->element[i] = ngx_http_x402_redis_copy(r->element[i]);
            if (c->element[i] == NULL) {
                freeReplyObject(c);
                return NULL;
            }
        }
    }

    return c;
}


/* The server answered on its current connection: it is up. */

static void
ngx_http_x402_redis_answered(ngx_http_x402_redis_srv_t *srv,
    const redisAsyncContext *ac)
{
    if (srv->replied || srv->ac != ac) {
        return;
    }

    srv->replied = 1;
    srv->backoff = NGX_HTTP_X402_REDIS_BACKOFF_MIN;

    if (srv->failing || !srv->up) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "x402: redis %V connected", &srv->name);
    }

    srv->failing = 0;
    srv->up = 1;
}


static void
ngx_http_x402_redis_unref(ngx_http_x402_redis_op_t *op)
{
    if (--op->refs == 0) {
        if (op->held != NULL) {
            freeReplyObject(op->held);
        }

        ngx_free(op);
    }
}


/* WAIT answered: the held reply goes to done if enough replicas have it */

static void
ngx_http_x402_redis_waited(redisAsyncContext *ac, void *r, void *privdata)
{
    void                         *data;
    redisReply                   *reply, *held;
    ngx_http_x402_redis_op_t     *op;
    ngx_http_x402_redis_srv_t    *srv;
    ngx_http_x402_redis_done_pt   done;

    op = privdata;
    reply = r;

    if (op->state == NGX_HTTP_X402_REDIS_OP_FINISHED) {
        ngx_http_x402_redis_unref(op);
        return;
    }

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    op->state = NGX_HTTP_X402_REDIS_OP_FINISHED;

    srv = op->srv;
    done = op->done;
    data = op->data;
    held = op->held;

    ngx_http_x402_io_timed(NGX_HTTP_X402_IO_REDIS, op->start,
                           held == NULL || reply == NULL
                           || reply->type != REDIS_REPLY_INTEGER
                           || reply->integer < (long long) op->replicas);

    if (reply == NULL) {
        /* torn down while WAIT blocked: detached before done runs */
        ngx_http_x402_redis_lost(srv, ac, 1);
        done(data, NULL, srv->why);

    } else if (held == NULL) {
        /* the command's own reply could not be kept */
        done(data, NULL, "out of memory");

    } else if (reply->type != REDIS_REPLY_INTEGER
               || reply->integer < (long long) op->replicas)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "x402: redis %V: a write reached %L of the %ui "
                      "replicas x402_redis_wait asks for in time",
                      &srv->name,
                      reply->type == REDIS_REPLY_INTEGER
                      ? (long long) reply->integer : 0LL,
                      op->replicas);

        ngx_http_x402_redis_answered(srv, ac);
        done(data, NULL, "not acknowledged by enough replicas");

    } else {
        ngx_http_x402_redis_answered(srv, ac);
        done(data, held, NULL);
    }

    ngx_http_x402_redis_unref(op);
}


/*
 * EVAL body ... becomes EVALSHA sha ...; the body is queued with SCRIPT
 * LOAD first when this connection has not sent it yet.  More scripts than
 * the table holds go as EVAL.
 */

static ngx_int_t
ngx_http_x402_redis_evalsha(ngx_http_x402_redis_srv_t *srv, const char **argv,
    size_t *argvlen)
{
    u_char                         hash[20];
    ngx_sha1_t                     sha1;
    ngx_uint_t                     i;
    const char                    *load[3];
    size_t                         loadlen[3];
    ngx_http_x402_redis_script_t  *sc;

    for (i = 0; i < ngx_http_x402_redis_nscripts; i++) {
        if (ngx_http_x402_redis_scripts[i].body == argv[1]) {
            break;
        }
    }

    if (i == ngx_http_x402_redis_nscripts) {
        if (i == NGX_HTTP_X402_REDIS_SCRIPTS) {
            return NGX_OK;
        }

        sc = &ngx_http_x402_redis_scripts[i];
        sc->body = argv[1];

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, argv[1], argvlen[1]);
        ngx_sha1_final(hash, &sha1);
        ngx_hex_dump((u_char *) sc->sha, hash, sizeof(hash));
        sc->sha[40] = '\0';

        ngx_http_x402_redis_nscripts++;
    }

    sc = &ngx_http_x402_redis_scripts[i];

    if (!(srv->loaded & ((uint32_t) 1 << i))) {
        load[0] = "SCRIPT";
        load[1] = "LOAD";
        load[2] = sc->body;
        loadlen[0] = 6;
        loadlen[1] = 4;
        loadlen[2] = argvlen[1];

        /* its reply is dropped: a failure shows as NOSCRIPT below */
        if (redisAsyncCommandArgv(srv->ac, NULL, NULL, 3, load, loadlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        srv->loaded |= (uint32_t) 1 << i;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = sc->sha;
    argvlen[1] = 40;

    return NGX_OK;
}


/*
 * Redis lost a script the connection had loaded (SCRIPT FLUSH, or another
 * server behind the same address): the command goes again as EVAL, with
 * its body, once; every script is loaded again on its next use.
 */

static ngx_int_t
ngx_http_x402_redis_resend(redisAsyncContext *ac, ngx_http_x402_redis_op_t *op)
{
    int          i;
    u_char      *p;
    size_t       lens[NGX_HTTP_X402_REDIS_ARGS_MAX];
    const char  *argv[NGX_HTTP_X402_REDIS_ARGS_MAX];

    op->srv->loaded = 0;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "x402: redis %V lost its scripts (SCRIPT FLUSH?): sending "
                  "the command again with its script, loading them again",
                  &op->srv->name);

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = op->script;
    lens[1] = op->lens[1];
    p = (u_char *) (op + 1);

    for (i = 2; i < op->argc; i++) {
        argv[i] = (const char *) p;
        lens[i] = op->lens[i];
        p += lens[i];
    }

    if (redisAsyncCommandArgv(ac, ngx_http_x402_redis_reply, op, op->argc,
                              argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    op->resent = 1;

    return NGX_OK;
}


void
ngx_http_x402_redis_exit(ngx_cycle_t *cycle)
{
    void                         *data;
    ngx_queue_t                  *q;
    redisAsyncContext            *ac;
    ngx_http_x402_redis_op_t     *op;
    ngx_http_x402_redis_srv_t    *srv;
    ngx_http_x402_redis_done_pt   done;

    if (!ngx_http_x402_redis_ready) {
        return;
    }

    /* done callbacks below cannot issue new commands */

    ngx_http_x402_redis_exiting = 1;

    while (!ngx_queue_empty(&ngx_http_x402_redis_servers)) {

        q = ngx_queue_head(&ngx_http_x402_redis_servers);
        ngx_queue_remove(q);

        srv = ngx_queue_data(q, ngx_http_x402_redis_srv_t, queue);

        if (srv->post.posted) {
            ngx_delete_posted_event(&srv->post);
        }

        ac = srv->ac;

        if (ac != NULL) {
            ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cycle->log, 0,
                           "x402: redis %V closing", &srv->name);

            ngx_http_x402_redis_detach(srv, "worker exiting");

            /*
             * not inside a hiredis callback: frees now, runs the pending
             * callbacks with NULL, then our cleanup hook, which frees the
             * connection without closing the fd; hiredis closes it
             */

            redisAsyncFree(ac);
        }

        while (!ngx_queue_empty(&srv->refused)) {
            q = ngx_queue_head(&srv->refused);
            ngx_queue_remove(q);

            op = ngx_queue_data(q, ngx_http_x402_redis_op_t, queue);

            done = op->done;
            data = op->data;
            ngx_free(op);

            done(data, NULL, "worker exiting");
        }

        ngx_free(srv);
    }
}


static ngx_http_x402_redis_srv_t *
ngx_http_x402_redis_server(ngx_http_x402_redis_conf_t *rcf, ngx_log_t *log)
{
    ngx_queue_t                *q;
    struct sockaddr            *sa;
    struct sockaddr_in         *sin;
    ngx_http_x402_redis_srv_t  *srv;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6        *sin6;
#endif
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr_un         *saun;
#endif

    if (rcf->addr == NULL || rcf->addr->socklen > sizeof(ngx_sockaddr_t)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "x402: no redis server");
        return NULL;
    }

    if (!ngx_http_x402_redis_ready) {
        ngx_queue_init(&ngx_http_x402_redis_servers);
        ngx_http_x402_redis_ready = 1;
    }

    for (q = ngx_queue_head(&ngx_http_x402_redis_servers);
         q != ngx_queue_sentinel(&ngx_http_x402_redis_servers);
         q = ngx_queue_next(q))
    {
        srv = ngx_queue_data(q, ngx_http_x402_redis_srv_t, queue);

        if (ngx_cmp_sockaddr(&srv->sockaddr.sockaddr, srv->socklen,
                             rcf->addr->sockaddr, rcf->addr->socklen, 1)
            == NGX_OK)
        {
            return srv;
        }
    }

    /* the first command for this server in this worker */

    srv = ngx_alloc(sizeof(ngx_http_x402_redis_srv_t) + rcf->name.len, log);
    if (srv == NULL) {
        return NULL;
    }

    ngx_memzero(srv, sizeof(ngx_http_x402_redis_srv_t));

    ngx_memcpy(&srv->sockaddr, rcf->addr->sockaddr, rcf->addr->socklen);
    srv->socklen = rcf->addr->socklen;
    srv->rcf = rcf;

    srv->name.len = rcf->name.len;
    srv->name.data = (u_char *) srv + sizeof(ngx_http_x402_redis_srv_t);
    ngx_memcpy(srv->name.data, rcf->name.data, rcf->name.len);

    sa = &srv->sockaddr.sockaddr;

    switch (sa->sa_family) {

#if (NGX_HAVE_UNIX_DOMAIN)
    case AF_UNIX:
        saun = (struct sockaddr_un *) sa;
        ngx_cpystrn((u_char *) srv->host, (u_char *) saun->sun_path,
                    sizeof(srv->host));
        srv->port = 0;
        break;
#endif

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        (void) ngx_inet_ntop(AF_INET6, &sin6->sin6_addr, (u_char *) srv->host,
                             NGX_INET6_ADDRSTRLEN);
        srv->port = ngx_inet_get_port(sa);
        break;
#endif

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        (void) ngx_inet_ntop(AF_INET, &sin->sin_addr, (u_char *) srv->host,
                             NGX_INET_ADDRSTRLEN);
        srv->port = ngx_inet_get_port(sa);
        break;

    default:
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "x402: redis %V: unsupported address family",
                      &rcf->name);
        ngx_free(srv);
        return NULL;
    }

    srv->backoff = NGX_HTTP_X402_REDIS_BACKOFF_MIN;
    srv->why = "disconnected";

    srv->connect.handler = ngx_http_x402_redis_connect_handler;
    srv->connect.data = ngx_http_x402_io_dummy();
    srv->connect.log = ngx_cycle->log;
    srv->connect.cancelable = 1;

    ngx_queue_init(&srv->refused);

    srv->post.handler = ngx_http_x402_redis_post_handler;
    srv->post.data = ngx_http_x402_io_dummy();
    srv->post.log = ngx_cycle->log;

    ngx_queue_insert_tail(&ngx_http_x402_redis_servers, &srv->queue);

    return srv;
}


/*
 * Commands whose replies do not follow one reply per command in hiredis
 * (pub/sub, MONITOR) would break the "done exactly once" contract.
 */

static ngx_int_t
ngx_http_x402_redis_supported(const char *cmd, size_t len)
{
    ngx_uint_t  i;

    static ngx_str_t  unsupported[] = {
        ngx_string("subscribe"),
        ngx_string("psubscribe"),
        ngx_string("unsubscribe"),
        ngx_string("punsubscribe"),
        ngx_string("monitor"),
        ngx_null_string
    };

    for (i = 0; unsupported[i].len; i++) {
        if (len == unsupported[i].len
            && ngx_strncasecmp((u_char *) cmd, unsupported[i].data, len)
               == 0)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_redis_connect(ngx_http_x402_redis_srv_t *srv,
    ngx_msec_t timeout)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "x402: redis %V connecting, timeout %M",
                   &srv->name, timeout);

    /* numeric addresses only: hiredis' getaddrinfo() does not block */

    if (srv->port == 0) {
        ac = redisAsyncConnectUnix(srv->host);

    } else {
        ac = redisAsyncConnect(srv->host, srv->port);
    }

    if (ac == NULL) {
        ngx_http_x402_redis_set_err(srv, "connect failed", "out of memory");
        ngx_http_x402_redis_failed(srv);
        return NGX_ERROR;
    }

    if (ac->err) {
        /* refused at once (e.g. on loopback): the fd is closed already */
        ngx_http_x402_redis_set_err(srv, "connect failed", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_x402_redis_failed(srv);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        /* no hooks yet: hiredis just closes the fd */
        redisAsyncFree(ac);
        ngx_http_x402_redis_set_err(srv, "connect failed",
                                    "no free worker connections");
        ngx_http_x402_redis_failed(srv);
        return NGX_ERROR;
    }

    c->data = ac;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    c->read->handler = ngx_http_x402_redis_read_handler;
    c->write->handler = ngx_http_x402_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = srv;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_x402_redis_add_read;
    ac->ev.delRead = ngx_http_x402_redis_del_read;
    ac->ev.addWrite = ngx_http_x402_redis_add_write;
    ac->ev.delWrite = ngx_http_x402_redis_del_write;
    ac->ev.cleanup = ngx_http_x402_redis_cleanup;

    srv->ac = ac;
    srv->loaded = 0;
    srv->replied = 0;

    /* the connect completes when the socket becomes writable */

    (void) redisAsyncSetConnectCallback(ac, ngx_http_x402_redis_connected);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_x402_redis_disconnected);

    ngx_http_x402_redis_add_write(c);

    if (timeout) {
        srv->connect.log = ngx_cycle->log;
        ngx_add_timer(&srv->connect, timeout);
    }

    return NGX_OK;
}


/* completes a command on the next event loop iteration, never at once */

static void
ngx_http_x402_redis_refuse(ngx_http_x402_redis_srv_t *srv,
    ngx_http_x402_redis_op_t *op, const char *err)
{
    op->state = NGX_HTTP_X402_REDIS_OP_REFUSED;
    op->err = err;

    ngx_queue_insert_tail(&srv->refused, &op->queue);

    srv->post.log = ngx_cycle->log;
    ngx_post_event(&srv->post, &ngx_posted_events);
}


static void
ngx_http_x402_redis_set_err(ngx_http_x402_redis_srv_t *srv, const char *what,
    const char *detail)
{
    u_char  *p;

    if (detail != NULL && detail[0] != '\0') {
        p = ngx_snprintf((u_char *) srv->err, sizeof(srv->err) - 1,
                         "%s: %s", what, detail);

    } else {
        p = ngx_snprintf((u_char *) srv->err, sizeof(srv->err) - 1,
                         "%s", what);
    }

    *p = '\0';
}


/*
 * A failure: logged at "error" once per episode (until a reply arrives
 * again), no connect before the backoff, which doubles up to 5 s.
 */

static void
ngx_http_x402_redis_failed(ngx_http_x402_redis_srv_t *srv)
{
    ngx_uint_t  level;

    level = srv->failing ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "x402: redis %V %s, next attempt in %M ms",
                  &srv->name, srv->err, srv->backoff);

    srv->failing = 1;
    srv->next = ngx_current_msec + srv->backoff;

    if (srv->rcf != NULL && srv->rcf->lost != NULL) {
        /* the primary may have moved: the sentinels are asked at once */
        srv->rcf->lost(srv->rcf, &srv->sockaddr.sockaddr, srv->socklen, 0);
    }

    srv->backoff *= 2;

    if (srv->backoff > NGX_HTTP_X402_REDIS_BACKOFF_MAX) {
        srv->backoff = NGX_HTTP_X402_REDIS_BACKOFF_MAX;
    }
}


/*
 * Forgets the context before it is torn down, so that done callbacks that
 * issue new commands never reach it.
 */

static void
ngx_http_x402_redis_detach(ngx_http_x402_redis_srv_t *srv, const char *why)
{
    srv->ac = NULL;
    srv->why = why;

    if (srv->connect.timer_set) {
        ngx_del_timer(&srv->connect);
    }
}


/*
 * hiredis tears a context down (connect error, EOF, read or write error, a
 * spontaneous error reply); the first of the hiredis callbacks to see it
 * calls this.  "pending": it runs for a NULL reply of a pending command.
 */

static void
ngx_http_x402_redis_lost(ngx_http_x402_redis_srv_t *srv,
    const redisAsyncContext *ac, ngx_uint_t pending)
{
    const char  *detail;

    if (srv->ac != ac) {
        /* we are freeing it ourselves, or it is done with already */
        return;
    }

    detail = ac->c.err ? ac->c.errstr : NULL;

    if (!(ac->c.flags & REDIS_CONNECTED)) {
        ngx_http_x402_redis_set_err(srv, "connect failed", detail);
        ngx_http_x402_redis_failed(srv);
        ngx_http_x402_redis_detach(srv, srv->err);
        return;
    }

    if (!pending && srv->replied) {

        /*
         * an idle connection closed by the server (its "timeout", or a
         * restart): reopened by the next command, without a backoff
         */

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "x402: redis %V closed an idle connection: %s",
                      &srv->name, detail ? detail : "disconnected");

        ngx_http_x402_redis_detach(srv, "disconnected");
        return;
    }

    ngx_http_x402_redis_set_err(srv, "disconnected", detail);
    ngx_http_x402_redis_failed(srv);
    ngx_http_x402_redis_detach(srv, "disconnected");
}


static void
ngx_http_x402_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    void                         *data;
    redisReply                   *reply;
    ngx_http_x402_redis_op_t     *op;
    ngx_http_x402_redis_srv_t    *srv;
    ngx_http_x402_redis_done_pt   done;

    op = privdata;
    reply = r;

    if (op->state == NGX_HTTP_X402_REDIS_OP_FINISHED) {
        /* timed out: done has run */
        ngx_http_x402_redis_unref(op);
        return;
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && op->script != NULL && !op->resent
        && ngx_http_x402_redis_resend(ac, op) == NGX_OK)
    {
        return;
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0
        && op->srv->rcf != NULL && op->srv->rcf->lost != NULL)
    {
        /* a replica: never written to; the sentinels are asked again */
        op->srv->rcf->lost(op->srv->rcf, &op->srv->sockaddr.sockaddr,
                           op->srv->socklen, 1);
    }

    if (op->wait && reply != NULL) {
        /* done runs when WAIT answers */
        op->held = ngx_http_x402_redis_copy(reply);
        op->refs--;
        return;
    }

    if (op->wait) {
        /* torn down: WAIT's NULL reply follows, and frees the op */
        op->state = NGX_HTTP_X402_REDIS_OP_FINISHED;
        op->refs--;
    }

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    srv = op->srv;
    done = op->done;
    data = op->data;

    ngx_http_x402_io_timed(NGX_HTTP_X402_IO_REDIS, op->start,
                           reply == NULL
                           || reply->type == REDIS_REPLY_ERROR);

    if (!op->wait) {
        ngx_free(op);
    }

    if (reply == NULL) {
        ngx_http_x402_redis_lost(srv, ac, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                       "x402: redis %V command failed: %s",
                       &srv->name, srv->why);

        done(data, NULL, srv->why);
        return;
    }

    ngx_http_x402_redis_answered(srv, ac);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "x402: redis %V reply type %d", &srv->name, reply->type);

    done(data, reply, NULL);
}


static void
ngx_http_x402_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_x402_redis_srv_t  *srv;

    srv = ac->data;

    if (status != REDIS_OK) {
        /*
         * hiredis frees the context when this returns: the pending
         * commands get NULL replies, with the reason in srv->why
         */

        ngx_http_x402_redis_lost(srv, ac, 1);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "x402: redis %V connect done", &srv->name);

    if (srv->ac == ac && srv->connect.timer_set) {
        ngx_del_timer(&srv->connect);
    }
}


static void
ngx_http_x402_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_x402_redis_srv_t  *srv;

    srv = ac->data;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "x402: redis %V disconnected, status %d",
                   &srv->name, status);

    /* usually handled already by the cleanup hook */

    ngx_http_x402_redis_lost(srv, ac, 0);
}


/* hiredis' event hooks; level-triggered: it reads at most 16 KB a call */

static void
ngx_http_x402_redis_want(ngx_event_t *ev, ngx_uint_t want)
{
    if (ngx_http_x402_io_want(ev, want) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "x402: redis: cannot %s a %s event",
                      want ? "add" : "delete", ev->write ? "write" : "read");
    }
}


static void
ngx_http_x402_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_x402_redis_want(c->read, 1);
}


static void
ngx_http_x402_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_x402_redis_want(c->read, 0);
}


static void
ngx_http_x402_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_x402_redis_want(c->write, 1);
}


static void
ngx_http_x402_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_x402_redis_want(c->write, 0);
}


/*
 * The last hook hiredis calls for a context, just before closing its fd:
 * free the connection wrapper, not the fd.
 */

static void
ngx_http_x402_redis_cleanup(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac;

    ac = c->data;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "x402: redis cleanup *%uA fd:%d", c->number, c->fd);

    ngx_http_x402_redis_lost(ac->data, ac, 0);

    ngx_http_x402_io_release(c, 0);

    /* no hook may touch the freed wrapper */

    ac->ev.data = NULL;
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;
}


static void
ngx_http_x402_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    /* may free the context and c */

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_x402_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * A command timed out: done runs now, and the connection is dropped, so
 * that the slow server's later replies are not taken for those of other
 * commands; its other pending commands fail with "disconnected".
 */

static void
ngx_http_x402_redis_timeout_handler(ngx_event_t *ev)
{
    redisAsyncContext          *ac;
    ngx_http_x402_redis_op_t   *op;
    ngx_http_x402_redis_srv_t  *srv;

    op = (ngx_http_x402_redis_op_t *)
             ((u_char *) ev - offsetof(ngx_http_x402_redis_op_t, timer));

    srv = op->srv;
    ac = srv->ac;

    op->state = NGX_HTTP_X402_REDIS_OP_FINISHED;

    if (ac != NULL) {
        ngx_http_x402_redis_set_err(srv, "timed out", NULL);
        ngx_http_x402_redis_failed(srv);
        ngx_http_x402_redis_detach(srv, "disconnected");
    }

    ngx_http_x402_io_timed(NGX_HTTP_X402_IO_REDIS, op->start, 1);

    op->done(op->data, NULL, "timed out");

    if (ac != NULL) {
        /* frees op too, via its NULL reply */
        redisAsyncFree(ac);

    } else {
        /* cannot happen: a sent op is always on the current context */
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "x402: redis %V: timed out without a connection",
                      &srv->name);
    }
}


static void
ngx_http_x402_redis_connect_handler(ngx_event_t *ev)
{
    redisAsyncContext          *ac;
    ngx_http_x402_redis_srv_t  *srv;

    srv = (ngx_http_x402_redis_srv_t *)
              ((u_char *) ev - offsetof(ngx_http_x402_redis_srv_t, connect));

    ac = srv->ac;

    if (ac == NULL) {
        return;
    }

    ngx_http_x402_redis_set_err(srv, "connect timed out", NULL);
    ngx_http_x402_redis_failed(srv);
    ngx_http_x402_redis_detach(srv, "connect timed out");

    redisAsyncFree(ac);
}


static void
ngx_http_x402_redis_post_handler(ngx_event_t *ev)
{
    void                         *data;
    const char                   *err;
    ngx_queue_t                   queue, *q;
    ngx_http_x402_redis_op_t     *op;
    ngx_http_x402_redis_srv_t    *srv;
    ngx_http_x402_redis_done_pt   done;

    srv = (ngx_http_x402_redis_srv_t *)
              ((u_char *) ev - offsetof(ngx_http_x402_redis_srv_t, post));

    if (ngx_queue_empty(&srv->refused)) {
        return;
    }

    /* commands refused by the done calls below wait for the next post */

    ngx_queue_init(&queue);
    ngx_queue_add(&queue, &srv->refused);
    ngx_queue_init(&srv->refused);

    while (!ngx_queue_empty(&queue)) {
        q = ngx_queue_head(&queue);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_x402_redis_op_t, queue);

        done = op->done;
        data = op->data;
        err = op->err;

        ngx_http_x402_io_timed(NGX_HTTP_X402_IO_REDIS, op->start, 1);

        ngx_free(op);

        done(data, NULL, err);
    }
}
