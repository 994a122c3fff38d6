/* Hostile clients: each is answered with a 4xx or a close, and the API
 * stays alive and serving after all of them. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("clients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, garbage_and_lies);
    tcase_add_test(tc, conflicting_content_lengths_refused);
    tcase_add_test(tc, slowloris_is_closed);
    tcase_add_test(tc, over_max_inflight_is_fast_503);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
