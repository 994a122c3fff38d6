/* bin/worker as a real process against a private redis-server: jobs reach
 * done with the right digest, kill -9 recovery is fast, out-of-attempts jobs
 * go dead, SIGTERM finishes (and a second one requeues), --procs restarts
 * children, and Redis restarts are survived. Jobs are enqueued through
 * SCRIPT_ENQUEUE directly, as the API does. */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/jobid.h"
#include "common/scripts.h"
#include "common/task.h"
#include "tests/harness/harness.h"

#define PREFIX "offload:"
#define EXIT_WAIT_MS 8000 /* a stopping worker finishes a short job and leaves */

static struct harness_redis redis;
static redisContext *rc;

static void setup(void)
{
    memset(&redis, 0, sizeof redis);
    ck_assert_int_eq(harness_redis_start(&redis), 0);
    rc = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(rc);
}

static void setup_persistent(void)
{
    memset(&redis, 0, sizeof redis);
    redis.persist = true;
    ck_assert_int_eq(harness_redis_start(&redis), 0);
    rc = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(rc);
}

static void teardown(void)
{
    harness_kill_all();
    if (rc)
        redisFree(rc);
    rc = NULL;
    harness_redis_stop(&redis);
}

/* Our connection to the test Redis, reopened after a restart. */
static redisContext *conn(void)
{
    if (rc && rc->err) {
        redisFree(rc);
        rc = NULL;
    }
    if (!rc)
        rc = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(rc);
    return rc;
}

/* A command's reply; NULL (and a reconnect next time) when Redis is away. */
static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(conn(), fmt, ap);
    va_end(ap);
    return r;
}

/* SCRIPT_ENQUEUE of one job (queued now: no run_at, delay, backoff or
 * idempotency key); id receives its new id. */
static void enqueue_to(const char *queue, int ms, const char *payload, int max_attempts,
                       char id[JOBID_LEN + 1])
{
    ck_assert_int_eq(jobid_new(id), 0);
    char now[32], ms_s[16], max_s[16];
    snprintf(now, sizeof now, "%" PRId64, (int64_t)time(NULL) * 1000000);
    snprintf(ms_s, sizeof ms_s, "%d", ms);
    snprintf(max_s, sizeof max_s, "%d", max_attempts);
    /* head: prefix, max_queue, now_us, n, max_queues ('' = unbounded),
     * idempotency ttl_s; then the job: id, queue, ms, payload, max_attempts,
     * notify, task, args, timeout_ms, run_at_us, delay_us, backoff_base_ms,
     * backoff_max_ms, key, fingerprint */
    const char *argv[] = {"EVAL", script_source(SCRIPT_ENQUEUE), "0", PREFIX, "100000", now, "1", "", "86400",
                          id, queue, ms_s, payload, max_s, "", "burn", "", "", "", "", "", "", "", ""};
    _Static_assert(sizeof argv / sizeof argv[0] == 3 + SCRIPT_ENQUEUE_HEAD + SCRIPT_ENQUEUE_STRIDE,
                   "SCRIPT_ENQUEUE's arguments changed: update this list");
    redisReply *r = redisCommandArgv(conn(), (int)(sizeof argv / sizeof argv[0]), argv, NULL);
    ck_assert_ptr_nonnull(r);
    /* replies {made, "queued"} */
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
                      r->element[0]->integer == 1 && r->element[1]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[1]->str, "queued") == 0,
                  "enqueue: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
}

static void enqueue(int ms, const char *payload, int max_attempts, char id[JOBID_LEN + 1])
{
    enqueue_to("default", ms, payload, max_attempts, id);
}

/* HGET of a job field as a malloc'd string, or NULL when unset. */
static char *job_field(const char *id, const char *field)
{
    redisReply *r = cmd("HGET " PREFIX "job:%s %s", id, field);
    if (!r)
        return NULL;
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return s;
}

static bool field_is(const char *id, const char *field, const char *want)
{
    char *v = job_field(id, field);
    bool eq = v && strcmp(v, want) == 0;
    free(v);
    return eq;
}

struct state_wait {
    const char *id;
    const char *state;
};

static bool state_reached(void *arg)
{
    const struct state_wait *w = arg;
    return field_is(w->id, "state", w->state);
}

/* Waits up to timeout_ms for the job's state; fails the test naming it. */
static void wait_state(const char *id, const char *state, int timeout_ms)
{
    struct state_wait w = {id, state};
    if (harness_wait_until(state_reached, &w, timeout_ms, 10) != 0) {
        char *cur = job_field(id, "state");
        ck_abort_msg("job %s: state %s, wanted %s within %d ms", id, cur ? cur : "(none)", state,
                     timeout_ms);
        free(cur);
    }
}

