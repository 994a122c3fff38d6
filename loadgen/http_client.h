#ifndef OFFLOAD_LOADGEN_HTTP_CLIENT_H
#define OFFLOAD_LOADGEN_HTTP_CLIENT_H
/* One keep-alive HTTP/1.1 client connection on a libevent loop: raw
 * nonblocking socket, one request in flight at a time, reconnects on demand.
 * The caller owns timing and timeouts (see conn_reset). */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "loadgen/http_parse.h"

/* Bytes one read(2) may return; also bounds a response line (HTTP_LINE_MAX). */
#define CONN_READ_BUF 65536
/* After a failed connect the next attempt waits this long: a refused port
 * would otherwise spin the CPU on connect errors. */
#define CONN_RECONNECT_DELAY_MS 10

enum conn_state {
    CONN_CLOSED,     /* no socket; the next request connects first */
    CONN_BACKOFF,    /* a request is waiting out the reconnect delay */
    CONN_CONNECTING, /* nonblocking connect in progress, the request waits */
    CONN_WRITING,    /* the request is being written (the socket was full) */
    CONN_READING,    /* request written; parsing the response */
    CONN_IDLE,       /* connected, keep-alive, nothing in flight */
    CONN_FAILING,    /* a failure found inside conn_send, reported from the loop */
};

enum conn_error {
    CONN_OK = 0,
    CONN_ERR_CONNECT, /* connect refused, unreachable, out of ports */
    CONN_ERR_READ,    /* the connection ended or broke before a whole response, or it was malformed */
    CONN_ERR_WRITE,   /* the connection broke while the request was written */
    CONN_ERR_TIMEOUT, /* never reported by conn: the caller's timeout (see conn_reset) */
};

struct conn;

/* Called once per request from the event loop (never from inside conn_send):
 * err == CONN_OK with the parsed response in `p` (valid during the call), or
 * an error. The callback may send the next request or free the conn. */
typedef void (*conn_done_fn)(struct conn *c, enum conn_error err, const struct http_parser *p, void *arg);

/* A new closed connection to addr (copied). `scratch` is a read buffer of
 * CONN_READ_BUF bytes that connections of one loop may share; it must
 * outlive the conn. Returns NULL on allocation failure. Free with conn_free. */
struct conn *conn_new(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen, char *scratch,
                      conn_done_fn done, void *arg);
/* Closes the socket and frees c; any request in flight is dropped unreported. */
void conn_free(struct conn *c);
/* Starts one request. req[0..len) is the caller's and must stay valid until
 * the callback. `head`: a HEAD request (no response body); `capture`: keep
 * the body for the callback. Returns 0, or -1 when a request is already in
 * flight. */
int conn_send(struct conn *c, const char *req, size_t len, bool head, bool capture);
/* Drops the request in flight unreported and closes the socket (the next
 * request reconnects): how a caller's timeout ends a request. */
void conn_reset(struct conn *c);
enum conn_state conn_get_state(const struct conn *c);
/* True while a request is in flight (sent or waiting to be). */
bool conn_busy(const struct conn *c);

#endif
