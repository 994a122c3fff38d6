/* loadgen and slowsvc as real processes: counts, latency, each error class,
 * the open loop's schedule, the JSON report and the flags. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/harness/harness.h"
#include "tests/harness/http.h"
#include "tests/harness/stack.h"
#include "tests/unit/unit.h"

#define LG_ARGS_MAX 32

/* What one loadgen (or slowsvc) process did. */
struct proc_result {
    int exit_code; /* -1 when killed or timed out */
    char *out;     /* stdout, NUL-terminated, owned */
    char *err;     /* stderr */
    json_t *json;  /* stdout parsed, when it was JSON */
};

static void proc_result_free(struct proc_result *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs bin/<prog> with args (NULL-terminated), stdout and stderr captured,
 * killed after timeout_ms. */
static void run_prog(const char *prog, const char *const *args, int timeout_ms, struct proc_result *r)
{
    char out_path[] = "/tmp/offload-lg-out.XXXXXX", err_path[] = "/tmp/offload-lg-err.XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    ck_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    char env_out[64], env_err[64];
    snprintf(env_out, sizeof env_out, "LG_OUT=%s", out_path);
    snprintf(env_err, sizeof env_err, "LG_ERR=%s", err_path);
    const char *env[] = {env_out, env_err, NULL};
    const char *argv[LG_ARGS_MAX + 5] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >\"$LG_OUT\" 2>\"$LG_ERR\"",
                                         harness_bin(prog)};
    int n = 4;
    for (int i = 0; args[i] != NULL; i++) {
        ck_assert_int_lt(n, LG_ARGS_MAX + 4);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    int status;
    memset(r, 0, sizeof *r);
    if (harness_wait_exit(pid, timeout_ms, &status) != 0) {
        harness_stop(pid);
        r->exit_code = -1;
    } else {
        r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    r->out = slurp(out_path);
    r->err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    r->json = json_loads(r->out, 0, NULL);
}

/* Runs loadgen and expects it to finish with exit code 0 and a JSON object. */
static void run_loadgen_json(const char *const *args, int timeout_ms, struct proc_result *r)
{
    run_prog("loadgen", args, timeout_ms, r);
    ck_assert_msg(r->exit_code == 0, "loadgen exit %d: %s", r->exit_code, r->err);
    ck_assert_msg(json_is_object(r->json), "not one JSON object: %s", r->out);
}

static json_int_t jint(const json_t *j, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(j, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", path1, path2 ? path2 : "");
    return json_integer_value(v);
}

static double jnum(const json_t *j, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(j, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    ck_assert_msg(json_is_number(v), "%s.%s is not a number", path1, path2 ? path2 : "");
    return json_number_value(v);
}

static json_int_t jerrors(const json_t *j)
{
    return jint(j, "errors", "connect") + jint(j, "errors", "read") + jint(j, "errors", "write") +
           jint(j, "errors", "timeout");
}

/* A running slowsvc. */
static pid_t svc_pid;
static int svc_port;
static char svc_url[128];

static void slowsvc_up(int delay_ms)
{
    char listen[32], delay[16];
    svc_port = harness_free_port();
    ck_assert_int_gt(svc_port, 0);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", svc_port);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    const char *argv[] = {harness_bin("slowsvc"), "--listen", listen, "--delay-ms", delay, NULL};
    svc_pid = harness_spawn(argv, NULL);
    ck_assert_int_gt(svc_pid, 0);
    ck_assert_msg(harness_wait_port(svc_port, 5000) == 0, "slowsvc did not listen");
    snprintf(svc_url, sizeof svc_url, "http://127.0.0.1:%d/", svc_port);
}

/* SIGTERM, and slowsvc must exit 0 promptly. */
static void slowsvc_down(void)
{
    int status;
    ck_assert_int_eq(harness_kill(svc_pid, SIGTERM), 0);
    ck_assert_msg(harness_wait_exit(svc_pid, 5000, &status) == 0, "slowsvc ignored SIGTERM");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void url_with(char *buf, size_t len, const char *query)
{
    snprintf(buf, len, "http://127.0.0.1:%d/%s", svc_port, query);
}

START_TEST(slowsvc_answers_after_delay_and_obeys_knobs)
{
    struct http_resp r;
    char url[160];
    slowsvc_up(300);
    ck_assert_int_eq(http_do("GET", svc_url, NULL, 0, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    ck_assert_str_eq(r.body, "done");
    ck_assert_msg(r.total_ms >= 295 && r.total_ms < 1000, "took %.1f ms", r.total_ms);
    http_resp_free(&r);

    url_with(url, sizeof url, "any/path?delay_ms=0&status=503");
    ck_assert_int_eq(http_do("POST", url, "x", 1, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 503);
    ck_assert_msg(r.total_ms < 200, "delay_ms=0 took %.1f ms", r.total_ms);
    http_resp_free(&r);

    url_with(url, sizeof url, "?close=1&delay_ms=10");
    ck_assert_int_eq(http_do("GET", url, NULL, 0, NULL, 5000, &r), -1);
    ck_assert_int_eq(r.code, 0);
    http_resp_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(slowsvc_flags)
{
    struct proc_result r;
    const char *bad[] = {"--delay-ms", "soon", NULL};
    run_prog("slowsvc", bad, 5000, &r);
    ck_assert_int_eq(r.exit_code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--delay-ms"));
    proc_result_free(&r);
    const char *unknown[] = {"--bogus", NULL};
    run_prog("slowsvc", unknown, 5000, &r);
    ck_assert_int_eq(r.exit_code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--bogus"));
    proc_result_free(&r);
    const char *help[] = {"--help", NULL};
    run_prog("slowsvc", help, 5000, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "--delay-ms"));
    proc_result_free(&r);
}
END_TEST

/* 10 connections × 3 s against 100 ms answers: about 300 requests. */
START_TEST(closed_loop_counts_and_latency)
{
    struct proc_result r;
    slowsvc_up(100);
    const char *args[] = {"-c", "10", "-d", "3s", "--json", svc_url, NULL};
    run_loadgen_json(args, 15000, &r);
    json_int_t n = jint(r.json, "requests", NULL);
    ck_assert_msg(n >= 285 && n <= 315, "requests %lld, want 300 ±5%%", (long long)n);
    ck_assert_int_eq(jint(r.json, "codes", "200"), n);
    ck_assert_int_eq(jint(r.json, "ok", NULL), n);
    ck_assert_int_eq(jerrors(r.json), 0);
    double d = jnum(r.json, "duration_s", NULL);
    ck_assert_msg(d >= 2.99 && d <= 3.05, "duration %.3f", d);
    double rps = jnum(r.json, "rps", NULL);
    ck_assert_msg(rps > n / d - 0.5 && rps < n / d + 0.5, "rps %.2f for %lld in %.2fs", rps, (long long)n, d);
    double p50 = jnum(r.json, "latency_ms", "p50");
    ck_assert_msg(p50 >= 99 && p50 <= 110, "p50 %.2f ms", p50);
    ck_assert(jnum(r.json, "latency_ms", "max") >= jnum(r.json, "latency_ms", "p99"));
    /* not a terminal: no progress line */
    ck_assert_str_eq(r.err, "");
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(count_is_exact)
{
    struct proc_result r;
    slowsvc_up(20);
    const char *args[] = {"-c", "10", "-n", "137", "--json", svc_url, NULL};
    run_loadgen_json(args, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 137);
    ck_assert_int_eq(jint(r.json, "codes", "200"), 137);
    proc_result_free(&r);
    /* split across threads, more threads than a fair share of connections */
    const char *threaded[] = {"-c", "7", "--threads", "3", "-n", "101", "--json", svc_url, NULL};
    run_loadgen_json(threaded, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 101);
    ck_assert_int_eq(jint(r.json, "codes", "200"), 101);
    proc_result_free(&r);
    /* open loop with a count: exactly that many too */
    const char *open[] = {"-c", "4", "-R", "200", "-n", "50", "--json", svc_url, NULL};
    run_loadgen_json(open, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 50);
    ck_assert_int_eq(jint(r.json, "codes", "200"), 50);
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(connect_errors_on_a_closed_port)
{
    struct proc_result r;
    int port = harness_free_port(); /* nothing listens there */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    const char *args[] = {"-c", "4", "-n", "20", "--json", url, NULL};
    run_loadgen_json(args, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 20);
    ck_assert_int_eq(jint(r.json, "errors", "connect"), 20);
    ck_assert_int_eq(jint(r.json, "ok", NULL), 0);
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "codes")), 0);
    proc_result_free(&r);
}
END_TEST

START_TEST(timeouts_when_slower_than_t)
{
    struct proc_result r;
    slowsvc_up(400);
    const char *args[] = {"-c", "3", "-d", "1s", "-t", "100ms", "--json", svc_url, NULL};
    run_loadgen_json(args, 15000, &r);
    json_int_t t = jint(r.json, "errors", "timeout");
    /* each connection times out every ~100 ms and reconnects */
    ck_assert_msg(t >= 15 && t <= 33, "timeouts %lld", (long long)t);
    ck_assert_int_eq(jint(r.json, "requests", NULL), t);
    ck_assert_int_eq(jint(r.json, "ok", NULL), 0);
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(read_errors_when_server_closes)
{
    struct proc_result r;
    char url[160];
    slowsvc_up(10);
    url_with(url, sizeof url, "?close=1");
    const char *args[] = {"-c", "2", "-n", "10", "--json", url, NULL};
    run_loadgen_json(args, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 10);
    ck_assert_int_eq(jint(r.json, "errors", "read"), 10);
    ck_assert_int_eq(jint(r.json, "ok", NULL), 0);
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(non_2xx_is_not_success)
{
    struct proc_result r;
    char url[160];
    slowsvc_up(1);
    url_with(url, sizeof url, "?status=503");
    const char *args[] = {"-c", "2", "-n", "30", "--json", url, NULL};
    run_loadgen_json(args, 15000, &r);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 30);
    ck_assert_int_eq(jint(r.json, "codes", "503"), 30);
    ck_assert_int_eq(jint(r.json, "ok", NULL), 0);
    ck_assert_int_eq(jerrors(r.json), 0);
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

/* A server that reads a little of each request and resets the connection. */
static void *rst_server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        char buf[4096];
        if (read(fd, buf, sizeof buf) > 0) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
}

/* Write errors, best-effort as promised: a 32 MiB body cannot sit in socket
 * buffers, so the reset lands while it is being written. */
START_TEST(write_errors_when_reset_mid_body)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, rst_server, &lfd), 0);

    char body_path[] = "/tmp/offload-lg-body.XXXXXX";
    int bfd = mkstemp(body_path);
    ck_assert_int_ge(bfd, 0);
    ck_assert_int_eq(ftruncate(bfd, 32 << 20), 0);
    close(bfd);
    char body_arg[64], url[64];
    snprintf(body_arg, sizeof body_arg, "@%s", body_path);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/upload", ntohs(sa.sin_port));
    struct proc_result r;
    const char *args[] = {"-c", "1", "-n", "3", "-m", "PUT", "-b", body_arg, "--json", url, NULL};
    run_loadgen_json(args, 30000, &r);
    unlink(body_path);
    ck_assert_int_eq(jint(r.json, "requests", NULL), 3);
    ck_assert_int_eq(jint(r.json, "errors", "write"), 3);
    proc_result_free(&r);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    pthread_join(th, NULL);
}
END_TEST

/* -R 50 over 2 connections against 100 ms answers: the server can do 20/s,
 * the schedule keeps asking for 50/s, and the wait shows in the latency. */
START_TEST(open_loop_keeps_its_schedule)
{
    struct proc_result r;
    slowsvc_up(100);
    const char *over[] = {"-R", "50", "-c", "2", "-d", "3s", "--json", svc_url, NULL};
    run_loadgen_json(over, 15000, &r);
    json_int_t due = jint(r.json, "due", NULL);
    ck_assert_msg(due >= 143 && due <= 158, "due %lld, want 50/s x 3 s", (long long)due);
    json_int_t n = jint(r.json, "requests", NULL);
    ck_assert_msg(n >= 50 && n <= 62, "requests %lld, want the server's 20/s x 3 s", (long long)n);
    double p50 = jnum(r.json, "latency_ms", "p50"), max = jnum(r.json, "latency_ms", "max");
    /* request k was due at k/50 s and served at about k/20 s */
    ck_assert_msg(p50 > 500 && max > 1200, "latency hides the queue: p50 %.0f max %.0f", p50, max);
    ck_assert_int_eq(jerrors(r.json), 0);
    proc_result_free(&r);

    /* with enough connections the same rate is met and latency is the server's */
    const char *fits[] = {"-R", "50", "-c", "10", "-d", "3s", "--json", svc_url, NULL};
    run_loadgen_json(fits, 15000, &r);
    n = jint(r.json, "requests", NULL);
    ck_assert_msg(n >= 140 && n <= 155, "requests %lld, want ~50/s x 3 s", (long long)n);
    p50 = jnum(r.json, "latency_ms", "p50");
    ck_assert_msg(p50 >= 99 && p50 <= 115, "p50 %.1f", p50);
    ck_assert(jnum(r.json, "rate", NULL) == 50.0);
    proc_result_free(&r);
    slowsvc_down();

    /* --drain: the requests due in the window but stuck behind the one
     * connection are still sent, and their latency counts from their time */
    slowsvc_up(300);
    const char *drain[] = {"-R", "10", "-c", "1", "-d", "1s", "--drain", "30s", "--json", svc_url, NULL};
    run_loadgen_json(drain, 30000, &r);
    ck_assert_int_eq(jint(r.json, "due", NULL), 11);
    ck_assert_int_eq(jint(r.json, "requests", NULL) + jint(r.json, "drained", NULL), 11);
    max = jnum(r.json, "latency_ms", "max");
    /* the 11th was due at 1.0 s and answered at about 11 x 0.3 s */
    ck_assert_msg(max > 2000 && max < 3500, "max %.0f ms", max);
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(json_has_every_field)
{
    struct proc_result r;
    slowsvc_up(5);
    const char *args[] = {"-n", "20", "-c", "2", "-H", "X-Test: 1", "-m", "POST", "-b", "{\"a\":1}", "--json", svc_url,
                          NULL};
    run_loadgen_json(args, 15000, &r);
    const char *top[] = {"requests", "duration_s", "rps", "latency_ms", "codes", "errors"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        ck_assert_msg(json_object_get(r.json, top[i]) != NULL, "missing %s", top[i]);
    const char *lat[] = {"p50", "p90", "p99", "p999", "max", "mean"};
    for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++)
        ck_assert(jnum(r.json, "latency_ms", lat[i]) >= 5.0);
    const char *err[] = {"connect", "read", "write", "timeout"};
    for (size_t i = 0; i < sizeof err / sizeof err[0]; i++)
        ck_assert_int_eq(jint(r.json, "errors", err[i]), 0);
    ck_assert_int_eq(jint(r.json, "codes", "200"), 20);
    /* exactly one object and nothing else on stdout */
    ck_assert_ptr_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1);
    proc_result_free(&r);

    /* the human summary names the same figures */
    const char *text[] = {"-n", "5", "-c", "1", svc_url, NULL};
    run_prog("loadgen", text, 15000, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "requests   5 "));
    ck_assert_ptr_nonnull(strstr(r.out, "p99.9"));
    ck_assert_ptr_nonnull(strstr(r.out, "200: 5"));
    ck_assert_ptr_nonnull(strstr(r.out, "timeout 0"));
    proc_result_free(&r);
    slowsvc_down();
}
END_TEST

START_TEST(bad_flags_exit_2_naming_them)
{
    struct proc_result r;
    struct {
        const char *args[6];
        const char *names;
    } cases[] = {
        {{"-c", "zero", "http://127.0.0.1:1/", NULL}, "-c"},
        {{"--bogus", "http://127.0.0.1:1/", NULL}, "--bogus"},
        {{"-d", "1s", "-n", "5", "http://127.0.0.1:1/", NULL}, "-n"},
        {{"-d", "1s", NULL}, "URL"},
        {{"https://127.0.0.1:1/", NULL}, "URL"},
        {{"-H", "no colon", "http://127.0.0.1:1/", NULL}, "header"},
        {{"-t", "-1s", "http://127.0.0.1:1/", NULL}, "-t"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_prog("loadgen", cases[i].args, 5000, &r);
        ck_assert_msg(r.exit_code == 2, "case %zu: exit %d", i, r.exit_code);
        ck_assert_msg(strstr(r.err, cases[i].names) != NULL, "case %zu: %s", i, r.err);
        proc_result_free(&r);
    }
    const char *help[] = {"--help", NULL};
    run_prog("loadgen", help, 5000, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "--rate"));
    ck_assert_ptr_nonnull(strstr(r.out, "loadgen jobs"));
    proc_result_free(&r);
}
END_TEST

static bool file_has(const char *path, const char *needle)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    char *s = slurp(path);
    bool found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

/* The suite against slowsvc standing in for the API: every route answers
 * "done" after 100 ms, /info and /queues are not JSON (tolerated: the limits
 * fall back to flags and defaults). */
START_TEST(suite_writes_table_json_and_charts)
{
    struct proc_result r;
    char api[64], out[] = "/tmp/offload-suite.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(out));
    char outdir[128];
    snprintf(outdir, sizeof outdir, "%s/nested", out);
    slowsvc_up(100);
    snprintf(api, sizeof api, "http://127.0.0.1:%d", svc_port);
    const char *args[] = {"suite", "--api", api, "--out", outdir, "--duration", "1s", "--concurrency", "10",
                          "--cores", "2", "--threads", "4", "--workers", "3", NULL};
    run_prog("loadgen", args, 60000, &r);
    ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "| experiment | mode | concurrency | req/s | limit | efficiency | p99 ms | "
                                        "/healthz p99 ms |"));
    ck_assert_ptr_nonnull(strstr(r.out, "| cpu | queue | 10 |"));
    ck_assert_ptr_nonnull(strstr(r.out, "| io | blocking | 10 |"));

    char path[200];
    snprintf(path, sizeof path, "%s/results.json", outdir);
    json_t *res = json_load_file(path, 0, NULL);
    ck_assert_msg(json_is_array(res) && json_array_size(res) == 6, "results.json: 6 modes");
    const char *want[][2] = {{"cpu", "inline"}, {"cpu", "thread"}, {"cpu", "queue"},
                             {"io", "async"},   {"io", "blocking"}, {"io", "thread"}};
    /* limits from the flags: 500 ms task, 500 ms upstream, 10 clients */
    const double limits[] = {2, 4, 4, 20, 2, 8};
    for (size_t i = 0; i < 6; i++) {
        json_t *m = json_array_get(res, i);
        ck_assert_str_eq(json_string_value(json_object_get(m, "experiment")), want[i][0]);
        ck_assert_str_eq(json_string_value(json_object_get(m, "mode")), want[i][1]);
        ck_assert_int_eq(jint(m, "concurrency", NULL), 10);
        double rps = jnum(m, "rps", NULL);
        ck_assert_msg(rps > 80 && rps <= 101, "%s/%s rps %.1f: 10 clients x 100 ms", want[i][0], want[i][1], rps);
        ck_assert(jnum(m, "limit", NULL) == limits[i]);
        double eff = jnum(m, "efficiency", NULL);
        ck_assert(eff > rps / limits[i] - 0.01 && eff < rps / limits[i] + 0.01);
        double p99 = jnum(m, "p99_ms", NULL), hz = jnum(m, "healthz_p99_ms", NULL);
        ck_assert_msg(p99 >= 99 && p99 < 200, "p99 %.1f", p99);
        ck_assert_msg(hz >= 99 && hz < 200, "/healthz p99 %.1f", hz);
    }
    json_decref(res);
    snprintf(path, sizeof path, "%s/cpu.svg", outdir);
    ck_assert(file_has(path, ">Reqs/sec</text>") && file_has(path, ">inline</text>") && file_has(path, "limit 4"));
    snprintf(path, sizeof path, "%s/io.svg", outdir);
    ck_assert(file_has(path, ">blocking</text>") && file_has(path, "limit 20") && file_has(path, "</svg>"));
    proc_result_free(&r);

    /* --only picks experiments or single modes; a bad name is a bad flag */
    const char *only[] = {"suite", "--api", api, "--out", outdir, "--duration", "300ms", "--concurrency", "2",
                          "--only", "io/async", NULL};
    run_prog("loadgen", only, 30000, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "| io | async | 2 |"));
    ck_assert_ptr_null(strstr(r.out, "| cpu |"));
    proc_result_free(&r);
    const char *bad[] = {"suite", "--api", api, "--only", "gpu", NULL};
    run_prog("loadgen", bad, 5000, &r);
    ck_assert_int_eq(r.exit_code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--only"));
    proc_result_free(&r);
    slowsvc_down();

    /* no API at all: fatal, exit 1 */
    const char *dead[] = {"suite", "--api", api, "--out", outdir, NULL};
    run_prog("loadgen", dead, 15000, &r);
    ck_assert_int_eq(r.exit_code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "does not answer"));
    proc_result_free(&r);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static struct stack S;

/* Samples offload_waiters from the API's /metrics until stop is set. */
struct waiter_sampler {
    struct stack *stack;
    volatile int stop;
    int samples;
    long max_waiters;
};

static void *waiter_sample(void *arg)
{
    struct waiter_sampler *ws = arg;
    char url[256];
    redisContext *c = harness_redis_connect(&ws->stack->redis);
    snprintf(url, sizeof url, "%s/metrics", ws->stack->base);
    while (c && !ws->stop) {
        struct http_resp m;
        long n = -1;
        if (http_do("GET", url, NULL, 0, NULL, 2000, &m) == 0 && m.code == 200) {
            const char *g = strstr(m.body, "\noffload_waiters ");
            if (g != NULL)
                n = strtol(g + strlen("\noffload_waiters "), NULL, 10);
        }
        /* Counted only if jobs were still queued *after* the sample: then the
         * queue's tail, the one job loadgen waits on, had not ended. Asked of
         * Redis itself: /queues may be a second old. */
        if (n >= 0) {
            redisReply *depth = redisCommand(c, "LLEN offload:q:default");
            if (depth && depth->type == REDIS_REPLY_INTEGER && depth->integer > 0) {
                ws->max_waiters = n > ws->max_waiters ? n : ws->max_waiters;
                ws->samples++;
            }
            freeReplyObject(depth);
        }
        http_resp_free(&m);
        harness_sleep_ms(5);
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* loadgen jobs through the real api, Redis and two workers. */
START_TEST(jobs_measure_the_queue_end_to_end)
{
    struct stack_opts so = {.workers = 2};
    ck_assert_msg(stack_start(&S, &so) == 0, "stack did not start");
    struct proc_result r;

    const char *one[] = {"jobs", "--api", S.base, "-n", "30", "--ms", "20", "-c", "4", "--json", NULL};
    run_loadgen_json(one, 60000, &r);
    ck_assert_int_eq(jint(r.json, "jobs", NULL), 30);
    ck_assert_int_eq(jint(r.json, "submitted", NULL), 30);
    ck_assert_int_eq(jint(r.json, "finished", NULL), 30);
    ck_assert_int_eq(jint(r.json, "states", "done"), 30);
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "states")), 1);
    ck_assert_int_eq(jint(r.json, "errors", "submit") + jint(r.json, "errors", "poll"), 0);
    double jps = jnum(r.json, "jobs_per_s", NULL), dur = jnum(r.json, "duration_s", NULL);
    ck_assert_msg(jps > 0 && jps < 2 * 1000.0 / 20 * 1.05, "jobs/s %.1f over 2 workers of 20 ms", jps);
    ck_assert(jps > 30 / dur - 0.01 && jps < 30 / dur + 0.01);
    /* each job costs 20 ms, so done comes at least 20 ms after enqueue */
    ck_assert(jnum(r.json, "enqueue_to_done_ms", "p50") >= 19.9);
    ck_assert(jnum(r.json, "enqueue_to_done_ms", "max") >= jnum(r.json, "enqueue_to_start_ms", "max"));
    proc_result_free(&r);

    const char *batch[] = {"jobs", "--api", S.base, "-n", "250", "--ms", "0", "-c", "2", "--batch", "100",
                           "--json", NULL};
    run_loadgen_json(batch, 60000, &r);
    ck_assert_int_eq(jint(r.json, "submitted", NULL), 250);
    ck_assert_int_eq(jint(r.json, "states", "done"), 250);
    proc_result_free(&r);

    /* --poll-after: while the queue works only the last job is long-polled.
     * A sampler reads the API's waiter gauge meanwhile: without the gate,
     * the 4 waiting connections would all be parked on running jobs. */
    struct waiter_sampler ws = {.stack = &S};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, waiter_sample, &ws), 0);
    const char *after[] = {"jobs", "--api", S.base, "-n", "300", "--ms", "10", "-c", "4", "--batch", "50",
                           "--poll-after", "--json", NULL};
    run_loadgen_json(after, 60000, &r);
    ws.stop = 1;
    pthread_join(th, NULL);
    ck_assert_int_eq(jint(r.json, "states", "done"), 300);
    ck_assert_int_eq(jint(r.json, "errors", "poll"), 0);
    ck_assert_msg(ws.samples >= 5, "only %d samples of /metrics", ws.samples);
    ck_assert_msg(ws.max_waiters <= 1, "%ld waiters at once with --poll-after", ws.max_waiters);
    proc_result_free(&r);

    /* open loop: 20 jobs at 20/s take about a second to submit */
    const char *steady[] = {"jobs", "--api", S.base, "-n", "20", "--ms", "0", "-R", "20", "--json", NULL};
    run_loadgen_json(steady, 60000, &r);
    ck_assert_int_eq(jint(r.json, "states", "done"), 20);
    double submit_s = jnum(r.json, "submit_s", NULL);
    ck_assert_msg(submit_s > 0.9 && submit_s < 1.5, "submit_s %.2f for 20 jobs at 20/s", submit_s);
    ck_assert(jnum(r.json, "enqueue_to_start_ms", "p50") < 500);
    proc_result_free(&r);

    /* the human summary */
    const char *text[] = {"jobs", "--api", S.base, "-n", "5", "--ms", "0", NULL};
    run_prog("loadgen", text, 60000, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "enqueue->start"));
    ck_assert_ptr_nonnull(strstr(r.out, "done 5"));
    proc_result_free(&r);

    /* the suite reads the limits from the real /info and /queues */
    char out[] = "/tmp/offload-suite.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(out));
    const char *suite[] = {"suite", "--api", S.base, "--out", out, "--duration", "1s", "--concurrency", "4",
                           "--only", "cpu/queue", NULL};
    run_prog("loadgen", suite, 60000, &r);
    ck_assert_msg(r.exit_code == 0, "suite exit %d: %s", r.exit_code, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "threads 10 (/info)") ? r.err : strstr(r.err, "(/info)"));
    ck_assert_ptr_nonnull(strstr(r.err, "workers 2 (/queues)"));
    ck_assert_ptr_nonnull(strstr(r.out, "| cpu | queue | 4 |"));
    proc_result_free(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    ck_assert_int_eq(system(cmd), 0);
    stack_stop(&S);
}
END_TEST

