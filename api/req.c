#include "api/req.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/conn.h"
#include "api/metrics.h"
#include "common/rconn.h"
#include "common/clock.h"
#include "common/defaults.h"
#include "common/job.h"

/* evhttp calls this while freeing the connection: only record the fact and
 * defer the handler's reaction to the loop. */
static void req_closed_cb(struct evhttp_connection *conn, void *arg)
{
    struct api_req *r = arg;
    conn_closing(r->app, conn);
    r->conn = NULL;
    r->client_gone = true;
    if (r->gone_ev)
        event_active(r->gone_ev, EV_TIMEOUT, 0);
}

static void req_gone_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_req *r = arg;
    (void)fd;
    (void)what;
    if (r->on_gone) {
        req_gone_fn *fn = r->on_gone;
        r->on_gone = NULL;
        fn(r);
    }
}

struct api_req *req_new(struct app *app, struct evhttp_request *req, enum route route)
{
    struct api_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->app = app;
    r->req = req;
    r->route = route;
    r->start_us = clock_mono_us();
    r->conn = evhttp_request_get_connection(req);
    if (r->conn) {
        evhttp_connection_set_closecb(r->conn, req_closed_cb, r);
        conn_request_seen(app, r->conn);
    }
    app->inflight++;
    return r;
}

/* evhttp stops reading a connection while its request is being handled,
 * so it would notice a client that hung up only when we write. We peek at
 * the socket ourselves: EOF or an error means the client is gone. */
static void req_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_req *r = arg;
    char c;
    ssize_t n;
    (void)what;
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return; /* a pipelined request: not a hang-up; stop watching */
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(r->watch_ev, NULL);
        return;
    }
    r->client_gone = true;
    if (r->gone_ev)
        event_active(r->gone_ev, EV_TIMEOUT, 0);
}

static evutil_socket_t req_fd(struct api_req *r)
{
    struct bufferevent *bev = r->conn ? evhttp_connection_get_bufferevent(r->conn) : NULL;
    return bev ? bufferevent_getfd(bev) : -1;
}

bool req_client_gone(struct api_req *r)
{
    evutil_socket_t fd;
    char c;
    ssize_t n;
    if (r->client_gone)
        return true;
    fd = req_fd(r);
    if (fd < 0)
        return false;
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        r->client_gone = true;
    return r->client_gone;
}

static void req_watch_start(struct api_req *r)
{
    evutil_socket_t fd;
    if (r->conn == NULL || r->watch_ev)
        return;
    fd = req_fd(r);
    if (fd < 0)
        return;
    r->watch_ev = event_new(r->app->base, fd, EV_READ, req_watch_cb, r);
    if (r->watch_ev)
        event_add(r->watch_ev, NULL);
}

void req_on_gone(struct api_req *r, req_gone_fn *fn)
{
    r->on_gone = fn;
    if (r->gone_ev == NULL) {
        r->gone_ev = event_new(r->app->base, -1, 0, req_gone_cb, r);
        if (r->gone_ev == NULL)
            r->on_gone = NULL; /* cannot watch: the handler simply finishes its work */
    }
    if (r->client_gone && r->gone_ev)
        event_active(r->gone_ev, EV_TIMEOUT, 0);
    else if (r->gone_ev)
        req_watch_start(r);
}

