#ifndef OFFLOAD_WORKER_WORKER_H
#define OFFLOAD_WORKER_WORKER_H
/* The fetch loop of one worker process: reliable fetch (BLMOVE into its wip
 * list), SCRIPT_START, the job run by its task's handler (worker/handler.h),
 * SCRIPT_FINISH; registration in <prefix>workers, a heartbeat thread that
 * also reaps dead workers, reconnects after Redis restarts, and graceful
 * shutdown. */
#include <signal.h>

#include "worker/settings.h"

#define WORKER_EXIT_NOW 0x100 /* or'ed into worker_run's status: end the process with _exit */

/* Runs the worker until *stop_requests becomes 1 (finish the current job,
 * report it, deregister) or 2 while a job runs (put it back on its queue and
 * return at once). Redis outages are waited out, never fatal. Returns 0 on a
 * clean stop, 1 when the worker could not run (a thread or memory failure, a
 * bad --task, a plugin task that would not stop), with WORKER_EXIT_NOW set
 * when a task thread is still running. cfg and stop_requests are
 * borrowed; the signal handler increments the latter. */
int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop_requests);

#endif
