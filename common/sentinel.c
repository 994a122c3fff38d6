/* Asking Sentinel where the master is: see sentinel.h. */
#include "common/sentinel.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errmsg.h"

#define SENTINEL_PORT_MAX 65535

/* Appends "host:port: <what>" to the notes in buf (separated by "; "),
 * truncating; buf stays terminated. */
static void sentinel_note(char *buf, size_t len, const struct redis_addr *a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sentinel_note(char *buf, size_t len, const struct redis_addr *a, const char *fmt, ...)
{
    size_t off = strlen(buf);
    bool v6 = strchr(a->host, ':') != NULL;
    va_list ap;
    if (off + 1 >= len)
        return;
    int n = snprintf(buf + off, len - off, "%s%s%s%s:%d: ", off ? "; " : "", v6 ? "[" : "", a->host,
                     v6 ? "]" : "", a->port);
    if (n < 0 || (size_t)n >= len - off)
        return;
    off += (size_t)n;
    va_start(ap, fmt);
    vsnprintf(buf + off, len - off, fmt, ap);
    va_end(ap);
}

int sentinel_reply_addr(const redisReply *r, const char *master, struct redis_addr *out, char *why,
                        size_t len)
{
    char *end;
    long port;
    if (r == NULL)
        return errmsg_fail(why, len, "no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return errmsg_fail(why, len, "%s", r->str);
    if (r->type == REDIS_REPLY_NIL)
        return errmsg_fail(why, len, "does not know master \"%s\"", master);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return errmsg_fail(why, len, "unexpected reply to SENTINEL get-master-addr-by-name");
    port = strtol(r->element[1]->str, &end, 10);
    if (r->element[0]->len == 0 || r->element[0]->len >= sizeof out->host || *end != '\0' || port < 1 ||
        port > SENTINEL_PORT_MAX)
        return errmsg_fail(why, len, "unusable master address in the reply");
    memcpy(out->host, r->element[0]->str, r->element[0]->len + 1);
    out->port = (int)port;
    return 0;
}

int sentinel_role_check(const redisReply *r, char *why, size_t len)
{
    if (r == NULL)
        return errmsg_fail(why, len, "ROLE: no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return errmsg_fail(why, len, "ROLE: %s", r->str);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return errmsg_fail(why, len, "ROLE: unexpected reply");
    if (strcmp(r->element[0]->str, "master") == 0)
        return 0;
    if (strcmp(r->element[0]->str, "slave") == 0 && r->elements >= 3 &&
        r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_INTEGER)
        return errmsg_fail(why, len, "not a master: a replica of %s:%lld", r->element[1]->str,
                           r->element[2]->integer);
    return errmsg_fail(why, len, "not a master: its role is %s", r->element[0]->str);
}

bool sentinel_readonly(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "READONLY", 8) == 0;
}

/* Asks one sentinel on a blocking connection c. Returns 0 with out, or -1
 * after noting why in errs. */
static int sentinel_ask_blocking(redisContext *c, const struct redis_url *u, const struct redis_addr *a,
                                 struct redis_addr *out, char *errs, size_t errlen)
{
    char why[256];
    redisReply *r;
    if (u->sentinel_password[0]) {
        r = redisCommand(c, "AUTH %s", u->sentinel_password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            sentinel_note(errs, errlen, a, "AUTH: %s", r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", u->master);
    if (r == NULL) {
        sentinel_note(errs, errlen, a, "%s", c->errstr);
        return -1;
    }
    int rv = sentinel_reply_addr(r, u->master, out, why, sizeof why);
    if (rv != 0)
        sentinel_note(errs, errlen, a, "%s", why);
    freeReplyObject(r);
    return rv;
}

int sentinel_resolve(const struct redis_url *u, int timeout_ms, struct redis_addr *out, char *err,
                     size_t errlen)
{
    char errs[SENTINEL_ERR_MAX] = "";
    struct timeval tv = clock_ms_timeval(timeout_ms > 0 ? timeout_ms : SENTINEL_TIMEOUT_DEFAULT_MS);
    for (size_t i = 0; i < u->nsentinels; i++) {
        const struct redis_addr *a = &u->sentinels[i];
        redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);
        int rv = -1;
        if (c == NULL)
            sentinel_note(errs, sizeof errs, a, "out of memory");
        else if (c->err)
            sentinel_note(errs, sizeof errs, a, "%s", c->errstr);
        else if (redisSetTimeout(c, tv) != REDIS_OK)
            sentinel_note(errs, sizeof errs, a, "set timeout: %s", c->errstr);
        else
            rv = sentinel_ask_blocking(c, u, a, out, errs, sizeof errs);
        if (c)
            redisFree(c);
        if (rv == 0)
            return 0;
    }
    return errmsg_fail(err, errlen, "no sentinel named master %s (%s)", u->master, errs);
}

/* ---- on a libevent loop ------------------------------------------------ */

struct sentinel_ask {
    struct event_base *base;
    const struct redis_url *url;
    sentinel_ask_fn *fn;
    void *arg;
    redisAsyncContext *ac;     /* the sentinel asked now; NULL between sentinels */
    size_t next;               /* index of the sentinel asked now */
    bool running;              /* a round is under way: fn is owed */
    bool found;                /* master holds the answer */
    bool answered;             /* the sentinel asked now has replied */
    int64_t timeout_ms;
    struct event *deadline_ev; /* the sentinel asked now gets this long */
    struct event *step_ev;     /* zero timer: the next sentinel, or the answer, off hiredis's stack */
    struct redis_addr master;
    char errs[SENTINEL_ERR_MAX];
};

/* The sentinel asked now is over (answered, refused, closed or late):
 * what comes next runs from step_ev. hiredis frees the context itself. */
static void ask_end_one(struct sentinel_ask *sa)
{
    struct timeval zero = {0, 0};
    sa->ac = NULL;
    evtimer_del(sa->deadline_ev);
    evtimer_add(sa->step_ev, &zero);
}

static void ask_addr_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct sentinel_ask *sa = ac->data;
    char why[256];
    (void)priv;
    if (sa == NULL || sa->ac != ac || r == NULL)
        return; /* a stale context, or a disconnect: ask_disconnect_cb notes it */
    sa->answered = true;
    if (sentinel_reply_addr(r, sa->url->master, &sa->master, why, sizeof why) == 0)
        sa->found = true;
    else
        sentinel_note(sa->errs, sizeof sa->errs, &sa->url->sentinels[sa->next], "%s", why);
    redisAsyncDisconnect(ac); /* inside a callback: hiredis closes once it returns */
}

static void ask_auth_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct sentinel_ask *sa = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (sa == NULL || sa->ac != ac || reply == NULL || reply->type != REDIS_REPLY_ERROR)
        return;
    /* the question that follows fails too (NOAUTH); say why */
    sentinel_note(sa->errs, sizeof sa->errs, &sa->url->sentinels[sa->next], "AUTH: %s", reply->str);
}

static void ask_connect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_ask *sa = ac->data;
    if (sa == NULL || sa->ac != ac || status == REDIS_OK)
        return;
    sentinel_note(sa->errs, sizeof sa->errs, &sa->url->sentinels[sa->next], "%s", ac->errstr);
    ask_end_one(sa); /* hiredis frees the context after this callback */
}

static void ask_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_ask *sa = ac->data;
    (void)status;
    if (sa == NULL || sa->ac != ac)
        return;
    if (!sa->answered)
        sentinel_note(sa->errs, sizeof sa->errs, &sa->url->sentinels[sa->next], "%s",
                      ac->errstr[0] ? ac->errstr : "closed without an answer");
    ask_end_one(sa);
}

