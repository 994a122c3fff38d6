/* Unit tests for common/sentinel.c: reading the sentinels' and ROLE's
 * replies, and asking real sentinels (a redis-server and a redis-sentinel
 * started by the harness on free ports), blocking and on a libevent loop:
 * the first sentinel that names the master wins, a refused, silent or
 * wrong one is passed over and named in the error, and an asker freed
 * mid-round never answers. And both connections on a sentinel URL
 * (common/rconn.c on the loop, worker/redis_conn.c blocking): a master
 * demoted under them (a write answered READONLY) is left, refused while
 * ROLE says replica, and used again once it is a master. Every wait is
 * bounded (loop_unit.h). */
#include "common/sentinel.h"

#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rconn.h"
#include "common/url.h"
#include "tests/harness/harness.h"
#include "tests/harness/sentinel.h"
#include "tests/unit/loop_unit.h"
#include "worker/redis_conn.h"

#define MASTER "unitmaster"
#define ASK_MS 500     /* each sentinel's deadline in these tests */
#define ANSWER_MS 10000 /* an answer within this, whatever the machine's load */

static struct harness_redis R, OTHER;
static struct harness_sentinel S;
static int silent_fd = -1; /* a listening socket nobody accepts on: connects succeed, nothing answers */
static int silent_port;

static void setup(void)
{
    memset(&R, 0, sizeof R);
    memset(&OTHER, 0, sizeof OTHER);
    memset(&S, 0, sizeof S);
    silent_fd = -1;
}

static void teardown(void)
{
    harness_sentinel_stop(&S);
    harness_redis_stop(&OTHER);
    harness_redis_stop(&R);
    if (silent_fd >= 0)
        close(silent_fd);
    silent_fd = -1;
}

/* R, and S watching it. */
static void sentinel_up(void)
{
    ck_assert_int_eq(harness_redis_start(&R), 0);
    struct harness_sentinel_watch w = {MASTER, R.port, 1, 5000, 10000};
    ck_assert_int_eq(harness_sentinel_start(&S, &w), 0);
}

/* A port where the kernel completes connects but no program answers. */
static void silent_up(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    silent_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(silent_fd, 0);
    ck_assert_int_eq(bind(silent_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(silent_fd, 16), 0);
    ck_assert_int_eq(getsockname(silent_fd, (struct sockaddr *)&sa, &len), 0);
    silent_port = ntohs(sa.sin_port);
}

/* A redis+sentinel:// URL for MASTER over the given ports, in order. */
static void url_make(struct redis_url *u, const int *ports, size_t n)
{
    char s[512], err[256];
    size_t off = (size_t)snprintf(s, sizeof s, "redis+sentinel://");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, sizeof s - off, "%s127.0.0.1:%d", i ? "," : "", ports[i]);
    snprintf(s + off, sizeof s - off, "/%s", MASTER);
    ck_assert_msg(redis_url_parse(s, u, err, sizeof err) == 0, "%s: %s", s, err);
}

START_TEST(reply_addr)
{
    redisReply host = {.type = REDIS_REPLY_STRING, .str = (char *)"10.0.0.7", .len = 8};
    redisReply port = {.type = REDIS_REPLY_STRING, .str = (char *)"6380", .len = 4};
    redisReply badport = {.type = REDIS_REPLY_STRING, .str = (char *)"63x", .len = 3};
    redisReply *pair[2] = {&host, &port}, *bad[2] = {&host, &badport};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = pair};
    redisReply badarr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = bad};
    redisReply nil = {.type = REDIS_REPLY_NIL};
    redisReply error = {.type = REDIS_REPLY_ERROR, .str = (char *)"NOAUTH Authentication required.", .len = 31};
    struct redis_addr a;
    char why[128];
    ck_assert_int_eq(sentinel_reply_addr(&arr, "m", &a, why, sizeof why), 0);
    ck_assert_str_eq(a.host, "10.0.0.7");
    ck_assert_int_eq(a.port, 6380);
    ck_assert_int_eq(sentinel_reply_addr(&nil, "m", &a, why, sizeof why), -1);
    ck_assert_str_eq(why, "does not know master \"m\"");
    ck_assert_int_eq(sentinel_reply_addr(&error, "m", &a, why, sizeof why), -1);
    ck_assert_str_eq(why, "NOAUTH Authentication required.");
    ck_assert_int_eq(sentinel_reply_addr(&badarr, "m", &a, why, sizeof why), -1);
    ck_assert_str_eq(why, "unusable master address in the reply");
    ck_assert_int_eq(sentinel_reply_addr(NULL, "m", &a, why, sizeof why), -1);
}
END_TEST

