/* Cron expressions: a parser into bit sets, and the next tick found by
 * jumping field by field (month, day, hour, minute, second) on our own
 * civil-date arithmetic, so the answer depends on nothing but its inputs. */
#include "common/cron.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/errmsg.h"

#define DAY_S 86400
#define FIELDS_MAX 6        /* second minute hour day-of-month month day-of-week */
#define NUMBER_DIGITS_MAX 9 /* more is out of every range and would overflow an int */

enum field_index { F_SECOND, F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY };

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field {
    const char *name; /* for messages */
    int min, max;     /* the values one may write */
    int last;         /* where `*` and `a/n` end: day-of-week's 7 only repeats 0 */
    const char *const *names; /* names[i] is value min + i, or NULL */
    int nnames;
    const char *what;         /* "month" / "day": the kind of name, for messages */
};

static const struct field fields[FIELDS_MAX] = {
    [F_SECOND] = {"second", 0, 59, 59, NULL, 0, NULL},
    [F_MINUTE] = {"minute", 0, 59, 59, NULL, 0, NULL},
    [F_HOUR] = {"hour", 0, 23, 23, NULL, 0, NULL},
    [F_MDAY] = {"day-of-month", 1, 31, 31, NULL, 0, NULL},
    [F_MONTH] = {"month", 1, 12, 12, month_names, 12, "month"},
    [F_WDAY] = {"day-of-week", 0, 7, 6, day_names, 7, "day"},
};

/* The equivalent 6-field form of each macro but @every. */
static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"yearly", "0 0 0 1 1 *"}, {"annually", "0 0 0 1 1 *"}, {"monthly", "0 0 0 1 * *"},
    {"weekly", "0 0 0 * * 0"}, {"daily", "0 0 0 * * *"},    {"midnight", "0 0 0 * * *"},
    {"hourly", "0 0 * * * *"},
};

/* @every units, largest first: a duration lists them in this order. */
static const struct {
    char unit;
    int64_t seconds;
} every_units[] = {{'d', DAY_S}, {'h', 3600}, {'m', 60}, {'s', 1}};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads the run of digits at s[0..len): returns its length (0 when s does
 * not start with a digit) and its value in *v, or INT32_MAX when it has more
 * than NUMBER_DIGITS_MAX digits. */
static size_t digits_read(const char *s, size_t len, int64_t *v)
{
    size_t n = 0;
    *v = 0;
    while (n < len && isdigit((unsigned char)s[n])) {
        if (n < NUMBER_DIGITS_MAX)
            *v = *v * 10 + (s[n] - '0');
        n++;
    }
    if (n > NUMBER_DIGITS_MAX)
        *v = INT32_MAX;
    return n;
}

/* Reads one value of f at *p (a number, or one of f's names), moving *p
 * past it; `item` is the whole item, for messages. *named says a name was
 * read. */
static int value_parse(const struct field *f, const char **p, const char *end, const char *item,
                       int *v, bool *named, char *err, size_t errlen)
{
    const char *s = *p;
    size_t n = 0;
    while (s + n < end && isalnum((unsigned char)s[n]))
        n++;
    int item_len = (int)(end - item);
    if (n == 0)
        return errmsg_fail(err, errlen, "%s: a number is missing in \"%.*s\"", f->name, item_len,
                           item);
    int64_t num;
    *named = false;
    if (digits_read(s, n, &num) == n) {
        if (num < f->min || num > f->max)
            return errmsg_fail(err, errlen, "%s: %.*s is out of %d..%d", f->name, (int)n, s,
                               f->min, f->max);
        *v = (int)num;
    } else {
        int i = 0;
        while (i < f->nnames && !(n == 3 && strncasecmp(s, f->names[i], 3) == 0))
            i++;
        if (i == f->nnames) {
            if (f->names == NULL)
                return errmsg_fail(err, errlen, "%s: \"%.*s\" is not a number in %d..%d",
                                   f->name, (int)n, s, f->min, f->max);
            return errmsg_fail(err, errlen,
                               "%s: \"%.*s\" is neither a number in %d..%d nor a %s %s..%s",
                               f->name, (int)n, s, f->min, f->max, f->what, f->names[0],
                               f->names[f->nnames - 1]);
        }
        *v = f->min + i;
        *named = true;
    }
    *p = s + n;
    return 0;
}

