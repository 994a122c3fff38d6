/* Unit tests for api/metrics.c: what a Prometheus scrape of /metrics reads
 * after requests, refusals and loop-lag measurements were recorded. The
 * exposition is parsed into samples (name{labels} value) and checked sample
 * by sample, never compared as a whole string. */
#include "api/metrics.h"

#include <check.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/route.h"
#include "tests/unit/unit.h"

#define REQ "offload_http_requests_total"
#define DUR "offload_http_request_duration_seconds"
#define LAG "offload_event_loop_lag_seconds"

/* Renders m with g (zeros when NULL) and queues; returns the text (caller frees). */
static char *render(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *queues)
{
    struct metrics_gauges zero = {0};
    struct evbuffer *out = evbuffer_new();
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(metrics_render(m, g ? g : &zero, queues, out), 0);
    size_t n = evbuffer_get_length(out);
    char *text = malloc(n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(evbuffer_remove(out, text, n), (int)n);
    text[n] = '\0';
    evbuffer_free(out);
    return text;
}

/* Counts the sample lines whose name and labels are exactly `key`
 * ("name" or "name{labels}") and stores the last one's value in *value. */
static int find_samples(const char *text, const char *key, double *value)
{
    int found = 0;
    size_t klen = strlen(key);
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        const char *next = nl ? nl + 1 : line + strlen(line);
        if (line[0] == '#' || strncmp(line, key, klen) != 0 || line[klen] != ' ') {
            line = next;
            continue;
        }
        char *end;
        double v = strtod(line + klen + 1, &end);
        ck_assert_msg(end != line + klen + 1 && (*end == '\n' || *end == '\0'), "bad value in: %.80s", line);
        if (value)
            *value = v;
        found++;
        line = next;
    }
    return found;
}

/* The value of the one sample `key`; fails the test when it is missing or repeated. */
static double sample(const char *text, const char *key)
{
    double v = NAN;
    int n = find_samples(text, key, &v);
    ck_assert_msg(n == 1, "%d samples %s in:\n%.1500s", n, key, text);
    return v;
}

static bool has_sample_prefix(const char *text, const char *prefix)
{
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix))
        if (p == text || p[-1] == '\n')
            return true;
    return false;
}

/* "name{route="/jobs",code="202"}" into buf. */
static const char *req_key(char *buf, size_t len, enum route r, int code)
{
    snprintf(buf, len, REQ "{route=\"%s\",code=\"%d\"}", route_label(r), code);
    return buf;
}

/* A histogram bucket key: name_bucket{labels,le="le"} (labels may be ""). */
static const char *bucket_key(char *buf, size_t len, const char *name, const char *labels, const char *le)
{
    snprintf(buf, len, "%s_bucket{%s%sle=\"%s\"}", name, labels, labels[0] ? "," : "", le);
    return buf;
}

START_TEST(requests_are_counted_by_route_and_code)
{
    char key[160];
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    for (int i = 0; i < 3; i++)
        metrics_observe(m, ROUTE_JOBS, 202, 1500);
    metrics_observe(m, ROUTE_JOBS, 429, 100);
    metrics_observe(m, ROUTE_HEALTHZ, 200, 50);
    metrics_observe(m, ROUTE_JOB, 404, 80);
    char *t = render(m, NULL, NULL);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_JOBS, 202)), 3);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_JOBS, 429)), 1);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_HEALTHZ, 200)), 1);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_JOB, 404)), 1);
    /* nothing else was answered: no other request counter appears */
    int lines = 0;
    for (const char *p = strstr(t, "\n" REQ "{"); p; p = strstr(p + 1, "\n" REQ "{"))
        lines++;
    ck_assert_int_eq(lines, 4);
    /* one latency histogram per route that answered, none for the others */
    ck_assert_double_eq(sample(t, DUR "_count{route=\"/jobs\"}"), 4);
    ck_assert_double_eq(sample(t, DUR "_count{route=\"/healthz\"}"), 1);
    ck_assert(!has_sample_prefix(t, DUR "_count{route=\"/cpu\"}"));
    free(t);
    metrics_free(m);
}
END_TEST

/* Buckets are cumulative with `le` as an upper bound included; +Inf equals
 * the count; the sum is in seconds. */