/* The job is done and its digest is task_digest(payload, iterations). */
static void assert_done_with_digest(const char *id, const char *payload)
{
    ck_assert(field_is(id, "state", "done"));
    char *digest = job_field(id, "digest"), *iters = job_field(id, "iterations");
    char *wall = job_field(id, "wall_ms"), *cpu = job_field(id, "cpu_ms");
    ck_assert_ptr_nonnull(digest);
    ck_assert_ptr_nonnull(iters);
    uint64_t n = strtoull(iters, NULL, 10);
    ck_assert(n > 0 || field_is(id, "ms", "0")); /* a 0 ms job runs no round */
    char want[24];
    snprintf(want, sizeof want, "%016" PRIx64, task_digest(payload, strlen(payload), n));
    ck_assert_str_eq(digest, want);
    /* Times carry three decimals. */
    ck_assert_ptr_nonnull(wall);
    ck_assert_ptr_nonnull(cpu);
    ck_assert_ptr_nonnull(strchr(wall, '.'));
    ck_assert_uint_eq(strlen(strchr(wall, '.')), 4);
    ck_assert_uint_eq(strlen(strchr(cpu, '.')), 4);
    free(digest);
    free(iters);
    free(wall);
    free(cpu);
}

static long long int_reply(const char *fmt, const char *arg)
{
    redisReply *r = cmd(fmt, arg);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* The list at key holds exactly `id`. */
static void assert_list_is(const char *key, const char *id)
{
    redisReply *r = cmd("LRANGE %s 0 -1", key);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->str, id);
    freeReplyObject(r);
}

static bool redis_settled(void *arg)
{
    (void)arg;
    redisReply *r = cmd("INFO server");
    const char *u = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "uptime_in_seconds:") : NULL;
    bool settled = u && atol(u + 18) >= 3;
    if (r)
        freeReplyObject(r);
    return settled;
}

/* Workers trust CLIENT LIST only once Redis has been up for a heartbeat plus
 * a reconnect backoff (~2.25 s): before that, a worker missing from it may be
 * reconnecting. Tests of the fast kill -9 path wait for that. */
static void wait_redis_settled(void)
{
    ck_assert_int_eq(harness_wait_until(redis_settled, NULL, 5000, 50), 0);
}

static bool registered(const char *worker_id)
{
    redisReply *r = cmd("ZSCORE " PREFIX "workers %s", worker_id);
    bool yes = r && r->type == REDIS_REPLY_STRING;
    if (r)
        freeReplyObject(r);
    return yes;
}

static bool registered_pred(void *arg)
{
    return registered(arg);
}

/* Starts bin/worker with --id and extra flags (NULL-terminated). Waits until
 * it has registered. */
static pid_t worker_start(const char *id, ...)
{
    const char *argv[32] = {harness_bin("worker"), "--redis", redis.url, "--id", id};
    int n = 5;
    va_list ap;
    va_start(ap, id);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 30;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    const char *level = getenv("TEST_WORKER_LOG_LEVEL");
    char env_level[64];
    snprintf(env_level, sizeof env_level, "LOG_LEVEL=%s", level ? level : "warn");
    const char *env[] = {env_level, NULL};
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    ck_assert_msg(harness_wait_until(registered_pred, (void *)id, 5000, 10) == 0,
                  "worker %s did not register", id);
    return pid;
}

/* The worker deregistered and holds no job. */
static void assert_left(const char *worker_id)
{
    ck_assert(!registered(worker_id));
    ck_assert_int_eq(int_reply("LLEN " PREFIX "wip:%s", worker_id), 0);
}

