/* Unit tests for common/log.c: logfmt quoting, level filtering, line shape,
 * and whole lines under concurrent writers. */
#include "common/log.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(quote_bare_and_quoted)
{
    char buf[64];
    ck_assert_str_eq(log_quote("abc-1.2:x/y", buf, sizeof buf), "abc-1.2:x/y");
    ck_assert_str_eq(log_quote("hello world", buf, sizeof buf), "\"hello world\"");
    ck_assert_str_eq(log_quote("", buf, sizeof buf), "\"\"");
    ck_assert_str_eq(log_quote(NULL, buf, sizeof buf), "\"\"");
    ck_assert_str_eq(log_quote("a=b", buf, sizeof buf), "\"a=b\"");
    ck_assert_str_eq(log_quote("say \"hi\"", buf, sizeof buf), "\"say \\\"hi\\\"\"");
    ck_assert_str_eq(log_quote("back\\slash", buf, sizeof buf), "\"back\\\\slash\"");
    ck_assert_str_eq(log_quote("line\nbreak\t\x7f", buf, sizeof buf),
                     "\"line\\x0abreak\\x09\\x7f\"");
    ck_assert_str_eq(log_quote("caf\xc3\xa9", buf, sizeof buf), "\"caf\xc3\xa9\"");
}
END_TEST

START_TEST(quote_truncates_without_splitting)
{
    char buf[8];
    memset(buf, 'Z', sizeof buf);
    /* bare: truncated to 7 chars + NUL */
    ck_assert_str_eq(log_quote("abcdefghijk", buf, sizeof buf), "abcdefg");
    /* quoted: the closing quote stays, the escape \x0a (4 bytes) does not fit after "ab" */
    ck_assert_str_eq(log_quote("a b\nzzzz", buf, sizeof buf), "\"a b\"");
    ck_assert_str_eq(log_quote("ab\ncd", buf, 7), "\"ab\"");
    ck_assert_str_eq(log_quote("\"\"\"\"", buf, 6), "\"\\\"\"");
    ck_assert_str_eq(log_quote("a b", buf, 2), "");
    buf[0] = 'Q';
    log_quote("abc", buf, 0); /* no room at all: untouched */
    ck_assert_int_eq(buf[0], 'Q');
    ck_assert_str_eq(log_quote("abc", buf, 1), "");
}
END_TEST

START_TEST(level_parse)
{
    enum log_level l;
    ck_assert_int_eq(log_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("INFO", &l), 0);
    ck_assert_int_eq(l, LOG_INFO);
    ck_assert_int_eq(log_level_parse("warn", &l), 0);
    ck_assert_int_eq(l, LOG_WARN);
    ck_assert_int_eq(log_level_parse("warning", &l), 0);
    ck_assert_int_eq(l, LOG_WARN);
    ck_assert_int_eq(log_level_parse("error", &l), 0);
    ck_assert_int_eq(l, LOG_ERROR);
    l = LOG_INFO;
    ck_assert_int_eq(log_level_parse("verbose", &l), -1);
    ck_assert_int_eq(log_level_parse("", &l), -1);
    ck_assert_int_eq(log_level_parse(NULL, &l), -1);
    ck_assert_int_eq(l, LOG_INFO);
}
END_TEST

START_TEST(line_shape)
{
    struct capture c;
    unsetenv("LOG_LEVEL");
    log_init("unit");
    capture_begin(&c, STDERR_FILENO);
    log_warn("hello world", "k=%d name=%s", 42, "x");
    log_info("bare", NULL);
    char *out = capture_end(&c);
    ck_assert_uint_eq(count_lines(out), 2);
    ck_assert_msg(strncmp(out, "ts=", 3) == 0, "line starts with ts=: %s", out);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    ck_assert_int_eq(out[3 + 4], '-');
    ck_assert_int_eq(out[3 + 10], 'T');
    ck_assert_int_eq(out[3 + 23], 'Z');
    ck_assert_ptr_nonnull(strstr(out, " level=warn comp=unit msg=\"hello world\" k=42 name=x\n"));
    ck_assert_ptr_nonnull(strstr(out, " level=info comp=unit msg=bare\n"));
    free(out);
}
END_TEST

