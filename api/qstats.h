#ifndef OFFLOAD_QSTATS_H
#define OFFLOAD_QSTATS_H
/* The queues' figures (depth, in progress, dead, workers alive), asked of
 * Redis at most once a second whatever the number of clients: GET /queues
 * and every /metrics scrape are served from the last answer, and callers
 * that arrive while it is being fetched share that one fetch. */
#include <event2/buffer.h>
#include <jansson.h>

struct app;
struct qstats;

/* The figures at one moment (borrowed: valid during the callback only). */
struct qstats_view {
    json_t *body;         /* {"queues": {name: {depth, in_progress, dead, scheduled, in_per_s, out_per_s}},
                             "workers_alive": n} */
    struct evbuffer *prom; /* the same as Prometheus lines */
};

/* Called once per qstats_get: with the figures, or with NULL when Redis
 * could not give them. */
typedef void qstats_fn(void *arg, const struct qstats_view *v);

/* Returns an empty cache for app's Redis, or NULL. Free with qstats_free. */
struct qstats *qstats_new(struct app *app);
/* Frees the cache; callers still waiting get NULL first. */
void qstats_free(struct qstats *qs);
/* Calls fn with figures at most QSTATS_MAX_AGE_MS old: at once when the
 * cache is fresh, else when the fetch it starts or joins ends. */
void qstats_get(struct qstats *qs, qstats_fn *fn, void *arg);

#define QSTATS_MAX_AGE_MS 1000

#endif
