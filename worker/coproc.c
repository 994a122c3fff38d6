/* serve: a coprocess answering one line per request (worker/coproc.h). */
#include "worker/coproc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/defaults.h"
#include "worker/proc_poll.h"
#include "common/clock.h"

#define DIED_WAIT_MS 100      /* a coprocess that closed a pipe gets this long to exit by itself */
#define COPROC_FIRST_CAP 4096 /* a coprocess's first line buffer, doubled up to max_line + 1 */

/* Between calls c->buf holds the line last answered, its '\n', then any
 * bytes read past it; a call first drops that line. After any result but
 * COPROC_OK the child is gone and c owns nothing (a fresh coproc_start may
 * reuse it). */

int coproc_start(struct coproc *c, const struct proc_spec *s, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->p = proc_none;
    struct proc_spec spec = *s;
    spec.capture_stderr = false;
    c->buf = malloc(COPROC_FIRST_CAP);
    if (!c->buf) {
        snprintf(err, errlen, MSG_OUT_OF_MEMORY);
        return -1;
    }
    c->cap = COPROC_FIRST_CAP;
    if (proc_spawn(&c->p, &spec, err, errlen) != 0) {
        free(c->buf);
        memset(c, 0, sizeof *c);
        c->p = proc_none;
        return -1;
    }
    return 0;
}

/* Ends a call that lost the child: stops it (with grace_ms, or at once),
 * frees the buffer, *status gets the waitpid status. */
static enum coproc_rv coproc_lose(struct coproc *c, enum coproc_rv rv, int64_t grace_ms,
                                  int *status)
{
    if (rv == COPROC_DIED && c->p.pid > 0)
        proc_wait_exit(&c->p, DIED_WAIT_MS); /* it closed a pipe: its own exit status, please */
    proc_stop(&c->p, rv == COPROC_ABANDONED ? 0 : grace_ms, status);
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    return rv;
}

/* Reads what stdout has into the buffer (growing it up to need bytes).
 * Returns 1 on data or nothing yet, 0 on EOF or error, -1 out of memory. */
static int coproc_read(struct coproc *c, size_t need)
{
    if (c->len == c->cap) {
        if (c->cap >= need)
            return 1; /* full: the caller decides (oversize) */
        size_t cap = c->cap > need / 2 ? need : c->cap * 2;
        char *grown = realloc(c->buf, cap);
        if (!grown)
            return -1;
        c->buf = grown;
        c->cap = cap;
    }
    ssize_t n = read(c->p.out, c->buf + c->len, c->cap - c->len);
    if (n > 0) {
        c->len += (size_t)n;
        return 1;
    }
    return n == -1 && (errno == EAGAIN || errno == EINTR) ? 1 : 0;
}

