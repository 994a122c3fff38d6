/* netdelay: a TCP proxy that holds every byte for a fixed time in each
 * direction before passing it on, with microsecond resolution: a network of
 * a chosen round trip between a program and its server, on loopback
 * (make bench-net; Toxiproxy's latency toxic counts whole milliseconds).
 *
 * Each read is one chunk, stamped when it was read and written to the other
 * side once its time has come. The delay is fixed, so chunks come due in the
 * order they were read and the stream keeps its order; chunks in flight do
 * not wait for each other (a pipelined burst arrives one delay later, not one
 * delay per chunk), as on a link with latency and no bandwidth limit. One
 * precise timer per direction (timerfd on Linux) waits for the oldest chunk.
 * A direction that holds more than NETDELAY_HELD_MAX bytes (delayed plus
 * unsent) stops reading until its output has drained. When one side ends
 * its stream (or fails reading), what it sent before is still delivered on
 * time, then both sockets close; a failed write closes both at once. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/sys.h"
#include "common/url.h"
#include "loadgen/flags.h"
#include "loadgen/run.h"

#define NETDELAY_BACKLOG 1024
#define NETDELAY_DELAY_MAX_US 10000000L /* 10 s: longer is a mistake, not a network */
#define NETDELAY_HELD_MAX (4u << 20)    /* bytes one direction holds before it stops reading */
#define NETDELAY_MARKS_MIN 16

struct link;

/* When a chunk of `len` bytes, the next of a direction's held bytes, is due. */
struct mark {
    int64_t due_us;
    size_t len;
};

/* One direction of a proxied connection: from one socket to the other. */
struct dir {
    struct link *l;
    struct bufferevent *from, *to;
    struct evbuffer *held; /* read and not yet due, in order */
    struct mark *marks;    /* ring: the chunks in held, oldest at mhead */
    size_t mcap, mhead, mlen;
    struct event *timer;   /* armed while a chunk is held: for the oldest */
    int64_t delay_us;
    bool eof;              /* `from` ended: close the link once held is written */
    bool paused;           /* reading stopped: too much held */
    unsigned long long bytes;
};

struct netdelay;

/* A client's connection and the one to the upstream made for it. */
struct link {
    struct netdelay *nd;
    struct bufferevent *client, *server;
    struct dir up, down; /* up: client → server; down: server → client */
    struct link *prev, *next;
};

struct netdelay {
    struct event_base *base;
    struct sockaddr_storage upstream;
    socklen_t upstream_len;
    int64_t up_us, down_us;
    struct link *links; /* doubly linked, newest first */
    unsigned long long accepted, failed, bytes_up, bytes_down;
};

static void link_free(struct link *l)
{
    struct netdelay *nd = l->nd;
    nd->bytes_up += l->up.bytes;
    nd->bytes_down += l->down.bytes;
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        nd->links = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    struct dir *ds[] = {&l->up, &l->down};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->timer != NULL)
            event_free(ds[i]->timer);
        if (ds[i]->held != NULL)
            evbuffer_free(ds[i]->held);
        free(ds[i]->marks);
    }
    if (l->client != NULL)
        bufferevent_free(l->client);
    if (l->server != NULL)
        bufferevent_free(l->server);
    free(l);
}

static size_t dir_pending(const struct dir *d)
{
    return evbuffer_get_length(d->held) + evbuffer_get_length(bufferevent_get_output(d->to));
}

/* The link is done when a direction whose source ended has nothing left to
 * deliver. Returns true when it freed the link (l must not be touched). */
static bool link_done(struct link *l)
{
    struct dir *ds[] = {&l->up, &l->down};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->eof && ds[i]->mlen == 0 && evbuffer_get_length(bufferevent_get_output(ds[i]->to)) == 0) {
            link_free(l);
            return true;
        }
    }
    return false;
}

static void dir_resume(struct dir *d)
{
    if (d->paused && !d->eof && dir_pending(d) <= NETDELAY_HELD_MAX / 2) {
        d->paused = false;
        bufferevent_enable(d->from, EV_READ);
    }
}

/* Arms the timer for the oldest held chunk. */
static void dir_arm(struct dir *d, int64_t now)
{
    int64_t wait = d->marks[d->mhead].due_us - now;
    struct timeval tv = clock_us_timeval(wait > 0 ? wait : 0);
    evtimer_add(d->timer, &tv);
}

/* Hands every due chunk to the other side's output, oldest first. Returns -1
 * when a chunk could not be moved (out of memory): the caller frees the link. */
