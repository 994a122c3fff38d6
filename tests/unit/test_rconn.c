/* Unit tests for api/rconn.c against a real redis-server (started by the
 * harness on 127.0.0.1, a free port) on a real libevent loop: replies reach
 * their callbacks; a stopped (SIGSTOP) Redis is answered with NULL within
 * the deadline and the connection is made again after SIGCONT; a killed and
 * restarted Redis is reconnected; a Redis that may evict keys is refused;
 * the unsent-command bound; SUBSCRIBE; rconn_free. Every wait is bounded by
 * a watchdog (loop_unit.h) with room for a slow, noisy machine; no test
 * asserts that something happens *fast*, only within a generous bound or
 * never before the deadline. */
#include "common/rconn.h"

#include <check.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/scripts.h"
#include "common/url.h"
#include "tests/harness/harness.h"
#include "tests/unit/loop_unit.h"

#define CONN_NAME "unit-rconn"
#define READY_MS 15000   /* connect + setup, or a reconnect after Redis is back */
#define REPLY_MS 10000   /* a reply from a running Redis */
#define DEADLINE_MS 500  /* the command deadline of the hung-Redis tests */
#define NULL_BY_MS 8000  /* a NULL answer within this of the command: the deadline plus a lot of room */
/* RCONN_OBUF_MAX in rconn.c (64 MiB, not in the header): an argument past
 * it fills the unsent buffer over the bound in one command. */
#define OVER_OBUF_BYTES ((size_t)RCONN_OBUF_MAX + (1u << 20))

/* One rconn and what its callbacks saw. */
struct conn {
    struct rconn *rc;
    int ups, downs;
    int outstanding;        /* commands sent whose callback has not run */
    int outstanding_at_down; /* at the last up = false: must be 0 */
};

/* One command's answer. */
struct answer {
    struct conn *c;
    int calls;
    bool null;
    int type;
    long long integer;
    size_t len;
    char str[256];
    int64_t at_ms;
};

/* A subscription's messages. */
struct sub {
    bool subscribed;
    int messages, nulls;
    char last[64];
    int ready_at_null;      /* the connection's ups - downs when NULL came */
    struct conn *c;
};

static struct harness_redis R;
static bool redis_stopped; /* SIGSTOPped: SIGCONT before anything else */
static struct event_base *base;
static struct conn A, B;

static void setup(void)
{
    memset(&R, 0, sizeof R);
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    redis_stopped = false;
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
    if (redis_stopped)
        kill(R.pid, SIGCONT);
    rconn_free(A.rc);
    rconn_free(B.rc);
    loop_for(base, 20); /* the deferred frees run on the first turn */
    event_base_free(base);
    harness_redis_stop(&R);
}

static void redis_up(void)
{
    ck_assert_int_eq(harness_redis_start(&R), 0);
}

static void redis_stop(void)
{
    ck_assert_int_eq(kill(R.pid, SIGSTOP), 0);
    redis_stopped = true;
}

static void redis_cont(void)
{
    ck_assert_int_eq(kill(R.pid, SIGCONT), 0);
    redis_stopped = false;
}

/* A blocking command on a connection of our own; returns the reply (caller frees). */
static redisReply *redis_sync(const char *fmt, ...)
{
    redisContext *ctx = harness_redis_connect(&R);
    ck_assert_ptr_nonnull(ctx);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "redis: %s", ctx->errstr);
    redisFree(ctx);
    return r;
}

static void on_state(struct rconn *rc, bool up, void *arg)
{
    struct conn *c = arg;
    ck_assert_ptr_eq(rc, c->rc);
    if (up) {
        c->ups++;
    } else {
        c->downs++;
        c->outstanding_at_down = c->outstanding;
    }
}

/* rconn_new on url (R's when NULL) with the state callback on c. */
static void conn_open(struct conn *c, const char *url, int64_t timeout_ms, bool allow_eviction)
{
    struct redis_url u;
    char err[256];
    ck_assert_msg(redis_url_parse(url ? url : R.url, &u, err, sizeof err) == 0, "%s", err);
    c->rc = rconn_new(base, &u, CONN_NAME, on_state, c);
    ck_assert_ptr_nonnull(c->rc);
    rconn_allow_eviction(c->rc, allow_eviction);
    if (timeout_ms > 0)
        ck_assert_int_eq(rconn_set_timeout(c->rc, timeout_ms), 0);
}

