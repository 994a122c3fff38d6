/* loadgen's outputs without a network: the run's JSON, the suite's limits
 * and flags and what its task row counts as success, and the SVG chart. */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "common/hist.h"
#include "loadgen/http_parse.h"
#include "loadgen/report.h"
#include "loadgen/run.h"
#include "loadgen/suite.h"
#include "loadgen/svg.h"
#include "tests/unit/unit.h"

START_TEST(run_json_has_every_field)
{
    struct run_stats s = {0};
    s.latency = hist_new();
    ck_assert_ptr_nonnull(s.latency);
    for (int i = 1; i <= 1000; i++)
        hist_record(s.latency, (uint64_t)i * 1000); /* 1..1000 ms */
    s.requests = 1003;
    s.responses = 1000;
    s.ok = 990;
    s.codes[200] = 990;
    s.codes[503] = 10;
    s.err_connect = 1;
    s.err_timeout = 2;
    s.duration_s = 2.0;
    json_t *j = report_run_json(&s, 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "requests")), 1003);
    ck_assert(json_real_value(json_object_get(j, "rps")) == 501.5);
    ck_assert(json_real_value(json_object_get(j, "duration_s")) == 2.0);
    json_t *lat = json_object_get(j, "latency_ms");
    double p50 = json_real_value(json_object_get(lat, "p50"));
    double p999 = json_real_value(json_object_get(lat, "p999"));
    ck_assert_msg(p50 >= 495 && p50 <= 505, "p50 %f", p50);
    ck_assert_msg(p999 >= 990 && p999 <= 1001, "p999 %f", p999);
    ck_assert(json_real_value(json_object_get(lat, "max")) == 1000.0);
    ck_assert(json_real_value(json_object_get(lat, "mean")) == 500.5);
    ck_assert_ptr_nonnull(json_object_get(lat, "p90"));
    ck_assert_ptr_nonnull(json_object_get(lat, "p99"));
    json_t *codes = json_object_get(j, "codes");
    ck_assert_int_eq(json_object_size(codes), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(codes, "503")), 10);
    json_t *err = json_object_get(j, "errors");
    ck_assert_int_eq(json_integer_value(json_object_get(err, "connect")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(err, "read")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(err, "write")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(err, "timeout")), 2);
    ck_assert_ptr_null(json_object_get(j, "due")); /* closed loop */
    json_decref(j);
    run_stats_free(&s);
}
END_TEST

START_TEST(limits_follow_the_table)
{
    struct suite_env e = {.cores = 4, .threads = 20, .workers = 8, .task_ms = 500, .delay_ms = 500};
    ck_assert(suite_limit("cpu", "inline", &e, 100) == 2.0);
    ck_assert(suite_limit("cpu", "thread", &e, 100) == 8.0);  /* min(20 threads, 4 cores) x 2 */
    ck_assert(suite_limit("cpu", "queue", &e, 100) == 8.0);   /* min(8 workers, 4 cores) x 2 */
    ck_assert(suite_limit("io", "async", &e, 100) == 200.0);  /* 100 clients / 0.5 s */
    ck_assert(suite_limit("io", "blocking", &e, 100) == 2.0);
    ck_assert(suite_limit("io", "thread", &e, 100) == 40.0);  /* 20 threads / 0.5 s */
    ck_assert(suite_limit("io", "thread", &e, 10) == 20.0);   /* fewer clients than threads */
    e.wall_clock = true; /* the seed's clock: threads overlap their waits */
    ck_assert(suite_limit("cpu", "thread", &e, 100) == 40.0);
    ck_assert(suite_limit("cpu", "queue", &e, 100) == 16.0);
    ck_assert(suite_limit("cpu", "thread", &e, 5) == 10.0);
    e.task_ms = 250;
    ck_assert(suite_limit("cpu", "inline", &e, 100) == 4.0);
    /* a user task: the workers over its expected time, no cores term */
    e.task_s = 0.5;
    ck_assert(suite_limit("task", "queue, task resize", &e, 100) == 16.0); /* 8 workers / 0.5 s */
    ck_assert(suite_limit("task", "queue, task resize", &e, 4) == 8.0);    /* fewer clients than workers */
    e.task_s = 0.01;
    ck_assert(suite_limit("task", "queue, task resize", &e, 100) == 800.0);
}
END_TEST

