/* common/mover.c against a private redis-server: scheduled jobs move to
 * their queue at their time, once, however many movers run; a sleeping
 * mover is woken by the message of an earlier job, not by polling; a
 * schedule's tick makes one job among several movers, and ticks missed
 * while no mover ran make one job, not one each. Jobs are made with the
 * project's own ENQUEUE and SCHEDULE_SET scripts. */
#include "common/mover.h"

#include <check.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jobid.h"
#include "common/scripts.h"
#include "common/url.h"
#include "tests/harness/harness.h"
#include "tests/unit/loop_unit.h"

#define PREFIX "mv:"
#define WAIT_MS 10000 /* watchdog for what should take at most a second */
#define MOVERS 3

static struct harness_redis redis;
static struct event_base *base;
static redisContext *cli;
static struct redis_url url;

static void setup(void)
{
    char err[256];
    memset(&redis, 0, sizeof redis);
    ck_assert_int_eq(harness_redis_start(&redis), 0);
    cli = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(cli);
    ck_assert_int_eq(redis_url_parse(redis.url, &url, err, sizeof err), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
    event_base_free(base);
    redisFree(cli);
    harness_redis_stop(&redis);
}

static struct mover *mover_start(int i)
{
    char name[64];
    snprintf(name, sizeof name, "%smover:test:%d", PREFIX, i);
    struct mover *m = mover_new(base, &url, name, PREFIX, 2000);
    ck_assert_ptr_nonnull(m);
    mover_allow_eviction(m, true);
    return m;
}

static void movers_stop(struct mover **m, int n)
{
    for (int i = 0; i < n; i++)
        mover_free(m[i]);
    event_base_loop(base, EVLOOP_NONBLOCK); /* the deferred frees */
}

/* Runs a project script on the blocking connection; returns its reply. */
static redisReply *script(enum script_id id, int argc, const char **argv)
{
    const char *full[64];
    char nkeys[] = "0";
    ck_assert_int_le(argc + 3, 64);
    full[0] = "EVAL";
    full[1] = script_source(id);
    full[2] = nkeys;
    for (int i = 0; i < argc; i++)
        full[3 + i] = argv[i];
    redisReply *r = redisCommandArgv(cli, argc + 3, full, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", script_name(id), r->str);
    return r;
}

/* Enqueues one job of queue "q" due `delay_ms` from Redis's now; its id
 * goes to id. */
static void enqueue_delayed(char id[JOBID_LEN + 1], int64_t delay_ms)
{
    char delay[24];
    ck_assert_int_eq(jobid_new(id), 0);
    snprintf(delay, sizeof delay, "%lld", (long long)delay_ms * 1000);
    const char *argv[] = {PREFIX, "100000", "1", "1", "", "60", id, "q", "", "", "1", "", "t", "", "",
                          "",     delay,    "",  "",  "", ""};
    freeReplyObject(script(SCRIPT_ENQUEUE, (int)(sizeof argv / sizeof argv[0]), argv));
}

static long long redis_int(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(cli, fmt, arg);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

static long long queue_len(void)
{
    return redis_int("LLEN %s", PREFIX "q:q");
}

static bool queue_reaches(void *arg)
{
    return queue_len() >= *(long long *)arg;
}

static long long job_field(const char *id, const char *field)
{
    redisReply *r = redisCommand(cli, "HGET " PREFIX "job:%s %s", id, field);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

START_TEST(due_job_moves_at_its_time)
{
    struct mover *m = mover_start(0);
    char id[JOBID_LEN + 1];
    long long want = 1;
    struct mover_stats st;
    enqueue_delayed(id, 300);
    ck_assert_int_eq(queue_len(), 0);
    ck_assert(loop_until(base, queue_reaches, &want, WAIT_MS));
    /* on Redis's clock, never before its time */
    ck_assert_int_ge(job_field(id, "promoted_at"), job_field(id, "run_at"));
    redisReply *r = redisCommand(cli, "HGET " PREFIX "job:%s state", id);
    ck_assert_str_eq(r->str, "queued");
    freeReplyObject(r);
    ck_assert_int_eq(redis_int("ZCARD %s", PREFIX "scheduled"), 0);
    ck_assert_int_eq(redis_int("HGET %s q", PREFIX "scheduled:count"), -1); /* the count went with it */
    loop_for(base, 200); /* the step's answer reaches the mover */
    mover_stats(m, &st);
    ck_assert_int_eq(st.moved, 1);
    movers_stop(&m, 1);
}
END_TEST

/* An idle mover sleeps up to a minute: only the message of the new job,
 * due before anything else, can wake it in time. */
START_TEST(sleeping_mover_is_woken_by_an_earlier_job)
{
    struct mover *m = mover_start(0);
    char id[JOBID_LEN + 1];
    long long want = 1;
    struct mover_stats st;
    loop_for(base, 500); /* connected, stepped once, asleep */
    mover_stats(m, &st);
    ck_assert_int_ge(st.steps, 1);
    enqueue_delayed(id, 200);
    ck_assert(loop_until(base, queue_reaches, &want, WAIT_MS));
    mover_stats(m, &st);
    ck_assert_int_le(st.steps, 6); /* a handful of steps, not a poll */
    movers_stop(&m, 1);
}
END_TEST

START_TEST(many_movers_move_each_job_once)
{
    struct mover *m[MOVERS];
    char id[JOBID_LEN + 1];
    long long want = 200, moved = 0;
    for (int i = 0; i < MOVERS; i++)
        m[i] = mover_start(i);
    for (int i = 0; i < 200; i++)
        enqueue_delayed(id, 200 + i * 3); /* due over 0.6 s */
    ck_assert(loop_until(base, queue_reaches, &want, WAIT_MS));
    loop_for(base, 300);
    ck_assert_int_eq(queue_len(), 200);
    /* no id twice */
    redisReply *r = redisCommand(cli, "EVAL %s 0 %s",
                                 "local s = {} for _, id in ipairs(redis.call('LRANGE', ARGV[1], 0, -1)) do "
                                 "s[id] = true end local n = 0 for _ in pairs(s) do n = n + 1 end return n",
                                 PREFIX "q:q");
    ck_assert_int_eq(r->integer, 200);
    freeReplyObject(r);
    for (int i = 0; i < MOVERS; i++) {
        struct mover_stats st;
        mover_stats(m[i], &st);
        moved += (long long)st.moved;
    }
    ck_assert_int_eq(moved, 200);
    movers_stop(m, MOVERS);
}
END_TEST

/* Makes schedule `name` with `cron` whose next tick is `tick_us`. */
static void schedule_set(const char *name, const char *cron, long long tick_us)
{
    char tick[24];
    snprintf(tick, sizeof tick, "%lld", tick_us);
    const char *argv[] = {PREFIX, name, tick, "1", "100", "cron", cron, "queue", "q", "task", "t",
                          "max_attempts", "1"};
    freeReplyObject(script(SCRIPT_SCHEDULE_SET, (int)(sizeof argv / sizeof argv[0]), argv));
}

static long long redis_now_us(void)
{
    redisReply *r = redisCommand(cli, "TIME");
    long long v = atoll(r->element[0]->str) * 1000000 + atoll(r->element[1]->str);
    freeReplyObject(r);
    return v;
}

/* How many jobs schedule `name` made, and how many distinct ticks they
 * name (equal when each tick made one job). */
static void tick_jobs(const char *name, long long *jobs, long long *ticks)
{
    redisReply *r = redisCommand(cli, "EVAL %s 0 %s %s",
                                 "local n, t, seen = 0, 0, {} "
                                 "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. 'job:*')) do "
                                 "  local f = redis.call('HMGET', k, 'schedule', 'tick') "
                                 "  if f[1] == ARGV[2] then n = n + 1 "
                                 "    if not seen[f[2]] then seen[f[2]] = true; t = t + 1 end end end "
                                 "return {n, t}",
                                 PREFIX, name);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    *jobs = r->element[0]->integer;
    *ticks = r->element[1]->integer;
    freeReplyObject(r);
}

START_TEST(each_tick_makes_one_job_among_movers)
{
    struct mover *m[MOVERS];
    long long jobs, ticks, start = redis_now_us();
    for (int i = 0; i < MOVERS; i++)
        m[i] = mover_start(i);
    schedule_set("every", "* * * * * *", (start / 1000000 + 1) * 1000000);
    loop_for(base, 3500);
    tick_jobs("every", &jobs, &ticks);
    ck_assert_int_eq(jobs, ticks);
    ck_assert_int_ge(ticks, 2);
    ck_assert_int_le(ticks, 5);
    movers_stop(m, MOVERS);
}
END_TEST

START_TEST(missed_ticks_make_one_job)
{
    struct mover *m;
    long long jobs, ticks, now = redis_now_us();
    /* a yearly schedule whose tick passed 5 s ago while no mover ran */
    schedule_set("yearly", "@yearly", now - 5000000);
    m = mover_start(0);
    loop_for(base, 1500);
    tick_jobs("yearly", &jobs, &ticks);
    ck_assert_int_eq(jobs, 1);
    /* and its next tick is in the future, not the missed ones */
    ck_assert_int_gt(redis_int("ZSCORE %s yearly", PREFIX "schedules"), now);
    movers_stop(&m, 1);
}
END_TEST

/* Freed while it connects, and while its step waits on a stopped Redis:
 * the late callbacks find nothing freed (ASan) and nothing leaks. */
START_TEST(free_with_commands_in_flight)
{
    struct mover *m = mover_start(0);
    struct mover_stats st;
    char id[JOBID_LEN + 1];
    mover_free(m); /* connecting */
    event_base_loop(base, EVLOOP_NONBLOCK);
    m = mover_start(1);
    enqueue_delayed(id, 400);
    loop_for(base, 200); /* connected, asleep until the job's time */
    ck_assert_int_eq(kill(redis.pid, SIGSTOP), 0);
    loop_for(base, 400); /* its step is sent and not answered */
    mover_stats(m, &st);
    ck_assert_int_eq(st.moved, 0);
    mover_free(m);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(kill(redis.pid, SIGCONT), 0);
    loop_for(base, 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mover");
    TCase *tc = tcase_create("mover");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, due_job_moves_at_its_time);
    tcase_add_test(tc, sleeping_mover_is_woken_by_an_earlier_job);
    tcase_add_test(tc, many_movers_move_each_job_once);
    tcase_add_test(tc, each_tick_makes_one_job_among_movers);
    tcase_add_test(tc, missed_ticks_make_one_job);
    tcase_add_test(tc, free_with_commands_in_flight);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
