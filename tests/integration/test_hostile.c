/* Hostile clients: each is answered with a 4xx or a close, and the API
 * stays alive and serving after all of them. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/stack.h"

static struct stack S;

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.api_port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads until close or timeout; returns bytes read into buf (NUL-ended),
 * and *closed tells whether the server closed. */
static size_t slurp(int fd, char *buf, size_t len, int timeout_ms, int *closed)
{
    size_t off = 0;
    int64_t end = harness_now_ms() + timeout_ms;
    *closed = 0;
    while (off + 1 < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(end - harness_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(fd, buf + off, len - 1 - off);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        off += (size_t)n;
    }
    buf[off] = '\0';
    return off;
}

static void assert_alive(void)
{
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, "GET", "/healthz", NULL, NULL, 3000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    ck_assert_int_eq(harness_wait_exit(S.api, 0, NULL), -1);
}

/* Sends raw bytes; the answer must be a 4xx status or a close. */
static void expect_4xx_or_close(const char *what, const char *raw, size_t len)
{
    char buf[4096];
    int closed;
    int fd = dial();
    ck_assert_int_ge(write(fd, raw, len), 0);
    slurp(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 4", 10) == 0 || strncmp(buf, "HTTP/1.0 4", 10) == 0 || (closed && buf[0] == '\0'),
                  "%s: answered '%.60s' (closed=%d)", what, buf, closed);
    assert_alive();
}

static void up(void)
{
    struct stack_opts o = {.workers = 0,
                           .api_args = (const char *const[]){"--header-timeout", "1s", "--max-inflight", "20", NULL}};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

START_TEST(garbage_and_lies)
{
    static const char big_header_prefix[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ";
    char *big = malloc(64 * 1024);
    up();
    expect_4xx_or_close("garbage request line", "\x01\x02\x03 nonsense\r\n\r\n", 16);
    expect_4xx_or_close("no version", "GET\r\n\r\n", 7);
    {
        /* an unknown method is 501 Not Implemented (RFC 9110 15.6.2), from evhttp itself */
        char b[256];
        int c;
        int fd = dial();
        ck_assert_int_ge(write(fd, "FROB /jobs HTTP/1.1\r\nHost: x\r\n\r\n", 33), 0);
        slurp(fd, b, sizeof b, 3000, &c);
        close(fd);
        ck_assert_msg(strncmp(b, "HTTP/1.1 501", 12) == 0 || c, "bad method: '%.40s'", b);
        assert_alive();
    }
    /* headers of 64 KiB: over the 16 KiB head limit */
    memcpy(big, big_header_prefix, sizeof big_header_prefix - 1);
    memset(big + sizeof big_header_prefix - 1, 'a', 60 * 1024);
    memcpy(big + sizeof big_header_prefix - 1 + 60 * 1024, "\r\n\r\n", 4);
    expect_4xx_or_close("oversized headers", big, sizeof big_header_prefix - 1 + 60 * 1024 + 4);
    free(big);
    /* a body shorter than its Content-Length: the connection times out */
    const char *short_body = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ms\":1}";
    expect_4xx_or_close("body shorter than its length", short_body, strlen(short_body));
    /* a Content-Length that is not a number */
    const char *nan_len = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n{}";
    expect_4xx_or_close("non-numeric length", nan_len, strlen(nan_len));
    /* a negative one */
    const char *neg_len = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}";
    expect_4xx_or_close("negative length", neg_len, strlen(neg_len));
    /* a body longer than it says: the rest is read as the next request, which is garbage */
    char buf[4096];
    int closed;
    int fd = dial();
    const char *long_body = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}garbage-here\r\n\r\n";
    ck_assert_int_ge(write(fd, long_body, strlen(long_body)), 0);
    slurp(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    ck_assert_msg(strstr(buf, "HTTP/1.1 202") != NULL, "the well-formed part is answered: %.80s", buf);
    assert_alive();
    stack_stop(&S);
}
END_TEST

/* Two different Content-Length values: 400, and the connection closes, so
 * bytes a proxy would have framed differently (a smuggled request) are
 * never served. The same value twice is one length. */
START_TEST(conflicting_content_lengths_refused)
{
    up();
    static const char smuggle[] = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
                                  "Content-Length: 44\r\n\r\n{\"ms\":1}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    int closed;
    int fd = dial();
    ck_assert_int_eq(write(fd, smuggle, sizeof smuggle - 1), (ssize_t)(sizeof smuggle - 1));
    slurp(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400", 12) == 0, "answered '%.80s'", buf);
    ck_assert_ptr_nonnull(strstr(buf, "Content-Length: given twice"));
    ck_assert_msg(strstr(buf, "HTTP/1.1 200") == NULL, "the smuggled request was served: %s", buf);
    ck_assert(closed);
    static const char same[] = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
                               "content-length: 8\r\nConnection: close\r\n\r\n{\"ms\":1}";
    fd = dial();
    ck_assert_int_eq(write(fd, same, sizeof same - 1), (ssize_t)(sizeof same - 1));
    slurp(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 202", 12) == 0, "answered '%.80s'", buf);
    assert_alive();
    stack_stop(&S);
}
END_TEST

START_TEST(slowloris_is_closed)
{
    char buf[256];
    int closed = 0;
    up();
    int fd = dial();
    int64_t t0 = harness_now_ms();
    ck_assert_int_ge(write(fd, "GET /healthz HTTP/1.1\r\n", 23), 0);
    /* one header line every 300 ms, never ending: an idle timeout never trips */
    while (!closed && harness_now_ms() - t0 < 5000) {
        if (write(fd, "X-A: b\r\n", 8) < 0)
            break;
        slurp(fd, buf, sizeof buf, 300, &closed);
    }
    int64_t took = harness_now_ms() - t0;
    close(fd);
    ck_assert_msg(took < 2500, "slowloris connection lived %lld ms with --header-timeout 1s", (long long)took);
    assert_alive();
    stack_stop(&S);
}
END_TEST

START_TEST(over_max_inflight_is_fast_503)
{
    long codes[60];
    double elapsed;
    char url[128];
    /* 60 requests that each wait 2 s on a job no worker runs; only 20 may be in flight */
    struct http_resp r;
    up();
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", NULL, 3000, &r), 0);
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    snprintf(url, sizeof url, "%s/jobs/%s?wait=2", S.base, json_string_value(json_object_get(j, "id")));
    json_decref(j);
    ck_assert_int_eq(http_parallel_get(url, 60, 10000, codes, &elapsed), 0);
    int n503 = 0, n200 = 0;
    for (int i = 0; i < 60; i++) {
        n503 += codes[i] == 503;
        n200 += codes[i] == 200;
    }
    ck_assert_int_eq(n503 + n200, 60);
    ck_assert_msg(n503 >= 30 && n200 >= 15, "503: %d, 200: %d", n503, n200);
    assert_alive();
    stack_stop(&S);
}
END_TEST

/* ---- connections and descriptors (--max-conns, accept at EMFILE) ---- */

#define FLOOD_NOFILE 256 /* the api's descriptor limit in the exhaustion test */
#define FLOOD_CONNS 320  /* more than FLOOD_NOFILE lets it accept: the rest wait in the backlog */
#define CAP_CONNS 20     /* --max-conns in the cap test */

/* Starts the stack with the api's stderr in a file of its own, in the
 * run's temporary directory (removed by the runner even after a failure),
 * so that its volume can be measured. path gets the file's name. */
static void up_logged(const char *const *api_args, char *path, size_t len)
{
    const char *dir = getenv("HARNESS_RUN_DIR");
    struct stack_opts o = {.workers = 0, .api_args = api_args};
    int fd, saved, rc;
    snprintf(path, len, "%s/api-%d.log", dir && *dir ? dir : "/tmp", (int)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    ck_assert_int_ge(saved, 0);
    fflush(stderr);
    dup2(fd, 2); /* the api inherits it as its stderr */
    close(fd);
    rc = stack_start(&S, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_msg(rc == 0, "stack did not start (api log: %s)", path);
}

/* Writes the last `tail` bytes of path to stderr. */
static void file_show_tail(const char *path, long tail)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fseek(f, -tail, SEEK_END) != 0)
        rewind(f);
    fprintf(stderr, "---- %s (tail) ----\n", path);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

/* stack_stop, with the api's log shown when it did not exit 0 after
 * SIGTERM (a sanitizer's report is in it), and the log removed. */
static void stop_logged(const char *path)
{
    int status = 0;
    bool ok;
    harness_kill(S.api, SIGTERM);
    ok = harness_wait_exit(S.api, 20000, &status) == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
        harness_stop(S.api);
        file_show_tail(path, 8192);
    }
    S.api = 0;
    stack_stop(&S);
    unlink(path);
    ck_assert_msg(ok, "api exited with status 0x%x after SIGTERM", status);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Newlines in path between offsets from and to. */
static long file_lines(const char *path, off_t from, off_t to)
{
    static char buf[1 << 16];
    long lines = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (from < to) {
        size_t want = to - from > (off_t)sizeof buf ? sizeof buf : (size_t)(to - from);
        ssize_t n = pread(fd, buf, want, from);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        from += n;
    }
    close(fd);
    return lines;
}

/* Where needle starts in the first MiB of path (the text stays until the
 * next call), or NULL. */
static const char *file_find(const char *path, const char *needle)
{
    static char buf[(1 << 20) + 1];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strstr(buf, needle);
}

static bool file_has(const char *path, const char *needle)
{
    return file_find(path, needle) != NULL;
}

struct log_wait {
    const char *path, *needle;
};

static bool log_says(void *arg)
{
    const struct log_wait *w = arg;
    return file_has(w->path, w->needle);
}

/* utime + stime of pid, in clock ticks, or -1. */
static long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut, st;
    size_t n;
    FILE *f;
    const char *p;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static void healthz_send(int fd)
{
    static const char q[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(write(fd, q, sizeof q - 1), (ssize_t)(sizeof q - 1));
}

/* One answer to healthz_send on fd within timeout_ms: 1 when it is a whole
 * "200 ... ok", 0 when none (or only part of one) came in time, -1 when the
 * server closed or answered something else. */
static int healthz_answer(int fd, int timeout_ms)
{
    char buf[2048];
    size_t off = 0;
    int64_t end = harness_now_ms() + timeout_ms;
    while (off + 1 < sizeof buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(end - harness_now_ms());
        const char *body;
        ssize_t n;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return 0;
        n = read(fd, buf + off, sizeof buf - 1 - off);
        if (n <= 0)
            return -1;
        off += (size_t)n;
        buf[off] = '\0';
        body = strstr(buf, "\r\n\r\n");
        if (body && strstr(body, "ok\n"))
            return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 1 : -1;
    }
    return -1;
}

/* A gauge from /metrics (the request's own connection counts in
 * offload_http_connections), or -1. */
static long metrics_gauge(const char *metric)
{
    char name[128];
    struct http_resp r;
    long v = -1;
    snprintf(name, sizeof name, "\n%s ", metric);
    if (stack_http(&S, "GET", "/metrics", NULL, NULL, 10000, &r) == 0 && r.code == 200) {
        const char *p = strstr(r.body, name);
        if (p)
            v = strtol(p + strlen(name), NULL, 10);
    }
    http_resp_free(&r);
    return v;
}

/* At the descriptor limit accept(2) fails with EMFILE while the backlog
 * holds connections; the listener is level-triggered, so without a backoff
 * the api spun at 100% CPU writing a warning per failure. Now it pauses:
 * little CPU, a line a second, and it keeps serving what it has. */
START_TEST(descriptor_exhaustion_backs_off)
{
    char log[256];
    int flood[FLOOD_CONNS], keep;
    struct rlimit rl = {FLOOD_NOFILE, FLOOD_NOFILE};
    struct log_wait emfile = {log, "Too many open files"};
    struct http_resp r;
    long c0, c1;
    off_t s0, s1;
    int64_t t0, t1;
    double cpu_pct, lines_per_s;
    long lines;
    /* a cap far above the limit, so that accept itself runs out */
    up_logged((const char *const[]){"--max-conns", "100000", NULL}, log, sizeof log);
    keep = dial();
    healthz_send(keep);
    ck_assert_int_eq(healthz_answer(keep, 3000), 1);
    /* the api raises its soft limit to the hard one at start: lower both, now */
    ck_assert_int_eq(prlimit(S.api, RLIMIT_NOFILE, &rl, NULL), 0);
    for (int i = 0; i < FLOOD_CONNS; i++)
        flood[i] = dial();
    ck_assert_msg(harness_wait_until(log_says, &emfile, 10000, 50) == 0, "accept never ran out of descriptors");
    harness_sleep_ms(300);
    c0 = proc_cpu_ticks(S.api);
    s0 = file_size(log);
    t0 = harness_now_ms();
    harness_sleep_ms(1500);
    c1 = proc_cpu_ticks(S.api);
    s1 = file_size(log);
    t1 = harness_now_ms();
    ck_assert(c0 >= 0 && c1 >= 0 && s0 >= 0 && s1 >= 0);
    cpu_pct = 100.0 * (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) / ((double)(t1 - t0) / 1000.0);
    lines = file_lines(log, s0, s1);
    lines_per_s = (double)lines / ((double)(t1 - t0) / 1000.0);
    fprintf(stderr, "at EMFILE: api CPU %.1f%% of a core, log %.1f lines/s (%lld bytes in %lld ms)\n", cpu_pct,
            lines_per_s, (long long)(s1 - s0), (long long)(t1 - t0));
    ck_assert_msg(cpu_pct < 30.0, "api CPU %.1f%% of a core at EMFILE: it spins", cpu_pct);
    ck_assert_msg(lines <= 6 && s1 - s0 < 4096, "api log grew %ld lines, %lld bytes in %lld ms at EMFILE", lines,
                  (long long)(s1 - s0), (long long)(t1 - t0));
    /* the connection it had is still served */
    healthz_send(keep);
    ck_assert_msg(healthz_answer(keep, 3000) == 1, "a kept-alive connection was not answered at EMFILE");
    /* the flood leaves: a new client is answered */
    for (int i = 0; i < FLOOD_CONNS; i++)
        close(flood[i]);
    t0 = harness_now_ms();
    ck_assert_int_eq(stack_http(&S, "GET", "/healthz", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    fprintf(stderr, "after the flood left: a new connection answered in %lld ms\n",
            (long long)(harness_now_ms() - t0));
    close(keep);
    stop_logged(log);
}
END_TEST

/* --max-conns: past it new connections wait in the backlog, unanswered,
 * until one closes; and /metrics counts connections exactly, a closed one
 * at once (it lingered up to --header-timeout before). */
START_TEST(max_conns_waits_in_backlog)
{
    char log[256];
    int held[CAP_CONNS], extra, answered;
    long n = -1;
    int64_t t0, waited;
    up_logged((const char *const[]){"--max-conns", "20", NULL}, log, sizeof log);
    for (int i = 0; i < CAP_CONNS - 1; i++)
        held[i] = dial();
    ck_assert_int_eq(metrics_gauge("offload_http_connections"), CAP_CONNS); /* the held ones and its own */
    held[CAP_CONNS - 1] = dial(); /* the last one that fits: answered */
    healthz_send(held[CAP_CONNS - 1]);
    ck_assert_int_eq(healthz_answer(held[CAP_CONNS - 1], 3000), 1);
    extra = dial(); /* connects (the kernel's backlog), but waits */
    healthz_send(extra);
    ck_assert_msg(healthz_answer(extra, 1500) == 0, "a connection past --max-conns was answered");
    close(held[0]);
    t0 = harness_now_ms();
    answered = healthz_answer(extra, 5000);
    waited = harness_now_ms() - t0;
    ck_assert_msg(answered == 1, "the waiting connection was not answered after one closed");
    fprintf(stderr, "--max-conns %d: the waiting connection answered %lld ms after one closed\n", CAP_CONNS,
            (long long)waited);
    ck_assert_msg(waited < 3000, "answered %lld ms after a slot came free", (long long)waited);
    /* 4 held ones stay: the gauge reads 5 (with /metrics' own) within a second */
    close(extra);
    for (int i = 1; i < CAP_CONNS - 4; i++)
        close(held[i]);
    t0 = harness_now_ms();
    while (harness_now_ms() - t0 < 1500 && (n = metrics_gauge("offload_http_connections")) != 5)
        harness_sleep_ms(100);
    fprintf(stderr, "connections gauge %ld after %lld ms (want 5)\n", n, (long long)(harness_now_ms() - t0));
    ck_assert_int_eq(n, 5);
    for (int i = CAP_CONNS - 4; i < CAP_CONNS; i++)
        close(held[i]);
    t0 = harness_now_ms();
    while (harness_now_ms() - t0 < 1500 && (n = metrics_gauge("offload_http_connections")) != 1)
        harness_sleep_ms(100);
    ck_assert_int_eq(n, 1);
    ck_assert_msg(file_has(log, "max_conns=20 "), "the cap in force is not logged");
    assert_alive();
    stop_logged(log);
}
END_TEST

/* With no --max-conns the cap is the descriptor limit less a reserve for
 * Redis, upstreams and logs (10%, at least 64): 512 - 64. */
START_TEST(default_max_conns_leaves_reserve)
{
    char log[256];
    struct rlimit rl = {512, 512};
    const char *fork_mode = getenv("CK_FORK");
    const char *line;
    long max_conns = -1, nofile = -1;
    if (fork_mode && strcmp(fork_mode, "no") == 0)
        return; /* the limit would stay lowered for the tests after this one */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* this test's process only: the api inherits it */
    up_logged(NULL, log, sizeof log);
    line = file_find(log, "max_conns=");
    ck_assert_msg(line && sscanf(line, "max_conns=%ld nofile=%ld", &max_conns, &nofile) == 2,
                  "the cap in force is not logged");
    /* 512, or a little less under valgrind, which keeps some descriptors for itself */
    ck_assert_msg(nofile > 400 && nofile <= 512, "nofile=%ld", nofile);
    ck_assert_int_eq(max_conns, nofile - 64);
    assert_alive();
    stop_logged(log);
}
END_TEST

/* A chunk-size line that is not a hex size gets 400 and a JSON reason
 * (libevent alone answered 413, the code for a body too large); a good
 * chunked body still works, sent whole or a byte at a time. */
START_TEST(malformed_chunk_gets_400)
{
    static const char bad[] = "POST /jobs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "2\r\n{}\r\nzz\r\n";
    static const char good[] = "POST /jobs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
    char buf[2048];
    int closed, fd;
    up();
    fd = dial();
    ck_assert_int_eq(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    slurp(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "answered '%.40s'", buf);
    ck_assert_msg(strstr(buf, "\"error\":\"chunked body") != NULL, "no JSON reason: %s", buf);
    fd = dial();
    for (size_t i = 0; i < sizeof good - 1; i++)
        ck_assert_int_eq(write(fd, good + i, 1), 1);
    slurp(fd, buf, sizeof buf, 1000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 202 ", 13) == 0, "a good chunked body got '%.40s'", buf);
    assert_alive();
    stack_stop(&S);
}
END_TEST

/* The api's resident set in KiB, from /proc. */
static long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* The status code a connection was answered with (0 = nothing yet). */
static int answer_code(int fd, int timeout_ms)
{
    char buf[512];
    int closed;
    slurp(fd, buf, sizeof buf, timeout_ms, &closed);
    return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
}

#define BODY_CONNS 40
#define BODY_HELD (900 * 1024)

/* Bodies that never end, together: past --max-body-total the request that
 * would pass it gets 503 at once (what it still sends is discarded), so
 * the api's memory stays near the bound. */
START_TEST(body_bytes_bounded_in_total)
{
    static char chunk[64 * 1024];
    static const char head[] = "POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                               "Content-Length: 1000000\r\n\r\n";
    int fds[BODY_CONNS], n503 = 0, nnone = 0;
    struct stack_opts o = {.workers = 0,
                           .api_args = (const char *const[]){"--max-body-total", "8388608", "--header-timeout", "20s",
                                                             NULL}};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    memset(chunk, ' ', sizeof chunk);
    long rss0 = proc_rss_kb(S.api);
    for (int i = 0; i < BODY_CONNS; i++) {
        fds[i] = dial();
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        ck_assert_int_eq(write(fds[i], head, sizeof head - 1), (ssize_t)(sizeof head - 1));
        for (size_t sent = 0; sent < BODY_HELD;) {
            ssize_t w = write(fds[i], chunk, sizeof chunk);
            if (w <= 0) {
                harness_sleep_ms(5); /* full: the api reads it, or refused it and discards it */
                struct pollfd p = {.fd = fds[i], .events = POLLOUT};
                if (poll(&p, 1, 2000) <= 0)
                    break;
                continue;
            }
            sent += (size_t)w;
        }
    }
    harness_sleep_ms(500);
    long rss1 = proc_rss_kb(S.api);
    long held = metrics_gauge("offload_http_body_bytes");
    for (int i = 0; i < BODY_CONNS; i++) {
        int code = answer_code(fds[i], 200);
        n503 += code == 503;
        nnone += code == 0;
    }
    fprintf(stderr, "bodies held: %d unanswered (held), %d got 503; %ld bytes held; api RSS %ld -> %ld KiB\n", nnone,
            n503, held, rss0, rss1);
    /* 8 MiB hold about 9 bodies of 900 KiB; the rest are refused */
    ck_assert_msg(n503 >= BODY_CONNS - 12, "only %d of %d got 503", n503, BODY_CONNS);
    ck_assert_msg(nnone >= 5, "only %d bodies were held: the bound is too eager", nnone);
    /* the bound plus one read's worth (RSS, which also keeps freed arenas, is shown, not asserted) */
    ck_assert_msg(held >= 0 && held <= 8388608 + 65536, "%ld body bytes held for an 8 MiB bound", held);
    for (int i = 0; i < BODY_CONNS; i++)
        close(fds[i]);
    assert_alive();
    stack_stop(&S);
}
END_TEST

/* Clients that ask for big answers and never read them: past --max-output
 * new big answers get 503, small ones still pass, and the api's memory
 * stays near the bound. The kernel holds up to ~4 MB of each answer
 * (tcp_wmem), so only answers bigger than that reach the api's buffers. */
START_TEST(unread_answers_bounded)
{
    enum { CONNS = 12, ARGS = 6 * 1024 * 1024 };
    char *body = malloc(ARGS + 64), req[160], id[40] = "";
    int fds[CONNS], n200 = 0, n503 = 0, small = 1;
    struct http_resp r;
    struct stack_opts o = {.workers = 0,
                           .api_args = (const char *const[]){"--max-output", "4194304", "--max-body", "8388608", NULL}};
    ck_assert_ptr_nonnull(body);
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    int len = snprintf(body, 64, "{\"task\":\"big\",\"args\":\"");
    memset(body + len, 'a', ARGS);
    strcpy(body + len + ARGS, "\"}");
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == 202, "%ld %.200s", r.code, r.body);
    json_t *j = http_resp_json(&r);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    http_resp_free(&r);
    snprintf(req, sizeof req, "GET /jobs/%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
    long rss0 = proc_rss_kb(S.api);
    for (int i = 0; i < CONNS; i++) {
        int rcv = 4096;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv); /* before connect: a small window */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.api_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        ck_assert_int_eq(write(fds[i], req, strlen(req)), (ssize_t)strlen(req));
        harness_sleep_ms(50);
    }
    harness_sleep_ms(1000);
    long rss1 = proc_rss_kb(S.api);
    long waiting = metrics_gauge("offload_http_output_bytes");
    /* a small answer still passes; a big one is refused while the bound is full */
    ck_assert_int_eq(stack_http(&S, "GET", "/healthz", NULL, NULL, 10000, &r), 0);
    small = r.code == 200;
    http_resp_free(&r);
    ck_assert_msg(small, "/healthz refused while answers wait");
    snprintf(req, sizeof req, "/jobs/%s", id);
    ck_assert_int_eq(stack_http(&S, "GET", req, NULL, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == 503 && strstr(r.body, "--max-output"), "a big answer past the bound got %ld", r.code);
    http_resp_free(&r);
    for (int i = 0; i < CONNS; i++) {
        int code = answer_code(fds[i], 200);
        n200 += code == 200;
        n503 += code == 503;
        close(fds[i]);
    }
    fprintf(stderr, "unread answers: %d got 200, %d got 503; %ld bytes waiting; api RSS %ld -> %ld KiB\n", n200, n503,
            waiting, rss0, rss1);
    ck_assert_msg(n200 >= 1, "no big answer was served: the bound refuses what it should hold");
    ck_assert_msg(n503 >= CONNS / 2, "only %d of %d big answers were refused", n503, CONNS);
    /* the bound plus the one answer that crossed it (RSS also keeps malloc's freed arenas: not asserted) */
    ck_assert_msg(waiting >= 0 && waiting <= 4194304 + ARGS + 65536, "%ld bytes of answers wait", waiting);
    free(body);
    assert_alive();
    stack_stop(&S);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("clients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, garbage_and_lies);
    tcase_add_test(tc, conflicting_content_lengths_refused);
    tcase_add_test(tc, slowloris_is_closed);
    tcase_add_test(tc, over_max_inflight_is_fast_503);
    tcase_add_test(tc, descriptor_exhaustion_backs_off);
    tcase_add_test(tc, max_conns_waits_in_backlog);
    tcase_add_test(tc, default_max_conns_leaves_reserve);
    tcase_add_test(tc, body_bytes_bounded_in_total);
    tcase_add_test(tc, malformed_chunk_gets_400);
    tcase_add_test(tc, unread_answers_bounded);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