/* Parses one list item item[0..end) of f and adds its values to *bits. */
static int item_parse(const struct field *f, const char *item, const char *end, uint64_t *bits,
                      char *err, size_t errlen)
{
    const char *p = item;
    int item_len = (int)(end - item);
    int lo = f->min, hi = f->last, step = 1;
    bool named;
    if (*p == '*') {
        p++;
    } else {
        if (value_parse(f, &p, end, item, &lo, &named, err, errlen) < 0)
            return -1;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if (value_parse(f, &p, end, item, &hi, &named, err, errlen) < 0)
                return -1;
            if (named && hi == 0 && lo > 0 && f == &fields[F_WDAY])
                hi = 7; /* mon-sun: Sunday as 7 closes the week */
            if (hi < lo)
                return errmsg_fail(err, errlen,
                                   "%s: the range %.*s is reversed (write the smaller bound first)",
                                   f->name, item_len, item);
        } else if (p < end && *p == '/') {
            hi = lo > f->last ? lo : f->last; /* a/n: from a to the end (7/n: Sunday) */
        }
    }
    if (p < end && *p == '/') {
        int64_t n;
        size_t len = digits_read(p + 1, (size_t)(end - p - 1), &n);
        int step_max = f->last - f->min;
        if (len == 0)
            return errmsg_fail(err, errlen, "%s: a step number is missing in \"%.*s\"", f->name,
                               item_len, item);
        if (n < 1 || n > step_max)
            return errmsg_fail(err, errlen, "%s: step %.*s is out of 1..%d", f->name, (int)len,
                               p + 1, step_max);
        step = (int)n;
        p += 1 + len;
    }
    if (p < end)
        return errmsg_fail(err, errlen, "%s: unexpected \"%.*s\" in \"%.*s\"", f->name,
                           (int)(end - p), p, item_len, item);
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ull << v;
    return 0;
}

/* Parses field text s[0..len) of f into *bits. */
static int field_parse(const struct field *f, const char *s, size_t len, uint64_t *bits,
                       char *err, size_t errlen)
{
    const char *end = s + len, *item = s;
    *bits = 0;
    while (item <= end) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *item_end = comma ? comma : end;
        if (item == item_end)
            return errmsg_fail(err, errlen, "%s: an empty item in \"%.*s\"", f->name, (int)len,
                               s);
        if (item_parse(f, item, item_end, bits, err, errlen) < 0)
            return -1;
        item = item_end + 1;
    }
    return 0;
}

/* Splits s at blanks into at most max words; returns the word count (which
 * may exceed max: only the first max are stored). */
static int words_split(const char *s, const char **word, size_t *len, int max)
{
    int n = 0;
    for (const char *p = s;;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            return n;
        const char *q = p;
        while (*q != '\0' && !is_blank(*q))
            q++;
        if (n < max) {
            word[n] = p;
            len[n] = (size_t)(q - p);
        }
        n++;
        p = q;
    }
}

