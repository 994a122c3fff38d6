/* The test harness itself: a private Redis that restarts on the same port
 * (keeping its data when persist), spawned processes, bounded waits. */
#include "tests/harness/harness.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct harness_redis redis;

static void setup(void)
{
    memset(&redis, 0, sizeof redis);
    redis.persist = true;
    ck_assert_int_eq(harness_redis_start(&redis), 0);
}

static void teardown(void)
{
    harness_redis_stop(&redis);
    harness_kill_all();
}

static char *cmd_str(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    ck_assert_ptr_nonnull(r);
    char *s = strdup(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "?");
    freeReplyObject(r);
    return s;
}

START_TEST(redis_restart_same_port_keeps_persisted_data)
{
    int port = redis.port;
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(harness_wait_port(port, 1000), 0);
    redisContext *c = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(c);
    char *ok = cmd_str(c, "SET harness:k v1");
    ck_assert_str_eq(ok, "OK");
    free(ok);
    redisFree(c);

    ck_assert_int_eq(harness_redis_restart(&redis), 0);
    ck_assert_int_eq(redis.port, port);
    c = harness_redis_connect(&redis);
    ck_assert_ptr_nonnull(c);
    char *v = cmd_str(c, "GET harness:k");
    ck_assert_str_eq(v, "v1");
    free(v);
    redisFree(c);
}
END_TEST

START_TEST(spawn_env_kill_and_wait)
{
    /* env_extra reaches the child and replaces an inherited variable. */
    setenv("HARNESS_T", "old", 1);
    const char *argv[] = {"sh", "-c", "test \"$HARNESS_T\" = new && exit 7", NULL};
    const char *env[] = {"HARNESS_T=new", NULL};
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    int status = 0;
    ck_assert_int_eq(harness_wait_exit(pid, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 7);

    const char *sleeper[] = {"sleep", "30", NULL};
    pid = harness_spawn(sleeper, NULL);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(harness_wait_exit(pid, 100, &status), -1); /* bounded: still running */
    ck_assert_int_eq(harness_kill(pid, SIGTERM), 0);
    ck_assert_int_eq(harness_wait_exit(pid, 5000, &status), 0);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGTERM);
}
END_TEST

START_TEST(bin_path_and_free_port)
{
    setenv("OFFLOAD_BIN", "/opt/x", 1);
    const char *a = harness_bin("worker");
    ck_assert_str_eq(a, "/opt/x/worker");
    ck_assert_ptr_eq(harness_bin("worker"), a);
    int p = harness_free_port();
    ck_assert_int_gt(p, 0);
    ck_assert_int_eq(harness_wait_port(p, 50), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness");
    TCase *tc = tcase_create("harness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, redis_restart_same_port_keeps_persisted_data);
    tcase_add_test(tc, spawn_env_kill_and_wait);
    tcase_add_test(tc, bin_path_and_free_port);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