START_TEST(role_and_readonly)
{
    redisReply master = {.type = REDIS_REPLY_STRING, .str = (char *)"master", .len = 6};
    redisReply slave = {.type = REDIS_REPLY_STRING, .str = (char *)"slave", .len = 5};
    redisReply sentinel = {.type = REDIS_REPLY_STRING, .str = (char *)"sentinel", .len = 8};
    redisReply host = {.type = REDIS_REPLY_STRING, .str = (char *)"10.0.0.8", .len = 8};
    redisReply port = {.type = REDIS_REPLY_INTEGER, .integer = 6379};
    redisReply *m[1] = {&master}, *s[3] = {&slave, &host, &port}, *x[1] = {&sentinel};
    redisReply rm = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = m};
    redisReply rs = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = s};
    redisReply rx = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = x};
    redisReply ro = {.type = REDIS_REPLY_ERROR, .str = (char *)"READONLY You can't write against a read only replica."};
    redisReply other = {.type = REDIS_REPLY_ERROR, .str = (char *)"ERR something"};
    char why[128];
    ck_assert_int_eq(sentinel_role_check(&rm, why, sizeof why), 0);
    ck_assert_int_eq(sentinel_role_check(&rs, why, sizeof why), -1);
    ck_assert_str_eq(why, "not a master: a replica of 10.0.0.8:6379");
    ck_assert_int_eq(sentinel_role_check(&rx, why, sizeof why), -1);
    ck_assert_str_eq(why, "not a master: its role is sentinel");
    ck_assert_int_eq(sentinel_role_check(&other, why, sizeof why), -1);
    ck_assert_str_eq(why, "ROLE: ERR something");
    ck_assert(sentinel_readonly(&ro));
    ck_assert(!sentinel_readonly(&other));
    ck_assert(!sentinel_readonly(&rm));
    ck_assert(!sentinel_readonly(NULL));
}
END_TEST

/* The blocking way: a refused port and a server that is no sentinel are
 * passed over, the real sentinel answers with R's address. */
