
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <curl/curl.h>

#include "ngx_http_x402_io.h"
#include "ngx_http_x402_curl.h"


/*
 * libcurl's multi_socket interface on nginx events
 * (docs/internals.md#foreign-sockets, #libcurl-on-nginx-events).
 *
 * Per worker: one CURLM (created by the first post), a timer event for
 * CURLMOPT_TIMERFUNCTION and a posted event for failures found inside
 * curl callbacks, both on a dummy connection with fd -1.  curl's sockets
 * are wrapped with ngx_get_connection() and registered level-triggered;
 * curl owns them: a wrapper is freed without closing its fd.
 *
 * Every transfer is a heap object (ngx_alloc) linked into a queue, so that
 * ngx_http_x402_curl_exit() can abort them; it is freed right after its
 * done callback.  done is only ever called from an nginx event handler
 * (socket, timer, posted event) or from exit, after curl has returned,
 * so it may start new transfers.
 *
 * Cancelability of the multi timer.  A cancelable timer does not hold a
 * worker during a graceful shutdown or reload: once only cancelable timers
 * are left the worker exits at once, exit_process aborts the transfers and
 * a transfer parked on a slow peer never completes
 * (docs/internals.md#the-cancelable-timer-trap).  So the multi timer is
 * NON-cancelable while at least one transfer is in flight, and cancelable
 * when curl has none (it then only guards connection-cache housekeeping).
 * This cannot hold a worker for ever: every transfer has
 * CURLOPT_TIMEOUT_MS, curl keeps its timer no later than the earliest
 * transfer deadline and ends the transfer there, so a graceful QUIT waits
 * at most for the longest remaining transfer timeout (and
 * worker_shutdown_timeout, when set, aborts the transfers whose sockets it
 * reaches).  Requests that wait on transfers still own their own
 * non-cancelable deadlines (docs/internals.md#bounded-waits), which alone
 * would keep such a transfer alive; this rule is what also lets background
 * transfers (settlement, no request) finish on a reload.  The flag is
 * updated whenever the in-flight count changes, the timer being set or not.
 *
 * Logging: the caller's log is used only inside ngx_http_x402_curl_post()
 * (it may belong to a request that ends before the transfer); later
 * messages go to ngx_cycle->log.  Request bodies are never logged and
 * URLs (which may carry an API key) only at debug level.
 */


#define NGX_HTTP_X402_CURL_KEEP  32     /* idle connections kept */
#define NGX_HTTP_X402_CURL_CONNECT_TIMEOUT  10000
#define NGX_HTTP_X402_CURL_REPLY_PREALLOC   4096


typedef struct {
    ngx_queue_t                   queue;
    CURL                         *easy;
    struct curl_slist            *headers;

    ngx_http_x402_curl_done_pt    done;
    void                         *data;

    u_char                       *url;        /* NUL-terminated copy */
    u_char                       *body;       /* copy of the POST body */

    u_char                       *reply;      /* NUL-terminated */
    size_t                        reply_len;
    size_t                        reply_size; /* allocated */
    size_t                        max_reply;

    ngx_msec_t                    start;      /* x402_rpc_duration_ms */
    const char                   *fail;       /* a failure found by us */
    unsigned                      abort:1;    /* to be aborted: see fail */

    char                          errbuf[CURL_ERROR_SIZE];
} ngx_http_x402_curl_transfer_t;


typedef struct {
    CURLM                        *multi;
    ngx_uint_t                    n;          /* transfers in flight */
    ngx_queue_t                   transfers;

    ngx_event_t                   timer;      /* CURLMOPT_TIMERFUNCTION */
    ngx_event_t                   abort;      /* posted: see abort_handler */

    unsigned                      global:1;   /* curl_global_init() done */
    unsigned                      exiting:1;
} ngx_http_x402_curl_worker_t;


static ngx_int_t ngx_http_x402_curl_init(ngx_log_t *log);
static ngx_int_t ngx_http_x402_curl_setup(ngx_http_x402_curl_transfer_t *t,
    size_t body_len, ngx_msec_t timeout);
