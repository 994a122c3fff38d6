/* Workers, visible: GET /workers lists each worker with its record (host,
 * pid, queues, tasks, the job it runs, jobs done and failed) and those that
 * ended within the hour with why; GET /queues gives each queue's jobs in
 * and out per second over the last minute; GET /queues/{q}/dead lists the
 * dead jobs. Real Redis, api and workers. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/stack.h"

#define LIST_WAIT_MS 15000  /* a worker shows up, or its death does (lease 3 s + a reaper round) */
#define JOB_WAIT_S 20       /* a job of ours ends */
#define RATES_WAIT_MS 10000 /* the second of a burst is complete and the cached figures renewed */
#define BURST 20

static struct stack S;

/* A string field of o, "" when it is not a string. */
static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void up(void)
{
    struct stack_opts o = {.workers = 0};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

static void down(void)
{
    stack_stop(&S);
}

/* bin/worker --id id --queues queues, with a task that always fails. */
static pid_t worker(const char *id, const char *queues)
{
    const char *const args[] = {"--id", id, "--queues", queues, "--task", "fail=exec:/bin/false", NULL};
    pid_t p = stack_worker(&S, args);
    ck_assert_int_gt(p, 0);
    return p;
}

/* GET path, expecting `code`; returns the JSON answer (new reference). */
static json_t *get(const char *path, long code)
{
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, "GET", path, NULL, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == code, "GET %s: want %ld got %ld: %s", path, code, r.code, r.body);
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* POST /jobs body; returns the new job's id (malloc'd). */
static char *submit(const char *body)
{
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == 202, "POST /jobs %s: got %ld: %s", body, r.code, r.body);
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    const char *id = json_string_value(json_object_get(j, "id"));
    ck_assert_ptr_nonnull(id);
    char *out = strdup(id);
    json_decref(j);
    return out;
}

/* Waits for job id to end; requires state `want`. */
static void job_ends(const char *id, const char *want)
{
    json_t *j = stack_job(&S, id, JOB_WAIT_S);
    ck_assert_ptr_nonnull(j);
    const char *st = json_string_value(json_object_get(j, "state"));
    ck_assert_msg(st && strcmp(st, want) == 0, "job %s: state %s, want %s", id, st ? st : "?", want);
    json_decref(j);
}

/* The entry of worker `id` in GET /workers' list `which` ("workers" or
 * "dead"), or NULL (new reference). */
static json_t *listed(const char *which, const char *id)
{
    json_t *all = get("/workers", 200), *found = NULL;
    json_t *list = json_object_get(all, which), *w;
    size_t i;
    ck_assert_msg(json_is_array(json_object_get(all, "workers")) && json_is_array(json_object_get(all, "dead")),
                  "GET /workers: no \"workers\" and \"dead\" arrays");
    json_array_foreach(list, i, w) {
        if (strcmp(jstr(w, "id"), id) == 0)
            found = json_incref(w);
    }
    json_decref(all);
    return found;
}

struct listing {
    const char *which, *id;
    const char *job; /* NULL: any; "": none; else the job it must show */
};

static bool listing_shows(void *arg)
{
    const struct listing *l = arg;
    json_t *w = listed(l->which, l->id);
    bool ok = w != NULL;
    if (ok && l->job) {
        const char *job = json_string_value(json_object_get(json_object_get(w, "job"), "id"));
        ok = l->job[0] ? job && strcmp(job, l->job) == 0 : json_is_null(json_object_get(w, "job"));
    }
    json_decref(w);
    return ok;
}

/* Waits until GET /workers shows worker id in `which` with `job`. */
static json_t *wait_listed(const char *which, const char *id, const char *job)
{
    struct listing l = {which, id, job};
    ck_assert_msg(harness_wait_until(listing_shows, &l, LIST_WAIT_MS, 100) == 0, "worker %s not in \"%s\"%s%s", id,
                  which, job ? " with job " : "", job ? job : "");
    json_t *w = listed(which, id);
    ck_assert_ptr_nonnull(w);
    return w;
}

static json_int_t num(const json_t *o, const char *k)
{
    ck_assert_msg(json_is_integer(json_object_get(o, k)), "%s is not an integer", k);
    return json_integer_value(json_object_get(o, k));
}

