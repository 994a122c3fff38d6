#include "worker/reaper.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/job.h"
#include "common/log.h"
#include "common/clock.h"

#define SCAN_COUNT "1000" /* keys per SCAN step: ~1 ms of Redis time, few round trips */

enum reaper_verdict reaper_judge(int64_t now_ms, int64_t beat_ms, int64_t lease_ms,
                                 int64_t heartbeat_ms)
{
    int64_t age = now_ms - beat_ms;
    if (age > lease_ms)
        return REAPER_DEAD;
    if (age > heartbeat_ms + REAPER_GRACE_MS)
        return REAPER_SUSPECT;
    return REAPER_ALIVE;
}

bool reaper_client_list_has(const char *list, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = list; (p = strstr(p, "name=")) != NULL; p += 5) {
        /* A field starts a line or follows a space ("lib-name=" is another field). */
        bool field_start = p == list || p[-1] == ' ' || p[-1] == '\n';
        const char *v = p + 5;
        /* strchr also matches v[nlen] == '\0': the list's last field. */
        if (field_start && strncmp(v, name, nlen) == 0 && strchr(" \r\n", v[nlen]))
            return true;
    }
    return false;
}

int64_t reaper_info_uptime_s(const char *info)
{
    static const char field[] = "uptime_in_seconds:";
    for (const char *p = info; (p = strstr(p, field)) != NULL; p++) {
        if (p != info && p[-1] != '\n')
            continue;
        char *end;
        long long v = strtoll(p + sizeof field - 1, &end, 10);
        if (end != p + sizeof field - 1 && v >= 0)
            return v;
    }
    return -1;
}

const char *reaper_wip_owner(const char *key, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(key, prefix, plen) != 0 || strncmp(key + plen, "wip:", 4) != 0)
        return NULL;
    const char *id = key + plen + 4;
    return *id ? id : NULL;
}

int reaper_glob_escape(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s; s++) {
        bool special = strchr("*?[]\\", *s) != NULL;
        if (o + (special ? 2 : 1) >= len)
            return -1;
        if (special)
            buf[o++] = '\\';
        buf[o++] = *s;
    }
    if (o >= len)
        return -1;
    buf[o] = '\0';
    return 0;
}

void reaper_init(struct reaper *r, const struct worker_config *cfg)
{
    r->cfg = cfg;
    r->next_scan_ms = 0; /* first round: orphans of a crash just before our start */
}

/* SET NX PX, or keep the lock when it is already ours (the previous round
 * took it and it has not expired). Returns 1 held, 0 someone else's, -1 broken. */
static int lock_take(struct reaper *r, struct redis_conn *rc)
{
    char key[JOB_KEY_MAX];
    if (key_reaper_lock(key, sizeof key, r->cfg->prefix) < 0)
        return 0;
    long long px = 2 * WORKER_REAP_PERIOD_MS;
    redisReply *reply = redis_conn_command(rc, "SET %s %s NX PX %lld", key, r->cfg->id, px);
    if (!reply)
        return -1;
    int held = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (held)
        return 1;
    reply = redis_conn_command(rc, "GET %s", key);
    if (!reply)
        return -1;
    held = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, r->cfg->id) == 0;
    freeReplyObject(reply);
    if (!held)
        return 0;
    /* Ours: extend it. If it expired in between and someone else took it, two
     * reapers run one round together, which is harmless: each recovery is an
     * atomic script that finds nothing left to do the second time. */
    reply = redis_conn_command(rc, "PEXPIRE %s %lld", key, px);
    if (!reply)
        return -1;
    freeReplyObject(reply);
    return 1;
}

/* How long after Redis comes back a live worker may take to reconnect (one
 * backoff step) and beat. */
static int64_t settle_ms(const struct worker_config *cfg)
{
    return REDIS_CONN_BACKOFF_MAX_MS + cfg->heartbeat_ms + REAPER_GRACE_MS;
}

/* After a round's first reply: true while a stall settles. A reply late by
 * more than REAPER_STALL_MS after the previous round ended, or our own
 * reconnect since then, means Redis stopped answering for a while (or this
 * process did): every beat is stale then, and the other workers may be
 * reconnecting (missing from CLIENT LIST). Verdicts wait until they have
 * had time to beat. */
