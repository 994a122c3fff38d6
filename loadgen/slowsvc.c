/* slowsvc: the slow upstream. Answers every request "200 done" after a delay
 * kept on an event timer, so one thread holds thousands of waiting requests.
 * Query knobs for tests: ?delay_ms=N overrides the delay, ?status=N answers
 * with that status, ?close=1 closes the connection without answering. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/defaults.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "common/sys.h"
#include "common/url.h"
#include "loadgen/flags.h"

#define SLOWSVC_BODY "done"
/* The kernel caps this at net.core.somaxconn; asking high lets thousands of
 * clients connect at once without SYN retries. */
#define SLOWSVC_BACKLOG 65535
#define SLOWSVC_DELAY_MAX_MS 3600000 /* an hour: longer is a mistake, not a test */
/* Idle keep-alive connections are dropped after this long. */
#define SLOWSVC_IDLE_TIMEOUT_S 120

struct slowsvc;

/* One request waiting for its timer. Lives on the server's pending list from
 * the request callback until its reply is sent or the server shuts down. */
struct pending {
    struct event timer;
    struct evhttp_request *req;
    struct slowsvc *svc;
    struct pending *prev, *next;
    int status;
    bool close;
};

struct slowsvc {
    struct event_base *base;
    struct evhttp *http;
    long delay_ms;
    const struct timeval *common_delay; /* libevent's O(1) queue for the default delay */
    struct pending *pending;            /* doubly linked, newest first */
    unsigned long long served, closed;
};

/* Reason phrases for the statuses tests ask for; others get a generic one. */
static const char *slowsvc_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void pending_unlink(struct pending *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->svc->pending = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
}

/* Sends the answer for req (which evhttp then frees): "done" with status, or,
 * for close, shuts the socket down so the client sees the connection end
 * without a response. */
static void slowsvc_answer(struct slowsvc *svc, struct evhttp_request *req, int status, bool close)
{
    if (close) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
        if (bev != NULL)
            shutdown(bufferevent_getfd(bev), SHUT_RDWR);
        svc->closed++;
        /* The reply cannot reach the client any more; sending it lets evhttp
         * notice the dead socket and free the request and connection. */
    } else {
        svc->served++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
        evbuffer_add_reference(evhttp_request_get_output_buffer(req), SLOWSVC_BODY,
                               sizeof SLOWSVC_BODY - 1, NULL, NULL);
    }
    evhttp_send_reply(req, status, slowsvc_reason(status), NULL);
}

static void slowsvc_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    pending_unlink(p);
    slowsvc_answer(p->svc, p->req, p->status, p->close);
    free(p);
}

/* Parses a non-negative integer query value; -1 when absent or invalid. */
static long query_long(const struct evkeyvalq *q, const char *key, long max)
{
    const char *v = evhttp_find_header(q, key);
    if (v == NULL || *v == '\0')
        return -1;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 0 || n > max)
        return -1;
    return n;
}

static void slowsvc_on_request(struct evhttp_request *req, void *arg)
{
    struct slowsvc *svc = arg;
    long delay = svc->delay_ms;
    int status = 200;
    bool close = false;

    const char *uri = evhttp_request_get_uri(req);
    const char *query = uri != NULL ? strchr(uri, '?') : NULL;
    if (query != NULL) {
        struct evkeyvalq q = {0};
        if (evhttp_parse_query_str(query + 1, &q) == 0) {
            long n = query_long(&q, "delay_ms", SLOWSVC_DELAY_MAX_MS);
            if (n >= 0)
                delay = n;
            n = query_long(&q, "status", 599);
            if (n >= 100)
                status = (int)n;
            close = query_long(&q, "close", 1) == 1;
        }
        evhttp_clear_headers(&q);
    }

    if (delay == 0) { /* no timer round: the benchmark's trivial server */
        slowsvc_answer(svc, req, status, close);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        log_error(MSG_OUT_OF_MEMORY, NULL);
        evhttp_send_error(req, 503, "Out of memory");
        return;
    }
    p->req = req;
    p->svc = svc;
    p->status = status;
    p->close = close;
    struct timeval tv = clock_ms_timeval(delay);
    const struct timeval *when = delay == svc->delay_ms && svc->common_delay != NULL ? svc->common_delay : &tv;
    if (evtimer_assign(&p->timer, svc->base, slowsvc_on_timer, p) != 0 || evtimer_add(&p->timer, when) != 0) {
        free(p);
        evhttp_send_error(req, 503, "Timer failed");
        return;
    }
    p->next = svc->pending;
    if (p->next != NULL)
        p->next->prev = p;
    svc->pending = p;
}

