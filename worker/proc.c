/* Child processes: spawn, stop and reap one in its own process group
 * (worker/proc.h). */
#include "worker/proc.h"

#include <errno.h>
#include <fcntl.h>
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

#include "common/defaults.h"
#include "worker/proc_poll.h"
#include "common/clock.h"

extern char **environ;

#define FALLBACK_FD_MAX 65536 /* highest fd closed one by one when close_range is missing */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin" /* searched when the worker has no PATH */

const struct proc proc_none = {0, -1, -1, -1, -1};

/* ---- small helpers --------------------------------------------------------- */

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

int proc_resolve(const char *cmd, char *err, size_t errlen)
{
    char *path = NULL;
    const char *dirs = getenv("PATH");
    int found = path_resolve(cmd, &path);
    int rv = -1;
    if (found == -2)
        snprintf(err, errlen, MSG_OUT_OF_MEMORY);
    else if (found == -1)
        snprintf(err, errlen, "no such command: %s (PATH=%s)", cmd, dirs ? dirs : "");
    else if (access(path, X_OK) != 0)
        snprintf(err, errlen, "cannot run %s: %s", path, strerror(errno));
    else
        rv = 0;
    free(path);
    return rv;
}

/* The contracts of proc_spawn_detail, proc_exited, proc_wait_exit,
 * proc_signal and proc_finish are in worker/proc.h. */
int proc_spawn_detail(struct proc *p, const struct proc_spec *s, char *err, size_t errlen)
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
        snprintf(err, errlen, MSG_OUT_OF_MEMORY);
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
    return proc_spawn_detail(p, s, err, errlen) == 0 ? 0 : -1;
}

/* ---- exit, stop, reap ------------------------------------------------------ */

bool proc_exited(const struct proc *p)
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

bool proc_wait_exit(const struct proc *p, int64_t ms)
{
    if (p->pid <= 0)
        return true;
    int64_t end = clock_mono_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        if (proc_exited(p))
            return true;
        int64_t now = clock_mono_ms();
        if (now >= end)
            return false;
        if (p->pidfd >= 0) {
            struct pollfd f = {.fd = p->pidfd, .events = POLLIN};
            poll(&f, 1, poll_ms(end, now));
        } else {
            clock_sleep_ms(min64(WAITPID_POLL_MS, end - now));
        }
    }
}

void proc_signal(const struct proc *p, int sig)
{
    if (kill(-p->pid, sig) == -1 || sig == SIGKILL)
        kill(p->pid, sig);
}

int proc_finish(struct proc *p)
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
