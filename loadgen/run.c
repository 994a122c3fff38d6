/* The run engine; see run.h. */
#include "loadgen/run.h"

#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/defaults.h"
#include "common/errmsg.h"
#include "common/hist.h"
#include "loadgen/http_client.h"
#include "loadgen/pace.h"

/* How often the main thread looks at the loops and the interrupt flag. */
#define RUN_MONITOR_MS 50
/* Timeouts are swept on a tick of timeout/10 within these bounds: precise
 * enough for a timeout, cheap for 10,000 connections. */
#define RUN_TICK_MIN_MS 5
#define RUN_TICK_MAX_MS 100

struct loop;

/* One connection and the request it carries. */
struct slot {
    struct conn *conn;
    struct loop *loop;
    uint64_t intended_ns; /* latency counts from here: the scheduled time (open) or the send (closed) */
    uint64_t sent_ns;     /* the timeout counts from here */
    bool busy;
    struct slot *next_idle;
};

/* One event loop on its own thread with its share of the connections. */
struct loop {
    struct run *run;
    struct event_base *base;
    char *scratch; /* read buffer shared by this loop's connections */
    struct slot *slots;
    int nslots;
    struct slot *idle_head, *idle_tail; /* open loop: free connections, FIFO so load spreads */
    struct pace pace; /* open loop: this loop's share of the run's schedule */
    struct event *ev_tick, *ev_sched, *ev_end, *ev_drain;
    struct run_stats stats;
    uint64_t quota;   /* requests this loop may start */
    uint64_t started; /* open loop: also the index of the next scheduled request */
    uint64_t inflight;
    uint64_t end_ns;  /* counted only what ends by then; UINT64_MAX in a count-bounded run */
    uint64_t last_end_ns;
    bool stopping;    /* past the end: start nothing more */
    _Atomic uint64_t pub_ended, pub_inflight; /* for the progress line */
    pthread_t thread;
    bool thread_started;
};

struct run {
    const struct run_opts *o;
    uint64_t t0_ns;
    uint64_t timeout_ns;
    struct loop *loops;
    int nloops;
    atomic_bool stop;    /* interrupted: every loop ends now */
    atomic_int running;  /* loops not yet finished */
};

static void loop_next(struct loop *l, struct slot *s, uint64_t now);

/* Whether a request ending at `now` belongs to the measured window. */
static bool loop_counts(const struct loop *l, uint64_t now)
{
    return now <= l->end_ns;
}

static void loop_record_error(struct loop *l, enum conn_error err, uint64_t now)
{
    if (!loop_counts(l, now)) {
        if (l->run->o->drain_ms > 0)
            l->stats.drained++;
        return; /* else abandoned, like the requests still in flight */
    }
    l->stats.requests++;
    switch (err) {
    case CONN_ERR_CONNECT: l->stats.err_connect++; break;
    case CONN_ERR_WRITE: l->stats.err_write++; break;
    case CONN_ERR_TIMEOUT: l->stats.err_timeout++; break;
    default: l->stats.err_read++; break;
    }
}

/* Whether a response is a success: 2xx, and taken by accept() when set. */
static bool loop_response_ok(const struct loop *l, const struct http_parser *p)
{
    const struct run_opts *o = l->run->o;
    return p->status >= 200 && p->status < 300 && (o->accept == NULL || o->accept(p, o->accept_arg));
}

static void loop_record_response(struct loop *l, const struct slot *s, const struct http_parser *p, uint64_t now)
{
    int status = p->status;
    if (!loop_counts(l, now)) {
        if (l->run->o->drain_ms > 0) {
            l->stats.drained++;
            l->stats.drained_ok += loop_response_ok(l, p);
            hist_record(l->stats.latency, (now - s->intended_ns) / 1000);
        }
        return; /* else abandoned, like the requests still in flight */
    }
    hist_record(l->stats.latency, (now - s->intended_ns) / 1000);
    l->stats.requests++;
    l->stats.responses++;
    if (status >= 0 && status < RUN_CODES)
        l->stats.codes[status]++;
    if (loop_response_ok(l, p))
        l->stats.ok++;
}

static void slot_start(struct slot *s, uint64_t intended, uint64_t now)
{
    struct loop *l = s->loop;
    const struct request *req = l->run->o->req;
    s->busy = true;
    s->intended_ns = intended;
    s->sent_ns = now;
    l->started++;
    l->inflight++;
    conn_send(s->conn, req->buf, req->len, req->head, l->run->o->accept != NULL);
}

/* A request on s ended: s is free again. */
static void slot_release(struct slot *s, uint64_t now)
{
    struct loop *l = s->loop;
    s->busy = false;
    l->inflight--;
    l->last_end_ns = now;
}