/* Parses 5 or 6 fields (nwords of them) into *c. */
static int fields_parse(const char *const *word, const size_t *len, int nwords, struct cron *c,
                        char *err, size_t errlen)
{
    uint64_t bits[FIELDS_MAX] = {[F_SECOND] = 1}; /* the 5-field form fires at second 0 */
    int first = nwords == FIELDS_MAX ? F_SECOND : F_MINUTE;
    for (int i = first; i < FIELDS_MAX; i++) {
        const char *w = word[i - first];
        if (field_parse(&fields[i], w, len[i - first], &bits[i], err, errlen) < 0)
            return -1;
    }
    const char *mday = word[F_MDAY - first], *wday = word[F_WDAY - first];
    c->seconds = bits[F_SECOND];
    c->minutes = bits[F_MINUTE];
    c->hours = (uint32_t)bits[F_HOUR];
    c->mdays = (uint32_t)bits[F_MDAY];
    c->months = (uint16_t)bits[F_MONTH];
    c->wdays = (uint8_t)((bits[F_WDAY] | bits[F_WDAY] >> 7) & 0x7f); /* 7 is Sunday */
    c->mday_any = len[F_MDAY - first] == 1 && mday[0] == '*';
    c->wday_any = len[F_WDAY - first] == 1 && wday[0] == '*';
    c->every = 0;
    return 0;
}

/* Parses an @every duration s[0..len) into c->every. */
static int every_parse(const char *s, size_t len, struct cron *c, char *err, size_t errlen)
{
    const char *p = s, *end = s + len;
    size_t unit = 0;
    int64_t total = 0;
    if (len == 0)
        return errmsg_fail(err, errlen, "@every: a duration is missing, like 90s, 5m or 1h30m");
    while (p < end) {
        int64_t n;
        size_t digits = digits_read(p, (size_t)(end - p), &n);
        while (digits > 0 && p + digits < end && unit < 4 && every_units[unit].unit != p[digits])
            unit++;
        if (digits == 0 || p + digits == end || unit == 4)
            return errmsg_fail(err, errlen,
                               "@every: \"%.*s\" is not a duration like 90s, 5m, 1h30m or 2d "
                               "(units d h m s, largest first)",
                               (int)len, s);
        total += n * every_units[unit].seconds; /* n < 10^9: no overflow */
        p += digits + 1;
        unit++;
    }
    if (total < 1 || total > CRON_EVERY_MAX_S)
        return errmsg_fail(err, errlen, "@every: %.*s is out of 1s..31d", (int)len, s);
    memset(c, 0, sizeof *c);
    c->every = total;
    return 0;
}

/* Parses a macro: word[0] starts with '@'. */
static int macro_parse(const char *const *word, const size_t *len, int nwords, struct cron *c,
                       char *err, size_t errlen)
{
    const char *name = word[0] + 1;
    size_t n = len[0] - 1;
    if (n == 5 && strncasecmp(name, "every", 5) == 0) {
        if (nwords > 2)
            return errmsg_fail(err, errlen, "@every: one duration expected, got %d words",
                               nwords - 1);
        return every_parse(nwords == 2 ? word[1] : "", nwords == 2 ? len[1] : 0, c, err, errlen);
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (strlen(macros[i].name) != n || strncasecmp(name, macros[i].name, n) != 0)
            continue;
        if (nwords > 1)
            return errmsg_fail(err, errlen, "@%s: unexpected \"%.*s\" after the macro",
                               macros[i].name, (int)len[1], word[1]);
        const char *mword[FIELDS_MAX];
        size_t mlen[FIELDS_MAX];
        int m = words_split(macros[i].expr, mword, mlen, FIELDS_MAX);
        return fields_parse(mword, mlen, m, c, err, errlen);
    }
    return errmsg_fail(err, errlen,
                       "unknown macro \"%.*s\" (use @yearly, @annually, @monthly, @weekly, "
                       "@daily, @midnight, @hourly or @every DURATION)",
                       (int)len[0], word[0]);
}

