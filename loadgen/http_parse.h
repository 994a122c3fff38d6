#ifndef OFFLOAD_LOADGEN_HTTP_PARSE_H
#define OFFLOAD_LOADGEN_HTTP_PARSE_H
/* Incremental HTTP/1.x response parser: status line, headers (Content-Length,
 * Transfer-Encoding: chunked, Connection), bodies by length, chunked or up
 * to the end of the connection. It consumes whole lines only, so the caller
 * keeps an unconsumed tail (an incomplete line) and feeds it again with more
 * bytes. The body is counted and dropped unless capture is on. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A line longer than this is an error (the caller's read buffer must hold at
 * least this much). */
#define HTTP_LINE_MAX 16384
/* A header block (or trailer block) larger than this is an error. */
#define HTTP_HEADERS_MAX (256 * 1024)
/* A captured body larger than this is an error: loadgen reads job JSON, not files. */
#define HTTP_CAPTURE_MAX (16 * 1024 * 1024)

enum http_parse_state {
    HP_STATUS,      /* waiting for the status line */
    HP_HEADERS,     /* header lines until the empty line */
    HP_BODY_LENGTH, /* `remaining` bytes of a Content-Length body */
    HP_CHUNK_SIZE,  /* a chunk-size line (hex, optional ;extensions) */
    HP_CHUNK_DATA,  /* `remaining` bytes of chunk data */
    HP_CHUNK_CRLF,  /* the empty line that ends a chunk's data */
    HP_TRAILERS,    /* trailer lines after the last chunk, until the empty line */
    HP_BODY_EOF,    /* the body runs until the server closes */
    HP_DONE,        /* one complete response */
    HP_ERROR,       /* malformed: the connection cannot be trusted any more */
};

struct http_parser {
    enum http_parse_state state;
    bool head_request;      /* the response to HEAD has no body */
    bool capture;           /* keep the body in `body` */
    int status;
    bool keep_alive;        /* false when the server closes after this response */
    bool chunked;
    int64_t content_length; /* -1 when absent */
    uint64_t remaining;     /* bytes left in a length body or a chunk */
    uint64_t body_bytes;    /* body bytes seen, captured or not */
    size_t header_bytes;    /* status, header and trailer lines seen */
    char *body;             /* captured body, NUL-terminated; owned by the parser */
    size_t body_len, body_cap;
};

/* Prepares p for the next response; keeps (and empties) a capture buffer.
 * `head_request` and `capture` apply to that response. */
void http_parser_reset(struct http_parser *p, bool head_request, bool capture);
/* Frees the capture buffer. The parser itself is the caller's. */
void http_parser_free(struct http_parser *p);
/* Feeds bytes. Returns how many were consumed (less than len when the tail is
 * an incomplete line, or when the response ended: state HP_DONE), or -1 on a
 * malformed response (state HP_ERROR). */
ssize_t http_parser_feed(struct http_parser *p, const char *buf, size_t len);
/* The connection ended: completes a read-until-close body (returns 0, state
 * HP_DONE); in any other state the response was cut short (returns -1). */
int http_parser_eof(struct http_parser *p);

#endif