static void slot_on_done(struct conn *c, enum conn_error err, const struct http_parser *p, void *arg)
{
    (void)c;
    struct slot *s = arg;
    struct loop *l = s->loop;
    uint64_t now = clock_mono_ns();
    slot_release(s, now);
    if (err == CONN_OK)
        loop_record_response(l, s, p, now);
    else
        loop_record_error(l, err, now);
    loop_next(l, s, now);
}

/* Open loop: hands every request whose time has come to a free connection,
 * then sets the timer for the next one. */
static void loop_dispatch(struct loop *l, uint64_t now)
{
    while (l->started < l->quota && l->idle_head != NULL) {
        uint64_t t = pace_intended(&l->pace, l->started);
        if (t > now)
            break;
        struct slot *s = l->idle_head;
        l->idle_head = s->next_idle;
        if (l->idle_head == NULL)
            l->idle_tail = NULL;
        slot_start(s, t, now);
    }
    /* A request already due here found every connection busy: the next one
     * to free up takes it, no timer needed. */
    if (l->started < l->quota && !pace_due(&l->pace, l->started, now))
        pace_arm(&l->pace, l->ev_sched, l->started, now);
}

static void loop_finish(struct loop *l)
{
    event_base_loopbreak(l->base);
}

/* Stops starting requests. With drain_ms > 0 the requests in flight are
 * waited for that long, and in an open loop so are the requests that were
 * due by the end but still waited for a connection: their wait is exactly
 * what the run measures. drain_ms 0: they are abandoned now. */
static void loop_stop(struct loop *l, int64_t drain_ms)
{
    if (l->stopping)
        return;
    l->stopping = true;
    evtimer_del(l->ev_sched);
    bool open = l->run->o->rate > 0;
    if (open && drain_ms > 0) {
        uint64_t due = pace_due_by(&l->pace, l->end_ns);
        if (due < l->quota)
            l->quota = due;
    }
    bool pending = l->inflight > 0 || (open && l->started < l->quota);
    if (!pending || drain_ms <= 0) {
        loop_finish(l);
        return;
    }
    struct timeval tv = clock_ms_timeval(drain_ms);
    evtimer_add(l->ev_drain, &tv);
}

static void loop_next(struct loop *l, struct slot *s, uint64_t now)
{
    bool open = l->run->o->rate > 0;
    if (l->stopping && !open) {
        if (l->inflight == 0)
            loop_finish(l);
        return;
    }
    if (open) {
        s->next_idle = NULL;
        if (l->idle_tail != NULL)
            l->idle_tail->next_idle = s;
        else
            l->idle_head = s;
        l->idle_tail = s;
        loop_dispatch(l, now);
    } else if (l->started < l->quota) {
        slot_start(s, now, now);
        return;
    }
    if (l->started >= l->quota && l->inflight == 0)
        loop_finish(l); /* a count-bounded run, or a drain, is complete */
}

static void loop_on_sched(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    if (!l->stopping)
        loop_dispatch(l, clock_mono_ns());
}

static void loop_on_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    loop_stop(l, l->run->o->drain_ms);
}

static void loop_on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_finish(arg);
}

/* Sweeps timeouts, publishes progress, and obeys an interrupt. */
static void loop_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    uint64_t now = clock_mono_ns();
    if (atomic_load_explicit(&l->run->stop, memory_order_relaxed)) {
        if (l->end_ns > now)
            l->end_ns = now;
        loop_stop(l, 0);
        return;
    }
    for (int i = 0; i < l->nslots; i++) {
        struct slot *s = &l->slots[i];
        if (s->busy && now - s->sent_ns > l->run->timeout_ns) {
            conn_reset(s->conn);
            slot_release(s, now);
            loop_record_error(l, CONN_ERR_TIMEOUT, now);
            loop_next(l, s, now);
        }
    }
    atomic_store_explicit(&l->pub_ended, l->stats.requests + l->stats.drained, memory_order_relaxed);
    atomic_store_explicit(&l->pub_inflight, l->inflight, memory_order_relaxed);
}

static void *loop_thread(void *arg)
{
    struct loop *l = arg;
    uint64_t now = clock_mono_ns();
    if (l->run->o->rate > 0) {
        for (int i = 0; i < l->nslots; i++)
            loop_next(l, &l->slots[i], now);
    } else {
        for (int i = 0; i < l->nslots && l->started < l->quota; i++)
            slot_start(&l->slots[i], now, now);
    }
    if (l->started >= l->quota && l->inflight == 0)
        loop_finish(l);
    event_base_dispatch(l->base);
    atomic_store(&l->pub_ended, l->stats.requests + l->stats.drained);
    atomic_store(&l->pub_inflight, 0);
    atomic_fetch_sub(&l->run->running, 1);
    return NULL;
}

