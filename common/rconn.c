#include "common/rconn.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/job.h"
#include "common/log.h"
#include "common/sentinel.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 1000 /* the issue: reconnect backoff capped at 1 s */
#define RCONN_POLICY_CHECK_S 30 /* how often a ready connection looks at maxmemory-policy again */
#define RCONN_PING_IDLE_MS 1000 /* an idle connection PINGs this often, so a hung Redis is seen without traffic */
#define RCONN_WATCH_MIN_MS 10   /* the deadline watchdog ticks every timeout/10 within these bounds */
#define RCONN_WATCH_MAX_MS 250
/* Commands not yet written to Redis (a slow or stopped Redis) are held at
 * most this much; past it new commands are refused and their requests get
 * 503, until the deadline drops the connection. */

/* Lifecycle of the connection. */
enum rconn_state {
    RCONN_IDLE,       /* no context; the retry timer is pending */
    RCONN_RESOLVING,  /* redis+sentinel://: asking the sentinels where the master is */
    RCONN_CONNECTING, /* TCP/unix connect in progress */
    RCONN_SETUP,      /* connected; AUTH/SELECT/SETNAME/SCRIPT LOAD replies pending */
    RCONN_READY,      /* commands accepted */
};

struct rconn {
    struct event_base *base;
    struct redis_url url;
    char *name;
    rconn_state_fn *on_state;
    void *arg;
    redisAsyncContext *ac;
    enum rconn_state state;
    int setup_pending;
    bool setup_failed;
    bool was_ready;
    bool closing;
    int backoff_ms;
    unsigned long reconnects;
    unsigned long generation; /* bumps on each new context, so stale setup replies are ignored */
    char sha[SCRIPT_COUNT][41];
    struct event *retry_ev;
    struct event *free_ev;
    struct event *policy_ev;  /* periodic CONFIG GET maxmemory-policy while ready */
    bool allow_eviction;
    char refused[256];        /* why Redis is refused (it may evict keys), "" when not */
    int64_t timeout_ms;       /* deadline of a command and of connect+setup; 0 = none */
    struct event *watch_ev;   /* the deadline watchdog */
    long pending;             /* commands sent and not yet answered (tracked ones) */
    int64_t progress_ms;      /* last reply, or when pending went 0 → 1, or the connect began */
    unsigned long deadlines;  /* connections dropped for a missed deadline */
    char down_why[160];       /* why the last connection was lost, for 503 answers */
    bool hung;                /* being dropped for a missed deadline (not ready meanwhile) */
    bool demoted;             /* being dropped: a write was answered READONLY (not ready meanwhile) */
    struct sentinel_ask *ask; /* redis+sentinel://: finds the master before each connect */
    struct redis_addr master; /* where the master was found last (sentinel URLs) */
    bool ask_failed;          /* the last round of asking failed (logged once until it works) */
    bool role_refused;        /* a server named master said otherwise (logged once until ready) */
    bool subscribed;          /* in SUBSCRIBE mode: no idle PING, no command deadline */
    char redacted[URL_PATH_MAX + URL_HOST_MAX];
};

static void rconn_connect(struct rconn *rc);

static void rconn_schedule_retry(struct rconn *rc)
{
    struct timeval tv = clock_ms_timeval(rc->backoff_ms);
    rc->state = RCONN_IDLE;
    evtimer_add(rc->retry_ev, &tv);
    rc->backoff_ms *= 2;
    if (rc->backoff_ms > RCONN_BACKOFF_MAX_MS)
        rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
}

static void rconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rconn_connect(arg);
}

