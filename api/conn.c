#include "api/conn.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api/accept.h"
#include "api/app.h"
#include "api/framing.h"
#include "common/clock.h"
#include "common/defaults.h"
#include "common/log.h"

#define CONN_SWEEP_MS 500 /* how soon a closed connection evhttp did not report stops counting */
#define CONN_HEAD_MAX 16384 /* what a connection may always hold: a request head (evhttp's limit too) */
#define CONN_SMALL_ANSWER 8192 /* answers this small are never refused for --max-output */
#define CONN_REJECT_LOG_MS 1000 /* at most one log line a second for refused bodies */

/* A guard learns of its connection's end from evhttp's close callback, which
 * evhttp calls before it closes the socket, whether it frees the connection
 * or resets it. evhttp 2.1 offers no hook when it accepts a connection, so
 * the guard finds the evhttp_connection as its bufferevent's callback
 * argument (evhttp_connection_base_bufferevent_new sets it). A connection
 * has one close callback, and api/req.c takes it while a request is being
 * handled (evhttp does not read the connection then, so it closes it only
 * after the answer, when the callback is ours again). A guard without the
 * callback knows its socket by descriptor and inode, which no later socket
 * on the same descriptor shares: the sweep drops it once that socket is
 * gone, and a stale guard is never acted on. */
enum guard_state {
    GUARD_PENDING, /* accepted; the descriptor is known once adopted (same loop iteration) */
    GUARD_TRACKED, /* in the table with our close callback, which releases it */
    GUARD_SWEPT,   /* in the table without it (lent to a request, or evcon not found): swept */
};

struct conn_guard {
    struct conn_table *t;
    enum guard_state state;
    struct bufferevent *bev;         /* GUARD_PENDING only */
    struct evhttp_connection *evcon; /* evhttp's; NULL until known */
    evutil_socket_t fd;
    ino_t ino;
    struct event *adopt_ev;
    struct event *timer;
    /* The bytes it holds, counted by callbacks on its bufferevent's buffers
     * until the guard is released (they are removed then, bev still valid). */
    struct bufferevent *bev_metered;
    struct evbuffer_cb_entry *in_cb, *out_cb;
    size_t in_held;  /* received for the request being read */
    size_t out_held; /* answers written and not yet sent */
    bool refused;    /* answered 503 or 400 on the socket: what it sends is discarded */
    struct framing framing; /* where its requests begin and end, to judge chunk sizes */
};

struct conn_table {
    struct app *app;
    struct conn_guard **by_fd;
    size_t cap;
    long live;      /* guards alive, pending ones included: the open connections */
    long swept;     /* GUARD_SWEPT guards in by_fd */
    struct event *sweep;
    struct accept_gate *gate;
    size_t in_total, out_total;  /* the sums of in_held and out_held */
    unsigned long refused;       /* requests answered 503 for --max-body-total */
    unsigned long refused_logged;
    int64_t refused_log_us;
};

static void conn_sweep_cb(evutil_socket_t fd, short what, void *arg);

struct conn_table *conn_table_new(struct app *app)
{
    struct conn_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->app = app;
    t->gate = accept_gate_new(app, &t->live);
    t->sweep = evtimer_new(app->base, conn_sweep_cb, t);
    if (t->gate == NULL || t->sweep == NULL)
        goto err;
    return t;
err:
    conn_table_free(t);
    return NULL;
}

int conn_table_listen(struct conn_table *t)
{
    return accept_gate_attach(t->gate);
}

/* Stops counting g's bytes. Its bufferevent must still exist. */
static void guard_unmeter(struct conn_guard *g)
{
    struct conn_table *t = g->t;
    if (g->bev_metered == NULL)
        return;
    if (g->in_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(g->bev_metered), g->in_cb);
    if (g->out_cb)
        evbuffer_remove_cb_entry(bufferevent_get_output(g->bev_metered), g->out_cb);
    t->in_total -= g->in_held;
    t->out_total -= g->out_held;
    g->in_held = g->out_held = 0;
    g->in_cb = g->out_cb = NULL;
    g->bev_metered = NULL;
}

/* Frees g and its events; the table and the count are the caller's. */
static void guard_free(struct conn_guard *g)
{
    if (g->adopt_ev)
        event_free(g->adopt_ev);
    if (g->timer)
        event_free(g->timer);
    free(g);
}

/* After evhttp_free, which called the close callback of every tracked
 * guard: what is left is swept ones. None is pending: a guard is adopted in
 * the loop iteration of its accept. */
