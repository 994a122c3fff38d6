/* Unit tests for api/waiters.c on a real libevent loop and a private
 * redis-server: a waiter is answered exactly once — with NULL when its time
 * passes, is ended by waiters_expire_all or by waiters_free, with the job
 * when waiters_complete (or a waiters_notify / waiters_recheck_all that reads
 * the job hash) finds it terminal — and never after waiters_cancel; fns may
 * add and cancel waiters; every function takes a NULL set. */
#include "api/waiters.h"

#include <check.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/rconn.h"
#include "common/clock.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/url.h"
#include "tests/harness/harness.h"
#include "tests/unit/loop_unit.h"

#define PREFIX "wt:"
#define WAIT_MS 10000  /* watchdog for anything that should take milliseconds */
#define LONG_MS 60000  /* a waiter's time that no test lives to see */
#define SHORT_MS 100   /* a waiter's time that a test waits out */
#define QUIET_MS 300   /* how long "nothing more happens" is watched */
#define PROBES 8

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
#define ID_C "ccccccccccccccccccccccccccccccc3"

/* What one waiter's fn saw, and what it does when it runs (the re-entrancy
 * cases). */
struct probe {
    int calls;
    bool got_null;                  /* the last call had job == NULL */
    char id[JOBID_LEN + 1];         /* the job's "id" at the last call */
    char state[16];                 /* its "state" */
    char queue[JOB_QUEUE_MAX + 1];  /* its "queue" */
    struct waiter *self;            /* its waiter, while registered */
    struct waiter *cancel;          /* cancelled from inside fn */
    const char *add_id;             /* a waiter added from inside fn, for P[add_probe] */
    int add_probe;
    struct waiter *added;
};

/* In static storage, not on a test's stack: a waiter still registered when
 * a test fails may be answered by the teardown's waiters_free. */
static struct probe P[PROBES];
static struct harness_redis redis;
static struct event_base *base;
static struct rconn *rc;
static struct waiters *ws;
static redisContext *cli; /* a blocking connection that writes the job hashes */

static void copy_field(char *dst, size_t len, const json_t *job, const char *key)
{
    const char *s = json_string_value(json_object_get(job, key));
    snprintf(dst, len, "%s", s ? s : "");
}

static void probe_fn(void *arg, json_t *job)
{
    struct probe *p = arg;
    /* the waiter is gone: like a request forgetting its own, nobody may
     * cancel it any more */
    for (int k = 0; k < PROBES; k++)
        if (P[k].cancel == p->self)
            P[k].cancel = NULL;
    p->self = NULL;
    p->calls++;
    p->got_null = job == NULL;
    copy_field(p->id, sizeof p->id, job, "id");
    copy_field(p->state, sizeof p->state, job, "state");
    copy_field(p->queue, sizeof p->queue, job, "queue");
    if (p->cancel) {
        waiters_cancel(ws, p->cancel);
        p->cancel = NULL;
    }
    if (p->add_id) {
        p->added = P[p->add_probe].self = waiters_add(ws, p->add_id, LONG_MS, probe_fn, &P[p->add_probe]);
        p->add_id = NULL;
    }
}

/* Registers a waiter for id answered into P[i]. */
static struct waiter *add(const char *id, int64_t timeout_ms, int i)
{
    struct waiter *w = waiters_add(ws, id, timeout_ms, probe_fn, &P[i]);
    ck_assert_ptr_nonnull(w);
    P[i].self = w;
    return w;
}

static void assert_woken_with(int i, const char *id, const char *state)
{
    ck_assert_int_eq(P[i].calls, 1);
    ck_assert(!P[i].got_null);
    ck_assert_str_eq(P[i].id, id);
    ck_assert_str_eq(P[i].state, state);
}

static void assert_answered_null(int i)
{
    ck_assert_int_eq(P[i].calls, 1);
    ck_assert(P[i].got_null);
}

/* A job view as the JSON of a job hash has it (only what waiters look at). */
static json_t *job_view(const char *id, const char *state)
{
    json_t *job = json_pack("{s:s, s:s, s:s}", "id", id, "state", state, "queue", "default");
    ck_assert_ptr_nonnull(job);
    return job;
}

static void complete(const char *id, const char *state)
{
    json_t *job = job_view(id, state);
    waiters_complete(ws, id, job);
    json_decref(job);
}