static void rconn_lost(struct rconn *rc, const char *why)
{
    bool was_ready = rc->state == RCONN_READY;
    rc->ac = NULL; /* hiredis frees the context after its disconnect callback */
    rc->generation++;
    rc->subscribed = false;
    if (why != rc->down_why && (was_ready || rc->down_why[0] == '\0'))
        snprintf(rc->down_why, sizeof rc->down_why, "%s", why);
    rc->hung = false;
    rc->demoted = false;
    if (rc->closing)
        return;
    if (was_ready) {
        rc->reconnects++;
        log_warn("redis connection lost", "conn=%s redis=%s reason=\"%s\"", rc->name, rc->redacted, why);
        rc->on_state(rc, false, rc->arg);
    }
    rconn_schedule_retry(rc);
}

static void rconn_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    (void)status;
    if (rc == NULL || rc->ac != ac)
        return;
    rconn_lost(rc, rc->hung || rc->demoted ? rc->down_why : ac->errstr[0] ? ac->errstr : "closed");
}

static void rconn_setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = ac->data;
    redisReply *reply = r;
    unsigned long gen = (unsigned long)(uintptr_t)priv;
    if (rc == NULL || gen != rc->generation || rc->state != RCONN_SETUP)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (!rc->setup_failed && !rc->hung) /* a missed deadline was logged already */
            log_error("redis setup failed", "conn=%s error=\"%s\"", rc->name,
                      reply ? reply->str : "disconnected");
        rc->setup_failed = true;
    }
    if (--rc->setup_pending > 0)
        return;
    if (rc->setup_failed) {
        /* e.g. wrong password: drop the connection and retry with backoff */
        redisAsyncDisconnect(ac);
        return;
    }
    rc->state = RCONN_READY;
    rc->role_refused = false;
    rc->down_why[0] = '\0';
    rc->progress_ms = clock_mono_ms();
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    if (rc->url.is_sentinel)
        log_info("redis connected", "conn=%s redis=%s master=%s%s%s:%d", rc->name, rc->redacted,
                 strchr(rc->master.host, ':') ? "[" : "", rc->master.host,
                 strchr(rc->master.host, ':') ? "]" : "", rc->master.port);
    else
        log_info("redis connected", "conn=%s redis=%s", rc->name, rc->redacted);
    rc->was_ready = true;
    rc->on_state(rc, true, rc->arg);
}

/* Reads a CONFIG GET maxmemory-policy reply: sets or clears rc->refused and
 * logs a change. Returns true when Redis is refused. A Redis that does not
 * allow CONFIG cannot be checked and is accepted. */
static bool rconn_policy_refuses(struct rconn *rc, const redisReply *reply)
{
    char why[sizeof rc->refused] = "";
    if (!rc->allow_eviction && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        redis_policy_refused(reply->element[1]->str, why, sizeof why);
    if (strcmp(why, rc->refused) != 0) {
        if (why[0])
            log_error("redis refused: not ready", "conn=%s reason=\"%s\"", rc->name, why);
        else
            log_info("redis accepted again: it no longer evicts keys", "conn=%s", rc->name);
        snprintf(rc->refused, sizeof rc->refused, "%s", why);
    }
    return why[0] != '\0';
}

static void rconn_policy_setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = ac->data;
    unsigned long gen = (unsigned long)(uintptr_t)priv;
    redisReply *reply = r;
    if (rc == NULL || gen != rc->generation || rc->state != RCONN_SETUP)
        return;
    if (reply && reply->type != REDIS_REPLY_ERROR && rconn_policy_refuses(rc, reply))
        rc->setup_failed = true; /* logged once by rconn_policy_refuses */
    /* an error reply (CONFIG renamed away) is no setup failure: nothing to check */
    redisReply ok = {.type = REDIS_REPLY_STATUS};
    rconn_setup_cb(ac, reply ? (void *)&ok : NULL, priv);
}

/* ROLE, for a master found through the sentinels: a server that is no
 * longer the master (a sentinel that has not seen the failover yet, or a
 * demoted master) is refused, and the sentinels are asked again. */