START_TEST(latency_histogram_is_cumulative_in_seconds)
{
    char key[160];
    const char *labels = "route=\"/cpu\"";
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    metrics_observe(m, ROUTE_CPU, 200, 50);       /* 0.00005 s */
    metrics_observe(m, ROUTE_CPU, 200, 1000);     /* exactly 0.001: in le="0.001" */
    metrics_observe(m, ROUTE_CPU, 200, 300000);   /* 0.3 s */
    metrics_observe(m, ROUTE_CPU, 200, 70000000); /* 70 s: past the last finite bucket */
    char *t = render(m, NULL, NULL);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "0.0001")), 1);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "0.0005")), 1);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "0.001")), 2);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "0.25")), 2);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "0.5")), 3);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "60")), 3);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, DUR, labels, "+Inf")), 4);
    ck_assert_double_eq(sample(t, DUR "_count{route=\"/cpu\"}"), 4);
    ck_assert_double_eq_tol(sample(t, DUR "_sum{route=\"/cpu\"}"), 70.30105, 1e-5);
    /* every bucket line, in order, never decreases */
    double prev = -1;
    int buckets = 0;
    char prefix[96];
    snprintf(prefix, sizeof prefix, DUR "_bucket{%s,le=", labels);
    for (const char *p = strstr(t, prefix); p; p = strstr(p + 1, prefix)) {
        const char *sp = strchr(p, ' ');
        ck_assert_ptr_nonnull(sp);
        double v = strtod(sp + 1, NULL);
        ck_assert_msg(v >= prev, "bucket %.60s below the one before (%g)", p, prev);
        prev = v;
        buckets++;
    }
    ck_assert_int_ge(buckets, 3);
    ck_assert_double_eq(prev, 4); /* the last one is +Inf */
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(refusals_count_without_a_route)
{
    char key[160];
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    metrics_rejected(m, 503);
    metrics_rejected(m, 503);
    metrics_rejected(m, 413);
    char *t = render(m, NULL, NULL);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_NONE, 503)), 2);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_NONE, 413)), 1);
    ck_assert(!has_sample_prefix(t, REQ "{route=\"/jobs\""));
    free(t);
    metrics_free(m);
}
END_TEST

/* A route or code out of range is still counted once, not dropped or
 * written out of bounds. */
START_TEST(odd_routes_and_codes_are_counted_safely)
{
    char key[160];
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    metrics_observe(m, (enum route)(ROUTE_COUNT + 7), 200, 10);
    metrics_observe(m, ROUTE_JOBS, 999, 10);
    metrics_observe(m, ROUTE_JOBS, -1, 10);
    char *t = render(m, NULL, NULL);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_NONE, 200)), 1);
    ck_assert_double_eq(sample(t, req_key(key, sizeof key, ROUTE_JOBS, 0)), 2);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(loop_lag_histogram_and_max)
{
    char key[160];
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    char *t = render(m, NULL, NULL);
    /* before any measurement: an empty histogram, not a missing one */
    ck_assert_double_eq(sample(t, LAG "_count"), 0);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "+Inf")), 0);
    ck_assert_double_eq(sample(t, "offload_event_loop_lag_max_seconds"), 0);
    free(t);

    metrics_loop_lag(m, 5000);   /* 5 ms */
    metrics_loop_lag(m, 200000); /* 200 ms: the max */
    metrics_loop_lag(m, 1000);
    metrics_loop_lag(m, -300);   /* a clock step: counts as 0, not negative */
    t = render(m, NULL, NULL);
    ck_assert_double_eq(sample(t, LAG "_count"), 4);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "0.0001")), 1);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "0.001")), 2);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "0.005")), 3);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "0.1")), 3);
    ck_assert_double_eq(sample(t, bucket_key(key, sizeof key, LAG, "", "0.25")), 4);
    ck_assert_double_eq_tol(sample(t, LAG "_sum"), 0.206, 1e-6);
    ck_assert_double_eq_tol(sample(t, "offload_event_loop_lag_max_seconds"), 0.2, 1e-6);
    /* loop lag is not an HTTP request */
    ck_assert(!has_sample_prefix(t, REQ "{"));
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(gauges_show_the_values_given)
{
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    struct metrics_gauges g = {
        .inflight = 11, .redis_reconnects = 12, .redis_deadlines = 13, .redis_up = 1, .waiters = 14,
        .pool_queued = 15, .proxy_active = 16, .connections = 17, .body_bytes = 18, .output_bytes = 19,
        .body_refused = 20, .mover_moved = 21, .mover_ticks = 22,
    };
    char *t = render(m, &g, NULL);
    ck_assert_double_eq(sample(t, "offload_http_inflight"), 11);
    ck_assert_double_eq(sample(t, "offload_redis_reconnects_total"), 12);
    ck_assert_double_eq(sample(t, "offload_redis_deadlines_total"), 13);
    ck_assert_double_eq(sample(t, "offload_redis_up"), 1);
    ck_assert_double_eq(sample(t, "offload_waiters"), 14);
    ck_assert_double_eq(sample(t, "offload_pool_queued"), 15);
    ck_assert_double_eq(sample(t, "offload_proxy_active"), 16);
    ck_assert_double_eq(sample(t, "offload_http_connections"), 17);
    ck_assert_double_eq(sample(t, "offload_http_body_bytes"), 18);
    ck_assert_double_eq(sample(t, "offload_http_output_bytes"), 19);
    ck_assert_double_eq(sample(t, "offload_http_body_refused_total"), 20);
    ck_assert_double_eq(sample(t, "offload_mover_moved_total"), 21);
    ck_assert_double_eq(sample(t, "offload_mover_ticks_total"), 22);
    free(t);
    metrics_free(m);
}
END_TEST

