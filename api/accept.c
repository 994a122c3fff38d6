#include "api/accept.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/app.h"
#include "common/clock.h"
#include "common/log.h"

#define BACKOFF_FIRST_MS 50     /* first pause when descriptors run out: a close often frees one soon */
#define BACKOFF_MAX_MS 1000     /* longest pause: one futile accept a second while nothing closes */
#define LOG_EVERY_US 1000000    /* at most one line a second about accept failures, however many */
#define CAP_LOG_EVERY_US 10000000 /* a server held at --max-conns says so every 10 s at most */
#define RESERVE_MIN 64          /* descriptors kept back from clients: Redis, upstreams, logs, pipes */
#define RESERVE_PERCENT 10      /* ... or this share of the limit, when larger */
#define NOFILE_UNLIMITED 1048576 /* what an unlimited RLIMIT_NOFILE counts as (Linux's nr_open) */

/* Why accepting is paused; the listener is enabled exactly when none is set. */
enum accept_pause {
    PAUSE_CAP = 1, /* client connections are at max_conns: until one closes */
    PAUSE_FDS = 2, /* accept(2) ran out of descriptors or memory: until the backoff ends or one closes */
};

/* Lines of one kind, one per interval at most; the next one written says
 * how many were held back. */
struct ratelog {
    int64_t every_us;
    int64_t next_us; /* none before this */
    long held;       /* held back since the last one written */
};

struct accept_gate {
    struct app *app;
    const long *open;         /* the client connections open now (owned by the caller) */
    struct accept_gate *next; /* in gates */
    struct event *retry;      /* ends a PAUSE_FDS backoff */
    struct event *wake;       /* a connection closed: look again, from the loop */
    unsigned paused;          /* enum accept_pause bits */
    int64_t backoff_ms;       /* the last PAUSE_FDS pause; 0 when the last accept succeeded */
    long failures;            /* accept failures since the last success */
    struct ratelog fail_log;  /* accept failures and recovery */
    struct ratelog cap_log;   /* --max-conns reached */
};

/* The listener's error callback gets evhttp's argument, not ours: gates
 * are found by their evhttp. One per server process in practice. */
static struct accept_gate *gates;

/* True when a line may be written now; *held gets how many were held back
 * before it. False counts this one as held back. */
static bool ratelog_allowed(struct ratelog *rl, long *held)
{
    int64_t now = clock_mono_us();
    if (now < rl->next_us) {
        rl->held++;
        return false;
    }
    *held = rl->held;
    rl->held = 0;
    rl->next_us = now + rl->every_us;
    return true;
}

/* The listener of the bound socket, or NULL once draining removed it.
 * Never called from inside evhttp_free, where app->bound dangles. */
static struct evconnlistener *gate_listener(struct accept_gate *g)
{
    return g->app->bound ? evhttp_bound_socket_get_listener(g->app->bound) : NULL;
}

static void gate_apply(struct accept_gate *g)
{
    struct evconnlistener *lev = gate_listener(g);
    if (lev == NULL)
        return;
    if (g->paused)
        evconnlistener_disable(lev);
    else
        evconnlistener_enable(lev);
}

static void gate_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct accept_gate *g = arg;
    (void)fd;
    (void)what;
    g->paused &= ~(unsigned)PAUSE_FDS;
    gate_apply(g);
}

/* A descriptor came free: try again now rather than at the backoff's end
 * (the backoff keeps growing until an accept succeeds). */
static void gate_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct accept_gate *g = arg;
    unsigned was = g->paused;
    (void)fd;
    (void)what;
    if (g->paused & PAUSE_FDS) {
        evtimer_del(g->retry);
        g->paused &= ~(unsigned)PAUSE_FDS;
    }
    if ((g->paused & PAUSE_CAP) && *g->open < g->app->cfg.max_conns)
        g->paused &= ~(unsigned)PAUSE_CAP;
    if (g->paused != was)
        gate_apply(g);
}

