/* libFuzzer target: the input, as a C string, through cron_parse, and an
 * accepted expression through cron_next from fixed start times (leap days,
 * a skipped century leap year, the last second there is) and one drawn from
 * the input: each tick must come after its start, within the horizon, match
 * the expression as gmtime_r reads it, be the first in the seconds before
 * it, and be found again from any time between the start and itself. */
#include "common/cron.h"

#include <time.h>

#include "fuzz/fuzz.h"

/* Seconds before each tick checked one by one for an earlier match. */
#define FUZZ_CRON_SCAN 60

/* True when t is a tick of c, read through libc's gmtime_r. */
static int fuzz_cron_matches(const struct cron *c, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (c->every > 0)
        return t % c->every == 0;
    if (gmtime_r(&tt, &tm) == NULL)
        return 0;
    int mday = c->mdays >> tm.tm_mday & 1, wday = c->wdays >> tm.tm_wday & 1;
    int day = c->mday_any || c->wday_any ? mday && wday : mday || wday;
    return day && (c->months >> (tm.tm_mon + 1) & 1) && (c->hours >> tm.tm_hour & 1) &&
           (c->minutes >> tm.tm_min & 1) && (c->seconds >> tm.tm_sec & 1);
}

/* Checks the sets of a parsed expression against the ranges cron.h gives. */
static void fuzz_cron_check_sets(const struct cron *c, const char *s)
{
    if (c->every != 0) {
        FUZZ_CHECK(c->every >= 1 && c->every <= CRON_EVERY_MAX_S, "\"%s\": every %lld", s,
                   (long long)c->every);
        return;
    }
    FUZZ_CHECK(c->seconds != 0 && c->seconds >> 60 == 0, "\"%s\": seconds", s);
    FUZZ_CHECK(c->minutes != 0 && c->minutes >> 60 == 0, "\"%s\": minutes", s);
    FUZZ_CHECK(c->hours != 0 && c->hours >> 24 == 0, "\"%s\": hours", s);
    FUZZ_CHECK(c->mdays != 0 && (c->mdays & 1) == 0, "\"%s\": mdays", s);
    FUZZ_CHECK(c->months != 0 && (c->months & 1) == 0 && c->months >> 13 == 0, "\"%s\": months",
               s);
    FUZZ_CHECK(c->wdays != 0 && c->wdays >> 7 == 0, "\"%s\": wdays", s);
}

/* Checks the tick after `after`. */
static void fuzz_cron_check_next(const struct cron *c, const char *s, int64_t after)
{
    int64_t t = cron_next(c, after);
    if (t == -1) {
        /* @every has a tick in every period, unless the period passes the end of time */
        FUZZ_CHECK(c->every == 0 || after + c->every > CRON_TIME_MAX,
                   "\"%s\": no tick after %lld", s, (long long)after);
        return;
    }
    FUZZ_CHECK(t > after && t - after <= CRON_HORIZON_S && t <= CRON_TIME_MAX,
               "\"%s\" after %lld: %lld", s, (long long)after, (long long)t);
    FUZZ_CHECK(fuzz_cron_matches(c, t), "\"%s\": %lld is no tick", s, (long long)t);
    for (int64_t x = t - 1; x > after && x >= t - FUZZ_CRON_SCAN; x--)
        FUZZ_CHECK(!fuzz_cron_matches(c, x), "\"%s\" after %lld: %lld skips %lld", s,
                   (long long)after, (long long)t, (long long)x);
    int64_t mid = after + (t - after) / 2;
    FUZZ_CHECK(cron_next(c, t - 1) == t && cron_next(c, mid) == t,
               "\"%s\": %lld found from %lld but not from %lld or %lld", s, (long long)t,
               (long long)after, (long long)(t - 1), (long long)mid);
}

/* Returns what cron_parse returned (0 or -1). */
static int fuzz_cron_one(const uint8_t *data, size_t size)
{
    static const int64_t starts[] = {
        0,
        951782399,            /* 2000-02-28 23:59:59: a leap day follows */
        4107542399,           /* 2100-02-28 23:59:59: no leap day follows */
        1767225599,           /* 2025-12-31 23:59:59 */
        CRON_TIME_MAX - 1,
    };
    char *s = fuzz_cstr(data, size);
    struct cron c, before, again;
    char err[256];
    memset(err, 'x', sizeof err);
    memset(&c, 0x5a, sizeof c);
    before = c;

    int rc = cron_parse(s, &c, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(cron_parse(s, &again, NULL, 0) == rc, "rc differs without err");
    if (rc < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0', "err");
        FUZZ_CHECK(memcmp(&c, &before, sizeof c) == 0, "a failed parse wrote *out");
        free(s);
        return -1;
    }
    FUZZ_CHECK(strlen(s) <= CRON_EXPR_MAX, "accepted %zu characters", strlen(s));
    FUZZ_CHECK(again.seconds == c.seconds && again.minutes == c.minutes &&
                   again.hours == c.hours && again.mdays == c.mdays &&
                   again.months == c.months && again.wdays == c.wdays &&
                   again.mday_any == c.mday_any && again.wday_any == c.wday_any &&
                   again.every == c.every,
               "\"%s\" parses differently twice", s);
    fuzz_cron_check_sets(&c, s);

    uint64_t h = 14695981039346656037ull; /* FNV-1a of the input: a start of its own */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        fuzz_cron_check_next(&c, s, starts[i]);
    fuzz_cron_check_next(&c, s, (int64_t)(h % (uint64_t)CRON_TIME_MAX));
    free(s);
    return 0;
}

FUZZ_ENTRY(fuzz_cron_one)
