/* One keep-alive HTTP/1.1 client connection; see http_client.h. */
#include "loadgen/http_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"


struct conn {
    enum conn_state state;
    int fd;
    struct event_base *base;
    struct event *ev_read;  /* added while READING or IDLE */
    struct event *ev_write; /* added while CONNECTING or WRITING */
    struct event *ev_timer; /* BACKOFF and FAILING */
    bool read_added, write_added;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *scratch;           /* shared read buffer, CONN_READ_BUF bytes */
    char *carry;             /* an incomplete line kept between reads (HTTP_LINE_MAX, allocated on first use) */
    size_t carry_len;
    const char *req;         /* the request in flight (the caller's) */
    size_t req_len, req_off;
    enum conn_error failing; /* what CONN_FAILING will report */
    uint64_t retry_at_ns;    /* no connect before this (after a failed one) */
    struct http_parser parser;
    conn_done_fn done;
    void *arg;
};

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

struct conn *conn_new(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen, char *scratch,
                      conn_done_fn done, void *arg)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (addrlen > sizeof c->addr)
        goto err;
    c->ev_timer = evtimer_new(base, conn_on_timer, c);
    if (c->ev_timer == NULL)
        goto err;
    c->state = CONN_CLOSED;
    c->fd = -1;
    c->base = base;
    memcpy(&c->addr, addr, addrlen);
    c->addrlen = addrlen;
    c->scratch = scratch;
    c->done = done;
    c->arg = arg;
    return c;
err:
    free(c);
    return NULL;
}

/* Removes the socket's events and closes it; state becomes CLOSED. */
static void conn_close(struct conn *c)
{
    if (c->ev_read != NULL) {
        event_free(c->ev_read);
        c->ev_read = NULL;
    }
    if (c->ev_write != NULL) {
        event_free(c->ev_write);
        c->ev_write = NULL;
    }
    c->read_added = c->write_added = false;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->carry_len = 0;
    c->state = CONN_CLOSED;
}

void conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    conn_close(c);
    event_free(c->ev_timer);
    http_parser_free(&c->parser);
    free(c->carry);
    free(c);
}

void conn_reset(struct conn *c)
{
    evtimer_del(c->ev_timer);
    conn_close(c);
    c->req = NULL;
}

enum conn_state conn_get_state(const struct conn *c)
{
    return c->state;
}

bool conn_busy(const struct conn *c)
{
    return c->state != CONN_CLOSED && c->state != CONN_IDLE;
}

/* Adds (on) or deletes ev unless it already is so; *added says which it is. */
static void want_event(struct event *ev, bool *added, bool on)
{
    if (on == *added)
        return;
    if (on)
        event_add(ev, NULL);
    else
        event_del(ev);
    *added = on;
}

static void want_read(struct conn *c, bool on)
{
    want_event(c->ev_read, &c->read_added, on);
}

static void want_write(struct conn *c, bool on)
{
    want_event(c->ev_write, &c->write_added, on);
}

/* Ends the request in flight and reports it. Must be the last thing a handler
 * does: the callback may send again or free c. */
static void conn_finish(struct conn *c, enum conn_error err)
{
    if (err != CONN_OK) {
        conn_close(c);
        if (err == CONN_ERR_CONNECT)
            c->retry_at_ns = clock_mono_ns() + (uint64_t)CONN_RECONNECT_DELAY_MS * 1000000u;
    } else if (!c->parser.keep_alive) {
        conn_close(c);
    } else {
        c->state = CONN_IDLE;
    }
    c->req = NULL;
    c->done(c, err, &c->parser, c->arg);
}

/* Reports err from the loop instead of from inside conn_send, so callbacks
 * never nest (a refused port would otherwise recurse request after request). */
static void conn_fail_later(struct conn *c, enum conn_error err)
{
    conn_close(c);
    c->state = CONN_FAILING;
    c->failing = err;
    struct timeval zero = {0, 0};
    evtimer_add(c->ev_timer, &zero);
}

/* Writes what is left of the request. Returns 0 when done (state READING)
 * or waiting for room (state WRITING), -1 on a broken connection. */