static void loop_free(struct loop *l)
{
    for (int i = 0; i < l->nslots; i++)
        conn_free(l->slots[i].conn);
    free(l->slots);
    if (l->ev_tick != NULL)
        event_free(l->ev_tick);
    if (l->ev_sched != NULL)
        event_free(l->ev_sched);
    if (l->ev_end != NULL)
        event_free(l->ev_end);
    if (l->ev_drain != NULL)
        event_free(l->ev_drain);
    if (l->base != NULL)
        event_base_free(l->base);
    free(l->scratch);
    run_stats_free(&l->stats);
}

/* Sets up loop l with nslots connections; its share of a count-bounded run
 * is `quota`. Returns 0 or -1 (no memory). */
static int loop_init(struct loop *l, struct run *r, int nslots, uint64_t quota)
{
    const struct run_opts *o = r->o;
    l->run = r;
    l->quota = quota;
    l->end_ns = UINT64_MAX;
    l->stats.latency = hist_new();
    l->scratch = malloc(CONN_READ_BUF);
    l->slots = calloc((size_t)nslots, sizeof *l->slots);
    struct event_config *cfg = event_config_new();
    if (l->stats.latency == NULL || l->scratch == NULL || l->slots == NULL || cfg == NULL)
        goto err;
    /* One thread per base: no locks. Open loop: timerfd, so sends keep their schedule. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | (o->rate > 0 ? EVENT_BASE_FLAG_PRECISE_TIMER : 0));
    l->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    cfg = NULL;
    if (l->base == NULL)
        goto err;
    for (int i = 0; i < nslots; i++) {
        struct slot *s = &l->slots[i];
        s->loop = l;
        s->conn = conn_new(l->base, (const struct sockaddr *)&o->addr, o->addrlen, l->scratch, slot_on_done, s);
        if (s->conn == NULL)
            goto err;
        l->nslots++;
    }
    int64_t tick_ms = o->timeout_ms / 10;
    tick_ms = tick_ms < RUN_TICK_MIN_MS ? RUN_TICK_MIN_MS : tick_ms > RUN_TICK_MAX_MS ? RUN_TICK_MAX_MS : tick_ms;
    struct timeval tick = clock_ms_timeval(tick_ms);
    l->ev_tick = event_new(l->base, -1, EV_PERSIST, loop_on_tick, l);
    l->ev_sched = evtimer_new(l->base, loop_on_sched, l);
    l->ev_end = evtimer_new(l->base, loop_on_end, l);
    l->ev_drain = evtimer_new(l->base, loop_on_drain, l);
    if (l->ev_tick == NULL || l->ev_sched == NULL || l->ev_end == NULL || l->ev_drain == NULL ||
        event_add(l->ev_tick, &tick) != 0)
        goto err;
    return 0;
err:
    if (cfg != NULL)
        event_config_free(cfg);
    return -1;
}

static void run_print_progress(const struct run *r, uint64_t now)
{
    uint64_t ended = 0, inflight = 0;
    for (int i = 0; i < r->nloops; i++) {
        ended += atomic_load_explicit(&r->loops[i].pub_ended, memory_order_relaxed);
        inflight += atomic_load_explicit(&r->loops[i].pub_inflight, memory_order_relaxed);
    }
    double el = (double)(now - r->t0_ns) / CLOCK_NS_PER_S;
    char left[48];
    if (r->o->duration_ms > 0) {
        double rem = (double)r->o->duration_ms / 1000 - el;
        snprintf(left, sizeof left, "%.0fs left", rem > 0 ? rem : 0);
    } else {
        snprintf(left, sizeof left, "%llu left", (unsigned long long)(r->o->total > ended ? r->o->total - ended : 0));
    }
    fprintf(stderr, "\r\033[K  %5.1fs  done %llu  in flight %llu  %.1f req/s  %s", el, (unsigned long long)ended,
            (unsigned long long)inflight, el > 0 ? (double)ended / el : 0.0, left);
    fflush(stderr);
}

/* Waits for every loop, watching the interrupt flag and drawing progress. */
static void run_monitor(struct run *r)
{
    uint64_t last_print = r->t0_ns;
    while (atomic_load(&r->running) > 0) {
        clock_sleep_ms(RUN_MONITOR_MS);
        if (r->o->interrupted != NULL && *r->o->interrupted)
            atomic_store(&r->stop, true);
        uint64_t now = clock_mono_ns();
        if (r->o->progress && now - last_print >= CLOCK_NS_PER_S) {
            run_print_progress(r, now);
            last_print = now;
        }
    }
    if (r->o->progress && last_print != r->t0_ns)
        fprintf(stderr, "\r\033[K");
}

static void stats_merge(struct run_stats *dst, const struct run_stats *src)
{
    dst->requests += src->requests;
    dst->responses += src->responses;
    dst->ok += src->ok;
    for (int i = 0; i < RUN_CODES; i++)
        dst->codes[i] += src->codes[i];
    dst->err_connect += src->err_connect;
    dst->err_read += src->err_read;
    dst->err_write += src->err_write;
    dst->err_timeout += src->err_timeout;
    dst->drained += src->drained;
    dst->drained_ok += src->drained_ok;
    hist_merge(dst->latency, src->latency);
}

int run_execute(const struct run_opts *o, struct run_stats *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct run r = {.o = o};
    out->latency = hist_new();
    if (out->latency == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        return -1;
    }
    int conns = o->conns < 1 ? 1 : o->conns;
    int nloops = o->threads < 1 ? 1 : o->threads > conns ? conns : o->threads;
    r.loops = calloc((size_t)nloops, sizeof *r.loops);
    if (r.loops == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        return -1;
    }
    r.nloops = nloops;
    r.timeout_ns = (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : 1) * CLOCK_NS_PER_MS;
    int rc = -1;
    for (int i = 0; i < nloops; i++) {
        int nslots = conns / nloops + (i < conns % nloops);
        uint64_t quota = UINT64_MAX;
        if (o->total > 0)
            quota = o->total > (uint64_t)i ? (o->total - (uint64_t)i + (uint64_t)nloops - 1) / (uint64_t)nloops : 0;
        if (loop_init(&r.loops[i], &r, nslots, quota) != 0) {
            errmsg_fail(err, errlen, "out of memory setting up %d connections", conns);
            goto err;
        }
    }

    r.t0_ns = clock_mono_ns();
    if (o->rate > 0)
        for (int i = 0; i < nloops; i++)
            pace_init(&r.loops[i].pace, r.t0_ns, o->rate, (uint64_t)nloops, (uint64_t)i);
    if (o->total == 0 && o->duration_ms > 0) {
        struct timeval d = clock_ms_timeval(o->duration_ms);
        for (int i = 0; i < nloops; i++) {
            r.loops[i].end_ns = r.t0_ns + (uint64_t)o->duration_ms * CLOCK_NS_PER_MS;
            evtimer_add(r.loops[i].ev_end, &d);
        }
    }
    atomic_store(&r.running, nloops);
    for (int i = 0; i < nloops; i++) {
        if (pthread_create(&r.loops[i].thread, NULL, loop_thread, &r.loops[i]) != 0) {
            errmsg_fail(err, errlen, "cannot start thread %d", i);
            atomic_store(&r.stop, true);
            atomic_fetch_sub(&r.running, nloops - i);
            break;
        }
        r.loops[i].thread_started = true;
    }
    run_monitor(&r);
    bool all_started = true;
    for (int i = 0; i < nloops; i++) {
        if (r.loops[i].thread_started)
            pthread_join(r.loops[i].thread, NULL);
        else
            all_started = false;
    }
    if (!all_started)
        goto err;

    uint64_t end = r.t0_ns, last = r.t0_ns;
    for (int i = 0; i < nloops; i++) {
        struct loop *l = &r.loops[i];
        stats_merge(out, &l->stats);
        uint64_t e = l->end_ns != UINT64_MAX ? l->end_ns : l->last_end_ns;
        if (e > end)
            end = e;
        if (l->last_end_ns > last)
            last = l->last_end_ns;
    }
    out->duration_s = (double)(end - r.t0_ns) / CLOCK_NS_PER_S;
    out->span_s = (double)((last > end ? last : end) - r.t0_ns) / CLOCK_NS_PER_S;
    if (o->rate > 0) {
        double due = floor(out->duration_s * o->rate) + 1;
        out->due = o->total > 0 && due > (double)o->total ? o->total : (uint64_t)due;
    }
    rc = 0;
err:
    for (int i = 0; i < nloops; i++)
        loop_free(&r.loops[i]);
    free(r.loops);
    return rc;
}

void run_stats_free(struct run_stats *s)
{
    hist_free(s->latency);
    s->latency = NULL;
}

uint64_t run_stats_errors(const struct run_stats *s)
{
    return s->err_connect + s->err_read + s->err_write + s->err_timeout;
}

int run_resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        errmsg_fail(err, errlen, "cannot resolve %s: %s", host, rc != 0 ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