static void assert_exit_zero(pid_t pid, int timeout_ms)
{
    int status = 0;
    ck_assert_msg(harness_wait_exit(pid, timeout_ms, &status) == 0, "worker did not exit");
    ck_assert_msg(WIFEXITED(status), "worker died of signal %d", WTERMSIG(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* Starts worker `wid` (with the extra flag pair, or none) and gives it a job
 * of `ms` ms; returns once the job runs there. */
static pid_t worker_with_running_job(const char *wid, const char *flag, const char *value, int ms,
                                     const char *payload, int max_attempts,
                                     char id[JOBID_LEN + 1])
{
    pid_t pid = flag ? worker_start(wid, flag, value, NULL) : worker_start(wid, NULL);
    enqueue(ms, payload, max_attempts, id);
    wait_state(id, "running", 5000);
    ck_assert(field_is(id, "worker", wid));
    return pid;
}

START_TEST(jobs_reach_done_with_digest)
{
    pid_t w = worker_start("w1", NULL);
    char ids[5][JOBID_LEN + 1], payloads[5][32];
    for (int i = 0; i < 5; i++) {
        snprintf(payloads[i], sizeof payloads[i], "payload-%d", i);
        enqueue(20 * i, payloads[i], 3, ids[i]);
    }
    for (int i = 0; i < 5; i++) {
        wait_state(ids[i], "done", 10000);
        assert_done_with_digest(ids[i], payloads[i]);
        ck_assert(field_is(ids[i], "attempts", "1"));
        ck_assert(field_is(ids[i], "worker", "w1"));
        ck_assert_int_gt(int_reply("TTL " PREFIX "job:%s", ids[i]), 3000); /* --result-ttl 3600s */
    }
    ck_assert_int_eq(int_reply("LLEN " PREFIX "q:%s", "default"), 0);
    /* Both connections carry the worker's name. */
    redisReply *r = cmd("CLIENT LIST");
    ck_assert_ptr_nonnull(r);
    const char *p = r->str;
    int named = 0;
    while ((p = strstr(p, "name=" PREFIX "worker:w1 ")) != NULL) {
        named++;
        p++;
    }
    freeReplyObject(r);
    ck_assert_int_eq(named, 2);
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, EXIT_WAIT_MS);
    assert_left("w1");
}
END_TEST

START_TEST(earlier_queues_first)
{
    char high[3][JOBID_LEN + 1], low[3][JOBID_LEN + 1];
    for (int i = 0; i < 3; i++) {
        enqueue_to("low", 10, "l", 3, low[i]);
        enqueue_to("high", 10, "h", 3, high[i]);
    }
    worker_start("wp", "--queues", "high,low", NULL);
    for (int i = 0; i < 3; i++)
        wait_state(low[i], "done", 10000);
    /* Every high job started before any low one. */
    long long last_high = 0, first_low = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        char *h = job_field(high[i], "started_at"), *l = job_field(low[i], "started_at");
        ck_assert_ptr_nonnull(h);
        ck_assert_ptr_nonnull(l);
        if (atoll(h) > last_high)
            last_high = atoll(h);
        if (atoll(l) < first_low)
            first_low = atoll(l);
        free(h);
        free(l);
    }
    ck_assert_int_lt(last_high, first_low);
}
END_TEST

static bool second_attempt_running(void *arg)
{
    const char *id = arg;
    return field_is(id, "attempts", "2") && field_is(id, "state", "running");
}

START_TEST(kill9_job_recovered_within_2s)
{
    char id[JOBID_LEN + 1];
    /* 5 s of CPU: still running after the ~3 s wait for Redis to settle,
     * however slow the machine */
    pid_t a = worker_with_running_job("wa", NULL, NULL, 5000, "survives", 3, id);
    worker_start("wb", NULL);
    wait_redis_settled();
    ck_assert(field_is(id, "state", "running"));
    int64_t killed = harness_now_ms();
    harness_kill(a, SIGKILL);
    ck_assert_msg(harness_wait_until(second_attempt_running, id, 5000, 5) == 0,
                  "job not restarted after kill -9");
    int64_t recovery_ms = harness_now_ms() - killed;
    fprintf(stderr, "test_worker: job running again on another worker %lld ms after kill -9\n",
            (long long)recovery_ms);
    ck_assert_int_lt(recovery_ms, 2000);
    ck_assert(field_is(id, "worker", "wb"));
    wait_state(id, "done", 15000);
    assert_done_with_digest(id, "survives");
    ck_assert(field_is(id, "attempts", "2"));
    ck_assert(!registered("wa"));
}
END_TEST

START_TEST(out_of_attempts_goes_dead)
{
    char id[JOBID_LEN + 1];
    pid_t a = worker_with_running_job("wa", NULL, NULL, 10000, "once", 1, id);
    worker_start("wb", NULL);
    wait_redis_settled();
    ck_assert(field_is(id, "state", "running"));
    harness_kill(a, SIGKILL);
    wait_state(id, "dead", 5000);
    char *err = job_field(id, "error");
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "worker lost") != NULL, "error: %s", err);
    free(err);
    assert_list_is(PREFIX "dead:default", id);
    ck_assert(field_is(id, "attempts", "1")); /* wb never ran it */
    ck_assert_int_eq(int_reply("LLEN " PREFIX "q:%s", "default"), 0);
}
END_TEST

