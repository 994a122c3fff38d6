#include "api/jobreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/jobstore.h"
#include "api/replwait.h"
#include "common/rconn.h"
#include "api/req.h"
#include "api/waiters.h"
#include "common/defaults.h"
#include "common/jobid.h"
#include "common/log.h"

/* What the request asks for, which decides its answer. */
enum jobreq_kind {
    JOBREQ_SUBMIT,      /* POST /jobs, one job: 202 {"id"} + Location */
    JOBREQ_SUBMIT_MANY, /* POST /jobs, an array: 202 {"ids"} */
    JOBREQ_SUBMIT_WAIT, /* POST /jobs?wait=S: 200 finished job, or 202 current job at the timeout */
    JOBREQ_GET,         /* GET /jobs/{id}: 200 with the job */
    JOBREQ_WATCH,       /* GET /jobs/{id}?wait=S: 200 with the job, finished or not at the timeout */
    JOBREQ_RUN,         /* /cpu?mode=queue: 200 finished job, or 504 at the timeout */
};

/* One row per state, one column per event: the next state and what to do.
 * Every cell is written out; an event that cannot happen in a state (the
 * waiter is gone, say) keeps it and does nothing. */
static const struct jobreq_step {
    enum jobreq_state next;
    enum jobreq_action action;
} JOBREQ_STEPS[JOBREQ_STATES][JOBREQ_EVENTS] = {
    [JOBREQ_SENT] = {
        [JOBREQ_ANSWERED] = {JOBREQ_WAITING, JOBREQ_WAIT},
        [JOBREQ_ENDS] = {JOBREQ_FINISHED, JOBREQ_NOTHING},
        [JOBREQ_TIMES_OUT] = {JOBREQ_EXPIRED, JOBREQ_NOTHING},
        [JOBREQ_GONE] = {JOBREQ_SENT, JOBREQ_NOTHING},
    },
    [JOBREQ_FINISHED] = {
        [JOBREQ_ANSWERED] = {JOBREQ_ENDED, JOBREQ_REPLY_FINISHED},
        [JOBREQ_ENDS] = {JOBREQ_FINISHED, JOBREQ_NOTHING},
        [JOBREQ_TIMES_OUT] = {JOBREQ_FINISHED, JOBREQ_NOTHING},
        [JOBREQ_GONE] = {JOBREQ_FINISHED, JOBREQ_NOTHING},
    },
    [JOBREQ_EXPIRED] = {
        [JOBREQ_ANSWERED] = {JOBREQ_FETCHING, JOBREQ_EXPIRE},
        [JOBREQ_ENDS] = {JOBREQ_EXPIRED, JOBREQ_NOTHING},
        [JOBREQ_TIMES_OUT] = {JOBREQ_EXPIRED, JOBREQ_NOTHING},
        [JOBREQ_GONE] = {JOBREQ_EXPIRED, JOBREQ_NOTHING},
    },
    [JOBREQ_WAITING] = {
        [JOBREQ_ANSWERED] = {JOBREQ_WAITING, JOBREQ_NOTHING},
        [JOBREQ_ENDS] = {JOBREQ_ENDED, JOBREQ_REPLY_FINISHED},
        [JOBREQ_TIMES_OUT] = {JOBREQ_FETCHING, JOBREQ_EXPIRE},
        [JOBREQ_GONE] = {JOBREQ_ENDED, JOBREQ_ABANDON},
    },
    [JOBREQ_FETCHING] = {
        [JOBREQ_ANSWERED] = {JOBREQ_FETCHING, JOBREQ_NOTHING},
        [JOBREQ_ENDS] = {JOBREQ_FETCHING, JOBREQ_NOTHING},
        [JOBREQ_TIMES_OUT] = {JOBREQ_FETCHING, JOBREQ_NOTHING},
        [JOBREQ_GONE] = {JOBREQ_FETCHING, JOBREQ_NOTHING},
    },
    [JOBREQ_ENDED] = {
        [JOBREQ_ANSWERED] = {JOBREQ_ENDED, JOBREQ_NOTHING},
        [JOBREQ_ENDS] = {JOBREQ_ENDED, JOBREQ_NOTHING},
        [JOBREQ_TIMES_OUT] = {JOBREQ_ENDED, JOBREQ_NOTHING},
        [JOBREQ_GONE] = {JOBREQ_ENDED, JOBREQ_NOTHING},
    },
};

