#include "worker/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/wclock.h"

extern char **environ;

#define WAITPID_POLL_MS 10   /* without a pidfd, how often the child's exit is looked for */
#define ABANDON_POLL_MS 50   /* abandon() is asked at least this often */
#define DRAIN_MS 100         /* after the exit, how long pipes kept open by escapees are read */
#define DIED_WAIT_MS 100     /* a coprocess that closed a pipe gets this long to exit by itself */
#define RUN_FIRST_CAP 4096   /* proc_run's first stdout buffer, doubled as needed */
#define COPROC_FIRST_CAP 4096 /* a coprocess's first line buffer, doubled up to max_line + 1 */
#define READ_CHUNK 8192      /* stderr / discarded bytes read at once */
#define FALLBACK_FD_MAX 65536 /* highest fd closed one by one when close_range is missing */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin" /* searched when the worker has no PATH */
#define NO_DEADLINE INT64_MAX

static const struct proc proc_none = {0, -1, -1, -1, -1};

/* ---- small helpers --------------------------------------------------------- */

static void fd_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Moves *fd above 2 (a worker started with 0-2 closed gets pipes there, which
 * the child's dup2 onto 0-2 would clobber). Returns 0 or -1. */
static int fd_lift(int *fd)
{
    if (*fd < 0 || *fd > 2)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved == -1)
        return -1;
    close(*fd);
    *fd = moved;
    return 0;
}

static int fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* now + ms without overflow; ms <= 0 means no deadline. */
static int64_t deadline_after(int64_t now, int64_t ms)
{
    if (ms <= 0 || ms > NO_DEADLINE - now)
        return NO_DEADLINE;
    return now + ms;
}

/* A poll() timeout for the time left until `until`, clamped to [0, INT_MAX]. */
static int poll_ms(int64_t until, int64_t now)
{
    if (until <= now)
        return 0;
    return until - now > INT_MAX ? INT_MAX : (int)(until - now);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- before the fork: path and environment --------------------------------- */

/* Resolves name against the worker's PATH like execvp: the first executable
 * regular file, else the first regular file (so execve reports EACCES).
 * Returns 0 with *path malloc'd (caller frees), -1 not found, -2 no memory. */
static int path_resolve(const char *name, char **path)
{
    if (strchr(name, '/')) {
        *path = strdup(name);
        return *path ? 0 : -2;
    }
    if (*name == '\0')
        return -1;
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = DEFAULT_PATH;
    size_t nlen = strlen(name);
    char *buf = malloc(strlen(dirs) + nlen + 3);
    if (!buf)
        return -2;
    char *fallback = NULL;
    for (const char *d = dirs;;) {
        const char *end = strchrnul(d, ':');
        size_t dlen = (size_t)(end - d);
        if (dlen == 0) { /* an empty entry is the current directory, as for execvp */
            buf[0] = '.';
            dlen = 1;
        } else {
            memcpy(buf, d, dlen);
        }
        buf[dlen] = '/';
        memcpy(buf + dlen + 1, name, nlen + 1);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(buf, X_OK) == 0) {
                free(fallback);
                *path = buf;
                return 0;
            }
            if (!fallback && !(fallback = strdup(buf))) {
                free(buf);
                return -2;
            }
        }
        if (*end == '\0')
            break;
        d = end + 1;
    }
    free(buf);
    *path = fallback;
    return fallback ? 0 : -1;
}

/* Length of the name part of "NAME=value". */
static size_t env_name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) : strlen(e);
}

/* True if some list[i], i >= from, sets the variable that e names. */
static bool env_named(const char *const *list, size_t from, const char *e)
{
    size_t n = env_name_len(e);
    for (size_t i = from; list[i]; i++)
        if (strncmp(list[i], e, n) == 0 && list[i][n] == '=')
            return true;
    return false;
}

/* True when e ("NAME=value") is named by drop ("NAME", or "PREFIX*"). */
static bool env_dropped(const char *const *drop, const char *e)
{
    size_t n = env_name_len(e);
    for (size_t i = 0; drop && drop[i]; i++) {
        size_t d = strlen(drop[i]);
        if (d > 0 && drop[i][d - 1] == '*' ? strncmp(e, drop[i], d - 1) == 0
                                            : d == n && strncmp(e, drop[i], n) == 0)
            return true;
    }
    return false;
}

