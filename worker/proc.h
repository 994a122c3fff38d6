#ifndef OFFLOAD_WORKER_PROC_H
#define OFFLOAD_WORKER_PROC_H
/* Child processes for the exec and serve task handlers: spawn a command in a
 * process group of its own with pipes to its stdin/stdout (and stderr),
 * stop the whole group (SIGTERM, a grace, SIGKILL), and always reap it.
 *
 * A child gets PR_SET_PDEATHSIG=SIGKILL (it dies with its worker), default
 * signal dispositions and an empty signal mask, descriptors 0-2 only, and
 * the worker's environment plus the extra entries given. Nothing is run
 * through a shell: argv is exec'd as it is. Everything between fork and exec
 * is async-signal-safe (the worker has threads); the path of argv[0] is
 * resolved against PATH before the fork.
 *
 * Built on this: proc_run (worker/prun.h), one process per exec job, and
 * the serve coprocess (worker/coproc.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One running child. Zero-initialised (or after proc_reap) it is "none". */
struct proc {
    pid_t pid;  /* 0 when none; also the process group id */
    int pidfd;  /* pidfd_open(pid), -1 when the kernel lacks it (then polled) */
    int in;     /* write end of the child's stdin, -1 when closed */
    int out;    /* read end of the child's stdout, -1 when closed */
    int err;    /* read end of the child's stderr, -1 when inherited or closed */
};

struct proc_spec {
    const char *const *argv;      /* NULL-terminated; argv[0] searched in PATH without a '/' */
    const char *const *env_extra; /* "NAME=value", NULL-terminated, or NULL; replaces same names */
    bool capture_stderr;          /* true: a pipe in p->err; false: inherited */
    const char *const *env_drop;  /* names left out of the worker's environment ("PREFIX_*"
                                     drops a whole family), NULL-terminated, or NULL */
};

/* The waitpid status proc_* report when the child could not be reaped
 * (someone else did: SIGCHLD ignored): neither an exit nor a signal. */
#define PROC_STATUS_UNKNOWN (-1)

/* Says whether to give up at once (the worker's second SIGTERM). */
typedef bool (*proc_abandon_fn)(void *arg);

/* Checks that cmd can be run the way proc_spawn will run it (searched in
 * PATH when it has no '/'). Returns 0, or -1 with err saying why ("no such
 * command: foo (PATH=...)", "cannot run /x/foo: Permission denied"). */
int proc_resolve(const char *cmd, char *err, size_t errlen);

/* Starts s->argv. Returns 0 with *p filled (the pipe ends are nonblocking and
 * close-on-exec), or -1 with err naming the cause ("no such command: foo",
 * "cannot fork: ...") and nothing left open or running. */
int proc_spawn(struct proc *p, const struct proc_spec *s, char *err, size_t errlen);

/* Stops p's process group: SIGTERM, then SIGKILL once grace_ms has passed
 * (grace_ms 0: SIGKILL at once), and reaps the child; closes every pipe end.
 * *status (may be NULL) gets the waitpid status. Bounded: returns within
 * grace_ms plus a few ms. p is "none" afterwards. */
void proc_stop(struct proc *p, int64_t grace_ms, int *status);

/* The child has exited: SIGKILLs what it left in its group, reaps it, closes
 * every pipe end, *status gets the waitpid status. Returns 0, or -1 if the
 * child is still running (nothing done). */
int proc_reap(struct proc *p, int *status);

/* "exit status 3", "killed by signal 9 (Killed)" for a waitpid status. */
void proc_status_text(int status, char *buf, size_t len);

/* ---- the steps proc_stop and proc_reap are made of ----
 * For the modules built on this (prun.c, coproc.c), which run their own
 * poll loops around a child; the rest of the worker uses the calls above. */

/* A proc that is "none": no child, every descriptor -1. */
extern const struct proc proc_none;

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