/* Writes <prefix>job:<id> as a worker leaves it: id, state, queue. */
static void set_job(const char *id, const char *state, const char *queue)
{
    char key[JOB_KEY_MAX];
    ck_assert_int_gt(key_job(key, sizeof key, PREFIX, id), 0);
    redisReply *r = redisCommand(cli, "HSET %s id %s state %s queue %s", key, id, state, queue);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

static bool is_true(void *arg)
{
    return *(bool *)arg;
}

static bool rconn_is_ready(void *arg)
{
    return rconn_ready(arg);
}

static bool none_waiting(void *arg)
{
    (void)arg;
    return waiters_count(ws) == 0;
}

static bool probe_called(void *arg)
{
    return ((struct probe *)arg)->calls > 0;
}

static void pong_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ck_assert_ptr_nonnull(reply);
    *(bool *)priv = true;
}

/* Returns once every command sent on rc so far has been answered and its
 * callback run: Redis answers one connection in order, so a PING's reply
 * comes after theirs. */
static void redis_sync(void)
{
    bool ponged = false;
    const char *argv[] = {"PING"};
    ck_assert_int_eq(rconn_command(rc, pong_cb, &ponged, 1, argv, NULL), 0);
    ck_assert(loop_until(base, is_true, &ponged, WAIT_MS));
}

static void state_cb(struct rconn *c, bool up, void *arg)
{
    (void)c;
    (void)up;
    (void)arg;
}

static void setup(void)
{
    struct redis_url url;
    char err[256];
    memset(P, 0, sizeof P);
    memset(&redis, 0, sizeof redis);
    ck_assert_int_eq(harness_redis_start(&redis), 0);
    cli = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(cli);
    ck_assert_int_eq(redis_url_parse(redis.url, &url, err, sizeof err), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    rc = rconn_new(base, &url, "test-waiters", state_cb, NULL);
    ck_assert_ptr_nonnull(rc);
    ck_assert_msg(loop_until(base, rconn_is_ready, rc, WAIT_MS), "rconn not ready: %s", rconn_down_reason(rc));
    ws = waiters_new(base, rc, PREFIX);
    ck_assert_ptr_nonnull(ws);
}

static void teardown(void)
{
    waiters_free(ws);
    ws = NULL;
    rconn_free(rc);
    event_base_loop(base, EVLOOP_NONBLOCK); /* runs the deferred Redis free */
    event_base_free(base);
    redisFree(cli);
    harness_redis_stop(&redis);
}

/* How early, by a precise clock, a libevent timer may fire: libevent keeps
 * time with CLOCK_MONOTONIC_COARSE, which lags by up to one tick of the
 * kernel (1 ms to 10 ms by CONFIG_HZ), plus 1 ms of truncation to ms. */
static int64_t timer_slack_ms(void)
{
    struct timespec res = {0, 10000000};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    return (int64_t)res.tv_sec * 1000 + (res.tv_nsec + 999999) / 1000000 + 1;
}

START_TEST(timeout_answers_once_with_null)
{
    int64_t start = clock_mono_ms();
    add(ID_A, SHORT_MS, 0);
    add(ID_B, LONG_MS, 1);
    ck_assert_int_eq(waiters_count(ws), 2);
    ck_assert(loop_until(base, probe_called, &P[0], WAIT_MS));
    ck_assert_int_ge(clock_mono_ms() - start, SHORT_MS - timer_slack_ms()); /* not before its time */
    assert_answered_null(0);
    ck_assert_int_eq(waiters_count(ws), 1);
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls, 1); /* once */
    ck_assert_int_eq(P[1].calls, 0); /* the other waiter has its own, longer time */
    waiters_cancel(ws, NULL);        /* accepted, changes nothing */
    ck_assert_int_eq(waiters_count(ws), 1);
}
END_TEST

START_TEST(complete_wakes_every_waiter_of_the_id)
{
    static const char *const terminal[] = {"done", "failed", "dead", "cancelled"};
    add(ID_A, LONG_MS, 0);
    add(ID_A, LONG_MS, 1);
    add(ID_B, LONG_MS, 2);
    complete(ID_A, "done");
    assert_woken_with(0, ID_A, "done");
    assert_woken_with(1, ID_A, "done");
    ck_assert_str_eq(P[0].queue, "default");
    ck_assert_int_eq(P[2].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 1);
    complete(ID_A, "done"); /* nobody waits for A any more */
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls, 1);
    ck_assert_int_eq(P[1].calls, 1);
    ck_assert_int_eq(P[2].calls, 0);
    /* every terminal state wakes, and each leaves B waiting */
    for (int i = 0; i < 4; i++) {
        memset(&P[3], 0, sizeof P[3]);
        add(ID_C, LONG_MS, 3);
        complete(ID_C, terminal[i]);
        assert_woken_with(3, ID_C, terminal[i]);
    }
    ck_assert_int_eq(waiters_count(ws), 1);
}
END_TEST