static bool stall_settling(struct reaper *r, const struct redis_conn *rc)
{
    int64_t now = clock_mono_ms();
    bool stalled = r->last_round_ms != 0 &&
                   (now - r->last_round_ms > REAPER_STALL_MS || rc->connects != r->connects_seen);
    if (stalled && now + settle_ms(r->cfg) > r->judge_after_ms) {
        r->judge_after_ms = now + settle_ms(r->cfg);
        log_info("redis stalled or reconnected: judging no worker until they have had time to beat",
                 "late_ms=%lld settle_ms=%lld", (long long)(now - r->last_round_ms),
                 (long long)settle_ms(r->cfg));
    }
    r->last_round_ms = now;
    r->connects_seen = rc->connects;
    return now < r->judge_after_ms;
}

/* What CLIENT LIST can tell in one round; fetched lazily, at most once. */
struct clients {
    redisReply *list; /* CLIENT LIST reply; NULL until fetched */
    bool trusted;     /* false: Redis (re)started too recently, or CLIENT LIST failed */
};

/* Fetches INFO uptime and CLIENT LIST once per round. Returns 0, or -1 when
 * the connection broke. */
static int clients_fetch(const struct worker_config *cfg, struct redis_conn *rc,
                         struct clients *c)
{
    if (c->list)
        return 0;
    redisReply *info = redis_conn_command(rc, "INFO server");
    if (!info)
        return -1;
    int64_t uptime_s = info->type == REDIS_REPLY_STRING ? reaper_info_uptime_s(info->str) : -1;
    freeReplyObject(info);
    /* A live worker reconnects within one backoff step and then beats. */
    redisReply *reply = redis_conn_command(rc, "CLIENT LIST");
    if (!reply)
        return -1;
    c->list = reply;
    c->trusted = reply->type == REDIS_REPLY_STRING && uptime_s * 1000 >= settle_ms(cfg);
    if (reply->type != REDIS_REPLY_STRING) {
        char q[256];
        log_warn("CLIENT LIST failed; only the lease decides", "err=%s",
                 redis_conn_reply_err(reply, q, sizeof q));
    }
    return 0;
}

/* Whether any connection named after worker `id` is in the fetched list.
 * When the list cannot be trusted, assume connected: the lease still
 * catches the dead. */
static bool worker_connected(const struct worker_config *cfg, const struct clients *c,
                             const char *id)
{
    char name[REDIS_CONN_NAME_MAX];
    if (!c->trusted || worker_client_name(name, sizeof name, cfg->prefix, id) < 0)
        return true;
    return reaper_client_list_has(c->list->str, name);
}

/* SCRIPT_RECOVER for worker `id`, aborting if it beat after max_beat_ms.
 * Returns 1 recovered, 0 aborted or refused, -1 broken connection. */
static int recover(struct reaper *r, struct redis_conn *rc, const char *id, int64_t max_beat_ms,
                   const char *why)
{
    const struct worker_config *cfg = r->cfg;
    char now[24], ttl[24], maxhb[24];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    snprintf(ttl, sizeof ttl, "%" PRId64, cfg->result_ttl_s);
    snprintf(maxhb, sizeof maxhb, "%" PRId64, max_beat_ms);
    const char *argv[] = {cfg->prefix, id, now, ttl, maxhb, REAPER_REASON};
    redisReply *reply = redis_conn_eval(rc, SCRIPT_RECOVER, 6, argv, NULL);
    if (!reply)
        return -1;
    int rv = 0;
    char q[200];
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        log_info("recovered a dead worker", "dead_worker=%s why=%s requeued=%lld dead_jobs=%lld",
                 log_quote(id, q, sizeof q), why, reply->element[0]->integer,
                 reply->element[1]->integer);
        rv = 1;
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        log_debug("recovery aborted: the worker beat meanwhile", "dead_worker=%s",
                  log_quote(id, q, sizeof q));
    } else {
        char qe[256];
        log_error("recover script failed", "dead_worker=%s err=%s", log_quote(id, q, sizeof q),
                  redis_conn_reply_err(reply, qe, sizeof qe));
    }
    freeReplyObject(reply);
    return rv;
}