static int dir_flush(struct dir *d, int64_t now)
{
    struct evbuffer *out = bufferevent_get_output(d->to);
    while (d->mlen > 0 && d->marks[d->mhead].due_us <= now) {
        size_t len = d->marks[d->mhead].len;
        if (evbuffer_remove_buffer(d->held, out, len) != (int)len) {
            log_error("cannot move a chunk", "len=%zu", len);
            return -1;
        }
        d->bytes += len;
        d->mhead = (d->mhead + 1) % d->mcap;
        d->mlen--;
    }
    if (d->mlen > 0)
        dir_arm(d, now);
    return 0;
}

/* Takes what `from` has read as one chunk, due one delay from now. Returns
 * -1 out of memory: the caller frees the link. */
static int dir_take(struct dir *d)
{
    struct evbuffer *in = bufferevent_get_input(d->from);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return 0;
    int64_t now = clock_mono_us();
    if (d->mlen == d->mcap) {
        size_t ncap = d->mcap ? d->mcap * 2 : NETDELAY_MARKS_MIN;
        struct mark *m = malloc(ncap * sizeof *m);
        if (m == NULL)
            return -1;
        for (size_t i = 0; i < d->mlen; i++)
            m[i] = d->marks[(d->mhead + i) % d->mcap];
        free(d->marks);
        d->marks = m;
        d->mcap = ncap;
        d->mhead = 0;
    }
    if (evbuffer_add_buffer(d->held, in) != 0)
        return -1;
    d->marks[(d->mhead + d->mlen) % d->mcap] = (struct mark){now + d->delay_us, len};
    d->mlen++;
    if (d->delay_us == 0) {
        if (dir_flush(d, now) != 0)
            return -1;
    } else if (d->mlen == 1) {
        dir_arm(d, now);
    }
    if (!d->paused && dir_pending(d) > NETDELAY_HELD_MAX) {
        d->paused = true;
        bufferevent_disable(d->from, EV_READ);
    }
    return 0;
}

static struct dir *dir_from(struct link *l, struct bufferevent *bev)
{
    return bev == l->client ? &l->up : &l->down;
}

static struct dir *dir_to(struct link *l, struct bufferevent *bev)
{
    return bev == l->client ? &l->down : &l->up;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    if (dir_take(dir_from(l, bev)) != 0) {
        log_error("out of memory: connection dropped", NULL);
        link_free(l);
    }
}

/* The output of bev drained: the direction into it may read again, or, when
 * its source has ended, the link may be done. */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    struct dir *d = dir_to(l, bev);
    if (link_done(l))
        return;
    dir_resume(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dir *d = arg;
    struct link *l = d->l;
    if (dir_flush(d, clock_mono_us()) != 0) {
        link_free(l);
        return;
    }
    if (link_done(l))
        return;
    dir_resume(d);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct link *l = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_WRITING) { /* the peer is gone: nothing more can reach it */
        link_free(l);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (bev == l->server && (what & BEV_EVENT_ERROR) && l->up.bytes == 0 && l->down.bytes == 0)
            l->nd->failed++; /* most likely the upstream refused the connection */
        struct dir *d = dir_from(l, bev);
        if (dir_take(d) != 0) {
            link_free(l);
            return;
        }
        d->eof = true;
        bufferevent_disable(bev, EV_READ);
        link_done(l);
    }
}

