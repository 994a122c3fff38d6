#ifndef OFFLOAD_MOVER_H
#define OFFLOAD_MOVER_H
/* The mover: puts scheduled jobs (a delay, or a retry's backoff) on their
 * queues when they fall due, and makes the job of each periodic schedule's
 * tick. Every API and every worker process runs one; they need not agree
 * on anything, because each step is one Lua script that moves a job once
 * (SCRIPT_PROMOTE) or claims a tick by compare-and-set (SCRIPT_TICK).
 *
 * It does not poll. After each step it sleeps until the earliest due time
 * Redis reported (measured on Redis's clock, so machines' clocks need not
 * agree), and a script that schedules a job earlier than every other
 * PUBLISHes its time on <prefix>sched, which wakes every mover at once. An
 * idle mover looks again at most once a minute (MOVER_IDLE_MS). It keeps
 * two Redis connections of its own (commands, and the subscription), so it
 * runs beside any other user of the loop. */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/url.h"

#define MOVER_BATCH 1000       /* jobs moved by one step; a larger backlog takes several */
#define MOVER_IDLE_MS 60000    /* the longest sleep: bounds clock drift and any lost message */

struct mover;

/* What a mover has done, for logs and /metrics. */
struct mover_stats {
    unsigned long steps;  /* SCRIPT_PROMOTE calls answered */
    unsigned long moved;  /* jobs this mover put on their queues */
    unsigned long ticks;  /* schedule ticks whose job this mover made */
    int64_t next_due_us;  /* the next due time it sleeps until (Redis clock), 0 for none */
};

/* Starts a mover on `base` for the keys under `prefix` (copied) of the
 * Redis at `url` (copied), naming its connections `name` (CLIENT SETNAME)
 * and giving each command `redis_timeout_ms` (rconn_set_timeout). Returns
 * NULL when out of memory. Free with mover_free before the base. */
struct mover *mover_new(struct event_base *base, const struct redis_url *url, const char *name,
                        const char *prefix, int64_t redis_timeout_ms);
/* Stops the mover. Commands still in flight answer from the loop later
 * (as with rconn_free): run the loop once more before freeing the base,
 * and the mover is freed then. */
void mover_free(struct mover *m);
/* Like rconn_allow_eviction for both connections: by default a Redis that
 * may evict keys is refused (and nothing moves). Call right after mover_new. */
void mover_allow_eviction(struct mover *m, bool allow);
void mover_stats(const struct mover *m, struct mover_stats *out);

#endif