static void rconn_role_setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = ac->data;
    unsigned long gen = (unsigned long)(uintptr_t)priv;
    char why[160];
    if (rc == NULL || gen != rc->generation || rc->state != RCONN_SETUP)
        return;
    if (r && sentinel_role_check(r, why, sizeof why) != 0) {
        if (!rc->role_refused)
            log_warn("redis refused: not the master; asking the sentinels again", "conn=%s master=%s:%d reason=\"%s\"",
                     rc->name, rc->master.host, rc->master.port, why);
        rc->role_refused = true;
        snprintf(rc->down_why, sizeof rc->down_why, "%.64s:%d is %.80s", rc->master.host, rc->master.port, why);
        rc->setup_failed = true;
    }
    redisReply ok = {.type = REDIS_REPLY_STATUS};
    rconn_setup_cb(ac, r ? (void *)&ok : NULL, priv);
}

/* A command counted in rc->pending until its reply (or NULL) arrives. */
struct rconn_call {
    struct rconn *rc;
    redisCallbackFn *cb; /* NULL: the reply is not wanted */
    void *priv;
};

static void rconn_call_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rconn_call *call = priv;
    struct rconn *rc = call->rc;
    rc->pending--;
    rc->progress_ms = clock_mono_ms();
    if (rc->url.is_sentinel && !rc->demoted && rc->ac == ac && sentinel_readonly(reply)) {
        /* the master we know was demoted: drop it (the commands still in
         * flight get their replies first) and find the new one */
        rc->demoted = true;
        snprintf(rc->down_why, sizeof rc->down_why, "%.64s:%d is no longer the master (READONLY)", rc->master.host,
                 rc->master.port);
        log_warn("redis answered READONLY: the master moved; asking the sentinels again", "conn=%s master=%s:%d",
                 rc->name, rc->master.host, rc->master.port);
        redisAsyncDisconnect(ac); /* inside a callback: hiredis closes once it returns */
    }
    if (call->cb)
        call->cb(ac, reply, call->priv);
    free(call);
}

/* Sends a command on the current context and counts it for the deadline.
 * Returns 0 (cb runs exactly once later) or -1 (cb never runs). */
static int rconn_send(struct rconn *rc, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                      const size_t *argvlen)
{
    struct rconn_call *call;
    if (rc->ac->c.obuf && sdslen(rc->ac->c.obuf) > RCONN_OBUF_MAX)
        return -1;
    call = malloc(sizeof *call);
    if (call == NULL)
        return -1;
    *call = (struct rconn_call){.rc = rc, .cb = cb, .priv = priv};
    if (redisAsyncCommandArgv(rc->ac, rconn_call_cb, call, argc, argv, argvlen) != REDIS_OK) {
        free(call);
        return -1;
    }
    if (rc->pending++ == 0)
        rc->progress_ms = clock_mono_ms();
    return 0;
}

/* Redis missed the deadline: every command waiting on it gets its callback
 * with NULL now (their requests answer 503), and the connection is made
 * again with backoff. */
static void rconn_drop_hung(struct rconn *rc, int64_t waited_ms)
{
    static const char *const state_names[] = {"idle", "resolving", "connecting", "setup", "ready"};
    redisAsyncContext *ac = rc->ac;
    rc->deadlines++;
    rc->hung = true;
    snprintf(rc->down_why, sizeof rc->down_why, "redis did not answer within --redis-timeout (%lld ms)",
             (long long)rc->timeout_ms);
    log_warn("redis missed its deadline: dropping the connection", "conn=%s redis=%s state=%s waited_ms=%lld pending=%ld",
             rc->name, rc->redacted, state_names[rc->state], (long long)waited_ms, rc->pending);
    redisAsyncFree(ac); /* not inside a hiredis callback: a timer */
    if (rc->ac == ac)   /* never connected: hiredis called no disconnect callback */
        rconn_lost(rc, rc->down_why);
}