/* suite_job_done on one whole response: `status` ("200 OK") and body. */
static bool judge(const char *status, const char *body)
{
    char resp[512];
    int n = snprintf(resp, sizeof resp, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s", status, strlen(body), body);
    ck_assert(n > 0 && (size_t)n < sizeof resp);
    struct http_parser p = {0};
    http_parser_reset(&p, false, true);
    ck_assert_int_eq(http_parser_feed(&p, resp, (size_t)n), n);
    ck_assert_int_eq(p.state, HP_DONE);
    bool ok = suite_job_done(&p, NULL);
    http_parser_free(&p);
    return ok;
}

START_TEST(task_row_success_is_a_done_job)
{
    ck_assert(judge("200 OK", "{\"id\":\"ab\",\"state\":\"done\",\"result\":[1,2]}"));
    /* finished, but failed; the result's own "state" does not count */
    ck_assert(!judge("200 OK", "{\"state\":\"failed\",\"result\":{\"state\":\"done\"}}"));
    /* not finished within the wait */
    ck_assert(!judge("202 Accepted", "{\"state\":\"running\"}"));
    /* a 202 never counts, whatever its body says */
    ck_assert(!judge("202 Accepted", "{\"state\":\"done\"}"));
    ck_assert(!judge("200 OK", "done"));
    ck_assert(!judge("200 OK", ""));
    ck_assert(!judge("200 OK", "[{\"state\":\"done\"}]"));
    ck_assert(!judge("503 Service Unavailable", "{\"state\":\"done\"}"));
}
END_TEST

/* Runs `loadgen suite` with args (NULL-terminated after "suite"); returns
 * its exit code and, in *out, what it wrote to fd (caller frees). */
static int run_suite(const char *const *args, int fd, char **out)
{
    char *argv[32] = {strdup("suite")};
    int argc = 1;
    for (; args[argc - 1] != NULL; argc++)
        ck_assert_ptr_nonnull(argv[argc] = strdup(args[argc - 1]));
    struct capture c;
    capture_begin(&c, fd);
    int rc = suite_main(argc, argv);
    *out = capture_end(&c);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

START_TEST(suite_task_flags)
{
    /* refused before the API is asked anything (port 1 answers nothing) */
    const struct {
        const char *args[10];
        const char *names;
    } bad[] = {
        {{"--api", "http://127.0.0.1:1", "--task", "resize", "--task-args", "{bad", NULL}, "--task-args: not JSON"},
        {{"--api", "http://127.0.0.1:1", "--task-args", "{}", NULL}, "--task-args: needs --task"},
        {{"--api", "http://127.0.0.1:1", "--only", "task", NULL}, "--only task: needs --task"},
        {{"--api", "http://127.0.0.1:1", "--task", "no spaces", NULL}, "--task:"},
        {{"--api", "http://127.0.0.1:1", "--task", "t", "--task-s", "0", NULL}, "--task-s:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err;
        ck_assert_int_eq(run_suite(bad[i].args, STDERR_FILENO, &err), 2);
        ck_assert_msg(strstr(err, bad[i].names) != NULL, "case %zu: %s", i, err);
        free(err);
    }
    const char *help[] = {"--help", NULL};
    char *out;
    ck_assert_int_eq(run_suite(help, STDOUT_FILENO, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--task STRING"));
    ck_assert_ptr_nonnull(strstr(out, "--task-args STRING"));
    ck_assert_ptr_nonnull(strstr(out, "--task-s NUMBER"));
    free(out);
}
END_TEST

START_TEST(nice_steps)
{
    ck_assert(svg_nice_step(25, 5) == 5);
    ck_assert(svg_nice_step(2.2, 5) == 0.5);
    ck_assert(svg_nice_step(216, 5) == 50);
    ck_assert(svg_nice_step(11, 5) == 2.5);
    ck_assert(svg_nice_step(0, 5) == 1);
}
END_TEST

START_TEST(svg_chart_draws_bars_values_and_limits)
{
    struct svg_bar bars[] = {
        {.label = "inline", .value = 2, .limit = 2, .color = "#db4437"},
        {.label = "thread", .value = 19.5, .limit = 40, .color = "#4285f4"},
        {.label = "a<b", .value = 0, .limit = 0, .color = "#0f9d58"},
    };
    struct svg_legend legend[] = {{"#db4437", "on the loop"}};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(svg_bar_chart(f, "Reqs/sec", "sub & title", bars, 3, legend, 1), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(buf, ">Reqs/sec</text>"));
    ck_assert_ptr_nonnull(strstr(buf, "sub &amp; title"));
    ck_assert_ptr_nonnull(strstr(buf, ">a&lt;b</text>"));
    ck_assert_ptr_nonnull(strstr(buf, ">19.5</text>"));
    ck_assert_ptr_nonnull(strstr(buf, ">limit 40</text>"));
    ck_assert_ptr_nonnull(strstr(buf, ">limit 2</text>"));
    ck_assert_ptr_null(strstr(buf, ">limit 0</text>")); /* no limit, no tick */
    ck_assert_ptr_nonnull(strstr(buf, "stroke-dasharray"));
    ck_assert_ptr_nonnull(strstr(buf, ">on the loop</text>"));
    /* the axis reaches past the highest limit: 40 x 1.08 rounds up to 50, in steps of 10 */
    ck_assert_ptr_nonnull(strstr(buf, ">50</text>"));
    ck_assert_ptr_nonnull(strstr(buf, ">10</text>"));
    ck_assert_ptr_null(strstr(buf, ">60</text>"));
    ck_assert_ptr_nonnull(strstr(buf, "</svg>\n"));
    /* three bars: one rect each, plus the background and the legend swatch */
    int rects = 0;
    for (const char *p = buf; (p = strstr(p, "<rect")) != NULL; p++)
        rects++;
    ck_assert_int_eq(rects, 5);
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loadgen_report");
    TCase *tc = tcase_create("report");
    tcase_add_test(tc, run_json_has_every_field);
    tcase_add_test(tc, limits_follow_the_table);
    tcase_add_test(tc, task_row_success_is_a_done_job);
    tcase_add_test(tc, suite_task_flags);
    tcase_add_test(tc, nice_steps);
    tcase_add_test(tc, svg_chart_draws_bars_values_and_limits);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
