#include "api/jobs.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/qstats.h"
#include "api/rconn.h"
#include "api/req.h"
#include "api/waiters.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"

#define WAIT_MAX_S 300.0             /* a long-poll longer than 5 minutes belongs to a webhook */

/* How a request that waits for a job ends. */
enum wait_kind {
    WAIT_NONE, /* POST /jobs without ?wait: 202 at once */
    WAIT_POST, /* POST /jobs?wait=S: 200 finished job, or 202 current job at the timeout */
    WAIT_GET,  /* GET /jobs/{id}?wait=S: 200 with the job, finished or not */
    WAIT_CPU,  /* /cpu?mode=queue: 200 finished job, or 504 at the timeout */
};

/* A job request in flight. Its Redis command and its waiter can answer in
 * either order (they travel on different connections), so whichever comes
 * second replies. */
struct job_req {
    struct api_req *r;
    enum wait_kind kind;
    struct waiter *w;
    bool cmd_pending; /* the ENQUEUE/WATCH reply has not arrived */
    json_t *early;    /* terminal job that arrived while cmd_pending */
    bool timed_out;   /* the waiter's timer passed while cmd_pending */
    size_t n;
    char (*ids)[JOBID_LEN + 1];
    bool batch;
};

static void job_req_free(struct job_req *jr)
{
    if (jr == NULL)
        return;
    json_decref(jr->early);
    free(jr->ids);
    free(jr);
}

/* 404 for the job named in the path, saying why. */
static void reply_no_job(struct api_req *r, const char *why)
{
    req_reply_error(r, 404, "no job with id %s (%s)", r->id, why);
}

void jobs_reply_unavailable(struct api_req *r)
{
    req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
    const char *refused = r->app->redis ? rconn_refused(r->app->redis) : "";
    const char *why = r->app->redis ? rconn_down_reason(r->app->redis) : "";
    if (refused[0])
        req_reply_error(r, 503, "%s", refused);
    else if (why[0])
        req_reply_error(r, 503, "redis unavailable (%s), retry later", why);
    else
        req_reply_error(r, 503, "redis unavailable, retry later");
}

json_t *jobs_reply_to_json(const redisReply *reply)
{
    const char **f = NULL, **v = NULL;
    size_t *fl = NULL, *vl = NULL, n;
    json_t *job = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return NULL;
    n = reply->elements / 2;
    f = malloc(n * sizeof *f);
    v = malloc(n * sizeof *v);
    fl = malloc(n * sizeof *fl);
    vl = malloc(n * sizeof *vl);
    if (!f || !v || !fl || !vl)
        goto err;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = reply->element[2 * i], *val = reply->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            goto err;
        f[i] = k->str;
        fl[i] = k->len;
        v[i] = val->str;
        vl[i] = val->len;
    }
    job = job_to_json(f, fl, v, vl, n);
err:
    free(f);
    free(v);
    free(fl);
    free(vl);
    return job;
}

static bool job_is_terminal(json_t *job)
{
    enum job_state st;
    json_t *s = json_object_get(job, "state");
    return json_is_string(s) && job_state_parse(json_string_value(s), &st) == 0 && job_state_terminal(st);
}

static void reply_finished(struct job_req *jr, json_t *job)
{
    struct api_req *r = jr->r;
    json_t *copy = json_deep_copy(job);
    job_req_free(jr);
    req_reply_json(r, 200, copy);
}

static void current_fetched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct job_req *jr = priv;
    struct api_req *r = jr->r;
    json_t *job;
    (void)ac;
    if (rep == NULL) {
        job_req_free(jr);
        jobs_reply_unavailable(r);
        return;
    }
    job = jobs_reply_to_json(rep);
    job_req_free(jr);
    if (job == NULL) {
        reply_no_job(r, "unknown or expired");
        return;
    }
    req_reply_json(r, r->route == ROUTE_JOBS ? 202 : 200, job);
}

