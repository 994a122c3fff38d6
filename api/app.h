#ifndef OFFLOAD_APP_H
#define OFFLOAD_APP_H
/* The API process: its settings and the parts every route handler reaches. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/task.h"
#include "common/url.h"

struct rconn;
struct waiters;
struct metrics;
struct pool;
struct proxy;
struct conn_table;
struct serial;
struct qstats;
struct mover;
struct replwait;

struct api_config {
    const char *listen;
    const char *redis;
    const char *upstream;
    int64_t upstream_timeout_ms;
    long threads;
    const char *task_clock;
    long max_queue;
    long max_inflight;
    long max_body;
    int64_t result_ttl_ms;
    const char *prefix;
    long procs;
    const char *auth_token;
    bool allow_eviction;   /* use a Redis whose maxmemory-policy may evict keys */
    int64_t grace_ms;
    int64_t header_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t redis_timeout_ms; /* a Redis command unanswered this long: 503, drop and re-make the connection */
    long redis_wait;          /* replicas that must have an enqueue before it is answered (WAIT); 0 = none */
    long max_conns;           /* client connections at once; 0 = the descriptor limit less a reserve */
    long max_queues;          /* distinct queue names remembered; a new one past it gets 429 */
    long max_body_total;      /* bytes held for all unfinished request bodies together; 503 past it */
    long max_output;          /* bytes of answers waiting for clients that do not read; 503 past it */
    bool metrics_public;      /* /metrics answers without the token even when --auth-token is set */
    bool experiments;         /* serve the /cpu and /io experiment routes */
    int64_t idempotency_ttl_ms; /* how long an Idempotency-Key names its job */
    int64_t backoff_base_ms;  /* a job's retry backoff when it gives none */
    int64_t backoff_max_ms;
};

struct app {
    struct api_config cfg;
    enum task_clock clock;
    struct redis_url redis_url;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct rconn *redis;   /* commands */
    struct rconn *sub;     /* SUBSCRIBE to our done channel */
    struct waiters *waiters;
    struct metrics *metrics;
    struct pool *pool;
    struct proxy *proxy;
    struct conn_table *conns;
    struct serial *serial;  /* inline/blocking modes: one per loop turn */
    struct qstats *qstats;  /* queue figures, fetched at most once a second */
    struct mover *mover;    /* scheduled jobs to their queues, schedules' ticks (common/mover.h) */
    struct replwait *replwait; /* --redis-wait: WAIT after each enqueue (api/replwait.h); NULL when 0 */
    char id[64];           /* this API instance: names its done channel */
    char channel[256];     /* <prefix>done:<id> */
    long inflight;
    bool draining;
    int cores;
};

#endif
