#include "api/waiters.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "api/jobstore.h"
#include "common/clock.h"
#include "common/jobid.h"

#define WAITERS_BUCKETS 4096 /* power of two; ~--max-inflight waiters keep chains short */

struct waiter {
    char id[JOBID_LEN + 1];
    struct waiter *next;
    struct event *timer;
    waiter_fn *fn;
    void *arg;
    struct waiters *ws;
    bool waking;    /* out of its bucket, its fn about to run (waiters_complete) */
    bool cancelled; /* cancelled while waking: its fn must not run */
};

/* A read of a job in flight: whose waiters the job it brings may wake. */
struct waiters_fetch {
    struct waiters *ws; /* NULL once the set is freed: the reply is dropped */
    struct waiters_fetch *next, *prev;
    char id[JOBID_LEN + 1];
};

struct waiters {
    struct event_base *base;
    struct rconn *redis;
    const char *prefix;
    struct waiter *buckets[WAITERS_BUCKETS];
    long count;
    struct waiters_fetch *fetches; /* in flight */
    bool closing;                  /* in waiters_free: no new waiter */
};

static unsigned waiters_hash(const char *id)
{
    unsigned h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h & (WAITERS_BUCKETS - 1);
}

struct waiters *waiters_new(struct event_base *base, struct rconn *redis, const char *prefix)
{
    struct waiters *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return NULL;
    ws->base = base;
    ws->redis = redis;
    ws->prefix = prefix;
    return ws;
}

static void waiter_unlink(struct waiters *ws, struct waiter *w)
{
    struct waiter **pp = &ws->buckets[waiters_hash(w->id)];
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return; /* not registered (it is waking) */
    *pp = w->next;
    ws->count--;
    event_free(w->timer);
}

static void waiter_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;
    waiter_fn *fn = w->fn;
    void *fnarg = w->arg;
    (void)fd;
    (void)what;
    waiter_unlink(w->ws, w);
    free(w);
    fn(fnarg, NULL);
}

struct waiter *waiters_add(struct waiters *ws, const char *id, int64_t timeout_ms, waiter_fn *fn, void *arg)
{
    struct waiter *w;
    struct timeval tv = clock_ms_timeval(timeout_ms);
    unsigned b;
    if (ws == NULL || ws->closing) /* shutting down: the set is gone */
        return NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->timer = evtimer_new(ws->base, waiter_timeout_cb, w);
    if (w->timer == NULL) {
        free(w);
        return NULL;
    }
    memcpy(w->id, id, JOBID_LEN);
    w->id[JOBID_LEN] = '\0';
    w->fn = fn;
    w->arg = arg;
    w->ws = ws;
    b = waiters_hash(w->id);
    w->next = ws->buckets[b];
    ws->buckets[b] = w;
    ws->count++;
    evtimer_add(w->timer, &tv);
    return w;
}

void waiters_cancel(struct waiters *ws, struct waiter *w)
{
    if (ws == NULL || w == NULL)
        return;
    if (w->waking) { /* waiters_complete holds it and frees it */
        w->cancelled = true;
        return;
    }
    waiter_unlink(ws, w);
    free(w);
}

void waiters_complete(struct waiters *ws, const char *id, json_t *job)
{
    struct waiter **pp, *woken = NULL;
    if (ws == NULL || !jobstore_terminal(job))
        return;
    /* take them all out first: a fn may add waiters (they wait for the next
     * news) or cancel any, those taken out included */
    pp = &ws->buckets[waiters_hash(id)];
    while (*pp) {
        struct waiter *w = *pp;
        if (strcmp(w->id, id) == 0) {
            *pp = w->next;
            ws->count--;
            event_free(w->timer);
            w->waking = true;
            w->next = woken;
            woken = w;
        } else {
            pp = &w->next;
        }
    }
    while (woken) {
        struct waiter *w = woken;
        woken = w->next;
        if (!w->cancelled)
            w->fn(w->arg, job);
        free(w);
    }
}

static void waiters_fetched_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct waiters_fetch *f = priv;
    struct waiters *ws = f->ws;
    json_t *job;
    (void)ac;
    if (ws) {
        if (f->prev)
            f->prev->next = f->next;
        else
            ws->fetches = f->next;
        if (f->next)
            f->next->prev = f->prev;
        job = jobstore_json(r);
        if (job) {
            waiters_complete(ws, f->id, job);
            json_decref(job);
        }
    }
    free(f);
}

/* Reads job `id` to wake its waiters if it has ended; on any failure the
 * waiters' own timers answer. */
static void waiters_fetch(struct waiters *ws, const char *id)
{
    struct waiters_fetch *f = calloc(1, sizeof *f);
    if (f == NULL)
        return;
    f->ws = ws;
    memcpy(f->id, id, JOBID_LEN);
    f->id[JOBID_LEN] = '\0';
    if (jobstore_fetch(ws->redis, ws->prefix, f->id, waiters_fetched_cb, f) != 0) {
        free(f); /* Redis is down */
        return;
    }
    f->next = ws->fetches;
    if (f->next)
        f->next->prev = f;
    ws->fetches = f;
}

void waiters_notify(struct waiters *ws, const char *id)
{
    struct waiter *w;
    if (ws == NULL || !jobid_valid(id))
        return;
    for (w = ws->buckets[waiters_hash(id)]; w; w = w->next)
        if (strcmp(w->id, id) == 0) {
            waiters_fetch(ws, id);
            return;
        }
}

void waiters_recheck_all(struct waiters *ws)
{
    if (ws == NULL)
        return;
    for (unsigned b = 0; b < WAITERS_BUCKETS; b++)
        for (struct waiter *w = ws->buckets[b]; w; w = w->next) {
            bool seen = false;
            for (struct waiter *p = ws->buckets[b]; p != w; p = p->next)
                if (strcmp(p->id, w->id) == 0)
                    seen = true;
            if (!seen)
                waiters_fetch(ws, w->id);
        }
}

void waiters_expire_all(struct waiters *ws)
{
    if (ws == NULL)
        return;
    for (unsigned b = 0; b < WAITERS_BUCKETS; b++)
        for (struct waiter *w = ws->buckets[b]; w; w = w->next)
            event_active(w->timer, EV_TIMEOUT, 0);
}

long waiters_count(const struct waiters *ws)
{
    return ws ? ws->count : 0;
}

void waiters_free(struct waiters *ws)
{
    if (ws == NULL)
        return;
    ws->closing = true;
    for (struct waiters_fetch *f = ws->fetches; f; f = f->next)
        f->ws = NULL; /* their replies come later, to nobody */
    for (unsigned b = 0; b < WAITERS_BUCKETS; b++) {
        while (ws->buckets[b]) {
            struct waiter *w = ws->buckets[b];
            waiter_fn *fn = w->fn;
            void *arg = w->arg;
            waiter_unlink(ws, w);
            free(w);
            fn(arg, NULL);
        }
    }
    free(ws);
}
