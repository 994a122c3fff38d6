#ifndef OFFLOAD_WORKER_COPROC_H
#define OFFLOAD_WORKER_COPROC_H
/* serve: a coprocess answering one line per request. A long-lived child
 * (started through worker/proc.h) is written a request line and read an
 * answer line per call, until it dies, times out, answers too much or the
 * worker abandons the job; it is then stopped and may be started afresh. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/proc.h"

/* A long-lived child speaking newline-delimited messages. */
struct coproc {
    struct proc p;
    char *buf;      /* owned: bytes read past the last answer line */
    size_t len, cap;
};

enum coproc_rv {
    COPROC_OK,        /* *line is one answer line (without its '\n') */
    COPROC_DIED,      /* EOF, EPIPE or the child exited: it has been reaped (c->p is none) */
    COPROC_TIMEOUT,   /* no whole line before the deadline: the child was stopped */
    COPROC_OVERSIZE,  /* the answer line passed max_line bytes: the child was stopped */
    COPROC_ABANDONED, /* abandon() said so: the child was SIGKILLed */
};

/* Starts the coprocess (stderr inherited, so its tracebacks reach the
 * worker's log). Returns 0 or -1 with err set (see proc_spawn). */
int coproc_start(struct coproc *c, const struct proc_spec *s, char *err, size_t errlen);

/* Writes req (req_len bytes, which must end in '\n') and reads one answer
 * line of at most max_line bytes before timeout_ms passes. On COPROC_OK,
 * *line points into c's buffer (valid until the next call) and *line_len is
 * its length. On any other result the child is gone (stopped with grace_ms
 * or reaped) and *status (may be NULL) holds its waitpid status. */
enum coproc_rv coproc_call(struct coproc *c, const char *req, size_t req_len, size_t max_line,
                           int64_t timeout_ms, int64_t grace_ms, proc_abandon_fn abandon,
                           void *arg, const char **line, size_t *line_len, int *status);

/* Stops the coprocess (closing its stdin first, so a well-behaved one exits
 * by itself within grace_ms) and frees the buffer. Safe on a stopped one. */
void coproc_stop(struct coproc *c, int64_t grace_ms);

/* True while the coprocess runs. */
bool coproc_running(const struct coproc *c);

#endif