/* The pre-rendered queue lines are in every scrape that passes them, and
 * the caller's buffer keeps them for the next scrape. */
START_TEST(queue_lines_are_appended_and_kept)
{
    static const char lines[] = "# TYPE offload_queue_depth gauge\n"
                                "offload_queue_depth{queue=\"default\"} 7\n";
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    struct evbuffer *queues = evbuffer_new();
    ck_assert_ptr_nonnull(queues);
    ck_assert_int_eq(evbuffer_add(queues, lines, strlen(lines)), 0);
    for (int scrape = 0; scrape < 2; scrape++) {
        char *t = render(m, NULL, queues);
        ck_assert_double_eq(sample(t, "offload_queue_depth{queue=\"default\"}"), 7);
        ck_assert_double_eq(sample(t, "offload_http_inflight"), 0);
        free(t);
        ck_assert_uint_eq(evbuffer_get_length(queues), strlen(lines));
    }
    evbuffer_free(queues);
    /* an empty queue buffer adds nothing */
    queues = evbuffer_new();
    ck_assert_ptr_nonnull(queues);
    char *t = render(m, NULL, queues);
    ck_assert_int_eq(find_samples(t, "offload_queue_depth{queue=\"default\"}", NULL), 0);
    free(t);
    evbuffer_free(queues);
    metrics_free(m);
}
END_TEST

/* Whether the n bytes at s are exactly suffix. */
static bool suffix_is(const char *s, size_t n, const char *suffix)
{
    return n == strlen(suffix) && strncmp(s, suffix, n) == 0;
}

static bool is_name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

/* Every sample line is `name[{k="v",...}] number` and its family was
 * declared by a `# TYPE` line before it (histograms: name_bucket/_sum/_count). */
START_TEST(every_sample_is_well_formed_and_typed)
{
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    metrics_observe(m, ROUTE_JOBS, 202, 1234);
    metrics_observe(m, ROUTE_METRICS, 200, 99);
    metrics_rejected(m, 503);
    metrics_loop_lag(m, 777);
    struct metrics_gauges g = {.inflight = 1, .redis_up = 1};
    char *t = render(m, &g, NULL);
    char types[64][96];
    int ntypes = 0, samples = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_lt(ntypes, 64);
            ck_assert_int_eq(sscanf(line + 7, "%95s", types[ntypes]), 1);
            ntypes++;
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t n = 0;
        while (is_name_char(line[n], n == 0))
            n++;
        ck_assert_msg(n > 0, "no metric name: %s", line);
        const char *p = line + n;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            ck_assert_msg(close != NULL, "unclosed labels: %s", line);
            for (const char *q = p + 1; q < close;) { /* k="v" pairs, comma separated */
                const char *eq = strchr(q, '=');
                ck_assert_msg(eq && eq < close && eq > q && eq[1] == '"', "bad label: %s", line);
                const char *endq = strchr(eq + 2, '"');
                ck_assert_msg(endq && endq < close, "bad label value: %s", line);
                q = endq + 1;
                ck_assert_msg(q == close || *q == ',', "bad label list: %s", line);
                if (*q == ',')
                    q++;
            }
            p = close + 1;
        }
        ck_assert_msg(*p == ' ', "no value: %s", line);
        char *end;
        strtod(p + 1, &end);
        ck_assert_msg(end != p + 1 && *end == '\0', "bad value: %s", line);
        bool typed = false;
        for (int i = 0; i < ntypes && !typed; i++) {
            size_t tl = strlen(types[i]);
            typed = strncmp(line, types[i], tl) == 0 &&
                    (tl == n || (n > tl && (suffix_is(line + tl, n - tl, "_bucket") ||
                                            suffix_is(line + tl, n - tl, "_sum") ||
                                            suffix_is(line + tl, n - tl, "_count"))));
        }
        ck_assert_msg(typed, "no # TYPE before: %s", line);
        samples++;
    }
    ck_assert_int_gt(samples, 20);
    free(t);
    metrics_free(m);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("api_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, requests_are_counted_by_route_and_code);
    tcase_add_test(tc, latency_histogram_is_cumulative_in_seconds);
    tcase_add_test(tc, refusals_count_without_a_route);
    tcase_add_test(tc, odd_routes_and_codes_are_counted_safely);
    tcase_add_test(tc, loop_lag_histogram_and_max);
    tcase_add_test(tc, gauges_show_the_values_given);
    tcase_add_test(tc, queue_lines_are_appended_and_kept);
    tcase_add_test(tc, every_sample_is_well_formed_and_typed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(metrics_suite());
}
