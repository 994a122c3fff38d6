#ifndef OFFLOAD_POOL_H
#define OFFLOAD_POOL_H
/* A fixed pool of threads for blocking work (the run_in_executor analogue).
 * Work runs on a pool thread; its completion runs back on the loop thread,
 * woken through a pipe, so the loop never blocks on the pool. */
#include <event2/event.h>

struct pool;

typedef void pool_work_fn(void *arg); /* runs on a pool thread */
typedef void pool_done_fn(void *arg); /* runs on the loop thread afterwards */

/* Starts `threads` (>= 1) threads. Returns NULL on failure or when threads
 * is below 1. */
struct pool *pool_new(struct event_base *base, int threads);
/* Stops the threads after the queued work is done, then runs the pending
 * completions and frees the pool. */
void pool_free(struct pool *p);
/* Queues work. Returns 0, or -1 on allocation failure (nothing queued). */
int pool_submit(struct pool *p, pool_work_fn *work, pool_done_fn *done, void *arg);
/* Work items queued or running. */
long pool_pending(struct pool *p);
int pool_threads(const struct pool *p);

#endif