void conn_table_free(struct conn_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->by_fd[i])
            guard_free(t->by_fd[i]);
    if (t->sweep)
        event_free(t->sweep);
    accept_gate_free(t->gate);
    free(t->by_fd);
    free(t);
}

long conn_count(const struct conn_table *t)
{
    return t->live;
}

static bool guard_current(const struct conn_guard *g)
{
    struct stat st;
    return (size_t)g->fd < g->t->cap && g->t->by_fd[g->fd] == g && fstat(g->fd, &st) == 0 && st.st_ino == g->ino;
}

/* Its connection is gone: out of the table and the count, freed, and the
 * accept gate told a slot came free. */
static void guard_release(struct conn_guard *g)
{
    struct conn_table *t = g->t;
    if (g->state != GUARD_PENDING && (size_t)g->fd < t->cap && t->by_fd[g->fd] == g)
        t->by_fd[g->fd] = NULL;
    if (g->state == GUARD_SWEPT)
        t->swept--;
    t->in_total -= g->in_held; /* 0 once unmetered; else its buffers went unseen */
    t->out_total -= g->out_held;
    t->live--;
    guard_free(g);
    accept_gate_closed(t->gate);
}

/* evhttp is about to close evcon's socket: the connection stops counting. */
static void conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
    evhttp_connection_set_closecb(evcon, NULL, NULL); /* a reset, then a free, would call it twice */
    guard_unmeter(arg);
    guard_release(arg);
}

static void guard_track(struct conn_guard *g, struct evhttp_connection *evcon)
{
    if (g->state == GUARD_SWEPT)
        g->t->swept--;
    g->state = GUARD_TRACKED;
    g->evcon = evcon;
    evhttp_connection_set_closecb(evcon, conn_close_cb, g);
}

static void sweep_soon(struct conn_table *t)
{
    struct timeval tv = clock_ms_timeval(CONN_SWEEP_MS);
    if (!evtimer_pending(t->sweep, NULL))
        evtimer_add(t->sweep, &tv);
}

/* g no longer has our close callback (its evcon may be NULL). */
static void guard_untrack(struct conn_guard *g, struct evhttp_connection *evcon)
{
    if (g->state != GUARD_SWEPT)
        g->t->swept++;
    g->state = GUARD_SWEPT;
    g->evcon = evcon;
    sweep_soon(g->t);
}

/* Drops the swept guards whose socket is gone. */
static void conn_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn_table *t = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < t->cap && t->swept > 0; i++) {
        struct conn_guard *g = t->by_fd[i];
        if (g && g->state == GUARD_SWEPT && !guard_current(g))
            guard_release(g);
    }
    if (t->swept > 0)
        sweep_soon(t);
}

static void conn_arm(struct conn_guard *g)
{
    int64_t ms = g->t->app->cfg.header_timeout_ms;
    struct timeval tv = clock_ms_timeval(ms);
    evtimer_add(g->timer, &tv);
}

/* Time is up: if the socket is still the one we guard, shut it so evhttp
 * sees EOF and frees the connection itself (which releases a tracked guard). */
static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn_guard *g = arg;
    (void)fd;
    (void)what;
    if (guard_current(g)) {
        log_debug("closing slow connection", "fd=%d", (int)g->fd);
        shutdown(g->fd, SHUT_RDWR);
    }
    if (g->state != GUARD_TRACKED)
        guard_release(g);
}

/* The evhttp_connection that owns bev, or NULL: evhttp 2.1 makes it the
 * callback argument of its bufferevent, which points back to it. */
static struct evhttp_connection *bev_evcon(struct bufferevent *bev)
{
    bufferevent_data_cb readcb = NULL;
    void *arg = NULL;
    bufferevent_getcb(bev, &readcb, NULL, NULL, &arg);
    if (readcb == NULL || arg == NULL || evhttp_connection_get_bufferevent(arg) != bev)
        return NULL;
    return arg;
}

/* Room in t->by_fd for fd. 0, or -1 when out of memory. */
static int table_fit(struct conn_table *t, evutil_socket_t fd)
{
    size_t cap = t->cap ? t->cap : 1024;
    struct conn_guard **nb;
    if ((size_t)fd < t->cap)
        return 0;
    while (cap <= (size_t)fd)
        cap *= 2;
    nb = realloc(t->by_fd, cap * sizeof *nb);
    if (nb == NULL)
        return -1;
    memset(nb + t->cap, 0, (cap - t->cap) * sizeof *nb);
    t->by_fd = nb;
    t->cap = cap;
    return 0;
}