/* Starts asking sentinel sa->next; on a failure that needs no loop turn
 * the step timer moves on. */
static void ask_one(struct sentinel_ask *sa)
{
    const struct redis_addr *a = &sa->url->sentinels[sa->next];
    struct timeval tv = clock_ms_timeval(sa->timeout_ms);
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
    sa->answered = false;
    if (ac == NULL || ac->err) {
        sentinel_note(sa->errs, sizeof sa->errs, a, "%s", ac ? ac->errstr : "out of memory");
        goto err;
    }
    ac->data = sa;
    if (redisLibeventAttach(ac, sa->base) != REDIS_OK) {
        sentinel_note(sa->errs, sizeof sa->errs, a, "cannot watch the socket");
        goto err;
    }
    redisAsyncSetConnectCallback(ac, ask_connect_cb);
    redisAsyncSetDisconnectCallback(ac, ask_disconnect_cb);
    if ((sa->url->sentinel_password[0] &&
         redisAsyncCommand(ac, ask_auth_cb, NULL, "AUTH %s", sa->url->sentinel_password) != REDIS_OK) ||
        redisAsyncCommand(ac, ask_addr_cb, NULL, "SENTINEL get-master-addr-by-name %s", sa->url->master) !=
            REDIS_OK) {
        sentinel_note(sa->errs, sizeof sa->errs, a, "out of memory");
        goto err;
    }
    sa->ac = ac;
    evtimer_add(sa->deadline_ev, &tv);
    return;
err:
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac); /* ours alone, outside any hiredis callback */
    }
    ask_end_one(sa);
}