enum jobreq_action jobreq_next(enum jobreq_state *state, enum jobreq_event ev)
{
    const struct jobreq_step *step = &JOBREQ_STEPS[*state][ev];
    *state = step->next;
    return step->action;
}

struct jobreq {
    struct api_req *r;
    enum jobreq_kind kind;
    enum jobreq_state state;
    struct waiter *w; /* registered while the waiter waits, else NULL */
    json_t *finished; /* FINISHED: the job the waiter got */
    int64_t wait_ms;  /* how long a waiting kind waits */
    bool replayed;    /* an idempotency key named an earlier job: the answer says so */
    bool *replayed_at; /* --redis-wait: which jobs were replayed, kept until the replicas answer */
    char made[48];    /* --redis-wait: ENQUEUE's entry for the first job, kept likewise */
    size_t n;
    char (*ids)[JOBID_LEN + 1];
};

static void jobreq_waiter_fn(void *arg, json_t *job);
static void jobreq_gone_fn(struct api_req *r);
static void jobreq_watched_cb(redisAsyncContext *ac, void *rep, void *priv);

/* Makes the state of request r: n ids (new ones, or r->id for a read), and
 * for a kind that waits, the waiter (registered before the command is
 * sent, so no done message can be missed) and the client-gone watch.
 * Returns it (owned by the callbacks until jobreq_end), or NULL after
 * answering r. */
static struct jobreq *jobreq_new(struct api_req *r, enum jobreq_kind kind, size_t n, int64_t wait_ms)
{
    struct jobreq *jr = calloc(1, sizeof *jr);
    if (jr == NULL || (jr->ids = calloc(n, sizeof *jr->ids)) == NULL)
        goto oom;
    jr->r = r;
    jr->kind = kind;
    jr->n = n;
    jr->wait_ms = wait_ms;
    for (size_t i = 0; i < n; i++) {
        if (kind == JOBREQ_GET || kind == JOBREQ_WATCH)
            memcpy(jr->ids[i], r->id, JOBID_LEN + 1);
        else if (jobid_new(jr->ids[i]) != 0)
            goto random;
    }
    if (kind == JOBREQ_SUBMIT_WAIT || kind == JOBREQ_WATCH || kind == JOBREQ_RUN) {
        jr->w = waiters_add(r->app->waiters, jr->ids[0], wait_ms, jobreq_waiter_fn, jr);
        if (jr->w == NULL)
            goto oom;
        r->data = jr;
        req_on_gone(r, jobreq_gone_fn);
    }
    return jr;
random:
    free(jr->ids);
    free(jr);
    req_reply_error(r, 500, "random source failed");
    return NULL;
oom:
    if (jr)
        free(jr->ids);
    free(jr);
    req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
    return NULL;
}

/* Ends the request's state: the waiter is cancelled and everything freed.
 * Returns the HTTP request, which the caller answers at once: every answer
 * goes through here. */
static struct api_req *jobreq_end(struct jobreq *jr)
{
    struct api_req *r = jr->r;
    if (jr->replayed)
        req_add_header(r, "Idempotent-Replayed", "true");
    waiters_cancel(r->app->waiters, jr->w);
    r->data = NULL;
    json_decref(jr->finished);
    free(jr->replayed_at);
    free(jr->ids);
    free(jr);
    return r;
}

/* The ids as a JSON array (NULL when out of memory). */
static json_t *jobreq_ids_json(const struct jobreq *jr)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < jr->n; i++)
        json_array_append_new(ids, json_string(jr->ids[i]));
    return ids;
}

static void jobreq_reply_unavailable(struct jobreq *jr)
{
    req_reply_unavailable(jobreq_end(jr));
}

/* Answers 200 with the finished `job` (borrowed). */
static void jobreq_reply_finished(struct jobreq *jr, json_t *job)
{
    json_t *copy = json_deep_copy(job);
    req_reply_json(jobreq_end(jr), 200, copy);
}