/* environ minus drop plus extra, an entry of extra replacing any same-named
 * one (the last of extra winning). Returns a malloc'd array whose strings are
 * borrowed from environ and extra (caller frees the array only), or NULL. */
static char **env_build(const char *const *extra, const char *const *drop)
{
    static const char *const none[] = {NULL};
    if (!extra)
        extra = none;
    size_t n = 0, m = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    while (extra[m])
        m++;
    char **envp = malloc((n + m + 1) * sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_named(extra, 0, environ[i]) && !env_dropped(drop, environ[i]))
            envp[k++] = environ[i];
    for (size_t j = 0; j < m; j++)
        if (!env_named(extra, j + 1, extra[j]))
            envp[k++] = (char *)extra[j];
    envp[k] = NULL;
    return envp;
}

/* ---- the fork -------------------------------------------------------------- */

/* Everything the child needs, prepared before the fork: between fork and
 * exec it may only make async-signal-safe calls (the worker has threads). */
struct child_plan {
    const char *path;
    char *const *argv;
    char *const *envp;
    pid_t parent;
    int in, out, err; /* the child's pipe ends; err -1 when stderr is inherited */
    int report;       /* close-on-exec pipe: the errno of a failed exec is written here */
    int fd_max;       /* for the close loop when close_range is missing */
};

static void child_fail(int report, int e) __attribute__((noreturn));
static void child_fail(int report, int e)
{
    ssize_t n;
    do
        n = write(report, &e, sizeof e);
    while (n == -1 && errno == EINTR);
    _exit(127);
}

/* Closes every descriptor from `from` up except keep; keep stays open until
 * the exec closes it (it is close-on-exec). */
