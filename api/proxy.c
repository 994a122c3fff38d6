#include "api/proxy.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/pool.h"
#include "api/req.h"
#include "api/serial.h"
#include "common/clock.h"
#include "common/defaults.h"
#include "common/log.h"

#define PROXY_BODY_MAX (16 * 1024 * 1024) /* an upstream answer larger than this is a fault, not data */

struct proxy {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    char *upstream;
    long timeout_ms;
    long active;
    CURL *blocking;            /* the loop's own easy handle for mode=blocking (keeps its connection) */
    struct proxy_xfer *xfers;  /* transfers in the multi, for proxy_free */
};

/* Where one proxied request stands. */
enum xfer_state {
    XFER_RUNNING, /* in the multi handle or on a pool thread */
    XFER_DONE,    /* curl finished; the reply is being written */
};

struct proxy_xfer {
    struct proxy *p;
    struct api_req *r;
    CURL *easy;
    struct evbuffer *body;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode result;
    long status;
    char content_type[128];
    bool too_large;
    atomic_bool cancelled; /* mode=thread: the client left before a thread took it */
    enum xfer_state state;
    struct proxy_xfer *prev, *next;
};

/* The libevent watch of one socket curl told us about. */
struct proxy_sock {
    struct event *ev;
    curl_socket_t fd;
};

static size_t xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct proxy_xfer *x = userdata;
    size_t n = size * nmemb;
    if (evbuffer_get_length(x->body) + n > PROXY_BODY_MAX) {
        x->too_large = true;
        return 0;
    }
    return evbuffer_add(x->body, ptr, n) == 0 ? n : 0;
}

static int xfer_setup(struct proxy_xfer *x, CURL *easy, const char *url, long timeout_ms)
{
    x->easy = easy;
    x->errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    return 0;
}

static struct proxy_xfer *xfer_new(struct proxy *p, struct api_req *r)
{
    struct proxy_xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->p = p;
    x->r = r;
    x->body = evbuffer_new();
    if (x->body == NULL) {
        free(x);
        return NULL;
    }
    return x;
}

static void xfer_free(struct proxy_xfer *x)
{
    evbuffer_free(x->body);
    free(x);
}

/* Reads what curl left in the handle, answers the client, frees x (not
 * the easy handle). */
static void xfer_reply(struct proxy_xfer *x)
{
    struct api_req *r = x->r;
    if (x->result == CURLE_OK) {
        size_t len = evbuffer_get_length(x->body);
        const void *data = len ? (const void *)evbuffer_pullup(x->body, -1) : (const void *)"";
        req_reply_raw(r, (int)x->status, x->content_type[0] ? x->content_type : "text/plain", data, len);
    } else if (x->result == CURLE_OPERATION_TIMEDOUT) {
        req_reply_error(r, 504, "upstream timed out after %ld ms", x->p->timeout_ms);
    } else if (x->too_large) {
        req_reply_error(r, 502, "upstream answer over %d bytes", PROXY_BODY_MAX);
    } else {
        req_reply_error(r, 502, "upstream failed: %s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
    }
    xfer_free(x);
}

static void xfer_collect(struct proxy_xfer *x, CURLcode result)
{
    char *ct = NULL;
    x->result = result;
    x->state = XFER_DONE;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(x->content_type, sizeof x->content_type, "%s", ct);
    if (result == CURLE_OK && (x->status < 100 || x->status > 599))
        x->result = CURLE_WEIRD_SERVER_REPLY;
}

static void xfer_unlink(struct proxy_xfer *x)
{
    struct proxy *p = x->p;
    if (x->prev)
        x->prev->next = x->next;
    else if (p->xfers == x)
        p->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    p->active--;
}

/* Finishes transfers after socket_action returned (never inside a curl
 * callback). The message is read before its handle is removed. */
static void proxy_check_multi(struct proxy *p)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
        struct proxy_xfer *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        xfer_collect(x, result);
        curl_multi_remove_handle(p->multi, easy);
        curl_easy_cleanup(easy);
        xfer_unlink(x);
        xfer_reply(x);
    }
}

static void proxy_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    int running;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(p->multi, fd, action, &running);
    proxy_check_multi(p);
}

static void proxy_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    int running;
    (void)fd;
    (void)what;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    proxy_check_multi(p);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms our one timer. */
static int proxy_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    struct proxy *p = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(p->timer);
    } else {
        struct timeval tv = clock_ms_timeval(timeout_ms);
        evtimer_add(p->timer, &tv);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: keeps one libevent event per socket curl uses. */
static int proxy_socket_fn(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct proxy *p = userp;
    struct proxy_sock *ps = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ps) {
            event_free(ps->ev);
            free(ps);
            curl_multi_assign(p->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (ps == NULL) {
        ps = calloc(1, sizeof *ps);
        if (ps == NULL)
            return -1;
        ps->fd = s;
        curl_multi_assign(p->multi, s, ps);
    } else {
        event_free(ps->ev);
    }
    ps->ev = event_new(p->base, s, kind, proxy_event_cb, p);
    if (ps->ev == NULL)
        return -1;
    return event_add(ps->ev, NULL);
}

struct proxy *proxy_new(struct event_base *base, const char *upstream, int64_t timeout_ms, long max_conns)
{
    struct proxy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->base = base;
    p->timeout_ms = (long)timeout_ms;
    p->upstream = strdup(upstream);
    p->multi = curl_multi_init();
    p->timer = evtimer_new(base, proxy_timer_cb, p);
    p->blocking = curl_easy_init();
    if (!p->upstream || !p->multi || !p->timer || !p->blocking)
        goto err;
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, proxy_socket_fn);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, proxy_timer_fn);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, max_conns);
    return p;