enum coproc_rv coproc_call(struct coproc *c, const char *req, size_t req_len, size_t max_line,
                           int64_t timeout_ms, int64_t grace_ms, proc_abandon_fn abandon,
                           void *arg, const char **line, size_t *line_len, int *status)
{
    *line = NULL;
    *line_len = 0;
    if (c->p.pid <= 0 || !c->buf)
        return coproc_lose(c, COPROC_DIED, grace_ms, status);
    if (c->len > 0) { /* drop the previous answer, keep what followed it */
        char *nl = memchr(c->buf, '\n', c->len);
        size_t used = nl ? (size_t)(nl - c->buf) + 1 : 0;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    size_t need = max_line > SIZE_MAX - 1 ? SIZE_MAX : max_line + 1; /* a line and its '\n' */
    size_t off = 0, scanned = 0, nl_at = SIZE_MAX;
    int64_t now = clock_mono_ms();
    int64_t deadline = deadline_after(now, timeout_ms);
    int64_t next_abandon = now;
    for (;;) {
        if (off < req_len) {
            ssize_t n = write(c->p.in, req + off, req_len - off);
            if (n > 0)
                off += (size_t)n;
            else if (n == -1 && errno != EAGAIN && errno != EINTR)
                return coproc_lose(c, COPROC_DIED, grace_ms, status); /* EPIPE */
        }
        if (nl_at == SIZE_MAX) {
            char *nl = memchr(c->buf + scanned, '\n', c->len - scanned);
            if (nl)
                nl_at = (size_t)(nl - c->buf);
            else
                scanned = c->len;
        }
        if (nl_at != SIZE_MAX ? nl_at > max_line : c->len >= need)
            return coproc_lose(c, COPROC_OVERSIZE, grace_ms, status);
        if (nl_at != SIZE_MAX && off == req_len) {
            *line = c->buf;
            *line_len = nl_at;
            return COPROC_OK;
        }
        if (abandon && now >= next_abandon) {
            if (abandon(arg))
                return coproc_lose(c, COPROC_ABANDONED, grace_ms, status);
            next_abandon = now + ABANDON_POLL_MS;
        }
        if (now >= deadline)
            return coproc_lose(c, COPROC_TIMEOUT, grace_ms, status);

        struct pollfd f[3];
        int nf = 0, in_i = -1, out_i = -1, pid_i = -1;
        if (off < req_len)
            f[in_i = nf++] = (struct pollfd){.fd = c->p.in, .events = POLLOUT};
        if (c->len < c->cap || c->cap < need)
            f[out_i = nf++] = (struct pollfd){.fd = c->p.out, .events = POLLIN};
        if (c->p.pidfd >= 0)
            f[pid_i = nf++] = (struct pollfd){.fd = c->p.pidfd, .events = POLLIN};
        int64_t until = deadline;
        if (abandon)
            until = min64(until, next_abandon);
        if (c->p.pidfd < 0)
            until = min64(until, now + WAITPID_POLL_MS);
        int ready = poll(f, (nfds_t)nf, poll_ms(until, now));
        now = clock_mono_ms();
        if (ready == -1 && errno != EINTR)
            return coproc_lose(c, COPROC_DIED, grace_ms, status);
        if (ready <= 0) {
            if (c->p.pidfd < 0 && proc_exited(&c->p))
                return coproc_lose(c, COPROC_DIED, grace_ms, status);
            continue; /* the deadline and abandon() are looked at above */
        }
        /* (A closed stdin shows as EPIPE from the write above.) */
        if (out_i >= 0 && f[out_i].revents && coproc_read(c, need) != 1)
            return coproc_lose(c, COPROC_DIED, grace_ms, status); /* EOF */
        if (pid_i >= 0 && f[pid_i].revents) {
            /* It exited: an answer it wrote before still counts (the next
             * call finds it gone), a partial line does not. */
            for (;;) {
                size_t before = c->len;
                if (coproc_read(c, need) != 1 || c->len == before)
                    break;
            }
            if (off < req_len || !memchr(c->buf + scanned, '\n', c->len - scanned))
                return coproc_lose(c, COPROC_DIED, grace_ms, status);
        }
    }
}

void coproc_stop(struct coproc *c, int64_t grace_ms)
{
    if (c->p.pid > 0) {
        fd_close(&c->p.in);
        /* It should exit on stdin EOF: wait grace_ms, reading (and dropping)
         * what it still prints so a full pipe cannot block its exit. */
        int64_t now = clock_mono_ms();
        int64_t end = grace_ms > 0 ? deadline_after(now, grace_ms) : now;
        while (!proc_exited(&c->p) && now < end) {
            struct pollfd f[2];
            int nf = 0;
            if (c->p.out >= 0)
                f[nf++] = (struct pollfd){.fd = c->p.out, .events = POLLIN};
            if (c->p.pidfd >= 0)
                f[nf++] = (struct pollfd){.fd = c->p.pidfd, .events = POLLIN};
            int64_t until = c->p.pidfd >= 0 ? end : min64(end, now + WAITPID_POLL_MS);
            if (poll(f, (nfds_t)nf, poll_ms(until, now)) > 0 && c->p.out >= 0 &&
                f[0].revents) {
                char chunk[READ_CHUNK];
                ssize_t n = read(c->p.out, chunk, sizeof chunk);
                if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
                    fd_close(&c->p.out);
            }
            now = clock_mono_ms();
        }
    }
    proc_stop(&c->p, 0, NULL); /* reaps it, SIGKILLing it first if it is still there */
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

bool coproc_running(const struct coproc *c)
{
    return c->p.pid > 0;
}