START_TEST(complete_with_live_job_wakes_nobody)
{
    json_t *stateless = json_pack("{s:s}", "id", ID_A);
    ck_assert_ptr_nonnull(stateless);
    add(ID_A, LONG_MS, 0);
    complete(ID_A, "running");
    complete(ID_A, "queued");
    complete(ID_A, "finished"); /* not a state */
    waiters_complete(ws, ID_A, stateless);
    waiters_complete(ws, ID_A, NULL);
    json_decref(stateless);
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 1);
    complete(ID_A, "done"); /* still registered and wakeable */
    assert_woken_with(0, ID_A, "done");
    ck_assert_int_eq(waiters_count(ws), 0);
}
END_TEST

START_TEST(cancelled_waiter_is_never_called)
{
    struct waiter *w = add(ID_A, SHORT_MS, 0);
    add(ID_A, SHORT_MS * 2, 1);
    waiters_cancel(ws, w);
    ck_assert_int_eq(waiters_count(ws), 1);
    /* the other waiter of A outlives the cancelled one's time */
    ck_assert(loop_until(base, probe_called, &P[1], WAIT_MS));
    assert_answered_null(1);
    complete(ID_A, "done");
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 0);
}
END_TEST

START_TEST(notify_reads_the_job_and_wakes_when_it_ended)
{
    set_job(ID_A, "running", "q1");
    add(ID_A, LONG_MS, 0);
    add(ID_B, LONG_MS, 1); /* no hash at all: unknown or expired */
    waiters_notify(ws, ID_A);
    waiters_notify(ws, ID_B);
    waiters_notify(ws, "not-a-job-id");
    redis_sync();
    ck_assert_int_eq(P[0].calls, 0);
    ck_assert_int_eq(P[1].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 2);

    set_job(ID_A, "done", "q1");
    waiters_notify(ws, ID_A);
    ck_assert(loop_until(base, probe_called, &P[0], WAIT_MS));
    assert_woken_with(0, ID_A, "done");
    ck_assert_str_eq(P[0].queue, "q1"); /* the fields come from the hash */
    ck_assert_int_eq(P[1].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 1);
}
END_TEST

START_TEST(recheck_all_reads_every_waited_job)
{
    set_job(ID_A, "done", "qa");
    set_job(ID_B, "failed", "qb");
    set_job(ID_C, "running", "qc");
    add(ID_A, LONG_MS, 0);
    add(ID_A, LONG_MS, 1);
    add(ID_B, LONG_MS, 2);
    add(ID_C, LONG_MS, 3);
    waiters_recheck_all(ws);
    redis_sync();
    assert_woken_with(0, ID_A, "done");
    assert_woken_with(1, ID_A, "done");
    assert_woken_with(2, ID_B, "failed");
    ck_assert_str_eq(P[2].queue, "qb");
    ck_assert_int_eq(P[3].calls, 0);
    ck_assert_int_eq(waiters_count(ws), 1);
}
END_TEST

START_TEST(expire_all_answers_every_waiter_now)
{
    int64_t start = clock_mono_ms();
    add(ID_A, LONG_MS, 0);
    add(ID_A, LONG_MS, 1);
    add(ID_B, LONG_MS, 2);
    waiters_expire_all(ws);
    ck_assert(loop_until(base, none_waiting, NULL, WAIT_MS));
    ck_assert_int_lt(clock_mono_ms() - start, WAIT_MS); /* long before LONG_MS */
    for (int i = 0; i < 3; i++)
        assert_answered_null(i);
    loop_for(base, QUIET_MS);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(P[i].calls, 1);
}
END_TEST

START_TEST(free_answers_registered_waiters_with_null)
{
    add(ID_A, LONG_MS, 0);
    add(ID_B, LONG_MS, 1);
    waiters_cancel(ws, add(ID_C, LONG_MS, 2));
    waiters_free(ws);
    ws = NULL;
    assert_answered_null(0);
    assert_answered_null(1);
    ck_assert_int_eq(P[2].calls, 0);
    loop_for(base, QUIET_MS); /* their timers went with them */
    ck_assert_int_eq(P[0].calls, 1);
    ck_assert_int_eq(P[1].calls, 1);
}
END_TEST

/* At shutdown the set goes before the Redis connection: a read it started
 * (a done message arrived) answers afterwards, and must find nothing to
 * wake (under ASan, touching the freed set fails this test). */
START_TEST(free_drops_reads_in_flight)
{
    set_job(ID_A, "done", "q1");
    add(ID_A, LONG_MS, 0);
    waiters_notify(ws, ID_A); /* sends the read */
    waiters_free(ws);
    ws = NULL;
    assert_answered_null(0);
    redis_sync(); /* the read's reply has come and gone */
    ck_assert_int_eq(P[0].calls, 1);
}
END_TEST

