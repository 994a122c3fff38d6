#ifndef OFFLOAD_LOADGEN_REQUEST_H
#define OFFLOAD_LOADGEN_REQUEST_H
/* A serialized HTTP/1.1 request, built once and written as-is by every
 * connection. */
#include <stdbool.h>
#include <stddef.h>

#include "common/url.h"

/* Longest method name accepted (WebDAV's are the longest real ones). */
#define REQUEST_METHOD_MAX 32

struct request {
    char *buf;   /* owned; the bytes on the wire, NUL-terminated for printing */
    size_t len;
    bool head;   /* a HEAD request: its response has no body */
};

/* Builds `METHOD path HTTP/1.1` with Host (unless a header sets one),
 * User-Agent (likewise), each "Name: value" header, Content-Length when there
 * is a body or the method usually carries one (unless a header sets it), then
 * the body. Returns 0, or -1 with a message in err (an invalid method or
 * header, or no memory). Free with request_free. */
int request_build(struct request *out, const char *method, const struct http_url *url, const char *const *headers,
                  size_t nheaders, const char *body, size_t body_len, char *err, size_t errlen);
void request_free(struct request *r);

/* *out = base with its path replaced by base's path (without a trailing
 * '/') followed by `path` ("/jobs?x=1"). Returns 0, or -1 with a message in
 * err when it does not fit. */
int request_url_join(const struct http_url *base, const char *path, struct http_url *out, char *err, size_t errlen);

/* Checks one "Name: value" header: a token name, a colon, no CR, LF or NUL.
 * Returns 0, or -1 with a message in err. */
int request_header_check(const char *h, char *err, size_t errlen);

#endif
