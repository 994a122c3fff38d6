/* Redis failover through Sentinel (issue 14). A master, its replica(s) and
 * three redis-sentinel processes (quorum 2, down-after 1 s) on free
 * loopback ports; an api and a worker given a redis+sentinel:// URL. One
 * client submits a burst of POST /jobs; the master is SIGKILLed after
 * KILL_AFTER jobs were acknowledged. The test asserts what a user relies
 * on: every answer is 202 or 503 (never a hang, never another code), the
 * API answers 202 again within BACK_MS of the kill, every job
 * acknowledged after the failover runs to done, every acknowledged job
 * that survived runs to done, and with --redis-wait 1 none was lost. It
 * prints (and does not assert) how long the API answered 503 and how many
 * acknowledged jobs were lost without --redis-wait: Redis replication is
 * asynchronous, and on loopback the window is small.
 *
 * --redis-wait 1 needs a replica after the failover too, so that test runs
 * two: the one promoted, and one that follows it. Every process dies with
 * the test (harness_spawn's PR_SET_PDEATHSIG, and teardown). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/harness.h"
#include "tests/harness/http.h"
#include "tests/harness/sentinel.h"
#include "tests/harness/stack.h"

#define MASTER_NAME "offloadtest"
#define SENTINELS 3
#define QUORUM 2
#define DOWN_AFTER_MS 1000       /* silent this long: the master is down */
#define FAILOVER_TIMEOUT_MS 5000 /* a failover that stalls is retried after this */
#define REPLICAS_MAX 2
#define SYNC_MS 10000            /* a replica in sync within this */
#define DISCOVER_MS 15000        /* the sentinels know the replicas and each other (hellos every 2 s) */
#define KILL_AFTER 300           /* jobs acknowledged before the master is killed */
#define AFTER_JOBS 200           /* jobs acknowledged after the failover */
#define PACE_MS 2                /* between submits: a few hundred a second, gentle on a shared machine */
#define BACK_MS 15000            /* the API answers 202 again within this of the kill */
#define SUBMIT_TIMEOUT_MS 5000   /* one POST /jobs answers within this (--redis-timeout is 1 s) */
#define DONE_MS 30000            /* every surviving job done within this after the burst */
#define SUBMITS_MAX 40000
#define JOB_BODY "{\"ms\":0}"

struct topo {
    struct harness_redis master;
    struct harness_redis replicas[REPLICAS_MAX];
    int nreplicas;
    struct harness_sentinel sentinels[SENTINELS];
    char url[256]; /* redis+sentinel://... */
    pid_t api, worker;
    int api_port;
    char base[64];
};

/* One POST /jobs and its answer. */
struct submit {
    int64_t at_ms; /* when the answer came */
    long code;
    bool unknown; /* a 503 with "outcome":"unknown" (the enqueue was sent, its answer lost) */
    bool unconfirmed; /* a 503 with "outcome":"unconfirmed" (--redis-wait: the replicas did not confirm) */
    char id[40];  /* the job's id when 202 */
};

static struct topo T;
static struct submit *subs;

static void setup(void)
{
    memset(&T, 0, sizeof T);
    subs = calloc(SUBMITS_MAX, sizeof *subs);
    ck_assert_ptr_nonnull(subs);
}

static void teardown(void)
{
    harness_kill_all();
    for (int i = 0; i < SENTINELS; i++)
        harness_sentinel_stop(&T.sentinels[i]);
    for (int i = 0; i < T.nreplicas; i++)
        harness_redis_stop(&T.replicas[i]);
    harness_redis_stop(&T.master);
    free(subs);
    subs = NULL;
}

/* A command on a fresh connection to r; the reply must be a status or integer. */
static void redis_do(const struct harness_redis *r, const char *cmd)
{
    redisContext *c = harness_redis_connect(r);
    ck_assert_ptr_nonnull(c);
    redisReply *reply = redisCommand(c, cmd);
    ck_assert_msg(reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_INTEGER),
                  "%s on port %d: %s", cmd, r->port, reply && reply->str ? reply->str : c->errstr);
    freeReplyObject(reply);
    redisFree(c);
}

static bool replica_synced(void *arg)
{
    redisContext *c = harness_redis_connect(arg);
    redisReply *r = c ? redisCommand(c, "INFO replication") : NULL;
    bool up = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up") != NULL;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return up;
}

/* The master, nreplicas replicas in sync with it, and three sentinels
 * that know them all and each other. */