START_TEST(null_set_is_accepted_everywhere)
{
    json_t *done = job_view(ID_A, "done");
    waiters_free(ws);
    ws = NULL;
    ck_assert_ptr_null(waiters_add(NULL, ID_A, SHORT_MS, probe_fn, &P[0]));
    ck_assert_int_eq(waiters_count(NULL), 0);
    waiters_cancel(NULL, NULL);
    waiters_notify(NULL, ID_A);
    waiters_recheck_all(NULL);
    waiters_expire_all(NULL);
    waiters_complete(NULL, ID_A, done);
    waiters_free(NULL);
    json_decref(done);
    loop_for(base, SHORT_MS * 2);
    ck_assert_int_eq(P[0].calls, 0);
}
END_TEST

/* P[0] waits for A with a_timeout_ms; when it is answered (by `end`, or by
 * its time when end is NULL) it cancels P[1]'s waiter (of B) and adds P[2]
 * for A. */
static void check_fn_adds_and_cancels(int64_t a_timeout_ms, void (*end)(void))
{
    add(ID_A, a_timeout_ms, 0);
    P[0].cancel = add(ID_B, LONG_MS, 1);
    P[0].add_id = ID_A;
    P[0].add_probe = 2;
    if (end)
        end();
    ck_assert(loop_until(base, probe_called, &P[0], WAIT_MS));
    ck_assert_ptr_nonnull(P[0].added);
    ck_assert_int_eq(waiters_count(ws), 1); /* only the one added */
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls, 1);
    ck_assert_int_eq(P[1].calls, 0); /* cancelled before its time */
    ck_assert_int_eq(P[2].calls, 0); /* added during the wake: not part of it */
    complete(ID_A, "done");
    assert_woken_with(2, ID_A, "done");
    ck_assert_int_eq(waiters_count(ws), 0);
}

static void end_by_complete(void)
{
    complete(ID_A, "done");
}

static void end_by_expire_all(void)
{
    waiters_expire_all(ws);
}

START_TEST(fn_may_add_and_cancel_waiters_when_completed)
{
    check_fn_adds_and_cancels(LONG_MS, end_by_complete);
    ck_assert_str_eq(P[0].state, "done");
}
END_TEST

START_TEST(fn_may_add_and_cancel_waiters_when_timed_out)
{
    check_fn_adds_and_cancels(SHORT_MS, NULL);
    ck_assert(P[0].got_null);
}
END_TEST

/* Two waiters ended together by `end`, each cancelling the other when
 * answered: whichever runs first cancels the other, which — still owned by
 * the set until its fn runs — is never called. */
static void check_mutual_cancel(const char *id0, const char *id1, void (*end)(void))
{
    P[0].cancel = add(id1, LONG_MS, 1);
    P[1].cancel = add(id0, LONG_MS, 0);
    end();
    ck_assert(loop_until(base, none_waiting, NULL, WAIT_MS));
    ck_assert_int_eq(P[0].calls + P[1].calls, 1);
    loop_for(base, QUIET_MS);
    ck_assert_int_eq(P[0].calls + P[1].calls, 1);
    ck_assert_int_eq(waiters_count(ws), 0);
}

/* expire_all makes both timers due at once: the cancel must stop the other */
START_TEST(fn_may_cancel_a_waiter_already_due)
{
    check_mutual_cancel(ID_A, ID_B, end_by_expire_all);
}
END_TEST

/* complete takes every waiter of A off the set before calling any fn */
START_TEST(fn_may_cancel_a_waiter_of_the_same_id)
{
    check_mutual_cancel(ID_A, ID_A, end_by_complete);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_waiters");
    TCase *tc = tcase_create("waiters");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, timeout_answers_once_with_null);
    tcase_add_test(tc, complete_wakes_every_waiter_of_the_id);
    tcase_add_test(tc, complete_with_live_job_wakes_nobody);
    tcase_add_test(tc, cancelled_waiter_is_never_called);
    tcase_add_test(tc, notify_reads_the_job_and_wakes_when_it_ended);
    tcase_add_test(tc, recheck_all_reads_every_waited_job);
    tcase_add_test(tc, expire_all_answers_every_waiter_now);
    tcase_add_test(tc, free_answers_registered_waiters_with_null);
    tcase_add_test(tc, free_drops_reads_in_flight);
    tcase_add_test(tc, null_set_is_accepted_everywhere);
    tcase_add_test(tc, fn_may_add_and_cancel_waiters_when_completed);
    tcase_add_test(tc, fn_may_add_and_cancel_waiters_when_timed_out);
    tcase_add_test(tc, fn_may_cancel_a_waiter_already_due);
    tcase_add_test(tc, fn_may_cancel_a_waiter_of_the_same_id);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