START_TEST(jobs_without_an_api_exit_1)
{
    struct proc_result r;
    char api[64];
    snprintf(api, sizeof api, "http://127.0.0.1:%d", harness_free_port());
    const char *args[] = {"jobs", "--api", api, "-n", "3", NULL};
    run_prog("loadgen", args, 15000, &r);
    ck_assert_int_eq(r.exit_code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no job was accepted"));
    proc_result_free(&r);
    const char *bad[] = {"jobs", "--batch", "0", NULL};
    run_prog("loadgen", bad, 5000, &r);
    ck_assert_int_eq(r.exit_code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--batch"));
    proc_result_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loadgen");
    TCase *tc = tcase_create("loadgen");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, slowsvc_answers_after_delay_and_obeys_knobs);
    tcase_add_test(tc, slowsvc_flags);
    tcase_add_test(tc, closed_loop_counts_and_latency);
    tcase_add_test(tc, count_is_exact);
    tcase_add_test(tc, connect_errors_on_a_closed_port);
    tcase_add_test(tc, timeouts_when_slower_than_t);
    tcase_add_test(tc, read_errors_when_server_closes);
    tcase_add_test(tc, non_2xx_is_not_success);
    tcase_add_test(tc, write_errors_when_reset_mid_body);
    tcase_add_test(tc, open_loop_keeps_its_schedule);
    tcase_add_test(tc, json_has_every_field);
    tcase_add_test(tc, bad_flags_exit_2_naming_them);
    tcase_add_test(tc, suite_writes_table_json_and_charts);
    tcase_add_test(tc, jobs_without_an_api_exit_1);
    suite_add_tcase(s, tc);
    TCase *stack = tcase_create("stack");
    tcase_set_timeout(stack, 180);
    tcase_add_test(stack, jobs_measure_the_queue_end_to_end);
    suite_add_tcase(s, stack);
    return unit_run(s);
}