static bool errno_is_shortage(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* accept(2) failed with something other than EAGAIN/EINTR/ECONNABORTED. */
static void gate_error_cb(struct evconnlistener *lev, void *http)
{
    int e = errno;
    struct accept_gate *g = gates;
    char why[128];
    long held;
    while (g && g->app->http != http)
        g = g->next;
    log_quote(strerror(e), why, sizeof why);
    if (g == NULL) { /* not ours: keep libevent's default, one line per failure */
        log_warn("accept failed", "error=%s", why);
        return;
    }
    g->failures++;
    if (!errno_is_shortage(e)) {
        if (ratelog_allowed(&g->fail_log, &held))
            log_warn("accept failed", "error=%s conns=%ld suppressed=%ld", why, *g->open, held);
        return;
    }
    g->backoff_ms = g->backoff_ms ? g->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (g->backoff_ms > BACKOFF_MAX_MS)
        g->backoff_ms = BACKOFF_MAX_MS;
    g->paused |= PAUSE_FDS;
    evconnlistener_disable(lev);
    {
        struct timeval tv = clock_ms_timeval(g->backoff_ms);
        evtimer_add(g->retry, &tv);
    }
    if (ratelog_allowed(&g->fail_log, &held))
        log_warn("accept paused: out of descriptors or memory",
                 "error=%s conns=%ld retry_ms=%lld failures=%ld suppressed=%ld", why, *g->open,
                 (long long)g->backoff_ms, g->failures, held);
}

struct accept_gate *accept_gate_new(struct app *app, const long *open)
{
    struct accept_gate *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->app = app;
    g->open = open;
    g->fail_log.every_us = LOG_EVERY_US;
    g->cap_log.every_us = CAP_LOG_EVERY_US;
    g->retry = evtimer_new(app->base, gate_retry_cb, g);
    g->wake = event_new(app->base, -1, 0, gate_wake_cb, g);
    if (g->retry == NULL || g->wake == NULL)
        goto err;
    g->next = gates;
    gates = g;
    return g;
err:
    accept_gate_free(g);
    return NULL;
}

void accept_gate_free(struct accept_gate *g)
{
    struct accept_gate **p = &gates;
    if (g == NULL)
        return;
    while (*p && *p != g)
        p = &(*p)->next;
    if (*p)
        *p = g->next;
    if (g->retry)
        event_free(g->retry);
    if (g->wake)
        event_free(g->wake);
    free(g);
}

/* The soft RLIMIT_NOFILE less the reserve, at least 1. */
static long max_conns_auto(long *nofile)
{
    struct rlimit rl;
    long n = NOFILE_UNLIMITED, reserve;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < NOFILE_UNLIMITED)
        n = (long)rl.rlim_cur;
    *nofile = n;
    reserve = n * RESERVE_PERCENT / 100;
    if (reserve < RESERVE_MIN)
        reserve = RESERVE_MIN;
    return n - reserve > 1 ? n - reserve : 1;
}

int accept_gate_attach(struct accept_gate *g)
{
    struct evconnlistener *lev = gate_listener(g);
    long nofile, fit = max_conns_auto(&nofile);
    if (lev == NULL)
        return -1;
    if (g->app->cfg.max_conns <= 0)
        g->app->cfg.max_conns = fit;
    evconnlistener_set_error_cb(lev, gate_error_cb);
    log_info("accepting", "max_conns=%ld nofile=%ld", g->app->cfg.max_conns, nofile);
    if (g->app->cfg.max_conns > fit)
        log_warn("--max-conns leaves too few descriptors: accept will pause when they run out",
                 "max_conns=%ld fits=%ld", g->app->cfg.max_conns, fit);
    return 0;
}

void accept_gate_opened(struct accept_gate *g)
{
    long held;
    if (g->backoff_ms) { /* descriptors again: the next shortage starts at the first step */
        if (ratelog_allowed(&g->fail_log, &held))
            log_info("accepting again", "failures=%ld conns=%ld suppressed=%ld", g->failures,
                     *g->open, held);
        g->backoff_ms = 0;
    }
    g->failures = 0;
    if (!(g->paused & PAUSE_CAP) && *g->open >= g->app->cfg.max_conns) {
        g->paused |= PAUSE_CAP;
        gate_apply(g);
        if (ratelog_allowed(&g->cap_log, &held))
            log_warn("--max-conns reached: new connections wait in the backlog", "max_conns=%ld suppressed=%ld",
                     g->app->cfg.max_conns, held);
    }
}

void accept_gate_closed(struct accept_gate *g)
{
    if (g->paused)
        event_active(g->wake, EV_TIMEOUT, 0);
}
