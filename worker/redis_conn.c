#include "worker/redis_conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sentinel.h"
#include "worker/settings.h"

#define BACKOFF_FIRST_MS 100    /* first retry after a failure */
#define BACKOFF_SLICE_MS 50     /* how often a backoff sleep checks its stop condition */

int redis_conn_init(struct redis_conn *rc, const struct redis_url *url, const char *name,
                    const char *role, int connect_timeout_ms, int command_timeout_ms)
{
    memset(rc, 0, sizeof *rc);
    rc->url = url;
    rc->role = role;
    rc->connect_timeout_ms = connect_timeout_ms;
    rc->command_timeout_ms = command_timeout_ms;
    int n = snprintf(rc->name, sizeof rc->name, "%s", name);
    return n < 0 || (size_t)n >= sizeof rc->name ? -1 : 0;
}

void redis_conn_close(struct redis_conn *rc)
{
    if (rc->ctx) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
}

/* Whether ctx's error is an expired socket timeout: hiredis's blocking
 * read or write then fails as an I/O error with EAGAIN's text. */
static bool ctx_timed_out(const redisContext *ctx)
{
    char eagain[64];
    return ctx->err == REDIS_ERR_IO && strcmp(ctx->errstr, strerror_r(EAGAIN, eagain, sizeof eagain)) == 0;
}

/* rc->ctx's error for err strings and logs, a timeout said as one. Returns buf. */
static const char *ctx_error(const struct redis_conn *rc, char *buf, size_t len)
{
    if (ctx_timed_out(rc->ctx))
        snprintf(buf, len, "no answer within %d ms", rc->deadline_ms);
    else
        snprintf(buf, len, "%s", rc->ctx->errstr);
    return buf;
}

/* Runs one setup command on rc->ctx; 0 when the reply is not an error.
 * `what` names the step in err (never the arguments: AUTH carries the password). */
static int setup_step(struct redis_conn *rc, redisReply *reply, const char *what, char *err,
                      size_t errlen)
{
    char e[128];
    if (!reply) {
        snprintf(err, errlen, "%s: %s", what, ctx_error(rc, e, sizeof e));
        return -1;
    }
    int rv = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", what, reply->str);
        rv = -1;
    }
    freeReplyObject(reply);
    return rv;
}

/* SCRIPT LOAD of every script into rc->sha. Returns 0 or -1 (err set). */
static int scripts_load(struct redis_conn *rc, char *err, size_t errlen)
{
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        redisReply *reply = redisCommand(rc->ctx, "SCRIPT LOAD %s", script_source(i));
        if (!reply) {
            char e[128];
            snprintf(err, errlen, "SCRIPT LOAD %s: %s", script_name(i), ctx_error(rc, e, sizeof e));
            return -1;
        }
        if (reply->type != REDIS_REPLY_STRING || reply->len != REDIS_CONN_SHA_LEN) {
            snprintf(err, errlen, "SCRIPT LOAD %s: %s", script_name(i),
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
            freeReplyObject(reply);
            return -1;
        }
        memcpy(rc->sha[i], reply->str, REDIS_CONN_SHA_LEN + 1);
        freeReplyObject(reply);
    }
    return 0;
}

/* A Redis that may evict keys could drop a job's hash or list under memory
 * pressure: refuse it. Returns 0 (noeviction, or CONFIG is not allowed here:
 * then nothing can be checked) or -1 with err saying why. */
static int eviction_check(struct redis_conn *rc, char *err, size_t errlen)
{
    redisReply *r = redisCommand(rc->ctx, "CONFIG GET maxmemory-policy");
    if (!r) {
        char e[128];
        snprintf(err, errlen, "CONFIG GET: %s", ctx_error(rc, e, sizeof e));
        return -1;
    }
    bool refused = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[1]->type == REDIS_REPLY_STRING &&
                   redis_policy_refused(r->element[1]->str, err, errlen);
    freeReplyObject(r);
    return refused ? -1 : 0;
}

