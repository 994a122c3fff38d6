/* Table cells from JSON values; see fmt.h. */
#include "cli/fmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t fmt_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80; /* continuation bytes do not count */
    return n;
}

/* Copies src into buf as one line of at most `chars` characters (0: as
 * many as fit), ending in "..." when cut. len must be at least 8. */
static void fmt_line(const char *src, size_t chars, char *buf, size_t len)
{
    size_t keep = chars != 0 && fmt_width(src) > chars ? (chars > 3 ? chars - 3 : chars) : SIZE_MAX;
    size_t o = 0, n = 0;
    bool cut = false;
    for (const char *p = src; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        bool starts = (ch & 0xC0) != 0x80;
        /* at a character's first byte: room for 4 bytes of it, "..." and the NUL */
        if (starts && (n == keep || o + 8 > len)) {
            cut = true;
            break;
        }
        buf[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
        n += starts;
    }
    if (cut) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

void fmt_value(const json_t *v, size_t chars, char *buf, size_t len)
{
    char num[64];
    if (v == NULL || json_is_null(v)) {
        fmt_line("-", chars, buf, len);
    } else if (json_is_string(v)) {
        fmt_line(json_string_value(v), chars, buf, len);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        fmt_line(num, chars, buf, len);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.4g", json_real_value(v));
        fmt_line(num, chars, buf, len);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fmt_line(s != NULL ? s : "?", chars, buf, len);
        free(s);
    }
}

void fmt_list(const json_t *v, size_t chars, char *buf, size_t len)
{
    char all[FMT_CELL_BUF * 4] = "", item[FMT_CELL_BUF];
    size_t used = 0, i;
    const json_t *e;
    if (!json_is_array(v)) {
        fmt_value(v, chars, buf, len);
        return;
    }
    json_array_foreach(v, i, e) {
        if (json_is_object(e) || json_is_array(e)) {
            fmt_value(v, chars, buf, len);
            return;
        }
        fmt_value(e, 0, item, sizeof item);
        int n = snprintf(all + used, sizeof all - used, "%s%s", i ? "," : "", item);
        if (n < 0 || (size_t)n >= sizeof all - used)
            break; /* the cut below says it is longer */
        used += (size_t)n;
    }
    fmt_line(all, chars, buf, len);
}

double fmt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fmt_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long long t = (long long)s;
    if (s < 1)
        snprintf(buf, len, "%.0fms", s * 1000);
    else if (t < 60)
        snprintf(buf, len, "%llds", t);
    else if (t < 3600)
        snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, len, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
}

void fmt_age(const json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v)) {
        snprintf(buf, len, "-");
        return;
    }
    double d = fmt_now() - json_number_value(v);
    char dur[32];
    fmt_duration(fabs(d), dur, sizeof dur);
    if (d >= 0)
        snprintf(buf, len, "%s ago", dur);
    else
        snprintf(buf, len, "in %s", dur);
}

void fmt_time(const json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v)) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)json_number_value(v);
    struct tm tm;
    char when[32] = "?", age[48];
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fmt_age(v, age, sizeof age);
    snprintf(buf, len, "%s (%s)", when, age);
}