/* The wait ended without a finished job. */
static void reply_timeout(struct job_req *jr)
{
    struct api_req *r = jr->r;
    char key[512];
    const char *argv[2] = {"HGETALL", key};
    if (jr->kind == WAIT_CPU) {
        job_req_free(jr);
        req_reply_error(r, 504, "job did not finish in time");
        return;
    }
    snprintf(r->id, sizeof r->id, "%s", jr->ids[0]);
    if (key_job(key, sizeof key, r->app->cfg.prefix, jr->ids[0]) < 0 ||
        rconn_command(r->app->redis, current_fetched_cb, jr, 2, argv, NULL) != 0) {
        if (jr->kind == WAIT_POST) {
            json_t *body = json_pack("{s:s,s:s}", "id", jr->ids[0], "state", "queued");
            job_req_free(jr);
            req_reply_json(r, 202, body);
            return;
        }
        job_req_free(jr);
        jobs_reply_unavailable(r);
    }
}

static void wait_done_fn(void *arg, json_t *job)
{
    struct job_req *jr = arg;
    jr->w = NULL;
    if (jr->cmd_pending) {
        if (job)
            jr->early = json_incref(job);
        else
            jr->timed_out = true;
        return;
    }
    if (job)
        reply_finished(jr, job);
    else
        reply_timeout(jr);
}

static void ignore_reply_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    (void)ac;
    (void)rep;
    (void)priv;
}

static void wait_gone_fn(struct api_req *r)
{
    struct job_req *jr = r->data;
    if (jr == NULL || jr->cmd_pending)
        return; /* the command's reply ends the request */
    if (jr->kind == WAIT_CPU) {
        /* /cpu?mode=queue lives as long as its request: a job nobody waits
         * for is cancelled if no worker has started it yet */
        struct app *app = r->app;
        char now[24], ttl[24];
        const char *argv[4] = {app->cfg.prefix, jr->ids[0], now, ttl};
        snprintf(now, sizeof now, "%lld", (long long)job_now_us());
        snprintf(ttl, sizeof ttl, "%lld", (long long)((app->cfg.result_ttl_ms + 999) / 1000));
        rconn_script(app->redis, SCRIPT_CANCEL, ignore_reply_cb, NULL, 4, argv, NULL);
    }
    waiters_cancel(r->app->waiters, jr->w);
    job_req_free(jr);
    req_reply_error(r, 499, "client closed the request");
}

static void cancel_wait(struct job_req *jr)
{
    if (jr->w) {
        waiters_cancel(jr->r->app->waiters, jr->w);
        jr->w = NULL;
    }
}

/* The ENQUEUE was sent but its answer never came (a missed deadline or a
 * lost connection): Redis may have run it, or may still run it when it
 * wakes. 503 with the ids the jobs have if they exist, so the client can
 * look before it retries. */
static void reply_enqueue_unknown(struct job_req *jr)
{
    struct api_req *r = jr->r;
    const char *why = rconn_down_reason(r->app->redis);
    json_t *ids = json_array(), *body;
    for (size_t i = 0; ids && i < jr->n; i++)
        json_array_append_new(ids, json_string(jr->ids[i]));
    body = json_pack("{s:s+++,s:s,s:o*}", "error", "redis did not confirm the enqueue (",
                     why[0] ? why : "connection lost", "): the jobs may or may not exist; GET /jobs/{id} ",
                     "for each id tells, before retrying", "outcome", "unknown", "ids", ids);
    req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
    req_reply_json(r, 503, body);
}

