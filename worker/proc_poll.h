#ifndef OFFLOAD_WORKER_PROC_POLL_H
#define OFFLOAD_WORKER_PROC_POLL_H
/* The small descriptor and deadline helpers the child-process poll loops
 * share (proc.c, prun.c, coproc.c). It depends on no worker header; nothing
 * outside those three includes it. */
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

#define WAITPID_POLL_MS 10   /* without a pidfd, how often the child's exit is looked for */
#define ABANDON_POLL_MS 50   /* abandon() is asked at least this often */
#define READ_CHUNK 8192      /* stderr / discarded bytes read at once */
#define NO_DEADLINE INT64_MAX

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

#endif
