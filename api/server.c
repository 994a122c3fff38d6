#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/conn.h"
#include "api/cpu.h"
#include "api/dead.h"
#include "api/jobs.h"
#include "api/metrics.h"
#include "api/pool.h"
#include "api/proxy.h"
#include "api/qstats.h"
#include "api/replwait.h"
#include "common/rconn.h"
#include "api/req.h"
#include "api/route.h"
#include "api/schedules.h"
#include "api/serial.h"
#include "api/ui.h"
#include "api/waiters.h"
#include "api/workers.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"
#include "common/mover.h"
#include "common/sys.h"

#define LAG_TICK_MS 100        /* event-loop lag probe period */
#define MAX_HEADERS_SIZE 16384 /* larger request heads are abuse, not traffic */
#define LISTEN_BACKLOG 4096

int server_socket(const char *host, int port, int listen_now, char *err, size_t errlen)
{
    /* TCP_NODELAY: an answer libevent writes in 16 KB pieces must not leave
     * its tail waiting ~40 ms for the client's delayed ACK (Nagle), which
     * every batch answer over 16 KB did. */
    int flags = SYS_LISTEN_REUSEPORT | SYS_LISTEN_NODELAY | (listen_now ? 0 : SYS_LISTEN_BIND_ONLY);
    return sys_listen(host[0] ? host : NULL, port, flags, LISTEN_BACKLOG, NULL, err, errlen);
}

static int request_method_bit(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return RM_GET;
    case EVHTTP_REQ_POST:
        return RM_POST;
    case EVHTTP_REQ_DELETE:
        return RM_DELETE;
    case EVHTTP_REQ_HEAD:
        return RM_HEAD;
    default:
        return RM_OTHER;
    }
}

