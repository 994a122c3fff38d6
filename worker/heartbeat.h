#ifndef OFFLOAD_WORKER_HEARTBEAT_H
#define OFFLOAD_WORKER_HEARTBEAT_H
/* The heartbeat thread: its own Redis connection (named like the worker's
 * main one), ZADD <prefix>workers <now_ms> <id> every heartbeat period — so
 * the worker keeps beating while its task burns CPU — and a reaper round
 * every WORKER_REAP_PERIOD_MS. Waits out Redis outages on its own. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "worker/reaper.h"
#include "worker/redis_conn.h"
#include "worker/settings.h"

struct heartbeat {
    const struct worker_config *cfg; /* borrowed */
    struct redis_conn conn;          /* used only by the thread */
    struct reaper reaper;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;             /* signalled by heartbeat_stop */
    atomic_bool stop;
    bool started;
};

/* Starts the thread. cfg must outlive heartbeat_stop. Returns 0 or -1. */
int heartbeat_start(struct heartbeat *hb, const struct worker_config *cfg);
/* Stops and joins the thread and closes its connection; the worker's last
 * beat stays in the zset (deregistering is the caller's ZREM). Safe on a
 * heartbeat that never started. */
void heartbeat_stop(struct heartbeat *hb);

#endif