static void slowsvc_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct slowsvc *svc = arg;
    log_info("stopping", "signal=%d", (int)sig);
    event_base_loopexit(svc->base, NULL);
}

int main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:8081";
    long delay_ms = 500;
    const struct opt opts[] = {
        {"listen", 0, "SLOWSVC_LISTEN", OPT_STR, &listen_addr, 0, 0, "address to listen on (127.0.0.1:8081)"},
        {"delay-ms", 0, "SLOWSVC_DELAY_MS", OPT_INT, &delay_ms, 0, SLOWSVC_DELAY_MAX_MS,
         "milliseconds before each answer (500); per request: ?delay_ms=N"},
    };
    const struct config_spec spec = {
        .prog = "slowsvc",
        .usage = "slowsvc [--listen ADDR] [--delay-ms N]",
        .about = "Slow upstream: answers every request \"200 done\" after a delay, without blocking. "
                 "Query knobs: ?delay_ms=N, ?status=N, ?close=1 (close without answering).",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
        .allow_positional = false,
    };
    char err[512];
    int first;
    int exit_code = flags_parse(&spec, argc, argv, &first);
    if (exit_code >= 0)
        return exit_code;
    char host[URL_HOST_MAX];
    int port;
    if (addr_parse(listen_addr, host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, "slowsvc: --listen: %s\n", err);
        return 2;
    }

    log_init("slowsvc");
    signal(SIGPIPE, SIG_IGN);
    long nofile = sys_raise_nofile();

    int rc = 1;
    int fd = -1;
    struct slowsvc svc = {.delay_ms = delay_ms};
    struct event *sigint = NULL, *sigterm = NULL;

    /* A precise clock: libevent's default coarse clock lags by up to a
     * jiffy, so a 100 ms answer could leave after 96 ms and a client would
     * measure less than the delay it asked for. */
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        goto err;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    svc.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (svc.base == NULL)
        goto err;
    svc.http = evhttp_new(svc.base);
    if (svc.http == NULL)
        goto err;
    evhttp_set_allowed_methods(svc.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(svc.http, SLOWSVC_IDLE_TIMEOUT_S);
    evhttp_set_gencb(svc.http, slowsvc_on_request, &svc);
    struct timeval tv = clock_ms_timeval(delay_ms);
    svc.common_delay = event_base_init_common_timeout(svc.base, &tv);

    int bound_port = port;
    fd = sys_listen(host, port, 0, SLOWSVC_BACKLOG, &bound_port, err, sizeof err);
    if (fd < 0) {
        log_error("listen failed", "error=\"%s\"", err);
        goto err;
    }
    if (evhttp_accept_socket_with_handle(svc.http, fd) == NULL) {
        log_error("evhttp_accept_socket failed", NULL);
        goto err;
    }
    fd = -1; /* evhttp owns it now */

    sigint = evsignal_new(svc.base, SIGINT, slowsvc_on_signal, &svc);
    sigterm = evsignal_new(svc.base, SIGTERM, slowsvc_on_signal, &svc);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 || evsignal_add(sigterm, NULL) != 0)
        goto err;

    log_info("listening", "addr=%s port=%d delay_ms=%ld nofile=%ld", host, bound_port, delay_ms, nofile);
    if (event_base_dispatch(svc.base) < 0)
        goto err;
    log_info("stopped", "served=%llu closed=%llu", svc.served, svc.closed);
    rc = 0;
err:
    /* A waiting request whose client is still connected is freed by
     * evhttp_free with its connection; one whose client left was detached by
     * evhttp and is ours to free. */
    while (svc.pending != NULL) {
        struct pending *p = svc.pending;
        svc.pending = p->next;
        event_del(&p->timer);
        if (evhttp_request_get_connection(p->req) == NULL)
            evhttp_request_free(p->req);
        free(p);
    }
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (svc.http != NULL)
        evhttp_free(svc.http);
    if (fd >= 0)
        close(fd);
    if (svc.base != NULL)
        event_base_free(svc.base);
    return rc;
}
