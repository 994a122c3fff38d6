/* loadgen's HTTP pieces without a network: the response parser (fed whole
 * and byte by byte), the request builder, the argument splitter, and the
 * POST /jobs bodies of `loadgen jobs` with the flags that shape them. */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "loadgen/flags.h"
#include "loadgen/http_parse.h"
#include "loadgen/jobbody.h"
#include "loadgen/jobs.h"
#include "loadgen/request.h"
#include "tests/unit/unit.h"

/* Feeds `resp` as a connection would: `step` bytes per read, keeping the
 * unconsumed tail. Returns the bytes left after the response ended (-1 on a
 * parse error); the parser holds the result. */
static long feed_in_steps(struct http_parser *p, const char *resp, size_t step, bool eof)
{
    size_t len = strlen(resp), off = 0;
    char buf[HTTP_LINE_MAX * 2];
    size_t have = 0;
    while (off < len && p->state != HP_DONE) {
        size_t n = len - off < step ? len - off : step;
        memcpy(buf + have, resp + off, n);
        off += n;
        have += n;
        ssize_t used = http_parser_feed(p, buf, have);
        if (used < 0)
            return -1;
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
    }
    if (p->state != HP_DONE && eof && http_parser_eof(p) != 0)
        return -1;
    return (long)(len - off + have);
}

/* The same response parsed at every step size gives the same result. */
static void check_all_steps(const char *resp, bool head, int status, const char *body, bool keep_alive, bool eof)
{
    for (size_t step = 1; step <= strlen(resp); step++) {
        struct http_parser p = {0};
        http_parser_reset(&p, head, true);
        long left = feed_in_steps(&p, resp, step, eof);
        ck_assert_msg(left == 0, "step %zu: left %ld state %d", step, left, (int)p.state);
        ck_assert_int_eq(p.state, HP_DONE);
        ck_assert_int_eq(p.status, status);
        ck_assert_str_eq(p.body ? p.body : "", body);
        ck_assert_int_eq(p.body_bytes, strlen(body));
        ck_assert_int_eq(p.keep_alive, keep_alive);
        http_parser_free(&p);
    }
}

START_TEST(parses_content_length)
{
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\ndone", false, 200,
                    "done", true, false);
    check_all_steps("HTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n", false, 404, "", true, false);
    /* bare LF line ends are tolerated */
    check_all_steps("HTTP/1.1 503 Service Unavailable\nContent-Length: 2\nConnection: close\n\nno", false, 503, "no",
                    false, false);
}
END_TEST

START_TEST(parses_chunked)
{
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4\r\ndone\r\nA;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
                    false, 200, "done0123456789", true, false);
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false, 200, "", true,
                    false);
}
END_TEST

START_TEST(body_until_close)
{
    /* neither length nor chunked: the body ends with the connection */
    check_all_steps("HTTP/1.0 200 OK\r\n\r\nall of it", false, 200, "all of it", false, true);
    struct http_parser p = {0};
    http_parser_reset(&p, false, false);
    ck_assert_int_eq(feed_in_steps(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 100, true), -1);
    http_parser_free(&p);
}
END_TEST

START_TEST(no_body_cases)
{
    /* HEAD: Content-Length describes the GET body, none follows */
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, 200, "", true, false);
    check_all_steps("HTTP/1.1 204 No Content\r\n\r\n", false, 204, "", true, false);
    check_all_steps("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, 304, "", true, false);
    /* an interim 100 Continue is skipped */
    check_all_steps("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false, 201,
                    "ok", true, false);
    /* HTTP/1.0 keep-alive only when asked */
    check_all_steps("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", false, 200, "x", true,
                    false);
}
END_TEST

