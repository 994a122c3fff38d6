#ifndef OFFLOAD_WORKER_WMOVER_H
#define OFFLOAD_WORKER_WMOVER_H
/* The worker's mover (common/mover.h) on a thread of its own with its own
 * libevent loop and Redis connections, so scheduled jobs and schedules'
 * ticks move while the worker blocks in BLMOVE or runs a task. */
#include "worker/settings.h"

struct wmover;

/* Starts the thread for cfg's Redis and prefix (cfg must outlive
 * wmover_stop). Returns NULL when a thread, loop or pipe cannot be made. */
struct wmover *wmover_start(const struct worker_config *cfg);
/* Stops and joins the thread and frees everything. NULL is accepted. */
void wmover_stop(struct wmover *wm);

#endif