static void enqueued_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct job_req *jr = priv;
    struct api_req *r = jr->r;
    redisReply *reply = rep;
    (void)ac;
    jr->cmd_pending = false;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cancel_wait(jr);
        if (reply && strncmp(reply->str, "FULL ", 5) == 0) {
            req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
            req_reply_error(r, 429, "queue %s is over --max-queue (%ld jobs)", reply->str + 5,
                            r->app->cfg.max_queue);
        } else if (reply && strncmp(reply->str, "QUEUES ", 7) == 0) {
            req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
            req_reply_error(r, 429,
                            "a new queue name would pass --max-queues (%ld distinct queues); a queue with nothing "
                            "queued or dead for a minute is forgotten",
                            r->app->cfg.max_queues);
        } else if (reply) {
            log_error("enqueue failed", "error=\"%s\"", reply->str);
            jobs_reply_unavailable(r);
        } else {
            reply_enqueue_unknown(jr);
        }
        job_req_free(jr);
        return;
    }
    if (jr->kind == WAIT_NONE) {
        json_t *body;
        if (jr->batch) {
            json_t *ids = json_array();
            for (size_t i = 0; ids && i < jr->n; i++)
                json_array_append_new(ids, json_string(jr->ids[i]));
            body = json_pack("{s:o*}", "ids", ids);
        } else {
            char loc[64];
            snprintf(loc, sizeof loc, "/jobs/%s", jr->ids[0]);
            req_add_header(r, "Location", loc);
            body = json_pack("{s:s,s:s}", "id", jr->ids[0], "state", "queued");
        }
        job_req_free(jr);
        req_reply_json(r, 202, body);
        return;
    }
    if (jr->early)
        reply_finished(jr, jr->early);
    else if (jr->timed_out)
        reply_timeout(jr);
    /* else: the waiter answers */
}

/* Sends ENQUEUE for jr's specs. Returns 0, or -1 (nothing sent). */
static int enqueue_send(struct job_req *jr, const struct job_spec *specs)
{
    enum { STRIDE = SCRIPT_ENQUEUE_STRIDE };
    struct app *app = jr->r->app;
    size_t argc = 4 + STRIDE * jr->n + 1;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char (*nums)[3][24] = calloc(jr->n, sizeof *nums);
    char maxq[24], now[24], count[24], maxqs[24];
    int ret = -1;
    if (!argv || !lens || !nums)
        goto err;
    snprintf(maxq, sizeof maxq, "%ld", app->cfg.max_queue);
    snprintf(maxqs, sizeof maxqs, "%ld", app->cfg.max_queues);
    argv[argc - 1] = maxqs;
    lens[argc - 1] = strlen(maxqs);
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    snprintf(count, sizeof count, "%zu", jr->n);
    argv[0] = app->cfg.prefix;
    argv[1] = maxq;
    argv[2] = now;
    argv[3] = count;
    for (size_t i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < jr->n; i++) {
        const struct job_spec *sp = &specs[i];
        const char **a = argv + 4 + STRIDE * i;
        size_t *l = lens + 4 + STRIDE * i;
        bool burn = strcmp(sp->task, JOB_TASK_DEFAULT) == 0;
        if (burn)
            snprintf(nums[i][0], sizeof nums[i][0], "%d", sp->ms);
        snprintf(nums[i][1], sizeof nums[i][1], "%d", sp->max_attempts);
        if (sp->timeout_ms > 0)
            snprintf(nums[i][2], sizeof nums[i][2], "%lld", (long long)sp->timeout_ms);
        a[0] = jr->ids[i];
        a[1] = sp->queue;
        a[2] = nums[i][0];
        a[3] = sp->payload;
        l[3] = sp->payload_len;
        a[4] = nums[i][1];
        a[5] = jr->kind == WAIT_NONE ? "" : app->id;
        a[6] = sp->task;
        a[7] = sp->args;
        l[7] = sp->args_len;
        a[8] = nums[i][2];
        for (int k = 0; k < STRIDE; k++)
            if (k != 3 && k != 7) /* payload and args are binary-safe: lengths above */
                l[k] = strlen(a[k]);
    }
    jr->cmd_pending = true;
    ret = rconn_script(app->redis, SCRIPT_ENQUEUE, enqueued_cb, jr, (int)argc, argv, lens);
    if (ret != 0)
        jr->cmd_pending = false;
err:
    free(argv);
    free(lens);
    free(nums);
    return ret;
}

/* Creates ids and the waiter, sends the jobs, and leaves the reply to the
 * callbacks; on any failure answers at once. Takes nothing from specs. */
