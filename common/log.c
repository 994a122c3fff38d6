/* logfmt lines on stderr, one write(2) per line. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longer lines are truncated: a log line is not a place for a payload. */
#define LOG_LINE_MAX 4096
/* Room for the quoted message; the rest of the line is for the key=value tail. */
#define LOG_MSG_MAX 1024

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static atomic_int log_threshold = LOG_INFO;
static const char *_Atomic log_comp;

void log_set_level(enum log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

int log_level_parse(const char *s, enum log_level *out)
{
    if (s == NULL)
        return -1;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_init(const char *name)
{
    atomic_store(&log_comp, name);
    const char *env = getenv("LOG_LEVEL");
    enum log_level level;
    if (env == NULL || *env == '\0')
        return;
    if (log_level_parse(env, &level) == 0) {
        log_set_level(level);
    } else {
        char q[64];
        log_warn("ignoring invalid LOG_LEVEL", "value=%s", log_quote(env, q, sizeof q));
    }
}

/* A value may stand bare when it is non-empty printable ASCII without
 * space, quote, equals sign or backslash. */
static bool log_bare_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '=' || *p == '\\')
            return false;
    }
    return true;
}

/* Writes s into buf as a logfmt value; see log.h. Escapes are never split by
 * truncation, and a quoted value always keeps its closing quote. */
const char *log_quote(const char *s, char *buf, unsigned long len)
{
    if (len == 0)
        return buf;
    if (s == NULL)
        s = "";
    if (log_bare_ok(s)) {
        size_t n = strnlen(s, len - 1);
        memcpy(buf, s, n);
        buf[n] = '\0';
        return buf;
    }
    if (len < 3) { /* not even room for "" */
        buf[0] = '\0';
        return buf;
    }
    size_t o = 0;
    size_t room = len - 2; /* keep space for the closing quote and NUL */
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[5];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            n = 4;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (o + n > room)
            break;
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Appends at most cap-1-*pos bytes of a formatted string, keeping *pos at the
 * end of what was written (clamped when truncated). */
static void log_vappend(char *line, size_t cap, size_t *pos, const char *fmt, va_list ap)
{
    if (*pos + 1 >= cap)
        return;
    int n = vsnprintf(line + *pos, cap - *pos, fmt, ap);
    if (n < 0)
        return;
    *pos += (size_t)n < cap - *pos ? (size_t)n : cap - *pos - 1;
}

static void log_append(char *line, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void log_append(char *line, size_t cap, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vappend(line, cap, pos, fmt, ap);
    va_end(ap);
}

/* Formats one line into a stack buffer and writes it with one write(2). */
void log_msg(enum log_level level, const char *msg, const char *kvfmt, ...)
{
    if ((int)level < atomic_load(&log_threshold))
        return;
    char line[LOG_LINE_MAX];
    size_t cap = sizeof line - 1; /* the newline always fits */
    size_t pos = 0;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const char *lname = (level >= LOG_DEBUG && level <= LOG_ERROR) ? level_names[level] : "info";
    log_append(line, cap, &pos, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
               tm.tm_sec, ts.tv_nsec / 1000000L, lname);
    const char *comp = atomic_load(&log_comp);
    if (comp != NULL)
        log_append(line, cap, &pos, " comp=%s", comp);
    char qmsg[LOG_MSG_MAX];
    log_append(line, cap, &pos, " msg=%s", log_quote(msg, qmsg, sizeof qmsg));
    if (kvfmt != NULL && *kvfmt != '\0') {
        va_list ap;
        log_append(line, cap, &pos, " ");
        va_start(ap, kvfmt);
        log_vappend(line, cap, &pos, kvfmt, ap);
        va_end(ap);
    }
    line[pos++] = '\n';

    size_t off = 0;
    while (off < pos) {
        ssize_t w = write(STDERR_FILENO, line + off, pos - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing stderr */
        off += (size_t)w;
    }
}
