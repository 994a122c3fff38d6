#include "api/qstats.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/app.h"
#include "common/rconn.h"
#include "api/req.h"
#include "common/clock.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/scripts.h"

/* The workers' default lease: older heartbeats are not "alive". */
#define WORKER_ALIVE_WINDOW_MS DEFAULTS_STR(DEFAULTS_LEASE_MS)

struct qstats_caller {
    qstats_fn *fn;
    void *arg;
};

struct qstats {
    struct app *app;
    struct qstats_view view; /* body == NULL until the first fetch */
    int64_t fetched_us;
    bool fetching;
    struct qstats_caller *callers; /* waiting for the fetch in flight */
    size_t ncallers, cap;
};

struct qstats *qstats_new(struct app *app)
{
    struct qstats *qs = calloc(1, sizeof *qs);
    if (qs)
        qs->app = app;
    return qs;
}

static void view_clear(struct qstats_view *v)
{
    json_decref(v->body);
    if (v->prom)
        evbuffer_free(v->prom);
    *v = (struct qstats_view){0};
}

/* Answers every waiting caller with v (may be NULL) and empties the list. */
static void qstats_answer(struct qstats *qs, const struct qstats_view *v)
{
    struct qstats_caller *callers = qs->callers;
    size_t n = qs->ncallers;
    qs->callers = NULL;
    qs->ncallers = qs->cap = 0;
    for (size_t i = 0; i < n; i++)
        callers[i].fn(callers[i].arg, v);
    free(callers);
}

void qstats_free(struct qstats *qs)
{
    if (qs == NULL)
        return;
    qstats_answer(qs, NULL);
    view_clear(&qs->view);
    free(qs);
}

/* Jobs per second from a count over SCRIPT_FLOW_WINDOW_S seconds. */
static double rate_per_s(const redisReply *count)
{
    return count->type == REDIS_REPLY_INTEGER ? (double)count->integer / SCRIPT_FLOW_WINDOW_S : 0;
}

/* One per-queue gauge of the Prometheus form: its name, its help, and the
 * element of each queue's group in SCRIPT_QUEUES's reply. */
struct queue_family {
    const char *name;
    const char *help;
    size_t field;
    bool rate; /* a per-second rate (rate_per_s), else a count */
};

static const struct queue_family queue_families[] = {
    {"offload_queue_depth", "Jobs waiting on the queue.", 1, false},
    {"offload_queue_in_progress", "Jobs of the queue a worker is running.", 2, false},
    {"offload_queue_dead", "Jobs of the queue that are dead (out of attempts).", 3, false},
    {"offload_queue_scheduled", "Jobs of the queue waiting for their run_at or retry backoff.", 4, false},
    {"offload_queue_in_per_second", "Jobs that entered the queue per second, over the last minute.", 5, true},
    {"offload_queue_out_per_second", "Jobs of the queue that ended (done or dead) per second, over the last minute.", 6,
     true},
};

/* One family's HELP, TYPE and a sample per queue, together: the text format
 * wants each family's lines in one group. */
static void view_family(struct evbuffer *out, const redisReply *reply, const struct queue_family *fam)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", fam->name, fam->help, fam->name);
    for (size_t i = 1; i + SCRIPT_QUEUES_STRIDE - 1 < reply->elements; i += SCRIPT_QUEUES_STRIDE) {
        redisReply **e = reply->element + i;
        if (e[0]->type != REDIS_REPLY_STRING)
            continue;
        if (fam->rate)
            evbuffer_add_printf(out, "%s{queue=\"%s\"} %.6g\n", fam->name, e[0]->str, rate_per_s(e[fam->field]));
        else
            evbuffer_add_printf(out, "%s{queue=\"%s\"} %lld\n", fam->name, e[0]->str, e[fam->field]->integer);
    }
}

/* Builds both forms of SCRIPT_QUEUES's reply into v. Returns 0 or -1. */
static int view_build(struct qstats_view *v, const redisReply *reply)
{
    json_t *queues = json_object();
    v->prom = evbuffer_new();
    if (queues == NULL || v->prom == NULL)
        goto err;
    evbuffer_add_printf(v->prom, "# HELP offload_workers_alive Workers whose heartbeat is within the lease.\n"
                                 "# TYPE offload_workers_alive gauge\noffload_workers_alive %lld\n",
                        reply->element[0]->integer);
    for (size_t i = 1; i + SCRIPT_QUEUES_STRIDE - 1 < reply->elements; i += SCRIPT_QUEUES_STRIDE) {
        redisReply **e = reply->element + i;
        if (e[0]->type != REDIS_REPLY_STRING)
            continue;
        if (json_object_set_new(queues, e[0]->str,
                                json_pack("{s:I,s:I,s:I,s:I,s:f,s:f}", "depth", (json_int_t)e[1]->integer,
                                          "in_progress", (json_int_t)e[2]->integer, "dead",
                                          (json_int_t)e[3]->integer, "scheduled", (json_int_t)e[4]->integer,
                                          "in_per_s", rate_per_s(e[5]), "out_per_s", rate_per_s(e[6]))) != 0)
            goto err;
    }
    for (size_t f = 0; f < sizeof queue_families / sizeof queue_families[0]; f++)
        view_family(v->prom, reply, &queue_families[f]);
    v->body = json_pack("{s:o,s:I}", "queues", queues, "workers_alive", (json_int_t)reply->element[0]->integer);
    queues = NULL; /* stolen by json_pack, even when it fails */
    if (v->body == NULL)
        goto err;
    return 0;
err:
    json_decref(queues);
    view_clear(v);
    return -1;
}

static void qstats_fetched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct qstats *qs = priv;
    const redisReply *reply = rep;
    struct qstats_view fresh = {0};
    (void)ac;
    qs->fetching = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || view_build(&fresh, reply) != 0) {
        qstats_answer(qs, NULL);
        return;
    }
    view_clear(&qs->view);
    qs->view = fresh;
    qs->fetched_us = clock_mono_us();
    qstats_answer(qs, &qs->view);
}

void qstats_get(struct qstats *qs, qstats_fn *fn, void *arg)
{
    struct app *app = qs->app;
    char now[24];
    const char *argv[3] = {app->cfg.prefix, now, WORKER_ALIVE_WINDOW_MS};
    if (qs->view.body && clock_mono_us() - qs->fetched_us < QSTATS_MAX_AGE_MS * 1000) {
        fn(arg, &qs->view);
        return;
    }
    if (qs->ncallers == qs->cap) {
        size_t cap = qs->cap ? qs->cap * 2 : 16;
        struct qstats_caller *nc = realloc(qs->callers, cap * sizeof *nc);
        if (nc == NULL) {
            fn(arg, NULL);
            return;
        }
        qs->callers = nc;
        qs->cap = cap;
    }
    qs->callers[qs->ncallers++] = (struct qstats_caller){fn, arg};
    if (qs->fetching)
        return;
    snprintf(now, sizeof now, "%lld", (long long)(job_now_us() / 1000));
    if (rconn_script(app->redis, SCRIPT_QUEUES, qstats_fetched_cb, qs, 3, argv, NULL) != 0) {
        qstats_answer(qs, NULL);
        return;
    }
    qs->fetching = true;
}