START_TEST(hung_worker_recovered_after_lease)
{
    char id[JOBID_LEN + 1];
    pid_t a = worker_with_running_job("wa", "--lease", "2s", 2000, "hung", 3, id);
    worker_start("wb", "--lease", "2s", NULL);
    /* Stopped, wa keeps its connections open: only the lease can tell. */
    harness_kill(a, SIGSTOP);
    int64_t stopped = harness_now_ms();
    ck_assert_msg(harness_wait_until(second_attempt_running, id, 6000, 10) == 0,
                  "hung worker's job not restarted");
    ck_assert_int_ge(harness_now_ms() - stopped, 1000); /* not misjudged by CLIENT LIST */
    ck_assert(field_is(id, "worker", "wb"));
    harness_kill(a, SIGKILL);
    wait_state(id, "done", 6000);
    assert_done_with_digest(id, "hung");
}
END_TEST

/* Fencing: a worker stopped past its lease loses its job to another worker;
 * when it wakes and finishes first, its late result is dropped, and the job
 * ends with the current run's worker and result, not a mix of both runs. */
START_TEST(late_result_of_recovered_run_dropped)
{
    char id[JOBID_LEN + 1];
    pid_t a = worker_with_running_job("wa", "--lease", "2s", 4000, "late", 3, id);
    harness_sleep_ms(3000); /* wa is three quarters through its run... */
    harness_kill(a, SIGSTOP);
    worker_start("wb", "--lease", "2s", NULL);
    ck_assert_msg(harness_wait_until(second_attempt_running, id, 8000, 10) == 0,
                  "stopped worker's job not restarted");
    ck_assert(field_is(id, "worker", "wb"));
    harness_kill(a, SIGCONT); /* ...and ends ~3 s before wb's fresh 4 s run */
    harness_sleep_ms(1500);
    ck_assert_msg(field_is(id, "state", "running") && field_is(id, "worker", "wb"),
                  "the late run's result was taken (state %s, worker %s)", job_field(id, "state"),
                  job_field(id, "worker"));
    wait_state(id, "done", 30000); /* 4 s of CPU: longer on a loaded machine */
    ck_assert(field_is(id, "worker", "wb"));
    ck_assert(field_is(id, "attempts", "2"));
    assert_done_with_digest(id, "late");
    /* wa carries on: it takes and finishes new work */
    char next[JOBID_LEN + 1];
    enqueue(10, "after", 3, next);
    wait_state(next, "done", 10000);
}
END_TEST

START_TEST(orphaned_wip_list_recovered)
{
    /* A worker that died between BLMOVE and registering left a wip list. */
    char id[JOBID_LEN + 1];
    enqueue(10, "orphan", 3, id);
    redisReply *r = cmd("LMOVE " PREFIX "q:default " PREFIX "wip:ghost RIGHT LEFT");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->str, id);
    freeReplyObject(r);
    worker_start("w1", NULL);
    wait_state(id, "done", 8000);
    assert_done_with_digest(id, "orphan");
    ck_assert_int_eq(int_reply("EXISTS %s", PREFIX "wip:ghost"), 0);
}
END_TEST

START_TEST(sigterm_finishes_job_and_exits_zero)
{
    char id[JOBID_LEN + 1];
    pid_t w = worker_with_running_job("wt", NULL, NULL, 1500, "graceful", 3, id);
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, EXIT_WAIT_MS);
    assert_done_with_digest(id, "graceful");
    ck_assert(field_is(id, "attempts", "1"));
    assert_left("wt");
}
END_TEST

/* Niceness of each of pid's threads, from /proc: counts how many have want. */
static int threads_with_nice(pid_t pid, int want, int *total)
{
    char dir[64], path[384], buf[1024];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int hits = 0;
    *total = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread just ended */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* after "(comm) ": state is field 3, nice field 19 */
        const char *p = strrchr(buf, ')');
        int field = 2, nice = 0;
        for (; p != NULL && *p; p++)
            if (*p == ' ' && ++field == 19) {
                nice = atoi(p + 1);
                break;
            }
        (*total)++;
        hits += nice == want;
    }
    closedir(d);
    return hits;
}

static bool one_thread_nice7(void *arg)
{
    int total;
    return threads_with_nice(*(pid_t *)arg, 7, &total) == 1;
}

