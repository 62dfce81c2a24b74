
/*
 * Copyright (C) ngx_x402 authors
 */


#ifndef _NGX_HTTP_X402_CURL_H_INCLUDED_
#define _NGX_HTTP_X402_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * An HTTP POST client on libcurl's multi_socket interface, driven by
 * nginx events and timers of the worker: JSON-RPC to the chain node and
 * calls to a facilitator.  It never blocks and never needs a request: a
 * transfer belongs to whoever passed `data`, which may outlive or
 * forget the request that started it.
 *
 * Per worker: one CURLM, created lazily on the first post, destroyed in
 * ngx_http_x402_curl_exit().  Sockets are wrapped with ngx_get_connection
 * and registered level-triggered; curl owns (and closes) them.
 */


/*
 * The completion of one transfer, called exactly once per successful
 * ngx_http_x402_curl_post(), never from inside it.
 *   rc:      NGX_OK when an HTTP response arrived (any status),
 *            NGX_ERROR otherwise (connect failure, timeout, reply too large);
 *   status:  the HTTP status, 0 when rc is NGX_ERROR;
 *   body:    the response body (valid only during the call; NUL-terminated
 *            for convenience, the NUL not counted in len), or NULL;
 *   err:     a short description of a failure for logs (e.g. curl's
 *            "Operation timed out after 300 milliseconds"), or NULL.
 */
typedef void (*ngx_http_x402_curl_done_pt)(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body, const char *err);


/*
 * Starts a POST of `body` (copied) with Content-Type: application/json to
 * `url` (copied), with a hard `timeout` for the whole transfer and a cap of
 * `max_reply` bytes on the response body.  Returns NGX_OK (done will be
 * called later) or NGX_ERROR (done will not be called; the reason is
 * logged to `log`).  `timeout` must be at least 1 ms: a transfer never
 * waits unbounded.  `log` is used only during this call (it may belong to
 * a request that ends first); later messages go to ngx_cycle->log.  No
 * redirects are followed, only http and https URLs are accepted.
 */
ngx_int_t ngx_http_x402_curl_post(ngx_log_t *log, ngx_str_t *url,
    ngx_str_t *body, ngx_msec_t timeout, size_t max_reply,
    ngx_http_x402_curl_done_pt done, void *data);

/* The number of transfers in flight in this worker. */
ngx_uint_t ngx_http_x402_curl_in_flight(void);

/* exit_process: abort transfers (their done is called with NGX_ERROR),
 * free the multi handle and every wrapped connection. */
void ngx_http_x402_curl_exit(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_X402_CURL_H_INCLUDED_ */
