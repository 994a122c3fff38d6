/* Unit tests for common/supervise.c with real processes: a supervisor forked
 * by the test runs children that report over a pipe ("start"/"stop" lines);
 * a child that dies comes back with a growing backoff, every SIGTERM reaches
 * every child, the supervisor returns once they exited (and says whether
 * they stopped cleanly), nothing is restarted during the stop, and the
 * children get SIGTERM when the supervisor is SIGKILLed. */
#include "common/supervise.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "tests/harness/harness.h"
#include "tests/unit/unit.h"

#define WAIT_MS 5000 /* any report or exit the test waits for comes within this */
#define NO_SLOT -1

/* What each child does after its "start" line. */
struct behaviour {
    int exit_at_once; /* exit with this status at once when >= 0 */
    int stops;        /* else: SIGTERMs to count ("stop" line each) before exiting */
    int fail_slot;    /* the slot that exits 1 instead of 0 after its stops (NO_SLOT: none) */
};

/* A supervisor under test, seen from the test process. */
struct sup {
    pid_t pid;      /* the supervisor, 0 once reaped */
    int rd;         /* read end of the children's report pipe */
    char buf[4096]; /* unparsed report bytes */
    size_t len;
    char log[64];   /* the supervisor's stderr (and its children's) */
};

/* One report line. */
struct report {
    char event[8]; /* "start" or "stop" */
    int slot;
    long pid;
    int count;     /* "stop": how many SIGTERMs the child has counted */
    int64_t at;    /* when the test read it (monotonic ms) */
};

/* The supervisor's count, and in each child its own (reset by the fork). */
static volatile sig_atomic_t stops;

static void on_stop(int sig)
{
    (void)sig;
    stops++;
}

/* One report line on the pipe: short writes to a pipe are atomic. */
static void child_report(int wr, const char *event, int slot, int count)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%s %d %ld %d\n", event, slot, (long)getpid(), count);
    if (write(wr, line, (size_t)n) != n)
        _exit(99);
}

/* A supervised child's life; never returns into the test framework. */
static void child_run(int wr, int slot, const struct behaviour *b)
{
    child_report(wr, "start", slot, 0);
    if (b->exit_at_once >= 0)
        _exit(b->exit_at_once);
    int seen = 0;
    while (seen < b->stops) {
        if (stops > seen) {
            seen = stops;
            child_report(wr, "stop", slot, seen);
        }
        clock_sleep_ms(5);
    }
    _exit(slot == b->fail_slot ? 1 : 0);
}

/* Forks a supervisor of `procs` children that behave as b. Its exit status
 * is supervise_run's answer (CLEAN 0, UNCLEAN 1, FAILED 2); it dies with the
 * test process. */
static void sup_start(struct sup *s, int procs, const struct behaviour *b)
{
    int p[2];
    memset(s, 0, sizeof *s);
    strcpy(s->log, "/tmp/offload-supervise.XXXXXX");
    int logfd = mkstemp(s->log);
    ck_assert_int_ge(logfd, 0);
    ck_assert_int_eq(pipe(p), 0);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        struct sigaction sa = {.sa_handler = on_stop};
        int slot = NO_SLOT;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        dup2(logfd, STDERR_FILENO);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        log_init("test");
        enum supervise_result r = supervise_run(procs, "test", &stops, &slot);
        if (r == SUPERVISE_CHILD)
            child_run(p[1], slot, b);
        _exit(r == SUPERVISE_CLEAN ? 0 : r == SUPERVISE_UNCLEAN ? 1 : 2);
    }
    close(logfd);
    close(p[1]);
    s->rd = p[0];
}

/* Reads the next report within WAIT_MS. Returns 0, or -1 on EOF (every
 * child and the supervisor gone) or timeout. */
static int sup_next(struct sup *s, struct report *r)
{
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        if (nl) {
            *nl = '\0';
            ck_assert_int_eq(sscanf(s->buf, "%7s %d %ld %d", r->event, &r->slot, &r->pid, &r->count), 4);
            r->at = clock_mono_ms();
            s->len -= (size_t)(nl + 1 - s->buf);
            memmove(s->buf, nl + 1, s->len);
            return 0;
        }
        int64_t left = deadline - clock_mono_ms();
        struct pollfd pfd = {.fd = s->rd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        ssize_t n = read(s->rd, s->buf + s->len, sizeof s->buf - 1 - s->len);
        if (n <= 0)
            return -1;
        s->len += (size_t)n;
    }
}

/* Reads the next report and checks its event. */
static void sup_expect(struct sup *s, const char *event, struct report *r)
{
    ck_assert_msg(sup_next(s, r) == 0, "no \"%s\" report within %d ms", event, WAIT_MS);
    ck_assert_str_eq(r->event, event);
}