static bool is_ready(void *arg)
{
    return rconn_ready(((struct conn *)arg)->rc);
}

static bool is_down(void *arg)
{
    struct conn *c = arg;
    return !rconn_ready(c->rc) && c->downs > 0;
}

static void wait_ready(struct conn *c)
{
    ck_assert_msg(loop_until(base, is_ready, c, READY_MS), "not ready within %d ms: %s", READY_MS,
                  rconn_down_reason(c->rc));
}

/* conn_open on R with eviction refused, then wait_ready. */
static void conn_ready(struct conn *c, int64_t timeout_ms)
{
    conn_open(c, NULL, timeout_ms, false);
    wait_ready(c);
}

static void answer_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct answer *a = priv;
    redisReply *reply = r;
    (void)ac;
    a->calls++;
    a->c->outstanding--;
    a->at_ms = clock_mono_ms();
    a->null = reply == NULL;
    if (reply == NULL)
        return;
    a->type = reply->type;
    a->integer = reply->integer;
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR) {
        a->len = (size_t)reply->len;
        memcpy(a->str, reply->str, a->len < sizeof a->str ? a->len : sizeof a->str - 1);
        a->str[a->len < sizeof a->str ? a->len : sizeof a->str - 1] = '\0';
    }
}

/* rconn_command of argv[0..argc) (lens NULL: C strings) on c into a;
 * returns its result. */
static int send_argv(struct conn *c, struct answer *a, int argc, const char **argv, const size_t *lens)
{
    memset(a, 0, sizeof *a);
    a->c = c;
    int rv = rconn_command(c->rc, answer_cb, a, argc, argv, lens);
    if (rv == 0)
        c->outstanding++;
    return rv;
}

/* Sends argv (NULL-terminated) on c; returns rconn_command's result. */
static int send_cmd(struct conn *c, struct answer *a, const char *const argv[])
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return send_argv(c, a, argc, (const char **)argv, NULL);
}

static bool answered(void *arg)
{
    return ((struct answer *)arg)->calls > 0;
}

/* Waits for a's one answer, which must not be NULL. */
static void wait_answer(struct conn *c, struct answer *a, const char *what, int64_t timeout_ms)
{
    ck_assert_msg(loop_until(base, answered, a, timeout_ms), "no answer to %s within %lld ms", what,
                  (long long)timeout_ms);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_msg(!a->null, "%s answered NULL: %s", what, rconn_down_reason(c->rc));
}

/* Sends argv and waits for the answer (which must not be NULL). */
static void roundtrip(struct conn *c, struct answer *a, const char *const argv[])
{
    ck_assert_int_eq(send_cmd(c, a, argv), 0);
    wait_answer(c, a, argv[0], REPLY_MS);
}

/* The project's scripts are loaded: EVALSHA of CANCEL for an unknown job
 * answers 0 (not NOSCRIPT). */
static void expect_scripts_loaded(struct conn *c)
{
    struct answer a = {.c = c};
    const char *argv[] = {"unit:", "0123456789abcdef0123456789abcdef", "1", "60"};
    ck_assert_int_eq(rconn_script(c->rc, SCRIPT_CANCEL, answer_cb, &a, 4, argv, NULL), 0);
    c->outstanding++;
    wait_answer(c, &a, "EVALSHA", REPLY_MS);
    ck_assert_msg(a.type == REDIS_REPLY_INTEGER && a.integer == 0, "CANCEL of an unknown job: type %d %s", a.type,
                  a.str);
}

