#ifndef OFFLOAD_WORKER_PRUN_H
#define OFFLOAD_WORKER_PRUN_H
/* exec: one process per job. proc_run starts a command (worker/proc.h),
 * feeds it the job's input, collects its stdout and the tail of its stderr,
 * and stops it on a timeout, oversized output or abandon(). */
#include <stddef.h>
#include <stdint.h>

#include "worker/proc.h"

#define PROC_ERR_TAIL 2048 /* bytes of a command's stderr kept for the job's error */

/* How proc_run ended. */
enum proc_end {
    PROC_EXITED,    /* the command exited (status in o->status); its output was read */
    PROC_TIMEOUT,   /* timeout_ms passed: the group was stopped */
    PROC_OVERSIZE,  /* stdout passed max_out bytes: the group was stopped */
    PROC_ABANDONED, /* abandon() said so: the group was SIGKILLed */
    PROC_NOSTART,   /* could not start (o->err_tail says why) */
};

struct proc_run_out {
    enum proc_end end;
    int status;                     /* waitpid status when PROC_EXITED */
    char *out;                      /* malloc'd stdout, NUL-terminated (caller frees), or NULL */
    size_t out_len;
    char err_tail[PROC_ERR_TAIL + 1]; /* the last PROC_ERR_TAIL bytes of stderr, NUL-terminated */
    size_t err_tail_len;
};

/* Runs s (stderr is always captured) with input written to its stdin (then
 * closed; a child that does not read it is fine), reading stdout up to
 * max_out bytes. When the command exits, whatever it left running in its
 * process group is SIGKILLed and the pipes are drained. Past timeout_ms the
 * group gets SIGTERM, then SIGKILL after grace_ms. abandon (may be NULL) is
 * polled at least every 50 ms. No zombie is left on any path. Returns 0 with
 * *o filled (o->out owned by the caller, even on TIMEOUT / OVERSIZE), or -1
 * when out of memory (nothing running, nothing to free). */
int proc_run(const struct proc_spec *s, const char *input, size_t in_len, size_t max_out,
             int64_t timeout_ms, int64_t grace_ms, proc_abandon_fn abandon, void *arg,
             struct proc_run_out *o);

#endif