void req_add_header(struct api_req *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

/* The reason phrase of the codes libevent does not know (it says "Client
 * Error" for them); NULL lets libevent choose. */
static const char *req_reason(int code)
{
    switch (code) {
    case 422:
        return "Unprocessable Content"; /* RFC 9110 */
    case 429:
        return "Too Many Requests"; /* RFC 6585 */
    case 499:
        return "Client Closed Request"; /* nginx's */
    default:
        return NULL;
    }
}

static void req_finish(struct api_req *r, int code, struct evbuffer *body)
{
    struct app *app = r->app;
    metrics_observe(app->metrics, r->route, code, clock_mono_us() - r->start_us);
    if (r->conn) {
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
        conn_request_done(app, r->conn);
    }
    if (app->draining)
        req_add_header(r, "Connection", "close");
    if (body && r->route != ROUTE_METRICS && conn_output_full(app, evbuffer_get_length(body))) {
        /* (not /metrics: it must show the overload it is asked about; its
         * size is bounded by --max-queues) */
        /* clients that do not read already hold --max-output of answers */
        struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
        evbuffer_drain(body, evbuffer_get_length(body));
        evbuffer_add_printf(body,
                            "{\"error\":\"answers waiting for clients that do not read are over --max-output (%ld "
                            "bytes): retry later\"}\n",
                            app->cfg.max_output);
        evhttp_remove_header(h, "Content-Type");
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_add_header(h, "Retry-After", DEFAULTS_RETRY_AFTER_S);
        code = 503;
    }
    evhttp_send_reply(r->req, code, req_reason(code), body);
    if (r->gone_ev)
        event_free(r->gone_ev);
    if (r->watch_ev)
        event_free(r->watch_ev);
    app->inflight--;
    free(r);
}

void req_reply_raw(struct api_req *r, int code, const char *content_type, const void *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (content_type)
        req_add_header(r, "Content-Type", content_type);
    if (buf && len)
        evbuffer_add(buf, body, len);
    req_finish(r, code, buf);
    if (buf)
        evbuffer_free(buf);
}

void req_reply_buffer(struct api_req *r, int code, const char *content_type, struct evbuffer *body)
{
    if (content_type)
        req_add_header(r, "Content-Type", content_type);
    req_finish(r, code, body);
}

void req_reply_json(struct api_req *r, int code, json_t *body)
{
    char *text = NULL;
    if (body == NULL)
        body = json_object();
    if (body)
        text = json_dumps(body, JOB_JSON_DUMP_FLAGS);
    json_decref(body);
    if (text == NULL) {
        req_reply_raw(r, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\0';
    struct evbuffer *buf = evbuffer_new();
    req_add_header(r, "Content-Type", "application/json");
    if (buf) {
        evbuffer_add(buf, text, n);
        evbuffer_add(buf, "\n", 1);
    }
    free(text);
    req_finish(r, code, buf);
    if (buf)
        evbuffer_free(buf);
}

void req_reply_error(struct api_req *r, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    req_reply_json(r, code, json_pack("{s:s}", "error", msg));
}

void req_reply_no_job(struct api_req *r, const char *id, const char *why)
{
    req_reply_error(r, 404, "no job with id %s (%s)", id, why);
}

void req_reply_unavailable(struct api_req *r)
{
    struct rconn *redis = r->app->redis;
    const char *refused = redis ? rconn_refused(redis) : "";
    const char *why = redis ? rconn_down_reason(redis) : "";
    req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
    if (refused[0])
        req_reply_error(r, 503, "%s", refused);
    else if (why[0])
        req_reply_error(r, 503, "redis unavailable (%s), retry later", why);
    else
        req_reply_error(r, 503, "redis unavailable, retry later");
}

int req_body(struct api_req *r, const char **body, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    *len = evbuffer_get_length(in);
    if ((long)*len > r->app->cfg.max_body) {
        req_reply_error(r, 413, "body of %zu bytes is over --max-body (%ld bytes)", *len, r->app->cfg.max_body);
        return -1;
    }
    *body = *len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (*body == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return -1;
    }
    return 0;
}

void req_body_done(struct api_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    evbuffer_drain(in, evbuffer_get_length(in));
}

char *req_query(struct api_req *r, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params;
    const char *v;
    char *out = NULL;
    if (q == NULL)
        return NULL;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(q, &params) != 0) {
        evhttp_clear_headers(&params);
        return NULL;
    }
    v = evhttp_find_header(&params, name);
    if (v)
        out = strdup(v);
    evhttp_clear_headers(&params);
    return out;
}

int req_wait_ms(struct api_req *r, double max_s, int64_t *ms)
{
    char *v = req_query(r, "wait");
    char *end;
    double s;
    *ms = 0;
    if (v == NULL)
        return 0;
    s = strtod(v, &end);
    if (end == v || *end != '\0' || !isfinite(s) || s < 0 || s > max_s) {
        free(v);
        return -1;
    }
    free(v);
    *ms = (int64_t)(s * 1000.0 + 0.5);
    return 0;
}