static void expect_status(struct conn *c, const char *const argv[], const char *status)
{
    struct answer a;
    roundtrip(c, &a, argv);
    ck_assert_int_eq(a.type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(a.str, status);
}

/* While not ready, a command is refused and its callback never runs. */
static void expect_refused(struct conn *c)
{
    static struct answer never; /* static: a wrong late callback must not touch a dead frame */
    ck_assert_int_eq(send_cmd(c, &never, (const char *const[]){"PING", NULL}), -1);
    loop_for(base, 20);
    ck_assert_int_eq(never.calls, 0);
}

static bool redis_has_blocked_client(void *arg)
{
    (void)arg;
    redisReply *r = redis_sync("INFO clients");
    bool yes = r->type == REDIS_REPLY_STRING && strstr(r->str, "blocked_clients:1") != NULL;
    freeReplyObject(r);
    return yes;
}

/* A BLPOP that Redis holds unanswered (no deadline is set in its tests). */
static void send_blocked(struct conn *c, struct answer *a)
{
    ck_assert_int_eq(send_cmd(c, a, (const char *const[]){"BLPOP", "unit:never", "0", NULL}), 0);
    ck_assert_msg(loop_until(base, redis_has_blocked_client, NULL, REPLY_MS), "BLPOP never reached Redis");
    ck_assert_int_eq(a->calls, 0);
}

START_TEST(replies_reach_their_callbacks)
{
    char url[96];
    redis_up();
    snprintf(url, sizeof url, "%s/3", R.url);
    conn_open(&A, url, 0, false);
    ck_assert(!rconn_ready(A.rc)); /* connecting: nothing is sent yet */
    expect_refused(&A);
    wait_ready(&A);
    ck_assert_int_eq(A.ups, 1);
    ck_assert_int_eq(A.downs, 0);
    ck_assert_str_eq(rconn_down_reason(A.rc), "");
    ck_assert_str_eq(rconn_refused(A.rc), "");

    expect_status(&A, (const char *const[]){"SET", "unit:k", "hello", NULL}, "OK");
    struct answer a;
    roundtrip(&A, &a, (const char *const[]){"GET", "unit:k", NULL});
    ck_assert_int_eq(a.type, REDIS_REPLY_STRING);
    ck_assert_str_eq(a.str, "hello");
    /* binary-safe with argvlen */
    const char *argv[] = {"SET", "unit:bin", "a\0b"};
    const size_t lens[] = {3, 8, 3};
    ck_assert_int_eq(send_argv(&A, &a, 3, argv, lens), 0);
    wait_answer(&A, &a, "SET", REPLY_MS);
    roundtrip(&A, &a, (const char *const[]){"STRLEN", "unit:bin", NULL});
    ck_assert_int_eq(a.integer, 3);
    /* an error reply is a reply, not NULL */
    roundtrip(&A, &a, (const char *const[]){"INCR", "unit:k", NULL});
    ck_assert_int_eq(a.type, REDIS_REPLY_ERROR);

    /* it selected db 3 and named itself */
    redisReply *r = redis_sync("GET unit:k");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = redis_sync("CLIENT LIST");
    ck_assert_msg(strstr(r->str, "name=" CONN_NAME) != NULL && strstr(r->str, "db=3") != NULL, "%s", r->str);
    freeReplyObject(r);

    /* the project's scripts are loaded before it says ready */
    expect_scripts_loaded(&A);
    ck_assert_int_eq(A.outstanding, 0);
}
END_TEST

static unsigned long deadlines_seen;

static bool more_deadlines(void *arg)
{
    return rconn_deadlines(((struct conn *)arg)->rc) > deadlines_seen;
}

/* Redis stopped: a command gets NULL no sooner than the deadline and well
 * within a generous bound, the state goes down, reconnects meet the
 * deadline too while it stays stopped, and after SIGCONT it is ready again. */
START_TEST(hung_redis_answers_null_within_deadline)
{
    struct answer a;
    redis_up();
    conn_ready(&A, DEADLINE_MS);
    /* a round trip now: nothing (no idle PING) is in flight when Redis stops */
    expect_status(&A, (const char *const[]){"PING", NULL}, "PONG");
    redis_stop();
    int64_t sent = clock_mono_ms();
    ck_assert_int_eq(send_cmd(&A, &a, (const char *const[]){"GET", "unit:k", NULL}), 0);
    ck_assert_msg(loop_until(base, answered, &a, NULL_BY_MS), "no answer within %d ms of a stopped Redis",
                  NULL_BY_MS);
    ck_assert(a.null);
    int64_t took = a.at_ms - sent;
    ck_assert_msg(took >= DEADLINE_MS - 10, "NULL after %lld ms, before the %d ms deadline", (long long)took,
                  DEADLINE_MS);
    ck_assert(loop_until(base, is_down, &A, REPLY_MS));
    ck_assert_int_eq(A.downs, 1);
    ck_assert_int_eq(A.outstanding_at_down, 0); /* the NULL came before up = false */
    ck_assert_uint_ge(rconn_deadlines(A.rc), 1);
    ck_assert_msg(strstr(rconn_down_reason(A.rc), "did not answer") != NULL, "%s", rconn_down_reason(A.rc));
    expect_refused(&A);

    /* the kernel still accepts TCP for the stopped Redis: the new
     * connection's setup meets the deadline as well */
    deadlines_seen = rconn_deadlines(A.rc);
    ck_assert_msg(loop_until(base, more_deadlines, &A, READY_MS),
                  "a reconnect to the stopped Redis never hit the deadline");
    ck_assert_int_eq(A.ups, 1);

    redis_cont();
    wait_ready(&A);
    ck_assert_int_eq(A.ups, 2);
    ck_assert_int_eq(rconn_reconnects(A.rc), 1);
    ck_assert_str_eq(rconn_down_reason(A.rc), "");
    expect_status(&A, (const char *const[]){"SET", "unit:k", "back", NULL}, "OK");
}
END_TEST

/* No traffic at all: the idle PING notices the stopped Redis by itself. */
START_TEST(idle_connection_notices_a_hung_redis)
{
    redis_up();
    conn_ready(&A, DEADLINE_MS);
    redis_stop();
    ck_assert_msg(loop_until(base, is_down, &A, NULL_BY_MS + 1000), "a stopped Redis went unnoticed");
    ck_assert_uint_ge(rconn_deadlines(A.rc), 1);
    ck_assert_msg(strstr(rconn_down_reason(A.rc), "--redis-timeout") != NULL, "%s", rconn_down_reason(A.rc));
    redis_cont();
    wait_ready(&A);
    ck_assert_int_eq(A.ups, 2);
}
END_TEST

/* Redis killed and started again on the same port: commands in flight get
 * NULL before up = false, nothing is accepted meanwhile, and the connection
 * comes back (scripts loaded again) without the user doing anything. */
START_TEST(restarted_redis_is_reconnected)
{
    struct answer blocked;
    redis_up();
    conn_ready(&A, 0);
    send_blocked(&A, &blocked);
    harness_redis_kill(&R);
    ck_assert_msg(loop_until(base, is_down, &A, REPLY_MS), "the lost connection was not reported");
    ck_assert_int_eq(blocked.calls, 1);
    ck_assert(blocked.null);
    ck_assert_int_eq(A.outstanding_at_down, 0);
    ck_assert_int_eq(A.downs, 1);
    ck_assert_str_ne(rconn_down_reason(A.rc), "");
    expect_refused(&A);

    ck_assert_int_eq(harness_redis_resume(&R), 0);
    wait_ready(&A);
    ck_assert_int_eq(A.ups, 2);
    ck_assert_int_eq(A.downs, 1);
    ck_assert_int_eq(rconn_reconnects(A.rc), 1);
    ck_assert_uint_eq(rconn_deadlines(A.rc), 0);
    expect_status(&A, (const char *const[]){"SET", "unit:k", "again", NULL}, "OK");
    /* the new Redis had no scripts: they were loaded again */
    expect_scripts_loaded(&A);
}
END_TEST

/* Nothing listens yet: not ready, refused, a reason given; once Redis
 * starts on that port the backoff reaches it. */
START_TEST(connects_once_redis_appears)
{
    R.port = harness_free_port();
    ck_assert_int_gt(R.port, 0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", R.port);
    conn_open(&A, url, 0, false);
    loop_for(base, 1500); /* several refused attempts; the backoff grows */
    ck_assert(!rconn_ready(A.rc));
    ck_assert_int_eq(A.ups + A.downs, 0);
    ck_assert_str_ne(rconn_down_reason(A.rc), "");
    expect_refused(&A);
    redis_up();
    wait_ready(&A);
    ck_assert_int_eq(A.ups, 1);
    ck_assert_int_eq(A.downs, 0);
    ck_assert_int_eq(rconn_reconnects(A.rc), 0);
}
END_TEST

static bool is_refused(void *arg)
{
    return rconn_refused(((struct conn *)arg)->rc)[0] != '\0';
}

/* maxmemory-policy allkeys-lru: refused and never ready, unless allowed;
 * with noeviction set, it becomes ready on a later attempt. */
START_TEST(evicting_redis_is_refused_unless_allowed)
{
    redis_up();
    freeReplyObject(redis_sync("CONFIG SET maxmemory-policy allkeys-lru"));
    conn_open(&A, NULL, 0, false);
    conn_open(&B, NULL, 0, true);
    ck_assert_msg(loop_until(base, is_refused, &A, READY_MS), "an evicting Redis was not refused");
    ck_assert_msg(strstr(rconn_refused(A.rc), "allkeys-lru") != NULL, "%s", rconn_refused(A.rc));
    wait_ready(&B); /* allowed */
    ck_assert_str_eq(rconn_refused(B.rc), "");
    loop_for(base, 1500); /* several attempts, each refused */
    ck_assert(!rconn_ready(A.rc));
    ck_assert_int_eq(A.ups, 0);
    expect_refused(&A);

    freeReplyObject(redis_sync("CONFIG SET maxmemory-policy noeviction"));
    wait_ready(&A);
    ck_assert_str_eq(rconn_refused(A.rc), "");
    expect_status(&A, (const char *const[]){"PING", NULL}, "PONG");
}
END_TEST

/* More unsent than the bound: the next command is refused (-1, no
 * callback) while the connection stays ready; once Redis has read it all,
 * commands are accepted again. */
START_TEST(unsent_commands_are_bounded)
{
    redis_up();
    conn_ready(&A, 0);
    char *big = malloc(OVER_OBUF_BYTES);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', OVER_OBUF_BYTES);
    const char *argv[] = {"SET", "unit:big", big};
    const size_t lens[] = {3, 8, OVER_OBUF_BYTES};
    struct answer set;
    ck_assert_int_eq(send_argv(&A, &set, 3, argv, lens), 0);
    free(big); /* hiredis has its own copy */
    /* nothing is written before the loop turns: all of it waits unsent */
    ck_assert(rconn_ready(A.rc));
    expect_refused(&A);
    wait_answer(&A, &set, "the big SET", 60000);
    ck_assert_str_eq(set.str, "OK");
    expect_status(&A, (const char *const[]){"PING", NULL}, "PONG");
    redisReply *r = redis_sync("STRLEN unit:big");
    ck_assert_int_eq(r->integer, (long long)OVER_OBUF_BYTES);
    freeReplyObject(r);
}
END_TEST

static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct sub *s = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL) {
        s->nulls++;
        s->ready_at_null = s->c->ups - s->c->downs;
        return;
    }
    ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(reply->elements, 3);
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        s->subscribed = true;
    } else if (strcmp(reply->element[0]->str, "message") == 0) {
        ck_assert_str_eq(reply->element[1]->str, "unit:chan");
        snprintf(s->last, sizeof s->last, "%s", reply->element[2]->str);
        s->messages++;
    }
}