/* Waits for the supervisor to exit; returns its exit status. */
static int sup_wait(struct sup *s)
{
    int status;
    ck_assert_msg(harness_wait_exit(s->pid, WAIT_MS, &status) == 0, "the supervisor did not return");
    s->pid = 0;
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* After the supervisor: no report is left (nothing restarted during the
 * stop) and every child closed the pipe. Returns the log (caller frees) and
 * removes its file. */
static char *sup_finish(struct sup *s)
{
    struct report r;
    ck_assert_msg(sup_next(s, &r) == -1, "a report after the stop: %s slot %d", r.event, r.slot);
    close(s->rd);
    FILE *f = fopen(s->log, "r");
    ck_assert_ptr_nonnull(f);
    char *log = calloc(1, 1 << 16);
    ck_assert_ptr_nonnull(log);
    size_t n = fread(log, 1, (1 << 16) - 1, f);
    log[n] = '\0';
    fclose(f);
    unlink(s->log);
    return log;
}

START_TEST(dead_child_restarted_with_backoff)
{
    const struct behaviour b = {.exit_at_once = 3, .fail_slot = NO_SLOT};
    struct sup s;
    struct report r[5];
    sup_start(&s, 1, &b);
    for (int i = 0; i < 5; i++) {
        sup_expect(&s, "start", &r[i]);
        ck_assert_int_eq(r[i].slot, 0);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(r[i].pid, r[j].pid);
    }
    /* 100, 200, 400, 800 ms: at least that, and growing */
    for (int i = 1; i < 5; i++) {
        int64_t gap = r[i].at - r[i - 1].at, want = 100LL << (i - 1);
        ck_assert_msg(gap >= want - 20, "restart %d after %lld ms, want %lld", i, (long long)gap, (long long)want);
        if (i > 1)
            ck_assert_msg(gap > r[i - 1].at - r[i - 2].at, "backoff did not grow at restart %d", i);
    }
    ck_assert_int_lt(r[1].at - r[0].at, 1000);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int status = sup_wait(&s); /* 1 when the stop caught a child before its exit 3 */
    ck_assert_msg(status == 0 || status == 1, "supervisor exit %d", status);
    char *log = sup_finish(&s);
    char want[128];
    snprintf(want, sizeof want, "level=warn comp=test msg=\"test process exited\" slot=0 pid=%ld status=3",
             r[0].pid);
    ck_assert_msg(strstr(log, want), "no %s in:\n%s", want, log);
    ck_assert_ptr_nonnull(strstr(log, "msg=\"supervisor stopped\""));
    free(log);
}
END_TEST

/* Sends nstops SIGTERMs to a supervisor of procs children that wait for
 * them, checks every child counts each, and returns the supervisor's exit
 * status with its log in *log (caller frees). */
static int stop_all(int procs, int nstops, int fail_slot, char **log)
{
    const struct behaviour b = {.exit_at_once = -1, .stops = nstops, .fail_slot = fail_slot};
    struct sup s;
    struct report r;
    long pids[8] = {0};
    ck_assert_int_le(procs, 8);
    sup_start(&s, procs, &b);
    for (int i = 0; i < procs; i++) {
        sup_expect(&s, "start", &r);
        ck_assert_int_eq(pids[r.slot], 0);
        pids[r.slot] = r.pid;
    }
    for (int n = 1; n <= nstops; n++) {
        bool seen[8] = {false};
        ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
        for (int i = 0; i < procs; i++) {
            sup_expect(&s, "stop", &r);
            ck_assert_int_eq(r.pid, pids[r.slot]);
            ck_assert_int_eq(r.count, n);
            ck_assert(!seen[r.slot]);
            seen[r.slot] = true;
        }
    }
    int status = sup_wait(&s);
    *log = sup_finish(&s);
    return status;
}

START_TEST(sigterm_reaches_children_and_waits)
{
    char *log;
    ck_assert_int_eq(stop_all(3, 1, NO_SLOT, &log), 0);
    ck_assert_ptr_nonnull(strstr(log, "msg=\"forwarding stop to test processes\" signal_count=1"));
    ck_assert_ptr_nonnull(strstr(log, "level=info comp=test msg=\"test process exited\" slot=2"));
    ck_assert_ptr_null(strstr(log, "level=warn"));
    free(log);
}
END_TEST

START_TEST(every_sigterm_forwarded)
{
    char *log;
    ck_assert_int_eq(stop_all(2, 2, NO_SLOT, &log), 0);
    ck_assert_ptr_nonnull(strstr(log, "signal_count=2"));
    free(log);
}
END_TEST

START_TEST(unclean_stop_reported)
{
    char *log;
    ck_assert_int_eq(stop_all(3, 1, 1, &log), 1);
    ck_assert_ptr_nonnull(strstr(log, "level=warn comp=test msg=\"test process exited\" slot=1"));
    free(log);
}
END_TEST

START_TEST(children_get_sigterm_when_supervisor_killed)
{
    const struct behaviour b = {.exit_at_once = -1, .stops = 1, .fail_slot = NO_SLOT};
    struct sup s;
    struct report r;
    long pids[2] = {0};
    sup_start(&s, 2, &b);
    for (int i = 0; i < 2; i++) {
        sup_expect(&s, "start", &r);
        pids[r.slot] = r.pid;
    }
    ck_assert_int_eq(kill(s.pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(harness_wait_exit(s.pid, WAIT_MS, &status), 0);
    s.pid = 0;
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (int i = 0; i < 2; i++) {
        sup_expect(&s, "stop", &r);
        ck_assert_int_eq(r.pid, pids[r.slot]);
        ck_assert_int_eq(r.count, 1);
    }
    free(sup_finish(&s)); /* EOF: both children exited */
}
END_TEST

static Suite *supervise_suite(void)
{
    Suite *s = suite_create("supervise");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, dead_child_restarted_with_backoff);
    tcase_add_test(tc, sigterm_reaches_children_and_waits);
    tcase_add_test(tc, every_sigterm_forwarded);
    tcase_add_test(tc, unclean_stop_reported);
    tcase_add_test(tc, children_get_sigterm_when_supervisor_killed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(supervise_suite());
}
