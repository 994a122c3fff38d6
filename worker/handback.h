#ifndef OFFLOAD_WORKER_HANDBACK_H
#define OFFLOAD_WORKER_HANDBACK_H
/* Prefetch must not starve anyone: while a worker runs one job, the jobs it
 * took ahead (--prefetch) wait behind it, and idle workers could run them.
 * The hand-back thread watches the running job: once it has run
 * --prefetch-hold, the jobs held behind it go back to the front of their
 * queues (SCRIPT_UNTAKE, on the thread's own Redis connection), so the
 * worker's task may run for an hour and nobody waits on it for more than
 * the hold.
 *
 *   main thread                       hand-back thread
 *   handback_arm(ids held behind) --> waits until the hold has passed
 *   ...runs the job...                claims the ids, UNTAKE
 *   handback_disarm() <-------------- how many went back: the worker drops
 *                                     them from its hands, unrun
 *
 * Only with --prefetch above 1 (handback_start returns an empty set
 * otherwise, and arm and disarm do nothing). */
#include <stddef.h>
#include <stdint.h>

#include "worker/settings.h"

struct handback;

/* Starts the thread and its connection (made on first use). cfg must
 * outlive handback_stop. Returns the set, or NULL (out of memory, or the
 * thread could not start: logged). With cfg->prefetch == 1 nothing starts
 * and a set that does nothing is returned. */
struct handback *handback_start(const struct worker_config *cfg);
/* Main thread, before running a job with n jobs held behind it (n >= 1),
 * their ids and runs (START's attempt numbers) in the order taken; copied.
 * They go back at due_ms (monotonic) if the job still runs then. n == 0
 * does nothing. */
void handback_arm(struct handback *hb, const char *const *ids, const char *const *runs, size_t n,
                  int64_t due_ms);
/* Main thread, after the job: stops watching (waiting for a hand-back in
 * progress to end). Returns how many of the ids the last arm gave went back
 * to their queues — then the worker holds none of them any more (all were
 * taken out of its wip list) — or 0: it still holds them all. */
size_t handback_disarm(struct handback *hb);
/* Stops and joins the thread, closes its connection, frees hb. NULL is fine. */
void handback_stop(struct handback *hb);

#endif