static void jobreq_fetched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct jobreq *jr = priv;
    int code = jr->kind == JOBREQ_SUBMIT_WAIT ? 202 : 200; /* 202: the job is still on its way */
    json_t *job;
    char id[JOBID_LEN + 1];
    (void)ac;
    if (rep == NULL) {
        jobreq_reply_unavailable(jr);
        return;
    }
    job = jobstore_json(rep);
    memcpy(id, jr->ids[0], sizeof id);
    if (job == NULL)
        req_reply_no_job(jobreq_end(jr), id, "unknown or expired");
    else
        req_reply_json(jobreq_end(jr), code, job);
}

/* Reads the job as it stands to answer with it (FETCHING). */
static void jobreq_fetch(struct jobreq *jr)
{
    struct app *app = jr->r->app;
    jr->state = JOBREQ_FETCHING;
    if (jobstore_fetch(app->redis, app->cfg.prefix, jr->ids[0], jobreq_fetched_cb, jr) == 0)
        return;
    if (jr->kind == JOBREQ_SUBMIT_WAIT) {
        /* the job exists (its ENQUEUE answered): say so even without Redis */
        json_t *body = json_pack("{s:s,s:s}", "id", jr->ids[0], "state", "queued");
        req_reply_json(jobreq_end(jr), 202, body);
        return;
    }
    jobreq_reply_unavailable(jr);
}

/* The wait is over without a finished job, and nothing else is in flight.
 * in_hand: the job as it stands when the command's reply brought it
 * (borrowed), else NULL and it is read. */
static void jobreq_expire(struct jobreq *jr, json_t *in_hand)
{
    if (jr->kind == JOBREQ_RUN)
        req_reply_error(jobreq_end(jr), 504, "job did not finish in time");
    else if (in_hand)
        req_reply_json(jobreq_end(jr), 200, json_incref(in_hand));
    else
        jobreq_fetch(jr);
}

/* The client left while only the waiter was in flight: stop waiting. */
static void jobreq_abandon(struct jobreq *jr)
{
    struct app *app = jr->r->app;
    if (jr->kind == JOBREQ_RUN) /* a job nobody waits for is cancelled if no worker has started it */
        jobstore_cancel(app->redis, app->cfg.prefix, jr->ids[0], app->cfg.result_ttl_ms, NULL, NULL);
    req_reply_error(jobreq_end(jr), 499, "client closed the request");
}

/* Feeds `ev` to the request and does what its state says; jr may be freed
 * when this returns. job (borrowed, may be NULL): the finished job for
 * JOBREQ_ENDS, the job the command's reply brought for JOBREQ_ANSWERED. */
static void jobreq_on(struct jobreq *jr, enum jobreq_event ev, json_t *job)
{
    enum jobreq_action action = jobreq_next(&jr->state, ev);
    if (jr->state == JOBREQ_FINISHED && jr->finished == NULL)
        jr->finished = json_incref(job); /* kept until the command answers */
    switch (action) {
    case JOBREQ_NOTHING:
        break;
    case JOBREQ_WAIT:
        if (jr->r->client_gone) /* it left while the command was in flight */
            jobreq_on(jr, JOBREQ_GONE, NULL);
        break;
    case JOBREQ_REPLY_FINISHED:
        jobreq_reply_finished(jr, jr->finished ? jr->finished : job);
        break;
    case JOBREQ_EXPIRE:
        jobreq_expire(jr, job);
        break;
    case JOBREQ_ABANDON:
        jobreq_abandon(jr);
        break;
    }
}

/* The waiter has ended, with the finished job (borrowed) or at its time. */
static void jobreq_waiter_fn(void *arg, json_t *job)
{
    struct jobreq *jr = arg;
    jr->w = NULL;
    jobreq_on(jr, job ? JOBREQ_ENDS : JOBREQ_TIMES_OUT, job);
}

static void jobreq_gone_fn(struct api_req *r)
{
    if (r->data)
        jobreq_on(r->data, JOBREQ_GONE, NULL);
}