START_TEST(stops_at_response_end)
{
    struct http_parser p = {0};
    http_parser_reset(&p, false, false);
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n";
    ssize_t used = http_parser_feed(&p, two, strlen(two));
    ck_assert_int_eq(p.state, HP_DONE);
    ck_assert_int_eq(used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"));
    http_parser_free(&p);
}
END_TEST

START_TEST(rejects_malformed)
{
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_parser p = {0};
        http_parser_reset(&p, false, false);
        ck_assert_msg(http_parser_feed(&p, bad[i], strlen(bad[i])) == -1, "accepted: %s", bad[i]);
        ck_assert_int_eq(p.state, HP_ERROR);
    }
    /* an endless header line is refused once it passes the limit */
    static char longline[HTTP_LINE_MAX + 64];
    strcpy(longline, "HTTP/1.1 200 OK\r\nX: ");
    memset(longline + strlen(longline), 'a', HTTP_LINE_MAX);
    struct http_parser p = {0};
    http_parser_reset(&p, false, false);
    ck_assert_int_eq(http_parser_feed(&p, longline, strlen(longline)), -1);
}
END_TEST

START_TEST(request_bytes)
{
    struct http_url u;
    char err[256];
    ck_assert_int_eq(http_url_parse("http://example.test:8080/a/b?x=1", &u, err, sizeof err), 0);
    struct request r;
    const char *h[] = {"Accept: */*", "X-Trace: 1"};
    ck_assert_int_eq(request_build(&r, "POST", &u, h, 2, "{\"ms\":5}", 8, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(r.buf, "POST /a/b?x=1 HTTP/1.1\r\nHost: example.test:8080\r\n"));
    ck_assert_ptr_nonnull(strstr(r.buf, "\r\nAccept: */*\r\nX-Trace: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(r.buf, "\r\nContent-Length: 8\r\n\r\n{\"ms\":5}"));
    ck_assert_int_eq(r.len, strlen(r.buf));
    ck_assert(!r.head);
    request_free(&r);

    /* a user's Host replaces ours; GET without a body has no Content-Length */
    const char *host[] = {"host: other"};
    ck_assert_int_eq(request_build(&r, "HEAD", &u, host, 1, NULL, 0, err, sizeof err), 0);
    ck_assert_ptr_null(strstr(r.buf, "Host: example"));
    ck_assert_ptr_null(strstr(r.buf, "Content-Length"));
    ck_assert(r.head);
    ck_assert(r.len >= 4 && memcmp(r.buf + r.len - 4, "\r\n\r\n", 4) == 0);
    request_free(&r);

    const char *bad1[] = {"NoColon"}, *bad2[] = {"X: a\r\nInjected: 1"}, *bad3[] = {"Bad Name: x"};
    ck_assert_int_eq(request_build(&r, "GET", &u, bad1, 1, NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(request_build(&r, "GET", &u, bad2, 1, NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(request_build(&r, "GET", &u, bad3, 1, NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(request_build(&r, "GE T", &u, NULL, 0, NULL, 0, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "method"));
}
END_TEST

/* A mutable copy of a NULL-terminated list of strings, as argv is. */
static char **mkargv(const char *const *src)
{
    int n = 0;
    while (src[n] != NULL)
        n++;
    char **v = calloc((size_t)n + 1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_nonnull(v[i] = strdup(src[i]));
    return v;
}

static void freeargv(char **v)
{
    for (int i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

START_TEST(split_args_moves_headers_and_url)
{
    long c = 0;
    const char *m = NULL;
    bool j = false;
    const struct opt opts[] = {
        {"connections", 'c', NULL, OPT_INT, &c, 0, 0, ""},
        {"method", 'm', NULL, OPT_STR, &m, 0, 0, ""},
        {"json", 0, NULL, OPT_BOOL, &j, 0, 0, ""},
    };
    const struct config_spec spec = {.prog = "t", .opts = opts, .nopts = 3, .allow_positional = true};
    const char *const args1[] = {"loadgen", "http://h/", "-H", "A: 1", "-c", "http-looking-value", "--json",
                                 "--header=B: 2", "-HC: 3", "-m", "-H", NULL};
    char **argv = mkargv(args1);
    int argc = 11;
    char *out[13];
    const char *hdrs[11];
    size_t nh;
    char err[128];
    int n = flags_split_args(&spec, argc, argv, out, hdrs, &nh, err, sizeof err);
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(nh, 3);
    ck_assert_str_eq(hdrs[0], "A: 1");
    ck_assert_str_eq(hdrs[1], "B: 2");
    ck_assert_str_eq(hdrs[2], "C: 3");
    ck_assert_str_eq(out[1], "-c");
    ck_assert_str_eq(out[2], "http-looking-value");
    ck_assert_str_eq(out[3], "--json");
    ck_assert_str_eq(out[4], "-m");
    ck_assert_str_eq(out[5], "-H"); /* the method's value, not a header flag */
    ck_assert_str_eq(out[6], "--");
    ck_assert_str_eq(out[7], "http://h/");
    ck_assert_ptr_null(out[8]);

    const char *const args2[] = {"loadgen", "a", "-c", "1", "b", "--", "-c", NULL};
    char **two = mkargv(args2);
    n = flags_split_args(&spec, 7, two, out, hdrs, &nh, err, sizeof err);
    ck_assert_int_eq(n, 7);
    ck_assert_str_eq(out[1], "-c");
    ck_assert_str_eq(out[2], "1");
    ck_assert_str_eq(out[3], "--");
    ck_assert_str_eq(out[4], "a");
    ck_assert_str_eq(out[5], "b");
    ck_assert_str_eq(out[6], "-c");
    ck_assert_ptr_null(out[7]);

    const char *const args3[] = {"loadgen", "-H", NULL};
    char **dangling = mkargv(args3);
    ck_assert_int_eq(flags_split_args(&spec, 2, dangling, out, hdrs, &nh, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "-H"));
    freeargv(argv);
    freeargv(two);
    freeargv(dangling);
}
END_TEST

/* jobbody_object's text, which must also parse as one JSON object. */
static char *object_text(const struct jobbody *b)
{
    size_t len;
    char *t = jobbody_object(b, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(len, strlen(t));
    json_t *v = json_loads(t, 0, NULL);
    ck_assert_msg(json_is_object(v), "not a JSON object: %s", t);
    json_decref(v);
    return t;
}

START_TEST(job_bodies)
{
    /* no task: today's burn job, byte for byte */
    struct jobbody b = {.ms = 500, .queue = "default"};
    char *t = object_text(&b);
    ck_assert_str_eq(t, "{\"ms\":500,\"queue\":\"default\"}");
    free(t);
    /* a user task: no ms even when one is set, args verbatim, timeout as a duration */
    b = (struct jobbody){.task = "resize", .ms = 500, .args = "{\"w\": 64, \"h\":[1,2]}", .timeout_ms = 30000,
                         .queue = "img"};
    t = object_text(&b);
    ck_assert_str_eq(t, "{\"task\":\"resize\",\"args\":{\"w\": 64, \"h\":[1,2]},"
                        "\"timeout\":\"30s\",\"queue\":\"img\"}");
    free(t);
    /* burn named explicitly keeps its ms; any JSON value is an args */
    b = (struct jobbody){.task = "burn", .ms = 20, .args = "null", .timeout_ms = 250};
    t = object_text(&b);
    ck_assert_str_eq(t, "{\"task\":\"burn\",\"ms\":20,\"args\":null,\"timeout\":\"250ms\"}");
    free(t);
    /* the suite's body: task and args only */
    b = (struct jobbody){.task = "x.y:z-1", .ms = -1, .args = "\"s\""};
    t = object_text(&b);
    ck_assert_str_eq(t, "{\"task\":\"x.y:z-1\",\"args\":\"s\"}");
    free(t);
    /* timeouts in the shortest exact unit the API reads */
    const struct {
        int64_t ms;
        const char *text;
    } tm[] = {{120000, "\"2m\""}, {3600000, "\"1h\""}, {1500, "\"1500ms\""}, {90000, "\"90s\""}};
    for (size_t i = 0; i < sizeof tm / sizeof tm[0]; i++) {
        b = (struct jobbody){.ms = -1, .timeout_ms = tm[i].ms};
        t = object_text(&b);
        ck_assert_msg(strstr(t, tm[i].text) != NULL, "%lld ms: %s", (long long)tm[i].ms, t);
        free(t);
    }
    b = (struct jobbody){.ms = -1};
    t = object_text(&b);
    ck_assert_str_eq(t, "{}");
    free(t);
}
END_TEST

START_TEST(job_batches)
{
    const char *one = "{\"task\":\"t\",\"args\":[1]}";
    size_t len;
    char *body = jobbody_batch(one, strlen(one), 1, &len);
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body, one); /* one job: the object, not an array */
    ck_assert_int_eq(len, strlen(one));
    free(body);
    body = jobbody_batch(one, strlen(one), 3, &len);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(len, strlen(body));
    json_t *v = json_loads(body, 0, NULL);
    ck_assert(json_is_array(v));
    ck_assert_int_eq(json_array_size(v), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, i), "task")), "t");
    json_decref(v);
    free(body);
}
END_TEST

START_TEST(args_must_be_json)
{
    char err[256];
    const char *good[] = {"{}", " {\"a\": [1, {\"b\": null}]} ", "\"text\"", "null", "1.5", "[1,2]", "true"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(jobbody_args_check(good[i], err, sizeof err) == 0, "refused %s: %s", good[i], err);
    const char *bad[] = {"{bad", "", "1,2", "{} {}", "'single'", "[1,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(jobbody_args_check(bad[i], err, sizeof err) == -1, "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "not JSON"));
    }
}
END_TEST

/* Runs `loadgen jobs` with args (NULL-terminated after "jobs"); returns its
 * exit code and, in *out, what it wrote to fd (caller frees). */
static int run_jobs(const char *const *args, int fd, char **out)
{
    const char *full[32] = {"jobs"};
    int argc = 1;
    for (; args[argc - 1] != NULL; argc++)
        full[argc] = args[argc - 1];
    char **argv = mkargv(full);
    struct capture c;
    capture_begin(&c, fd);
    int rc = jobs_main(argc, argv);
    *out = capture_end(&c);
    freeargv(argv);
    return rc;
}

START_TEST(jobs_task_flags)
{
    /* each bad value exits 2 before any request, naming its flag */
    const struct {
        const char *args[8];
        const char *names;
    } bad[] = {
        {{"--task", "resize", "--args", "{bad", NULL}, "--args: not JSON"},
        {{"--args", "1,2", NULL}, "--args: not JSON"},
        {{"--task", "Resize", NULL}, "--task:"},
        {{"--task", "resize", "--ms", "5", NULL}, "--ms: only for task burn"},
        {{"--task", "resize", "--job-timeout", "5ms", NULL}, "--job-timeout:"},
        {{"--job-timeout", "forever", NULL}, "--job-timeout:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err;
        ck_assert_int_eq(run_jobs(bad[i].args, STDERR_FILENO, &err), 2);
        ck_assert_msg(strstr(err, bad[i].names) != NULL, "case %zu: %s", i, err);
        free(err);
    }
    const char *help[] = {"--help", NULL};
    char *out;
    ck_assert_int_eq(run_jobs(help, STDOUT_FILENO, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--task STRING"));
    ck_assert_ptr_nonnull(strstr(out, "--args STRING"));
    ck_assert_ptr_nonnull(strstr(out, "--job-timeout DURATION"));
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loadgen_http");
    TCase *tc = tcase_create("http");
    tcase_add_test(tc, parses_content_length);
    tcase_add_test(tc, parses_chunked);
    tcase_add_test(tc, body_until_close);
    tcase_add_test(tc, no_body_cases);
    tcase_add_test(tc, stops_at_response_end);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, request_bytes);
    tcase_add_test(tc, split_args_moves_headers_and_url);
    tcase_add_test(tc, job_bodies);
    tcase_add_test(tc, job_batches);
    tcase_add_test(tc, args_must_be_json);
    tcase_add_test(tc, jobs_task_flags);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
