#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency buckets in seconds: sub-millisecond for the fast routes, up to a
 * minute for the waiting ones. */
static const double latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
                                         30,     60};
#define NBUCKETS (sizeof latency_buckets / sizeof latency_buckets[0])
#define CODE_MAX 600

struct latency {
    uint64_t buckets[NBUCKETS + 1]; /* last one is +Inf */
    uint64_t count;
    double sum_s;
};

struct metrics {
    uint64_t requests[ROUTE_COUNT][CODE_MAX];
    struct latency latency[ROUTE_COUNT];
    struct latency lag;
    double lag_max_s;
    double lag_last_s;
};

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
    free(m);
}

static void latency_add(struct latency *l, double s)
{
    size_t i = 0;
    while (i < NBUCKETS && s > latency_buckets[i])
        i++;
    l->buckets[i]++;
    l->count++;
    l->sum_s += s;
}

void metrics_observe(struct metrics *m, enum route route, int code, int64_t dur_us)
{
    if ((unsigned)route >= ROUTE_COUNT)
        route = ROUTE_NONE;
    if (code < 0 || code >= CODE_MAX)
        code = 0;
    m->requests[route][code]++;
    latency_add(&m->latency[route], dur_us < 0 ? 0 : (double)dur_us / 1e6);
}

void metrics_rejected(struct metrics *m, int code)
{
    metrics_observe(m, ROUTE_NONE, code, 0);
}

void metrics_loop_lag(struct metrics *m, int64_t lag_us)
{
    double s = lag_us < 0 ? 0 : (double)lag_us / 1e6;
    latency_add(&m->lag, s);
    m->lag_last_s = s;
    if (s > m->lag_max_s)
        m->lag_max_s = s;
}

static void render_hist(struct evbuffer *out, const char *name, const char *labels, const struct latency *l)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += l->buckets[i];
        if (i < NBUCKETS)
            evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "",
                                latency_buckets[i], (unsigned long long)cum);
        else
            evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "",
                                (unsigned long long)cum);
    }
    /* an unlabelled family's sum and count have no braces at all */
    evbuffer_add_printf(out, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                        labels[0] ? "}" : "", l->sum_s, name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                        (unsigned long long)l->count);
}

int metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *queues,
                   struct evbuffer *out)
{
    char labels[96];
    evbuffer_add_printf(out, "# HELP offload_http_requests_total HTTP requests answered, by route and code.\n"
                             "# TYPE offload_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int c = 0; c < CODE_MAX; c++)
            if (m->requests[r][c])
                evbuffer_add_printf(out, "offload_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                                    route_label(r), c, (unsigned long long)m->requests[r][c]);
    evbuffer_add_printf(out, "# HELP offload_http_request_duration_seconds Time from request to reply.\n"
                             "# TYPE offload_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        if (m->latency[r].count == 0)
            continue;
        snprintf(labels, sizeof labels, "route=\"%s\"", route_label(r));
        render_hist(out, "offload_http_request_duration_seconds", labels, &m->latency[r]);
    }
    evbuffer_add_printf(out, "# HELP offload_event_loop_lag_seconds How late a 100 ms timer fired.\n"
                             "# TYPE offload_event_loop_lag_seconds histogram\n");
    render_hist(out, "offload_event_loop_lag_seconds", "", &m->lag);
    evbuffer_add_printf(out,
                        "# HELP offload_event_loop_lag_max_seconds The longest event-loop lag since the process started.\n"
                        "# TYPE offload_event_loop_lag_max_seconds gauge\n"
                        "offload_event_loop_lag_max_seconds %.6f\n"
                        "# HELP offload_http_inflight Requests received and not yet answered (bound: --max-inflight).\n"
                        "# TYPE offload_http_inflight gauge\noffload_http_inflight %ld\n"
                        "# HELP offload_waiters Requests waiting for their job to finish (?wait= long-polls).\n"
                        "# TYPE offload_waiters gauge\noffload_waiters %ld\n"
                        "# HELP offload_pool_queued Work items queued or running on the thread pool (--threads).\n"
                        "# TYPE offload_pool_queued gauge\noffload_pool_queued %ld\n"
                        "# HELP offload_proxy_active Requests to the upstream in flight.\n"
                        "# TYPE offload_proxy_active gauge\noffload_proxy_active %ld\n"
                        "# HELP offload_http_connections Open client connections (bound: --max-conns).\n"
                        "# TYPE offload_http_connections gauge\noffload_http_connections %ld\n"
                        "# HELP offload_redis_up 1 when the Redis connection is ready, else 0.\n"
                        "# TYPE offload_redis_up gauge\noffload_redis_up %d\n"
                        "# HELP offload_redis_reconnects_total Times a Redis connection was made again after it was lost.\n"
                        "# TYPE offload_redis_reconnects_total counter\noffload_redis_reconnects_total %lu\n"
                        "# HELP offload_redis_deadlines_total Redis connections dropped for missing --redis-timeout.\n"
                        "# TYPE offload_redis_deadlines_total counter\noffload_redis_deadlines_total %lu\n"
                        "# HELP offload_http_body_bytes Bytes held for unfinished requests (bound: --max-body-total).\n"
                        "# TYPE offload_http_body_bytes gauge\noffload_http_body_bytes %zu\n"
                        "# HELP offload_http_output_bytes Bytes of answers not yet sent (bound: --max-output).\n"
                        "# TYPE offload_http_output_bytes gauge\noffload_http_output_bytes %zu\n"
                        "# HELP offload_http_body_refused_total Requests answered 503 because their body would pass --max-body-total.\n"
                        "# TYPE offload_http_body_refused_total counter\noffload_http_body_refused_total %lu\n"
                        "# HELP offload_mover_moved_total Scheduled jobs this process's mover put on their queues.\n"
                        "# TYPE offload_mover_moved_total counter\noffload_mover_moved_total %lu\n"
                        "# HELP offload_mover_ticks_total Schedule ticks whose job this process's mover made.\n"
                        "# TYPE offload_mover_ticks_total counter\noffload_mover_ticks_total %lu\n",
                        m->lag_max_s, g->inflight, g->waiters, g->pool_queued, g->proxy_active, g->connections, g->redis_up,
                        g->redis_reconnects, g->redis_deadlines, g->body_bytes, g->output_bytes, g->body_refused,
                        g->mover_moved, g->mover_ticks);
    if (queues && evbuffer_get_length(queues))
        evbuffer_add_buffer_reference(out, queues); /* shared by every scrape of the same second, not copied */
    return 0;
}