static void rconn_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    static const char *ping[] = {"PING"};
    struct rconn *rc = arg;
    int64_t waited = clock_mono_ms() - rc->progress_ms;
    (void)fd;
    (void)what;
    if (rc->ac == NULL || rc->closing || rc->hung)
        return;
    if (rc->state != RCONN_READY ? waited >= rc->timeout_ms : rc->pending > 0 && waited >= rc->timeout_ms) {
        rconn_drop_hung(rc, waited);
        return;
    }
    if (rc->state == RCONN_READY && !rc->subscribed && rc->pending == 0 && waited >= RCONN_PING_IDLE_MS)
        rconn_send(rc, NULL, NULL, 1, ping, NULL);
}

static void rconn_policy_recheck_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = ac->data;
    unsigned long gen = (unsigned long)(uintptr_t)priv;
    redisReply *reply = r;
    if (rc == NULL || gen != rc->generation || rc->state != RCONN_READY || !reply ||
        reply->type == REDIS_REPLY_ERROR)
        return;
    if (rconn_policy_refuses(rc, reply))
        redisAsyncDisconnect(ac); /* reconnects, and the setup refuses until it changes */
}

static void rconn_policy_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    (void)fd;
    (void)what;
    static const char *get[] = {"CONFIG", "GET", "maxmemory-policy"};
    if (rc->state == RCONN_READY && rc->ac && !rc->subscribed && !rc->hung)
        rconn_send(rc, rconn_policy_recheck_cb, (void *)(uintptr_t)rc->generation, 3, get, NULL);
}

/* Scripts are loaded by name; the reply of each SCRIPT LOAD is its sha. */
static void rconn_script_loaded_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = ac->data;
    redisReply *reply = r;
    uintptr_t packed = (uintptr_t)priv;
    int id = (int)(packed & 0xff);
    unsigned long gen = (unsigned long)(packed >> 8);
    if (rc == NULL || gen != (rc->generation & 0xffffff))
        return;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy(rc->sha[id], reply->str, 41);
    rconn_setup_cb(ac, r, (void *)(uintptr_t)rc->generation);
}

static void rconn_connect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;
    void *gen;
    char db[16];
    if (rc == NULL || rc->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context itself after this callback */
        log_debug("redis connect failed", "conn=%s error=\"%s\"", rc->name, ac->errstr);
        rconn_lost(rc, ac->errstr);
        return;
    }
    rc->state = RCONN_SETUP;
    rc->setup_failed = false;
    rc->setup_pending = 0;
    gen = (void *)(uintptr_t)rc->generation;
    if (rc->url.password[0]) {
        rc->setup_pending++;
        redisAsyncCommand(ac, rconn_setup_cb, gen, "AUTH %s", rc->url.password);
    }
    if (rc->url.is_sentinel) {
        rc->setup_pending++;
        redisAsyncCommand(ac, rconn_role_setup_cb, gen, "ROLE");
    }
    if (rc->url.db) {
        snprintf(db, sizeof db, "%d", rc->url.db);
        rc->setup_pending++;
        redisAsyncCommand(ac, rconn_setup_cb, gen, "SELECT %s", db);
    }
    rc->setup_pending++;
    redisAsyncCommand(ac, rconn_setup_cb, gen, "CLIENT SETNAME %s", rc->name);
    rc->setup_pending++;
    redisAsyncCommand(ac, rconn_policy_setup_cb, gen, "CONFIG GET maxmemory-policy");
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        uintptr_t packed = ((uintptr_t)(rc->generation & 0xffffff) << 8) | (uintptr_t)i;
        rc->setup_pending++;
        redisAsyncCommand(ac, rconn_script_loaded_cb, (void *)packed, "SCRIPT LOAD %s", script_source(i));
    }
}

/* Connects to the URL's server, or to `master` (a sentinel URL's, found
 * just now). */