/* The CPU task yields (nice 7 here); the main and heartbeat threads do not. */
START_TEST(task_thread_runs_niced)
{
    char id[JOBID_LEN + 1];
    pid_t w = worker_with_running_job("wn", "--task-nice", "7", 1500, "nice", 3, id);
    int total = 0;
    /* "running" is written before the task thread starts: give it a moment */
    ck_assert_int_eq(harness_wait_until(one_thread_nice7, &w, 1000, 5), 0);
    ck_assert_int_eq(threads_with_nice(w, 7, &total), 1);
    ck_assert_int_eq(threads_with_nice(w, 0, &total), total - 1);
    ck_assert_int_ge(total, 3); /* main, heartbeat, task */
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, EXIT_WAIT_MS);
    assert_done_with_digest(id, "nice");
}
END_TEST

START_TEST(second_sigterm_requeues_and_exits_promptly)
{
    char id[JOBID_LEN + 1];
    pid_t w = worker_with_running_job("wt", NULL, NULL, 20000, "interrupted", 3, id);
    harness_kill(w, SIGTERM);
    harness_sleep_ms(200);
    int64_t t0 = harness_now_ms();
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, 3000);
    ck_assert_int_lt(harness_now_ms() - t0, 2000);
    ck_assert(field_is(id, "state", "queued"));
    assert_list_is(PREFIX "q:default", id);
    assert_left("wt");
}
END_TEST

/* Worker ids registered in the zset. */
static size_t workers_list(char ids[][80], size_t max)
{
    redisReply *r = cmd("ZRANGE " PREFIX "workers 0 -1");
    if (!r)
        return 0;
    size_t n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++)
        snprintf(ids[n++], 80, "%s", r->element[i]->str);
    freeReplyObject(r);
    return n;
}

/* The pid inside a default worker id "<host>-<pid>-<hex>". */
static pid_t id_pid(const char *id)
{
    const char *last = strrchr(id, '-');
    ck_assert_ptr_nonnull(last);
    const char *p = last - 1;
    while (p > id && *p != '-')
        p--;
    return (pid_t)atol(p + 1);
}

struct procs_wait {
    const char *gone; /* an id that must not be registered, or NULL */
    size_t count;
};

static bool procs_registered(void *arg)
{
    const struct procs_wait *w = arg;
    char ids[8][80];
    size_t n = workers_list(ids, 8);
    for (size_t i = 0; w->gone && i < n; i++)
        if (strcmp(ids[i], w->gone) == 0)
            return false;
    return n == w->count;
}

START_TEST(procs_restarts_killed_child)
{
    const char *argv[] = {harness_bin("worker"), "--redis", redis.url, "--procs", "2", NULL};
    const char *env[] = {"LOG_LEVEL=warn", NULL};
    pid_t parent = harness_spawn(argv, env);
    ck_assert_int_gt(parent, 0);
    struct procs_wait two = {NULL, 2};
    ck_assert_int_eq(harness_wait_until(procs_registered, &two, 5000, 10), 0);
    char ids[8][80];
    ck_assert_uint_eq(workers_list(ids, 8), 2);
    wait_redis_settled();
    pid_t victim = id_pid(ids[0]);
    ck_assert_int_gt(victim, 1);
    ck_assert_int_ne(victim, id_pid(ids[1]));
    ck_assert_int_eq(harness_kill(victim, SIGKILL), 0);
    /* The dead child is reaped from the zset and a new one registers. */
    struct procs_wait replaced = {ids[0], 2};
    ck_assert_int_eq(harness_wait_until(procs_registered, &replaced, 8000, 10), 0);
    ck_assert_int_eq(harness_wait_exit(parent, 0, NULL), -1); /* parent still up */
    char jobs[4][JOBID_LEN + 1];
    for (int i = 0; i < 4; i++)
        enqueue(100, "procs", 3, jobs[i]);
    for (int i = 0; i < 4; i++) {
        wait_state(jobs[i], "done", 10000);
        assert_done_with_digest(jobs[i], "procs");
    }
    char now_ids[8][80];
    ck_assert_uint_eq(workers_list(now_ids, 8), 2);
    harness_kill(parent, SIGTERM);
    assert_exit_zero(parent, EXIT_WAIT_MS);
    for (int i = 0; i < 2; i++)
        ck_assert_int_ne(kill(id_pid(now_ids[i]), 0), 0); /* children gone with it */
    ck_assert_uint_eq(workers_list(now_ids, 8), 0);       /* and deregistered */
}
END_TEST

