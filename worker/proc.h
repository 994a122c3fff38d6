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
 * resolved against PATH before the fork. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_ERR_TAIL 2048 /* bytes of a command's stderr kept for the job's error */

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

/* ---- exec: one process per job -------------------------------------------- */

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

/* ---- serve: a coprocess answering one line per request -------------------- */

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
