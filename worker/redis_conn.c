#include "worker/redis_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "worker/wclock.h"

/* A local Redis answers in microseconds; a dead host must not stall a reconnect loop. */
#define CONNECT_TIMEOUT_MS 1000
#define BACKOFF_FIRST_MS 100    /* first retry after a failure */
#define BACKOFF_SLICE_MS 50     /* how often a backoff sleep checks its stop condition */

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

int redis_conn_init(struct redis_conn *rc, const struct redis_url *url, const char *name,
                    const char *role, int command_timeout_ms)
{
    memset(rc, 0, sizeof *rc);
    rc->url = url;
    rc->role = role;
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

/* Runs one setup command on rc->ctx; 0 when the reply is not an error.
 * `what` names the step in err (never the arguments: AUTH carries the password). */
static int setup_step(struct redis_conn *rc, redisReply *reply, const char *what, char *err,
                      size_t errlen)
{
    if (!reply) {
        snprintf(err, errlen, "%s: %s", what, rc->ctx->errstr);
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
            snprintf(err, errlen, "SCRIPT LOAD %s: %s", script_name(i), rc->ctx->errstr);
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
        snprintf(err, errlen, "CONFIG GET: %s", rc->ctx->errstr);
        return -1;
    }
    bool refused = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[1]->type == REDIS_REPLY_STRING &&
                   redis_policy_refused(r->element[1]->str, err, errlen);
    freeReplyObject(r);
    return refused ? -1 : 0;
}

int redis_conn_open(struct redis_conn *rc, char *err, size_t errlen)
{
    redis_conn_close(rc);
    const struct redis_url *u = rc->url;
    struct timeval ctv = ms_to_tv(CONNECT_TIMEOUT_MS);
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
    if (redisSetTimeout(rc->ctx, ms_to_tv(rc->command_timeout_ms)) != REDIS_OK) {
        snprintf(err, errlen, "set timeout: %s", rc->ctx->errstr);
        goto err;
    }
    if (u->password[0] &&
        setup_step(rc, redisCommand(rc->ctx, "AUTH %s", u->password), "AUTH", err, errlen) != 0)
        goto err;
    if (u->db != 0 &&
        setup_step(rc, redisCommand(rc->ctx, "SELECT %d", u->db), "SELECT", err, errlen) != 0)
        goto err;
    if (setup_step(rc, redisCommand(rc->ctx, "CLIENT SETNAME %s", rc->name), "CLIENT SETNAME",
                   err, errlen) != 0)
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
        rc->down_since_ms = wclock_mono_ms();
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
            wclock_sleep_ms(BACKOFF_SLICE_MS);
        }
        delay = delay * 2 > REDIS_CONN_BACKOFF_MAX_MS ? REDIS_CONN_BACKOFF_MAX_MS : delay * 2;
    }
    log_info("redis connected", "redis=%s name=%s conn=%s reconnect=%s attempts=%u down_ms=%lld",
             url, rc->name, rc->role, rc->connects > 0 ? "true" : "false", attempts,
             (long long)(wclock_mono_ms() - rc->down_since_ms));
    rc->connects++;
    rc->down_since_ms = 0;
    return 1;
}

/* Turns a NULL reply into a closed connection; the reply passes through. */
static redisReply *checked(struct redis_conn *rc, redisReply *reply)
{
    if (!reply && rc->ctx) {
        char qerr[160];
        log_warn("redis connection lost", "name=%s conn=%s err=%s", rc->name, rc->role,
                 log_quote(rc->ctx->errstr, qerr, sizeof qerr));
        rc->down_since_ms = wclock_mono_ms();
        redis_conn_close(rc);
    }
    return reply;
}

redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...)
{
    if (!rc->ctx)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(rc->ctx, fmt, ap);
    va_end(ap);
    return checked(rc, reply);
}

redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *lens)
{
    if (!rc->ctx)
        return NULL;
    return checked(rc, redisCommandArgv(rc->ctx, argc, argv, lens));
}

#define EVAL_ARGS_MAX 16 /* the longest script call (finish) has 11 ARGV */

redisReply *redis_conn_eval(struct redis_conn *rc, enum script_id id, int argc,
                            const char **argv, const size_t *lens)
{
    if (argc < 0 || argc > EVAL_ARGS_MAX || (unsigned)id >= SCRIPT_COUNT)
        return NULL;
    const char *args[EVAL_ARGS_MAX + 3];
    size_t arglens[EVAL_ARGS_MAX + 3];
    args[0] = "EVALSHA";
    args[2] = "0";
    for (int i = 0; i < argc; i++) {
        args[3 + i] = argv[i];
        arglens[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    arglens[0] = 7;
    arglens[2] = 1;
    for (int attempt = 0; attempt < 2; attempt++) {
        args[1] = rc->sha[id];
        arglens[1] = strlen(rc->sha[id]);
        redisReply *reply = redis_conn_argv(rc, argc + 3, args, arglens);
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
            rc->down_since_ms = wclock_mono_ms();
            redis_conn_close(rc);
            return NULL;
        }
    }
    return NULL;
}

const char *redis_conn_reply_err(const redisReply *reply, char *buf, size_t len)
{
    return log_quote(reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply",
                     buf, len);
}
