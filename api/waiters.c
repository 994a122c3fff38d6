#include "api/waiters.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/jobs.h"
#include "api/rconn.h"
#include "common/clock.h"
#include "common/job.h"
#include "common/jobid.h"

#define WAITERS_BUCKETS 4096 /* power of two; ~--max-inflight waiters keep chains short */

struct waiter {
    char id[JOBID_LEN + 1];
    struct waiter *next;
    struct event *timer;
    waiter_fn *fn;
    void *arg;
    struct waiters *ws;
};

struct waiters {
    struct app *app;
    struct waiter *buckets[WAITERS_BUCKETS];
    long count;
};

static unsigned waiters_hash(const char *id)
{
    unsigned h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h & (WAITERS_BUCKETS - 1);
}

struct waiters *waiters_new(struct app *app)
{
    struct waiters *ws = calloc(1, sizeof *ws);
    if (ws)
        ws->app = app;
    return ws;
}

static void waiter_unlink(struct waiters *ws, struct waiter *w)
{
    struct waiter **pp = &ws->buckets[waiters_hash(w->id)];
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
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
    if (ws == NULL) /* shutting down: the set is gone */
        return NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->timer = evtimer_new(ws->app->base, waiter_timeout_cb, w);
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
    waiter_unlink(ws, w);
    free(w);
}

void waiters_complete(struct waiters *ws, const char *id, json_t *job)
{
    enum job_state st;
    json_t *state = json_object_get(job, "state");
    struct waiter **pp;
    if (!json_is_string(state) || job_state_parse(json_string_value(state), &st) != 0 || !job_state_terminal(st))
        return;
    /* unlink all first: a callback may add or cancel waiters */
    struct waiter *woken = NULL;
    pp = &ws->buckets[waiters_hash(id)];
    while (*pp) {
        struct waiter *w = *pp;
        if (strcmp(w->id, id) == 0) {
            *pp = w->next;
            ws->count--;
            event_free(w->timer);
            w->next = woken;
            woken = w;
        } else {
            pp = &w->next;
        }
    }
    while (woken) {
        struct waiter *w = woken;
        woken = w->next;
        w->fn(w->arg, job);
        free(w);
    }
}

static void waiters_fetched_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct waiters *ws;
    char *id = (char *)priv + sizeof(struct waiters *);
    redisReply *reply = r;
    json_t *job;
    (void)ac;
    memcpy(&ws, priv, sizeof ws);
    job = reply ? jobs_reply_to_json(reply) : NULL;
    if (job) {
        waiters_complete(ws, id, job);
        json_decref(job);
    }
    free(priv);
}

/* The private data of a fetch: the set pointer followed by the id. */
static void waiters_fetch(struct waiters *ws, const char *id)
{
    char key[512];
    const char *argv[2];
    char *priv;
    if (key_job(key, sizeof key, ws->app->cfg.prefix, id) < 0)
        return;
    priv = malloc(sizeof ws + JOBID_LEN + 1);
    if (priv == NULL)
        return;
    memcpy(priv, &ws, sizeof ws);
    memcpy(priv + sizeof ws, id, JOBID_LEN);
    priv[sizeof ws + JOBID_LEN] = '\0';
    argv[0] = "HGETALL";
    argv[1] = key;
    if (rconn_command(ws->app->redis, waiters_fetched_cb, priv, 2, argv, NULL) != 0)
        free(priv); /* Redis is down: the waiter's own timer answers */
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