static void rconn_connect_to(struct rconn *rc, const struct redis_addr *master)
{
    redisAsyncContext *ac;
    if (master)
        ac = redisAsyncConnect(master->host, master->port);
    else if (rc->url.is_unix)
        ac = redisAsyncConnectUnix(rc->url.path);
    else
        ac = redisAsyncConnect(rc->url.host, rc->url.port);
    if (ac == NULL) {
        rconn_schedule_retry(rc);
        return;
    }
    if (ac->err) {
        log_debug("redis connect failed", "conn=%s error=\"%s\"", rc->name, ac->errstr);
        redisAsyncFree(ac); /* not inside a hiredis callback: safe */
        rconn_schedule_retry(rc);
        return;
    }
    ac->data = rc;
    if (redisLibeventAttach(ac, rc->base) != REDIS_OK) {
        redisAsyncFree(ac);
        rconn_schedule_retry(rc);
        return;
    }
    rc->generation++;
    rc->ac = ac;
    rc->state = RCONN_CONNECTING;
    rc->progress_ms = clock_mono_ms(); /* connect and setup share one deadline */
    redisAsyncSetConnectCallback(ac, rconn_connect_cb);
    redisAsyncSetDisconnectCallback(ac, rconn_disconnect_cb);
}

/* The sentinels' answer (from the loop, never inside hiredis): connect to
 * the master, or retry with backoff, saying why once per outage. */
static void rconn_master_cb(void *arg, const struct redis_addr *master, const char *err)
{
    struct rconn *rc = arg;
    if (rc->closing || rc->state != RCONN_RESOLVING)
        return;
    if (master == NULL) {
        if (!rc->ask_failed)
            log_warn("no sentinel named the master; retrying", "conn=%s redis=%s error=\"%s\"", rc->name,
                     rc->redacted, err);
        rc->ask_failed = true;
        rconn_lost(rc, err);
        return;
    }
    if (rc->master.port != 0 && (rc->master.port != master->port || strcmp(rc->master.host, master->host) != 0))
        log_info("the sentinels name a new master", "conn=%s old=%s:%d new=%s:%d", rc->name, rc->master.host,
                 rc->master.port, master->host, master->port);
    rc->ask_failed = false;
    rc->master = *master;
    rconn_connect_to(rc, master);
}

static void rconn_connect(struct rconn *rc)
{
    if (rc->closing)
        return;
    if (rc->ask == NULL) {
        rconn_connect_to(rc, NULL);
        return;
    }
    rc->state = RCONN_RESOLVING;
    rc->progress_ms = clock_mono_ms();
    sentinel_ask_start(rc->ask, rc->timeout_ms);
}

struct rconn *rconn_new(struct event_base *base, const struct redis_url *url, const char *name,
                        rconn_state_fn *on_state, void *arg)
{
    struct rconn *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return NULL;
    rc->base = base;
    rc->url = *url;
    rc->on_state = on_state;
    rc->arg = arg;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->name = strdup(name);
    if (rc->name == NULL)
        goto err;
    rc->retry_ev = evtimer_new(base, rconn_retry_cb, rc);
    if (rc->retry_ev == NULL)
        goto err;
    rc->policy_ev = event_new(base, -1, EV_PERSIST, rconn_policy_timer_cb, rc);
    if (rc->policy_ev == NULL)
        goto err;
    struct timeval every = {RCONN_POLICY_CHECK_S, 0};
    evtimer_add(rc->policy_ev, &every);
    if (url->is_sentinel && (rc->ask = sentinel_ask_new(base, &rc->url, rconn_master_cb, rc)) == NULL)
        goto err;
    redis_url_redact(url, rc->redacted, sizeof rc->redacted);
    if (rc->ask) {
        /* asked from the loop's first turn, with the deadline rconn_set_timeout gives by then */
        struct timeval zero = {0, 0};
        evtimer_add(rc->retry_ev, &zero);
    } else {
        rconn_connect(rc);
    }
    return rc;
err:
    if (rc->policy_ev)
        event_free(rc->policy_ev);
    if (rc->retry_ev)
        event_free(rc->retry_ev);
    free(rc->name);
    free(rc);
    return NULL;
}

