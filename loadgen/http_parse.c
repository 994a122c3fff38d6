/* Incremental HTTP/1.x response parser; see http_parse.h. */
#include "loadgen/http_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_parser_reset(struct http_parser *p, bool head_request, bool capture)
{
    char *body = p->body;
    size_t cap = p->body_cap;
    memset(p, 0, sizeof *p);
    p->state = HP_STATUS;
    p->head_request = head_request;
    p->capture = capture;
    p->content_length = -1;
    p->body = body;
    p->body_cap = cap;
    if (body != NULL)
        body[0] = '\0';
}

void http_parser_free(struct http_parser *p)
{
    free(p->body);
    p->body = NULL;
    p->body_cap = p->body_len = 0;
}

static ssize_t parse_fail(struct http_parser *p)
{
    p->state = HP_ERROR;
    return -1;
}

/* Appends body bytes to the capture buffer. Returns 0, or -1 when the body is
 * too large or memory runs out. */
static int body_append(struct http_parser *p, const char *buf, size_t n)
{
    p->body_bytes += n;
    if (!p->capture)
        return 0;
    if (p->body_len + n + 1 > p->body_cap) {
        if (p->body_len + n + 1 > HTTP_CAPTURE_MAX)
            return -1;
        size_t cap = p->body_cap ? p->body_cap : 1024;
        while (cap < p->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(p->body, cap);
        if (nb == NULL)
            return -1;
        p->body = nb;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, buf, n);
    p->body_len += n;
    p->body[p->body_len] = '\0';
    return 0;
}

/* True when the comma-separated header value holds `token` (case-insensitive). */
static bool value_has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0)
            return true;
    }
    return false;
}

/* "HTTP/1.1 200 OK" */
static int parse_status_line(struct http_parser *p, const char *line, size_t len)
{
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -1;
    if (line[7] == '1')
        p->keep_alive = true;
    else if (line[7] == '0')
        p->keep_alive = false;
    else
        return -1;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        status = status * 10 + (line[i] - '0');
    }
    if (status < 100 || (len > 12 && line[12] != ' '))
        return -1;
    p->status = status;
    return 0;
}

static int parse_header_line(struct http_parser *p, const char *line, size_t len)
{
    if (line[0] == ' ' || line[0] == '\t')
        return 0; /* obsolete line folding: continues a header we do not need */
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return -1;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;

    if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        if (vlen == 0 || vlen > 18)
            return -1;
        int64_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -1;
            n = n * 10 + (v[i] - '0');
        }
        if (p->content_length >= 0 && p->content_length != n)
            return -1; /* conflicting lengths: a smuggling hazard, refuse */
        p->content_length = n;
    } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        p->chunked = value_has_token(v, vlen, "chunked");
    } else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
        if (value_has_token(v, vlen, "close"))
            p->keep_alive = false;
        else if (value_has_token(v, vlen, "keep-alive"))
            p->keep_alive = true;
    }
    return 0;
}

/* The empty line after the headers: decides how the body is framed. */
static void headers_done(struct http_parser *p)
{
    if (p->status >= 100 && p->status < 200 && p->status != 101) {
        /* an interim response (100 Continue): the real one follows */
        bool head = p->head_request, cap = p->capture;
        http_parser_reset(p, head, cap);
        return;
    }
    if (p->head_request || p->status == 204 || p->status == 304 || p->status == 101) {
        p->state = HP_DONE;
    } else if (p->chunked) {
        p->state = HP_CHUNK_SIZE;
    } else if (p->content_length >= 0) {
        p->remaining = (uint64_t)p->content_length;
        p->state = p->remaining == 0 ? HP_DONE : HP_BODY_LENGTH;
    } else {
        p->keep_alive = false;
        p->state = HP_BODY_EOF;
    }
}

static int parse_chunk_size(struct http_parser *p, const char *line, size_t len)
{
    uint64_t n = 0;
    size_t i = 0;
    for (; i < len; i++) {
        char c = line[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (i >= 15)
            return -1; /* over 2^60 bytes: nonsense */
        n = n * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
        return -1;
    p->remaining = n;
    p->state = n == 0 ? HP_TRAILERS : HP_CHUNK_DATA;
    return 0;
}

/* Handles one complete line (without its CRLF) in the current state. */
static int parse_line(struct http_parser *p, const char *line, size_t len)
{
    switch (p->state) {
    case HP_STATUS:
        if (parse_status_line(p, line, len) != 0)
            return -1;
        p->state = HP_HEADERS;
        return 0;
    case HP_HEADERS:
        if (len == 0) {
            headers_done(p);
            return 0;
        }
        return parse_header_line(p, line, len);
    case HP_CHUNK_SIZE:
        return parse_chunk_size(p, line, len);
    case HP_CHUNK_CRLF:
        if (len != 0)
            return -1;
        p->state = HP_CHUNK_SIZE;
        return 0;
    case HP_TRAILERS:
        if (len == 0)
            p->state = HP_DONE;
        return 0;
    default:
        return -1;
    }
}

ssize_t http_parser_feed(struct http_parser *p, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        switch (p->state) {
        case HP_DONE:
            return (ssize_t)pos;
        case HP_ERROR:
            return -1;
        case HP_BODY_LENGTH:
        case HP_CHUNK_DATA: {
            size_t n = len - pos;
            if (n > p->remaining)
                n = (size_t)p->remaining;
            if (body_append(p, buf + pos, n) != 0)
                return parse_fail(p);
            pos += n;
            p->remaining -= n;
            if (p->remaining == 0)
                p->state = p->state == HP_BODY_LENGTH ? HP_DONE : HP_CHUNK_CRLF;
            break;
        }
        case HP_BODY_EOF:
            if (body_append(p, buf + pos, len - pos) != 0)
                return parse_fail(p);
            pos = len;
            break;
        default: {
            const char *nl = memchr(buf + pos, '\n', len - pos);
            if (nl == NULL) {
                if (len - pos >= HTTP_LINE_MAX)
                    return parse_fail(p);
                return (ssize_t)pos; /* incomplete line: the caller keeps it */
            }
            size_t llen = (size_t)(nl - (buf + pos));
            size_t next = pos + llen + 1;
            if (p->state != HP_CHUNK_SIZE && p->state != HP_CHUNK_CRLF) {
                p->header_bytes += llen + 1;
                if (p->header_bytes > HTTP_HEADERS_MAX)
                    return parse_fail(p);
            }
            if (llen > 0 && buf[pos + llen - 1] == '\r')
                llen--;
            if (parse_line(p, buf + pos, llen) != 0)
                return parse_fail(p);
            pos = next;
            break;
        }
        }
    }
    /* A response may end exactly at the end of the input (an empty body). */
    return (ssize_t)pos;
}

int http_parser_eof(struct http_parser *p)
{
    if (p->state == HP_BODY_EOF) {
        p->state = HP_DONE;
        return 0;
    }
    if (p->state != HP_DONE)
        p->state = HP_ERROR;
    return p->state == HP_DONE ? 0 : -1;
}
