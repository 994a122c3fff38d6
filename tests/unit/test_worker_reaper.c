/* Pure functions of the worker: the reaper's verdicts and CLIENT LIST
 * parsing, wip key owners, SCAN pattern escaping, --queues and ids. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/harness.h"
#include "worker/reaper.h"
#include "worker/settings.h"

/* Real CLIENT LIST output of Redis 7.0 (two workers' connections, one
 * unnamed client, one with lib-name as Redis 7.2 prints it). */
static const char client_list[] =
    "id=3 addr=127.0.0.1:50946 laddr=127.0.0.1:6379 fd=8 name=offload:worker:h-10-ab12 age=4 "
    "idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 "
    "multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=blmove user=default "
    "redir=-1 resp=2\n"
    "id=4 addr=127.0.0.1:50950 laddr=127.0.0.1:6379 fd=9 name= age=4 idle=0 flags=N db=0 "
    "cmd=client|list user=default redir=-1 resp=2\n"
    "id=5 addr=127.0.0.1:50952 laddr=127.0.0.1:6379 fd=10 name=offload:worker:h-11-cd34 age=1 "
    "idle=0 flags=N db=0 cmd=zadd user=default lib-name=offload:worker:ghost redir=-1 resp=2\n";

START_TEST(client_list_finds_exact_names)
{
    ck_assert(reaper_client_list_has(client_list, "offload:worker:h-10-ab12"));
    ck_assert(reaper_client_list_has(client_list, "offload:worker:h-11-cd34"));
}
END_TEST

START_TEST(client_list_rejects_prefixes_and_other_fields)
{
    /* A prefix of a name, a longer name, and a value of another field do not count. */
    ck_assert(!reaper_client_list_has(client_list, "offload:worker:h-10"));
    ck_assert(!reaper_client_list_has(client_list, "offload:worker:h-10-ab123"));
    ck_assert(!reaper_client_list_has(client_list, "offload:worker:ghost"));
    ck_assert(!reaper_client_list_has(client_list, "h-10-ab12"));
    ck_assert(!reaper_client_list_has("", "offload:worker:x"));
}
END_TEST

START_TEST(client_list_name_at_line_start_end_and_crlf)
{
    ck_assert(reaper_client_list_has("name=a id=1\n", "a"));
    ck_assert(reaper_client_list_has("id=1 name=a", "a"));
    ck_assert(reaper_client_list_has("id=1 name=a\r\nid=2 name=b\r\n", "a"));
    ck_assert(reaper_client_list_has("id=1 name=a\r\nid=2 name=b\r\n", "b"));
    ck_assert(!reaper_client_list_has("id=1 name=ab\n", "a"));
}
END_TEST

START_TEST(judge_by_heartbeat_age)
{
    const int64_t now = 1700000000000, lease = 10000, hb = 1000;
    ck_assert_int_eq(reaper_judge(now, now, lease, hb), REAPER_ALIVE);
    ck_assert_int_eq(reaper_judge(now, now - hb - REAPER_GRACE_MS, lease, hb), REAPER_ALIVE);
    ck_assert_int_eq(reaper_judge(now, now - hb - REAPER_GRACE_MS - 1, lease, hb),
                     REAPER_SUSPECT);
    ck_assert_int_eq(reaper_judge(now, now - lease, lease, hb), REAPER_SUSPECT);
    ck_assert_int_eq(reaper_judge(now, now - lease - 1, lease, hb), REAPER_DEAD);
    /* A beat from a clock slightly ahead of ours is fresh, not an error. */
    ck_assert_int_eq(reaper_judge(now, now + 500, lease, hb), REAPER_ALIVE);
}
END_TEST