static void enqueue_start(struct api_req *r, const struct job_spec *specs, size_t n, bool batch,
                          enum wait_kind kind, int64_t wait_ms)
{
    struct job_req *jr = calloc(1, sizeof *jr);
    if (jr == NULL)
        goto oom;
    jr->r = r;
    jr->kind = kind;
    jr->n = n;
    jr->batch = batch;
    jr->ids = calloc(n, sizeof *jr->ids);
    if (jr->ids == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (jobid_new(jr->ids[i]) != 0) {
            job_req_free(jr);
            req_reply_error(r, 500, "random source failed");
            return;
        }
    if (kind != WAIT_NONE) {
        /* registered before the job exists: its done message cannot be missed */
        jr->w = waiters_add(r->app->waiters, jr->ids[0], wait_ms, wait_done_fn, jr);
        if (jr->w == NULL)
            goto oom;
        r->data = jr;
        req_on_gone(r, wait_gone_fn);
    }
    if (enqueue_send(jr, specs) != 0) {
        cancel_wait(jr);
        job_req_free(jr);
        jobs_reply_unavailable(r);
    }
    return;
oom:
    job_req_free(jr);
    req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
}

void jobs_handle_post(struct api_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    struct job_spec *specs = NULL;
    size_t n = 0;
    bool batch = false;
    int64_t wait_ms = 0;
    char err[256];
    const char *body;
    if ((long)len > r->app->cfg.max_body) {
        req_reply_error(r, 413, "body of %zu bytes is over --max-body (%ld bytes)", len, r->app->cfg.max_body);
        return;
    }
    if (req_wait_ms(r, WAIT_MAX_S, &wait_ms) != 0) {
        req_reply_error(r, 400, "wait: must be a number of seconds in 0..%g", WAIT_MAX_S);
        return;
    }
    body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (len && body == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return;
    }
    if (job_parse_body(body, len, &specs, &n, &batch, err, sizeof err) != 0) {
        req_reply_error(r, 400, "%s", err);
        return;
    }
    evbuffer_drain(in, len); /* the specs own copies: a long-poll holds no body */
    if (batch && wait_ms > 0) {
        job_specs_free(specs, n);
        req_reply_error(r, 400, "wait: not supported for a batch; wait on each id with GET /jobs/{id}?wait=S");
        return;
    }
    if (!rconn_ready(r->app->redis)) {
        job_specs_free(specs, n);
        jobs_reply_unavailable(r);
        return;
    }
    enqueue_start(r, specs, n, batch, wait_ms > 0 ? WAIT_POST : WAIT_NONE, wait_ms);
    job_specs_free(specs, n);
}

void jobs_run_and_wait(struct api_req *r, int ms, int64_t timeout_ms)
{
    struct job_spec spec = {.ms = ms, .payload = (char *)"", .args = (char *)"",
                            .max_attempts = JOB_ATTEMPTS_DEFAULT, .task = JOB_TASK_DEFAULT};
    snprintf(spec.queue, sizeof spec.queue, "%s", JOB_QUEUE_DEFAULT);
    if (!rconn_ready(r->app->redis)) {
        jobs_reply_unavailable(r);
        return;
    }
    enqueue_start(r, &spec, 1, false, WAIT_CPU, timeout_ms);
}

static void got_job_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    json_t *job;
    (void)ac;
    if (rep == NULL) {
        jobs_reply_unavailable(r);
        return;
    }
    job = jobs_reply_to_json(rep);
    if (job == NULL) {
        reply_no_job(r, "unknown or expired");
        return;
    }
    req_reply_json(r, 200, job);
}