START_TEST(level_filter)
{
    struct capture c;
    log_set_level(LOG_WARN);
    capture_begin(&c, STDERR_FILENO);
    log_debug("d", NULL);
    log_info("i", NULL);
    log_warn("w", NULL);
    log_error("e", NULL);
    char *out = capture_end(&c);
    ck_assert_uint_eq(count_lines(out), 2);
    ck_assert_ptr_null(strstr(out, "msg=d"));
    ck_assert_ptr_null(strstr(out, "msg=i"));
    ck_assert_ptr_nonnull(strstr(out, "level=warn"));
    ck_assert_ptr_nonnull(strstr(out, "level=error"));
    free(out);
    log_set_level(LOG_INFO);
}
END_TEST

START_TEST(init_reads_env)
{
    struct capture c;
    setenv("LOG_LEVEL", "debug", 1);
    log_init("envtest");
    capture_begin(&c, STDERR_FILENO);
    log_debug("visible", NULL);
    char *out = capture_end(&c);
    ck_assert_ptr_nonnull(strstr(out, "level=debug comp=envtest msg=visible"));
    free(out);

    log_set_level(LOG_INFO);
    setenv("LOG_LEVEL", "loud", 1);
    capture_begin(&c, STDERR_FILENO);
    log_init("envtest");
    log_debug("hidden", NULL);
    out = capture_end(&c);
    ck_assert_ptr_nonnull(strstr(out, "level=warn comp=envtest msg=\"ignoring invalid LOG_LEVEL\" value=loud"));
    ck_assert_ptr_null(strstr(out, "hidden"));
    free(out);
    unsetenv("LOG_LEVEL");
}
END_TEST

START_TEST(long_line_truncated)
{
    struct capture c;
    static char big[10000];
    memset(big, 'x', sizeof big - 1);
    log_set_level(LOG_INFO);
    capture_begin(&c, STDERR_FILENO);
    log_info("big", "v=%s", big);
    char *out = capture_end(&c);
    ck_assert_uint_eq(count_lines(out), 1);
    size_t n = strlen(out);
    ck_assert_uint_le(n, 4096);
    ck_assert_uint_gt(n, 4000);
    ck_assert_int_eq(out[n - 1], '\n');
    free(out);
}
END_TEST

#define WRITERS 8
#define LINES_PER_WRITER 2000

static void *writer(void *arg)
{
    long id = (long)arg;
    char pad[300];
    memset(pad, 'a' + (int)id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < LINES_PER_WRITER; i++)
        log_info("concurrent", "writer=%ld i=%d pad=%s end=1", id, i, pad);
    return NULL;
}

START_TEST(threads_never_interleave)
{
    struct capture c;
    pthread_t t[WRITERS];
    log_set_level(LOG_INFO);
    capture_begin(&c, STDERR_FILENO);
    for (long i = 0; i < WRITERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end(&c);
    ck_assert_uint_eq(count_lines(out), WRITERS * LINES_PER_WRITER);
    /* Every line is exactly one writer's line: it starts with ts= and its pad
     * is made of that writer's letter only. Plain comparisons in the loop:
     * each ck_assert costs an IPC round to the Check parent. */
    int seen[WRITERS] = {0};
    char expect_pad[299];
    char *save = NULL;
    const char *bad = NULL;
    for (char *line = strtok_r(out, "\n", &save); line && !bad; line = strtok_r(NULL, "\n", &save)) {
        long id = -1;
        int i = -1;
        int off = 0;
        const char *w = strstr(line, "writer=");
        if (strncmp(line, "ts=", 3) != 0 || w == NULL ||
            sscanf(w, "writer=%ld i=%d pad=%n", &id, &i, &off) != 2 || off == 0 ||
            id < 0 || id >= WRITERS) {
            bad = line;
            break;
        }
        memset(expect_pad, 'a' + (int)id, sizeof expect_pad);
        if (memcmp(w + off, expect_pad, sizeof expect_pad) != 0 || strcmp(w + off + 299, " end=1") != 0 ||
            i != seen[id]) /* a writer's lines also keep their order */
            bad = line;
        seen[id]++;
    }
    ck_assert_msg(bad == NULL, "mangled line: %.120s", bad ? bad : "");
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(seen[i], LINES_PER_WRITER);
    free(out);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quote_bare_and_quoted);
    tcase_add_test(tc, quote_truncates_without_splitting);
    tcase_add_test(tc, level_parse);
    tcase_add_test(tc, line_shape);
    tcase_add_test(tc, level_filter);
    tcase_add_test(tc, init_reads_env);
    tcase_add_test(tc, long_line_truncated);
    tcase_add_test(tc, threads_never_interleave);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(log_suite());
}