static int ngx_http_x402_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_http_x402_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_x402_curl_socket_handler(ngx_event_t *ev);
static void ngx_http_x402_curl_timer_handler(ngx_event_t *ev);
static void ngx_http_x402_curl_abort_handler(ngx_event_t *ev);
static void ngx_http_x402_curl_fail(CURL *easy, const char *fail);
static void ngx_http_x402_curl_abort_all(const char *reason);
static void ngx_http_x402_curl_check(void);
static void ngx_http_x402_curl_act(curl_socket_t s, int mask);
static void ngx_http_x402_curl_finish(ngx_http_x402_curl_transfer_t *t,
    CURLcode code, const char *fail);
static void ngx_http_x402_curl_set_cancelable(void);
static size_t ngx_http_x402_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static void ngx_http_x402_curl_release_all(ngx_cycle_t *cycle,
    ngx_uint_t flags);
static void ngx_http_x402_curl_free(ngx_http_x402_curl_transfer_t *t);
static void ngx_http_x402_curl_clear_ssl_errors(void);


static ngx_http_x402_curl_worker_t  ngx_http_x402_curl;


ngx_int_t
ngx_http_x402_curl_post(ngx_log_t *log, ngx_str_t *url, ngx_str_t *body,
    ngx_msec_t timeout, size_t max_reply, ngx_http_x402_curl_done_pt done,
    void *data)
{
    CURLMcode                       mc;
    ngx_http_x402_curl_transfer_t  *t;

    if (ngx_http_x402_curl.exiting) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: curl: no new transfers, worker is exiting");
        return NGX_ERROR;
    }

    if (timeout == 0 || timeout > NGX_MAX_INT32_VALUE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: curl: invalid transfer timeout %M", timeout);
        return NGX_ERROR;
    }

    if (ngx_http_x402_curl.multi == NULL
        && ngx_http_x402_curl_init(log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_alloc(sizeof(ngx_http_x402_curl_transfer_t) + url->len + 1
                  + body->len, log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(t, sizeof(ngx_http_x402_curl_transfer_t));

    t->done = done;
    t->data = data;
    t->max_reply = max_reply;
    t->start = ngx_current_msec;

    t->url = (u_char *) t + sizeof(ngx_http_x402_curl_transfer_t);
    *ngx_cpymem(t->url, url->data, url->len) = '\0';

    t->body = t->url + url->len + 1;
    ngx_memcpy(t->body, body->data, body->len);

    if (ngx_http_x402_curl_setup(t, body->len, timeout) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: curl: cannot set up a transfer");
        ngx_http_x402_curl_free(t);
        return NGX_ERROR;
    }

    /*
     * curl_multi_add_handle() calls the timer callback synchronously (with
     * 0 ms), which must already see this transfer in flight to arm the
     * multi timer non-cancelable.  It never calls the socket callback and
     * never completes the transfer, so done cannot be called from here.
     */

    ngx_queue_insert_tail(&ngx_http_x402_curl.transfers, &t->queue);
    ngx_http_x402_curl.n++;
    ngx_http_x402_curl_set_cancelable();

    mc = curl_multi_add_handle(ngx_http_x402_curl.multi, t->easy);

    if (mc != CURLM_OK) {
        ngx_queue_remove(&t->queue);
        ngx_http_x402_curl.n--;
        ngx_http_x402_curl_set_cancelable();

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "x402: curl: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(mc));
        ngx_http_x402_curl_free(t);
        return NGX_ERROR;
    }

    /* the URL may carry an API key: debug level only; never the body */

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "x402: curl: POST %s, %uz bytes, timeout %M, %ui in flight",
                   t->url, body->len, timeout, ngx_http_x402_curl.n);

    return NGX_OK;
}


ngx_uint_t
ngx_http_x402_curl_in_flight(void)
{
    return ngx_http_x402_curl.n;
}


void
ngx_http_x402_curl_exit(ngx_cycle_t *cycle)
{
    ngx_http_x402_curl_worker_t  *w;

    w = &ngx_http_x402_curl;

    /* no new transfers from done callbacks or later exit_process handlers */

    w->exiting = 1;

    if (w->multi == NULL) {
        goto done;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->abort.posted) {
        ngx_delete_posted_event(&w->abort);
    }

    ngx_http_x402_curl_abort_all("worker exiting");

    /*
     * What is still wrapped belongs to curl's connection cache or resolver;
     * the fds are open, so the events can be deleted normally.  socketp is
     * reset first: curl_multi_cleanup() may report CURL_POLL_REMOVE for
     * these sockets and must not find a freed wrapper.
     */

    ngx_http_x402_curl_release_all(cycle, 0);

    (void) curl_multi_cleanup(w->multi);
    w->multi = NULL;

    ngx_http_x402_curl_clear_ssl_errors();

    /* curl has closed its sockets by now: no epoll_ctl() on them */

    ngx_http_x402_curl_release_all(cycle, NGX_CLOSE_EVENT);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

done:

    if (w->global) {
        curl_global_cleanup();
        w->global = 0;
    }
}


static ngx_int_t
ngx_http_x402_curl_init(ngx_log_t *log)
{
    CURLM                        *multi;
    CURLcode                      code;
    ngx_http_x402_curl_worker_t  *w;

    w = &ngx_http_x402_curl;

    if (!w->global) {
        code = curl_global_init(CURL_GLOBAL_DEFAULT);

        if (code != CURLE_OK) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "x402: curl: curl_global_init() failed: %s",
                          curl_easy_strerror(code));
            return NGX_ERROR;
        }

        w->global = 1;
    }

    multi = curl_multi_init();
    if (multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "x402: curl: curl_multi_init() failed");
        return NGX_ERROR;
    }

    if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION,
                          ngx_http_x402_curl_socket)
        != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION,
                             ngx_http_x402_curl_timer)
           != CURLM_OK
        /*
         * keep connections to the node for the next payments: curl's
         * default cache follows the transfers in flight, and closes what
         * a burst opened as soon as it ends
         */
        || curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                             (long) NGX_HTTP_X402_CURL_KEEP)
           != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "x402: curl: curl_multi_setopt() failed");
        (void) curl_multi_cleanup(multi);
        return NGX_ERROR;
    }

    ngx_queue_init(&w->transfers);
    w->n = 0;

    ngx_memzero(&w->timer, sizeof(ngx_event_t));
    w->timer.handler = ngx_http_x402_curl_timer_handler;
    w->timer.data = ngx_http_x402_io_dummy();
    w->timer.log = ngx_cycle->log;
    w->timer.cancelable = 1;

    ngx_memzero(&w->abort, sizeof(ngx_event_t));
    w->abort.handler = ngx_http_x402_curl_abort_handler;
    w->abort.data = ngx_http_x402_io_dummy();
    w->abort.log = ngx_cycle->log;

    w->multi = multi;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0, "x402: curl: multi created");

    return NGX_OK;
}