static void watched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct job_req *jr = priv;
    struct api_req *r = jr->r;
    json_t *job;
    (void)ac;
    jr->cmd_pending = false;
    if (rep == NULL || ((redisReply *)rep)->type == REDIS_REPLY_ERROR) {
        cancel_wait(jr);
        job_req_free(jr);
        jobs_reply_unavailable(r);
        return;
    }
    job = jobs_reply_to_json(rep);
    if (job == NULL) {
        cancel_wait(jr);
        job_req_free(jr);
        reply_no_job(r, "unknown or expired");
        return;
    }
    if (jr->early || jr->timed_out || job_is_terminal(job)) {
        cancel_wait(jr);
        if (jr->early) {
            json_decref(job);
            job = json_incref(jr->early);
        }
        job_req_free(jr);
        req_reply_json(r, 200, job);
        return;
    }
    json_decref(job); /* not finished: the waiter answers */
}

void jobs_handle_get(struct api_req *r)
{
    struct app *app = r->app;
    char key[512];
    int64_t wait_ms;
    struct job_req *jr;
    if (req_wait_ms(r, WAIT_MAX_S, &wait_ms) != 0) {
        req_reply_error(r, 400, "wait: must be a number of seconds in 0..%g", WAIT_MAX_S);
        return;
    }
    if (!jobid_valid(r->id)) {
        reply_no_job(r, "ids are 32 lowercase hex characters");
        return;
    }
    if (!rconn_ready(app->redis)) {
        jobs_reply_unavailable(r);
        return;
    }
    if (wait_ms == 0) {
        const char *argv[2] = {"HGETALL", key};
        if (key_job(key, sizeof key, app->cfg.prefix, r->id) < 0 ||
            rconn_command(app->redis, got_job_cb, r, 2, argv, NULL) != 0)
            jobs_reply_unavailable(r);
        return;
    }
    jr = calloc(1, sizeof *jr);
    if (jr)
        jr->ids = calloc(1, sizeof *jr->ids);
    if (jr == NULL || jr->ids == NULL) {
        job_req_free(jr);
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return;
    }
    jr->r = r;
    jr->kind = WAIT_GET;
    jr->n = 1;
    memcpy(jr->ids[0], r->id, JOBID_LEN + 1);
    jr->w = waiters_add(app->waiters, r->id, wait_ms, wait_done_fn, jr);
    if (jr->w == NULL) {
        job_req_free(jr);
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return;
    }
    r->data = jr;
    req_on_gone(r, wait_gone_fn);
    {
        const char *argv[3] = {app->cfg.prefix, r->id, app->id};
        jr->cmd_pending = true;
        if (rconn_script(app->redis, SCRIPT_WATCH, watched_cb, jr, 3, argv, NULL) != 0) {
            jr->cmd_pending = false;
            cancel_wait(jr);
            job_req_free(jr);
            jobs_reply_unavailable(r);
        }
    }
}

static void cancelled_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        jobs_reply_unavailable(r);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        req_reply_json(r, 200, json_pack("{s:s,s:s}", "id", r->id, "state", "cancelled"));
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        reply_no_job(r, "unknown or expired");
    } else {
        const char *st = reply->type == REDIS_REPLY_STRING ? reply->str : "unknown";
        req_reply_json(r, 409,
                       json_pack("{s:s,s:s,s:s}", "error", "only a queued job can be cancelled", "id", r->id,
                                 "state", st));
    }
}

void jobs_handle_delete(struct api_req *r)
{
    struct app *app = r->app;
    char now[24], ttl[24];
    const char *argv[4] = {app->cfg.prefix, r->id, now, ttl};
    if (!jobid_valid(r->id)) {
        reply_no_job(r, "ids are 32 lowercase hex characters");
        return;
    }
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    snprintf(ttl, sizeof ttl, "%lld", (long long)((app->cfg.result_ttl_ms + 999) / 1000));
    if (rconn_script(app->redis, SCRIPT_CANCEL, cancelled_cb, r, 4, argv, NULL) != 0)
        jobs_reply_unavailable(r);
}

static void queues_reply_fn(void *arg, const struct qstats_view *v)
{
    struct api_req *r = arg;
    if (v == NULL) {
        jobs_reply_unavailable(r);
        return;
    }
    req_reply_json(r, 200, json_incref(v->body));
}

void jobs_handle_queues(struct api_req *r)
{
    qstats_get(r->app->qstats, queues_reply_fn, r);
}
