/* Unit tests for common/task.c: the task costs what it says on the thread
 * CPU clock, its digest is reproducible and depends on the payload. */
#include "common/task.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/unit.h"

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs a cpu-clock task of ms and checks the thread CPU time measured around
 * the call, the reported cpu_ms and the digest. */
static void check_cpu_task(int ms)
{
    static const char payload[] = "{\"n\":42}";
    struct task_result r;
    double t0 = thread_cpu_ms();
    task_run(ms, TASK_CLOCK_CPU, payload, sizeof payload - 1, &r);
    double spent = thread_cpu_ms() - t0;
    ck_assert_msg(spent >= ms && spent <= ms + 15, "%d ms task consumed %.3f ms of CPU", ms,
                  spent);
    ck_assert_msg(r.cpu_ms >= ms && r.cpu_ms <= spent, "reported cpu_ms %.3f, measured %.3f",
                  r.cpu_ms, spent);
    ck_assert_msg(r.wall_ms >= r.cpu_ms - 1, "wall %.3f < cpu %.3f", r.wall_ms, r.cpu_ms);
    ck_assert_uint_gt(r.iterations, 0);
    ck_assert_uint_eq(task_digest(payload, sizeof payload - 1, r.iterations), r.digest);
}

START_TEST(cpu_task_costs_its_ms)
{
    check_cpu_task(500);
    check_cpu_task(50);
    check_cpu_task(1);
}
END_TEST

/* Work scales with time: twice the ms is about twice the iterations. */
START_TEST(iterations_scale_with_time)
{
    struct task_result a, b;
    task_run(100, TASK_CLOCK_CPU, "x", 1, &a);
    task_run(200, TASK_CLOCK_CPU, "x", 1, &b);
    double ratio = (double)b.iterations / (double)a.iterations;
    ck_assert_msg(ratio > 1.6 && ratio < 2.4, "200 ms did %.2fx the rounds of 100 ms", ratio);
    /* and a round is real work, not a no-op: well under 1 G rounds per second */
    ck_assert_msg((double)a.iterations / a.cpu_ms < 1e6, "%.0f rounds per ms",
                  (double)a.iterations / a.cpu_ms);
}
END_TEST

START_TEST(wall_task_waits_on_monotonic_clock)
{
    struct task_result r;
    double t0 = wall_ms();
    task_run(100, TASK_CLOCK_WALL, "abc", 3, &r);
    double spent = wall_ms() - t0;
    /* the upper bound is loose: on a busy machine the thread may be descheduled */
    ck_assert_msg(spent >= 100 && spent < 250, "100 ms wall task took %.3f ms", spent);
    ck_assert_msg(r.wall_ms >= 100 && r.wall_ms <= spent, "reported %.3f", r.wall_ms);
    ck_assert_uint_eq(task_digest("abc", 3, r.iterations), r.digest);
}
END_TEST

START_TEST(zero_ms_runs_no_round)
{
    struct task_result r, again;
    double t0 = thread_cpu_ms();
    task_run(0, TASK_CLOCK_CPU, "p", 1, &r);
    ck_assert(thread_cpu_ms() - t0 < 5);
    ck_assert_uint_eq(r.iterations, 0);
    ck_assert_uint_eq(task_digest("p", 1, 0), r.digest);
    /* zero and negative alike: no round, the same digest */
    task_run(-5, TASK_CLOCK_WALL, "p", 1, &again);
    ck_assert_uint_eq(again.iterations, 0);
    ck_assert_uint_eq(again.digest, r.digest);
    /* any positive ms runs at least one chunk */
    task_run(1, TASK_CLOCK_CPU, "p", 1, &again);
    ck_assert_uint_gt(again.iterations, 0);
    ck_assert_uint_eq(task_digest("p", 1, again.iterations), again.digest);
}
END_TEST

START_TEST(digest_is_pure_and_payload_sensitive)
{
    /* known answers, computed by an independent Python implementation of
     * FNV-1a 64 followed by splitmix64 finaliser rounds */
    ck_assert_uint_eq(task_digest("hello", 5, 0), 0xa430d84680aabd0bull);
    ck_assert_uint_eq(task_digest("hello", 5, 1000), 0x367e2f90e664b3e2ull);
    ck_assert_uint_eq(task_digest("hello", 5, 1000), task_digest("hello", 5, 1000));
    ck_assert_uint_ne(task_digest("hello", 5, 1000), task_digest("hellp", 5, 1000));
    ck_assert_uint_ne(task_digest("hello", 5, 1000), task_digest("hello", 4, 1000));
    ck_assert_uint_ne(task_digest("hello", 5, 1000), task_digest("hello", 5, 1001));
    ck_assert_uint_ne(task_digest("", 0, 10), task_digest("\0", 1, 10));
    ck_assert_uint_eq(task_digest(NULL, 0, 10), task_digest("", 0, 10));

    /* runs over different payloads: replaying each run's count reproduces it,
     * and swapping payloads does not */
    struct task_result a, b;
    task_run(5, TASK_CLOCK_CPU, "payload-a", 9, &a);
    task_run(5, TASK_CLOCK_CPU, "payload-b", 9, &b);
    ck_assert_uint_eq(task_digest("payload-a", 9, a.iterations), a.digest);
    ck_assert_uint_eq(task_digest("payload-b", 9, b.iterations), b.digest);
    ck_assert_uint_ne(task_digest("payload-b", 9, a.iterations), a.digest);
    ck_assert_uint_ne(task_digest("payload-a", 9, b.iterations), b.digest);
}
END_TEST

START_TEST(clock_names)
{
    enum task_clock c = TASK_CLOCK_WALL;
    ck_assert_int_eq(task_clock_parse("cpu", &c), 0);
    ck_assert_int_eq(c, TASK_CLOCK_CPU);
    ck_assert_int_eq(task_clock_parse("wall", &c), 0);
    ck_assert_int_eq(c, TASK_CLOCK_WALL);
    ck_assert_int_eq(task_clock_parse("CPU", &c), -1);
    ck_assert_int_eq(task_clock_parse("", &c), -1);
    ck_assert_int_eq(task_clock_parse(NULL, &c), -1);
    ck_assert_int_eq(c, TASK_CLOCK_WALL);
    ck_assert_str_eq(task_clock_name(TASK_CLOCK_CPU), "cpu");
    ck_assert_str_eq(task_clock_name(TASK_CLOCK_WALL), "wall");
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cpu_task_costs_its_ms);
    tcase_add_test(tc, iterations_scale_with_time);
    tcase_add_test(tc, wall_task_waits_on_monotonic_clock);
    tcase_add_test(tc, zero_ms_runs_no_round);
    tcase_add_test(tc, digest_is_pure_and_payload_sensitive);
    tcase_add_test(tc, clock_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(task_suite());
}
