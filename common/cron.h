#ifndef OFFLOAD_CRON_H
#define OFFLOAD_CRON_H
/* Cron expressions for periodic jobs: parsing, and the next tick after a
 * time. Pure: no allocation, no clock, no time zone (all times are UTC Unix
 * seconds), so every process computes the same ticks from the same
 * expression.
 *
 * Syntax: "minute hour day-of-month month day-of-week", or six fields with
 * a leading second (0-59), separated by spaces or tabs. A field is a comma
 * list of items: `*`, a number, or a range `a-b`, each optionally with a
 * step /n (every n-th value: over the whole field after `*`, from a to b
 * after `a-b`, from a to the field's maximum after a single `a`). Months
 * may be jan..dec and days sun..sat (any case); day-of-week 7 is Sunday
 * too, and a range ending in `sun` (mon-sun) runs to 7. When neither
 * day-of-month nor day-of-week is exactly `*`, a day matches when either
 * does (Vixie cron); otherwise only the restricted one counts. Macros:
 * @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly, and
 * `@every DURATION` ("90s", "5m", "1h30m", "2d": units d h m s, largest
 * first, each at most once), whose ticks are the multiples of the period
 * since the epoch. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_EXPR_MAX 256                   /* longer is no schedule anyone means to write */
#define CRON_EVERY_MAX_S (31 * 86400)       /* @every beyond a month is a calendar schedule */
#define CRON_HORIZON_S (5 * 366 * 86400LL)  /* how far cron_next looks: reaches the next Feb 29 */
#define CRON_TIME_MAX 253402300799LL        /* 9999-12-31 23:59:59 UTC: no tick after it */

/* A parsed expression: plain data, copy it freely. Bit n of a set means
 * value n matches; each set is non-empty (all are 0 for @every). */
struct cron {
    uint64_t seconds; /* 0..59 (just 0 in the 5-field form) */
    uint64_t minutes; /* 0..59 */
    uint32_t hours;   /* 0..23 */
    uint32_t mdays;   /* 1..31 */
    uint16_t months;  /* 1..12 */
    uint8_t wdays;    /* 0..6, 0 = Sunday */
    bool mday_any;    /* day-of-month was `*` */
    bool wday_any;    /* day-of-week was `*` */
    int64_t every;    /* @every: the period in seconds; 0 for a calendar schedule */
};

/* Parses expr into *out. Returns 0, or -1 with *out untouched and err
 * naming the field and what it allows, e.g. "minute: 61 is out of 0..59". */
int cron_parse(const char *expr, struct cron *out, char *err, size_t errlen);

/* The first tick strictly after `after`, or -1 when there is none within
 * CRON_HORIZON_S (e.g. "0 0 30 2 *"), after CRON_TIME_MAX, or when `after`
 * is outside 0..CRON_TIME_MAX. */
int64_t cron_next(const struct cron *c, int64_t after);

#endif
