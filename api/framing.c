#include "api/framing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void framing_init(struct framing *f)
{
    memset(f, 0, sizeof *f);
    f->state = FRAMING_HEAD;
    f->first_line = true;
}

/* True when the line starts with header `name` (case-insensitive) and a
 * colon; *value points past the colon and leading blanks. */
static bool line_header(const struct framing *f, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (f->len <= n || strncasecmp(f->line, name, n) != 0 || f->line[n] != ':')
        return false;
    *value = f->line + n + 1;
    while (**value == ' ' || **value == '\t')
        (*value)++;
    return true;
}

/* How a Transfer-Encoding value frames the body: 1 chunked (the value, or
 * the last of its comma-separated codings, is "chunked"), 0 not, -1 unsure
 * ("chunked" elsewhere in it: libevent builds differ, so stop following). */
static int value_chunked(const char *value)
{
    const char *last = strrchr(value, ',');
    size_t n;
    last = last ? last + 1 : value;
    while (*last == ' ' || *last == '\t')
        last++;
    n = strlen(last);
    while (n > 0 && (last[n - 1] == ' ' || last[n - 1] == '\t'))
        n--;
    if (n == 7 && strncasecmp(last, "chunked", 7) == 0)
        return 1;
    return strcasestr(value, "chunked") ? -1 : 0;
}

/* The head is over: what follows it. */
static void head_end(struct framing *f)
{
    if (f->no_body || (!f->chunked && (!f->has_length || f->length == 0))) {
        framing_init(f);
        return;
    }
    f->state = f->chunked ? FRAMING_CHUNK_SIZE : FRAMING_BODY;
    f->left = f->length;
}

/* One line of a head (NUL-ended in f->line, without its EOL). evhttp uses
 * the first Transfer-Encoding and requires exactly "chunked". */
static void head_line(struct framing *f)
{
    const char *v;
    if (f->first_line) {
        f->first_line = false;
        if (f->truncated && strchr(f->line, ' ') == NULL) {
            f->state = FRAMING_LOST;
            return;
        }
        f->no_body = strncmp(f->line, "HEAD ", 5) == 0 || strncmp(f->line, "TRACE ", 6) == 0;
        return;
    }
    if (f->len == 0) {
        head_end(f);
        return;
    }
    if (line_header(f, "Transfer-Encoding", &v) || line_header(f, "Content-Length", &v)) {
        if (f->truncated) {
            f->state = FRAMING_LOST;
            return;
        }
        if (f->line[0] == 'T' || f->line[0] == 't') {
            if (!f->seen_te) {
                int c = value_chunked(v);
                if (c < 0) {
                    f->state = FRAMING_LOST;
                    return;
                }
                f->chunked = c == 1; /* then Content-Length is ignored, as evhttp does */
            }
            f->seen_te = true;
        } else if (!f->has_length) {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno != 0 || end == v || n < 0) {
                f->state = FRAMING_LOST; /* evhttp refuses it itself */
                return;
            }
            f->has_length = true;
            f->length = (uint64_t)n;
        }
    }
}

/* A chunk-size line, judged as evhttp_handle_chunked_read does. */
static enum framing_verdict chunk_size_line(struct framing *f)
{
    char *end;
    long long n;
    if (f->len == 0)
        return FRAMING_OK; /* the CRLF after a chunk's data, or a stray one: skipped */
    if (f->truncated) {
        f->state = FRAMING_LOST;
        return FRAMING_OK;
    }
    errno = 0;
    n = strtoll(f->line, &end, 16);
    if (end == f->line || (*end != '\0' && *end != ' ') || n < 0 || errno == ERANGE ||
        f->line[strspn(f->line, " \t")] == '-') /* "-0" too: libevent refuses a sign */
        return FRAMING_BAD_CHUNK;
    if (n == 0) {
        f->state = FRAMING_TRAILER;
        return FRAMING_OK;
    }
    f->state = FRAMING_CHUNK_DATA;
    f->left = (uint64_t)n;
    return FRAMING_OK;
}

/* A whole line is in f->line: act on it. */
static enum framing_verdict line_done(struct framing *f)
{
    enum framing_verdict v = FRAMING_OK;
    if (f->len > 0 && f->line[f->len - 1] == '\r' && !f->truncated)
        f->len--;
    f->line[f->len] = '\0';
    switch (f->state) {
    case FRAMING_HEAD:
        head_line(f);
        break;
    case FRAMING_CHUNK_SIZE:
        v = chunk_size_line(f);
        break;
    case FRAMING_TRAILER:
        if (f->len == 0)
            framing_init(f);
        break;
    default:
        break;
    }
    f->len = 0;
    f->truncated = false;
    return v;
}

enum framing_verdict framing_feed(struct framing *f, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (f->state == FRAMING_LOST)
            return FRAMING_OK;
        if (f->state == FRAMING_BODY || f->state == FRAMING_CHUNK_DATA) {
            size_t take = (uint64_t)(n - i) < f->left ? n - i : (size_t)f->left;
            i += take;
            f->left -= take;
            if (f->left == 0) {
                if (f->state == FRAMING_BODY)
                    framing_init(f);
                else
                    f->state = FRAMING_CHUNK_SIZE;
            }
            continue;
        }
        char c = p[i++];
        if (c == '\n') {
            if (line_done(f) == FRAMING_BAD_CHUNK) {
                f->state = FRAMING_LOST;
                return FRAMING_BAD_CHUNK;
            }
            continue;
        }
        if (f->len < FRAMING_LINE_MAX - 1)
            f->line[f->len++] = c;
        else
            f->truncated = true;
    }
    return FRAMING_OK;
}
