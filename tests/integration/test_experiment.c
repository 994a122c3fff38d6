/* The seed's experiment as behaviour: /io modes, /cpu modes, and what they
 * do to the event loop. Real api, workers, slowsvc and Redis. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/stack.h"

static struct stack S;

static void up(int workers, int delay_ms, const char *const *api_args)
{
    struct stack_opts o = {.workers = workers, .slowsvc_delay_ms = delay_ms, .api_args = api_args};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

static long get_code(const char *path, long timeout_ms, double *ms)
{
    struct http_resp r;
    long code;
    ck_assert_int_eq(stack_http(&S, "GET", path, NULL, NULL, timeout_ms, &r), 0);
    code = r.code;
    if (ms)
        *ms = r.total_ms;
    http_resp_free(&r);
    return code;
}

/* n GETs of path at once; every answer must be `code`. Returns the time
 * until the last answer, in ms. */
static double parallel_expect(const char *path, int n, long timeout_ms, long code)
{
    long codes[128];
    double elapsed;
    char url[256];
    ck_assert_int_le(n, 128);
    snprintf(url, sizeof url, "%s%s", S.base, path);
    ck_assert_int_eq(http_parallel_get(url, n, timeout_ms, codes, &elapsed), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(codes[i] == code, "%s: answer %d was %ld, want %ld", path, i, codes[i], code);
    return elapsed;
}

static int count_fds(pid_t pid)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

START_TEST(io_async_runs_concurrently)
{
    up(0, 500, NULL);
    double elapsed = parallel_expect("/io?mode=async", 100, 10000, 200);
    /* 100 upstream calls of 500 ms, all at once: about one delay, not 50 s */
    ck_assert_msg(elapsed < 1500, "100 async proxies took %.0f ms", elapsed);
    stack_stop(&S);
}
END_TEST

START_TEST(io_blocking_serialises)
{
    up(0, 200, NULL);
    double elapsed = parallel_expect("/io?mode=blocking", 4, 10000, 200);
    ck_assert_msg(elapsed >= 4 * 200 - 20, "4 blocking proxies took only %.0f ms", elapsed);
    /* the pool with 4 threads runs them side by side */
    elapsed = parallel_expect("/io?mode=thread", 4, 10000, 200);
    ck_assert_msg(elapsed < 2 * 200 + 150, "4 pooled proxies took %.0f ms", elapsed);
    stack_stop(&S);
}
END_TEST

START_TEST(io_passes_body_and_status)
{
    struct http_resp r;
    up(0, 10, NULL);
    ck_assert_int_eq(stack_http(&S, "GET", "/io?mode=async", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "done"));
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/io?mode=thread", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "done"));
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

START_TEST(io_refused_is_502_and_leaks_nothing)
{
    struct http_resp r;
    up(0, 0, NULL); /* no upstream listens */
    ck_assert_int_eq(stack_http(&S, "GET", "/io?mode=async", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 502);
    ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
    http_resp_free(&r);
    ck_assert_int_eq(get_code("/io?mode=blocking", 5000, NULL), 502);
    ck_assert_int_eq(get_code("/io?mode=thread", 5000, NULL), 502);
    harness_sleep_ms(200);
    int before = count_fds(S.api);
    for (int round = 0; round < 10; round++)
        parallel_expect("/io?mode=async", 100, 10000, 502);
    harness_sleep_ms(300);
    int after = count_fds(S.api);
    ck_assert_msg(after <= before + 2, "descriptors: %d before, %d after 1,000 failed proxies", before, after);
    stack_stop(&S);
}
END_TEST

START_TEST(io_slow_upstream_is_504)
{
    up(0, 2000, (const char *const[]){"--upstream-timeout", "300ms", NULL});
    double ms;
    ck_assert_int_eq(get_code("/io?mode=async", 5000, &ms), 504);
    ck_assert_msg(ms < 1500, "504 after %.0f ms", ms);
    ck_assert_int_eq(get_code("/io?mode=thread", 5000, NULL), 504);
    ck_assert_int_eq(get_code("/healthz", 5000, NULL), 200);
    stack_stop(&S);
}
END_TEST

static bool proxy_idle(void *arg)
{
    struct http_resp r;
    bool idle;
    (void)arg;
    if (stack_http(&S, "GET", "/metrics", NULL, NULL, 2000, &r) != 0)
        return false;
    idle = strstr(r.body, "offload_proxy_active 0\n") != NULL;
    http_resp_free(&r);
    return idle;
}

START_TEST(io_client_leaving_cancels_transfer)
{
    long codes[20];
    double elapsed;
    char url[128];
    up(0, 5000, (const char *const[]){"--upstream-timeout", "30s", NULL});
    snprintf(url, sizeof url, "%s/io?mode=async", S.base);
    /* the clients give up after 300 ms; the upstream would take 5 s */
    ck_assert_int_eq(http_parallel_get(url, 20, 300, codes, &elapsed), 0);
    ck_assert_int_eq(harness_wait_until(proxy_idle, NULL, 2000, 50), 0);
    stack_stop(&S);
}
END_TEST

struct probe {
    double healthz_ms;
    const char *path;
    long code;
};

static void *slow_request(void *arg)
{
    struct probe *p = arg;
    struct http_resp r;
    char url[256];
    snprintf(url, sizeof url, "%s%s", S.base, p->path);
    if (http_do("GET", url, NULL, 0, NULL, 30000, &r) == 0)
        p->code = r.code;
    http_resp_free(&r);
    return NULL;
}

START_TEST(healthz_fast_with_queue_slow_with_inline)
{
    pthread_t th[6];
    struct probe pr[6];
    double ms;
    up(2, 0, NULL);
    for (int i = 0; i < 6; i++) {
        pr[i] = (struct probe){.path = "/cpu?mode=queue&ms=500"};
        pthread_create(&th[i], NULL, slow_request, &pr[i]);
    }
    harness_sleep_ms(200);
    ck_assert_int_eq(get_code("/healthz", 5000, &ms), 200);
    ck_assert_msg(ms < 150, "/healthz took %.0f ms with 6 queued CPU requests", ms);
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(pr[i].code, 200);
    }
    /* one inline CPU request holds the loop: /healthz waits for it */
    pr[0] = (struct probe){.path = "/cpu?mode=inline&ms=500"};
    pthread_create(&th[0], NULL, slow_request, &pr[0]);
    harness_sleep_ms(100);
    ck_assert_int_eq(get_code("/healthz", 5000, &ms), 200);
    ck_assert_msg(ms >= 300, "/healthz took only %.0f ms while the loop burned CPU", ms);
    pthread_join(th[0], NULL);
    ck_assert_int_eq(pr[0].code, 200);
    stack_stop(&S);
}
END_TEST

START_TEST(cpu_thread_and_clocks)
{
    struct http_resp r;
    up(0, 0, (const char *const[]){"--threads", "4", "--task-clock", "wall", NULL});
    ck_assert_int_eq(stack_http(&S, "GET", "/cpu?mode=thread&ms=100", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    json_t *j = http_resp_json(&r);
    ck_assert(json_real_value(json_object_get(j, "wall_ms")) >= 100.0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "thread");
    json_decref(j);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/info", NULL, NULL, 5000, &r), 0);
    j = http_resp_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "threads")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(j, "task_clock")), "wall");
    json_decref(j);
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

START_TEST(clients_that_leave_cost_nothing)
{
    long codes[10];
    double elapsed, ms;
    char url[128];
    struct http_resp r;
    up(0, 0, NULL);
    /* 10 inline requests of 500 ms whose clients give up after 200 ms: only
     * the one already burning runs; the loop is free again within ~0.5 s */
    snprintf(url, sizeof url, "%s/cpu?mode=inline&ms=500", S.base);
    ck_assert_int_eq(http_parallel_get(url, 10, 200, codes, &elapsed), 0);
    ck_assert_int_eq(get_code("/healthz", 10000, &ms), 200);
    ck_assert_msg(ms < 1500, "/healthz waited %.0f ms behind abandoned inline requests", ms);
    /* /cpu?mode=queue with nobody to run it: the jobs of clients that left are cancelled */
    snprintf(url, sizeof url, "%s/cpu?mode=queue&ms=500", S.base);
    ck_assert_int_eq(http_parallel_get(url, 10, 300, codes, &elapsed), 0);
    json_int_t depth = -1;
    for (int i = 0; i < 30 && depth != 0; i++) { /* /queues figures may be a second old */
        harness_sleep_ms(300);
        ck_assert_int_eq(stack_http(&S, "GET", "/queues", NULL, NULL, 5000, &r), 0);
        json_t *q = http_resp_json(&r);
        depth = json_integer_value(json_object_get(json_object_get(json_object_get(q, "queues"), "default"), "depth"));
        json_decref(q);
        http_resp_free(&r);
    }
    ck_assert_msg(depth == 0, "%lld abandoned jobs still queued", (long long)depth);
    stack_stop(&S);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, io_async_runs_concurrently);
    tcase_add_test(tc, io_blocking_serialises);
    tcase_add_test(tc, io_passes_body_and_status);
    tcase_add_test(tc, io_refused_is_502_and_leaks_nothing);
    tcase_add_test(tc, io_slow_upstream_is_504);
    tcase_add_test(tc, io_client_leaving_cancels_transfer);
    tcase_add_test(tc, healthz_fast_with_queue_slow_with_inline);
    tcase_add_test(tc, cpu_thread_and_clocks);
    tcase_add_test(tc, clients_that_leave_cost_nothing);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
