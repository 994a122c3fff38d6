/* A hung Redis — stopped with SIGSTOP, not killed: it keeps its sockets and
 * the kernel still completes TCP connects into its backlog, but nothing
 * answers. Workers (WORKER_REDIS_TIMEOUT=500ms, through the environment
 * twin of --redis-timeout so that a worker without the flag still starts
 * and fails on the point) must notice within their deadline on both
 * connections, say so once per connection, keep retrying without a line
 * per retry, come back once Redis does, and lose no accepted job; and a
 * Redis stalled past --lease must not get a live worker judged dead.
 * Jobs go through the real API. Redis is SIGCONTed in the teardown, and a
 * test that fails mid-way takes its children with it (PR_SET_PDEATHSIG:
 * SIGKILL ends a stopped process too). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/stack.h"

#define PREFIX "offload:"
#define TIMEOUT_ENV "WORKER_REDIS_TIMEOUT=500ms"
/* Both connections must report the timeout within this of SIGSTOP: with a
 * 500 ms deadline the heartbeat's next command (≤ 250 ms away) times out by
 * ~0.75 s and the main one's (a BLMOVE blocks 1 s more, a job ends) by
 * ~1.5 s. The old fixed 5 s socket timeouts cannot before 5 s. */
#define NOTICE_MS 3000
#define STOP_MS 3500        /* Redis stays stopped this long: reconnects meet it stopped */
#define BACK_MS 10000       /* after SIGCONT: both connections back within this */
#define JOBS_DONE_MS 20000  /* every accepted job done within this after SIGCONT */
#define MAX_JOBS 32

static struct stack S;
static redisContext *rc; /* ours, for checks; never used while Redis is stopped */
static bool stopped;     /* Redis is SIGSTOPped now */

static void setup(void)
{
    memset(&S, 0, sizeof S);
    rc = NULL;
    stopped = false;
}

/* Reached after a test that passed or (in no-fork mode) failed: Redis must
 * run again before anything else talks to it. */
static void teardown(void)
{
    if (stopped && S.redis.pid > 0)
        kill(S.redis.pid, SIGCONT);
    stopped = false;
    if (rc)
        redisFree(rc);
    rc = NULL;
    harness_kill_all();
    harness_redis_stop(&S.redis);
}

static void redis_stop(void)
{
    ck_assert_int_gt(S.redis.pid, 0);
    ck_assert_int_eq(kill(S.redis.pid, SIGSTOP), 0);
    stopped = true;
}

static void redis_cont(void)
{
    ck_assert_int_eq(kill(S.redis.pid, SIGCONT), 0);
    stopped = false;
}

/* The worker's log file in the Redis directory (removed with it). */
static void log_path(char *buf, size_t len, const char *id)
{
    snprintf(buf, len, "%s/worker-%s.log", S.redis.dir, id);
}

/* bin/worker --id id --lease 3s, LOG_LEVEL=info, `timeout_env`, its stderr
 * into its log file (through sh, which execs it: the pid is the worker's).
 * Recorded in S, so stack_stop wants it to exit 0 after SIGTERM. */
static pid_t worker_spawn(const char *id, const char *timeout_env)
{
    char env_log[256], path[200];
    log_path(path, sizeof path, id);
    snprintf(env_log, sizeof env_log, "HANG_WORKER_LOG=%s", path);
    const char *argv[] = {"sh", "-c", "exec \"$@\" 2>\"$HANG_WORKER_LOG\"", "sh", harness_bin("worker"),
                          "--redis", S.redis.url, "--id", id, "--lease", "3s", NULL};
    const char *env[] = {"LOG_LEVEL=info", env_log, timeout_env, NULL};
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_lt(S.nworkers, STACK_MAX_WORKERS);
    S.workers[S.nworkers++] = pid;
    return pid;
}

/* The whole log of worker `id` (malloc'd; "" when none yet). */
static char *log_read(const char *id)
{
    char path[200];
    log_path(path, sizeof path, id);
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        FILE *m = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(m);
        char chunk[4096];
        for (size_t n; (n = fread(chunk, 1, sizeof chunk, f)) > 0;)
            fwrite(chunk, 1, n, m);
        fclose(m);
        fclose(f);
    }
    if (!buf)
        buf = strdup("");
    ck_assert_ptr_nonnull(buf);
    return buf;
}