static void topo_up(int nreplicas)
{
    ck_assert_int_eq(harness_redis_start(&T.master), 0);
    /* a replica's first sync at once, not after Redis 7's 5 s of waiting for more replicas */
    redis_do(&T.master, "CONFIG SET repl-diskless-sync-delay 0");
    for (int i = 0; i < nreplicas; i++) {
        char cmd[64];
        ck_assert_int_eq(harness_redis_start(&T.replicas[i]), 0);
        T.nreplicas++;
        redis_do(&T.replicas[i], "CONFIG SET repl-diskless-sync-delay 0"); /* for when it is promoted */
        snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", T.master.port);
        redis_do(&T.replicas[i], cmd);
        ck_assert_msg(harness_wait_until(replica_synced, &T.replicas[i], SYNC_MS, 20) == 0, "replica %d not in sync",
                      i);
    }
    struct harness_sentinel_watch w = {MASTER_NAME, T.master.port, QUORUM, DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS};
    size_t off = (size_t)snprintf(T.url, sizeof T.url, "redis+sentinel://");
    for (int i = 0; i < SENTINELS; i++) {
        ck_assert_int_eq(harness_sentinel_start(&T.sentinels[i], &w), 0);
        off += (size_t)snprintf(T.url + off, sizeof T.url - off, "%s127.0.0.1:%d", i ? "," : "",
                                T.sentinels[i].port);
    }
    snprintf(T.url + off, sizeof T.url - off, "/%s", MASTER_NAME);
    for (int i = 0; i < SENTINELS; i++)
        ck_assert_msg(harness_sentinel_wait(&T.sentinels[i], MASTER_NAME, T.master.port, nreplicas, SENTINELS - 1,
                                            DISCOVER_MS) == 0,
                      "sentinel %d does not know the replicas and the other sentinels", i);
}

static bool api_ready(void *arg)
{
    char url[128];
    struct http_resp r;
    (void)arg;
    snprintf(url, sizeof url, "%s/readyz", T.base);
    bool ok = http_do("GET", url, NULL, 0, NULL, 1000, &r) == 0 && r.code == 200;
    http_resp_free(&r);
    return ok;
}

/* The api and a worker on T.url; LOG_LEVEL=warn keeps the failover's lines. */
static void offload_up(const char *redis_wait)
{
    char listen[32];
    const char *env[] = {"LOG_LEVEL=warn", NULL};
    T.api_port = harness_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", T.api_port);
    snprintf(T.base, sizeof T.base, "http://127.0.0.1:%d", T.api_port);
    const char *api[] = {harness_bin("api"), "--listen", listen, "--redis", T.url, "--redis-timeout", "1s",
                         "--redis-wait", redis_wait, NULL};
    T.api = harness_spawn(api, env);
    ck_assert_int_gt(T.api, 0);
    ck_assert_int_eq(harness_wait_port(T.api_port, 10000), 0);
    ck_assert_msg(harness_wait_until(api_ready, NULL, 10000, 50) == 0, "api not ready");
    const char *worker[] = {harness_bin("worker"), "--redis", T.url, "--redis-timeout", "1s", "--lease", "3s", NULL};
    T.worker = harness_spawn(worker, env);
    ck_assert_int_gt(T.worker, 0);
}

/* One POST /jobs into *s. */
static void submit_one(struct submit *s)
{
    char url[128];
    struct http_resp r;
    snprintf(url, sizeof url, "%s/jobs", T.base);
    int rc = http_do("POST", url, JOB_BODY, strlen(JOB_BODY), NULL, SUBMIT_TIMEOUT_MS, &r);
    s->at_ms = harness_now_ms();
    s->code = rc == 0 ? r.code : 0;
    json_t *j = rc == 0 ? http_resp_json(&r) : NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *outcome = json_string_value(json_object_get(j, "outcome"));
    if (s->code == 202 && id)
        snprintf(s->id, sizeof s->id, "%s", id);
    s->unknown = outcome && strcmp(outcome, "unknown") == 0;
    s->unconfirmed = outcome && strcmp(outcome, "unconfirmed") == 0;
    json_decref(j);
    http_resp_free(&r);
}

/* What the burst saw. */
struct burst {
    int n;             /* submits */
    int kill_at;       /* index of the first submit after the kill */
    int64_t kill_ms;
    int64_t first_fail_ms, back_ms; /* the first non-202 after the kill, and the first 202 after it */
    int fails, unknown, unconfirmed;
    int before, after; /* 202s before the kill, and after the API came back */
};

/* Submits until AFTER_JOBS are acknowledged after the failover, killing
 * the master once KILL_AFTER were acknowledged. */
