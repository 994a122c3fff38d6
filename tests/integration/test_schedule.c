/* Time and retries end to end, with real Redis, real APIs and real workers:
 * delayed jobs (run after their run_at, cancelled, kept across a Redis
 * restart), retries with backoff and their history, dead jobs retried and
 * deleted, idempotent submits (also racing ones), and periodic schedules
 * whose every tick makes exactly one job however many movers run, including
 * after one of each kind is killed and after every mover was away.
 *
 * Times: the test's wall clock, Redis's TIME and the job times are the same
 * machine's CLOCK_REALTIME, so orderings between them are exact; durations
 * are only bounded loosely (a noisy machine). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/harness/stack.h"

#define PREFIX "offload:"
#define JOB_WAIT_MS 10000   /* a job due now is done well within this, however noisy the machine */
#define RACERS 20           /* concurrent submits with one idempotency key */
#define EVERY_SECOND "*/1 * * * * *"
#define TIME_EPS 0.002      /* µs-precision times round-tripped through JSON doubles */

static struct stack S;
static char counter_dir[128];
static char flaky_spec[512];

/* The "flaky" task: an exec task whose args is a number k; it counts its
 * runs per job in counter_dir/<job id> and fails its first k runs (exit 3,
 * "failure n of k" on stderr), then answers the run number n. */
