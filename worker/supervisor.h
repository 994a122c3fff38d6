#ifndef OFFLOAD_WORKER_SUPERVISOR_H
#define OFFLOAD_WORKER_SUPERVISOR_H
/* --procs N: a parent process that forks N single-job worker children,
 * restarts one that dies (with a small backoff, logging how it ended),
 * forwards every SIGTERM/SIGINT to the children and waits for them. */
#include <signal.h>

#define SUPERVISOR_CHILD 2 /* supervisor_run's return value in a forked child */

/* In the parent: supervises until *stop_requests becomes non-zero and every
 * child has exited, then returns 0 (1 when out of memory at start).
 * In a child: returns SUPERVISOR_CHILD with *slot = 0..procs-1 and
 * *stop_requests reset; the caller picks the child's worker id and runs the
 * worker, then returns from main. The child gets SIGTERM if the parent dies.
 * Call it before any thread exists. */
int supervisor_run(int procs, volatile sig_atomic_t *stop_requests, int *slot);

#endif