/* Runs in the same loop iteration as the accept, after evhttp gave the
 * bufferevent its descriptor and before any I/O on it is processed. */
static void conn_adopt_cb(evutil_socket_t unused, short what, void *arg)
{
    struct conn_guard *g = arg;
    struct conn_table *t = g->t;
    struct evhttp_connection *evcon;
    struct stat st;
    struct bufferevent *bev = g->bev;
    bufferevent_data_cb readcb = NULL;
    (void)unused;
    (void)what;
    bufferevent_getcb(bev, &readcb, NULL, NULL, NULL);
    if (readcb == NULL) {
        /* evhttp freed it already (setfd or epoll failed: bufferevent_free
         * clears the callbacks); our reference kept its memory */
        guard_unmeter(g);
        g->bev = NULL;
        guard_release(g);
        bufferevent_decref(bev);
        return;
    }
    g->fd = bufferevent_getfd(bev);
    evcon = bev_evcon(bev);
    if (evcon == NULL)
        guard_unmeter(g); /* no close callback will tell when its buffers go */
    g->bev = NULL;
    bufferevent_decref(bev); /* evhttp owns it now; the close callback tells when it goes */
    if (g->fd < 0 || fstat(g->fd, &st) != 0 || table_fit(t, g->fd) != 0) {
        guard_unmeter(g); /* evhttp's reference keeps the bufferevent */
        guard_release(g); /* pending: only the count to undo */
        return;
    }
    g->ino = st.st_ino;
    /* A guard still here is a swept one whose connection closed (a tracked
     * one leaves before evhttp closes its socket): the descriptor was reused. */
    if (t->by_fd[g->fd])
        guard_release(t->by_fd[g->fd]);
    t->by_fd[g->fd] = g;
    if (evcon)
        guard_track(g, evcon);
    else
        guard_untrack(g, NULL);
    conn_arm(g);
}

static void conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn_guard *g = arg;
    (void)buf;
    g->out_held += info->n_added;
    g->out_held -= info->n_deleted;
    g->t->out_total += info->n_added;
    g->t->out_total -= info->n_deleted;
}

/* Answers past evhttp, straight on the socket (evhttp is reading a body
 * and writes nothing meanwhile), then half-closes: the client reads the
 * answer and EOF, and what it still sends is discarded, never held. */
static void guard_answer_close(struct conn_guard *g, struct evbuffer *in, const char *status, const char *error)
{
    char head[256];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sConnection: close\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        status, status[0] == '5' ? "Retry-After: " DEFAULTS_RETRY_AFTER_S "\r\n" : "", strlen(error));
    evutil_socket_t fd = bufferevent_getfd(g->bev_metered);
    g->t->in_total -= g->in_held;
    g->in_held = 0;
    g->refused = true;
    evbuffer_drain(in, evbuffer_get_length(in));
    if (fd >= 0) {
        send(fd, head, (size_t)hlen, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
        send(fd, error, strlen(error), MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(fd, SHUT_WR);
    }
}

/* The request that takes the bodies in progress past --max-body-total. */
static void guard_refuse(struct conn_guard *g, struct evbuffer *in)
{
    struct conn_table *t = g->t;
    char error[256];
    int64_t now = clock_mono_us();
    snprintf(error, sizeof error,
             "{\"error\":\"request bodies in progress hold over --max-body-total (%ld bytes): retry later\"}\n",
             t->app->cfg.max_body_total);
    guard_answer_close(g, in, "503 Service Unavailable", error);
    t->refused++;
    if (now - t->refused_log_us >= CONN_REJECT_LOG_MS * 1000) {
        log_warn("request body refused: over --max-body-total", "max_body_total=%ld held=%zu refused=%lu since_last=%lu",
                 t->app->cfg.max_body_total, t->in_total, t->refused, t->refused - t->refused_logged);
        t->refused_log_us = now;
        t->refused_logged = t->refused;
    }
}

/* Feeds the `added` bytes just appended to `in` to the connection's framing. */
static enum framing_verdict guard_follow(struct conn_guard *g, struct evbuffer *in, size_t added)
{
    struct evbuffer_ptr at;
    struct evbuffer_iovec v[8];
    size_t len = evbuffer_get_length(in);
    if (g->framing.state == FRAMING_LOST || added > len ||
        evbuffer_ptr_set(in, &at, len - added, EVBUFFER_PTR_SET) != 0)
        return FRAMING_OK;
    while (added > 0) {
        int n = evbuffer_peek(in, (ev_ssize_t)added, &at, v, 8);
        size_t done = 0;
        if (n <= 0)
            break;
        for (int i = 0; i < n && i < 8 && done < added; i++) {
            size_t take = v[i].iov_len < added - done ? v[i].iov_len : added - done;
            if (framing_feed(&g->framing, v[i].iov_base, take) == FRAMING_BAD_CHUNK)
                return FRAMING_BAD_CHUNK;
            done += take;
        }
        added -= done;
        if (added == 0 || evbuffer_ptr_set(in, &at, done, EVBUFFER_PTR_ADD) != 0)
            break;
    }
    return FRAMING_OK;
}

/* Counts what a connection received for the request being read; the one
 * that takes the total of all of them past --max-body-total while holding
 * more than a request head is answered 503. */
static void conn_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn_guard *g = arg;
    struct conn_table *t = g->t;
    if (info->n_added == 0)
        return;
    if (g->refused) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    g->in_held += info->n_added;
    t->in_total += info->n_added;
    if (g->bev_metered == NULL)
        return;
    if (t->in_total > (size_t)t->app->cfg.max_body_total && g->in_held > CONN_HEAD_MAX) {
        guard_refuse(g, buf);
        return;
    }
    if (guard_follow(g, buf, info->n_added) == FRAMING_BAD_CHUNK)
        guard_answer_close(g, buf, "400 Bad Request",
                           "{\"error\":\"chunked body: a chunk-size line that is not a hex size (chunk extensions are not supported)\"}\n");
}

struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
    struct app *app = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn_guard *g = calloc(1, sizeof *g);
    if (bev == NULL || g == NULL)
        goto err;
    g->t = app->conns;
    g->state = GUARD_PENDING;
    g->bev = bev;
    g->adopt_ev = event_new(base, -1, 0, conn_adopt_cb, g);
    g->timer = evtimer_new(base, conn_timeout_cb, g);
    if (g->adopt_ev == NULL || g->timer == NULL)
        goto err;
    g->bev_metered = bev;
    framing_init(&g->framing);
    g->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_in_cb, g);
    g->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), conn_out_cb, g);
    if (g->in_cb == NULL || g->out_cb == NULL)
        goto err;
    bufferevent_incref(bev); /* alive until adopted, even if evhttp frees it first */
    event_active(g->adopt_ev, EV_TIMEOUT, 0);
    g->t->live++;
    accept_gate_opened(g->t->gate); /* may stop accepting: we run inside the listener's callback */
    return bev;
err:
    if (g) {
        guard_unmeter(g);
        guard_free(g);
    }
    return bev; /* unguarded and uncounted, but served; NULL makes evhttp create its own */
}

/* evcon's guard, or NULL (none, or a stale one on its descriptor). */
static struct conn_guard *conn_find(struct app *app, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn_table *t = app->conns;
    struct conn_guard *g;
    if (fd < 0 || (size_t)fd >= t->cap)
        return NULL;
    g = t->by_fd[fd];
    if (g == NULL || g->evcon == evcon || (g->evcon == NULL && guard_current(g)))
        return g;
    return NULL;
}

/* Called right after api/req.c made the connection's close callback its
 * own: the guard is swept until conn_request_done gives it back. */
void conn_request_seen(struct app *app, struct evhttp_connection *evcon)
{
    struct conn_guard *g = conn_find(app, evcon);
    if (g == NULL)
        return;
    evtimer_del(g->timer);
    g->t->in_total -= g->in_held; /* the body is the request's now */
    g->in_held = 0;
    guard_untrack(g, evcon);
}

void conn_closing(struct app *app, struct evhttp_connection *evcon)
{
    struct conn_guard *g = conn_find(app, evcon);
    if (g && g->state == GUARD_SWEPT && g->evcon == evcon) {
        guard_unmeter(g);
        guard_release(g);
    }
}

bool conn_output_full(const struct app *app, size_t more)
{
    const struct conn_table *t = app->conns;
    return more > CONN_SMALL_ANSWER && t->out_total >= (size_t)app->cfg.max_output;
}

void conn_bytes(const struct conn_table *t, struct conn_bytes *out)
{
    *out = (struct conn_bytes){.bodies = t->in_total, .output = t->out_total, .refused = t->refused};
}

/* Called after api/req.c dropped its close callback, before the answer is
 * sent: ours again, so a close after the answer is reported. */
void conn_request_done(struct app *app, struct evhttp_connection *evcon)
{
    struct conn_guard *g = conn_find(app, evcon);
    if (g == NULL)
        return;
    guard_track(g, evcon);
    conn_arm(g);
}
