#ifndef OFFLOAD_WORKER_PROC_INTERNAL_H
#define OFFLOAD_WORKER_PROC_INTERNAL_H
/* Internal to the child-process modules (proc.c, prun.c, coproc.c): the
 * pieces of proc.c that proc_run and the coprocess build on, and the small
 * deadline helpers their poll loops share. Nothing else includes this; the
 * rest of the worker sees worker/proc.h, worker/prun.h and worker/coproc.h. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "worker/proc.h"

#define WAITPID_POLL_MS 10   /* without a pidfd, how often the child's exit is looked for */
#define ABANDON_POLL_MS 50   /* abandon() is asked at least this often */
#define READ_CHUNK 8192      /* stderr / discarded bytes read at once */
#define NO_DEADLINE INT64_MAX

/* A proc that is "none": no child, every descriptor -1. */
extern const struct proc proc_none;

static inline void fd_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* now + ms without overflow; ms <= 0 means no deadline. */
static inline int64_t deadline_after(int64_t now, int64_t ms)
{
    if (ms <= 0 || ms > NO_DEADLINE - now)
        return NO_DEADLINE;
    return now + ms;
}

/* A poll() timeout for the time left until `until`, clamped to [0, INT_MAX]. */
static inline int poll_ms(int64_t until, int64_t now)
{
    if (until <= now)
        return 0;
    return until - now > INT_MAX ? INT_MAX : (int)(until - now);
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* proc_spawn, telling an allocation failure (-2) from other causes (-1). */
int proc_spawn_detail(struct proc *p, const struct proc_spec *s, char *err, size_t errlen);

/* True once p's child has exited (a zombie still holding its pid and group
 * id, so the group can be signalled safely until it is reaped). */
bool proc_exited(const struct proc *p);

/* Waits up to ms for the child to exit. Returns whether it has. */
bool proc_wait_exit(const struct proc *p, int64_t ms);

/* Signals p's process group. SIGKILL also goes to the child itself, in case
 * it left the group (no double SIGTERM: a handler may count them). */
void proc_signal(const struct proc *p, int sig);

/* Reaps the child (which is dead or SIGKILLed) and makes p none. Returns
 * the waitpid status (PROC_STATUS_UNKNOWN if someone else reaped it). */
int proc_finish(struct proc *p);

#endif