static int dir_init(struct dir *d, struct link *l, struct bufferevent *from, struct bufferevent *to, int64_t us)
{
    d->l = l;
    d->from = from;
    d->to = to;
    d->delay_us = us;
    d->held = evbuffer_new();
    d->timer = evtimer_new(l->nd->base, on_timer, d);
    return d->held != NULL && d->timer != NULL ? 0 : -1;
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)lev;
    (void)sa;
    (void)salen;
    struct netdelay *nd = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        evutil_closesocket(fd);
        return;
    }
    l->nd = nd;
    l->next = nd->links;
    if (l->next != NULL)
        l->next->prev = l;
    nd->links = l;
    nd->accepted++;
    int sfd = socket(nd->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sfd >= 0)
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    l->client = bufferevent_socket_new(nd->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (l->client == NULL)
        evutil_closesocket(fd);
    l->server = sfd >= 0 ? bufferevent_socket_new(nd->base, sfd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (l->server == NULL && sfd >= 0)
        close(sfd);
    if (l->client == NULL || l->server == NULL || dir_init(&l->up, l, l->client, l->server, nd->up_us) != 0 ||
        dir_init(&l->down, l, l->server, l->client, nd->down_us) != 0) {
        log_error("cannot set a connection up", "errno=%d", errno);
        link_free(l);
        return;
    }
    bufferevent_setcb(l->client, on_read, on_write, on_event, l);
    bufferevent_setcb(l->server, on_read, on_write, on_event, l);
    if (bufferevent_socket_connect(l->server, (struct sockaddr *)&nd->upstream, (int)nd->upstream_len) != 0) {
        nd->failed++;
        link_free(l);
        return;
    }
    bufferevent_enable(l->client, EV_READ | EV_WRITE);
    bufferevent_enable(l->server, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct netdelay *nd = arg;
    log_info("stopping", "signal=%d", (int)sig);
    event_base_loopexit(nd->base, NULL);
}

/* host:port → *out (the first address getaddrinfo gives: run_resolve). */
static int resolve(const char *addr, struct sockaddr_storage *out, socklen_t *len, char *err, size_t errlen)
{
    char host[URL_HOST_MAX];
    int port;
    if (addr_parse(addr, host, sizeof host, &port, err, errlen) != 0)
        return -1;
    if (port == 0) {
        snprintf(err, errlen, "needs a port");
        return -1;
    }
    return run_resolve(host, port, out, len, err, errlen);
}

int main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:0";
    const char *upstream = NULL;
    long delay_us = 0, up_us = -1, down_us = -1;
    const struct opt opts[] = {
        {"listen", 0, "NETDELAY_LISTEN", OPT_STR, &listen_addr, 0, 0,
         "address to listen on (127.0.0.1:0: a free port, logged)"},
        {"upstream", 0, "NETDELAY_UPSTREAM", OPT_STR, &upstream, 0, 0, "host:port to forward to (required)"},
        {"delay-us", 0, "NETDELAY_DELAY_US", OPT_INT, &delay_us, 0, NETDELAY_DELAY_MAX_US,
         "microseconds each byte is held, in each direction (0): the round trip adds twice this"},
        {"up-us", 0, "NETDELAY_UP_US", OPT_INT, &up_us, -1, NETDELAY_DELAY_MAX_US,
         "client→upstream delay instead of --delay-us"},
        {"down-us", 0, "NETDELAY_DOWN_US", OPT_INT, &down_us, -1, NETDELAY_DELAY_MAX_US,
         "upstream→client delay instead of --delay-us"},
    };
    const struct config_spec spec = {
        .prog = "netdelay",
        .usage = "netdelay --upstream HOST:PORT [--listen ADDR] [--delay-us N] [--up-us N] [--down-us N]",
        .about = "TCP proxy that holds every byte a fixed number of microseconds in each direction, "
                 "keeping order: a network's round trip on loopback.",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
        .allow_positional = false,
    };
    char err[512];
    int first;
    int exit_code = flags_parse(&spec, argc, argv, &first);
    if (exit_code >= 0)
        return exit_code;
    struct netdelay nd = {.up_us = up_us >= 0 ? up_us : delay_us, .down_us = down_us >= 0 ? down_us : delay_us};
    if (upstream == NULL) {
        fprintf(stderr, "netdelay: --upstream: required\n");
        return 2;
    }
    if (resolve(upstream, &nd.upstream, &nd.upstream_len, err, sizeof err) != 0) {
        fprintf(stderr, "netdelay: --upstream: %s\n", err);
        return 2;
    }
    char host[URL_HOST_MAX];
    int port;
    if (addr_parse(listen_addr, host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, "netdelay: --listen: %s\n", err);
        return 2;
    }

    log_init("netdelay");
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups 1 ns late at most by choice, not the default 50 µs */
    sys_raise_nofile();

    int rc = 1, fd = -1;
    struct evconnlistener *lev = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    /* The precise timer (timerfd): without it epoll_wait sleeps whole
     * milliseconds, rounded up, and a 100 µs hold would last a millisecond. */
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        goto out;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    nd.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (nd.base == NULL)
        goto out;
    int bound_port = port;
    fd = sys_listen(host, port, SYS_LISTEN_NODELAY, NETDELAY_BACKLOG, &bound_port, err, sizeof err);
    if (fd < 0) {
        log_error("listen failed", "error=\"%s\"", err);
        goto out;
    }
    lev = evconnlistener_new(nd.base, on_accept, &nd, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (lev == NULL)
        goto out;
    fd = -1; /* the listener owns it */
    sigint = evsignal_new(nd.base, SIGINT, on_signal, &nd);
    sigterm = evsignal_new(nd.base, SIGTERM, on_signal, &nd);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 || evsignal_add(sigterm, NULL) != 0)
        goto out;
    log_info("listening", "addr=%s port=%d upstream=%s up_us=%lld down_us=%lld", host, bound_port, upstream,
             (long long)nd.up_us, (long long)nd.down_us);
    if (event_base_dispatch(nd.base) < 0)
        goto out;
    rc = 0;
out:
    while (nd.links != NULL)
        link_free(nd.links);
    if (rc == 0)
        log_info("stopped", "connections=%llu failed=%llu bytes_up=%llu bytes_down=%llu", nd.accepted, nd.failed,
                 nd.bytes_up, nd.bytes_down);
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (lev != NULL)
        evconnlistener_free(lev);
    if (fd >= 0)
        close(fd);
    if (nd.base != NULL)
        event_base_free(nd.base);
    return rc;
}
