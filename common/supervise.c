#include "common/supervise.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/defaults.h"
#include "common/log.h"

#define POLL_MS 50            /* how often the parent looks at signals and children */
#define RESTART_FIRST_MS 100  /* a crashed child is back almost at once... */
#define RESTART_MAX_MS 5000   /* ...but a crash loop does not spin the CPU */
#define STABLE_AFTER_MS 10000 /* a child that lived this long resets its backoff */
#define MSG_MAX 96            /* a log message with the children's name in it */

/* One supervised child process. */
struct child {
    pid_t pid;          /* 0 while not running */
    int64_t started_ms; /* monotonic */
    int64_t restart_ms; /* monotonic time to fork again when pid == 0 */
    int64_t backoff_ms; /* the delay used for the last restart */
};

/* The parent's state; the caller's strings and counter are borrowed. */
struct supervise {
    struct child *kids;                   /* procs of them, owned */
    int procs;
    const char *name;                     /* "worker": "worker process started" */
    volatile sig_atomic_t *stop_requests; /* counted by the caller's handler */
    pid_t self;                           /* the children's expected parent */
    bool unclean;                         /* a child ended other than with status 0 after the stop */
};

/* Logs `<name> process <what>` at level, with the slot, pid and key=value. */
static void supervise_log_child(const struct supervise *sv, enum log_level level, const char *what, int slot,
                                pid_t pid, const char *key, int value)
{
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "%s process %s", sv->name, what);
    log_msg(level, msg, "slot=%d pid=%ld %s=%d", slot, (long)pid, key, value);
}

/* Forks the child for slot i, unless a stop was counted: SIGTERM/SIGINT are
 * held back meanwhile, so a stop that arrives is counted after the child's
 * reset (in the child) or forwarded to it (in the parent). Returns 0 in the
 * parent (also when stopping, or when fork failed: it is retried after the
 * longest backoff), 1 in the child. */
static int supervise_fork(struct supervise *sv, int i)
{
    struct child *k = &sv->kids[i];
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &old);
    if (*sv->stop_requests != 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        *sv->stop_requests = 0; /* the parent's count is the parent's; it forwards what the child must see */
        /* Graceful stop if the supervisor is killed; the parent may be gone already. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != sv->self)
            raise(SIGTERM);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    int err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    int64_t now = clock_mono_ms();
    if (pid < 0) {
        log_error("fork failed", "slot=%d err=\"%s\"", i, strerror(err));
        k->backoff_ms = RESTART_MAX_MS;
        k->restart_ms = now + k->backoff_ms;
        return 0;
    }
    k->pid = pid;
    k->started_ms = now;
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "%s process started", sv->name);
    log_info(msg, "slot=%d pid=%ld", i, (long)pid);
    return 0;
}

/* Records how slot i's child ended, logs it, and schedules its restart (the
 * backoff doubles while it keeps dying young). */
static void supervise_ended(struct supervise *sv, int i, int status, bool stopping)
{
    struct child *k = &sv->kids[i];
    pid_t pid = k->pid;
    int64_t now = clock_mono_ms();
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    k->pid = 0;
    if (stopping && !clean)
        sv->unclean = true;
    if (WIFEXITED(status))
        supervise_log_child(sv, stopping && clean ? LOG_INFO : LOG_WARN, "exited", i, pid, "status",
                            WEXITSTATUS(status));
    else
        supervise_log_child(sv, LOG_WARN, "killed", i, pid, "signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (now - k->started_ms >= STABLE_AFTER_MS || k->backoff_ms == 0)
        k->backoff_ms = RESTART_FIRST_MS;
    else if (k->backoff_ms * 2 <= RESTART_MAX_MS)
        k->backoff_ms *= 2;
    else
        k->backoff_ms = RESTART_MAX_MS;
    k->restart_ms = now + k->backoff_ms;
}

/* Reaps exited children. Returns how many are still running. */
static int supervise_reap(struct supervise *sv, bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < sv->procs; i++)
            if (sv->kids[i].pid == pid)
                supervise_ended(sv, i, status, stopping);
    int running = 0;
    for (int i = 0; i < sv->procs; i++)
        running += sv->kids[i].pid != 0;
    return running;
}

/* Sends one SIGTERM to every running child. */
static void supervise_forward(const struct supervise *sv, int count)
{
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "forwarding stop to %s processes", sv->name);
    log_info(msg, "signal_count=%d", count);
    for (int i = 0; i < sv->procs; i++)
        if (sv->kids[i].pid > 0)
            kill(sv->kids[i].pid, SIGTERM);
}

enum supervise_result supervise_run(int procs, const char *name, volatile sig_atomic_t *stop_requests,
                                    int *slot)
{
    struct supervise sv = {.procs = procs, .name = name, .stop_requests = stop_requests, .self = getpid()};
    sig_atomic_t forwarded = 0;
    sv.kids = calloc((size_t)procs, sizeof *sv.kids);
    if (!sv.kids) {
        log_error(MSG_OUT_OF_MEMORY, NULL);
        return SUPERVISE_FAILED;
    }
    log_info("supervisor started", "procs=%d pid=%ld", procs, (long)sv.self);
    for (;;) {
        sig_atomic_t stops = *stop_requests;
        bool stopping = stops > 0;
        for (; forwarded < stops; forwarded++)
            supervise_forward(&sv, (int)forwarded + 1);
        int running = supervise_reap(&sv, stopping);
        if (stopping && running == 0)
            break;
        int64_t now = clock_mono_ms();
        for (int i = 0; !stopping && i < procs; i++) {
            if (sv.kids[i].pid != 0 || now < sv.kids[i].restart_ms)
                continue;
            if (supervise_fork(&sv, i)) {
                free(sv.kids);
                *slot = i;
                return SUPERVISE_CHILD;
            }
        }
        clock_sleep_ms(POLL_MS);
    }
    free(sv.kids);
    log_info("supervisor stopped", NULL);
    return sv.unclean ? SUPERVISE_UNCLEAN : SUPERVISE_CLEAN;
}