/* The ENQUEUE was sent but its answer never came (a missed deadline or a
 * lost connection): Redis may have run it, or may still run it when it
 * wakes. 503 with the ids the jobs have if they exist, so the client can
 * look before it retries. */
static void jobreq_reply_unknown(struct jobreq *jr)
{
    const char *why = rconn_down_reason(jr->r->app->redis);
    json_t *body = json_pack("{s:s+++,s:s,s:o*}", "error", "redis did not confirm the enqueue (",
                             why[0] ? why : "connection lost", "): the jobs may or may not exist; GET /jobs/{id} ",
                             "for each id tells, before retrying", "outcome", "unknown", "ids", jobreq_ids_json(jr));
    struct api_req *r = jobreq_end(jr);
    req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
    req_reply_json(r, 503, body);
}

/* ENQUEUE refused or failed: answers why. */
static void jobreq_reply_refused(struct jobreq *jr, const redisReply *reply)
{
    const struct api_config *cfg = &jr->r->app->cfg;
    bool jr_batch = jr->kind == JOBREQ_SUBMIT_MANY;
    struct api_req *r;
    if (reply == NULL) {
        jobreq_reply_unknown(jr);
        return;
    }
    r = jobreq_end(jr);
    if (strncmp(reply->str, "FULL ", 5) == 0) {
        req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
        req_reply_error(r, 429, "queue %s is over --max-queue (%ld jobs)", reply->str + 5, cfg->max_queue);
    } else if (strncmp(reply->str, "KEYREUSED ", 10) == 0) {
        char where[32] = "key";
        if (jr_batch)
            snprintf(where, sizeof where, "[%ld].key", strtol(reply->str + 10, NULL, 10) - 1);
        req_reply_error(r, 422,
                        "%s: this idempotency key was used within --idempotency-ttl for a different request; "
                        "send the same request again, or use a new key",
                        where);
    } else if (strncmp(reply->str, "QUEUES ", 7) == 0) {
        req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
        req_reply_error(r, 429,
                        "a new queue name would pass --max-queues (%ld distinct queues); a queue with nothing "
                        "queued or dead for a minute is forgotten",
                        cfg->max_queues);
    } else {
        log_error("enqueue failed", "error=\"%s\"", reply->str);
        req_reply_unavailable(r);
    }
}

/* 202 for a batch: the ids (a replayed element's is its earlier job's),
 * and which elements were replayed. */
static void jobreq_reply_accepted_many(struct jobreq *jr, const bool *replayed)
{
    json_t *idx = json_array(), *body;
    for (size_t i = 0; idx && i < jr->n; i++)
        if (replayed[i])
            json_array_append_new(idx, json_integer((json_int_t)i));
    body = json_pack("{s:o*}", "ids", jobreq_ids_json(jr));
    if (body && json_array_size(idx) > 0)
        json_object_set(body, "replayed", idx);
    json_decref(idx);
    req_reply_json(jobreq_end(jr), 202, body);
}

/* 202 for one job submitted without waiting: its id, and its state as
 * ENQUEUE made it ("queued", or "scheduled <run_at_us>"). */
static void jobreq_reply_accepted(struct jobreq *jr, const char *made)
{
    char loc[64];
    long long run_at = 0;
    bool scheduled = sscanf(made, "scheduled %lld", &run_at) == 1;
    json_t *body = json_pack("{s:s,s:s}", "id", jr->ids[0], "state", scheduled ? "scheduled" : "queued");
    struct api_req *r;
    if (body && scheduled)
        json_object_set_new(body, "run_at", json_real((double)run_at / 1e6));
    snprintf(loc, sizeof loc, "/jobs/%s", jr->ids[0]);
    r = jobreq_end(jr);
    req_add_header(r, "Location", loc);
    req_reply_json(r, 202, body);
}

/* A submit with ?wait whose key replayed an earlier job: wait for that one,
 * as GET /jobs/{id}?wait=S would. */