static bool sub_subscribed(void *arg)
{
    return ((struct sub *)arg)->subscribed;
}

static int sub_want;

static bool sub_has_messages(void *arg)
{
    return ((struct sub *)arg)->messages >= sub_want;
}

static bool sub_lost(void *arg)
{
    return ((struct sub *)arg)->nulls > 0;
}

/* PUBLISHes msg on B; returns the number of subscribers that got it. */
static long long publish(const char *msg)
{
    struct answer a;
    roundtrip(&B, &a, (const char *const[]){"PUBLISH", "unit:chan", msg, NULL});
    ck_assert_int_eq(a.type, REDIS_REPLY_INTEGER);
    return a.integer;
}

/* A subscription gets every PUBLISH in order; it is not dropped for
 * silence (no PING, no deadline while subscribed); losing the connection
 * ends it with NULL before up = false. */
START_TEST(subscription_receives_publish)
{
    struct sub s = {.c = &A};
    redis_up();
    conn_open(&A, NULL, DEADLINE_MS, false);
    conn_open(&B, NULL, 0, false);
    wait_ready(&A);
    wait_ready(&B);
    ck_assert_int_eq(rconn_subscribe(A.rc, sub_cb, &s, "unit:chan"), 0);
    ck_assert_msg(loop_until(base, sub_subscribed, &s, REPLY_MS), "no SUBSCRIBE confirmation");
    ck_assert_int_eq(publish("hello"), 1);
    sub_want = 1;
    ck_assert(loop_until(base, sub_has_messages, &s, REPLY_MS));
    ck_assert_str_eq(s.last, "hello");
    ck_assert_int_eq(publish("world"), 1);
    sub_want = 2;
    ck_assert(loop_until(base, sub_has_messages, &s, REPLY_MS));
    ck_assert_str_eq(s.last, "world");

    /* silent for longer than the idle PING interval plus the deadline */
    loop_for(base, 2500);
    ck_assert(rconn_ready(A.rc));
    ck_assert_int_eq(A.downs, 0);
    ck_assert_uint_eq(rconn_deadlines(A.rc), 0);
    ck_assert_int_eq(publish("still"), 1);
    sub_want = 3;
    ck_assert(loop_until(base, sub_has_messages, &s, REPLY_MS));
    ck_assert_str_eq(s.last, "still");
    ck_assert_int_eq(s.nulls, 0);

    harness_redis_kill(&R);
    ck_assert_msg(loop_until(base, sub_lost, &s, REPLY_MS), "the subscription did not end with NULL");
    ck_assert_int_eq(s.nulls, 1);
    ck_assert_int_eq(s.ready_at_null, 1); /* before up = false */
    ck_assert(loop_until(base, is_down, &A, REPLY_MS));
    ck_assert_int_eq(s.messages, 3);
}
END_TEST