/* The id and addr fields of a CLIENT INFO line into rc (id 0 when either
 * is missing: such a connection cannot be fenced later). info is borrowed. */
static void client_info_parse(struct redis_conn *rc, const char *info)
{
    rc->client_id = 0;
    rc->client_addr[0] = '\0';
    const char *addr = strstr(info, " addr=");
    if (strncmp(info, "id=", 3) != 0 || !addr)
        return;
    size_t n = strcspn(addr + 6, " \r\n");
    if (n == 0 || n >= sizeof rc->client_addr)
        return;
    memcpy(rc->client_addr, addr + 6, n);
    rc->client_addr[n] = '\0';
    rc->client_id = strtoll(info + 3, NULL, 10);
}

/* CLIENT INFO of the new connection: its id and address, which name it for
 * the fence. A Redis that refuses to tell leaves it unfenceable (id 0).
 * Returns 0, or -1 (err set). */
static int client_info_fetch(struct redis_conn *rc, char *err, size_t errlen)
{
    rc->client_id = 0;
    redisReply *r = redisCommand(rc->ctx, "CLIENT INFO");
    if (!r) {
        char e[128];
        snprintf(err, errlen, "CLIENT INFO: %s", ctx_error(rc, e, sizeof e));
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING)
        client_info_parse(rc, r->str);
    freeReplyObject(r);
    return 0;
}

/* The fence: CLIENT KILL of the connection that was dropped with a command
 * unanswered, by its id and its address (a restarted Redis counts ids from
 * 1 again: the address keeps another client of the same id safe). Redis
 * frees it with whatever it had not read or run yet, so a late FINISH,
 * START or BLMOVE from it can no longer change our state behind our back;
 * gone already, it counts 0 killed, which is fine. Returns 0 (fenced, or
 * refused: logged), or -1 (err set; tried again on the next attempt). */