/* The sentinel asked now had its time: drop it (its callbacks, run by
 * redisAsyncFree, see no data and do nothing) and ask the next. */
static void ask_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_ask *sa = arg;
    redisAsyncContext *ac = sa->ac;
    (void)fd;
    (void)what;
    if (ac == NULL)
        return;
    sentinel_note(sa->errs, sizeof sa->errs, &sa->url->sentinels[sa->next], "no answer within %lld ms",
                  (long long)sa->timeout_ms);
    ac->data = NULL;
    redisAsyncFree(ac); /* a timer, not a hiredis callback: safe */
    ask_end_one(sa);
}

/* After each sentinel: answer, or ask the next one. */
static void ask_step_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_ask *sa = arg;
    (void)fd;
    (void)what;
    if (!sa->running || sa->ac != NULL)
        return;
    if (!sa->found && ++sa->next < sa->url->nsentinels) {
        ask_one(sa);
        return;
    }
    sa->running = false;
    sa->fn(sa->arg, sa->found ? &sa->master : NULL, sa->errs);
}

struct sentinel_ask *sentinel_ask_new(struct event_base *base, const struct redis_url *u,
                                      sentinel_ask_fn *fn, void *arg)
{
    struct sentinel_ask *sa = calloc(1, sizeof *sa);
    if (sa == NULL)
        return NULL;
    *sa = (struct sentinel_ask){.base = base, .url = u, .fn = fn, .arg = arg};
    sa->deadline_ev = evtimer_new(base, ask_deadline_cb, sa);
    sa->step_ev = evtimer_new(base, ask_step_cb, sa);
    if (sa->deadline_ev == NULL || sa->step_ev == NULL)
        goto err;
    return sa;
err:
    sentinel_ask_free(sa);
    return NULL;
}

void sentinel_ask_start(struct sentinel_ask *sa, int64_t timeout_ms)
{
    if (sa->running)
        return;
    sa->running = true;
    sa->found = false;
    sa->next = 0;
    sa->errs[0] = '\0';
    sa->timeout_ms = timeout_ms > 0 ? timeout_ms : SENTINEL_TIMEOUT_DEFAULT_MS;
    if (sa->url->nsentinels == 0) { /* cannot come from the parser; answer anyway */
        struct timeval zero = {0, 0};
        snprintf(sa->errs, sizeof sa->errs, "no sentinel addresses");
        evtimer_add(sa->step_ev, &zero);
        return;
    }
    ask_one(sa);
}

void sentinel_ask_free(struct sentinel_ask *sa)
{
    if (sa == NULL)
        return;
    if (sa->ac) {
        redisAsyncContext *ac = sa->ac;
        sa->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (sa->deadline_ev)
        event_free(sa->deadline_ev);
    if (sa->step_ev)
        event_free(sa->step_ev);
    free(sa);
}