START_TEST(survives_redis_restarts)
{
    pid_t w = worker_start("wr", NULL);
    char id[JOBID_LEN + 1];
    enqueue(10, "before", 3, id);
    wait_state(id, "done", 5000);
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(harness_redis_restart(&redis), 0); /* empty: no persistence */
        /* Re-registered by its heartbeat and by the job loop's reconnect. */
        ck_assert_msg(harness_wait_until(registered_pred, (void *)"wr", 5000, 20) == 0,
                      "worker did not re-register after restart %d", round + 1);
        char ids[3][JOBID_LEN + 1];
        for (int i = 0; i < 3; i++)
            enqueue(10, "after", 3, ids[i]);
        for (int i = 0; i < 3; i++) {
            wait_state(ids[i], "done", 5000);
            assert_done_with_digest(ids[i], "after");
        }
    }
    ck_assert_int_eq(harness_wait_exit(w, 0, NULL), -1);
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, EXIT_WAIT_MS);
}
END_TEST

START_TEST(result_reported_after_redis_comes_back)
{
    char id[JOBID_LEN + 1];
    pid_t w = worker_with_running_job("wr", NULL, NULL, 1500, "kept", 3, id);
    harness_redis_kill(&redis);
    harness_sleep_ms(2500); /* the task finishes while Redis is down */
    ck_assert_int_eq(harness_redis_resume(&redis), 0);
    wait_state(id, "done", 5000);
    assert_done_with_digest(id, "kept");
    ck_assert(field_is(id, "attempts", "1"));
    ck_assert_int_eq(int_reply("LLEN " PREFIX "wip:%s", "wr"), 0);
    harness_kill(w, SIGTERM);
    assert_exit_zero(w, EXIT_WAIT_MS);
}
END_TEST

START_TEST(persistent_restart_keeps_live_workers)
{
    /* After a restart the zset comes back with beats older than the outage,
     * and a worker's connections come back up to one backoff step later:
     * a reaper that connects first must not take that for a kill -9. */
    char id[JOBID_LEN + 1];
    pid_t a = worker_with_running_job("wa", NULL, NULL, 4000, "live", 3, id);
    harness_redis_kill(&redis);
    harness_sleep_ms(2000);
    ck_assert_int_eq(harness_redis_resume(&redis), 0);
    worker_start("wb", NULL); /* connects at once; wa is still backing off */
    wait_state(id, "done", 8000);
    assert_done_with_digest(id, "live");
    ck_assert(field_is(id, "attempts", "1"));
    ck_assert(field_is(id, "worker", "wa"));
    ck_assert(registered("wa"));
    harness_kill(a, SIGTERM);
    assert_exit_zero(a, EXIT_WAIT_MS);
}
END_TEST

START_TEST(auth_and_select)
{
    redisReply *r = cmd("CONFIG SET requirepass s3cret");
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    r = cmd("SELECT 3"); /* this connection stays authenticated */
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    char url[128], id[JOBID_LEN + 1];
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/3", redis.port);
    const char *argv[] = {harness_bin("worker"), "--redis", url, "--id", "wauth", NULL};
    const char *env[] = {"LOG_LEVEL=warn", NULL};
    ck_assert_int_gt(harness_spawn(argv, env), 0);
    enqueue(10, "db3", 3, id);
    wait_state(id, "done", 5000);
    assert_done_with_digest(id, "db3");
}
END_TEST