/* rconn_free: a command in flight gets NULL, the state callback is not
 * called again, and nothing of it stays on the loop. */
START_TEST(free_answers_pending_with_null)
{
    struct answer blocked;
    redis_up();
    conn_ready(&A, DEADLINE_MS);
    /* BLPOP with a deadline set would be dropped: use a connection without one */
    conn_ready(&B, 0);
    send_blocked(&B, &blocked);
    rconn_free(B.rc);
    B.rc = NULL;
    rconn_free(A.rc);
    A.rc = NULL;
    ck_assert_msg(loop_until(base, answered, &blocked, REPLY_MS), "the pending command got no callback");
    ck_assert(blocked.null);
    loop_for(base, 100);
    ck_assert_int_eq(A.downs + B.downs, 0);
    ck_assert_int_eq(A.ups + B.ups, 2);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
}
END_TEST

static Suite *rconn_suite(void)
{
    Suite *s = suite_create("api_rconn");
    TCase *tc = tcase_create("rconn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, replies_reach_their_callbacks);
    tcase_add_test(tc, hung_redis_answers_null_within_deadline);
    tcase_add_test(tc, idle_connection_notices_a_hung_redis);
    tcase_add_test(tc, restarted_redis_is_reconnected);
    tcase_add_test(tc, connects_once_redis_appears);
    tcase_add_test(tc, evicting_redis_is_refused_unless_allowed);
    tcase_add_test(tc, unsent_commands_are_bounded);
    tcase_add_test(tc, subscription_receives_publish);
    tcase_add_test(tc, free_answers_pending_with_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    return harness_run_suite(rconn_suite());
}
