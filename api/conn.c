#include "api/conn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api/app.h"
#include "common/log.h"

/* evhttp owns its connections and tells nobody when it frees one, so a guard
 * never keeps a pointer into evhttp: it knows its socket by descriptor and
 * by the socket's inode, which no later socket on the same descriptor
 * shares. A stale guard is detected and dropped, never acted on. */
struct conn_guard {
    struct conn_table *t;
    struct bufferevent *bev; /* valid only until adopted (same loop iteration) */
    evutil_socket_t fd;
    ino_t ino;
    struct event *adopt_ev;
    struct event *timer;
};

struct conn_table {
    struct app *app;
    struct conn_guard **by_fd;
    size_t cap;
};

struct conn_table *conn_table_new(struct app *app)
{
    struct conn_table *t = calloc(1, sizeof *t);
    if (t)
        t->app = app;
    return t;
}

static void guard_free(struct conn_guard *g)
{
    if (g->adopt_ev)
        event_free(g->adopt_ev);
    if (g->timer)
        event_free(g->timer);
    free(g);
}

void conn_table_free(struct conn_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->by_fd[i])
            guard_free(t->by_fd[i]);
    free(t->by_fd);
    free(t);
}

long conn_count(const struct conn_table *t)
{
    long n = 0;
    for (size_t i = 0; i < t->cap; i++)
        n += t->by_fd[i] != NULL;
    return n;
}

static bool guard_current(const struct conn_guard *g)
{
    struct stat st;
    return (size_t)g->fd < g->t->cap && g->t->by_fd[g->fd] == g && fstat(g->fd, &st) == 0 && st.st_ino == g->ino;
}

static void guard_drop(struct conn_guard *g)
{
    if ((size_t)g->fd < g->t->cap && g->t->by_fd[g->fd] == g)
        g->t->by_fd[g->fd] = NULL;
    guard_free(g);
}

static void conn_arm(struct conn_guard *g)
{
    int64_t ms = g->t->app->cfg.header_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(g->timer, &tv);
}

/* Time is up: if the socket is still the one we guard, shut it so evhttp
 * sees EOF and frees the connection itself. */
static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn_guard *g = arg;
    (void)fd;
    (void)what;
    if (guard_current(g)) {
        log_debug("closing slow connection", "fd=%d", (int)g->fd);
        shutdown(g->fd, SHUT_RDWR);
    }
    guard_drop(g);
}

/* Runs in the same loop iteration as the accept, after evhttp gave the
 * bufferevent its descriptor and before any I/O on it is processed. */
static void conn_adopt_cb(evutil_socket_t unused, short what, void *arg)
{
    struct conn_guard *g = arg;
    struct conn_table *t = g->t;
    struct stat st;
    (void)unused;
    (void)what;
    g->fd = bufferevent_getfd(g->bev);
    g->bev = NULL;
    if (g->fd < 0 || fstat(g->fd, &st) != 0) {
        guard_free(g);
        return;
    }
    g->ino = st.st_ino;
    if ((size_t)g->fd >= t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap <= (size_t)g->fd)
            cap *= 2;
        struct conn_guard **nb = realloc(t->by_fd, cap * sizeof *nb);
        if (nb == NULL) {
            guard_free(g);
            return;
        }
        memset(nb + t->cap, 0, (cap - t->cap) * sizeof *nb);
        t->by_fd = nb;
        t->cap = cap;
    }
    if (t->by_fd[g->fd])
        guard_free(t->by_fd[g->fd]); /* its connection closed; the descriptor was reused */
    t->by_fd[g->fd] = g;
    conn_arm(g);
}

struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
    struct app *app = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn_guard *g = calloc(1, sizeof *g);
    if (bev == NULL || g == NULL)
        goto err;
    g->t = app->conns;
    g->bev = bev;
    g->adopt_ev = event_new(base, -1, 0, conn_adopt_cb, g);
    g->timer = evtimer_new(base, conn_timeout_cb, g);
    if (g->adopt_ev == NULL || g->timer == NULL)
        goto err;
    event_active(g->adopt_ev, EV_TIMEOUT, 0);
    return bev;
err:
    if (g)
        guard_free(g);
    return bev; /* unguarded but served; NULL makes evhttp create its own */
}

static struct conn_guard *conn_find(struct app *app, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn_table *t = app->conns;
    if (fd < 0 || (size_t)fd >= t->cap)
        return NULL;
    return t->by_fd[fd];
}

void conn_request_seen(struct app *app, struct evhttp_connection *evcon)
{
    struct conn_guard *g = conn_find(app, evcon);
    if (g)
        evtimer_del(g->timer);
}

void conn_request_done(struct app *app, struct evhttp_connection *evcon)
{
    struct conn_guard *g = conn_find(app, evcon);
    if (g)
        conn_arm(g);
}