static void jobreq_rewatch(struct jobreq *jr)
{
    struct app *app = jr->r->app;
    waiters_cancel(app->waiters, jr->w);
    json_decref(jr->finished);
    jr->finished = NULL;
    jr->kind = JOBREQ_WATCH;
    jr->state = JOBREQ_SENT;
    jr->w = waiters_add(app->waiters, jr->ids[0], jr->wait_ms, jobreq_waiter_fn, jr);
    if (jr->w == NULL)
        req_reply_error(jobreq_end(jr), 503, MSG_OUT_OF_MEMORY);
    else if (jobstore_watch(app->redis, app->cfg.prefix, jr->ids[0], app->id, jobreq_watched_cb, jr) != 0)
        jobreq_reply_unavailable(jr);
}

/* Reads ENQUEUE's per-job entries into replayed[] (an "=<id>" entry puts
 * the earlier job's id in jr->ids). Returns the first entry, or NULL when
 * the reply is malformed. */
static const char *jobreq_entries(struct jobreq *jr, const redisReply *reply, bool *replayed)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != jr->n + 1)
        return NULL;
    for (size_t i = 0; i < jr->n; i++) {
        const redisReply *e = reply->element[1 + i];
        if (e->type != REDIS_REPLY_STRING)
            return NULL;
        if (e->str[0] == '=') {
            if (!jobid_valid(e->str + 1))
                return NULL;
            memcpy(jr->ids[i], e->str + 1, JOBID_LEN + 1);
            replayed[i] = jr->replayed = true;
        }
    }
    return reply->element[1]->str;
}

/* The ENQUEUE was answered but --redis-wait's replicas did not confirm
 * it in time (acked of them did; -1: the answer was lost): 503 with the
 * ids, since the jobs exist on the master and a failover could lose them. */
static void jobreq_reply_unconfirmed(struct jobreq *jr, long acked)
{
    const struct replwait *rw = jr->r->app->replwait;
    char why[256];
    if (acked < 0)
        snprintf(why, sizeof why, "redis did not say whether %ld replicas have the jobs (--redis-wait)",
                 replwait_replicas(rw));
    else
        snprintf(why, sizeof why, "only %ld of %ld replicas confirmed the jobs within %lld ms (--redis-wait)", acked,
                 replwait_replicas(rw), (long long)replwait_timeout_ms(rw));
    json_t *body = json_pack("{s:s+,s:s,s:I,s:o*}", "error", why,
                             ": the master has them, but a failover now could lose them; GET /jobs/{id} for each id "
                             "tells, before retrying",
                             "outcome", "unconfirmed", "replicas", (json_int_t)(acked < 0 ? 0 : acked), "ids",
                             jobreq_ids_json(jr));
    struct api_req *r = jobreq_end(jr);
    req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
    req_reply_json(r, 503, body);
}

/* ENQUEUE made (or replayed) every job: answers, or for ?wait goes on
 * waiting. first: the first job's entry ("queued", "scheduled <us>");
 * replayed[i]: job i's idempotency key named an earlier job. */
static void jobreq_accepted(struct jobreq *jr, const char *first, const bool *replayed)
{
    if (jr->kind == JOBREQ_SUBMIT_MANY) {
        jobreq_reply_accepted_many(jr, replayed);
    } else if (jr->replayed && jr->kind == JOBREQ_SUBMIT_WAIT) {
        jobreq_rewatch(jr);
    } else if (jr->replayed) {
        jobreq_fetch(jr); /* 200 with the earlier job as it stands */
    } else if (jr->kind == JOBREQ_SUBMIT) {
        jobreq_reply_accepted(jr, first);
    } else {
        jobreq_on(jr, JOBREQ_ANSWERED, NULL);
    }
}

/* --redis-wait: the replicas' answer for jr's ENQUEUE. */
static void jobreq_replicated_fn(void *arg, long acked)
{
    struct jobreq *jr = arg;
    if (acked < replwait_replicas(jr->r->app->replwait))
        jobreq_reply_unconfirmed(jr, acked);
    else
        jobreq_accepted(jr, jr->made, jr->replayed_at);
}