static void child_close_from(int from, int keep, int fd_max)
{
    if (close_range((unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return; /* Linux 5.11+: all close at the exec, keep included (it must, anyway) */
    if ((keep <= from || close_range((unsigned)from, (unsigned)keep - 1, 0) == 0) &&
        close_range((unsigned)keep + 1, ~0U, 0) == 0)
        return;
    for (int fd = from; fd <= fd_max; fd++)
        if (fd != keep)
            close(fd);
}

/* SIG_DFL for a signal glibc's sigaction refuses to touch, through the
 * system call itself (async-signal-safe). */
static void child_default_raw(int sig)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } k = {SIG_DFL, 0, NULL, 0};
    (void)syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
}

/* The child, from fork to exec. Async-signal-safe calls only. */
static void child_exec(const struct child_plan *c) __attribute__((noreturn));
static void child_exec(const struct child_plan *c)
{
    setpgid(0, 0); /* the parent does it too, whichever runs first */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
        child_fail(c->report, errno);
    if (getppid() != c->parent) /* the worker died before prctl: nobody waits for us */
        _exit(127);
    /* Default dispositions: an ignored signal (the worker ignores SIGPIPE)
     * would stay ignored across exec. Every signal is still blocked here. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &dfl, NULL) != 0)
            child_default_raw(sig); /* glibc refuses its reserved ones (32, 33), which an ignoring parent passes on */
    if (dup2(c->in, STDIN_FILENO) == -1 || dup2(c->out, STDOUT_FILENO) == -1 ||
        (c->err >= 0 && dup2(c->err, STDERR_FILENO) == -1))
        child_fail(c->report, errno);
    child_close_from(3, c->report, c->fd_max);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(c->path, c->argv, c->envp);
    child_fail(c->report, errno);
}

/* proc_spawn, telling an allocation failure (-2) from other causes (-1). */
static int spawn(struct proc *p, const struct proc_spec *s, char *err, size_t errlen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, report[2] = {-1, -1};
    char *path = NULL;
    char **envp = NULL;
    int rv = -1;
    *p = proc_none;
    if (!s->argv || !s->argv[0]) {
        snprintf(err, errlen, "empty command");
        return -1;
    }
    for (const char *const *e = s->env_extra; e && *e; e++) {
        if (!strchr(*e, '=') || **e == '=') {
            snprintf(err, errlen, "bad environment entry: %s", *e);
            return -1;
        }
    }
    int found = path_resolve(s->argv[0], &path);
    if (found == -1) {
        snprintf(err, errlen, "no such command: %s", s->argv[0]);
        return -1;
    }
    if (found == -2 || !(envp = env_build(s->env_extra, s->env_drop))) {
        rv = -2;
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
        (s->capture_stderr && pipe2(errp, O_CLOEXEC) == -1) || pipe2(report, O_CLOEXEC) == -1 ||
        fd_lift(&in[0]) == -1 || fd_lift(&in[1]) == -1 || fd_lift(&out[0]) == -1 ||
        fd_lift(&out[1]) == -1 || fd_lift(&errp[0]) == -1 || fd_lift(&errp[1]) == -1 ||
        fd_lift(&report[0]) == -1 || fd_lift(&report[1]) == -1 || fd_nonblock(in[1]) == -1 ||
        fd_nonblock(out[0]) == -1 || (errp[0] >= 0 && fd_nonblock(errp[0]) == -1)) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        goto err;
    }
    struct rlimit nofile;
    int fd_max = FALLBACK_FD_MAX;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (rlim_t)fd_max)
        fd_max = (int)nofile.rlim_cur;
    struct child_plan plan = {
        .path = path,
        .argv = (char *const *)s->argv,
        .envp = envp,
        .parent = getpid(),
        .in = in[0],
        .out = out[1],
        .err = errp[1],
        .report = report[1],
        .fd_max = fd_max,
    };
    /* All signals blocked across the fork: no handler of the worker's may run
     * in the child before its dispositions are reset. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(&plan);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(fork_errno));
        goto err;
    }
    setpgid(pid, pid); /* EACCES once the child has exec'd: it did it itself then */
    fd_close(&in[0]);
    fd_close(&out[1]);
    fd_close(&errp[1]);
    fd_close(&report[1]);
    /* EOF: the exec closed the report pipe. An int: execve failed. */
    int child_errno;
    ssize_t n;
    do
        n = read(report[0], &child_errno, sizeof child_errno);
    while (n == -1 && errno == EINTR);
    if (n != 0) {
        int st;
        kill(pid, SIGKILL); /* on its way to _exit(127) anyway; and a read error proves nothing */
        while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
            ;
        snprintf(err, errlen, "cannot run %s: %s", s->argv[0],
                 n == (ssize_t)sizeof child_errno ? strerror(child_errno) : "exec failed");
        goto err;
    }
    fd_close(&report[0]);
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 before Linux 5.3; close-on-exec */
    p->in = in[1];
    p->out = out[0];
    p->err = errp[0];
    free(envp);
    free(path);
    return 0;

err:
    fd_close(&report[0]);
    fd_close(&report[1]);
    fd_close(&errp[0]);
    fd_close(&errp[1]);
    fd_close(&out[0]);
    fd_close(&out[1]);
    fd_close(&in[0]);
    fd_close(&in[1]);
    free(envp);
    free(path);
    return rv;
}

int proc_spawn(struct proc *p, const struct proc_spec *s, char *err, size_t errlen)
{
    return spawn(p, s, err, errlen) == 0 ? 0 : -1;
}

/* ---- exit, stop, reap ------------------------------------------------------ */

/* True once p's child has exited (a zombie still holding its pid and group
 * id, so the group can be signalled safely until it is reaped). */
static bool proc_exited(const struct proc *p)
{
    if (p->pidfd >= 0) {
        struct pollfd f = {.fd = p->pidfd, .events = POLLIN};
        return poll(&f, 1, 0) == 1;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
        return errno == ECHILD; /* reaped behind our back: nothing left to wait for */
    return si.si_pid == p->pid;
}

/* Waits up to ms for the child to exit. Returns whether it has. */
static bool proc_wait_exit(const struct proc *p, int64_t ms)
{
    if (p->pid <= 0)
        return true;
    int64_t end = wclock_mono_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        if (proc_exited(p))
            return true;
        int64_t now = wclock_mono_ms();
        if (now >= end)
            return false;
        if (p->pidfd >= 0) {
            struct pollfd f = {.fd = p->pidfd, .events = POLLIN};
            poll(&f, 1, poll_ms(end, now));
        } else {
            wclock_sleep_ms(min64(WAITPID_POLL_MS, end - now));
        }
    }
}