int rconn_set_timeout(struct rconn *rc, int64_t timeout_ms)
{
    int64_t tick = timeout_ms / 10;
    struct timeval tv;
    if (tick < RCONN_WATCH_MIN_MS)
        tick = RCONN_WATCH_MIN_MS;
    if (tick > RCONN_WATCH_MAX_MS)
        tick = RCONN_WATCH_MAX_MS;
    tv = clock_ms_timeval(tick);
    rc->timeout_ms = timeout_ms;
    if (rc->watch_ev == NULL)
        rc->watch_ev = event_new(rc->base, -1, EV_PERSIST, rconn_watch_cb, rc);
    if (rc->watch_ev == NULL)
        return -1;
    return evtimer_add(rc->watch_ev, &tv);
}

const char *rconn_down_reason(const struct rconn *rc)
{
    return rc->down_why;
}

unsigned long rconn_deadlines(const struct rconn *rc)
{
    return rc->deadlines;
}

void rconn_allow_eviction(struct rconn *rc, bool allow)
{
    rc->allow_eviction = allow;
}

const char *rconn_refused(const struct rconn *rc)
{
    return rc->refused;
}

static void rconn_free_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    (void)fd;
    (void)what;
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* runs pending callbacks with NULL */
    }
    sentinel_ask_free(rc->ask); /* a round under way ends without its answer */
    event_free(rc->retry_ev);
    event_free(rc->policy_ev);
    if (rc->watch_ev)
        event_free(rc->watch_ev);
    event_free(rc->free_ev);
    free(rc->name);
    free(rc);
}

void rconn_free(struct rconn *rc)
{
    struct timeval zero = {0, 0};
    if (rc == NULL || rc->closing)
        return;
    rc->closing = true;
    evtimer_del(rc->retry_ev);
    evtimer_del(rc->policy_ev);
    if (rc->watch_ev)
        evtimer_del(rc->watch_ev);
    rc->free_ev = evtimer_new(rc->base, rconn_free_cb, rc);
    if (rc->free_ev == NULL) {
        /* cannot defer: free now (callers never do this from a hiredis callback) */
        rconn_free_cb(-1, 0, rc);
        return;
    }
    evtimer_add(rc->free_ev, &zero);
}

bool rconn_ready(const struct rconn *rc)
{
    return rc != NULL && rc->state == RCONN_READY && !rc->closing && !rc->hung && !rc->demoted;
}

unsigned long rconn_reconnects(const struct rconn *rc)
{
    return rc->reconnects;
}

int rconn_command(struct rconn *rc, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                  const size_t *argvlen)
{
    if (!rconn_ready(rc))
        return -1;
    return rconn_send(rc, cb, priv, argc, argv, argvlen);
}

int rconn_subscribe(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *channel)
{
    if (!rconn_ready(rc) || redisAsyncCommand(rc->ac, cb, priv, "SUBSCRIBE %s", channel) != REDIS_OK)
        return -1;
    rc->subscribed = true;
    return 0;
}

/* the largest script call: a whole batch of ENQUEUE */
#define RCONN_SCRIPT_ARGS_MAX (3 + SCRIPT_ENQUEUE_HEAD + SCRIPT_ENQUEUE_STRIDE * JOB_BATCH_MAX)

int rconn_script(struct rconn *rc, enum script_id id, redisCallbackFn *cb, void *priv, int argc,
                 const char **argv, const size_t *argvlen)
{
    const char **av = NULL;
    size_t *al = NULL;
    int ret = -1;
    if (!rconn_ready(rc) || (unsigned)id >= SCRIPT_COUNT || argc < 0 || argc > RCONN_SCRIPT_ARGS_MAX)
        return -1;
    av = malloc(sizeof *av * (size_t)(argc + 3));
    al = malloc(sizeof *al * (size_t)(argc + 3));
    if (av == NULL || al == NULL)
        goto err;
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = rc->sha[id];
    al[1] = 40;
    av[2] = "0";
    al[2] = 1;
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    ret = rconn_command(rc, cb, priv, argc + 3, av, al);
err:
    free(av);
    free(al);
    return ret;
}