/* Compares in time that depends only on the lengths, not on where they differ. */
static bool token_equal(const char *given, const char *want)
{
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static bool request_authorized(struct app *app, struct evhttp_request *req)
{
    const char *h;
    if (app->cfg.auth_token == NULL || app->cfg.auth_token[0] == '\0')
        return true;
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    return token_equal(h + 7, app->cfg.auth_token);
}

static void handle_readyz(struct api_req *r)
{
    if (rconn_ready(r->app->redis) && rconn_ready(r->app->sub)) {
        req_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    req_reply_unavailable(r); /* says why when Redis is refused */
}

/* Renders /metrics: the process's own figures now, the queues' from the
 * last fetch (at most a second old; none while Redis is unavailable). */
static void metrics_reply_fn(void *arg, const struct qstats_view *v)
{
    struct api_req *r = arg;
    struct app *app = r->app;
    struct evbuffer *out = evbuffer_new();
    struct conn_bytes cb;
    conn_bytes(app->conns, &cb);
    struct metrics_gauges g = {
        .inflight = app->inflight,
        .redis_reconnects = rconn_reconnects(app->redis) + rconn_reconnects(app->sub),
        .redis_deadlines = rconn_deadlines(app->redis) + rconn_deadlines(app->sub),
        .redis_up = rconn_ready(app->redis),
        .waiters = waiters_count(app->waiters),
        .pool_queued = pool_pending(app->pool),
        .proxy_active = proxy_active(app->proxy),
        .connections = conn_count(app->conns),
        .body_bytes = cb.bodies,
        .output_bytes = cb.output,
        .body_refused = cb.refused,
    };
    struct mover_stats ms;
    mover_stats(app->mover, &ms);
    g.mover_moved = ms.moved;
    g.mover_ticks = ms.ticks;
    if (out == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return;
    }
    metrics_render(app->metrics, &g, v ? v->prom : NULL, out);
    req_reply_buffer(r, 200, "text/plain; version=0.0.4", out);
    evbuffer_free(out);
}

static void handle_metrics(struct api_req *r)
{
    qstats_get(r->app->qstats, metrics_reply_fn, r);
}

static void handle_info(struct api_req *r)
{
    struct app *app = r->app;
    req_reply_json(r, 200,
                   json_pack("{s:s,s:s,s:i,s:i,s:s,s:i,s:s,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:b}", "version",
                             offload_version, "id", app->id, "cores", app->cores, "threads", pool_threads(app->pool),
                             "task_clock", task_clock_name(app->clock), "task_ms", JOB_MS_DEFAULT, "upstream",
                             app->cfg.upstream, "upstream_timeout_ms", (json_int_t)app->cfg.upstream_timeout_ms,
                             "max_queue", (json_int_t)app->cfg.max_queue, "max_inflight",
                             (json_int_t)app->cfg.max_inflight, "redis_up", rconn_ready(app->redis), "max_conns",
                             (json_int_t)app->cfg.max_conns, "max_queues", (json_int_t)app->cfg.max_queues,
                             "redis_timeout_ms", (json_int_t)app->cfg.redis_timeout_ms, "experiments",
                             app->cfg.experiments));
}

/* True when the request names two different Content-Length values: which
 * one frames the body is how requests are smuggled past a proxy that chose
 * the other (RFC 9112, 6.3: an unrecoverable error). */
static bool request_lengths_conflict(struct evhttp_request *req)
{
    const char *first = NULL;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        if (strcasecmp(h->key, "Content-Length") != 0)
            continue;
        if (first && strcmp(first, h->value) != 0)
            return true;
        first = h->value;
    }
    return false;
}

static void server_request_cb(struct evhttp_request *req, void *arg)
{
    struct app *app = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct route_match m;
    struct api_req *r;
    int method = request_method_bit(req);
    bool found = route_match(path && path[0] ? path : "/", &m) == 0;
    r = req_new(app, req, found ? m.route : ROUTE_NONE);
    if (r == NULL) {
        evhttp_send_reply(req, 503, "Service Unavailable", NULL);
        return;
    }
    if (request_lengths_conflict(req)) {
        req_add_header(r, "Connection", "close"); /* what follows the body cannot be trusted */
        req_reply_error(r, 400, "Content-Length: given twice with different values");
        return;
    }
    if (found && (m.route == ROUTE_CPU || m.route == ROUTE_IO) && !app->cfg.experiments) {
        req_reply_error(r, 404, "no route %s: the experiment routes need --experiments", path);
        return;
    }
    if (!found) {
        req_reply_error(r, 404, "no route %s", path ? path : "");
        return;
    }
    snprintf(r->id, sizeof r->id, "%s", m.id);
    if (!(m.allowed & method)) {
        req_add_header(r, "Allow", route_allow_header(m.allowed));
        req_reply_error(r, 405, "method not allowed on %s; allowed: %s", route_label(m.route),
                        route_allow_header(m.allowed));
        return;
    }
    if (m.route == ROUTE_HEALTHZ) {
        req_reply_raw(r, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (m.route == ROUTE_READYZ) {
        handle_readyz(r);
        return;
    }
    /* The dashboard's files hold no data: no token, so the page can load
     * and then ask for the token the data routes need. */
    if (m.route == ROUTE_UI || m.route == ROUTE_UI_FILE) {
        ui_handle(r, m.route == ROUTE_UI ? NULL : m.id);
        return;
    }
    if (m.route == ROUTE_METRICS && app->cfg.metrics_public) {
        handle_metrics(r);
        return;
    }
    if (m.route != ROUTE_METRICS && app->inflight > app->cfg.max_inflight) {
        req_add_header(r, "Retry-After", DEFAULTS_RETRY_AFTER_S);
        req_reply_error(r, 503, "over --max-inflight (%ld requests in flight)", app->cfg.max_inflight);
        return;
    }
    if (!request_authorized(app, req)) {
        req_add_header(r, "WWW-Authenticate", "Bearer");
        req_reply_error(r, 401, "missing or wrong bearer token");
        return;
    }
    if (m.route == ROUTE_METRICS) {
        handle_metrics(r);
        return;
    }
    switch (m.route) {
    case ROUTE_JOBS:
        jobs_handle_post(r);
        break;
    case ROUTE_JOB:
        if (method == RM_DELETE)
            jobs_handle_delete(r);
        else
            jobs_handle_get(r);
        break;
    case ROUTE_QUEUES:
        jobs_handle_queues(r);
        break;
    case ROUTE_DEAD:
        if (method == RM_DELETE)
            dead_handle_purge(r);
        else
            dead_handle_list(r);
        break;
    case ROUTE_DEAD_RETRY:
        dead_handle_retry(r);
        break;
    case ROUTE_SCHEDULES:
        if (method == RM_POST)
            schedules_handle_post(r);
        else
            schedules_handle_list(r);
        break;
    case ROUTE_SCHEDULE:
        if (method == RM_DELETE)
            schedules_handle_delete(r);
        else
            schedules_handle_get(r);
        break;
    case ROUTE_CPU:
        cpu_handle(r);
        break;
    case ROUTE_IO:
        proxy_handle_io(app->proxy, r);
        break;
    case ROUTE_INFO:
        handle_info(r);
        break;
    case ROUTE_WORKERS:
        workers_handle_get(r);
        break;
    default:
        req_reply_error(r, 404, "no route %s", path ? path : "");
    }
}

static void sub_message_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct app *app = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    if (reply->element[0]->type == REDIS_REPLY_STRING && strcmp(reply->element[0]->str, "message") == 0 &&
        reply->element[2]->type == REDIS_REPLY_STRING)
        waiters_notify(app->waiters, reply->element[2]->str);
    else if (strcmp(reply->element[0]->str, "subscribe") == 0)
        waiters_recheck_all(app->waiters); /* messages sent while we were away are lost: look again */
}

static void sub_state_cb(struct rconn *rc, bool up, void *arg)
{
    struct app *app = arg;
    if (!up)
        return;
    if (rconn_subscribe(rc, sub_message_cb, app, app->channel) != 0)
        log_error("subscribe failed", "channel=%s", app->channel);
}

/* The command connection needs no action on a state change: requests
 * check rconn_ready() and answer 503 while it is down. */
static void redis_state_cb(struct rconn *rc, bool up, void *arg)
{
    (void)rc;
    (void)arg;
    (void)up;
}

struct lag_probe {
    struct app *app;
    struct event *ev;
    int64_t expect_us;
};

static void lag_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lag_probe *lp = arg;
    int64_t now = clock_mono_us();
    (void)fd;
    (void)what;
    if (lp->expect_us)
        metrics_loop_lag(lp->app->metrics, now - lp->expect_us);
    lp->expect_us = now + LAG_TICK_MS * 1000;
}

#define DRAIN_ANSWER_MS 1000 /* after the grace period: time for the long-polls' last answers */

struct drain {
    struct app *app;
    struct event *tick;
    int64_t deadline_us;
    bool waits_ended; /* the long-polls were told to answer (once the grace period is over) */
};

static void drain_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct drain *d = arg;
    (void)fd;
    (void)what;
    if (d->app->inflight > 0 && clock_mono_us() >= d->deadline_us && !d->waits_ended &&
        waiters_count(d->app->waiters) > 0) {
        /* long-polls still open: each answers with its job as it stands rather than being cut */
        log_info("grace period over: answering long-polls", "waiters=%ld", waiters_count(d->app->waiters));
        d->waits_ended = true;
        waiters_expire_all(d->app->waiters);
        d->deadline_us = clock_mono_us() + DRAIN_ANSWER_MS * 1000;
        return;
    }
    if (d->app->inflight <= 0 || clock_mono_us() >= d->deadline_us) {
        if (d->app->inflight > 0)
            log_warn("grace period over", "inflight=%ld", d->app->inflight);
        event_base_loopexit(d->app->base, NULL);
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct drain *d = arg;
    struct app *app = d->app;
    struct timeval tick = {0, 20000};
    (void)what;
    if (app->draining) {
        log_warn("second signal: exiting now", "inflight=%ld", app->inflight);
        event_base_loopexit(app->base, NULL);
        return;
    }
    log_info("draining", "signal=%d inflight=%ld grace_ms=%lld", (int)sig, app->inflight,
             (long long)app->cfg.grace_ms);
    app->draining = true;
    if (app->bound) {
        evhttp_del_accept_socket(app->http, app->bound); /* stop accepting */
        app->bound = NULL;
    }
    d->deadline_us = clock_mono_us() + app->cfg.grace_ms * 1000;
    event_add(d->tick, &tick);
}

static void app_make_id(struct app *app)
{
    char host[64] = "api", rnd[JOBID_LEN + 1] = "00000000";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            *p = '-';
    jobid_new(rnd);
    snprintf(app->id, sizeof app->id, "%.24s-%d-%.8s", host, (int)getpid(), rnd);
}

int server_run(const struct api_config *cfg, int fd)
{
    struct app app = {.cfg = *cfg};
    struct event *sigterm = NULL, *sigint = NULL;
    struct lag_probe lp = {.app = &app};
    struct drain d = {.app = &app};
    char err[256], name[128];
    int ret = -1;
    struct timeval lag_tv = {0, LAG_TICK_MS * 1000};

    if (task_clock_parse(cfg->task_clock, &app.clock) != 0 ||
        redis_url_parse(cfg->redis, &app.redis_url, err, sizeof err) != 0)
        return -1;
    app.cores = sys_cpu_count();
    app_make_id(&app);
    if (key_done_channel(app.channel, sizeof app.channel, cfg->prefix, app.id) < 0)
        return -1;
    app.base = event_base_new();
    if (app.base == NULL)
        goto err;
    app.metrics = metrics_new();
    app.pool = pool_new(app.base, (int)cfg->threads);
    app.proxy = proxy_new(app.base, cfg->upstream, cfg->upstream_timeout_ms, cfg->max_inflight);
    app.http = evhttp_new(app.base);
    app.conns = conn_table_new(&app);
    app.serial = serial_new(app.base);
    app.qstats = qstats_new(&app);
    if (!app.metrics || !app.pool || !app.proxy || !app.http || !app.conns || !app.serial ||
        !app.qstats)
        goto err;
    evhttp_set_bevcb(app.http, conn_bevcb, &app);
    evhttp_set_allowed_methods(app.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                             EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* bodies between --max-body and twice that get our JSON 413; larger ones evhttp's own 413 */
    evhttp_set_max_body_size(app.http, cfg->max_body * 2);
    evhttp_set_max_headers_size(app.http, MAX_HEADERS_SIZE);
    {
        struct timeval idle = clock_ms_timeval(cfg->idle_timeout_ms);
        evhttp_set_timeout_tv(app.http, &idle);
    }
    evhttp_set_gencb(app.http, server_request_cb, &app);
    app.bound = evhttp_accept_socket_with_handle(app.http, fd);
    if (app.bound == NULL || conn_table_listen(app.conns) != 0) /* --max-conns, backoff at EMFILE */
        goto err;
    snprintf(name, sizeof name, "%sapi:%s", cfg->prefix, app.id);
    for (char *p = name; *p; p++)
        if (*p == ' ')
            *p = '_';
    app.redis = rconn_new(app.base, &app.redis_url, name, redis_state_cb, &app);
    app.sub = rconn_new(app.base, &app.redis_url, name, sub_state_cb, &app);
    app.waiters = waiters_new(app.base, app.redis, app.cfg.prefix);
    snprintf(name, sizeof name, "%smover:api:%s", cfg->prefix, app.id);
    app.mover = mover_new(app.base, &app.redis_url, name, cfg->prefix, cfg->redis_timeout_ms);
    if (app.mover)
        mover_allow_eviction(app.mover, cfg->allow_eviction);
    if (app.redis && cfg->redis_wait > 0 &&
        (app.replwait = replwait_new(app.redis, cfg->redis_wait, cfg->redis_timeout_ms / 2)) == NULL)
        goto err;
    if (app.redis && app.sub) {
        rconn_allow_eviction(app.redis, cfg->allow_eviction);
        rconn_allow_eviction(app.sub, cfg->allow_eviction);
        if (rconn_set_timeout(app.redis, cfg->redis_timeout_ms) != 0 ||
            rconn_set_timeout(app.sub, cfg->redis_timeout_ms) != 0)
            goto err;
    }
    lp.ev = event_new(app.base, -1, EV_PERSIST, lag_cb, &lp);
    d.tick = event_new(app.base, -1, EV_PERSIST, drain_tick_cb, &d);
    sigterm = evsignal_new(app.base, SIGTERM, signal_cb, &d);
    sigint = evsignal_new(app.base, SIGINT, signal_cb, &d);
    if (!app.redis || !app.sub || !app.waiters || !app.mover || !lp.ev || !d.tick || !sigterm || !sigint)
        goto err;
    event_add(lp.ev, &lag_tv);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("api started", "id=%s listen=%s threads=%ld task_clock=%s", app.id, cfg->listen, cfg->threads,
             cfg->task_clock);
    event_base_dispatch(app.base);
    log_info("api stopped", "id=%s", app.id);
    ret = 0;
err:
    if (ret != 0)
        log_error("api failed to start", NULL);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (lp.ev)
        event_free(lp.ev);
    if (d.tick)
        event_free(d.tick);
    /* answer what is still in flight before the server goes away; the
     * long-polls first, while Redis is there to give their jobs */
    waiters_free(app.waiters);
    app.waiters = NULL;
    serial_free(app.serial);
    if (app.proxy)
        proxy_free(app.proxy);
    if (app.pool)
        pool_free(app.pool);
    mover_free(app.mover);
    if (app.redis)
        rconn_free(app.redis);
    if (app.sub)
        rconn_free(app.sub);
    if (app.base)
        event_base_loop(app.base, EVLOOP_NONBLOCK); /* runs the deferred Redis frees */
    qstats_free(app.qstats); /* after them: a fetch in flight has had its NULL reply */
    replwait_free(app.replwait); /* likewise a WAIT */
    if (app.http)
        evhttp_free(app.http);
    conn_table_free(app.conns);
    metrics_free(app.metrics);
    if (app.base)
        event_base_free(app.base);
    return ret;
}
