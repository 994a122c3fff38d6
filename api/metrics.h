#ifndef OFFLOAD_METRICS_H
#define OFFLOAD_METRICS_H
/* Prometheus counters and histograms of the API, kept on the loop thread. */
#include <event2/buffer.h>
#include <stdint.h>

#include "api/route.h"

struct metrics;

/* Returns a new zeroed set, or NULL. Free with metrics_free. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Counts one answered request and its latency. */
void metrics_observe(struct metrics *m, enum route route, int code, int64_t dur_us);
/* Records one measurement of event-loop lag (how late a timer fired). */
void metrics_loop_lag(struct metrics *m, int64_t lag_us);
/* Counts a request refused before routing (over --max-inflight etc.). */
void metrics_rejected(struct metrics *m, int code);

struct metrics_gauges {
    long inflight;
    unsigned long redis_reconnects;
    unsigned long redis_deadlines;
    int redis_up;
    long waiters;
    long pool_queued;
    long proxy_active;
    long connections;
    size_t body_bytes;   /* held for unfinished requests */
    size_t output_bytes; /* answers not yet sent */
    unsigned long body_refused;
    unsigned long mover_moved;  /* scheduled jobs this API's mover put on their queues */
    unsigned long mover_ticks;  /* schedule ticks whose job it made */
};

/* Appends the Prometheus text exposition to out. `queues` (may be NULL)
 * holds extra pre-rendered lines, e.g. queue depth gauges; out references
 * them (no copy; they live as long as out needs them), queues is not
 * drained. */
int metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *queues,
                   struct evbuffer *out);

#endif