START_TEST(info_uptime)
{
    const char info[] = "# Server\r\nredis_version:7.0.15\r\nserver_time_usec:1\r\n"
                        "uptime_in_seconds:42\r\nuptime_in_days:0\r\n";
    ck_assert_int_eq(reaper_info_uptime_s(info), 42);
    ck_assert_int_eq(reaper_info_uptime_s("uptime_in_seconds:0\r\n"), 0);
    ck_assert_int_eq(reaper_info_uptime_s("# Server\r\nredis_version:7.0.15\r\n"), -1);
    ck_assert_int_eq(reaper_info_uptime_s("x_uptime_in_seconds:5\r\n"), -1);
}
END_TEST

START_TEST(wip_owner)
{
    ck_assert_str_eq(reaper_wip_owner("offload:wip:h-1-ab", "offload:"), "h-1-ab");
    ck_assert_str_eq(reaper_wip_owner("p:wip:a:b", "p:"), "a:b");
    ck_assert_ptr_null(reaper_wip_owner("offload:wip:", "offload:"));
    ck_assert_ptr_null(reaper_wip_owner("offload:q:default", "offload:"));
    ck_assert_ptr_null(reaper_wip_owner("other:wip:x", "offload:"));
}
END_TEST

START_TEST(glob_escape)
{
    char buf[32];
    ck_assert_int_eq(reaper_glob_escape("offload:", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "offload:");
    ck_assert_int_eq(reaper_glob_escape("a*b?[c]\\", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a\\*b\\?\\[c\\]\\\\");
    ck_assert_int_eq(reaper_glob_escape("abcd", buf, 4), -1);
    ck_assert_int_eq(reaper_glob_escape("abc", buf, 4), 0);
}
END_TEST

START_TEST(queues_parse)
{
    static struct worker_config cfg;
    char err[256];
    ck_assert_int_eq(worker_queues_parse(&cfg, "high,default,low", err, sizeof err), 0);
    ck_assert_uint_eq(cfg.nqueues, 3);
    ck_assert_str_eq(cfg.queues[0], "high");
    ck_assert_str_eq(cfg.queues[2], "low");
    ck_assert_int_eq(worker_queues_parse(&cfg, "default", err, sizeof err), 0);
    ck_assert_uint_eq(cfg.nqueues, 1);
    ck_assert_int_eq(worker_queues_parse(&cfg, "a,,b", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "--queues"));
    ck_assert_int_eq(worker_queues_parse(&cfg, "", err, sizeof err), -1);
    ck_assert_int_eq(worker_queues_parse(&cfg, "a b", err, sizeof err), -1);
    ck_assert_int_eq(worker_queues_parse(&cfg, "q,", err, sizeof err), -1);
}
END_TEST

START_TEST(ids_and_client_names)
{
    char id[WORKER_ID_MAX + 1], id2[WORKER_ID_MAX + 1], name[128];
    ck_assert_int_eq(worker_id_default(id, sizeof id), 0);
    ck_assert(worker_id_valid(id));
    ck_assert_int_eq(worker_id_default(id2, sizeof id2), 0);
    ck_assert_str_ne(id, id2); /* the random suffix differs */
    ck_assert(!worker_id_valid(""));
    ck_assert(!worker_id_valid("a b"));
    ck_assert(worker_id_valid("w-1.x:y_z"));
    ck_assert_int_gt(worker_client_name(name, sizeof name, "offload:", "w1"), 0);
    ck_assert_str_eq(name, "offload:worker:w1");
    ck_assert_int_eq(worker_client_name(name, 8, "offload:", "w1"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker_reaper");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, client_list_finds_exact_names);
    tcase_add_test(tc, client_list_rejects_prefixes_and_other_fields);
    tcase_add_test(tc, client_list_name_at_line_start_end_and_crlf);
    tcase_add_test(tc, judge_by_heartbeat_age);
    tcase_add_test(tc, info_uptime);
    tcase_add_test(tc, wip_owner);
    tcase_add_test(tc, glob_escape);
    tcase_add_test(tc, queues_parse);
    tcase_add_test(tc, ids_and_client_names);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