/* Judges every registered worker. Returns recoveries, or -1 broken. */
static int reap_registered(struct reaper *r, struct redis_conn *rc, struct clients *clients)
{
    const struct worker_config *cfg = r->cfg;
    char key[JOB_KEY_MAX];
    if (key_workers(key, sizeof key, cfg->prefix) < 0)
        return 0;
    redisReply *zs = redis_conn_command(rc, "ZRANGE %s 0 -1 WITHSCORES", key);
    if (!zs)
        return -1;
    int recovered = 0;
    int64_t now_ms = job_now_us() / 1000;
    for (size_t i = 0; zs->type == REDIS_REPLY_ARRAY && i + 1 < zs->elements; i += 2) {
        const char *id = zs->element[i]->str;
        if (!id || strcmp(id, cfg->id) == 0 || !zs->element[i + 1]->str)
            continue;
        int64_t beat = strtoll(zs->element[i + 1]->str, NULL, 10);
        enum reaper_verdict v = reaper_judge(now_ms, beat, cfg->lease_ms, cfg->heartbeat_ms);
        if (v == REAPER_ALIVE)
            continue;
        if (v == REAPER_SUSPECT) {
            if (clients_fetch(cfg, rc, clients) != 0)
                goto err;
            if (worker_connected(cfg, clients, id))
                continue;
        }
        int rv = recover(r, rc, id, beat, v == REAPER_DEAD ? "lease" : "disconnected");
        if (rv < 0)
            goto err;
        recovered += rv;
    }
    freeReplyObject(zs);
    return recovered;
err:
    freeReplyObject(zs);
    return -1;
}

/* Recovers the owner of one wip key when it is neither registered nor
 * connected. Returns 1, 0, or -1 broken. */
static int reap_orphan(struct reaper *r, struct redis_conn *rc, const char *wip_key,
                       struct clients *clients)
{
    const struct worker_config *cfg = r->cfg;
    const char *id = reaper_wip_owner(wip_key, cfg->prefix);
    char key[JOB_KEY_MAX];
    if (!id || strcmp(id, cfg->id) == 0 || key_workers(key, sizeof key, cfg->prefix) < 0)
        return 0;
    redisReply *score = redis_conn_command(rc, "ZSCORE %s %s", key, id);
    if (!score)
        return -1;
    bool registered = score->type != REDIS_REPLY_NIL;
    freeReplyObject(score);
    if (registered)
        return 0; /* reap_registered judges it */
    if (clients_fetch(cfg, rc, clients) != 0)
        return -1;
    if (worker_connected(cfg, clients, id))
        return 0;
    /* max 0: if it registers before the script runs, the script aborts. */
    return recover(r, rc, id, 0, "unregistered");
}

/* SCANs <prefix>wip:* for orphans. Returns recoveries, or -1 broken. */
static int reap_orphans(struct reaper *r, struct redis_conn *rc, struct clients *clients)
{
    char escaped[2 * JOB_PREFIX_MAX + 1], pattern[JOB_KEY_MAX];
    if (reaper_glob_escape(r->cfg->prefix, escaped, sizeof escaped) != 0)
        return 0;
    snprintf(pattern, sizeof pattern, "%swip:*", escaped);
    char cursor[32] = "0";
    int recovered = 0;
    do {
        redisReply *reply =
            redis_conn_command(rc, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor, pattern);
        if (!reply)
            return -1;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(reply);
            return recovered;
        }
        snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
        redisReply *keys = reply->element[1];
        for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING)
                continue;
            int rv = reap_orphan(r, rc, keys->element[i]->str, clients);
            if (rv < 0) {
                freeReplyObject(reply);
                return -1;
            }
            recovered += rv;
        }
        freeReplyObject(reply);
    } while (strcmp(cursor, "0") != 0);
    return recovered;
}

int reaper_tick(struct reaper *r, struct redis_conn *rc)
{
    int held = lock_take(r, rc);
    if (held < 0)
        return held;
    /* Measured after a round trip: a stall shows as this reply coming late. */
    if (stall_settling(r, rc) || held == 0)
        return 0;
    struct clients clients = {NULL, false};
    int recovered = reap_registered(r, rc, &clients);
    if (recovered >= 0 && clock_mono_ms() >= r->next_scan_ms) {
        int orphans = reap_orphans(r, rc, &clients);
        recovered = orphans < 0 ? -1 : recovered + orphans;
        /* While Redis is too young for CLIENT LIST to be trusted, an owner
         * may have been left undecided: look again next round. */
        bool undecided = orphans < 0 || (clients.list != NULL && !clients.trusted);
        r->next_scan_ms = undecided ? 0 : clock_mono_ms() + REAPER_SCAN_EVERY_MS;
    }
    if (clients.list)
        freeReplyObject(clients.list);
    if (recovered >= 0)
        r->last_round_ms = clock_mono_ms(); /* a long round is not a stall */
    return recovered;
}