static void burst_run(struct burst *b)
{
    memset(b, 0, sizeof *b);
    b->kill_at = -1;
    while (b->after < AFTER_JOBS) {
        ck_assert_msg(b->n < SUBMITS_MAX, "more than %d submits", SUBMITS_MAX);
        struct submit *s = &subs[b->n];
        submit_one(s);
        ck_assert_msg(s->code == 202 || s->code == 503, "POST /jobs answered %ld (submit %d)", s->code, b->n);
        b->n++;
        if (b->kill_at < 0) {
            ck_assert_msg(s->code == 202, "POST /jobs answered %ld before the kill", s->code);
            if (++b->before == KILL_AFTER) {
                b->kill_ms = harness_now_ms();
                harness_redis_kill(&T.master); /* SIGKILL: no goodbye to anyone */
                b->kill_at = b->n;
            }
        } else if (s->code != 202) {
            b->fails++;
            b->unknown += s->unknown;
            b->unconfirmed += s->unconfirmed;
            if (b->first_fail_ms == 0)
                b->first_fail_ms = s->at_ms;
            ck_assert_msg(b->back_ms == 0, "503 again %lld ms after the API came back", (long long)(s->at_ms - b->back_ms));
        } else {
            if (b->back_ms == 0 && b->first_fail_ms != 0)
                b->back_ms = s->at_ms;
            if (b->back_ms != 0)
                b->after++;
        }
        if (b->kill_at >= 0 && b->back_ms == 0)
            ck_assert_msg(harness_now_ms() - b->kill_ms < BACK_MS, "the API did not answer 202 within %d ms of kill -9",
                          BACK_MS);
        harness_sleep_ms(PACE_MS);
    }
}

/* Waits for job id to be done. Returns 1 done, 0 unknown (404), and fails
 * the test on anything else by the deadline. */
static int job_done(const char *id, int64_t deadline)
{
    char url[160];
    for (;;) {
        struct http_resp r;
        snprintf(url, sizeof url, "%s/jobs/%s?wait=2", T.base, id);
        int rc = http_do("GET", url, NULL, 0, NULL, 5000, &r);
        long code = rc == 0 ? r.code : 0;
        json_t *j = code == 200 ? http_resp_json(&r) : NULL;
        const char *state = json_string_value(json_object_get(j, "state"));
        bool done = state && strcmp(state, "done") == 0;
        char last[32];
        snprintf(last, sizeof last, "%s", state ? state : "?");
        json_decref(j);
        http_resp_free(&r);
        if (code == 404)
            return 0;
        if (done)
            return 1;
        ck_assert_msg(harness_now_ms() < deadline, "job %s not done in time (HTTP %ld, state %s)", id, code, last);
        if (code != 200)
            harness_sleep_ms(100);
    }
}

/* The whole scenario with --redis-wait `wait` (0 or 1). */
static void failover_run(int wait)
{
    char wait_arg[8];
    struct burst b;
    snprintf(wait_arg, sizeof wait_arg, "%d", wait);
    topo_up(wait ? 2 : 1);
    offload_up(wait_arg);
    burst_run(&b);

    int64_t deadline = harness_now_ms() + DONE_MS;
    int lost = 0;
    char lost_ids[200] = "";
    for (int i = 0; i < b.kill_at; i++) {
        if (subs[i].code != 202 || job_done(subs[i].id, deadline) == 1)
            continue;
        if (lost++ < 4) /* which ones: the last before the kill, if any */
            snprintf(lost_ids + strlen(lost_ids), sizeof lost_ids - strlen(lost_ids), " %s (submit %d of %d)",
                     subs[i].id, i + 1, b.kill_at);
    }
    for (int i = b.kill_at; i < b.n; i++)
        if (subs[i].code == 202)
            ck_assert_msg(job_done(subs[i].id, deadline) == 1, "job %s, acknowledged after the failover, is unknown",
                          subs[i].id);
    printf("sentinel failover, --redis-wait %d: kill -9 of the master; the API answered 503 for %lld ms "
           "(%d answers; \"outcome\" unknown: %d, unconfirmed: %d), 202 again %lld ms after the kill; "
           "acknowledged before the kill: %d, lost: %d%s (the others ran to done); after the failover: %d, all done\n",
           wait, (long long)(b.back_ms - b.first_fail_ms), b.fails, b.unknown, b.unconfirmed,
           (long long)(b.back_ms - b.kill_ms), b.before, lost, lost_ids, b.after);
    fflush(stdout);
    if (wait)
        ck_assert_msg(lost == 0, "--redis-wait 1: %d acknowledged jobs lost", lost);
    stack_terminate(&T.api, "api");
    stack_terminate(&T.worker, "worker");
}

START_TEST(failover_without_wait)
{
    failover_run(0);
}
END_TEST

START_TEST(failover_with_wait)
{
    failover_run(1);
}
END_TEST

static Suite *sentinel_suite(void)
{
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("failover");
    tcase_set_timeout(tc, 90);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, failover_without_wait);
    tcase_add_test(tc, failover_with_wait);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(sentinel_suite());
}
