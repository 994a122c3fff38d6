/* Unit tests for worker/proc.c with real processes: exit statuses, stderr
 * tails, timeouts that take the whole process group down, oversized output,
 * large input, the environment, what a child inherits, the coprocess line
 * protocol, and that no descriptor or child is left behind on any path. */
#include "worker/coproc.h"
#include "worker/proc.h"
#include "worker/prun.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#define MIB (1024 * 1024)

/* Set once pidfd_open is made to fail (as on kernels before 5.3). */
static bool pidfd_blocked;

/* ---- helpers --------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Entries in /proc/self/fd (the directory's own descriptor included, the
 * same way each time). */
static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* This process has no child at all: neither running nor a zombie. */
static void assert_no_child(void)
{
    errno = 0;
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(pid == -1 && errno == ECHILD, "a child is left: waitpid(-1) = %ld (%s)",
                  (long)pid, strerror(errno));
}

/* Whether pid is gone within ms: no such process, or a zombie (an orphan
 * waiting for init, which may not reap promptly in a container). */
static bool pid_gone(pid_t pid, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        if (kill(pid, 0) == -1 && errno == ESRCH)
            return true;
        char path[64], stat[256] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(stat, 1, sizeof stat - 1, f);
            stat[n] = '\0';
            fclose(f);
            const char *paren = strrchr(stat, ')');
            if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
                return true;
        }
        if (now_ms() >= end)
            return false;
        sleep_ms(10);
    }
}

/* The first decimal number in s (a pid echoed by a script), or -1. */
static pid_t pid_in(const char *s)
{
    while (*s && (*s < '0' || *s > '9'))
        s++;
    return *s ? (pid_t)strtol(s, NULL, 10) : -1;
}

static void assert_none(const struct proc *p)
{
    ck_assert_int_eq(p->pid, 0);
    ck_assert_int_eq(p->pidfd, -1);
    ck_assert_int_eq(p->in, -1);
    ck_assert_int_eq(p->out, -1);
    ck_assert_int_eq(p->err, -1);
}

static void assert_status(int status, const char *want)
{
    char text[128];
    proc_status_text(status, text, sizeof text);
    ck_assert_str_eq(text, want);
}

/* Runs /bin/sh -c script with input. */
static void run_sh(const char *script, const char *input, size_t in_len, size_t max_out,
                   int64_t timeout_ms, int64_t grace_ms, struct proc_run_out *o)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    ck_assert_int_eq(proc_run(&s, input, in_len, max_out, timeout_ms, grace_ms, NULL, NULL, o), 0);
}

/* Deterministic bytes of every value (NULs and newlines included). */
static char *bytes_make(size_t n)
{
    char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (char)(x >> 56);
    }
    return b;
}

/* ---- proc_run ---------------------------------------------------------------- */

