#include "worker/supervisor.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/defaults.h"
#include "common/log.h"
#include "common/clock.h"

#define POLL_MS 50                 /* how often the parent looks at signals and children */
#define RESTART_FIRST_MS 100       /* a crashed child is back almost at once... */
#define RESTART_MAX_MS 5000        /* ...but a crash loop does not spin the CPU */
#define STABLE_AFTER_MS 10000      /* a child that lived this long resets its backoff */

/* One supervised worker process. */
struct child {
    pid_t pid;           /* 0 while not running */
    int64_t started_ms;  /* monotonic */
    int64_t restart_ms;  /* monotonic time to fork again when pid == 0 */
    int64_t backoff_ms;  /* the delay used for the last restart */
};

/* Forks the child for slot i. Returns 0 in the parent (even when fork failed:
 * it is retried after a backoff), 1 in the child. */
static int child_fork(struct child *kids, int i, pid_t parent, volatile sig_atomic_t *stops)
{
    struct child *k = &kids[i];
    pid_t pid = fork();
    if (pid == 0) {
        *stops = 0; /* the parent's count is the parent's; it forwards what the child must see */
        /* Graceful stop (finish the job) if the supervisor is killed. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
            raise(SIGTERM);
        return 1;
    }
    int64_t now = clock_mono_ms();
    if (pid < 0) {
        log_error("fork failed", "slot=%d err=\"%s\"", i, strerror(errno));
        k->backoff_ms = RESTART_MAX_MS;
        k->restart_ms = now + k->backoff_ms;
        return 0;
    }
    k->pid = pid;
    k->started_ms = now;
    log_info("worker process started", "slot=%d pid=%ld", i, (long)pid);
    return 0;
}

/* Reaps exited children; logs each and schedules its restart unless stopping.
 * Returns how many children are still running. */
static int children_reap(struct child *kids, int procs, bool stopping)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (int i = 0; i < procs; i++) {
            struct child *k = &kids[i];
            if (k->pid != pid)
                continue;
            k->pid = 0;
            int64_t now = clock_mono_ms();
            if (WIFEXITED(st))
                log_msg(stopping && WEXITSTATUS(st) == 0 ? LOG_INFO : LOG_WARN,
                        "worker process exited", "slot=%d pid=%ld status=%d", i, (long)pid,
                        WEXITSTATUS(st));
            else
                log_warn("worker process killed", "slot=%d pid=%ld signal=%d", i, (long)pid,
                         WIFSIGNALED(st) ? WTERMSIG(st) : 0);
            if (now - k->started_ms >= STABLE_AFTER_MS || k->backoff_ms == 0)
                k->backoff_ms = RESTART_FIRST_MS;
            else if (k->backoff_ms * 2 <= RESTART_MAX_MS)
                k->backoff_ms *= 2;
            else
                k->backoff_ms = RESTART_MAX_MS;
            k->restart_ms = now + k->backoff_ms;
        }
    }
    int running = 0;
    for (int i = 0; i < procs; i++)
        running += kids[i].pid != 0;
    return running;
}

int supervisor_run(int procs, volatile sig_atomic_t *stop_requests, int *slot)
{
    struct child *kids = calloc((size_t)procs, sizeof *kids);
    if (!kids) {
        log_error(MSG_OUT_OF_MEMORY, NULL);
        return 1;
    }
    pid_t self = getpid();
    log_info("supervisor started", "procs=%d pid=%ld", procs, (long)self);
    sig_atomic_t forwarded = 0;
    for (;;) {
        sig_atomic_t stops = *stop_requests;
        bool stopping = stops > 0;
        for (; forwarded < stops; forwarded++) {
            log_info("forwarding stop to worker processes", "signal_count=%d", (int)forwarded + 1);
            for (int i = 0; i < procs; i++)
                if (kids[i].pid > 0)
                    kill(kids[i].pid, SIGTERM);
        }
        int running = children_reap(kids, procs, stopping);
        if (stopping && running == 0)
            break;
        int64_t now = clock_mono_ms();
        for (int i = 0; !stopping && i < procs; i++) {
            if (kids[i].pid != 0 || now < kids[i].restart_ms)
                continue;
            if (child_fork(kids, i, self, stop_requests)) {
                free(kids);
                *slot = i;
                return SUPERVISOR_CHILD;
            }
        }
        clock_sleep_ms(POLL_MS);
    }
    free(kids);
    log_info("supervisor stopped", NULL);
    return 0;
}