static int fence_old(struct redis_conn *rc, char *err, size_t errlen)
{
    redisReply *r = redisCommand(rc->ctx, "CLIENT KILL ID %lld ADDR %s", rc->fence_id, rc->fence_addr);
    if (!r) {
        char e[128];
        snprintf(err, errlen, "CLIENT KILL: %s", ctx_error(rc, e, sizeof e));
        return -1;
    }
    char q[256];
    if (r->type == REDIS_REPLY_INTEGER)
        log_debug("old connection closed on the server", "name=%s conn=%s client_id=%lld killed=%lld",
                  rc->name, rc->role, rc->fence_id, r->integer);
    else
        log_warn("cannot close the old connection on the server; a command sent on it may still run",
                 "name=%s conn=%s client_id=%lld err=%s", rc->name, rc->role, rc->fence_id,
                 log_quote(r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", q, sizeof q));
    freeReplyObject(r);
    rc->fence_id = 0;
    return 0;
}

/* ROLE of the server a sentinel named: refused unless it is the master.
 * Returns 0, or -1 (err set). */
static int role_check(struct redis_conn *rc, char *err, size_t errlen)
{
    char why[160];
    redisReply *r = redisCommand(rc->ctx, "ROLE");
    if (!r) {
        char e[128];
        snprintf(err, errlen, "ROLE: %s", ctx_error(rc, e, sizeof e));
        return -1;
    }
    int rv = sentinel_role_check(r, why, sizeof why);
    if (rv != 0)
        snprintf(err, errlen, "%.64s:%d (named by the sentinels) is %s", rc->master.host, rc->master.port, why);
    freeReplyObject(r);
    return rv;
}

int redis_conn_open(struct redis_conn *rc, char *err, size_t errlen)
{
    redis_conn_close(rc);
    const struct redis_url *u = rc->url;
    struct timeval ctv = clock_ms_timeval(rc->connect_timeout_ms);
    if (u->is_sentinel && sentinel_resolve(u, rc->connect_timeout_ms, &rc->master, err, errlen) != 0)
        return -1;
    if (u->is_sentinel)
        rc->ctx = redisConnectWithTimeout(rc->master.host, rc->master.port, ctv);
    else
        rc->ctx = u->is_unix ? redisConnectUnixWithTimeout(u->path, ctv)
                             : redisConnectWithTimeout(u->host, u->port, ctv);
    if (!rc->ctx) {
        snprintf(err, errlen, "connect: out of memory");
        return -1;
    }
    if (rc->ctx->err) {
        snprintf(err, errlen, "connect: %s", rc->ctx->errstr);
        goto err;
    }
    if (redisSetTimeout(rc->ctx, clock_ms_timeval(rc->command_timeout_ms)) != REDIS_OK) {
        snprintf(err, errlen, "set timeout: %s", rc->ctx->errstr);
        goto err;
    }
    rc->deadline_ms = rc->command_timeout_ms;
    if (u->password[0] &&
        setup_step(rc, redisCommand(rc->ctx, "AUTH %s", u->password), "AUTH", err, errlen) != 0)
        goto err;
    if (u->is_sentinel && role_check(rc, err, errlen) != 0)
        goto err;
    if (u->db != 0 &&
        setup_step(rc, redisCommand(rc->ctx, "SELECT %d", u->db), "SELECT", err, errlen) != 0)
        goto err;
    if (setup_step(rc, redisCommand(rc->ctx, "CLIENT SETNAME %s", rc->name), "CLIENT SETNAME",
                   err, errlen) != 0)
        goto err;
    if (client_info_fetch(rc, err, errlen) != 0)
        goto err;
    if (rc->fence_id != 0 && fence_old(rc, err, errlen) != 0)
        goto err;
    if (scripts_load(rc, err, errlen) != 0)
        goto err;
    if (rc->refuse_eviction && eviction_check(rc, err, errlen) != 0)
        goto err;
    return 0;
err:
    redis_conn_close(rc);
    return -1;
}

int redis_conn_ensure(struct redis_conn *rc, redis_conn_stop_fn stop, void *arg)
{
    if (rc->ctx)
        return 0;
    char url[URL_HOST_MAX + URL_PATH_MAX + 64];
    redis_url_redact(rc->url, url, sizeof url);
    int64_t delay = BACKOFF_FIRST_MS;
    unsigned attempts = 0;
    if (rc->down_since_ms == 0)
        rc->down_since_ms = clock_mono_ms();
    for (;;) {
        if (stop && stop(arg))
            return -1;
        char err[256], qerr[300];
        attempts++;
        if (redis_conn_open(rc, err, sizeof err) == 0)
            break;
        if (attempts == 1)
            log_warn("redis unavailable, retrying", "redis=%s name=%s conn=%s err=%s", url,
                     rc->name, rc->role, log_quote(err, qerr, sizeof qerr));
        else
            log_debug("redis still unavailable", "redis=%s name=%s conn=%s attempt=%u err=%s", url,
                      rc->name, rc->role, attempts, log_quote(err, qerr, sizeof qerr));
        for (int64_t slept = 0; slept < delay; slept += BACKOFF_SLICE_MS) {
            if (stop && stop(arg))
                return -1;
            clock_sleep_ms(BACKOFF_SLICE_MS);
        }
        delay = delay * 2 > REDIS_CONN_BACKOFF_MAX_MS ? REDIS_CONN_BACKOFF_MAX_MS : delay * 2;
    }
    char master[URL_HOST_MAX + 16] = "";
    if (rc->url->is_sentinel)
        snprintf(master, sizeof master, " master=%s:%d", rc->master.host, rc->master.port);
    log_info("redis connected", "redis=%s name=%s conn=%s reconnect=%s attempts=%u down_ms=%lld%s",
             url, rc->name, rc->role, rc->connects > 0 ? "true" : "false", attempts,
             (long long)(clock_mono_ms() - rc->down_since_ms), master);
    rc->connects++;
    rc->down_since_ms = 0;
    rc->up_since_ms = clock_mono_ms();
    return 1;
}

/* Closes a connection that broke with a command in flight: the next
 * connect fences it (see fence_old). */
static void conn_drop(struct redis_conn *rc)
{
    rc->fence_id = rc->client_id;
    memcpy(rc->fence_addr, rc->client_addr, sizeof rc->fence_addr);
    rc->down_since_ms = clock_mono_ms();
    redis_conn_close(rc);
}

/* Turns a NULL reply into a dropped connection, logging why once: a Redis
 * that did not answer in time, or a broken connection. `what` names the
 * command (a script's name, or the command's first word). The reply passes
 * through. */
static redisReply *checked(struct redis_conn *rc, redisReply *reply, const char *what)
{
    if (rc->url->is_sentinel && sentinel_readonly(reply)) {
        /* the master was demoted under us: nothing ran; find the new one */
        log_warn("redis answered READONLY: the master moved; asking the sentinels again",
                 "name=%s conn=%s cmd=%s master=%s:%d", rc->name, rc->role, what, rc->master.host, rc->master.port);
        freeReplyObject(reply);
        conn_drop(rc);
        return NULL;
    }
    if (!reply && rc->ctx) {
        char qerr[160];
        if (ctx_timed_out(rc->ctx))
            log_warn("redis did not answer within --redis-timeout; dropping the connection and reconnecting",
                     "name=%s conn=%s cmd=%s timeout_ms=%d", rc->name, rc->role, what,
                     rc->deadline_ms);
        else
            log_warn("redis connection lost", "name=%s conn=%s cmd=%s err=%s", rc->name, rc->role, what,
                     log_quote(rc->ctx->errstr, qerr, sizeof qerr));
        conn_drop(rc);
    }
    return reply;
}

#define CMD_NAME_MAX 24 /* a command's first word, for logs */

/* redis_conn_command with a va_list; rc->ctx must be open. */
static redisReply *conn_vcommand(struct redis_conn *rc, const char *fmt, va_list ap)
{
    char what[CMD_NAME_MAX];
    size_t n = strcspn(fmt, " ");
    snprintf(what, sizeof what, "%.*s", (int)(n < sizeof what ? n : sizeof what - 1), fmt);
    return checked(rc, redisvCommand(rc->ctx, fmt, ap), what);
}

redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...)
{
    if (!rc->ctx)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = conn_vcommand(rc, fmt, ap);
    va_end(ap);
    return reply;
}

/* Sets rc->ctx's socket timeout to ms. Returns 0, or -1 with rc dropped. */
static int conn_deadline(struct redis_conn *rc, int ms)
{
    if (redisSetTimeout(rc->ctx, clock_ms_timeval(ms)) == REDIS_OK) {
        rc->deadline_ms = ms;
        return 0;
    }
    char qerr[160];
    log_warn("cannot set the socket timeout; reconnecting", "name=%s conn=%s err=%s", rc->name, rc->role,
             log_quote(rc->ctx->errstr, qerr, sizeof qerr));
    conn_drop(rc);
    return -1;
}

redisReply *redis_conn_blocking(struct redis_conn *rc, int block_ms, const char *fmt, ...)
{
    if (!rc->ctx || conn_deadline(rc, rc->command_timeout_ms + block_ms) != 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = conn_vcommand(rc, fmt, ap);
    va_end(ap);
    if (reply && conn_deadline(rc, rc->command_timeout_ms) != 0) {
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* redis_conn_argv, with `what` naming the command in logs. */
static redisReply *conn_argv(struct redis_conn *rc, int argc, const char **argv, const size_t *lens,
                             const char *what)
{
    if (!rc->ctx)
        return NULL;
    return checked(rc, redisCommandArgv(rc->ctx, argc, argv, lens), what);
}

redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *lens)
{
    char what[CMD_NAME_MAX];
    size_t n = argc > 0 ? (lens ? lens[0] : strlen(argv[0])) : 0;
    snprintf(what, sizeof what, "%.*s", (int)(n < sizeof what ? n : sizeof what - 1),
             argc > 0 ? argv[0] : "");
    return conn_argv(rc, argc, argv, lens, what);
}

/* The longest script calls: FINISH_TAKE (FINISH's, n, the queues) and
 * UNTAKE (prefix, worker, an id and a run per job held). */
#define EVAL_ARGS_MAX (SCRIPT_FINISH_ARGC + 1 + WORKER_QUEUES_MAX > 2 + 2 * WORKER_PREFETCH_MAX \
                           ? SCRIPT_FINISH_ARGC + 1 + WORKER_QUEUES_MAX : 2 + 2 * WORKER_PREFETCH_MAX)

/* An EVALSHA command line for script id: args/arglens have room for
 * EVAL_ARGS_MAX + 3. Returns its length, or -1 when argc is out of range. */
static int eval_line(const struct redis_conn *rc, enum script_id id, int argc, const char **argv,
                     const size_t *lens, const char **args, size_t *arglens)
{
    if (argc < 0 || argc > EVAL_ARGS_MAX || (unsigned)id >= SCRIPT_COUNT)
        return -1;
    args[0] = "EVALSHA";
    arglens[0] = 7;
    args[1] = rc->sha[id];
    arglens[1] = strlen(rc->sha[id]);
    args[2] = "0";
    arglens[2] = 1;
    for (int i = 0; i < argc; i++) {
        args[3 + i] = argv[i];
        arglens[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    return argc + 3;
}

redisReply *redis_conn_eval(struct redis_conn *rc, enum script_id id, int argc,
                            const char **argv, const size_t *lens)
{
    const char *args[EVAL_ARGS_MAX + 3];
    size_t arglens[EVAL_ARGS_MAX + 3];
    for (int attempt = 0; attempt < 2; attempt++) {
        int n = eval_line(rc, id, argc, argv, lens, args, arglens);
        if (n < 0)
            return NULL;
        redisReply *reply = conn_argv(rc, n, args, arglens, script_name(id));
        if (!reply || reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "NOSCRIPT", 8) != 0 ||
            attempt == 1)
            return reply;
        freeReplyObject(reply);
        char err[256], qerr[300];
        log_warn("scripts missing on the server, reloading", "conn=%s script=%s", rc->role,
                 script_name(id));
        if (scripts_load(rc, err, sizeof err) != 0) {
            /* Reconnecting reloads them: treat it as a broken connection. */
            log_warn("script reload failed", "conn=%s err=%s", rc->role,
                     log_quote(err, qerr, sizeof qerr));
            conn_drop(rc);
            return NULL;
        }
    }
    return NULL;
}

int redis_conn_send_eval(struct redis_conn *rc, enum script_id id, int argc, const char **argv,
                         const size_t *lens)
{
    const char *args[EVAL_ARGS_MAX + 3];
    size_t arglens[EVAL_ARGS_MAX + 3];
    int n = eval_line(rc, id, argc, argv, lens, args, arglens);
    if (!rc->ctx || n < 0)
        return -1;
    if (redisAppendCommandArgv(rc->ctx, n, args, arglens) != REDIS_OK) {
        checked(rc, NULL, script_name(id));
        return -1;
    }
    int done = 0;
    while (!done)
        if (redisBufferWrite(rc->ctx, &done) != REDIS_OK) {
            checked(rc, NULL, script_name(id));
            return -1;
        }
    return 0;
}

redisReply *redis_conn_reply(struct redis_conn *rc, const char *what)
{
    void *reply = NULL;
    if (!rc->ctx)
        return NULL;
    if (redisGetReply(rc->ctx, &reply) != REDIS_OK)
        reply = NULL;
    return checked(rc, reply, what);
}

const char *redis_conn_reply_err(const redisReply *reply, char *buf, size_t len)
{
    return log_quote(reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply",
                     buf, len);
}
