/* Unit tests for api/replwait.c against real redis-servers on a libevent
 * loop: without a replica every write hears 0 after the WAIT's timeout,
 * and writes added while a WAIT is in flight share the next one (two WAITs
 * for three writes); with a replica in sync it hears 1; a connection lost
 * under a WAIT tells every waiting write -1. Waits are bounded
 * (loop_unit.h). */
#include "api/replwait.h"

#include <check.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rconn.h"
#include "common/url.h"
#include "tests/harness/harness.h"
#include "tests/unit/loop_unit.h"

#define READY_MS 15000
#define ANSWER_MS 10000
#define WRITES 3

static struct harness_redis R, REPLICA;
static struct event_base *base;
static struct rconn *rc;
static struct replwait *rw;

/* What each write heard. */
static int calls[WRITES];
static long acked[WRITES];

static void setup(void)
{
    memset(&R, 0, sizeof R);
    memset(&REPLICA, 0, sizeof REPLICA);
    memset(calls, 0, sizeof calls);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    rc = NULL;
    rw = NULL;
}

static void teardown(void)
{
    rconn_free(rc);
    loop_for(base, 20);
    replwait_free(rw);
    event_base_free(base);
    harness_redis_stop(&REPLICA);
    harness_redis_stop(&R);
}

static void on_state(struct rconn *c, bool up, void *arg)
{
    (void)c;
    (void)up;
    (void)arg;
}

static bool ready(void *arg)
{
    (void)arg;
    return rconn_ready(rc);
}

/* R up, rc connected to it, rw waiting for `replicas` within timeout_ms. */
static void connect_up(long replicas, int64_t timeout_ms)
{
    struct redis_url u;
    char err[128];
    ck_assert_int_eq(harness_redis_start(&R), 0);
    ck_assert_int_eq(redis_url_parse(R.url, &u, err, sizeof err), 0);
    rc = rconn_new(base, &u, "unit-replwait", on_state, NULL);
    ck_assert_ptr_nonnull(rc);
    ck_assert(loop_until(base, ready, NULL, READY_MS));
    rw = replwait_new(rc, replicas, timeout_ms);
    ck_assert_ptr_nonnull(rw);
}

static void on_outcome(void *arg, long n)
{
    int i = (int)(intptr_t)arg;
    calls[i]++;
    acked[i] = n;
}

static bool all_heard(void *arg)
{
    (void)arg;
    for (int i = 0; i < WRITES; i++)
        if (calls[i] == 0)
            return false;
    return true;
}

/* A counter of R's INFO commandstats ("calls" of cmdstat_<cmd>), 0 when absent. */
static long commandstat(const char *cmd)
{
    redisContext *c = harness_redis_connect(&R);
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "INFO commandstats");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, key);
    long n = p ? strtol(p + strlen(key), NULL, 10) : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void add_writes(void)
{
    for (int i = 0; i < WRITES; i++)
        ck_assert_int_eq(replwait_add(rw, on_outcome, (void *)(intptr_t)i), 0);
}

START_TEST(no_replica_hears_zero_and_shares_waits)
{
    connect_up(1, 100);
    add_writes(); /* the first sends WAIT; the two others wait for it and share the next */
    ck_assert(loop_until(base, all_heard, NULL, ANSWER_MS));
    for (int i = 0; i < WRITES; i++) {
        ck_assert_int_eq(calls[i], 1);
        ck_assert_int_eq(acked[i], 0);
    }
    ck_assert_int_eq(commandstat("wait"), 2);
    ck_assert_int_eq(replwait_replicas(rw), 1);
    ck_assert_int_eq(replwait_timeout_ms(rw), 100);
}
END_TEST

static bool replica_synced(void *arg)
{
    (void)arg;
    redisContext *c = harness_redis_connect(&REPLICA);
    redisReply *r = c ? redisCommand(c, "INFO replication") : NULL;
    bool up = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up") != NULL;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return up;
}

START_TEST(replica_confirms)
{
    connect_up(1, 2000);
    redisContext *c = harness_redis_connect(&R);
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "CONFIG SET repl-diskless-sync-delay 0"); /* not Redis 7's 5 s */
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(harness_redis_start(&REPLICA), 0);
    c = harness_redis_connect(&REPLICA);
    ck_assert_ptr_nonnull(c);
    r = redisCommand(c, "REPLICAOF 127.0.0.1 %d", R.port);
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(harness_wait_until(replica_synced, NULL, 10000, 20), 0);
    add_writes();
    ck_assert(loop_until(base, all_heard, NULL, ANSWER_MS));
    for (int i = 0; i < WRITES; i++)
        ck_assert_int_eq(acked[i], 1);
}
END_TEST

START_TEST(lost_connection_hears_minus_one)
{
    connect_up(1, 5000); /* no replica: the WAIT holds for 5 s, unless the connection goes */
    add_writes();
    loop_for(base, 50);
    harness_redis_kill(&R);
    ck_assert(loop_until(base, all_heard, NULL, ANSWER_MS));
    for (int i = 0; i < WRITES; i++) {
        ck_assert_int_eq(calls[i], 1);
        ck_assert_int_eq(acked[i], -1);
    }
    /* while the connection is down nothing can be confirmed: refused at once */
    ck_assert_int_eq(replwait_add(rw, on_outcome, (void *)(intptr_t)0), -1);
}
END_TEST

static Suite *replwait_suite(void)
{
    Suite *s = suite_create("replwait");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_replica_hears_zero_and_shares_waits);
    tcase_add_test(tc, replica_confirms);
    tcase_add_test(tc, lost_connection_hears_minus_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(replwait_suite());
}