static void do_run_stdout_and_exit_zero(void)
{
    const char *argv[] = {"echo", "hello", "world", NULL}; /* found in PATH */
    const struct proc_spec s = {argv, NULL, false, NULL};
    struct proc_run_out o;
    ck_assert_int_eq(proc_run(&s, NULL, 0, 1000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_ptr_nonnull(o.out);
    ck_assert_str_eq(o.out, "hello world\n");
    ck_assert_uint_eq(o.out_len, 12);
    ck_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
    assert_status(o.status, "exit status 0");
    ck_assert_uint_eq(o.err_tail_len, 0);
    ck_assert_str_eq(o.err_tail, "");
    free(o.out);
}

static void do_run_exit_status_and_stderr_tail(void)
{
    /* 400 numbered lines of 10 bytes on stderr (4000 bytes), one on stdout, exit 3 */
    struct proc_run_out o;
    run_sh("i=0; while [ $i -lt 400 ]; do printf '%09d\\n' $i >&2; i=$((i+1)); done;"
           " echo out; exit 3",
           NULL, 0, 1000, 10000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert(WIFEXITED(o.status));
    ck_assert_int_eq(WEXITSTATUS(o.status), 3);
    assert_status(o.status, "exit status 3");
    ck_assert_str_eq(o.out, "out\n");
    char all[4001];
    for (int i = 0; i < 400; i++) {
        char line[32];
        snprintf(line, sizeof line, "%09d\n", i % 1000000000);
        memcpy(all + i * 10, line, 10);
    }
    all[4000] = '\0';
    ck_assert_uint_eq(o.err_tail_len, PROC_ERR_TAIL);
    ck_assert_uint_eq(strlen(o.err_tail), PROC_ERR_TAIL);
    ck_assert(memcmp(o.err_tail, all + 4000 - PROC_ERR_TAIL, PROC_ERR_TAIL) == 0);
    free(o.out);

    /* a short stderr is kept whole */
    run_sh("echo oops >&2; exit 1", NULL, 0, 1000, 10000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_str_eq(o.err_tail, "oops\n");
    ck_assert_uint_eq(o.err_tail_len, 5);
    assert_status(o.status, "exit status 1");
    ck_assert_str_eq(o.out, "");
    free(o.out);
}

static void do_run_killed_by_signal(void)
{
    struct proc_run_out o;
    run_sh("echo before; kill -SEGV $$; echo after", NULL, 0, 1000, 10000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert(WIFSIGNALED(o.status));
    ck_assert_int_eq(WTERMSIG(o.status), SIGSEGV);
    assert_status(o.status, "killed by signal 11 (Segmentation fault)");
    ck_assert_str_eq(o.out, "before\n");
    free(o.out);
}

static void do_run_timeout_stops_whole_group(void)
{
    struct proc_run_out o;
    int64_t t0 = now_ms();
    run_sh("sleep 30 & echo $! >&2; echo started; sleep 30", NULL, 0, 1000, 300, 300, &o);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(o.end, PROC_TIMEOUT);
    ck_assert_msg(took >= 290 && took < 3000, "a 300 ms timeout took %" PRId64 " ms", took);
    /* SIGTERM came first, and the shell died of it */
    ck_assert(WIFSIGNALED(o.status));
    ck_assert_int_eq(WTERMSIG(o.status), SIGTERM);
    ck_assert_str_eq(o.out, "started\n"); /* the output so far is the caller's */
    pid_t bg = pid_in(o.err_tail);
    ck_assert_int_gt(bg, 1);
    ck_assert_msg(pid_gone(bg, 2000), "background grandchild %ld survived", (long)bg);
    free(o.out);
}

static void do_run_sigkill_after_grace(void)
{
    /* the shell and its sleep (which inherits the ignored SIGTERM) outlive
     * SIGTERM: SIGKILL after the grace */
    struct proc_run_out o;
    int64_t t0 = now_ms();
    run_sh("trap '' TERM; sleep 30 & echo $! >&2; sleep 30", NULL, 0, 1000, 300, 400, &o);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(o.end, PROC_TIMEOUT);
    ck_assert_msg(took >= 680 && took < 3000, "timeout 300 + grace 400 took %" PRId64 " ms", took);
    ck_assert(WIFSIGNALED(o.status));
    ck_assert_int_eq(WTERMSIG(o.status), SIGKILL);
    assert_status(o.status, "killed by signal 9 (Killed)");
    pid_t bg = pid_in(o.err_tail);
    ck_assert_int_gt(bg, 1);
    ck_assert_msg(pid_gone(bg, 2000), "background grandchild %ld survived", (long)bg);
    free(o.out);
}

static void do_run_oversize_stops(void)
{
    const char *argv[] = {"yes", NULL}; /* endless output */
    const struct proc_spec s = {argv, NULL, false, NULL};
    struct proc_run_out o;
    int64_t t0 = now_ms();
    ck_assert_int_eq(proc_run(&s, NULL, 0, 1000, 10000, 500, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_OVERSIZE);
    ck_assert_msg(now_ms() - t0 < 2000, "took %" PRId64 " ms", now_ms() - t0);
    ck_assert_uint_eq(o.out_len, 1000); /* cut at max_out */
    ck_assert_uint_eq(strlen(o.out), 1000);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_int_eq(o.out[i], i % 2 ? '\n' : 'y');
    ck_assert(WIFSIGNALED(o.status));
    free(o.out);

    /* exactly max_out bytes is fine, one more is not */
    const char *head[] = {"head", "-c", "100000", "/dev/zero", NULL};
    const struct proc_spec h = {head, NULL, true, NULL};
    ck_assert_int_eq(proc_run(&h, NULL, 0, 100000, 10000, 500, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_uint_eq(o.out_len, 100000);
    for (size_t i = 0; i < 100000; i++)
        ck_assert_int_eq(o.out[i], 0);
    ck_assert_int_eq(o.out[100000], '\0');
    free(o.out);
    ck_assert_int_eq(proc_run(&h, NULL, 0, 99999, 10000, 500, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_OVERSIZE);
    ck_assert_uint_eq(o.out_len, 99999);
    free(o.out);

    /* max_out 0: any byte is too many */
    ck_assert_int_eq(proc_run(&h, NULL, 0, 0, 10000, 500, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_OVERSIZE);
    ck_assert_uint_eq(o.out_len, 0);
    ck_assert_str_eq(o.out, "");
    free(o.out);
}

static void do_run_large_input_round_trips(void)
{
    /* 1 MiB through cat: both pipes fill up, so writing and reading must interleave */
    size_t n = MIB;
    char *in = bytes_make(n);
    const char *argv[] = {"cat", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    struct proc_run_out o;
    int64_t t0 = now_ms();
    ck_assert_int_eq(proc_run(&s, in, n, 2 * MIB, 20000, 500, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    assert_status(o.status, "exit status 0");
    ck_assert_uint_eq(o.out_len, n);
    ck_assert(memcmp(o.out, in, n) == 0);
    fprintf(stderr, "proc_run: 1 MiB through cat in %" PRId64 " ms\n", now_ms() - t0);
    free(o.out);
    free(in);
}

static void do_run_child_not_reading_stdin(void)
{
    size_t n = MIB;
    char *in = bytes_make(n);
    struct proc_run_out o;
    int64_t t0 = now_ms();
    run_sh("sleep 0.1; echo done", in, n, 1000, 10000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_str_eq(o.out, "done\n");
    assert_status(o.status, "exit status 0");
    free(o.out);
    const char *argv[] = {"true", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    ck_assert_int_eq(proc_run(&s, in, n, 1000, 10000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    assert_status(o.status, "exit status 0");
    ck_assert_uint_eq(o.out_len, 0);
    free(o.out);
    /* and one that reads a little, then exits */
    run_sh("head -c 10 >/dev/null; exit 4", in, n, 1000, 10000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    assert_status(o.status, "exit status 4");
    free(o.out);
    ck_assert_msg(now_ms() - t0 < 5000, "took %" PRId64 " ms", now_ms() - t0);
    free(in);
}

static void do_run_no_such_command(void)
{
    const char *argv[] = {"offload-no-such-command", "x", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    struct proc_run_out o;
    ck_assert_int_eq(proc_run(&s, "in", 2, 1000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_NOSTART);
    ck_assert_ptr_null(o.out);
    ck_assert_str_eq(o.err_tail, "no such command: offload-no-such-command");
    ck_assert_uint_eq(o.err_tail_len, strlen(o.err_tail));

    struct proc p;
    char err[256] = "";
    ck_assert_int_eq(proc_spawn(&p, &s, err, sizeof err), -1);
    ck_assert_str_eq(err, "no such command: offload-no-such-command");
    assert_none(&p);

    /* with a '/', execve itself fails after the fork: reported through the pipe, child reaped */
    const char *missing[] = {"/nonexistent/offload-cmd", NULL};
    const struct proc_spec m = {missing, NULL, false, NULL};
    ck_assert_int_eq(proc_spawn(&p, &m, err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot run /nonexistent/offload-cmd: No such file or directory");
    assert_none(&p);
    const char *noexec[] = {"/etc/passwd", NULL};
    const struct proc_spec x = {noexec, NULL, true, NULL};
    ck_assert_int_eq(proc_spawn(&p, &x, err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot run /etc/passwd: Permission denied");
    ck_assert_int_eq(proc_run(&x, NULL, 0, 10, 1000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_NOSTART);
    ck_assert_str_eq(o.err_tail, "cannot run /etc/passwd: Permission denied");

    const char *empty[] = {NULL};
    const struct proc_spec e = {empty, NULL, false, NULL};
    ck_assert_int_eq(proc_spawn(&p, &e, err, sizeof err), -1);
    const char *bad_env[] = {"NO_EQUALS_SIGN", NULL};
    const char *tru[] = {"true", NULL};
    const struct proc_spec b = {tru, bad_env, false, NULL};
    ck_assert_int_eq(proc_spawn(&p, &b, err, sizeof err), -1);
    ck_assert_str_eq(err, "bad environment entry: NO_EQUALS_SIGN");
    assert_none(&p);
}

/* Records when it is asked; says "abandon" once asked after `after_ms`. */
struct abandon_probe {
    int64_t first, last, max_gap, after_ms;
    int calls;
};

static bool abandon_after(void *arg)
{
    struct abandon_probe *a = arg;
    int64_t t = now_ms();
    if (a->calls++ == 0)
        a->first = t;
    else if (t - a->last > a->max_gap)
        a->max_gap = t - a->last;
    a->last = t;
    return t - a->first >= a->after_ms;
}

static void do_run_abandon(void)
{
    const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    struct abandon_probe a = {.after_ms = 300};
    struct proc_run_out o;
    int64_t t0 = now_ms();
    ck_assert_int_eq(proc_run(&s, NULL, 0, 1000, 30000, 5000, abandon_after, &a, &o), 0);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(o.end, PROC_ABANDONED);
    /* SIGKILL at once: no 5 s grace, and SIGTERM being ignored does not matter */
    ck_assert_msg(took >= 290 && took < 1500, "took %" PRId64 " ms", took);
    assert_status(o.status, "killed by signal 9 (Killed)");
    ck_assert_int_ge(a.calls, 3);
    ck_assert_msg(a.max_gap <= 200, "abandon() asked %" PRId64 " ms apart", a.max_gap);
    free(o.out);
}

static void do_run_env_extra(void)
{
    ck_assert_int_eq(setenv("OFFLOAD_T_OVR", "old", 1), 0);
    ck_assert_int_eq(setenv("OFFLOAD_T_KEEP", "kept", 1), 0);
    const char *argv[] = {"env", NULL};
    const char *extra[] = {"OFFLOAD_T_OVR=new", "OFFLOAD_T_NEW=a b=c", "OFFLOAD_T_TWICE=1",
                           "OFFLOAD_T_TWICE=2", NULL};
    const struct proc_spec s = {argv, extra, true, NULL};
    struct proc_run_out o;
    ck_assert_int_eq(proc_run(&s, NULL, 0, 100000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    char *all = malloc(o.out_len + 2);
    ck_assert_ptr_nonnull(all);
    all[0] = '\n';
    memcpy(all + 1, o.out, o.out_len + 1);
    ck_assert_ptr_nonnull(strstr(all, "\nOFFLOAD_T_OVR=new\n"));
    ck_assert_ptr_null(strstr(strstr(all, "\nOFFLOAD_T_OVR=new\n") + 1, "\nOFFLOAD_T_OVR="));
    ck_assert_ptr_null(strstr(all, "\nOFFLOAD_T_OVR=old"));
    ck_assert_ptr_nonnull(strstr(all, "\nOFFLOAD_T_NEW=a b=c\n"));
    ck_assert_ptr_nonnull(strstr(all, "\nOFFLOAD_T_KEEP=kept\n"));
    ck_assert_ptr_nonnull(strstr(all, "\nOFFLOAD_T_TWICE=2\n"));
    ck_assert_ptr_null(strstr(all, "\nOFFLOAD_T_TWICE=1\n"));
    free(all);
    free(o.out);

    /* a script sees them as variables */
    const char *sh[] = {"/bin/sh", "-c", "printf '%s|%s|%s' \"$OFFLOAD_T_OVR\" \"$OFFLOAD_T_NEW\" "
                        "\"$OFFLOAD_T_KEEP\"", NULL};
    const struct proc_spec t = {sh, extra, true, NULL};
    ck_assert_int_eq(proc_run(&t, NULL, 0, 1000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_str_eq(o.out, "new|a b=c|kept");
    free(o.out);
    /* names and families dropped: the worker's secrets stay with it */
    ck_assert_int_eq(setenv("OFFLOAD_T_SECRET", "pw", 1), 0);
    ck_assert_int_eq(setenv("OFFLOADX_FAMILY", "f", 1), 0);
    const char *drop[] = {"OFFLOAD_T_SECRET", "OFFLOADX_*", "OFFLOAD_T_KEE", NULL};
    const struct proc_spec d = {argv, NULL, true, drop};
    ck_assert_int_eq(proc_run(&d, NULL, 0, 100000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_ptr_null(strstr(o.out, "OFFLOAD_T_SECRET"));
    ck_assert_ptr_null(strstr(o.out, "OFFLOADX_FAMILY"));
    ck_assert_ptr_nonnull(strstr(o.out, "OFFLOAD_T_KEEP=kept")); /* a name, not a prefix */
    free(o.out);
    unsetenv("OFFLOAD_T_SECRET");
    unsetenv("OFFLOADX_FAMILY");
    /* the worker's own environment is untouched */
    ck_assert_str_eq(getenv("OFFLOAD_T_OVR"), "old");
    ck_assert_ptr_null(getenv("OFFLOAD_T_NEW"));
    unsetenv("OFFLOAD_T_OVR");
    unsetenv("OFFLOAD_T_KEEP");
}

static void do_run_input_not_interpreted(void)
{
    char mark[64], input[512];
    snprintf(mark, sizeof mark, "/tmp/offload-proc-injected-%ld", (long)getpid());
    unlink(mark);
    snprintf(input, sizeof input,
             "$(touch %s) `touch %s`; touch %s | touch %s && touch %s\n'\"\\* $HOME ${PATH}\n",
             mark, mark, mark, mark, mark);
    size_t n = strlen(input);
    const char *cat[] = {"cat", NULL};
    const struct proc_spec s = {cat, NULL, true, NULL};
    struct proc_run_out o;
    ck_assert_int_eq(proc_run(&s, input, n, 10000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_uint_eq(o.out_len, n);
    ck_assert_str_eq(o.out, input);
    free(o.out);
    /* and as an argument */
    const char *printf_argv[] = {"printf", "%s", input, NULL};
    const struct proc_spec p = {printf_argv, NULL, true, NULL};
    ck_assert_int_eq(proc_run(&p, NULL, 0, 10000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_str_eq(o.out, input);
    free(o.out);
    ck_assert_msg(access(mark, F_OK) == -1, "%s was created", mark);
}

/* The descriptors pid has open, ascending, as "0 1 2 ". Returns 0 or -1. */
static int child_fds(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    bool seen[1024] = {false};
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 1024)
            seen[fd] = true;
    }
    closedir(d);
    size_t used = 0;
    buf[0] = '\0';
    for (int fd = 0; fd < 1024 && used < len; fd++)
        if (seen[fd])
            used += (size_t)snprintf(buf + used, len - used, "%d ", fd);
    return 0;
}

static void do_run_child_state_is_clean(void)
{
    /* the worker blocks and ignores signals, and has an inheritable descriptor */
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr2;
    ck_assert_int_eq(sigaction(SIGUSR2, &ign, &old_usr2), 0);
    int fd77 = dup2(STDIN_FILENO, 77);
    ck_assert_int_eq(fd77, 77);

    const char *cat[] = {"cat", "/proc/self/status", NULL};
    const struct proc_spec s = {cat, NULL, true, NULL};
    struct proc_run_out o;
    ck_assert_int_eq(proc_run(&s, NULL, 0, 100000, 5000, 100, NULL, NULL, &o), 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_ptr_nonnull(strstr(o.out, "\nSigBlk:\t0000000000000000\n"));
    const char *sig_ign = strstr(o.out, "\nSigIgn:");
    ck_assert_msg(strstr(o.out, "\nSigIgn:\t0000000000000000\n"), "child's %.26s", sig_ign ? sig_ign + 1 : "(none)");
    free(o.out);

    /* descriptors 0-2 only (looked at from outside: a shell listing its own
     * has pipes of its own open), in a process group of its own */
    const char *sleeper[] = {"sleep", "30", NULL};
    const struct proc_spec t = {sleeper, NULL, true, NULL};
    struct proc p;
    char err[256], fds[64] = "";
    ck_assert_int_eq(proc_spawn(&p, &t, err, sizeof err), 0);
    ck_assert_int_eq(getpgid(p.pid), p.pid);
    for (int64_t end = now_ms() + 2000; now_ms() < end; sleep_ms(5)) {
        ck_assert_int_eq(child_fds(p.pid, fds, sizeof fds), 0);
        if (strcmp(fds, "0 1 2 ") == 0)
            break; /* the exec closes close-on-exec descriptors one by one */
    }
    proc_stop(&p, 0, NULL);
    ck_assert_str_eq(fds, "0 1 2 ");
    /* SIGPIPE is back to its default: a writer to a closed pipe dies of it */
    run_sh("kill -PIPE $$; echo survived", NULL, 0, 1000, 5000, 100, &o);
    assert_status(o.status, "killed by signal 13 (Broken pipe)");
    free(o.out);

    close(fd77);
    sigaction(SIGUSR2, &old_usr2, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void do_run_with_std_fds_closed(void)
{
    /* a worker started with 0-2 closed gets its pipes there: still right */
    int saved[3];
    for (int i = 0; i < 3; i++) {
        saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
        ck_assert_int_ge(saved[i], 0);
    }
    for (int i = 0; i < 3; i++)
        close(i);
    const char *argv[] = {"/bin/sh", "-c", "cat; echo err >&2; exit 2", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    struct proc_run_out o;
    int rv = proc_run(&s, "abc", 3, 100, 5000, 100, NULL, NULL, &o);
    int left_open = 0;
    for (int i = 0; i < 3; i++)
        left_open += fcntl(i, F_GETFD) != -1;
    for (int i = 0; i < 3; i++) {
        dup2(saved[i], i);
        close(saved[i]);
    }
    ck_assert_int_eq(rv, 0);
    ck_assert_int_eq(left_open, 0);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_str_eq(o.out, "abc");
    ck_assert_str_eq(o.err_tail, "err\n");
    assert_status(o.status, "exit status 2");
    free(o.out);
}

static void do_run_exit_kills_leftovers(void)
{
    /* the background sleep keeps stdout and stderr open: it is killed when the
     * shell exits, so the run ends at once */
    struct proc_run_out o;
    int64_t t0 = now_ms();
    run_sh("sleep 30 & echo $! >&2; echo done", NULL, 0, 1000, 20000, 100, &o);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_msg(now_ms() - t0 < 2000, "took %" PRId64 " ms", now_ms() - t0);
    ck_assert_str_eq(o.out, "done\n");
    assert_status(o.status, "exit status 0");
    pid_t bg = pid_in(o.err_tail);
    ck_assert_int_gt(bg, 1);
    ck_assert_msg(pid_gone(bg, 2000), "background child %ld survived", (long)bg);
    free(o.out);
}

static void do_run_escapee_does_not_hold_the_run(void)
{
    /* a grandchild that left the group (setsid) keeps the pipes open: the
     * drain after the exit is bounded */
    struct proc_run_out o;
    int64_t t0 = now_ms();
    run_sh("setsid sleep 30 & echo $! >&2;"
           " while [ \"$(ps -o sid= -p $! | tr -d ' ')\" != $! ]; do sleep 0.01; done; echo done",
           NULL, 0, 1000, 20000, 100, &o);
    int64_t took = now_ms() - t0;
    pid_t esc = pid_in(o.err_tail);
    ck_assert_int_gt(esc, 1);
    ck_assert_msg(kill(esc, 0) == 0, "the escapee should still run (it left the group)");
    kill(esc, SIGKILL);
    ck_assert_int_eq(o.end, PROC_EXITED);
    ck_assert_msg(took < 2000, "took %" PRId64 " ms", took);
    ck_assert_str_eq(o.out, "done\n");
    assert_status(o.status, "exit status 0");
    free(o.out);
}

/* ---- proc_spawn / proc_stop / proc_reap / proc_status_text --------------- */

static bool wait_readable(int fd, int ms)
{
    struct pollfd f = {.fd = fd, .events = POLLIN};
    return poll(&f, 1, ms) == 1;
}

/* Waits up to ms for p's child to exit, without reaping it. */
static bool wait_exited(const struct proc *p, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == p->pid)
            return true;
        if (now_ms() >= end)
            return false;
        sleep_ms(5);
    }
}

static void do_spawn_stop_reap(void)
{
    const char *sleeper[] = {"sleep", "30", NULL};
    const struct proc_spec s = {sleeper, NULL, true, NULL};
    struct proc p;
    char err[256];
    ck_assert_int_eq(proc_spawn(&p, &s, err, sizeof err), 0);
    ck_assert_int_gt(p.pid, 0);
    ck_assert_int_eq(getpgid(p.pid), p.pid);
    ck_assert_int_ge(p.in, 0);
    ck_assert_int_ge(p.out, 0);
    ck_assert_int_ge(p.err, 0);
    if (pidfd_blocked)
        ck_assert_int_eq(p.pidfd, -1); /* then exits are polled for */
    else
        ck_assert_int_ge(p.pidfd, 0); /* Linux 5.3+ */
    int fds[] = {p.in, p.out, p.err};
    for (int i = 0; i < 3; i++) {
        ck_assert(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
    }
    int st = -1;
    ck_assert_int_eq(proc_reap(&p, &st), -1); /* still running: nothing done */
    ck_assert_int_eq(st, -1);
    ck_assert_int_eq(kill(p.pid, 0), 0);
    int64_t t0 = now_ms();
    proc_stop(&p, 2000, &st); /* sleep dies of SIGTERM: no need to wait the grace */
    ck_assert_msg(now_ms() - t0 < 1000, "took %" PRId64 " ms", now_ms() - t0);
    assert_status(st, "killed by signal 15 (Terminated)");
    assert_none(&p);
    proc_stop(&p, 100, &st); /* on none: nothing */
    ck_assert_int_eq(st, 0);

    /* grace 0: SIGKILL at once */
    ck_assert_int_eq(proc_spawn(&p, &s, err, sizeof err), 0);
    proc_stop(&p, 0, &st);
    assert_status(st, "killed by signal 9 (Killed)");
    assert_none(&p);

    /* proc_stop bounds a child that ignores SIGTERM to the grace */
    const char *stubborn[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30", NULL};
    const struct proc_spec b = {stubborn, NULL, false, NULL};
    ck_assert_int_eq(proc_spawn(&p, &b, err, sizeof err), 0);
    ck_assert_int_eq(p.err, -1); /* stderr inherited */
    ck_assert(wait_readable(p.out, 5000)); /* the trap is set */
    t0 = now_ms();
    proc_stop(&p, 300, &st);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 290 && took < 2000, "grace 300 took %" PRId64 " ms", took);
    assert_status(st, "killed by signal 9 (Killed)");

    /* an exited child: proc_reap gives its status */
    const char *quick[] = {"/bin/sh", "-c", "exit 5", NULL};
    const struct proc_spec q = {quick, NULL, true, NULL};
    ck_assert_int_eq(proc_spawn(&p, &q, err, sizeof err), 0);
    ck_assert(wait_exited(&p, 5000));
    ck_assert_int_eq(proc_reap(&p, &st), 0);
    assert_status(st, "exit status 5");
    assert_none(&p);
    ck_assert_int_eq(proc_reap(&p, &st), 0); /* none: nothing to do */

    /* proc_stop on an exited child does not wait for the grace */
    ck_assert_int_eq(proc_spawn(&p, &q, err, sizeof err), 0);
    ck_assert(wait_exited(&p, 5000));
    t0 = now_ms();
    proc_stop(&p, 5000, &st);
    ck_assert_msg(now_ms() - t0 < 500, "took %" PRId64 " ms", now_ms() - t0);
    assert_status(st, "exit status 5");
}

static void do_zero_initialised_is_none(void)
{
    /* a zero-initialised proc or coproc has 0 in its descriptor fields:
     * stopping it must not close the worker's stdin */
    int opened = -1;
    if (fcntl(STDIN_FILENO, F_GETFD) == -1) {
        opened = open("/dev/null", O_RDONLY);
        ck_assert_int_eq(opened, STDIN_FILENO);
    }
    struct proc p;
    int st = -1;
    memset(&p, 0, sizeof p);
    proc_stop(&p, 100, &st);
    ck_assert_int_eq(st, 0);
    assert_none(&p);
    memset(&p, 0, sizeof p);
    st = -1;
    ck_assert_int_eq(proc_reap(&p, &st), 0);
    ck_assert_int_eq(st, 0);
    struct coproc c;
    memset(&c, 0, sizeof c);
    ck_assert(!coproc_running(&c));
    const char *line;
    size_t len;
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 10, 100, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    memset(&c, 0, sizeof c);
    coproc_stop(&c, 100);
    ck_assert_int_ne(fcntl(STDIN_FILENO, F_GETFD), -1);
    if (opened == STDIN_FILENO)
        close(STDIN_FILENO);
}

static void do_status_texts(void)
{
    assert_status(0, "exit status 0");
    assert_status(3 << 8, "exit status 3");
    assert_status(255 << 8, "exit status 255");
    assert_status(SIGKILL, "killed by signal 9 (Killed)");
    assert_status(SIGTERM, "killed by signal 15 (Terminated)");
    assert_status(SIGSEGV | 0x80, "killed by signal 11 (Segmentation fault)"); /* core dumped */
    char small[8];
    proc_status_text(SIGKILL, small, sizeof small); /* truncated, terminated */
    ck_assert_str_eq(small, "killed ");
}

static void do_child_dies_with_its_parent(void)
{
    /* an intermediate process spawns `sleep 30` and exits without stopping
     * it: PR_SET_PDEATHSIG kills the sleep */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        close(pfd[0]);
        const char *argv[] = {"sleep", "30", NULL};
        const struct proc_spec s = {argv, NULL, false, NULL};
        struct proc p;
        char err[256];
        pid_t pid = proc_spawn(&p, &s, err, sizeof err) == 0 ? p.pid : -1;
        if (write(pfd[1], &pid, sizeof pid) != sizeof pid)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    pid_t sleeper = -1;
    ck_assert_int_eq(read(pfd[0], &sleeper, sizeof sleeper), sizeof sleeper);
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(mid, &st, 0), mid);
    ck_assert_int_gt(sleeper, 0);
    ck_assert_msg(pid_gone(sleeper, 3000), "sleep %ld outlived its parent", (long)sleeper);
}

/* Several threads run commands at once: no child may hold another's pipe
 * (cat would then never see EOF on its stdin). */
static void *thread_runs(void *arg)
{
    int id = (int)(intptr_t)arg;
    const char *argv[] = {"cat", NULL};
    const struct proc_spec s = {argv, NULL, true, NULL};
    for (int i = 0; i < 25; i++) {
        char in[64];
        int n = snprintf(in, sizeof in, "thread %d run %d\n", id, i);
        struct proc_run_out o;
        if (proc_run(&s, in, (size_t)n, 1000, 10000, 100, NULL, NULL, &o) != 0)
            return (void *)1;
        bool ok = o.end == PROC_EXITED && o.status == 0 && o.out_len == (size_t)n &&
                  memcmp(o.out, in, (size_t)n) == 0;
        free(o.out);
        if (!ok)
            return (void *)2;
    }
    return NULL;
}

static void do_concurrent_runs(void)
{
    pthread_t t[4];
    int64_t t0 = now_ms();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_runs, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++) {
        void *rv;
        ck_assert_int_eq(pthread_join(t[i], &rv), 0);
        ck_assert_msg(rv == NULL, "thread %d failed (%ld)", i, (long)(intptr_t)rv);
    }
    ck_assert_msg(now_ms() - t0 < 20000, "took %" PRId64 " ms", now_ms() - t0);
}

/* ---- coprocesses ------------------------------------------------------------- */

static void coproc_start_sh(struct coproc *c, const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    const struct proc_spec s = {argv, NULL, true, NULL}; /* capture_stderr is ignored: inherited */
    char err[256];
    ck_assert_int_eq(coproc_start(c, &s, err, sizeof err), 0);
    ck_assert(coproc_running(c));
    ck_assert_int_eq(c->p.err, -1);
}

/* One call with a 5 s timeout that must answer `want`. */
static void call_expect(struct coproc *c, const char *req, const char *want)
{
    const char *line;
    size_t len;
    int st;
    enum coproc_rv rv = coproc_call(c, req, strlen(req), 1000, 5000, 100, NULL, NULL, &line,
                                    &len, &st);
    ck_assert_int_eq(rv, COPROC_OK);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(line, want, len) == 0);
}

static void do_coproc_echo_many(void)
{
    const char *argv[] = {"cat", NULL};
    const struct proc_spec s = {argv, NULL, false, NULL};
    struct coproc c;
    char err[256];
    ck_assert_int_eq(coproc_start(&c, &s, err, sizeof err), 0);
    call_expect(&c, "warm-up\n", "warm-up");
    const char *buf = c.buf;
    size_t cap = c.cap;
    enum { CALLS = 10000 };
    int64_t t0 = now_ms();
    for (int i = 0; i < CALLS; i++) {
        char req[64], want[64];
        int n = snprintf(req, sizeof req, "request %d {\"n\":%d}\n", i, i);
        memcpy(want, req, (size_t)n - 1);
        want[n - 1] = '\0';
        const char *line;
        size_t len;
        enum coproc_rv rv = coproc_call(&c, req, (size_t)n, 1000, 5000, 100, NULL, NULL, &line,
                                        &len, NULL);
        if (rv != COPROC_OK || len != (size_t)n - 1 || memcmp(line, want, len) != 0)
            ck_abort_msg("call %d: rv %d, line \"%.*s\"", i, rv, (int)len, line ? line : "");
    }
    int64_t took = now_ms() - t0;
    fprintf(stderr, "coproc_call: %d calls through cat in %" PRId64 " ms (%.0f calls/s)\n", CALLS,
            took, took > 0 ? CALLS * 1000.0 / (double)took : 0.0);
    /* the steady state allocates nothing */
    ck_assert_ptr_eq(c.buf, buf);
    ck_assert_uint_eq(c.cap, cap);
    int64_t t1 = now_ms();
    coproc_stop(&c, 5000); /* cat exits on stdin EOF: no need to wait the grace */
    ck_assert_msg(now_ms() - t1 < 1000, "coproc_stop took %" PRId64 " ms", now_ms() - t1);
    ck_assert(!coproc_running(&c));
    ck_assert_ptr_null(c.buf);
    assert_none(&c.p);
    coproc_stop(&c, 100); /* safe on a stopped one */
}

static void do_coproc_split_answer(void)
{
    struct coproc c;
    coproc_start_sh(&c, "while read -r l; do printf 'ans'; sleep 0.05; printf 'wer-%s' \"$l\";"
                        " sleep 0.05; printf '\\n'; done");
    call_expect(&c, "one\n", "answer-one");
    call_expect(&c, "two\n", "answer-two");
    coproc_stop(&c, 1000);
}

static void do_coproc_two_answers_one_write(void)
{
    struct coproc c;
    coproc_start_sh(&c, "read -r a; printf 'first\\nsecond\\nthi'; read -r b; read -r c;"
                        " printf 'rd\\n'; cat");
    call_expect(&c, "a\n", "first");
    int64_t t0 = now_ms();
    call_expect(&c, "b\n", "second"); /* already buffered */
    ck_assert_msg(now_ms() - t0 < 1000, "took %" PRId64 " ms", now_ms() - t0);
    call_expect(&c, "c\n", "third"); /* a line begun in the earlier write */
    call_expect(&c, "d\n", "d");
    call_expect(&c, "\n", ""); /* an empty answer line */
    coproc_stop(&c, 1000);
}

static void do_coproc_died_mid_call(void)
{
    struct coproc c;
    const char *line;
    size_t len;
    int st = -1;
    coproc_start_sh(&c, "read -r l; exit 7");
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    assert_status(st, "exit status 7");
    ck_assert(!coproc_running(&c));
    assert_none(&c.p);
    ck_assert_ptr_null(line);
    /* a call on the dead one says so at once */
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    coproc_stop(&c, 100);

    /* a partial line is not an answer */
    coproc_start_sh(&c, "read -r l; printf 'partial'; exit 5");
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    assert_status(st, "exit status 5");
    ck_assert_ptr_null(c.buf);
    ck_assert_uint_eq(c.len, 0);
    coproc_stop(&c, 100);

    /* killed while the request waits */
    coproc_start_sh(&c, "read -r l; kill -KILL $$");
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    assert_status(st, "killed by signal 9 (Killed)");

    /* an answer written just before exiting still counts; the next call finds it gone */
    coproc_start_sh(&c, "read -r l; echo last; exit 3");
    call_expect(&c, "x\n", "last");
    ck_assert_int_eq(coproc_call(&c, "y\n", 2, 1000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    assert_status(st, "exit status 3");

    /* exited, but a background child holds its stdout: the exit is what counts */
    coproc_start_sh(&c, "read -r l; sleep 30 & exit 4");
    int64_t t0 = now_ms();
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 10000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_DIED);
    ck_assert_msg(now_ms() - t0 < 1000, "took %" PRId64 " ms", now_ms() - t0);
    assert_status(st, "exit status 4");

    /* died while idle: proc_reap (as the worker checks between jobs) */
    coproc_start_sh(&c, "exit 9");
    ck_assert(wait_exited(&c.p, 5000));
    ck_assert_int_eq(proc_reap(&c.p, &st), 0);
    assert_status(st, "exit status 9");
    ck_assert(!coproc_running(&c));
    coproc_stop(&c, 100); /* frees the buffer */
    ck_assert_ptr_null(c.buf);
}

static void do_coproc_timeouts(void)
{
    struct coproc c;
    const char *line;
    size_t len;
    int st;
    /* reads the request, never answers */
    coproc_start_sh(&c, "read -r l; sleep 30");
    int64_t t0 = now_ms();
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 200, 300, NULL, NULL, &line, &len, &st),
                     COPROC_TIMEOUT);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 190 && took < 1500, "took %" PRId64 " ms", took);
    assert_status(st, "killed by signal 15 (Terminated)");
    ck_assert(!coproc_running(&c));
    coproc_stop(&c, 100);

    /* answers half a line, then nothing */
    coproc_start_sh(&c, "read -r l; printf 'half'; sleep 30");
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 200, 300, NULL, NULL, &line, &len, &st),
                     COPROC_TIMEOUT);
    coproc_stop(&c, 100);

    /* never reads: a 1 MiB request cannot be written */
    char *big = bytes_make(MIB);
    for (size_t i = 0; i < MIB; i++)
        if (big[i] == '\n')
            big[i] = ' ';
    big[MIB - 1] = '\n';
    coproc_start_sh(&c, "trap '' TERM; sleep 30");
    t0 = now_ms();
    ck_assert_int_eq(coproc_call(&c, big, MIB, 1000, 300, 200, NULL, NULL, &line, &len, &st),
                     COPROC_TIMEOUT);
    took = now_ms() - t0;
    ck_assert_msg(took >= 490 && took < 2000, "timeout 300 + grace 200 took %" PRId64 " ms", took);
    assert_status(st, "killed by signal 9 (Killed)");
    coproc_stop(&c, 100);

    /* a 1 MiB request to one that reads it all goes through */
    coproc_start_sh(&c, "head -c 1048576 | wc -c; cat");
    ck_assert_int_eq(coproc_call(&c, big, MIB, 1000, 10000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_OK);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(line, "1048576", 7) == 0);
    call_expect(&c, "next\n", "next");
    coproc_stop(&c, 1000);
    free(big);
}

static void do_coproc_oversize(void)
{
    struct coproc c;
    const char *line;
    size_t len;
    int st;
    /* a line of exactly max_line bytes is fine, one more is not */
    coproc_start_sh(&c, "while read -r n; do head -c $n /dev/zero | tr '\\0' x; echo; done");
    ck_assert_int_eq(coproc_call(&c, "10000\n", 6, 10000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_OK);
    ck_assert_uint_eq(len, 10000);
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq(line[i], 'x');
    ck_assert_int_eq(coproc_call(&c, "10001\n", 6, 10000, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_OVERSIZE);
    ck_assert(!coproc_running(&c));
    ck_assert_ptr_null(c.buf);
    coproc_stop(&c, 100);

    /* endless bytes without a newline: oversize at once, not a timeout */
    coproc_start_sh(&c, "read -r l; exec yes | tr -d '\\n'");
    int64_t t0 = now_ms();
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 1000, 10000, 200, NULL, NULL, &line, &len, &st),
                     COPROC_OVERSIZE);
    ck_assert_msg(now_ms() - t0 < 1000, "took %" PRId64 " ms", now_ms() - t0);
    coproc_stop(&c, 100);

    /* a long line whose newline comes in the same read */
    coproc_start_sh(&c, "read -r l; printf '%0200d\\nok\\n' 0");
    ck_assert_int_eq(coproc_call(&c, "x\n", 2, 100, 5000, 100, NULL, NULL, &line, &len, &st),
                     COPROC_OVERSIZE);
    coproc_stop(&c, 100);
}

static void do_coproc_abandon(void)
{
    struct coproc c;
    const char *line;
    size_t len;
    int st;
    coproc_start_sh(&c, "trap '' TERM; read -r l; sleep 30");
    struct abandon_probe a = {.after_ms = 200};
    int64_t t0 = now_ms();
    ck_assert_int_eq(
        coproc_call(&c, "x\n", 2, 1000, 30000, 5000, abandon_after, &a, &line, &len, &st),
        COPROC_ABANDONED);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 190 && took < 1500, "took %" PRId64 " ms", took);
    assert_status(st, "killed by signal 9 (Killed)");
    ck_assert_msg(a.max_gap <= 200, "abandon() asked %" PRId64 " ms apart", a.max_gap);
    ck_assert(!coproc_running(&c));
    coproc_stop(&c, 100);
}

static void do_coproc_stop_and_start_errors(void)
{
    /* one that ignores stdin EOF (and SIGTERM) is killed after the grace */
    struct coproc c;
    coproc_start_sh(&c, "trap '' TERM; exec sleep 30");
    int64_t t0 = now_ms();
    coproc_stop(&c, 300);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 290 && took < 1500, "took %" PRId64 " ms", took);
    ck_assert(!coproc_running(&c));

    /* one that prints a lot on its way out is not blocked by a full pipe */
    coproc_start_sh(&c, "cat >/dev/null; head -c 1000000 /dev/zero; exit 0");
    t0 = now_ms();
    coproc_stop(&c, 5000);
    ck_assert_msg(now_ms() - t0 < 2000, "took %" PRId64 " ms", now_ms() - t0);

    const char *argv[] = {"offload-no-such-command", NULL};
    const struct proc_spec s = {argv, NULL, false, NULL};
    char err[256];
    ck_assert_int_eq(coproc_start(&c, &s, err, sizeof err), -1);
    ck_assert_str_eq(err, "no such command: offload-no-such-command");
    ck_assert(!coproc_running(&c));
    ck_assert_ptr_null(c.buf);
    coproc_stop(&c, 100);
}

/* ---- the suite ----------------------------------------------------------------- */

#define SCENARIOS(X) \
    X(run_stdout_and_exit_zero) \
    X(run_exit_status_and_stderr_tail) \
    X(run_killed_by_signal) \
    X(run_timeout_stops_whole_group) \
    X(run_sigkill_after_grace) \
    X(run_oversize_stops) \
    X(run_large_input_round_trips) \
    X(run_child_not_reading_stdin) \
    X(run_no_such_command) \
    X(run_abandon) \
    X(run_env_extra) \
    X(run_input_not_interpreted) \
    X(run_child_state_is_clean) \
    X(run_with_std_fds_closed) \
    X(run_exit_kills_leftovers) \
    X(run_escapee_does_not_hold_the_run) \
    X(spawn_stop_reap) \
    X(zero_initialised_is_none) \
    X(status_texts) \
    X(child_dies_with_its_parent) \
    X(concurrent_runs) \
    X(coproc_echo_many) \
    X(coproc_split_answer) \
    X(coproc_two_answers_one_write) \
    X(coproc_died_mid_call) \
    X(coproc_timeouts) \
    X(coproc_oversize) \
    X(coproc_abandon) \
    X(coproc_stop_and_start_errors)

/* One scenario in a process of its own: it leaves no descriptor and no child. */
static void scenario_alone(const char *name, void (*fn)(void))
{
    int fds = fd_count();
    fn();
    int after = fd_count();
    ck_assert_msg(after == fds, "%s: %d descriptors before, %d after", name, fds, after);
    assert_no_child();
}

#define SCENARIO_TEST(name) START_TEST(name) { scenario_alone(#name, do_##name); } END_TEST
SCENARIOS(SCENARIO_TEST)

/* All of them in one process: no descriptor and no child left after each. */
static void scenarios_all(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } all[] = {
#define SCENARIO_ENTRY(name) {#name, do_##name},
        SCENARIOS(SCENARIO_ENTRY)
    };
    int fds = fd_count();
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        all[i].fn();
        int now = fd_count();
        ck_assert_msg(now == fds, "after %s: %d descriptors, %d at start", all[i].name, now, fds);
        assert_no_child();
    }
}

START_TEST(whole_suite_leaves_nothing)
{
    scenarios_all();
}
END_TEST

/* Makes pidfd_open fail with ENOSYS in this process and its threads. */
static void pidfd_open_block(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog),
                     0);
    errno = 0;
    ck_assert_int_eq(syscall(SYS_pidfd_open, getpid(), 0), -1);
    ck_assert_int_eq(errno, ENOSYS);
    pidfd_blocked = true;
}

/* The same, as on a kernel without pidfd_open: exits are polled for. */
START_TEST(whole_suite_without_pidfd)
{
    pidfd_open_block();
    scenarios_all();
}
END_TEST

static Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *each = tcase_create("scenarios");
    tcase_set_timeout(each, 60);
#define SCENARIO_ADD(name) tcase_add_test(each, name);
    SCENARIOS(SCENARIO_ADD)
    suite_add_tcase(s, each);
    TCase *whole = tcase_create("whole suite");
    tcase_set_timeout(whole, 180);
    tcase_add_test(whole, whole_suite_leaves_nothing);
    tcase_add_test(whole, whole_suite_without_pidfd);
    suite_add_tcase(s, whole);
    return s;
}

int main(void)
{
    /* as in the worker: a child that closes its stdin is EPIPE, not death */
    signal(SIGPIPE, SIG_IGN);
    /* the SIGSEGV test leaves no core file behind */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    return unit_run(proc_suite());
}
