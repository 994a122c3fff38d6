/* Unit tests for common/cron.c: the forms cron_parse accepts and the sets
 * they give, every rejection with its message, next ticks checked against
 * hand-computed UTC times, and a property test: for random expressions and
 * start times, cron_next agrees with an exhaustive search built on libc's
 * gmtime_r (every day of the horizon, every second of a matching day). */
#include "common/cron.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/unit.h"

#define DAY 86400

/* "2025-06-06T09:00:00" (UTC) as Unix seconds, through libc's timegm. */
static int64_t utc(const char *iso)
{
    struct tm tm = {0};
    ck_assert_int_eq(sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* t as "2025-06-06T09:00:00 Fri", or "-1", for failure messages. */
static const char *iso(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < 0 || gmtime_r(&tt, &tm) == NULL)
        snprintf(buf, len, "%lld", (long long)t);
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S %a", &tm);
    return buf;
}

/* Bits lo, lo+step, ... <= hi. */
static uint64_t span(int lo, int hi, int step)
{
    uint64_t bits = 0;
    for (int v = lo; v <= hi; v += step)
        bits |= 1ull << v;
    return bits;
}

static struct cron parse_ok(const char *expr)
{
    struct cron c;
    char err[256] = "";
    ck_assert_msg(cron_parse(expr, &c, err, sizeof err) == 0, "\"%s\" rejected: %s", expr, err);
    return c;
}

START_TEST(parse_forms)
{
    const uint64_t all_min = span(0, 59, 1), all_hours = span(0, 23, 1);
    const uint64_t all_mdays = span(1, 31, 1), all_months = span(1, 12, 1), week = span(0, 6, 1);
    const struct {
        const char *expr;
        uint64_t seconds, minutes, hours, mdays, months, wdays;
        bool mday_any, wday_any;
    } cases[] = {
        {"* * * * *", 1, all_min, all_hours, all_mdays, all_months, week, true, true},
        {"*/15 0-6/2 1,15 jan-mar mon-fri", 1, span(0, 45, 15), span(0, 6, 2), span(1, 15, 14),
         span(1, 3, 1), span(1, 5, 1), false, false},
        {"30/10 9-17 */10 */3 0,7", 1, span(30, 50, 10), span(9, 17, 1), span(1, 31, 10),
         span(1, 10, 3), 1, false, false},
        {"  5\t4 * DEC Sun-Sat  ", 1, 1ull << 5, 1ull << 4, all_mdays, 1ull << 12, week, true,
         false},
        {"*/10 * * * * *", span(0, 50, 10), all_min, all_hours, all_mdays, all_months, week, true,
         true},
        {"59 59 23 31 12 *", 1ull << 59, 1ull << 59, 1ull << 23, 1ull << 31, 1ull << 12, week,
         false, true},
        {"0 0 * * fri-sun", 1, 1, 1, all_mdays, all_months, span(5, 6, 1) | 1, true, false},
        {"0 0 * * 5-7", 1, 1, 1, all_mdays, all_months, span(5, 6, 1) | 1, true, false},
        {"0 0 * * 1/2", 1, 1, 1, all_mdays, all_months, span(1, 5, 2), true, false},
        {"0 0 * * 7/3", 1, 1, 1, all_mdays, all_months, 1, true, false},
        {"0 0 * * */2", 1, 1, 1, all_mdays, all_months, span(0, 6, 2), true, false},
        {"0 0 */2 * *", 1, 1, 1, span(1, 31, 2), all_months, week, false, true},
        {"1,2,3-5,10-20/5 * * Feb,mAR,dec-dec *", 1, span(1, 5, 1) | span(10, 20, 5), all_hours,
         all_mdays, (1 << 2) | (1 << 3) | (1 << 12), week, true, true},
        {"@yearly", 1, 1, 1, 1 << 1, 1 << 1, week, false, true},
        {"@ANNUALLY", 1, 1, 1, 1 << 1, 1 << 1, week, false, true},
        {"@monthly", 1, 1, 1, 1 << 1, all_months, week, false, true},
        {"@weekly", 1, 1, 1, all_mdays, all_months, 1, true, false},
        {"@daily", 1, 1, 1, all_mdays, all_months, week, true, true},
        {"\t@midnight ", 1, 1, 1, all_mdays, all_months, week, true, true},
        {"@hourly", 1, 1, all_hours, all_mdays, all_months, week, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cron c = parse_ok(cases[i].expr);
        const char *e = cases[i].expr;
        ck_assert_msg(c.seconds == cases[i].seconds, "%s: seconds %llx", e,
                      (unsigned long long)c.seconds);
        ck_assert_msg(c.minutes == cases[i].minutes, "%s: minutes %llx", e,
                      (unsigned long long)c.minutes);
        ck_assert_msg(c.hours == cases[i].hours, "%s: hours %x", e, c.hours);
        ck_assert_msg(c.mdays == cases[i].mdays, "%s: mdays %x", e, c.mdays);
        ck_assert_msg(c.months == cases[i].months, "%s: months %x", e, c.months);
        ck_assert_msg(c.wdays == cases[i].wdays, "%s: wdays %x", e, c.wdays);
        ck_assert_msg(c.mday_any == cases[i].mday_any && c.wday_any == cases[i].wday_any,
                      "%s: any %d %d", e, c.mday_any, c.wday_any);
        ck_assert_msg(c.every == 0, "%s: every %lld", e, (long long)c.every);
    }
}
END_TEST

START_TEST(parse_every)
{
    const struct {
        const char *expr;
        int64_t seconds;
    } cases[] = {
        {"@every 90s", 90},         {"@every 5m", 300},   {"@every 1h30m", 5400},
        {"@every 2h", 7200},        {"@every 1s", 1},     {"@every 31d", 31 * DAY},
        {"@every 1d2h3m4s", 93784}, {"@Every  2m", 120},  {"@every 744h", 31 * DAY},
        {"@every 0h1s", 1},         {"@every 1h0m", 3600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cron c = parse_ok(cases[i].expr);
        ck_assert_msg(c.every == cases[i].seconds, "%s: every %lld", cases[i].expr,
                      (long long)c.every);
    }
}
END_TEST

START_TEST(parse_rejects_with_a_message)
{
    char long_expr[CRON_EXPR_MAX + 2];
    memset(long_expr, ' ', sizeof long_expr);
    memcpy(long_expr + CRON_EXPR_MAX - 9, "* * * * *", 9); /* 256 characters: accepted */
    long_expr[CRON_EXPR_MAX] = '\0';
    parse_ok(long_expr);
    long_expr[CRON_EXPR_MAX] = ' ';
    long_expr[CRON_EXPR_MAX + 1] = '\0';

    const struct {
        const char *expr;
        const char *msg;
    } cases[] = {
        {long_expr, "expression: longer than 256 characters"},
        {"", "expression: empty (5 fields \"minute hour day-of-month month day-of-week\", 6 with "
             "a second first, or a macro like @daily)"},
        {" \t ", "expression: empty (5 fields \"minute hour day-of-month month day-of-week\", 6 "
                 "with a second first, or a macro like @daily)"},
        {"* * * *", "expression: 4 fields; expected 5 (minute hour day-of-month month "
                    "day-of-week) or 6 (a second first)"},
        {"* * * * * * *", "expression: 7 fields; expected 5 (minute hour day-of-month month "
                          "day-of-week) or 6 (a second first)"},
        {"61 * * * *", "minute: 61 is out of 0..59"},
        {"* 24 * * *", "hour: 24 is out of 0..23"},
        {"* * 0 * *", "day-of-month: 0 is out of 1..31"},
        {"* * 32 * *", "day-of-month: 32 is out of 1..31"},
        {"* * * 13 *", "month: 13 is out of 1..12"},
        {"* * * 0 *", "month: 0 is out of 1..12"},
        {"* * * * 8", "day-of-week: 8 is out of 0..7"},
        {"60 * * * * *", "second: 60 is out of 0..59"},
        {"99999999999 * * * *", "minute: 99999999999 is out of 0..59"},
        {"*/0 * * * *", "minute: step 0 is out of 1..59"},
        {"0-30/0 * * * *", "minute: step 0 is out of 1..59"},
        {"* */24 * * *", "hour: step 24 is out of 1..23"},
        {"* * * * */7", "day-of-week: step 7 is out of 1..6"},
        {"*/99999999999 * * * *", "minute: step 99999999999 is out of 1..59"},
        {"30-10 * * * *", "minute: the range 30-10 is reversed (write the smaller bound first)"},
        {"* * * dec-jan *", "month: the range dec-jan is reversed (write the smaller bound first)"},
        {"* * * * fri-mon",
         "day-of-week: the range fri-mon is reversed (write the smaller bound first)"},
        {"1,,2 * * * *", "minute: an empty item in \"1,,2\""},
        {"1, * * * *", "minute: an empty item in \"1,\""},
        {"* ,1 * * *", "hour: an empty item in \",1\""},
        {"5x * * * *", "minute: \"5x\" is not a number in 0..59"},
        {"jan * * * *", "minute: \"jan\" is not a number in 0..59"},
        {"* * * foo *", "month: \"foo\" is neither a number in 1..12 nor a month jan..dec"},
        {"* * * * monday",
         "day-of-week: \"monday\" is neither a number in 0..7 nor a day sun..sat"},
        {"* * * * * x", "day-of-week: \"x\" is neither a number in 0..7 nor a day sun..sat"},
        {"5- * * * *", "minute: a number is missing in \"5-\""},
        {"-5 * * * *", "minute: a number is missing in \"-5\""},
        {"*/ * * * *", "minute: a step number is missing in \"*/\""},
        {"*/x * * * *", "minute: a step number is missing in \"*/x\""},
        {"*x * * * *", "minute: unexpected \"x\" in \"*x\""},
        {"*-5 * * * *", "minute: unexpected \"-5\" in \"*-5\""},
        {"5; * * * *", "minute: unexpected \";\" in \"5;\""},
        {"1-2-3 * * * *", "minute: unexpected \"-3\" in \"1-2-3\""},
        {"*/2/3 * * * *", "minute: unexpected \"/3\" in \"*/2/3\""},
        {"* * * * *\n", "day-of-week: unexpected \"\n\" in \"*\n\""},
        {"@daily 5", "@daily: unexpected \"5\" after the macro"},
        {"@fortnightly", "unknown macro \"@fortnightly\" (use @yearly, @annually, @monthly, "
                         "@weekly, @daily, @midnight, @hourly or @every DURATION)"},
        {"@", "unknown macro \"@\" (use @yearly, @annually, @monthly, @weekly, @daily, "
              "@midnight, @hourly or @every DURATION)"},
        {"@every", "@every: a duration is missing, like 90s, 5m or 1h30m"},
        {"@every 5m extra", "@every: one duration expected, got 2 words"},
        {"@every 0s", "@every: 0s is out of 1s..31d"},
        {"@every 0h0m", "@every: 0h0m is out of 1s..31d"},
        {"@every 32d", "@every: 32d is out of 1s..31d"},
        {"@every 744h1s", "@every: 744h1s is out of 1s..31d"},
        {"@every 99999999999s", "@every: 99999999999s is out of 1s..31d"},
        {"@every 90", "@every: \"90\" is not a duration like 90s, 5m, 1h30m or 2d (units d h m "
                      "s, largest first)"},
        {"@every 1h30", "@every: \"1h30\" is not a duration like 90s, 5m, 1h30m or 2d (units d h "
                        "m s, largest first)"},
        {"@every 30m1h", "@every: \"30m1h\" is not a duration like 90s, 5m, 1h30m or 2d (units "
                         "d h m s, largest first)"},
        {"@every 1h1h", "@every: \"1h1h\" is not a duration like 90s, 5m, 1h30m or 2d (units d "
                        "h m s, largest first)"},
        {"@every 1.5h", "@every: \"1.5h\" is not a duration like 90s, 5m, 1h30m or 2d (units d "
                        "h m s, largest first)"},
        {"@every 5M", "@every: \"5M\" is not a duration like 90s, 5m, 1h30m or 2d (units d h m "
                      "s, largest first)"},
        {"@every -5s", "@every: \"-5s\" is not a duration like 90s, 5m, 1h30m or 2d (units d h "
                       "m s, largest first)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cron c, before;
        memset(&c, 0xa5, sizeof c);
        before = c;
        char err[256] = "";
        ck_assert_msg(cron_parse(cases[i].expr, &c, err, sizeof err) == -1, "\"%s\" accepted",
                      cases[i].expr);
        ck_assert_str_eq(err, cases[i].msg);
        ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "\"%s\": *out changed", cases[i].expr);
        ck_assert_int_eq(cron_parse(cases[i].expr, &c, NULL, 0), -1);
    }
    char err[256] = "";
    struct cron c;
    ck_assert_int_eq(cron_parse(NULL, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, "expression: missing");
    /* a short buffer truncates the message, never the verdict */
    char tiny[8];
    ck_assert_int_eq(cron_parse("61 * * * *", &c, tiny, sizeof tiny), -1);
    ck_assert_str_eq(tiny, "minute:");
}
END_TEST

/* Checks the ticks of expr after each `after` (ISO UTC; want NULL: none). */
struct next_case {
    const char *expr, *after, *want;
};

static void check_next(const struct next_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cron c = parse_ok(cases[i].expr);
        int64_t after = utc(cases[i].after);
        int64_t want = cases[i].want ? utc(cases[i].want) : -1;
        int64_t got = cron_next(&c, after);
        char a[48], g[48], w[48];
        ck_assert_msg(got == want, "\"%s\" after %s: got %s, want %s", cases[i].expr,
                      iso(after, a, sizeof a), iso(got, g, sizeof g), iso(want, w, sizeof w));
    }
}

START_TEST(next_calendar)
{
    static const struct next_case cases[] = {
        {"*/5 * * * *", "2025-01-01T12:03:00", "2025-01-01T12:05:00"},
        {"*/5 * * * *", "2025-01-01T12:05:00", "2025-01-01T12:10:00"}, /* strictly after */
        {"*/5 * * * *", "2025-01-01T12:04:59", "2025-01-01T12:05:00"},
        {"*/5 * * * *", "2025-01-01T12:59:59", "2025-01-01T13:00:00"},
        {"*/7 * * * *", "2025-01-01T12:56:00", "2025-01-01T13:00:00"},
        {"* * * * *", "2025-12-31T23:59:30", "2026-01-01T00:00:00"},
        {"0 */6 * * *", "2025-01-01T18:00:00", "2025-01-02T00:00:00"},
        {"15 10 * * *", "2025-01-01T10:15:00", "2025-01-02T10:15:00"},
        {"15 10 * * *", "2025-01-01T10:14:59", "2025-01-01T10:15:00"},
        /* weekdays over a weekend: Fri 2025-06-06, Sat 06-07, Mon 06-09 */
        {"0 9 * * mon-fri", "2025-06-06T09:00:00", "2025-06-09T09:00:00"},
        {"0 9 * * mon-fri", "2025-06-07T08:00:00", "2025-06-09T09:00:00"},
        {"0 9 * * mon-fri", "2025-06-09T08:59:59", "2025-06-09T09:00:00"},
        {"0 9 * * 1-5", "2025-06-05T10:00:00", "2025-06-06T09:00:00"},
        {"0 0 * * 7", "2025-06-02T00:00:00", "2025-06-08T00:00:00"},
        {"0 0 * * sat-sun", "2025-06-02T00:00:00", "2025-06-07T00:00:00"},
        /* Feb 29: the next leap year; 2100 is none, and 2104 is past the horizon */
        {"0 0 29 2 *", "2025-01-01T00:00:00", "2028-02-29T00:00:00"},
        {"0 0 29 2 *", "2024-02-29T00:00:00", "2028-02-29T00:00:00"},
        {"0 0 29 2 *", "2024-02-28T23:59:59", "2024-02-29T00:00:00"},
        {"0 0 29 2 *", "2096-03-01T00:00:00", NULL},
        {"0 0 * * *", "2024-02-28T00:00:00", "2024-02-29T00:00:00"},
        {"0 0 * * *", "2023-02-28T00:00:00", "2023-03-01T00:00:00"},
        {"0 0 * * *", "2100-02-28T12:00:00", "2100-03-01T00:00:00"},
        {"0 0 * * *", "2000-02-28T12:00:00", "2000-02-29T00:00:00"},
        /* the 31st skips 30-day months and February */
        {"0 0 31 * *", "2025-04-01T00:00:00", "2025-05-31T00:00:00"},
        {"0 0 31 * *", "2025-05-31T00:00:00", "2025-07-31T00:00:00"},
        {"0 0 31 * *", "2025-07-31T00:00:00", "2025-08-31T00:00:00"},
        {"0 0 31 * *", "2025-08-31T00:00:00", "2025-10-31T00:00:00"},
        {"0 0 31 * *", "2025-12-31T00:00:00", "2026-01-31T00:00:00"},
        {"0 0 30 * *", "2025-01-30T00:00:00", "2025-03-30T00:00:00"},
        /* days that never come */
        {"0 0 30 2 *", "2025-01-01T00:00:00", NULL},
        {"0 0 31 4,6,9,11 *", "2025-01-01T00:00:00", NULL},
        /* year ends */
        {"59 23 31 12 *", "2025-12-31T23:59:00", "2026-12-31T23:59:00"},
        {"0 0 1 1 *", "2025-12-31T23:59:59", "2026-01-01T00:00:00"},
        {"0 12 * jan,jul *", "2025-02-01T00:00:00", "2025-07-01T12:00:00"},
        {"0 12 * jan,jul *", "2025-07-31T12:00:00", "2026-01-01T12:00:00"},
        {"0 0 1 */5 *", "2025-11-02T00:00:00", "2026-01-01T00:00:00"}, /* 1, 6, 11 */
        /* macros; strictly after an exact tick */
        {"@hourly", "2025-01-01T12:00:00", "2025-01-01T13:00:00"},
        {"@hourly", "2025-01-01T12:00:01", "2025-01-01T13:00:00"},
        {"@hourly", "2025-01-01T11:59:59", "2025-01-01T12:00:00"},
        {"@daily", "2025-03-01T00:00:00", "2025-03-02T00:00:00"},
        {"@midnight", "2025-02-28T23:59:59", "2025-03-01T00:00:00"},
        {"@weekly", "2025-06-01T00:00:00", "2025-06-08T00:00:00"}, /* Sundays */
        {"@monthly", "2025-01-31T12:00:00", "2025-02-01T00:00:00"},
        {"@yearly", "2025-01-01T00:00:00", "2026-01-01T00:00:00"},
        {"@annually", "2025-12-31T23:59:59", "2026-01-01T00:00:00"},
        /* the last tick there is */
        {"@yearly", "9999-06-01T00:00:00", NULL},
        {"59 23 31 12 *", "9999-12-31T00:00:00", "9999-12-31T23:59:00"},
    };
    check_next(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(next_day_of_month_or_day_of_week)
{
    static const struct next_case cases[] = {
        /* both restricted: the 13th OR a Friday (from Sun 2025-06-01) */
        {"0 0 13 * fri", "2025-06-01T00:00:00", "2025-06-06T00:00:00"},
        {"0 0 13 * fri", "2025-06-06T00:00:00", "2025-06-13T00:00:00"},
        {"0 0 13 * fri", "2025-06-13T00:00:00", "2025-06-20T00:00:00"},
        {"0 0 13 * fri", "2025-07-11T00:00:00", "2025-07-13T00:00:00"}, /* a Sunday */
        {"0 0 13 * fri", "2025-07-13T00:00:00", "2025-07-18T00:00:00"},
        /* only one restricted: only it counts */
        {"0 0 13 * *", "2025-06-14T00:00:00", "2025-07-13T00:00:00"},
        {"0 0 * * fri", "2025-07-12T00:00:00", "2025-07-18T00:00:00"},
        /* days 1-7 OR every Monday: not "the first Monday" */
        {"0 0 1-7 * mon", "2025-06-08T00:00:00", "2025-06-09T00:00:00"},
        {"0 0 1-7 * mon", "2025-06-30T00:00:00", "2025-07-01T00:00:00"},
        /* a step is a restriction: odd days OR Mondays */
        {"0 0 */2 * mon", "2025-06-01T00:00:00", "2025-06-02T00:00:00"},
        {"0 0 */2 * mon", "2025-06-02T00:00:00", "2025-06-03T00:00:00"},
        /* Feb 29 OR a Monday in February: Mon 2026-02-02 comes first */
        {"0 0 29 2 mon", "2025-02-25T00:00:00", "2026-02-02T00:00:00"},
        /* Feb 30 never comes, but Sundays in February do */
        {"0 0 30 2 sun", "2025-03-01T00:00:00", "2026-02-01T00:00:00"},
    };
    check_next(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(next_seconds)
{
    static const struct next_case cases[] = {
        {"*/10 * * * * *", "2025-01-01T12:00:05", "2025-01-01T12:00:10"},
        {"*/10 * * * * *", "2025-01-01T12:00:10", "2025-01-01T12:00:20"},
        {"*/10 * * * * *", "2025-01-01T12:00:50", "2025-01-01T12:01:00"},
        {"*/10 * * * * *", "2025-12-31T23:59:55", "2026-01-01T00:00:00"},
        {"30 * * * * *", "2025-01-01T12:00:30", "2025-01-01T12:01:30"},
        {"* * * * * *", "2025-01-01T12:00:00", "2025-01-01T12:00:01"},
        {"15,45 30 9 * * *", "2025-01-01T09:30:45", "2025-01-02T09:30:15"},
        {"0 0 0 29 2 *", "2025-01-01T00:00:00", "2028-02-29T00:00:00"},
    };
    check_next(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(next_every)
{
    struct cron c = parse_ok("@every 90s");
    ck_assert_int_eq(cron_next(&c, 0), 90);
    ck_assert_int_eq(cron_next(&c, 89), 90);
    ck_assert_int_eq(cron_next(&c, 90), 180);
    /* 2025-01-01T00:00:00 is a multiple of 90 */
    ck_assert_int_eq(cron_next(&c, utc("2025-01-01T00:00:00")), utc("2025-01-01T00:01:30"));
    ck_assert_int_eq(cron_next(&c, utc("2025-01-01T00:00:01")), utc("2025-01-01T00:01:30"));
    ck_assert_int_eq(cron_next(&c, utc("2025-01-01T00:01:29")), utc("2025-01-01T00:01:30"));
    c = parse_ok("@every 1h30m");
    ck_assert_int_eq(cron_next(&c, utc("2025-01-01T00:00:00")), utc("2025-01-01T01:30:00"));
    ck_assert_int_eq(cron_next(&c, utc("2025-01-01T01:29:59")), utc("2025-01-01T01:30:00"));
    c = parse_ok("@every 7s"); /* 1735689600 = 7 * 247955657 + 1 */
    ck_assert_int_eq(cron_next(&c, 1735689600), 1735689606);

    /* the same period parsed twice, or copied, ticks at the same times */
    struct cron copy = c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(cron_next(&copy, 1735689606), 1735689613);
    /* outside 0..CRON_TIME_MAX there is nothing */
    ck_assert_int_eq(cron_next(&copy, -1), -1);
    ck_assert_int_eq(cron_next(&copy, CRON_TIME_MAX), -1);
    ck_assert_int_eq(cron_next(&copy, INT64_MAX), -1);
    c = parse_ok("* * * * * *");
    ck_assert_int_eq(cron_next(&c, CRON_TIME_MAX - 1), CRON_TIME_MAX);
    ck_assert_int_eq(cron_next(&c, INT64_MIN), -1);
}
END_TEST

/* ---- property test ---- */

#define PROP_EXPRS 400
#define PROP_CHAIN 3 /* ticks followed from each start */

/* xorshift64*: a fixed seed keeps failures reproducible. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A value in lo..hi. */
static int rng_in(int lo, int hi)
{
    return lo + (int)(rng() % (uint64_t)(hi - lo + 1));
}

/* One random expression and the sets it must give, worked out here apart
 * from the parser: second, minute, hour, day-of-month, month, day-of-week. */
struct gen {
    char expr[CRON_EXPR_MAX + 1];
    uint64_t set[6];
    bool any[6]; /* the field was `*` */
};

static const struct {
    int min, max, last; /* last: where `*` and a/n end */
} gen_range[6] = {{0, 59, 59}, {0, 59, 59}, {0, 23, 23}, {1, 31, 31}, {1, 12, 12}, {0, 7, 6}};

static const char *const gen_month[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const gen_day[] = {"SUN", "Mon", "tue", "WED", "thu", "Fri", "sat"};

/* Appends value v of field f: a number, or sometimes its name. */
static void gen_value(char *buf, size_t len, int f, int v)
{
    size_t at = strlen(buf);
    if (f == 4 && rng() % 2)
        snprintf(buf + at, len - at, "%s", gen_month[v - 1]);
    else if (f == 5 && v < 7 && rng() % 2)
        snprintf(buf + at, len - at, "%s", gen_day[v]);
    else
        snprintf(buf + at, len - at, "%d", v);
}

/* Appends one list item of field f and adds its values to *set. */
static void gen_item(char *buf, size_t len, int f, uint64_t *set)
{
    int min = gen_range[f].min, max = gen_range[f].max, last = gen_range[f].last;
    int lo = rng_in(min, max), hi = rng_in(lo, max), step = rng_in(1, last - min);
    switch (rng() % 5) {
    case 0: /* * / n */
        snprintf(buf + strlen(buf), len - strlen(buf), "*/%d", step);
        lo = min;
        hi = last;
        break;
    case 1: /* a */
        gen_value(buf, len, f, lo);
        hi = lo;
        step = 1;
        break;
    case 2: /* a-b, a-b/n */
    case 3:
        gen_value(buf, len, f, lo);
        strcat(buf, "-");
        gen_value(buf, len, f, hi);
        if (rng() % 2)
            step = 1;
        else
            snprintf(buf + strlen(buf), len - strlen(buf), "/%d", step);
        break;
    default: /* a/n */
        gen_value(buf, len, f, lo);
        snprintf(buf + strlen(buf), len - strlen(buf), "/%d", step);
        hi = lo > last ? lo : last;
        break;
    }
    *set |= span(lo, hi, step);
}

/* Days that are rare or never come: the 29th, 30th or 31st of one month. */
static void gen_rare_day(char *field, size_t len, int f, uint64_t *set)
{
    static const int short_months[] = {2, 4, 6, 9, 11};
    int v = f == 3 ? rng_in(29, 31) : short_months[rng() % 5];
    if (f == 5) {
        snprintf(field, len, "*");
        *set = span(0, 6, 1);
        return;
    }
    gen_value(field, len, f, v);
    *set = 1ull << v;
}

static void gen_make(struct gen *g)
{
    bool with_seconds = rng() % 2, rare = rng() % 8 == 0;
    memset(g, 0, sizeof *g);
    g->set[0] = 1; /* the 5-field form fires at second 0 */
    for (int f = with_seconds ? 0 : 1; f < 6; f++) {
        char field[96] = "";
        g->set[f] = 0;
        if (rare && f >= 3) {
            gen_rare_day(field, sizeof field, f, &g->set[f]);
            g->any[f] = f == 5;
        } else if (rng() % 10 < 4) {
            strcpy(field, "*");
            g->set[f] = span(gen_range[f].min, gen_range[f].last, 1);
            g->any[f] = true;
        } else {
            for (int items = rng_in(1, 3); items > 0; items--) {
                gen_item(field, sizeof field, f, &g->set[f]);
                if (items > 1)
                    strcat(field, ",");
            }
        }
        if (f == 5)
            g->set[5] = (g->set[5] | g->set[5] >> 7) & 0x7f; /* 7 is Sunday */
        size_t at = strlen(g->expr);
        snprintf(g->expr + at, sizeof g->expr - at, "%s%s", at ? " " : "", field);
    }
}

/* True when the day of tm matches g's month and day fields. */
static bool gen_day_matches(const struct gen *g, const struct tm *tm)
{
    if (!(g->set[4] >> (tm->tm_mon + 1) & 1))
        return false;
    bool mday = g->set[3] >> tm->tm_mday & 1, wday = g->set[5] >> tm->tm_wday & 1;
    if (g->any[3] || g->any[5])
        return mday && wday;
    return mday || wday;
}

/* True when second sod (0..86399) of a day matches g's clock fields. */
static bool gen_clock_matches(const struct gen *g, int64_t sod)
{
    return (g->set[2] >> (sod / 3600) & 1) && (g->set[1] >> (sod / 60 % 60) & 1) &&
           (g->set[0] >> (sod % 60) & 1);
}

static bool gen_matches(const struct gen *g, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
    return gen_day_matches(g, &tm) && gen_clock_matches(g, t % DAY);
}

/* The first second in (after, limit] that g matches, or -1: every day is
 * tried through gmtime_r, and every second of a day that matches. */
static int64_t gen_first(const struct gen *g, int64_t after, int64_t limit)
{
    for (int64_t day = (after + 1) / DAY * DAY; day <= limit; day += DAY) {
        struct tm tm;
        time_t tt = (time_t)day;
        ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
        if (!gen_day_matches(g, &tm))
            continue;
        for (int64_t t = day > after ? day : after + 1; t < day + DAY && t <= limit; t++) {
            if (gen_clock_matches(g, t - day))
                return t;
        }
    }
    return -1;
}

/* A start time in 2000..2099, often right at or before a day's or a
 * month's end, where carries happen. */
static int64_t gen_start(void)
{
    int64_t t = 946684800 + (int64_t)(rng() % (100ull * 365 * DAY));
    switch (rng() % 4) {
    case 0: /* the last seconds of a day */
        return t / DAY * DAY + DAY - 1 - (int64_t)(rng() % 2);
    case 1: { /* the last seconds of a month */
        struct tm tm;
        time_t tt = (time_t)t;
        ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
        tm.tm_mday = 1;
        tm.tm_mon++;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        return (int64_t)timegm(&tm) - 1 - (int64_t)(rng() % 2);
    }
    default:
        return t;
    }
}

START_TEST(next_matches_an_exhaustive_search)
{
    int ticks = 0, nones = 0;
    for (int i = 0; i < PROP_EXPRS; i++) {
        struct gen g;
        gen_make(&g);
        struct cron c = parse_ok(g.expr);
        uint64_t want[6] = {c.seconds, c.minutes, c.hours, c.mdays, c.months, c.wdays};
        for (int f = 0; f < 6; f++)
            ck_assert_msg(want[f] == g.set[f], "\"%s\": field %d parsed to %llx, want %llx",
                          g.expr, f, (unsigned long long)want[f],
                          (unsigned long long)g.set[f]);
        ck_assert_msg(c.mday_any == g.any[3] && c.wday_any == g.any[5], "\"%s\": any", g.expr);

        int64_t after = gen_start();
        for (int k = 0; k < PROP_CHAIN; k++) {
            int64_t t = cron_next(&c, after);
            int64_t brute = gen_first(&g, after, after + CRON_HORIZON_S);
            char a[48], b[48], w[48];
            ck_assert_msg(t == brute, "\"%s\" after %s: got %s, the search found %s", g.expr,
                          iso(after, a, sizeof a), iso(t, b, sizeof b),
                          iso(brute, w, sizeof w));
            if (t < 0) {
                nones++;
                break;
            }
            ck_assert_msg(t > after && gen_matches(&g, t), "\"%s\": %s", g.expr,
                          iso(t, b, sizeof b));
            ck_assert_int_eq(cron_next(&c, t - 1), t);
            ticks++;
            after = t;
        }
    }
    /* the generator gives mostly schedules that fire, and some that do not */
    ck_assert_int_ge(ticks, PROP_EXPRS * PROP_CHAIN / 2);
    ck_assert_int_gt(nones, 0);
}
END_TEST

START_TEST(every_is_aligned_to_the_epoch)
{
    for (int i = 0; i < 500; i++) {
        int d = rng_in(0, 1), h = rng_in(0, 30), m = rng_in(0, 59), s = rng_in(0, 59);
        int64_t period = (int64_t)d * DAY + h * 3600 + m * 60 + s;
        char expr[64] = "@every ";
        if (period < 1)
            continue;
        if (d)
            snprintf(expr + strlen(expr), sizeof expr - strlen(expr), "%dd", d);
        if (h)
            snprintf(expr + strlen(expr), sizeof expr - strlen(expr), "%dh", h);
        if (m)
            snprintf(expr + strlen(expr), sizeof expr - strlen(expr), "%dm", m);
        if (s)
            snprintf(expr + strlen(expr), sizeof expr - strlen(expr), "%ds", s);
        struct cron c = parse_ok(expr);
        ck_assert_int_eq(c.every, period);
        int64_t after = gen_start(), t = cron_next(&c, after);
        ck_assert_msg(t > after && t - after <= period && t % period == 0,
                      "%s after %lld: %lld", expr, (long long)after, (long long)t);
    }
}
END_TEST

static Suite *cron_suite(void)
{
    Suite *s = suite_create("cron");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_forms);
    tcase_add_test(tc, parse_every);
    tcase_add_test(tc, parse_rejects_with_a_message);
    tcase_add_test(tc, next_calendar);
    tcase_add_test(tc, next_day_of_month_or_day_of_week);
    tcase_add_test(tc, next_seconds);
    tcase_add_test(tc, next_every);
    tcase_add_test(tc, next_matches_an_exhaustive_search);
    tcase_add_test(tc, every_is_aligned_to_the_epoch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(cron_suite());
}