static void jobreq_enqueued_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct jobreq *jr = priv;
    struct replwait *rw = jr->r->app->replwait;
    redisReply *reply = rep;
    bool *replayed;
    const char *first;
    (void)ac;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        jobreq_reply_refused(jr, reply);
        return;
    }
    replayed = calloc(jr->n, sizeof *replayed);
    first = replayed ? jobreq_entries(jr, reply, replayed) : NULL;
    if (first == NULL) {
        if (replayed)
            log_error("enqueue: unexpected reply", "type=%d", reply->type);
        jobreq_reply_unavailable(jr);
        free(replayed);
        return;
    }
    if (rw == NULL) {
        jobreq_accepted(jr, first, replayed);
        free(replayed);
        return;
    }
    /* hold the answer until the replicas have the jobs (the WAIT goes on
     * this connection, after this ENQUEUE) */
    snprintf(jr->made, sizeof jr->made, "%s", first);
    jr->replayed_at = replayed;
    if (replwait_add(rw, jobreq_replicated_fn, jr) != 0)
        jobreq_reply_unconfirmed(jr, -1);
}

static void jobreq_watched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct jobreq *jr = priv;
    json_t *job;
    char id[JOBID_LEN + 1];
    (void)ac;
    if (rep == NULL || ((redisReply *)rep)->type == REDIS_REPLY_ERROR) {
        jobreq_reply_unavailable(jr);
        return;
    }
    job = jobstore_json(rep);
    memcpy(id, jr->ids[0], sizeof id);
    if (job == NULL) {
        req_reply_no_job(jobreq_end(jr), id, "unknown or expired");
        return;
    }
    if (jobstore_terminal(job)) /* it had ended before the watch: as if the waiter had it */
        jobreq_on(jr, JOBREQ_ENDS, job);
    jobreq_on(jr, JOBREQ_ANSWERED, job);
    json_decref(job);
}

/* Sends jr's jobs: ENQUEUE, answered later by jobreq_enqueued_cb. */
static void jobreq_send_enqueue(struct jobreq *jr, const struct job_spec *specs)
{
    struct app *app = jr->r->app;
    struct jobstore_enqueue e = {
        .prefix = app->cfg.prefix,
        .max_queue = app->cfg.max_queue,
        .max_queues = app->cfg.max_queues,
        .notify = jr->kind == JOBREQ_SUBMIT || jr->kind == JOBREQ_SUBMIT_MANY ? "" : app->id,
        .idem_ttl_ms = app->cfg.idempotency_ttl_ms,
        .backoff_base_ms = app->cfg.backoff_base_ms,
        .backoff_max_ms = app->cfg.backoff_max_ms,
        .specs = specs,
        .ids = (const char(*)[JOBID_LEN + 1])jr->ids,
        .n = jr->n,
    };
    if (jobstore_enqueue(app->redis, &e, jobreq_enqueued_cb, jr) != 0)
        jobreq_reply_unavailable(jr);
}

void jobreq_submit(struct api_req *r, const struct job_spec *specs, size_t n, bool batch, int64_t wait_ms)
{
    enum jobreq_kind kind = batch ? JOBREQ_SUBMIT_MANY : wait_ms > 0 ? JOBREQ_SUBMIT_WAIT : JOBREQ_SUBMIT;
    struct jobreq *jr = jobreq_new(r, kind, n, wait_ms);
    if (jr)
        jobreq_send_enqueue(jr, specs);
}

void jobreq_run(struct api_req *r, const struct job_spec *spec, int64_t timeout_ms)
{
    struct jobreq *jr = jobreq_new(r, JOBREQ_RUN, 1, timeout_ms);
    if (jr)
        jobreq_send_enqueue(jr, spec);
}

void jobreq_get(struct api_req *r, int64_t wait_ms)
{
    struct app *app = r->app;
    struct jobreq *jr = jobreq_new(r, wait_ms > 0 ? JOBREQ_WATCH : JOBREQ_GET, 1, wait_ms);
    if (jr == NULL)
        return;
    if (jr->kind == JOBREQ_GET) {
        jobreq_fetch(jr);
        return;
    }
    if (jobstore_watch(app->redis, app->cfg.prefix, jr->ids[0], app->id, jobreq_watched_cb, jr) != 0)
        jobreq_reply_unavailable(jr);
}