/* Whether the JSON array of strings a holds s. */
static bool holds(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A worker's record as GET /workers shows it: who and where it is, the job
 * it runs and since when, jobs done and failed; a clean stop leaves it in
 * "dead" as "stopped" with its counts. The dead jobs' listing. */
START_TEST(worker_record_job_counts_and_dead_listing)
{
    up();
    double t0 = now_s();
    pid_t pid = worker("wv", "default,wq");
    json_t *w = wait_listed("workers", "wv", "");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    ck_assert_str_eq(jstr(w, "host"), host);
    ck_assert_int_eq(num(w, "pid"), pid);
    json_t *queues = json_object_get(w, "queues"), *tasks = json_object_get(w, "tasks");
    ck_assert_int_eq(json_array_size(queues), 2);
    ck_assert(holds(queues, "default") && holds(queues, "wq"));
    ck_assert(holds(tasks, "burn") && holds(tasks, "fail"));
    ck_assert(json_is_true(json_object_get(w, "alive")));
    double started = json_real_value(json_object_get(w, "started_at"));
    ck_assert_msg(started > t0 - 2 && started < now_s() + 2, "started_at %f, test began %f", started, t0);
    ck_assert(json_real_value(json_object_get(w, "heartbeat_age_s")) < 3.0);
    ck_assert(json_is_real(json_object_get(w, "heartbeat_at")));
    ck_assert_int_eq(num(w, "jobs_done"), 0);
    ck_assert_int_eq(num(w, "jobs_failed"), 0);
    json_decref(w);

    /* a slow job: the record shows it while it runs */
    double t1 = now_s();
    char *slow = submit("{\"ms\":1500}");
    w = wait_listed("workers", "wv", slow);
    json_t *job = json_object_get(w, "job");
    ck_assert_str_eq(jstr(job, "task"), "burn");
    double since = json_real_value(json_object_get(job, "since"));
    ck_assert_msg(since > t1 - 2 && since < now_s() + 2, "job since %f, submitted at %f", since, t1);
    json_decref(w);
    job_ends(slow, "done");

    /* 3 more done, 2 failed (one attempt each: dead) */
    char *ok[3], *bad[2];
    for (int i = 0; i < 3; i++)
        ok[i] = submit("{\"ms\":0}");
    for (int i = 0; i < 2; i++)
        bad[i] = submit("{\"task\":\"fail\",\"max_attempts\":1}");
    for (int i = 0; i < 3; i++)
        job_ends(ok[i], "done");
    for (int i = 0; i < 2; i++)
        job_ends(bad[i], "dead");
    w = wait_listed("workers", "wv", "");
    ck_assert_int_eq(num(w, "jobs_done"), 4);
    ck_assert_int_eq(num(w, "jobs_failed"), 2);
    json_decref(w);

    /* the dead jobs, newest first, as GET /jobs/{id} shows them */
    json_t *d = get("/queues/default/dead", 200);
    ck_assert_str_eq(jstr(d, "queue"), "default");
    ck_assert_int_eq(num(d, "total"), 2);
    json_t *jobs = json_object_get(d, "jobs");
    ck_assert_int_eq(json_array_size(jobs), 2);
    ck_assert_str_eq(jstr(json_array_get(jobs, 0), "id"), bad[1]);
    ck_assert_str_eq(jstr(json_array_get(jobs, 1), "id"), bad[0]);
    ck_assert_str_eq(jstr(json_array_get(jobs, 0), "state"), "dead");
    ck_assert_str_eq(jstr(json_array_get(jobs, 0), "task"), "fail");
    ck_assert(json_is_string(json_object_get(json_array_get(jobs, 0), "error")));
    json_decref(d);
    d = get("/queues/default/dead?limit=1", 200);
    ck_assert_int_eq(num(d, "total"), 2);
    ck_assert_int_eq(json_array_size(json_object_get(d, "jobs")), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(d, "jobs"), 0), "id"), bad[1]); /* the newest */
    json_decref(d);
    d = get("/queues/nosuch/dead", 200);
    ck_assert_int_eq(num(d, "total"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(d, "jobs")), 0);
    json_decref(d);
    for (const char *const *q = (const char *const[]){"0", "1001", "x", "-1", "", NULL}; *q; q++) {
        char path[64];
        snprintf(path, sizeof path, "/queues/default/dead?limit=%s", *q);
        json_decref(get(path, 400));
    }
    /* a dead id whose job expired is skipped */
    redisContext *rc = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(rc);
    redisReply *rr = redisCommand(rc, "DEL offload:job:%s", bad[1]);
    ck_assert(rr && rr->type == REDIS_REPLY_INTEGER && rr->integer == 1);
    freeReplyObject(rr);
    redisFree(rc);
    d = get("/queues/default/dead", 200);
    ck_assert_int_eq(num(d, "total"), 2);
    ck_assert_int_eq(json_array_size(json_object_get(d, "jobs")), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(d, "jobs"), 0), "id"),
                     bad[0]);
    json_decref(d);

    /* a clean stop: listed as dead, "stopped", its counts kept */
    int status = 0;
    harness_kill(pid, SIGTERM);
    ck_assert_int_eq(harness_wait_exit(pid, 20000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    w = wait_listed("dead", "wv", "");
    ck_assert_str_eq(jstr(w, "reason"), "stopped");
    ck_assert(json_is_false(json_object_get(w, "alive")));
    ck_assert(json_real_value(json_object_get(w, "ended_at")) >= started);
    ck_assert_int_eq(num(w, "jobs_done"), 4);
    ck_assert_int_eq(num(w, "jobs_failed"), 2);
    ck_assert_int_eq(num(w, "pid"), pid);
    json_decref(w);
    w = listed("workers", "wv");
    ck_assert_msg(w == NULL, "a stopped worker is still under \"workers\"");

    free(slow);
    for (int i = 0; i < 3; i++)
        free(ok[i]);
    for (int i = 0; i < 2; i++)
        free(bad[i]);
    down();
}
END_TEST

/* GET /queues' figure for queue q, field k, or -1 when q is not listed. */
static double queue_figure(const char *q, const char *k)
{
    json_t *all = get("/queues", 200);
    json_t *v = json_object_get(json_object_get(json_object_get(all, "queues"), q), k);
    double x = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(all);
    return x;
}

static bool rates_counted(void *arg)
{
    (void)arg;
    return lround(queue_figure("rq", "in_per_s") * 60) == BURST && lround(queue_figure("rq", "out_per_s") * 60) == BURST;
}

/* kill -9 a worker holding a job: within seconds it is under "dead", with
 * a reason and the job it held, and no longer under "workers". A burst of
 * jobs shows in the queue's in and out rates, which add up to the burst
 * over the minute, in GET /queues and /metrics. */
START_TEST(killed_worker_listed_dead_and_queue_rates)
{
    up();
    pid_t wa = worker("wa", "default");
    (void)worker("wb", "rq");
    json_decref(wait_listed("workers", "wa", ""));
    json_decref(wait_listed("workers", "wb", ""));
    char *slow = submit("{\"ms\":20000,\"timeout\":\"60s\"}");
    json_decref(wait_listed("workers", "wa", slow));
    harness_kill(wa, SIGKILL);
    harness_wait_exit(wa, 5000, NULL);
    json_t *w = wait_listed("dead", "wa", slow);
    ck_assert_str_eq(jstr(w, "reason"), "worker lost");
    ck_assert(json_is_false(json_object_get(w, "alive")));
    ck_assert(json_is_real(json_object_get(w, "ended_at")));
    ck_assert(json_is_real(json_object_get(w, "heartbeat_at")));
    ck_assert_int_eq(num(w, "pid"), wa);
    json_decref(w);
    w = listed("workers", "wa");
    ck_assert_msg(w == NULL, "a dead worker is still under \"workers\"");
    w = listed("workers", "wb");
    ck_assert_ptr_nonnull(w);
    ck_assert(json_is_true(json_object_get(w, "alive")));
    json_decref(w);

    /* a burst on queue rq */
    char body[BURST * 32] = "[";
    size_t off = 1;
    for (int i = 0; i < BURST; i++)
        off += (size_t)snprintf(body + off, sizeof body - off, "%s{\"ms\":0,\"queue\":\"rq\"}", i ? "," : "");
    snprintf(body + off, sizeof body - off, "]");
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == 202, "POST /jobs batch: %ld %s", r.code, r.body);
    json_t *made = http_resp_json(&r), *ids = json_object_get(made, "ids");
    http_resp_free(&r);
    ck_assert_int_eq(json_array_size(ids), BURST);
    for (size_t i = 0; i < BURST; i++)
        job_ends(json_string_value(json_array_get(ids, i)), "done");
    json_decref(made);
    ck_assert_msg(harness_wait_until(rates_counted, NULL, RATES_WAIT_MS, 200) == 0,
                  "rq: in_per_s %f, out_per_s %f: want %d jobs over the minute", queue_figure("rq", "in_per_s"),
                  queue_figure("rq", "out_per_s"), BURST);
    ck_assert(queue_figure("rq", "in_per_s") > 0 && queue_figure("rq", "out_per_s") > 0);
    ck_assert(queue_figure("default", "in_per_s") > 0); /* the slow job */

    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, NULL, 10000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    char want[128];
    snprintf(want, sizeof want, "offload_queue_in_per_second{queue=\"rq\"} %.6g\n", (double)BURST / 60);
    ck_assert_msg(strstr(r.body, want) != NULL, "/metrics lacks %s", want);
    snprintf(want, sizeof want, "offload_queue_out_per_second{queue=\"rq\"} %.6g\n", (double)BURST / 60);
    ck_assert_msg(strstr(r.body, want) != NULL, "/metrics lacks %s", want);
    ck_assert(strstr(r.body, "# HELP offload_queue_in_per_second ") != NULL);
    ck_assert(strstr(r.body, "# TYPE offload_queue_out_per_second gauge\n") != NULL);
    http_resp_free(&r);
    free(slow);
    down();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("workers");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, worker_record_job_counts_and_dead_listing);
    tcase_add_test(tc, killed_worker_listed_dead_and_queue_rates);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