static ngx_int_t
ngx_http_x402_curl_setup(ngx_http_x402_curl_transfer_t *t, size_t body_len,
    ngx_msec_t timeout)
{
    long                connect_ms;
    CURL               *easy;
    struct curl_slist  *list;

    easy = curl_easy_init();
    if (easy == NULL) {
        return NGX_ERROR;
    }

    t->easy = easy;

    list = curl_slist_append(NULL, "Content-Type: application/json");
    if (list == NULL) {
        return NGX_ERROR;
    }

    t->headers = list;

    list = curl_slist_append(t->headers, "Accept: application/json");
    if (list == NULL) {
        return NGX_ERROR;
    }

    /* no "Expect: 100-continue" round trip for big bodies */

    list = curl_slist_append(t->headers, "Expect:");
    if (list == NULL) {
        return NGX_ERROR;
    }

    connect_ms = (long) ngx_min(timeout, NGX_HTTP_X402_CURL_CONNECT_TIMEOUT);

    if (curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_URL, (char *) t->url) != CURLE_OK
#if (LIBCURL_VERSION_NUM >= 0x075500)
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
#else
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
                            (long) (CURLPROTO_HTTP|CURLPROTO_HTTPS))
           != CURLE_OK
#endif
        || curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) timeout)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_USERAGENT, "ngx_x402") != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                            (curl_off_t) body_len)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (char *) t->body)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_http_x402_curl_write)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) != CURLE_OK)
    {
        return NGX_ERROR;
    }

    /* refuses a too long Content-Length before reading the body */

    if (t->max_reply > 0
        && t->max_reply <= (size_t) NGX_MAX_OFF_T_VALUE
        && curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t) t->max_reply)
           != CURLE_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * CURLMOPT_SOCKETFUNCTION.  Returning -1 would mark the whole multi handle
 * dead, so failures are pinned on the transfer and reported from a posted
 * event instead.
 */