/* Lines of worker `id`'s log holding every one of the words (NULL-terminated). */
static int log_count(const char *id, const char *const *words)
{
    char *text = log_read(id);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        bool all = true;
        for (const char *const *w = words; *w && all; w++)
            all = strstr(line, *w) != NULL;
        n += all;
    }
    free(text);
    return n;
}

static void log_dump(const char *id)
{
    char *text = log_read(id);
    fprintf(stderr, "---- worker %s log ----\n%s---- end ----\n", id, text);
    free(text);
}

/* The line a worker writes when a command on `conn` timed out. */
#define TIMED_OUT(conn) ((const char *const[]){"did not answer within --redis-timeout", "conn=" conn " ", NULL})
/* A reconnect attempt that failed: the first is logged at warn. */
#define UNAVAILABLE(conn) ((const char *const[]){"redis unavailable, retrying", "conn=" conn " ", NULL})
/* ...because Redis took the connect but answered no setup command. */
#define SETUP_TIMED_OUT(conn) \
    ((const char *const[]){"redis unavailable, retrying", "conn=" conn " ", "no answer within 500 ms", NULL})
#define RECONNECTED(conn) ((const char *const[]){"redis connected", "conn=" conn " ", "reconnect=true", NULL})

struct log_wait {
    const char *id;
    const char *const *words;
};

static bool log_has(void *arg)
{
    const struct log_wait *w = arg;
    return log_count(w->id, w->words) > 0;
}

/* Waits up to timeout_ms for a line of `id`'s log with all of words. */
static bool log_wait(const char *id, const char *const *words, int timeout_ms)
{
    struct log_wait w = {id, words};
    return harness_wait_until(log_has, &w, timeout_ms, 20) == 0;
}

static bool registered(void *arg)
{
    redisReply *r = redisCommand(rc, "ZSCORE " PREFIX "workers %s", (const char *)arg);
    bool yes = r && r->type == REDIS_REPLY_STRING;
    if (r)
        freeReplyObject(r);
    return yes;
}

