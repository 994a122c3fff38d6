#ifndef OFFLOAD_FRAMING_H
#define OFFLOAD_FRAMING_H
/* Follows the framing of the requests on one connection — heads, then
 * Content-Length or chunked bodies — byte by byte, as evhttp reads them, so
 * that a malformed chunk-size line can be answered 400 before evhttp sees
 * it (libevent 2.1 answers it 413, the code for a body too large, and has
 * no hook to say otherwise). It flags only what evhttp itself would refuse
 * as corrupt; when it cannot follow (a line too long to judge), it stops
 * following the connection and flags nothing more. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAMING_LINE_MAX 256 /* the part of a line it keeps: method, Content-Length, Transfer-Encoding */

enum framing_state {
    FRAMING_HEAD,       /* in a request head */
    FRAMING_BODY,       /* in a Content-Length body: `left` bytes to go */
    FRAMING_CHUNK_SIZE, /* expecting a chunk-size line (empty lines are skipped, as evhttp does) */
    FRAMING_CHUNK_DATA, /* in a chunk: `left` bytes to go */
    FRAMING_TRAILER,    /* after the last chunk: trailer lines up to an empty one */
    FRAMING_LOST,       /* stopped following */
};

struct framing {
    enum framing_state state;
    uint64_t left;
    bool first_line;      /* the next head line is the request line */
    bool no_body;         /* HEAD or TRACE: evhttp reads no body whatever the headers say */
    bool chunked;
    bool seen_te;         /* evhttp heeds the first Transfer-Encoding only */
    bool has_length;
    uint64_t length;
    size_t len;           /* bytes of the current line in `line` */
    bool truncated;       /* the current line was longer than `line` */
    char line[FRAMING_LINE_MAX];
};

enum framing_verdict {
    FRAMING_OK,
    FRAMING_BAD_CHUNK, /* a chunk-size line evhttp would reject as corrupt */
};

/* A connection's first byte comes next. */
void framing_init(struct framing *f);
/* Feeds the next n bytes the connection received. After FRAMING_BAD_CHUNK
 * it follows nothing more (the connection is answered and closed). */
enum framing_verdict framing_feed(struct framing *f, const char *p, size_t n);

#endif