static int
ngx_http_x402_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_connection_t  *c;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "x402: curl: socket %d, what %d, wrapped %p",
                   (int) s, what, c);

    if (what == CURL_POLL_REMOVE) {

        if (c != NULL) {
            ngx_http_x402_io_release(c, 0);
            (void) curl_multi_assign(ngx_http_x402_curl.multi, s, NULL);
        }

        return 0;
    }

    if (ngx_http_x402_curl.exiting) {
        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, ngx_cycle->log);
        if (c == NULL) {
            ngx_http_x402_curl_fail(easy, "worker_connections are not enough");
            return 0;
        }

        c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

        c->read->log = c->log;
        c->write->log = c->log;
        c->read->handler = ngx_http_x402_curl_socket_handler;
        c->write->handler = ngx_http_x402_curl_socket_handler;

        if (curl_multi_assign(ngx_http_x402_curl.multi, s, c) != CURLM_OK) {
            ngx_http_x402_io_release(c, 0);
            ngx_http_x402_curl_fail(easy, "curl_multi_assign() failed");
            return 0;
        }
    }

    if (ngx_http_x402_io_want(c->read, what & CURL_POLL_IN) != NGX_OK
        || ngx_http_x402_io_want(c->write, what & CURL_POLL_OUT) != NGX_OK)
    {
        ngx_http_x402_curl_fail(easy, "cannot add a socket event");
    }

    return 0;
}


/*
 * CURLMOPT_TIMERFUNCTION: -1 deletes the timer, 0 means "as soon as
 * possible" (the next event loop iteration).
 */

static int
ngx_http_x402_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_event_t  *ev;

    ev = &ngx_http_x402_curl.timer;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "x402: curl: multi timer %l", timeout_ms);

    /*
     * Always delete first: ngx_add_timer() keeps a timer already set when
     * the new expiry is within NGX_TIMER_LAZY_DELAY (300 ms) of it, and
     * "now" from curl would then wait for up to 300 ms.
     */

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (timeout_ms < 0 || ngx_http_x402_curl.exiting) {
        return 0;
    }

    ev->log = ngx_cycle->log;
    ev->cancelable = (ngx_http_x402_curl.n == 0);

    ngx_add_timer(ev, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_x402_curl_socket_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (c->close) {

        /*
         * worker_shutdown_timeout: nginx asks every connection to close;
         * abort the transfers, which makes curl drop its sockets.
         */

        c->close = 0;
        ngx_http_x402_curl_abort_all("worker shutting down");
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "x402: curl: socket %d %s", c->fd,
                   ev->write ? "writable" : "readable");

    /* c may be freed (CURL_POLL_REMOVE) inside: not used afterwards */

    ngx_http_x402_curl_act(c->fd, ev->write ? CURL_CSELECT_OUT
                                            : CURL_CSELECT_IN);
}


static void
ngx_http_x402_curl_timer_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "x402: curl: multi timer expired");

    ngx_http_x402_curl_act(CURL_SOCKET_TIMEOUT, 0);
}


/* Lets curl act on a socket (or its timeout), then completes what ended. */

static void
ngx_http_x402_curl_act(curl_socket_t s, int mask)
{
    int        running;
    CURLMcode  mc;

    mc = curl_multi_socket_action(ngx_http_x402_curl.multi, s, mask,
                                  &running);

    ngx_http_x402_curl_clear_ssl_errors();

    if (mc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "x402: curl: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(mc));
    }

    ngx_http_x402_curl_check();
}


