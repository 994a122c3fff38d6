#ifndef OFFLOAD_SUPERVISE_H
#define OFFLOAD_SUPERVISE_H
/* --procs N for every binary: a parent process that forks N children,
 * restarts one that dies (100 ms, doubling to 5 s while it keeps dying
 * young), logs how each ended, forwards every SIGTERM/SIGINT to the children
 * and waits for them. A child gets SIGTERM when the parent dies, even by
 * SIGKILL (PR_SET_PDEATHSIG). */
#include <signal.h>

/* What supervise_run returned to, and how supervision ended. */
enum supervise_result {
    SUPERVISE_CHILD,   /* in a forked child, *slot set: do the child's work, then exit */
    SUPERVISE_CLEAN,   /* in the parent, stopped: every child that ended after the stop exited 0 */
    SUPERVISE_UNCLEAN, /* in the parent, stopped: a child ended otherwise after the stop */
    SUPERVISE_FAILED,  /* in the parent: could not start (out of memory), nothing forked */
};

/* Supervises `procs` children until *stop_requests becomes non-zero and every
 * child has exited; `name` names them in log lines ("worker" logs
 * `msg="worker process started"`). The caller's SIGTERM/SIGINT handler counts
 * into *stop_requests; each new count is forwarded as one SIGTERM to every
 * child, and a child ending after the first is not restarted.
 * In a child: returns SUPERVISE_CHILD with *slot = 0..procs-1, the caller's
 * signal handlers and mask, and *stop_requests reset (1 already when the
 * parent died during the fork); the child's work is the caller's, which then
 * exits the child (returns from main or _exit, never back into this loop).
 * Call it before any thread exists. */
enum supervise_result supervise_run(int procs, const char *name, volatile sig_atomic_t *stop_requests,
                                    int *slot);

#endif