static const char *const *flaky_task_args(void)
{
    static const char *args[3];
    const char *base = getenv("HARNESS_RUN_DIR");
    snprintf(counter_dir, sizeof counter_dir, "%s/flaky-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(counter_dir));
    snprintf(flaky_spec, sizeof flaky_spec,
             "flaky=exec:sh -c 'k=$(cat); f=\"$0/$OFFLOAD_JOB_ID\"; n=$(($(cat \"$f\" 2>/dev/null || echo 0) + 1)); "
             "echo $n >\"$f\"; if [ $n -le $k ]; then echo \"failure $n of $k\" >&2; exit 3; fi; echo $n' %s",
             counter_dir);
    args[0] = "--task";
    args[1] = flaky_spec;
    args[2] = NULL;
    return args;
}

static void up(int workers, bool persist)
{
    struct stack_opts o = {.workers = workers, .persist = persist, .worker_args = flaky_task_args()};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

static void down(void)
{
    stack_stop(&S);
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends method path [body] [headers] to the stack's api, requires the
 * answer's code to be `want`, and returns its body as JSON (new reference;
 * NULL when not JSON). *replayed, when given, says whether the answer
 * carried Idempotent-Replayed: true. */
static json_t *call(const char *method, const char *path, const char *body, const char *const *headers, long want,
                    bool *replayed)
{
    struct http_resp r;
    char hv[16];
    ck_assert_int_eq(stack_http(&S, method, path, body, headers, 10000, &r), 0);
    ck_assert_msg(r.code == want, "%s %s %s: want %ld, got %ld: %s", method, path, body ? body : "", want, r.code,
                  r.body);
    if (replayed) {
        const char *v = http_resp_header(&r, "Idempotent-Replayed", hv, sizeof hv);
        *replayed = v && strcmp(v, "true") == 0;
    }
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    return j;
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* A JSON number field; fails the test when it is absent or null. */
static double num(const json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    ck_assert_msg(json_is_number(v), "%s: not a number", key);
    return json_number_value(v);
}

/* "error" of an answer contains every word given (NULL-terminated). */
static void assert_error_names(const json_t *answer, const char *const *words)
{
    const char *e = str(answer, "error");
    ck_assert_ptr_nonnull(e);
    for (; *words; words++)
        ck_assert_msg(strstr(e, *words) != NULL, "error \"%s\" does not name %s", e, *words);
}

#define ID_BUF 64

/* POSTs one job to /jobs, requires 202 with `state` ("queued" or
 * "scheduled"), and copies its id into id. Returns its run_at (Unix
 * seconds) when scheduled, else 0. */
static double submit(const char *body, const char *state, char id[ID_BUF])
{
    json_t *a = call("POST", "/jobs", body, NULL, 202, NULL);
    double run_at = 0;
    ck_assert_str_eq(str(a, "state"), state);
    snprintf(id, ID_BUF, "%s", str(a, "id"));
    if (strcmp(state, "scheduled") == 0)
        run_at = num(a, "run_at");
    else
        ck_assert_ptr_null(json_object_get(a, "run_at"));
    json_decref(a);
    return run_at;
}

struct job_wait {
    const char *id;
    const char *state;
    size_t history; /* 0: any */
    json_t *job;    /* the last view read */
};

static bool job_reached(void *arg)
{
    struct job_wait *w = arg;
    json_decref(w->job);
    w->job = stack_job(&S, w->id, 0); /* NULL while the api reconnects to Redis */
    return w->job && strcmp(str(w->job, "state"), w->state) == 0 &&
           (w->history == 0 || json_array_size(json_object_get(w->job, "history")) == w->history);
}

/* Waits until the job is in `state` (with `history` attempts, when not 0)
 * and returns its view (new reference); fails the test after timeout_ms. */
static json_t *wait_job(const char *id, const char *state, size_t history, int timeout_ms)
{
    struct job_wait w = {id, state, history, NULL};
    if (harness_wait_until(job_reached, &w, timeout_ms, 20) != 0)
        ck_abort_msg("job %s: state %s with %zu attempts in its history, wanted %s (%zu) within %d ms", id,
                     w.job ? str(w.job, "state") : "(unreadable)",
                     w.job ? json_array_size(json_object_get(w.job, "history")) : 0, state, history, timeout_ms);
    return w.job;
}

/* GET /jobs/{id} answers 404. */
static void assert_job_gone(const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/jobs/%s", id);
    json_decref(call("GET", path, NULL, NULL, 404, NULL));
}

/* How many runs the flaky task counted for the job (0: never ran). */
static int runs_of(const char *id)
{
    char path[256];
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", counter_dir, id);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

/* The job's history is `want` (NULL-terminated), each entry "ATTEMPT
 * OUTCOME" ("1 error": the attempt number as stored, and its outcome). */
static void assert_history(const json_t *job, const char *const *want)
{
    json_t *h = json_object_get(job, "history"), *e;
    size_t i, n = 0;
    while (want[n])
        n++;
    ck_assert_msg(json_is_array(h) && json_array_size(h) == n, "history has %zu entries, want %zu",
                  json_array_size(h), n);
    json_array_foreach(h, i, e)
    {
        char got[64];
        snprintf(got, sizeof got, "%d %s", (int)num(e, "attempt"), str(e, "outcome"));
        ck_assert_str_eq(got, want[i]);
        ck_assert(num(e, "ended_at") >= num(e, "started_at"));
    }
}

struct figure_wait {
    const char *field;
    long want;
    long got;
};

static bool figure_is(void *arg)
{
    struct figure_wait *w = arg;
    struct http_resp r;
    w->got = -1;
    if (stack_http(&S, "GET", "/queues", NULL, NULL, 5000, &r) == 0 && r.code == 200) {
        json_t *j = http_resp_json(&r);
        json_t *d = json_object_get(json_object_get(json_object_get(j, "queues"), "default"), w->field);
        w->got = d ? (long)json_integer_value(d) : 0;
        json_decref(j);
    }
    http_resp_free(&r);
    return w->got == w->want;
}

/* Waits until GET /queues shows `want` for the default queue's `field`
 * (its figures are up to a second old). */
static void wait_queue_figure(const char *field, long want)
{
    struct figure_wait w = {field, want, -1};
    ck_assert_msg(harness_wait_until(figure_is, &w, 5000, 50) == 0, "/queues default.%s is %ld, want %ld", field,
                  w.got, want);
}

/* ---- Redis-side views: what exists, whatever the API says ---- */

static redisReply *rcmd(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* How many job hashes exist. */
static size_t job_count(void)
{
    redisContext *c = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(c);
    redisReply *r = rcmd(c, "KEYS %s", PREFIX "job:*");
    size_t n = r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

#define TICKS_MAX 256

/* The jobs a schedule made: each one's tick (Unix seconds) and creation. */
struct tick_jobs {
    size_t n;
    long long tick[TICKS_MAX];
    double created[TICKS_MAX];
};

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Reads every job hash whose "schedule" is `name`, requiring its "tick" to
 * be a whole second in µs, into t. */
static void schedule_jobs(const char *name, struct tick_jobs *t)
{
    redisContext *c = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(c);
    redisReply *keys = rcmd(c, "KEYS %s", PREFIX "job:*");
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *f = rcmd(c, "HMGET %s schedule tick created_at", keys->element[i]->str);
        ck_assert_uint_eq(f->elements, 3);
        if (f->element[0]->type == REDIS_REPLY_STRING && strcmp(f->element[0]->str, name) == 0) {
            ck_assert_msg(f->element[1]->type == REDIS_REPLY_STRING, "%s: no tick", keys->element[i]->str);
            long long us = strtoll(f->element[1]->str, NULL, 10);
            ck_assert_msg(us > 0 && us % 1000000 == 0, "%s: tick %s is not a whole second", keys->element[i]->str,
                          f->element[1]->str);
            ck_assert_uint_lt(t->n, TICKS_MAX);
            t->tick[t->n] = us / 1000000;
            t->created[t->n] = strtod(f->element[2]->str, NULL) / 1e6;
            t->n++;
        }
        freeReplyObject(f);
    }
    freeReplyObject(keys);
    redisFree(c);
}

/* Every tick has exactly one job: the ticks, sorted, never repeat. */
static void assert_one_job_per_tick(const struct tick_jobs *t)
{
    long long sorted[TICKS_MAX];
    memcpy(sorted, t->tick, t->n * sizeof sorted[0]);
    qsort(sorted, t->n, sizeof sorted[0], cmp_ll);
    for (size_t i = 1; i < t->n; i++)
        ck_assert_msg(sorted[i] != sorted[i - 1], "tick %lld has more than one job", sorted[i]);
}

/* Jobs whose tick is in (after, upto]. */
static size_t ticks_in(const struct tick_jobs *t, double after, double upto)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += (double)t->tick[i] > after && (double)t->tick[i] <= upto;
    return n;
}

/* About one tick a second over (after, upto]: at least the whole seconds
 * less 2 (a stalled machine may fold a late tick into the next, by
 * design), and never more than there were seconds. */
static void assert_ticks_each_second(const struct tick_jobs *t, double after, double upto, const char *when)
{
    size_t n = ticks_in(t, after, upto);
    double secs = upto - after;
    ck_assert_msg((double)n >= secs - 2 && (double)n <= secs + 1, "%s: %zu ticks in %.1f s", when, n, secs);
}

/* POSTs an every-second burn schedule `name`, requires `want` (201 made, with
 * its Location; 200 replaced), and returns the answer. */
static json_t *every_second(const char *name, long want)
{
    char body[256], loc[96], want_loc[96];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"cron\":\"" EVERY_SECOND "\",\"ms\":1}", name);
    ck_assert_int_eq(stack_http(&S, "POST", "/schedules", body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == want, "POST /schedules %s: want %ld, got %ld: %s", body, want, r.code, r.body);
    snprintf(want_loc, sizeof want_loc, "/schedules/%s", name);
    ck_assert_pstr_eq(http_resp_header(&r, "Location", loc, sizeof loc), want_loc);
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    ck_assert_str_eq(str(j, "name"), name);
    ck_assert_str_eq(str(j, "cron"), EVERY_SECOND);
    return j;
}

/* ---- 1. delayed jobs ---- */

START_TEST(delayed_job_runs_after_run_at)
{
    up(1, false);
    char id[ID_BUF];
    double before = wall_s();
    double run_at = submit("{\"task\":\"flaky\",\"args\":0,\"delay\":\"400ms\"}", "scheduled", id);
    double after = wall_s();
    ck_assert_msg(run_at >= before + 0.4 - TIME_EPS && run_at <= after + 0.4 + TIME_EPS,
                  "run_at %.6f is not 400 ms after the submit (%.6f..%.6f)", run_at, before, after);

    json_t *j = stack_job(&S, id, 0);
    ck_assert_ptr_nonnull(j);
    if (wall_s() < run_at) { /* read before it was due: it must still wait */
        ck_assert_str_eq(str(j, "state"), "scheduled");
        ck_assert(json_is_null(json_object_get(j, "promoted_at")));
        ck_assert(json_is_null(json_object_get(j, "started_at")));
    }
    ck_assert_double_eq_tol(num(j, "run_at"), run_at, TIME_EPS);
    json_decref(j);

    j = wait_job(id, "done", 0, 5000);
    ck_assert_msg(num(j, "promoted_at") >= run_at - TIME_EPS, "promoted at %.6f before run_at %.6f",
                  num(j, "promoted_at"), run_at);
    ck_assert_msg(num(j, "started_at") >= run_at - TIME_EPS, "started at %.6f before run_at %.6f",
                  num(j, "started_at"), run_at);
    ck_assert(num(j, "started_at") >= num(j, "promoted_at") - TIME_EPS);
    ck_assert_int_eq((int)num(j, "attempts"), 1);
    ck_assert_int_eq((int)num(j, "result"), 1);
    json_decref(j);

    /* a run_at in the past queues the job at once */
    char body[128];
    snprintf(body, sizeof body, "{\"task\":\"flaky\",\"args\":0,\"run_at\":%.0f}", wall_s() - 60);
    submit(body, "queued", id);
    json_decref(wait_job(id, "done", 0, 5000));

    /* one or the other */
    snprintf(body, sizeof body, "{\"task\":\"flaky\",\"delay\":\"1s\",\"run_at\":%.0f}", wall_s() + 60);
    json_t *a = call("POST", "/jobs", body, NULL, 400, NULL);
    assert_error_names(a, (const char *const[]){"delay", "run_at", NULL});
    json_decref(a);
    down();
}
END_TEST

/* ---- 2. cancelling a scheduled job ---- */

START_TEST(scheduled_job_cancelled_never_runs)
{
    up(1, false);
    char id[ID_BUF], path[96];
    double run_at = submit("{\"task\":\"flaky\",\"args\":0,\"delay\":\"5s\"}", "scheduled", id);
    wait_queue_figure("scheduled", 1); /* a delayed job counts as scheduled */
    wait_queue_figure("depth", 0);

    snprintf(path, sizeof path, "/jobs/%s", id);
    json_t *a = call("DELETE", path, NULL, NULL, 200, NULL);
    ck_assert_str_eq(str(a, "state"), "cancelled");
    json_decref(a);
    json_decref(call("DELETE", path, NULL, NULL, 409, NULL)); /* finished: nothing to cancel */
    wait_queue_figure("scheduled", 0);

    /* past its run_at, with a worker waiting: still cancelled, never run */
    while (wall_s() < run_at + 1.0)
        harness_sleep_ms(100);
    json_t *j = stack_job(&S, id, 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(str(j, "state"), "cancelled");
    ck_assert(json_is_null(json_object_get(j, "started_at")));
    ck_assert_int_eq((int)num(j, "attempts"), 0);
    ck_assert_int_eq(runs_of(id), 0);
    json_decref(j);
    wait_queue_figure("depth", 0);
    down();
}
END_TEST

/* ---- 3. a Redis restart before the job is due ---- */

START_TEST(scheduled_job_survives_redis_restart)
{
    up(1, true);
    char id[ID_BUF];
    double run_at = submit("{\"task\":\"flaky\",\"args\":0,\"delay\":\"2s\"}", "scheduled", id);

    ck_assert_int_eq(harness_redis_shutdown(&S.redis), 0); /* SIGTERM: a clean shutdown */
    ck_assert_int_eq(harness_redis_resume(&S.redis), 0);   /* same port, same directory and AOF */
    ck_assert_msg(wall_s() < run_at, "Redis took until past run_at to restart: the test proves nothing");

    json_t *j = wait_job(id, "done", 0, 15000);
    ck_assert(num(j, "started_at") >= run_at - TIME_EPS);
    ck_assert_int_eq((int)num(j, "attempts"), 1);
    assert_history(j, (const char *const[]){"1 done", NULL});
    ck_assert_int_eq(runs_of(id), 1); /* ran once */
    json_decref(j);
    down();
}
END_TEST

/* ---- 4. retries with backoff ---- */

START_TEST(flaky_job_retried_with_backoff_then_done)
{
    up(1, false);
    char id[ID_BUF];
    submit("{\"task\":\"flaky\",\"args\":2,\"max_attempts\":3,\"backoff\":{\"base\":\"100ms\",\"max\":\"1s\"}}",
           "queued", id);
    json_t *j = wait_job(id, "done", 0, JOB_WAIT_MS);
    ck_assert_int_eq((int)num(j, "attempts"), 3);
    ck_assert_int_eq((int)num(j, "result"), 3);
    ck_assert_double_eq_tol(num(json_object_get(j, "backoff"), "base"), 0.1, 1e-9);
    ck_assert_double_eq_tol(num(json_object_get(j, "backoff"), "max"), 1.0, 1e-9);
    assert_history(j, (const char *const[]){"1 error", "2 error", "3 done", NULL});
    json_t *h = json_object_get(j, "history");
    ck_assert_ptr_nonnull(strstr(str(json_array_get(h, 0), "error"), "failure 1 of 2"));
    ck_assert_ptr_nonnull(strstr(str(json_array_get(h, 1), "error"), "failure 2 of 2"));
    ck_assert(json_is_null(json_object_get(json_array_get(h, 2), "error")));
    /* after attempt n the wait is base*2^(n-1) with equal jitter: at least half of it; capped at max */
    for (size_t n = 1; n < 3; n++) {
        double waited = num(json_array_get(h, n), "started_at") - num(json_array_get(h, n - 1), "ended_at");
        double least = 0.1 * (double)(1u << (n - 1)) / 2;
        ck_assert_msg(waited >= least - TIME_EPS, "retry %zu after %.3f s, before its backoff %.3f s", n, waited,
                      least);
        ck_assert_msg(waited <= 1.0 + 4.0, "retry %zu after %.3f s: more than max 1 s plus slack", n, waited);
    }
    json_decref(j);
    down();
}
END_TEST

/* ---- 5. dead jobs: retried, deleted ---- */

/* POSTs or DELETEs a dead-list operation and requires {verb: n, "missing": [missing or none]}. */
static void dead_op(const char *method, const char *path, const char *body, const char *verb, int n,
                    const char *missing)
{
    json_t *a = call(method, path, body, NULL, 200, NULL);
    json_t *m = json_object_get(a, "missing");
    ck_assert_int_eq((int)json_integer_value(json_object_get(a, verb)), n);
    ck_assert(json_is_array(m));
    ck_assert_uint_eq(json_array_size(m), missing ? 1 : 0);
    if (missing)
        ck_assert_str_eq(json_string_value(json_array_get(m, 0)), missing);
    json_decref(a);
}

START_TEST(dead_jobs_retried_and_deleted)
{
    static const char never[] = "0123456789abcdef0123456789abcdef"; /* a valid id no job has */
    char a[ID_BUF], b[ID_BUF], c[ID_BUF], body[256];
    up(1, false);
    /* a: fails 3 times with 3 attempts; b and c: always fail, 1 attempt */
    submit("{\"task\":\"flaky\",\"args\":3,\"max_attempts\":3,\"backoff\":{\"base\":\"100ms\",\"max\":\"1s\"}}",
           "queued", a);
    submit("{\"task\":\"flaky\",\"args\":99,\"max_attempts\":1}", "queued", b);
    submit("{\"task\":\"flaky\",\"args\":99,\"max_attempts\":1}", "queued", c);

    json_t *j = wait_job(a, "dead", 0, JOB_WAIT_MS);
    assert_error_names(j, (const char *const[]){"failure 3 of 3", "(attempt 3 of 3)", NULL});
    assert_history(j, (const char *const[]){"1 error", "2 error", "3 error", NULL});
    ck_assert_int_eq((int)num(j, "attempts"), 3);
    json_decref(j);
    json_decref(wait_job(b, "dead", 0, JOB_WAIT_MS));
    json_decref(wait_job(c, "dead", 0, JOB_WAIT_MS));
    wait_queue_figure("dead", 3);

    /* retry by ids (a named twice counts once, and is not "missing"): a comes
     * back with fresh attempts, its history kept, and succeeds */
    snprintf(body, sizeof body, "{\"ids\":[\"%s\",\"%s\",\"%s\"]}", a, a, never);
    dead_op("POST", "/queues/default/dead/retry", body, "retried", 1, never);
    j = wait_job(a, "done", 4, JOB_WAIT_MS);
    ck_assert_int_eq((int)num(j, "attempts"), 1);
    ck_assert_int_eq((int)num(j, "result"), 4);
    ck_assert(json_is_null(json_object_get(j, "error")));
    assert_history(j, (const char *const[]){"1 error", "2 error", "3 error", "1 done", NULL}); /* counted afresh */
    json_decref(j);

    /* delete by ids */
    snprintf(body, sizeof body, "{\"ids\":[\"%s\",\"%s\",\"%s\"]}", b, never, b);
    dead_op("DELETE", "/queues/default/dead", body, "deleted", 1, never);
    assert_job_gone(b);
    wait_queue_figure("dead", 1);

    /* retry every dead job: c runs again and dies again */
    dead_op("POST", "/queues/default/dead/retry", NULL, "retried", 1, NULL);
    j = wait_job(c, "dead", 2, JOB_WAIT_MS);
    assert_history(j, (const char *const[]){"1 error", "1 error", NULL});
    json_decref(j);
    ck_assert_int_eq(runs_of(c), 2);

    /* delete every dead job */
    dead_op("DELETE", "/queues/default/dead", NULL, "deleted", 1, NULL);
    assert_job_gone(c);
    wait_queue_figure("dead", 0);
    dead_op("POST", "/queues/default/dead/retry", NULL, "retried", 0, NULL);
    down();
}
END_TEST

/* ---- 6. idempotent submits ---- */

struct racer {
    pthread_barrier_t *go;
    long code;
    char id[ID_BUF];
};

static void *race_submit(void *arg)
{
    struct racer *r = arg;
    static const char *const headers[] = {"Idempotency-Key: race-1", NULL};
    struct http_resp resp;
    pthread_barrier_wait(r->go);
    if (stack_http(&S, "POST", "/jobs", "{\"task\":\"flaky\",\"args\":0}", headers, 20000, &resp) == 0) {
        json_t *j = http_resp_json(&resp);
        r->code = resp.code;
        snprintf(r->id, sizeof r->id, "%s", j && str(j, "id") ? str(j, "id") : "");
        json_decref(j);
    }
    http_resp_free(&resp);
    return NULL;
}

/* POSTs a batch (202) and returns its answer. */
static json_t *batch(const char *body)
{
    json_t *a = call("POST", "/jobs", body, NULL, 202, NULL);
    ck_assert(json_is_array(json_object_get(a, "ids")));
    return a;
}

static const char *id_at(const json_t *answer, size_t i)
{
    return json_string_value(json_array_get(json_object_get(answer, "ids"), i));
}

/* The answer's "replayed" is exactly [index], or absent when index < 0. */
static void assert_replayed(const json_t *answer, int index)
{
    json_t *r = json_object_get(answer, "replayed");
    if (index < 0) {
        ck_assert_ptr_null(r);
        return;
    }
    ck_assert_uint_eq(json_array_size(r), 1);
    ck_assert_int_eq((int)json_integer_value(json_array_get(r, 0)), index);
}

START_TEST(idempotency_key_makes_one_job)
{
    static const char *const key[] = {"Idempotency-Key: order-4711", NULL};
    bool replayed = true;
    char first[ID_BUF];
    up(1, false);
    json_t *a = call("POST", "/jobs", "{\"task\":\"flaky\",\"args\":0}", key, 202, &replayed);
    ck_assert(!replayed);
    snprintf(first, sizeof first, "%s", str(a, "id"));
    json_decref(a);
    a = call("POST", "/jobs", "{\"task\":\"flaky\",\"args\":0}", key, 200, &replayed);
    ck_assert(replayed);
    ck_assert_str_eq(str(a, "id"), first);
    ck_assert_ptr_nonnull(str(a, "state"));
    json_decref(a);
    a = call("POST", "/jobs", "{\"task\":\"flaky\",\"args\":1}", key, 422, NULL); /* another request */
    assert_error_names(a, (const char *const[]){"key", NULL});
    json_decref(a);
    ck_assert_uint_eq(job_count(), 1);

    /* racing duplicates: one job, one 202, every answer naming it */
    pthread_t th[RACERS];
    struct racer rs[RACERS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.go = &go};
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_submit, &rs[i]), 0);
    }
    int made = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(rs[i].code == 202 || rs[i].code == 200, "racer %d got %ld", i, rs[i].code);
        made += rs[i].code == 202;
        ck_assert_str_eq(rs[i].id, rs[0].id);
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(made, 1);
    ck_assert_uint_eq(job_count(), 2);

    /* batches: a key seen before, or twice in one batch, names the earlier job */
    json_t *b1 = batch("[{\"task\":\"flaky\",\"args\":0,\"key\":\"b1\"},{\"task\":\"flaky\",\"args\":0,\"key\":\"b2\"}]");
    assert_replayed(b1, -1);
    json_t *b2 = batch("[{\"task\":\"flaky\",\"args\":0,\"key\":\"b1\"},{\"task\":\"flaky\",\"args\":0,\"key\":\"b3\"}]");
    assert_replayed(b2, 0);
    ck_assert_str_eq(id_at(b2, 0), id_at(b1, 0));
    ck_assert_str_ne(id_at(b2, 1), id_at(b1, 1));
    json_t *b3 = batch("[{\"task\":\"flaky\",\"args\":0,\"key\":\"b4\"},{\"task\":\"flaky\",\"args\":0,\"key\":\"b4\"}]");
    assert_replayed(b3, 1);
    ck_assert_str_eq(id_at(b3, 0), id_at(b3, 1));
    json_decref(b1);
    json_decref(b2);
    json_decref(b3);
    ck_assert_uint_eq(job_count(), 6);
    /* a batch element reusing a key for another request: 422 naming the element */
    a = call("POST", "/jobs", "[{\"task\":\"flaky\",\"args\":0},{\"task\":\"flaky\",\"args\":5,\"key\":\"b2\"}]", NULL,
             422, NULL);
    assert_error_names(a, (const char *const[]){"[1].key", NULL});
    json_decref(a);
    ck_assert_uint_eq(job_count(), 6);
    down();
}
END_TEST

/* ---- 7. periodic schedules with several movers ---- */

START_TEST(schedule_ticks_once_each_with_many_movers)
{
    up(3, false);
    pid_t api2 = stack_api(&S, harness_free_port(), NULL); /* a second api, a mover of its own */
    ck_assert_int_gt(api2, 0);

    json_decref(every_second("every", 201));
    json_decref(every_second("every", 200)); /* the same name again: replaced */
    double t0 = wall_s();

    harness_sleep_ms(3000);
    harness_stop(api2); /* kill -9 one api and one worker mid-way */
    harness_stop(S.workers[0]);
    S.workers[0] = 0;
    double t_kill = wall_s();
    harness_sleep_ms(3500);
    double t1 = wall_s();

    struct tick_jobs t;
    schedule_jobs("every", &t);
    assert_one_job_per_tick(&t);
    assert_ticks_each_second(&t, t0, t1, "with 2 apis and 3 workers");
    assert_ticks_each_second(&t, t_kill, t1, "after kill -9 of an api and a worker");

    json_t *a = call("GET", "/schedules", NULL, NULL, 200, NULL);
    json_t *list = json_object_get(a, "schedules");
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_str_eq(str(json_array_get(list, 0), "name"), "every");
    ck_assert_str_eq(str(json_array_get(list, 0), "cron"), EVERY_SECOND);
    json_decref(a);
    a = call("GET", "/schedules/every", NULL, NULL, 200, NULL);
    ck_assert_str_eq(str(a, "name"), "every");
    ck_assert(num(a, "next_run_at") > t1 - 2);
    ck_assert(num(a, "last_run_at") > t1 - 3);
    json_t *last = stack_job(&S, str(a, "last_job"), 0);
    ck_assert_ptr_nonnull(last); /* its last job exists */
    json_decref(last);
    json_decref(a);

    /* DELETE stops it: no job made after the answer */
    json_decref(call("DELETE", "/schedules/every", NULL, NULL, 200, NULL));
    double t_del = wall_s();
    schedule_jobs("every", &t);
    size_t made = t.n;
    harness_sleep_ms(2500);
    schedule_jobs("every", &t);
    ck_assert_uint_eq(t.n, made);
    ck_assert_uint_eq(ticks_in(&t, t_del, t_del + 1e6), 0);
    json_decref(call("GET", "/schedules/every", NULL, NULL, 404, NULL));
    json_decref(call("DELETE", "/schedules/every", NULL, NULL, 404, NULL));

    /* a bad cron names its field */
    a = call("POST", "/schedules", "{\"name\":\"bad\",\"cron\":\"61 * * * *\"}", NULL, 400, NULL);
    assert_error_names(a, (const char *const[]){"minute", "61", NULL});
    json_decref(a);
    a = call("POST", "/schedules", "{\"name\":\"bad\",\"cron\":\"* * 25 * * *\"}", NULL, 400, NULL);
    assert_error_names(a, (const char *const[]){"hour", "25", NULL});
    json_decref(a);
    json_decref(call("GET", "/schedules/bad", NULL, NULL, 404, NULL));
    down();
}
END_TEST

/* ---- 8. ticks missed while no mover ran ---- */

struct made_wait {
    const char *name;
    size_t want;
};

static bool schedule_made(void *arg)
{
    struct made_wait *w = arg;
    struct tick_jobs t;
    schedule_jobs(w->name, &t);
    return t.n >= w->want;
}

START_TEST(missed_ticks_made_once)
{
    struct tick_jobs t;
    up(0, false); /* the one api is the only mover */
    json_decref(every_second("catchup", 201));
    struct made_wait w = {"catchup", 2};
    ck_assert_int_eq(harness_wait_until(schedule_made, &w, 5000, 50), 0);

    stack_terminate(&S.api, "api"); /* no mover runs now */
    double t_stop = wall_s();
    schedule_jobs("catchup", &t);
    size_t before = t.n;
    long long last = 0;
    for (size_t i = 0; i < t.n; i++)
        last = t.tick[i] > last ? t.tick[i] : last;
    harness_sleep_ms(4000);

    double t_start = wall_s();
    S.api = stack_api(&S, S.api_port, NULL);
    ck_assert_int_gt(S.api, 0);
    harness_sleep_ms(3500);
    double t_end = wall_s();

    schedule_jobs("catchup", &t);
    assert_one_job_per_tick(&t);
    ck_assert_uint_eq(ticks_in(&t, 0, (double)last), before);
    /* the ~4 ticks missed while nothing ran: one job, made by the new mover */
    ck_assert_msg(ticks_in(&t, (double)last, t_start) == 1, "%zu jobs for the ticks missed in %.1f s",
                  ticks_in(&t, (double)last, t_start), t_start - t_stop);
    for (size_t i = 0; i < t.n; i++)
        if ((double)t.tick[i] > (double)last)
            ck_assert_msg(t.created[i] >= t_start, "tick %lld made at %.3f, before the mover came back at %.3f",
                          t.tick[i], t.created[i], t_start);
    /* then one a second again */
    assert_ticks_each_second(&t, t_start, t_end, "after the mover came back");
    down();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("time");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, delayed_job_runs_after_run_at);
    tcase_add_test(tc, scheduled_job_cancelled_never_runs);
    tcase_add_test(tc, scheduled_job_survives_redis_restart);
    tcase_add_test(tc, flaky_job_retried_with_backoff_then_done);
    tcase_add_test(tc, dead_jobs_retried_and_deleted);
    tcase_add_test(tc, idempotency_key_makes_one_job);
    tcase_add_test(tc, schedule_ticks_once_each_with_many_movers);
    tcase_add_test(tc, missed_ticks_made_once);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
