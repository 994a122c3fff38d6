/* A serialized HTTP/1.1 request; see request.h. */
#include "loadgen/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/defaults.h"
#include "common/errmsg.h"

/* RFC 9110 tchar: what a method or header name may contain. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int request_header_check(const char *h, char *err, size_t errlen)
{
    const char *colon = strchr(h, ':');
    if (colon == NULL || colon == h) {
        errmsg_fail(err, errlen, "header \"%s\" is not \"Name: value\"", h);
        return -1;
    }
    for (const char *p = h; p < colon; p++) {
        if (!is_tchar((unsigned char)*p)) {
            errmsg_fail(err, errlen, "header \"%s\" has an invalid name", h);
            return -1;
        }
    }
    if (strpbrk(colon, "\r\n") != NULL) {
        errmsg_fail(err, errlen, "header \"%.40s...\" holds a line break", h);
        return -1;
    }
    return 0;
}

/* True when one of the headers is named `name` (case-insensitive). */
static bool headers_have(const char *const *headers, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(headers[i], name, nl) == 0 && headers[i][nl] == ':')
            return true;
    }
    return false;
}

int request_build(struct request *out, const char *method, const struct http_url *url, const char *const *headers,
                  size_t nheaders, const char *body, size_t body_len, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t mlen = strlen(method);
    if (mlen == 0 || mlen > REQUEST_METHOD_MAX) {
        errmsg_fail(err, errlen, "method \"%s\" is not a valid method", method);
        return -1;
    }
    for (size_t i = 0; i < mlen; i++) {
        if (!is_tchar((unsigned char)method[i])) {
            errmsg_fail(err, errlen, "method \"%s\" is not a valid method", method);
            return -1;
        }
    }
    size_t hlen = 0;
    for (size_t i = 0; i < nheaders; i++) {
        if (request_header_check(headers[i], err, errlen) != 0)
            return -1;
        hlen += strlen(headers[i]) + 2;
    }
    bool wants_length = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                        strcmp(method, "PATCH") == 0;
    bool has_host = headers_have(headers, nheaders, "Host");
    bool has_agent = headers_have(headers, nheaders, "User-Agent");
    bool has_length = headers_have(headers, nheaders, "Content-Length");

    size_t cap = mlen + strlen(url->path) + strlen(url->hostport) + hlen + body_len + 256;
    char *buf = malloc(cap);
    if (buf == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        return -1;
    }
    size_t len = (size_t)snprintf(buf, cap, "%s %s HTTP/1.1\r\n", method, url->path);
    if (!has_host)
        len += (size_t)snprintf(buf + len, cap - len, "Host: %s\r\n", url->hostport);
    if (!has_agent)
        len += (size_t)snprintf(buf + len, cap - len, "User-Agent: offload-loadgen/%s\r\n", offload_version);
    for (size_t i = 0; i < nheaders; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\r\n", headers[i]);
    if (wants_length && !has_length)
        len += (size_t)snprintf(buf + len, cap - len, "Content-Length: %zu\r\n", body_len);
    len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    if (body_len > 0)
        memcpy(buf + len, body, body_len);
    len += body_len;
    buf[len] = '\0';

    out->buf = buf;
    out->len = len;
    out->head = strcmp(method, "HEAD") == 0;
    return 0;
}

void request_free(struct request *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = 0;
}

int request_url_join(const struct http_url *base, const char *path, struct http_url *out, char *err, size_t errlen)
{
    *out = *base;
    size_t blen = strcspn(base->path, "?");
    while (blen > 0 && base->path[blen - 1] == '/')
        blen--;
    int n = snprintf(out->path, sizeof out->path, "%.*s%s", (int)blen, base->path, path);
    if (n < 0 || (size_t)n >= sizeof out->path)
        return errmsg_fail(err, errlen, "URL path too long");
    return 0;
}