static int conn_write_some(struct conn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->req_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != CONN_WRITING) {
                c->state = CONN_WRITING;
                want_read(c, false);
                want_write(c, true);
            }
            return 0;
        } else {
            return -1;
        }
    }
    want_write(c, false);
    c->state = CONN_READING;
    want_read(c, true);
    return 0;
}

/* Opens the socket and starts connecting. Returns 0 (state CONNECTING; the
 * write event says when the socket is ready, even if connect finished at
 * once), or -1. */
static int conn_connect(struct conn *c)
{
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ev_read = event_new(c->base, c->fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->ev_write = event_new(c->base, c->fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
    if (c->ev_read == NULL || c->ev_write == NULL)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&c->addr, c->addrlen) != 0 && errno != EINPROGRESS)
        return -1;
    c->state = CONN_CONNECTING;
    want_write(c, true);
    return 0;
}

int conn_send(struct conn *c, const char *req, size_t len, bool head, bool capture)
{
    if (conn_busy(c))
        return -1;
    c->req = req;
    c->req_len = len;
    c->req_off = 0;
    http_parser_reset(&c->parser, head, capture);
    c->carry_len = 0;

    if (c->state == CONN_IDLE) {
        if (conn_write_some(c) != 0)
            conn_fail_later(c, CONN_ERR_WRITE);
        return 0;
    }
    uint64_t now = clock_mono_ns();
    if (now < c->retry_at_ns) {
        c->state = CONN_BACKOFF;
        uint64_t wait_us = (c->retry_at_ns - now) / 1000;
        struct timeval tv = clock_us_timeval(wait_us);
        evtimer_add(c->ev_timer, &tv);
        return 0;
    }
    if (conn_connect(c) != 0)
        conn_fail_later(c, CONN_ERR_CONNECT);
    return 0;
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->state == CONN_FAILING) {
        conn_finish(c, c->failing);
        return;
    }
    if (c->state != CONN_BACKOFF)
        return;
    c->state = CONN_CLOSED;
    if (conn_connect(c) != 0)
        conn_finish(c, CONN_ERR_CONNECT);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            conn_finish(c, CONN_ERR_CONNECT);
            return;
        }
    }
    if (conn_write_some(c) != 0)
        conn_finish(c, CONN_ERR_WRITE);
}

/* Feeds scratch[0..len) (a kept line first, then new bytes) to the parser
 * and keeps an incomplete last line in carry. Returns 1 when the response is
 * complete, 0 when more is needed, -1 on a malformed response. */
static int conn_parse(struct conn *c, size_t len)
{
    ssize_t used = http_parser_feed(&c->parser, c->scratch, len);
    if (used < 0)
        return -1;
    if (c->parser.state == HP_DONE) {
        if ((size_t)used < len)
            c->parser.keep_alive = false; /* bytes nobody asked for: the stream is out of step */
        return 1;
    }
    size_t left = len - (size_t)used;
    if (left > HTTP_LINE_MAX)
        return -1;
    if (left > 0 && c->carry == NULL) {
        c->carry = malloc(HTTP_LINE_MAX);
        if (c->carry == NULL)
            return -1;
    }
    if (left > 0)
        memcpy(c->carry, c->scratch + used, left);
    c->carry_len = left;
    return 0;
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (c->state == CONN_IDLE) {
        /* The server closed a kept-alive connection (or spoke out of turn):
         * nothing is in flight, so reconnect quietly on the next request. */
        conn_close(c);
        return;
    }
    for (;;) {
        size_t have = c->carry_len;
        if (have > 0)
            memcpy(c->scratch, c->carry, have);
        ssize_t n = read(fd, c->scratch + have, CONN_READ_BUF - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the kept line is still in carry */
        if (n <= 0) {
            /* The end of a read-until-close body completes it; anything
             * else cut the response short. */
            conn_finish(c, n == 0 && http_parser_eof(&c->parser) == 0 ? CONN_OK : CONN_ERR_READ);
            return;
        }
        int r = conn_parse(c, have + (size_t)n);
        if (r != 0) {
            conn_finish(c, r == 1 ? CONN_OK : CONN_ERR_READ);
            return;
        }
        if ((size_t)n < CONN_READ_BUF - have)
            return; /* drained what the kernel had */
    }
}