/* Runs a shell snippet with $W = bin/worker; returns its exit status. */
static int sh(const char *script)
{
    char wenv[4200];
    snprintf(wenv, sizeof wenv, "W=%s", harness_bin("worker"));
    const char *argv[] = {"sh", "-c", script, NULL};
    const char *env[] = {wenv, NULL};
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    int status = 0;
    ck_assert_int_eq(harness_wait_exit(pid, 10000, &status), 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* `worker ARGS` (with optional VAR=value before it) exits 2 naming `flag`. */
static bool rejects(const char *env_and_args, const char *flag)
{
    char script[512];
    snprintf(script, sizeof script,
             "out=$(%s 2>&1); [ $? = 2 ] && echo \"$out\" | grep -q -- '%s'", env_and_args, flag);
    return sh(script) == 0;
}

START_TEST(flags_and_redaction)
{
    ck_assert(rejects("\"$W\" --bogus", "--bogus"));
    ck_assert(rejects("\"$W\" --task-clock sundial", "--task-clock"));
    ck_assert(rejects("WORKER_LEASE=1s \"$W\" --heartbeat 2s", "--lease"));
    ck_assert(rejects("\"$W\" --queues 'a,,b'", "--queues"));
    ck_assert(rejects("\"$W\" --procs 0", "--procs"));
    ck_assert(rejects("\"$W\" --task-nice 20", "--task-nice"));
    ck_assert(rejects("\"$W\" --redis-timeout 50ms", "--redis-timeout"));
    ck_assert(rejects("WORKER_REDIS_TIMEOUT=11m \"$W\"", "WORKER_REDIS_TIMEOUT"));
    ck_assert_int_eq(sh("\"$W\" --version | grep -q worker"), 0);
    ck_assert_int_eq(sh("\"$W\" --help | grep -q -- --heartbeat"), 0);
    ck_assert_int_eq(sh("\"$W\" --help | grep -q -- '--redis-timeout.*WORKER_REDIS_TIMEOUT'"), 0);
    /* Redis unreachable: keeps retrying, never logs the password, and a
     * SIGTERM still ends it with 0. */
    char script[512];
    snprintf(script, sizeof script,
             "out=$(timeout --preserve-status -s TERM 1 \"$W\" "
             "--redis redis://:hunter2@127.0.0.1:%d 2>&1); st=$?; "
             "[ $st = 0 ] && echo \"$out\" | grep -q 'redis unavailable' && "
             "echo \"$out\" | grep -q '\\*\\*\\*' && ! echo \"$out\" | grep -q hunter2",
             harness_free_port());
    ck_assert_int_eq(sh(script), 0);
}
END_TEST


/* ---- prefetch: jobs taken ahead, and given back ---- */

#define HELD 4 /* short jobs queued behind a long one */

/* Queues one long job (long_ms) and then HELD short ones, all on default,
 * before any worker runs: the next worker's first take holds them all. */
static void queue_long_then_short(int long_ms, char long_id[JOBID_LEN + 1], char short_id[HELD][JOBID_LEN + 1])
{
    enqueue(long_ms, "long", 3, long_id);
    for (int i = 0; i < HELD; i++)
        enqueue(10, "short", 3, short_id[i]);
}

/* queue_long_then_short, then worker wa with --prefetch 8 and hold: it
 * takes them all in one step; returns once the long one runs there. */
static pid_t worker_holding(const char *hold, int long_ms, char long_id[JOBID_LEN + 1],
                            char short_id[HELD][JOBID_LEN + 1])
{
    queue_long_then_short(long_ms, long_id, short_id);
    pid_t a = worker_start("wa", "--prefetch", "8", "--prefetch-hold", hold, NULL);
    wait_state(long_id, "running", 5000);
    ck_assert(field_is(long_id, "worker", "wa"));
    return a;
}

static long long field_ll(const char *id, const char *field)
{
    char *v = job_field(id, field);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

/* A worker holding short jobs behind a long run hands them back after
 * --prefetch-hold: another worker runs them while the long one still runs,
 * each with one attempt and one history entry (the hand-back is not an
 * attempt). */
START_TEST(long_run_hands_back_the_jobs_held_behind_it)
{
    char long_id[JOBID_LEN + 1], short_id[HELD][JOBID_LEN + 1];
    worker_holding("50ms", 4000, long_id, short_id);
    worker_start("wb", "--prefetch", "1", NULL);
    for (int i = 0; i < HELD; i++)
        wait_state(short_id[i], "done", 3000);
    ck_assert_msg(field_is(long_id, "state", "running"), "the short jobs waited for the long one");
    for (int i = 0; i < HELD; i++) {
        ck_assert_msg(field_is(short_id[i], "worker", "wb"), "short job %d ran on the long job's worker", i);
        ck_assert(field_is(short_id[i], "attempts", "1"));
        char *h = job_field(short_id[i], "history");
        ck_assert_ptr_nonnull(h);
        ck_assert_msg(strchr(h, '\n') == NULL, "more than one attempt in the history: %s", h);
        free(h);
    }
    wait_state(long_id, "done", 15000);
    assert_done_with_digest(long_id, "long");
    ck_assert_int_eq(int_reply("LLEN " PREFIX "wip:%s", "wa"), 0);
}
END_TEST

/* Jobs run one after another from one take: each one's started_at is when
 * its run began, not when it was taken. */
START_TEST(held_jobs_start_when_they_run)
{
    char id[3][JOBID_LEN + 1];
    for (int i = 0; i < 3; i++)
        enqueue(200, "in turn", 3, id[i]);
    worker_start("wa", "--prefetch", "8", "--prefetch-hold", "10s", NULL);
    for (int i = 0; i < 3; i++)
        wait_state(id[i], "done", 10000);
    long long first = field_ll(id[0], "started_at"), last = field_ll(id[2], "started_at");
    ck_assert_int_gt(first, 0);
    ck_assert_msg(last - first >= 350000, "third job's start %lld µs after the first's, want >= 350 ms of runs",
                  last - first);
    for (int i = 0; i < 3; i++)
        assert_done_with_digest(id[i], "in turn");
}
END_TEST

/* kill -9 of a worker holding jobs it has not run: all of them are
 * recovered and end done elsewhere, the held ones without an attempt
 * counted. */
START_TEST(kill9_recovers_held_jobs)
{
    char long_id[JOBID_LEN + 1], short_id[HELD][JOBID_LEN + 1];
    pid_t a = worker_holding("1h", 5000, long_id, short_id);
    ck_assert_int_eq(int_reply("LLEN " PREFIX "wip:%s", "wa"), 1 + HELD);
    worker_start("wb", NULL);
    wait_redis_settled();
    harness_kill(a, SIGKILL);
    for (int i = 0; i < HELD; i++) {
        wait_state(short_id[i], "done", 5000);
        ck_assert(field_is(short_id[i], "worker", "wb"));
        /* held, never begun: not an attempt, nothing lost in its history */
        ck_assert_msg(field_is(short_id[i], "attempts", "1"), "held job %d counted the kill as an attempt", i);
        char *h = job_field(short_id[i], "history");
        ck_assert_ptr_nonnull(h);
        ck_assert_msg(strstr(h, "lost") == NULL, "held job %d has a lost attempt: %s", i, h);
        free(h);
    }
    wait_state(long_id, "done", 15000);
    ck_assert(field_is(long_id, "worker", "wb"));
    ck_assert(field_is(long_id, "attempts", "2")); /* the run that was killed counts */
    ck_assert(!registered("wa"));
}
END_TEST

/* SIGTERM while holding jobs behind a run: the run finishes, the jobs held
 * go back to the queue as they were (queued, no attempt counted), and the
 * worker leaves with an empty wip list. */
START_TEST(sigterm_hands_back_held_jobs)
{
    char long_id[JOBID_LEN + 1], short_id[HELD][JOBID_LEN + 1];
    pid_t a = worker_holding("1h", 1500, long_id, short_id);
    harness_kill(a, SIGTERM);
    assert_exit_zero(a, EXIT_WAIT_MS);
    assert_done_with_digest(long_id, "long");
    ck_assert_int_eq(int_reply("LLEN %s", PREFIX "q:default"), HELD);
    for (int i = 0; i < HELD; i++) {
        ck_assert(field_is(short_id[i], "state", "queued"));
        ck_assert(field_is(short_id[i], "attempts", "0"));
    }
    assert_left("wa");
    /* and in their order: the first queued is the next out */
    worker_start("wb", "--prefetch", "1", NULL);
    for (int i = 0; i < HELD; i++)
        wait_state(short_id[i], "done", 5000);
    for (int i = 1; i < HELD; i++)
        ck_assert_int_le(field_ll(short_id[i - 1], "started_at"), field_ll(short_id[i], "started_at"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("worker");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jobs_reach_done_with_digest);
    tcase_add_test(tc, earlier_queues_first);
    tcase_add_test(tc, kill9_job_recovered_within_2s);
    tcase_add_test(tc, out_of_attempts_goes_dead);
    tcase_add_test(tc, hung_worker_recovered_after_lease);
    tcase_add_test(tc, task_thread_runs_niced);
    tcase_add_test(tc, late_result_of_recovered_run_dropped);
    tcase_add_test(tc, orphaned_wip_list_recovered);
    tcase_add_test(tc, sigterm_finishes_job_and_exits_zero);
    tcase_add_test(tc, second_sigterm_requeues_and_exits_promptly);
    tcase_add_test(tc, procs_restarts_killed_child);
    tcase_add_test(tc, survives_redis_restarts);
    tcase_add_test(tc, auth_and_select);
    tcase_add_test(tc, flags_and_redaction);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("persistent");
    tcase_add_checked_fixture(tp, setup_persistent, teardown);
    tcase_set_timeout(tp, 60);
    tcase_add_test(tp, result_reported_after_redis_comes_back);
    tcase_add_test(tp, persistent_restart_keeps_live_workers);
    suite_add_tcase(s, tp);
    TCase *tf = tcase_create("prefetch");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_set_timeout(tf, 60);
    tcase_add_test(tf, long_run_hands_back_the_jobs_held_behind_it);
    tcase_add_test(tf, held_jobs_start_when_they_run);
    tcase_add_test(tf, kill9_recovers_held_jobs);
    tcase_add_test(tf, sigterm_hands_back_held_jobs);
    suite_add_tcase(s, tf);
    return harness_run_suite(s);
}