/* completes the transfers marked by ngx_http_x402_curl_fail() */

static void
ngx_http_x402_curl_abort_handler(ngx_event_t *ev)
{
    ngx_queue_t                    *q;
    ngx_http_x402_curl_transfer_t  *t;

again:

    for (q = ngx_queue_head(&ngx_http_x402_curl.transfers);
         q != ngx_queue_sentinel(&ngx_http_x402_curl.transfers);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_x402_curl_transfer_t, queue);

        if (t->abort) {
            /* done may start or end other transfers: rescan */
            ngx_http_x402_curl_finish(t, CURLE_OK, t->fail);
            goto again;
        }
    }
}


/* called inside curl callbacks: only marks the transfer */

static void
ngx_http_x402_curl_fail(CURL *easy, const char *fail)
{
    char                           *p;
    ngx_http_x402_curl_transfer_t  *t;

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "x402: curl: %s", fail);

    p = NULL;

    if (easy == NULL
        || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK
        || p == NULL)
    {
        /* not a transfer of ours (e.g. curl's internal closure handle) */
        return;
    }

    t = (ngx_http_x402_curl_transfer_t *) p;

    if (t->abort) {
        return;
    }

    t->abort = 1;
    t->fail = fail;

    if (!ngx_http_x402_curl.abort.posted) {
        ngx_post_event(&ngx_http_x402_curl.abort, &ngx_posted_events);
    }
}


/*
 * Completes the transfers in flight now with NGX_ERROR; transfers that
 * their done callbacks start are left alone.
 */

static void
ngx_http_x402_curl_abort_all(const char *reason)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_x402_curl_transfer_t  *t;

    for (n = ngx_http_x402_curl.n; n; n--) {

        if (ngx_queue_empty(&ngx_http_x402_curl.transfers)) {
            break;
        }

        q = ngx_queue_head(&ngx_http_x402_curl.transfers);
        t = ngx_queue_data(q, ngx_http_x402_curl_transfer_t, queue);

        ngx_http_x402_curl_finish(t, CURLE_OK, reason);
    }
}


/* drains curl's completion messages, after every socket action */

static void
ngx_http_x402_curl_check(void)
{
    int        pending;
    char      *p;
    CURL      *easy;
    CURLMsg   *msg;
    CURLcode   code;

    for ( ;; ) {

        if (ngx_http_x402_curl.multi == NULL) {
            return;
        }

        msg = curl_multi_info_read(ngx_http_x402_curl.multi, &pending);
        if (msg == NULL) {
            return;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        /* msg is invalid once the handle is removed: copy what is needed */

        easy = msg->easy_handle;
        code = msg->data.result;

        p = NULL;
        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);

        if (p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "x402: curl: a transfer without state completed");
            (void) curl_multi_remove_handle(ngx_http_x402_curl.multi, easy);
            ngx_http_x402_curl_clear_ssl_errors();
            continue;
        }

        ngx_http_x402_curl_finish((ngx_http_x402_curl_transfer_t *) p, code,
                                  NULL);
    }
}


/*
 * Ends a transfer: takes it out of the multi handle (its connection goes
 * back to the cache), calls done exactly once, frees everything.  A
 * non-NULL fail overrides curl's result.
 */