int cron_parse(const char *expr, struct cron *out, char *err, size_t errlen)
{
    const char *word[FIELDS_MAX];
    size_t len[FIELDS_MAX];
    struct cron c;
    int rc;
    if (expr == NULL)
        return errmsg_fail(err, errlen, "expression: missing");
    if (strnlen(expr, CRON_EXPR_MAX + 1) > CRON_EXPR_MAX)
        return errmsg_fail(err, errlen, "expression: longer than %d characters", CRON_EXPR_MAX);
    int n = words_split(expr, word, len, FIELDS_MAX);
    if (n == 0)
        return errmsg_fail(err, errlen,
                           "expression: empty (5 fields \"minute hour day-of-month month "
                           "day-of-week\", 6 with a second first, or a macro like @daily)");
    if (word[0][0] == '@')
        rc = macro_parse(word, len, n, &c, err, errlen);
    else if (n != 5 && n != 6)
        rc = errmsg_fail(err, errlen,
                         "expression: %d fields; expected 5 (minute hour day-of-month month "
                         "day-of-week) or 6 (a second first)",
                         n);
    else
        rc = fields_parse(word, len, n, &c, err, errlen);
    if (rc == 0)
        *out = c;
    return rc;
}

/* ---- next tick ---- */

struct date {
    int64_t year;
    int month; /* 1..12 */
    int mday;  /* 1..31 */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_date(struct date d)
{
    int64_t y = d.year - (d.month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (d.month > 2 ? d.month - 3 : d.month + 9) + 2) / 5 + d.mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_date. */
static struct date date_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct date d;
    d.mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    d.year = yoe + era * 400 + (d.month <= 2);
    return d;
}

/* The smallest value >= from in set, or -1. */
static int set_next(uint64_t set, int from)
{
    if (from >= 64)
        return -1;
    uint64_t rest = set & (~0ull << from);
    return rest ? __builtin_ctzll(rest) : -1;
}

/* True when day `days` (since the epoch, which was a Thursday) on date d
 * matches the day fields: both when either is `*`, else either. */
static bool day_matches(const struct cron *c, struct date d, int64_t days)
{
    bool mday = c->mdays >> d.mday & 1;
    bool wday = c->wdays >> ((days % 7 + 11) % 7) & 1;
    return c->mday_any || c->wday_any ? mday && wday : mday || wday;
}

/* Moves *h:*m:*s to the first time of day at or after it in c's sets;
 * false when the day has none left. */
static bool clock_next(const struct cron *c, int *h, int *m, int *s)
{
    for (int hh = set_next(c->hours, *h); hh >= 0; hh = set_next(c->hours, hh + 1)) {
        int m0 = hh == *h ? *m : 0;
        for (int mm = set_next(c->minutes, m0); mm >= 0; mm = set_next(c->minutes, mm + 1)) {
            int ss = set_next(c->seconds, hh == *h && mm == *m ? *s : 0);
            if (ss >= 0) {
                *h = hh;
                *m = mm;
                *s = ss;
                return true;
            }
        }
    }
    return false;
}

int64_t cron_next(const struct cron *c, int64_t after)
{
    if (after < 0 || after >= CRON_TIME_MAX)
        return -1;
    if (c->every > 0) {
        int64_t t = (after / c->every + 1) * c->every;
        return t <= CRON_TIME_MAX ? t : -1;
    }
    int64_t limit = after + CRON_HORIZON_S < CRON_TIME_MAX ? after + CRON_HORIZON_S : CRON_TIME_MAX;
    int64_t day = (after + 1) / DAY_S;
    int sec = (int)((after + 1) % DAY_S);
    int h = sec / 3600, m = sec / 60 % 60, s = sec % 60;
    /* Each pass moves to a later month, day or time: at most ~12 month
     * jumps and 31 days a year of the horizon, then one clock search. */
    while (day * DAY_S <= limit) {
        struct date d = date_from_days(day);
        if (!(c->months >> d.month & 1)) {
            int next = set_next(c->months, d.month + 1);
            d.year += next < 0;
            d.month = next < 0 ? set_next(c->months, 1) : next;
            d.mday = 1;
            day = days_from_date(d);
            h = m = s = 0;
            continue;
        }
        if (day_matches(c, d, day) && clock_next(c, &h, &m, &s)) {
            int64_t t = day * DAY_S + h * 3600 + m * 60 + s;
            return t <= limit ? t : -1;
        }
        day++;
        h = m = s = 0;
    }
    return -1;
}
