/* /metrics as a Prometheus scraper sees it: a real stack's page, with a
 * sample in every family, goes through Prometheus's own linter
 * (`promtool check metrics`, Debian's `prometheus` package, installed by
 * tools/deps.sh), which must accept it without a word. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/stack.h"

/* The linter's own output is short; more than this is cut in the message. */
#define LINT_OUT_MAX 16384
#define PROMTOOL "promtool"

static struct stack S;

/* The absolute path of PROMTOOL in PATH copied into buf, or NULL. */
static const char *promtool_path(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    if (path == NULL || strlen(path) >= sizeof dirs)
        return NULL;
    strcpy(dirs, path);
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(buf, len, "%s/%s", d[0] ? d : ".", PROMTOOL) < (int)len && access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

/* Runs `promtool check metrics` with text on its stdin; its stdout and
 * stderr together go to out (NUL-terminated, cut at outlen - 1). Returns
 * the waitpid status, or -1 when it could not be run. */
static int promtool_check(const char *tool, const char *text, size_t len, char *out, size_t outlen)
{
    int in[2] = {-1, -1}, res[2] = {-1, -1}, status = -1;
    size_t got = 0;
    pid_t pid;
    if (pipe(in) != 0)
        goto err;
    if (pipe(res) != 0)
        goto err;
    pid = fork();
    if (pid < 0)
        goto err;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(res[1], 1);
        dup2(res[1], 2);
        close(in[0]);
        close(in[1]);
        close(res[0]);
        close(res[1]);
        execl(tool, tool, "check", "metrics", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(res[1]);
    in[0] = res[1] = -1;
    /* promtool reads everything before it prints, so writing all first
     * cannot deadlock on a full output pipe */
    signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(in[1], text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(in[1]);
    in[1] = -1;
    for (;;) {
        char chunk[1024];
        ssize_t n = read(res[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = (size_t)n < outlen - 1 - got ? (size_t)n : outlen - 1 - got;
        memcpy(out + got, chunk, keep);
        got += keep;
    }
    out[got] = '\0';
    close(res[0]);
    res[0] = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
err:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (res[i] >= 0)
            close(res[i]);
    }
    return -1;
}

/* Whether every sample line follows its own family's TYPE line, each
 * family in one group (the text format asks it; OpenMetrics refuses
 * interleaving). A histogram's samples are NAME_bucket, _sum and _count.
 * Returns the first offending line, or NULL. */
static const char *interleaved(const char *page)
{
    static char line[256];
    char family[128] = "";
    for (const char *p = page; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            snprintf(family, sizeof family, "%.*s", (int)strcspn(line + 7, " "), line + 7);
        } else if (line[0] != '#' && line[0] != '\0') {
            size_t fl = strlen(family);
            const char *rest = line + fl;
            if (fl == 0 || strncmp(line, family, fl) != 0 ||
                !(strchr("{ ", rest[0]) || strncmp(rest, "_bucket", 7) == 0 || strncmp(rest, "_sum", 4) == 0 ||
                  strncmp(rest, "_count", 6) == 0))
                return line;
        }
        p += n + (end ? 1 : 0);
    }
    return NULL;
}

static void want(const char *method, const char *path, const char *body, long code)
{
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, method, path, body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == code, "%s %s %s: want %ld got %ld: %s", method, path, body ? body : "", code, r.code,
                  r.body);
    http_resp_free(&r);
}

START_TEST(metrics_pass_promtool)
{
    char tool[4096], lint[LINT_OUT_MAX];
    struct http_resp r;
    ck_assert_msg(promtool_path(tool, sizeof tool) != NULL,
                  "promtool not found in PATH: run tools/deps.sh (as root it installs Debian's prometheus)");
    struct stack_opts o = {.workers = 1};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    /* something in every family: jobs done, a second queue with a waiting
     * job, a scheduled one, a dead one, requests that failed */
    want("POST", "/jobs?wait=10", "{\"ms\":1}", 200);
    want("POST", "/jobs?wait=10", "{\"ms\":1}", 200);
    want("POST", "/jobs", "{\"ms\":1,\"queue\":\"lint_other\"}", 202);
    want("POST", "/jobs", "{\"ms\":1,\"delay\":\"1h\"}", 202);
    want("POST", "/jobs?wait=10", "{\"task\":\"no_such_task\",\"max_attempts\":1}", 200);
    want("POST", "/jobs", "{not json", 400);
    want("GET", "/no/such/route", NULL, 404);
    want("GET", "/queues", NULL, 200);
    want("GET", "/metrics", NULL, 200); /* the next scrape reports this one's latency */
    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, NULL, 10000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    /* the page is the one meant: queue lines and requests by code are in it */
    ck_assert_msg(strstr(r.body, "offload_queue_depth{queue=\"lint_other\"} 1") != NULL, "%.3000s", r.body);
    ck_assert_msg(strstr(r.body, "code=\"400\"") != NULL, "%.3000s", r.body);
    const char *bad = interleaved(r.body);
    ck_assert_msg(bad == NULL, "a sample outside its family's group: %s", bad ? bad : "");
    int status = promtool_check(tool, r.body, r.len, lint, sizeof lint);
    ck_assert_msg(status != -1, "could not run %s", tool);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0 && lint[0] == '\0'))
        fprintf(stderr, "--- /metrics:\n%s--- promtool check metrics says:\n%s", r.body, lint);
    /* Check's messages are short: the whole of both is on stderr above */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && lint[0] == '\0',
                  "promtool check metrics (exit %d) rejects /metrics: %.3000s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  lint);
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_lint");
    TCase *tc = tcase_create("promtool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, metrics_pass_promtool);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