static long long int_reply(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(rc, fmt, arg);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* Redis, the api (no workers of the stack's own) and our connection. */
static void up(void)
{
    struct stack_opts o = {.workers = 0};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    rc = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(rc);
}

static void worker_up(const char *id, const char *timeout_env)
{
    worker_spawn(id, timeout_env);
    if (harness_wait_until(registered, (void *)id, 5000, 10) != 0) {
        log_dump(id);
        ck_abort_msg("worker %s did not register", id);
    }
}

/* POST /jobs body → its id in out. Retried while the API answers anything
 * but 202 (it may still be reconnecting after the stall), up to within_ms. */
static void job_post(const char *body, char out[64], int within_ms)
{
    int64_t deadline = harness_now_ms() + within_ms;
    for (;;) {
        struct http_resp r;
        bool sent = stack_http(&S, "POST", "/jobs", body, NULL, 3000, &r) == 0;
        if (sent && r.code == 202) {
            json_t *j = http_resp_json(&r);
            const char *id = json_string_value(json_object_get(j, "id"));
            ck_assert_ptr_nonnull(id);
            snprintf(out, 64, "%s", id);
            json_decref(j);
            http_resp_free(&r);
            return;
        }
        long code = sent ? r.code : 0;
        http_resp_free(&r);
        ck_assert_msg(harness_now_ms() < deadline, "POST /jobs: no 202 within %d ms (last %ld)", within_ms, code);
        harness_sleep_ms(100);
    }
}

/* A string member of j copied into buf ("" when absent). */
static void json_str(json_t *j, const char *key, char *buf, size_t len)
{
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(buf, len, "%s", v ? v : "");
}

/* The job's state ("" when the API does not answer), after a long-poll of
 * up to wait_s; attempts and worker into the optional outputs. */
static void job_state(const char *id, double wait_s, char state[32], long *attempts, char worker[64])
{
    state[0] = '\0';
    json_t *j = stack_job(&S, id, wait_s);
    if (!j)
        return;
    json_str(j, "state", state, 32);
    if (attempts)
        *attempts = (long)json_integer_value(json_object_get(j, "attempts"));
    if (worker)
        json_str(j, "worker", worker, 64);
    json_decref(j);
}

/* Waits up to timeout_ms for the job to reach `want`; fails naming it.
 * A long-poll answers at terminal states only: "running" is polled. */
static void job_wait(const char *id, const char *want, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    bool terminal = strcmp(want, "running") != 0 && strcmp(want, "queued") != 0;
    char state[32];
    do {
        job_state(id, terminal ? 1.0 : 0, state, NULL, NULL);
        if (strcmp(state, want) == 0)
            return;
        if (state[0] == '\0' || !terminal)
            harness_sleep_ms(state[0] ? 10 : 100);
    } while (harness_now_ms() < deadline);
    ck_abort_msg("job %s: state \"%s\", wanted %s within %d ms", id, state, want, timeout_ms);
}

START_TEST(hung_redis_noticed_then_no_job_lost)
{
    up();
    worker_up("wh", TIMEOUT_ENV);
    char ids[MAX_JOBS][64];
    int n = 0;
    /* Jobs flow. */
    for (int i = 0; i < 5; i++)
        job_post("{\"ms\":10}", ids[n++], 5000);
    for (int i = 0; i < n; i++)
        job_wait(ids[i], "done", 10000);
    /* A job running and five queued when Redis stops: the running one ends
     * while Redis is stopped, so its FINISH (which also takes the next job)
     * is what times out — and runs when Redis wakes. The queued ones may
     * run once only: a start whose reply was lost must not spend their one
     * attempt. */
    char running[64];
    job_post("{\"ms\":1000}", running, 5000);
    job_wait(running, "running", 5000);
    for (int i = 0; i < 5; i++)
        job_post("{\"ms\":10,\"max_attempts\":1}", ids[n++], 5000);

    redis_stop();
    int64_t t0 = harness_now_ms();
    bool hb = log_wait("wh", TIMED_OUT("heartbeat"), NOTICE_MS);
    bool main_conn = log_wait("wh", TIMED_OUT("main"), (int)(t0 + NOTICE_MS - harness_now_ms()));
    int64_t noticed = harness_now_ms() - t0;
    if (!hb || !main_conn)
        log_dump("wh");
    ck_assert_msg(hb && main_conn,
                  "worker did not report Redis's silence within %d ms of SIGSTOP (heartbeat %s, main %s): "
                  "its commands have no %s deadline",
                  NOTICE_MS, hb ? "yes" : "no", main_conn ? "yes" : "no", TIMEOUT_ENV);
    fprintf(stderr, "test_worker_hang: both connections reported the timeout %lld ms after SIGSTOP\n",
            (long long)noticed);
    /* Reconnects meet the stopped Redis: the kernel takes the connect, the
     * setup commands time out, and the worker tries again (no hang). */
    harness_sleep_ms((int)(t0 + STOP_MS - harness_now_ms()));
    bool retried = log_count("wh", SETUP_TIMED_OUT("heartbeat")) == 1 && log_count("wh", SETUP_TIMED_OUT("main")) == 1;
    redis_cont();
    if (!retried)
        log_dump("wh");
    ck_assert_msg(retried, "no reconnect attempt against the stopped Redis timed out in its setup");

    bool back = log_wait("wh", RECONNECTED("heartbeat"), BACK_MS) && log_wait("wh", RECONNECTED("main"), BACK_MS);
    if (!back)
        log_dump("wh");
    ck_assert_msg(back, "worker did not reconnect within %d ms of SIGCONT", BACK_MS);
    /* The job whose FINISH timed out is done, in its one run. */
    char state[32], worker[64];
    long attempts = 0;
    job_wait(running, "done", JOBS_DONE_MS);
    job_state(running, 0, state, &attempts, worker);
    ck_assert_int_eq(attempts, 1);
    ck_assert_str_eq(worker, "wh");
    /* Jobs accepted afterwards run too. */
    for (int i = 0; i < 10; i++)
        job_post("{\"ms\":10}", ids[n++], 10000);
    for (int i = 0; i < n; i++) {
        job_wait(ids[i], "done", JOBS_DONE_MS);
        job_state(ids[i], 0, state, &attempts, worker);
        ck_assert_msg(attempts == 1, "job %s: %ld attempts, want 1 (no worker died)", ids[i], attempts);
    }
    ck_assert_int_eq(int_reply("LLEN %s", PREFIX "wip:wh"), 0);
    ck_assert_int_eq(int_reply("LLEN %s", PREFIX "q:default"), 0);
    /* One line per connection for the outage, one for each recovery, and
     * no line per retry. */
    int lines[] = {log_count("wh", TIMED_OUT("heartbeat")), log_count("wh", TIMED_OUT("main")),
                   log_count("wh", UNAVAILABLE("heartbeat")), log_count("wh", UNAVAILABLE("main")),
                   log_count("wh", RECONNECTED("heartbeat")), log_count("wh", RECONNECTED("main"))};
    bool shape = true;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        shape = shape && lines[i] == 1;
    if (!shape)
        log_dump("wh");
    ck_assert_msg(shape, "log lines (timed out hb/main, unavailable hb/main, reconnected hb/main): %d %d %d %d %d %d",
                  lines[0], lines[1], lines[2], lines[3], lines[4], lines[5]);
    if (getenv("TEST_WORKER_HANG_LOGS"))
        log_dump("wh");
    stack_stop(&S); /* the worker and the api exit 0 on SIGTERM */
}
END_TEST

/* Redis stalls past the lease while worker wa runs a job: every beat is
 * stale when Redis comes back, and wa's heartbeat connection has timed out
 * and is reconnecting. wb's has not (its 10 s deadline stands for a worker
 * whose command went out later in the stall than wa's): its reaper hears
 * Redis the moment it wakes, and must give live workers time to beat again
 * rather than recover wa's job from under it. */
START_TEST(stall_past_lease_judges_no_live_worker_dead)
{
    up();
    worker_up("wa", TIMEOUT_ENV);
    char id[64];
    job_post("{\"ms\":8000}", id, 5000); /* still running when Redis comes back */
    job_wait(id, "running", 5000);
    worker_up("wb", "WORKER_REDIS_TIMEOUT=10s");
    redis_stop();
    /* Past the 3 s lease with a margin over the last beat; and wa's
     * reconnect attempts (500 ms each, backoff 100 ms doubling to 1 s) are
     * then in a backoff sleep: wa comes back up to ~1 s after Redis does. */
    harness_sleep_ms(5100);
    redis_cont();
    char state[32], worker[64];
    long attempts = 0;
    job_wait(id, "done", JOBS_DONE_MS);
    job_state(id, 0, state, &attempts, worker);
    const char *const judged_words[] = {"recovered a dead worker", NULL};
    int judged = log_count("wa", judged_words) + log_count("wb", judged_words);
    if (attempts != 1 || judged != 0) {
        log_dump("wa");
        log_dump("wb");
    }
    ck_assert_msg(judged == 0, "a live worker was judged dead after the stall (%d times)", judged);
    ck_assert_int_eq(attempts, 1);
    ck_assert_str_eq(worker, "wa");
    /* Both still registered, with their records (a recovery deletes it). */
    ck_assert(registered((void *)"wa") && registered((void *)"wb"));
    ck_assert_int_eq(int_reply("EXISTS %s", PREFIX "worker:wa"), 1);
    ck_assert_int_eq(int_reply("EXISTS %s", PREFIX "worker:wb"), 1);
    const char *const settled[] = {"judging no worker until", NULL};
    ck_assert_int_ge(log_count("wa", settled) + log_count("wb", settled), 1);
    if (getenv("TEST_WORKER_HANG_LOGS")) {
        log_dump("wa");
        log_dump("wb");
    }
    stack_stop(&S);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker_hang");
    TCase *tc = tcase_create("hung_redis");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, hung_redis_noticed_then_no_job_lost);
    tcase_add_test(tc, stall_past_lease_judges_no_live_worker_dead);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
