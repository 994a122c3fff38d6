/* exec: one process per job (worker/prun.h). */
#include "worker/prun.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/proc_poll.h"
#include "common/clock.h"

#define DRAIN_MS 100         /* after the exit, how long pipes kept open by escapees are read */
#define RUN_FIRST_CAP 4096   /* proc_run's first stdout buffer, doubled as needed */

/* Appends n bytes to the tail, keeping its last PROC_ERR_TAIL bytes. */
static void tail_append(struct proc_run_out *o, const char *b, size_t n)
{
    if (n >= PROC_ERR_TAIL) {
        memcpy(o->err_tail, b + n - PROC_ERR_TAIL, PROC_ERR_TAIL);
        o->err_tail_len = PROC_ERR_TAIL;
    } else {
        size_t drop = o->err_tail_len + n > PROC_ERR_TAIL ? o->err_tail_len + n - PROC_ERR_TAIL : 0;
        memmove(o->err_tail, o->err_tail + drop, o->err_tail_len - drop);
        o->err_tail_len -= drop;
        memcpy(o->err_tail + o->err_tail_len, b, n);
        o->err_tail_len += n;
    }
    o->err_tail[o->err_tail_len] = '\0';
}

/* The state of one proc_run. */
struct run {
    struct proc p;
    const char *input;
    size_t in_len, in_off;
    char *out;          /* owned until handed to the caller */
    size_t len, cap;    /* cap never passes limit + 2: limit + 1 bytes and the NUL */
    size_t limit;       /* max_out */
};

/* Writes what the stdin pipe takes; closes it when all is written or the
 * child closed its end (EPIPE: a child need not read its input). */
static void run_write(struct run *r)
{
    size_t left = r->in_len - r->in_off;
    ssize_t n = write(r->p.in, r->input + r->in_off, left > SSIZE_MAX ? SSIZE_MAX : left);
    if (n > 0)
        r->in_off += (size_t)n;
    else if (n == -1 && errno != EAGAIN && errno != EINTR)
        fd_close(&r->p.in);
    if (r->in_off == r->in_len)
        fd_close(&r->p.in);
}

/* Reads stdout, growing the buffer up to limit + 1 bytes. Returns 0, or -1
 * when out of memory. */
static int run_read_out(struct run *r)
{
    if (r->len + 1 == r->cap && r->len <= r->limit) {
        size_t cap = r->cap > (r->limit + 2) / 2 ? r->limit + 2 : r->cap * 2;
        char *grown = realloc(r->out, cap);
        if (!grown)
            return -1;
        r->out = grown;
        r->cap = cap;
    }
    size_t room = r->cap - 1 - r->len;
    if (room > r->limit + 1 - r->len)
        room = r->limit + 1 - r->len;
    ssize_t n = read(r->p.out, r->out + r->len, room);
    if (n > 0)
        r->len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        fd_close(&r->p.out);
    return 0;
}

static void run_read_err(struct run *r, struct proc_run_out *o)
{
    char chunk[READ_CHUNK];
    ssize_t n = read(r->p.err, chunk, sizeof chunk);
    if (n > 0)
        tail_append(o, chunk, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        fd_close(&r->p.err);
}

int proc_run(const struct proc_spec *s, const char *input, size_t in_len, size_t max_out,
             int64_t timeout_ms, int64_t grace_ms, proc_abandon_fn abandon, void *arg,
             struct proc_run_out *o)
{
    memset(o, 0, sizeof *o);
    o->end = PROC_NOSTART;
    struct run r = {.p = proc_none, .input = input, .in_len = input ? in_len : 0};
    r.limit = max_out > SIZE_MAX - 2 ? SIZE_MAX - 2 : max_out;
    r.cap = r.limit + 2 < RUN_FIRST_CAP ? r.limit + 2 : RUN_FIRST_CAP;
    r.out = malloc(r.cap);
    if (!r.out)
        return -1;
    struct proc_spec spec = *s;
    spec.capture_stderr = true;
    char why[PROC_ERR_TAIL];
    int started = proc_spawn_detail(&r.p, &spec, why, sizeof why);
    if (started != 0) {
        free(r.out);
        if (started == -2)
            return -1;
        tail_append(o, why, strlen(why));
        return 0;
    }
    if (r.in_len == 0)
        fd_close(&r.p.in);

    int64_t now = clock_mono_ms();
    int64_t deadline = deadline_after(now, timeout_ms);
    int64_t next_abandon = now, drain_end = 0;
    bool exited = false;
    enum proc_end end;
    for (;;) {
        now = clock_mono_ms();
        if (abandon && now >= next_abandon) {
            if (abandon(arg)) {
                end = PROC_ABANDONED;
                proc_stop(&r.p, 0, &o->status);
                break;
            }
            next_abandon = now + ABANDON_POLL_MS;
        }
        if (exited && (now >= drain_end || (r.p.out < 0 && r.p.err < 0))) {
            end = PROC_EXITED;
            proc_signal(&r.p, SIGKILL);
            o->status = proc_finish(&r.p);
            break;
        }
        if (!exited && now >= deadline) {
            end = PROC_TIMEOUT;
            proc_stop(&r.p, grace_ms, &o->status);
            break;
        }
        struct pollfd f[4];
        int nf = 0, in_i = -1, out_i = -1, err_i = -1, pid_i = -1;
        if (r.p.in >= 0)
            f[in_i = nf++] = (struct pollfd){.fd = r.p.in, .events = POLLOUT};
        if (r.p.out >= 0)
            f[out_i = nf++] = (struct pollfd){.fd = r.p.out, .events = POLLIN};
        if (r.p.err >= 0)
            f[err_i = nf++] = (struct pollfd){.fd = r.p.err, .events = POLLIN};
        if (!exited && r.p.pidfd >= 0)
            f[pid_i = nf++] = (struct pollfd){.fd = r.p.pidfd, .events = POLLIN};
        int64_t until = exited ? drain_end : deadline;
        if (abandon)
            until = min64(until, next_abandon);
        if (!exited && r.p.pidfd < 0)
            until = min64(until, now + WAITPID_POLL_MS);
        if (poll(f, (nfds_t)nf, poll_ms(until, now)) == -1) {
            if (errno == EINTR)
                continue;
            proc_stop(&r.p, 0, NULL);
            free(r.out);
            return -1;
        }
        if (in_i >= 0 && f[in_i].revents)
            run_write(&r);
        if (out_i >= 0 && f[out_i].revents && run_read_out(&r) == -1) {
            proc_stop(&r.p, 0, NULL);
            free(r.out);
            return -1;
        }
        if (r.len > r.limit) {
            end = PROC_OVERSIZE;
            r.len = r.limit;
            proc_stop(&r.p, grace_ms, &o->status);
            break;
        }
        if (err_i >= 0 && f[err_i].revents)
            run_read_err(&r, o);
        if (!exited && (pid_i >= 0 ? f[pid_i].revents != 0 : r.p.pidfd < 0 && proc_exited(&r.p))) {
            /* What it left behind goes now, so their pipe ends close; those
             * that escaped the group (setsid) are waited for DRAIN_MS at most. */
            exited = true;
            proc_signal(&r.p, SIGKILL);
            fd_close(&r.p.in);
            drain_end = min64(clock_mono_ms() + DRAIN_MS, deadline);
        }
    }
    r.out[r.len] = '\0';
    o->end = end;
    o->out = r.out;
    o->out_len = r.len;
    return 0;
}