/* Signals p's process group. SIGKILL also goes to the child itself, in case
 * it left the group (no double SIGTERM: a handler may count them). */
static void proc_signal(const struct proc *p, int sig)
{
    if (kill(-p->pid, sig) == -1 || sig == SIGKILL)
        kill(p->pid, sig);
}

/* Reaps the child (which is dead or SIGKILLed) and makes p none. */
static int proc_finish(struct proc *p)
{
    int st = 0;
    while (waitpid(p->pid, &st, 0) == -1) {
        if (errno != EINTR) {
            st = PROC_STATUS_UNKNOWN; /* reaped by someone else: never report success */
            break;
        }
    }
    fd_close(&p->in);
    fd_close(&p->out);
    fd_close(&p->err);
    fd_close(&p->pidfd);
    *p = proc_none;
    return st;
}

/* A none proc (pid 0) owns no descriptor, whatever its fields say: a
 * zero-initialised one has 0 in each of them. */

void proc_stop(struct proc *p, int64_t grace_ms, int *status)
{
    int st = 0;
    if (p->pid > 0) {
        /* Pipes first: a child blocked on one is not kept waiting for the grace. */
        fd_close(&p->in);
        fd_close(&p->out);
        fd_close(&p->err);
        if (grace_ms > 0 && !proc_exited(p)) {
            proc_signal(p, SIGTERM);
            proc_wait_exit(p, grace_ms);
        }
        proc_signal(p, SIGKILL); /* the child if still there, and what it left in its group */
        st = proc_finish(p);
    }
    *p = proc_none;
    if (status)
        *status = st;
}

int proc_reap(struct proc *p, int *status)
{
    int st = 0;
    if (p->pid > 0) {
        if (!proc_exited(p))
            return -1;
        proc_signal(p, SIGKILL);
        st = proc_finish(p);
    }
    *p = proc_none;
    if (status)
        *status = st;
    return 0;
}

void proc_status_text(int status, char *buf, size_t len)
{
    if (status == PROC_STATUS_UNKNOWN) {
        snprintf(buf, len, "exit status unknown (the child was reaped elsewhere)");
    } else if (WIFEXITED(status)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *name = strsignal(WTERMSIG(status));
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), name ? name : "?");
    } else if (WIFSTOPPED(status)) {
        snprintf(buf, len, "stopped by signal %d", WSTOPSIG(status));
    } else {
        snprintf(buf, len, "wait status 0x%x", (unsigned)status);
    }
}

/* ---- exec: one process per job -------------------------------------------- */

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
    int started = spawn(&r.p, &spec, why, sizeof why);
    if (started != 0) {
        free(r.out);
        if (started == -2)
            return -1;
        tail_append(o, why, strlen(why));
        return 0;
    }
    if (r.in_len == 0)
        fd_close(&r.p.in);

    int64_t now = wclock_mono_ms();
    int64_t deadline = deadline_after(now, timeout_ms);
    int64_t next_abandon = now, drain_end = 0;
    bool exited = false;
    enum proc_end end;
    for (;;) {
        now = wclock_mono_ms();
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
            drain_end = min64(wclock_mono_ms() + DRAIN_MS, deadline);
        }
    }
    r.out[r.len] = '\0';
    o->end = end;
    o->out = r.out;
    o->out_len = r.len;
    return 0;
}

/* ---- serve: a coprocess answering one line per request -------------------- */

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
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->cap = COPROC_FIRST_CAP;
    if (spawn(&c->p, &spec, err, errlen) != 0) {
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
    int64_t now = wclock_mono_ms();
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
        now = wclock_mono_ms();
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
        int64_t now = wclock_mono_ms();
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
            now = wclock_mono_ms();
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