START_TEST(resolve_blocking)
{
    struct redis_url u;
    struct redis_addr a;
    char err[SENTINEL_ERR_MAX];
    sentinel_up();
    int refused = harness_free_port();
    int ports[3] = {refused, R.port, S.port};
    url_make(&u, ports, 3);
    ck_assert_msg(sentinel_resolve(&u, ASK_MS, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_int_eq(a.port, R.port);

    /* none of them: the error names each */
    url_make(&u, ports, 2);
    ck_assert_int_eq(sentinel_resolve(&u, ASK_MS, &a, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d: ", refused);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    snprintf(want, sizeof want, "127.0.0.1:%d: ERR unknown command", R.port);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "no sentinel named master " MASTER) == err, "%s", err);
}
END_TEST

/* What a sentinel_ask answered. */
struct answer {
    int calls;
    bool found;
    struct redis_addr master;
    char err[SENTINEL_ERR_MAX];
};

static void on_answer(void *arg, const struct redis_addr *master, const char *err)
{
    struct answer *an = arg;
    an->calls++;
    an->found = master != NULL;
    if (master)
        an->master = *master;
    snprintf(an->err, sizeof an->err, "%s", err);
}

static bool answered(void *arg)
{
    return ((struct answer *)arg)->calls > 0;
}

/* On the loop: a silent sentinel costs its deadline, a refused one
 * nothing, and the real one answers; a second round asks again. */
START_TEST(ask_on_loop)
{
    struct event_base *base = event_base_new();
    struct answer an = {0};
    struct redis_url u;
    ck_assert_ptr_nonnull(base);
    sentinel_up();
    silent_up();
    int ports[3] = {silent_port, harness_free_port(), S.port};
    url_make(&u, ports, 3);
    struct sentinel_ask *sa = sentinel_ask_new(base, &u, on_answer, &an);
    ck_assert_ptr_nonnull(sa);
    int64_t t0 = clock_mono_ms();
    sentinel_ask_start(sa, ASK_MS);
    ck_assert(loop_until(base, answered, &an, ANSWER_MS));
    ck_assert_msg(an.found, "%s", an.err);
    ck_assert_int_eq(an.master.port, R.port);
    ck_assert_msg(clock_mono_ms() - t0 >= ASK_MS - 20, "the silent sentinel was not given its deadline");
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d: no answer within %d ms", silent_port, ASK_MS);
    ck_assert_msg(strstr(an.err, want) != NULL, "%s", an.err);

    an.calls = 0;
    sentinel_ask_start(sa, ASK_MS);
    ck_assert(loop_until(base, answered, &an, ANSWER_MS));
    ck_assert(an.found);
    loop_for(base, 50);
    ck_assert_int_eq(an.calls, 1); /* one answer per round */
    sentinel_ask_free(sa);
    event_base_free(base);
}
END_TEST

/* Nobody knows the master: one answer, NULL, naming every sentinel. */
START_TEST(ask_nobody_knows)
{
    struct event_base *base = event_base_new();
    struct answer an = {0};
    struct redis_url u, other;
    char err[256];
    ck_assert_ptr_nonnull(base);
    sentinel_up();
    int ports[2] = {R.port, S.port};
    url_make(&u, ports, 2);
    ck_assert_int_eq(redis_url_parse("redis+sentinel://127.0.0.1:1/nosuchmaster", &other, err, sizeof err), 0);
    other.sentinels[0] = u.sentinels[1];
    other.nsentinels = 1;
    struct sentinel_ask *sa = sentinel_ask_new(base, &other, on_answer, &an);
    ck_assert_ptr_nonnull(sa);
    sentinel_ask_start(sa, ASK_MS);
    ck_assert(loop_until(base, answered, &an, ANSWER_MS));
    ck_assert(!an.found);
    ck_assert_msg(strstr(an.err, "does not know master \"nosuchmaster\"") != NULL, "%s", an.err);
    sentinel_ask_free(sa);

    /* a plain Redis first, then the sentinel, asked about a master it does not watch */
    memset(&an, 0, sizeof an);
    other.sentinels[1] = other.sentinels[0];
    other.sentinels[0] = u.sentinels[0];
    other.nsentinels = 2;
    sa = sentinel_ask_new(base, &other, on_answer, &an);
    ck_assert_ptr_nonnull(sa);
    sentinel_ask_start(sa, ASK_MS);
    ck_assert(loop_until(base, answered, &an, ANSWER_MS));
    ck_assert(!an.found);
    ck_assert_msg(strstr(an.err, "ERR unknown command") != NULL && strstr(an.err, "does not know master") != NULL,
                  "%s", an.err);
    loop_for(base, 50);
    ck_assert_int_eq(an.calls, 1);
    sentinel_ask_free(sa);
    event_base_free(base);
}
END_TEST

/* Freed mid-round (waiting on a silent sentinel): no answer, nothing
 * leaked (the sanitizer build checks). */
START_TEST(ask_freed_mid_round)
{
    struct event_base *base = event_base_new();
    struct answer an = {0};
    struct redis_url u;
    ck_assert_ptr_nonnull(base);
    silent_up();
    int ports[1] = {silent_port};
    url_make(&u, ports, 1);
    struct sentinel_ask *sa = sentinel_ask_new(base, &u, on_answer, &an);
    ck_assert_ptr_nonnull(sa);
    sentinel_ask_start(sa, 5000);
    loop_for(base, 100);
    sentinel_ask_free(sa);
    loop_for(base, 50);
    ck_assert_int_eq(an.calls, 0);
    event_base_free(base);
}
END_TEST

/* A command on a fresh blocking connection to r; status reply wanted. */
static void redis_do(const struct harness_redis *r, const char *cmd)
{
    redisContext *c = harness_redis_connect(r);
    ck_assert_ptr_nonnull(c);
    redisReply *reply = redisCommand(c, cmd);
    ck_assert_msg(reply && reply->type == REDIS_REPLY_STATUS, "%s: %s", cmd, reply && reply->str ? reply->str : "?");
    freeReplyObject(reply);
    redisFree(c);
}

static void on_state(struct rconn *rc, bool up, void *arg)
{
    (void)rc;
    (void)up;
    (void)arg;
}

/* A SET's reply through rconn. */
struct set_reply {
    int calls;
    bool ok;
    char err[128];
};

static void on_set(redisAsyncContext *ac, void *r, void *priv)
{
    struct set_reply *sr = priv;
    redisReply *reply = r;
    (void)ac;
    sr->calls++;
    sr->ok = reply && reply->type == REDIS_REPLY_STATUS;
    snprintf(sr->err, sizeof sr->err, "%s", reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "");
}

static bool set_answered(void *arg)
{
    return ((struct set_reply *)arg)->calls > 0;
}

static bool rconn_is_ready(void *arg)
{
    return rconn_ready(arg);
}

static bool rconn_refuses_replica(void *arg)
{
    return !rconn_ready(arg) && strstr(rconn_down_reason(arg), "is not a master: a replica of") != NULL;
}

/* The master the sentinel names becomes a replica under a ready rconn:
 * the write is answered READONLY, the connection is left, the sentinel
 * (not yet aware) names it again and ROLE refuses it; once it is a master
 * again the connection comes back. */
START_TEST(rconn_leaves_a_demoted_master)
{
    struct event_base *base = event_base_new();
    struct redis_url u;
    struct set_reply sr = {0};
    const char *set[3] = {"SET", "k", "v"};
    char cmd[64];
    ck_assert_ptr_nonnull(base);
    sentinel_up();
    ck_assert_int_eq(harness_redis_start(&OTHER), 0);
    int ports[1] = {S.port};
    url_make(&u, ports, 1);
    struct rconn *rc = rconn_new(base, &u, "unit-sentinel", on_state, NULL);
    ck_assert_ptr_nonnull(rc);
    ck_assert_int_eq(rconn_set_timeout(rc, 2000), 0);
    ck_assert(loop_until(base, rconn_is_ready, rc, ANSWER_MS));
    ck_assert_int_eq(rconn_command(rc, on_set, &sr, 3, set, NULL), 0);
    ck_assert(loop_until(base, set_answered, &sr, ANSWER_MS));
    ck_assert_msg(sr.ok, "%s", sr.err);

    snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", OTHER.port);
    redis_do(&R, cmd);
    memset(&sr, 0, sizeof sr);
    ck_assert_int_eq(rconn_command(rc, on_set, &sr, 3, set, NULL), 0);
    ck_assert(loop_until(base, set_answered, &sr, ANSWER_MS));
    ck_assert_msg(strncmp(sr.err, "READONLY", 8) == 0, "got \"%s\"", sr.err);
    ck_assert(!rconn_ready(rc)); /* left at once: nothing more is sent there */
    ck_assert_msg(loop_until(base, rconn_refuses_replica, rc, ANSWER_MS), "down: %s", rconn_down_reason(rc));

    redis_do(&R, "REPLICAOF NO ONE");
    ck_assert(loop_until(base, rconn_is_ready, rc, ANSWER_MS));
    rconn_free(rc);
    loop_for(base, 20);
    event_base_free(base);
}
END_TEST

/* The same for the worker's blocking connection. */
START_TEST(redis_conn_leaves_a_demoted_master)
{
    struct redis_url u;
    struct redis_conn c;
    char err[512], cmd[64];
    sentinel_up();
    ck_assert_int_eq(harness_redis_start(&OTHER), 0);
    int ports[1] = {S.port};
    url_make(&u, ports, 1);
    ck_assert_int_eq(redis_conn_init(&c, &u, "unit-sentinel", "main", 2000, 2000), 0);
    ck_assert_msg(redis_conn_open(&c, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(c.master.port, R.port);
    redisReply *r = redis_conn_command(&c, "SET k v");
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);

    snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", OTHER.port);
    redis_do(&R, cmd);
    ck_assert_ptr_null(redis_conn_command(&c, "SET k v2")); /* READONLY: as if the connection broke */
    ck_assert_ptr_null(c.ctx);
    ck_assert_int_eq(redis_conn_open(&c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "is not a master: a replica of") != NULL, "%s", err);

    redis_do(&R, "REPLICAOF NO ONE");
    ck_assert_msg(redis_conn_open(&c, err, sizeof err) == 0, "%s", err);
    redis_conn_close(&c);
}
END_TEST

static Suite *sentinel_suite(void)
{
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reply_addr);
    tcase_add_test(tc, role_and_readonly);
    tcase_add_test(tc, resolve_blocking);
    tcase_add_test(tc, ask_on_loop);
    tcase_add_test(tc, ask_nobody_knows);
    tcase_add_test(tc, ask_freed_mid_round);
    tcase_add_test(tc, rconn_leaves_a_demoted_master);
    tcase_add_test(tc, redis_conn_leaves_a_demoted_master);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(sentinel_suite());
}