static void
ngx_http_x402_curl_finish(ngx_http_x402_curl_transfer_t *t, CURLcode code,
    const char *fail)
{
    long         status;
    ngx_int_t    rc;
    ngx_str_t    body, *b;
    const char  *err;

    status = 0;

    if (fail == NULL && code == CURLE_OK) {
        (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    }

    (void) curl_multi_remove_handle(ngx_http_x402_curl.multi, t->easy);

    /* done may use nginx's SSL connections (e.g. answer a client) */

    ngx_http_x402_curl_clear_ssl_errors();

    ngx_queue_remove(&t->queue);
    ngx_http_x402_curl.n--;
    ngx_http_x402_curl_set_cancelable();

    b = NULL;

    if (fail != NULL) {
        rc = NGX_ERROR;
        err = fail;

    } else if (code == CURLE_OK) {
        rc = NGX_OK;
        err = NULL;

        body.len = t->reply_len;
        body.data = t->reply ? t->reply : (u_char *) "";
        b = &body;

    } else {
        rc = NGX_ERROR;

        if (t->fail != NULL) {
            err = t->fail;

        } else if (code == CURLE_FILESIZE_EXCEEDED) {
            err = "reply too large";

        } else if (t->errbuf[0] != '\0') {
            err = t->errbuf;

        } else {
            err = curl_easy_strerror(code);
        }
    }

    if (rc == NGX_OK) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "x402: curl: %s: status %l, %uz bytes",
                       t->url, status, t->reply_len);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "x402: curl: %s: failed (%d): %s",
                       t->url, (int) code, err);
    }

    ngx_http_x402_io_timed(NGX_HTTP_X402_IO_RPC, t->start,
                           rc != NGX_OK || status < 200 || status > 299);

    t->done(t->data, rc, (ngx_uint_t) status, b, err);

    ngx_http_x402_curl_free(t);
}


static void
ngx_http_x402_curl_set_cancelable(void)
{
    ngx_http_x402_curl.timer.cancelable = (ngx_http_x402_curl.n == 0);
}


/* CURLOPT_WRITEFUNCTION: collects the body, up to max_reply bytes */

static size_t
ngx_http_x402_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    size_t                          n, len;
    u_char                         *p;
    ngx_http_x402_curl_transfer_t  *t;

    t = userdata;
    n = size * nmemb;

    if (n > t->max_reply - t->reply_len) {
        t->fail = "reply too large";
        return 0;
    }

    if (t->reply_len + n + 1 > t->reply_size) {

        len = ngx_max(t->reply_size * 2, NGX_HTTP_X402_CURL_REPLY_PREALLOC);
        len = ngx_max(len, t->reply_len + n + 1);

        if (len - 1 > t->max_reply) {
            len = t->max_reply + 1;
        }

        p = ngx_alloc(len, ngx_cycle->log);
        if (p == NULL) {
            t->fail = "out of memory";
            return 0;
        }

        if (t->reply) {
            ngx_memcpy(p, t->reply, t->reply_len);
            ngx_free(t->reply);
        }

        t->reply = p;
        t->reply_size = len;
    }

    ngx_memcpy(t->reply + t->reply_len, ptr, n);
    t->reply_len += n;
    t->reply[t->reply_len] = '\0';

    return n;
}


static void
ngx_http_x402_curl_release_all(ngx_cycle_t *cycle, ngx_uint_t flags)
{
    ngx_uint_t         i;
    ngx_connection_t  *c;

    c = cycle->connections;

    for (i = 0; i < cycle->connection_n; i++) {

        if (c[i].fd == (ngx_socket_t) -1
            || c[i].read == NULL
            || c[i].read->handler != ngx_http_x402_curl_socket_handler)
        {
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                       "x402: curl: releasing socket %d", c[i].fd);

        if (ngx_http_x402_curl.multi != NULL) {
            (void) curl_multi_assign(ngx_http_x402_curl.multi, c[i].fd,
                                     NULL);
        }

        ngx_http_x402_io_release(&c[i], flags);
    }
}


static void
ngx_http_x402_curl_free(ngx_http_x402_curl_transfer_t *t)
{
    if (t->easy) {
        curl_easy_cleanup(t->easy);
        ngx_http_x402_curl_clear_ssl_errors();
    }

    if (t->headers) {
        curl_slist_free_all(t->headers);
    }

    if (t->reply) {
        ngx_free(t->reply);
    }

    ngx_free(t);
}


/*
 * curl and nginx share OpenSSL's per-thread error queue.  curl leaves
 * errors there (e.g. "shutdown while in init" after a failed handshake),
 * and nginx's next SSL call on any connection of the worker would report
 * them as "[alert] ignoring stale global SSL error".  curl has reported
 * its failures through the error buffer already: drop the queue after
 * every call into curl that may use TLS.
 */

static void
ngx_http_x402_curl_clear_ssl_errors(void)
{
#if (NGX_OPENSSL)
    ERR_clear_error();
#endif
}