err:
    proxy_free(p);
    return NULL;
}

void proxy_free(struct proxy *p)
{
    if (p == NULL)
        return;
    while (p->xfers) {
        struct proxy_xfer *x = p->xfers;
        curl_multi_remove_handle(p->multi, x->easy);
        curl_easy_cleanup(x->easy);
        xfer_unlink(x);
        req_reply_error(x->r, 503, "server shutting down");
        xfer_free(x);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    if (p->timer)
        event_free(p->timer);
    if (p->blocking)
        curl_easy_cleanup(p->blocking);
    free(p->upstream);
    free(p);
}

long proxy_active(const struct proxy *p)
{
    return p->active;
}

/* The client left: abort its transfer (we are on the loop, outside curl). */
static void xfer_gone(struct api_req *r)
{
    struct proxy_xfer *x = r->data;
    if (x == NULL || x->state != XFER_RUNNING)
        return;
    curl_multi_remove_handle(x->p->multi, x->easy);
    curl_easy_cleanup(x->easy);
    xfer_unlink(x);
    xfer_free(x);
    req_reply_error(r, 499, "client closed the request");
}

static void proxy_start_async(struct proxy *p, struct api_req *r)
{
    struct proxy_xfer *x = xfer_new(p, r);
    CURL *easy = curl_easy_init();
    if (x == NULL || easy == NULL)
        goto err;
    xfer_setup(x, easy, p->upstream, p->timeout_ms);
    if (curl_multi_add_handle(p->multi, easy) != CURLM_OK)
        goto err;
    x->next = p->xfers;
    if (p->xfers)
        p->xfers->prev = x;
    p->xfers = x;
    p->active++;
    r->data = x;
    req_on_gone(r, xfer_gone);
    return;
err:
    if (easy)
        curl_easy_cleanup(easy);
    if (x)
        xfer_free(x);
    req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
}

/* mode=blocking: the whole transfer on the loop, as a 1-thread server would. */
static void proxy_blocking_run(void *arg)
{
    struct proxy_xfer *x = arg;
    if (req_client_gone(x->r)) {
        struct api_req *r = x->r;
        xfer_free(x);
        req_reply_error(r, 499, "client closed the request");
        return;
    }
    xfer_setup(x, x->p->blocking, x->p->upstream, x->p->timeout_ms);
    xfer_collect(x, curl_easy_perform(x->p->blocking));
    xfer_reply(x);
}

static void proxy_run_blocking(struct proxy *p, struct api_req *r)
{
    struct proxy_xfer *x = xfer_new(p, r);
    if (x == NULL || serial_submit(r->app->serial, proxy_blocking_run, x) != 0) {
        if (x)
            xfer_free(x);
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
    }
}

/* mode=thread: each pool thread keeps its own easy handle (and connection). */
static pthread_key_t thread_easy_key;
static pthread_once_t thread_easy_once = PTHREAD_ONCE_INIT;

static void thread_easy_free(void *easy)
{
    curl_easy_cleanup(easy);
}

static void thread_easy_init(void)
{
    pthread_key_create(&thread_easy_key, thread_easy_free);
}

static void thread_work(void *arg)
{
    struct proxy_xfer *x = arg;
    CURL *easy;
    if (atomic_load(&x->cancelled))
        return;
    pthread_once(&thread_easy_once, thread_easy_init);
    easy = pthread_getspecific(thread_easy_key);
    if (easy == NULL) {
        easy = curl_easy_init();
        if (easy == NULL || pthread_setspecific(thread_easy_key, easy) != 0) {
            if (easy)
                curl_easy_cleanup(easy);
            x->result = CURLE_OUT_OF_MEMORY;
            snprintf(x->errbuf, sizeof x->errbuf, MSG_OUT_OF_MEMORY);
            return;
        }
    }
    xfer_setup(x, easy, x->p->upstream, x->p->timeout_ms);
    xfer_collect(x, curl_easy_perform(easy));
}

static void thread_done(void *arg)
{
    struct proxy_xfer *x = arg;
    if (atomic_load(&x->cancelled) && x->state != XFER_DONE) {
        struct api_req *r = x->r;
        xfer_free(x);
        req_reply_error(r, 499, "client closed the request");
        return;
    }
    xfer_reply(x);
}

/* The pool still owns the transfer: only flag it. */
static void thread_gone(struct api_req *r)
{
    struct proxy_xfer *x = r->data;
    atomic_store(&x->cancelled, true);
}

void proxy_handle_io(struct proxy *p, struct api_req *r)
{
    char *mode = req_query(r, "mode");
    const char *m = mode ? mode : "async";
    if (strcmp(m, "async") == 0) {
        proxy_start_async(p, r);
    } else if (strcmp(m, "blocking") == 0) {
        proxy_run_blocking(p, r);
    } else if (strcmp(m, "thread") == 0) {
        struct proxy_xfer *x = xfer_new(p, r);
        if (x == NULL || pool_submit(r->app->pool, thread_work, thread_done, x) != 0) {
            if (x)
                xfer_free(x);
            req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        } else {
            r->data = x;
            req_on_gone(r, thread_gone);
        }
    } else {
        req_reply_error(r, 400, "mode: must be one of async, blocking, thread");
    }
    free(mode);
}
