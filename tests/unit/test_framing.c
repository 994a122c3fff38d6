/* Unit tests for api/framing.c: it follows heads, Content-Length and
 * chunked bodies the way evhttp reads them, in any split, and flags only a
 * chunk-size line evhttp would refuse as corrupt. */
#include "api/framing.h"

#include <check.h>
#include <string.h>

#include "tests/unit/unit.h"

/* Feeds s whole, then again one byte at a time: both must agree. */
static enum framing_verdict feed_both(const char *s, enum framing_state *end)
{
    struct framing whole, bytes;
    enum framing_verdict v1, v2 = FRAMING_OK;
    size_t n = strlen(s);
    framing_init(&whole);
    framing_init(&bytes);
    v1 = framing_feed(&whole, s, n);
    for (size_t i = 0; i < n && v2 == FRAMING_OK; i++)
        v2 = framing_feed(&bytes, s + i, 1);
    ck_assert_int_eq(v1, v2);
    if (v1 == FRAMING_OK)
        ck_assert_int_eq(whole.state, bytes.state);
    if (end)
        *end = whole.state;
    return v1;
}

START_TEST(pipelined_requests_end_where_they_end)
{
    enum framing_state st;
    const char *s = "POST /jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "1\r\n{\r\n1 \r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n"
                    "POST /jobs HTTP/1.1\r\nContent-Length: 11\r\n\r\n0\r\nzz\r\n\r\n\r\n"
                    "GET /healthz HTTP/1.1\r\n\r\n"
                    "HEAD /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                    "POST /jobs HTTP/1.1\nTransfer-Encoding: chunked\n\n"
                    "0x2\n{}\n0\n\n";
    /* the Content-Length body holds a bad chunk line: it is body, not framing */
    ck_assert_int_eq(feed_both(s, &st), FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_HEAD);
}
END_TEST

START_TEST(bad_chunk_size_lines_are_flagged)
{
    static const char *const bad[] = {"zz", "-1", "-0", "1;ext=2", "ffffffffffffffffffffffff", "g1", ";", " "};
    char req[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(req, sizeof req, "POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n%s\r\n", bad[i]);
        ck_assert_msg(feed_both(req, NULL) == FRAMING_BAD_CHUNK, "'%s' was not flagged", bad[i]);
    }
}
END_TEST

START_TEST(good_chunk_size_lines_pass)
{
    static const char *const good[] = {"2", "02", "2 ", "2 anything", "+2", "0x2"};
    char req[256];
    enum framing_state st;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(req, sizeof req, "POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n{}\r\n0\r\n\r\n",
                 good[i]);
        ck_assert_msg(feed_both(req, &st) == FRAMING_OK, "'%s' was flagged", good[i]);
        ck_assert_int_eq(st, FRAMING_HEAD);
    }
}
END_TEST

/* Only the first Transfer-Encoding counts, only "chunked" exactly, and it
 * wins over Content-Length: as evhttp reads it. */
START_TEST(framing_follows_evhttp_headers)
{
    enum framing_state st;
    ck_assert_int_eq(feed_both("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &st),
                     FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_CHUNK_SIZE);
    ck_assert_int_eq(feed_both("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n", &st),
                     FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_CHUNK_SIZE);
    ck_assert_int_eq(feed_both("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", &st),
                     FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_BODY);
    /* "chunked" not last: libevent builds disagree, so it stops following */
    ck_assert_int_eq(feed_both("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nzz\r\n", &st),
                     FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_LOST);
    ck_assert_int_eq(feed_both("POST / HTTP/1.1\r\ntransfer-encoding:  CHUNKED \r\n\r\n", &st), FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_CHUNK_SIZE);
    ck_assert_int_eq(feed_both("TRACE / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &st), FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_HEAD);
}
END_TEST

/* A line it cannot judge whole makes it stop following, never flag. */
START_TEST(overlong_lines_stop_following)
{
    char req[1024];
    enum framing_state st;
    memset(req, 0, sizeof req);
    strcpy(req, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(req + strlen(req), '1', 600);
    strcat(req, "\r\nzz\r\n");
    ck_assert_int_eq(feed_both(req, &st), FRAMING_OK);
    ck_assert_int_eq(st, FRAMING_LOST);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, pipelined_requests_end_where_they_end);
    tcase_add_test(tc, bad_chunk_size_lines_are_flagged);
    tcase_add_test(tc, good_chunk_size_lines_pass);
    tcase_add_test(tc, framing_follows_evhttp_headers);
    tcase_add_test(tc, overlong_lines_stop_following);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
