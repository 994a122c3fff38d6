#include "common/mover.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/cron.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"
#include "common/rconn.h"
#include "common/scripts.h"

struct mover {
    struct event_base *base;
    struct rconn *cmd;
    struct rconn *sub;
    struct event *wake;
    char prefix[JOB_PREFIX_MAX + 1];
    char channel[JOB_KEY_MAX];
    int inflight;        /* commands sent, not yet answered */
    bool subscribed;     /* the subscription's callback may still run */
    bool stepping;       /* a PROMOTE, or its ticks, is in flight */
    bool again;          /* a step was asked for meanwhile */
    bool closing;        /* mover_free was called: freed when nothing is in flight */
    int64_t sync_redis;  /* Redis's clock (µs) at the last step ... */
    int64_t sync_local;  /* ... and ours (monotonic µs) when its answer came */
    int64_t wake_local;  /* when the timer fires (monotonic µs), 0 when not armed */
    struct mover_stats stats;
};

static void mover_step(struct mover *m);

/* Frees m once mover_free was called and no callback can run any more. */
static void mover_release(struct mover *m)
{
    if (!m->closing || m->inflight > 0 || m->subscribed)
        return;
    if (m->wake)
        event_free(m->wake);
    free(m);
}

/* Sleeps until Redis's clock reads `due_redis` (µs), at most MOVER_IDLE_MS;
 * an earlier wake already armed is kept unless `force`. */
static void mover_arm(struct mover *m, int64_t due_redis, bool force)
{
    int64_t now = clock_mono_us();
    int64_t at = now + (int64_t)MOVER_IDLE_MS * 1000;
    if (due_redis > 0) {
        int64_t local = m->sync_local + (due_redis - m->sync_redis);
        if (local < at)
            at = local;
    }
    if (!force && m->wake_local && m->wake_local <= at)
        return;
    m->wake_local = at;
    struct timeval tv = clock_us_timeval(at > now ? at - now : 0);
    evtimer_add(m->wake, &tv);
}

static void mover_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mover *m = arg;
    (void)fd;
    (void)what;
    m->wake_local = 0;
    mover_step(m);
}

/* The step and its ticks are over: sleep, or step again if asked. */
static void mover_step_done(struct mover *m, int64_t due_redis)
{
    m->stepping = false;
    if (m->closing)
        return;
    if (m->again) {
        m->again = false;
        mover_step(m);
        return;
    }
    m->stats.next_due_us = due_redis;
    mover_arm(m, due_redis, true);
}

static void mover_ticked_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct mover *m = priv;
    redisReply *reply = rep;
    (void)ac;
    m->inflight--;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        m->stats.ticks++;
    if (m->inflight == 0) {
        /* every tick is claimed: the next step sees the schedules' new times */
        m->again = true;
        mover_step_done(m, 0);
    }
    mover_release(m);
}

/* Claims one due tick of schedule `name`: its job, and its next tick, the
 * first after now (ticks missed while nobody ran are made once, not once
 * each). Returns 0 when the claim was sent. */
static int mover_tick(struct mover *m, const char *name, const char *tick, const char *expr, int64_t now_us)
{
    struct cron c;
    char err[128], next[24] = "", now[24], id[JOBID_LEN + 1];
    const char *argv[6] = {m->prefix, name, tick, next, id, now};
    if (cron_parse(expr, &c, err, sizeof err) == 0) {
        int64_t t = cron_next(&c, now_us / 1000000);
        if (t > 0)
            snprintf(next, sizeof next, "%lld", (long long)t * 1000000);
    } else {
        log_error("schedule has a bad cron expression: its ticks stop", "schedule=%s error=\"%s\"", name, err);
    }
    if (jobid_new(id) != 0)
        return -1;
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    if (rconn_script(m->cmd, SCRIPT_TICK, mover_ticked_cb, m, 6, argv, NULL) != 0)
        return -1;
    m->inflight++;
    return 0;
}

/* A reply element as a number (string or integer); 0 when empty or absent. */
static int64_t mover_num(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0)
        return strtoll(r->str, NULL, 10);
    return 0;
}

static void mover_promoted_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct mover *m = priv;
    redisReply *reply = rep;
    int64_t due = 0, next_job, next_tick;
    (void)ac;
    m->inflight--;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < SCRIPT_PROMOTE_HEAD) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("promote script failed", "error=\"%s\"", reply->str);
        m->stepping = false; /* a lost connection steps again when it is back */
        if (reply && !m->closing)
            mover_arm(m, 0, true);
        mover_release(m);
        return;
    }
    m->stats.steps++;
    m->stats.moved += (unsigned long)mover_num(reply->element[0]);
    m->sync_redis = mover_num(reply->element[2]);
    m->sync_local = clock_mono_us();
    next_job = mover_num(reply->element[3]);
    next_tick = mover_num(reply->element[4]);
    if (next_job > 0)
        due = next_job;
    if (next_tick > 0 && (due == 0 || next_tick < due))
        due = next_tick;
    if (mover_num(reply->element[1]) >= MOVER_BATCH)
        m->again = true; /* more are due than one step moves */
    for (size_t i = SCRIPT_PROMOTE_HEAD; !m->closing && i + 2 < reply->elements; i += 3) {
        redisReply **e = reply->element + i;
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING || e[2]->type != REDIS_REPLY_STRING)
            continue;
        if (mover_tick(m, e[0]->str, e[1]->str, e[2]->str, m->sync_redis) != 0)
            log_warn("schedule tick not claimed: Redis unavailable; the next step tries again", "schedule=%s",
                     e[0]->str);
    }
    if (m->inflight == 0)
        mover_step_done(m, due);
    mover_release(m);
}

/* One step: PROMOTE, then the due ticks. */
static void mover_step(struct mover *m)
{
    char limit[16];
    const char *argv[2] = {m->prefix, limit};
    if (m->closing)
        return;
    if (m->stepping) {
        m->again = true;
        return;
    }
    snprintf(limit, sizeof limit, "%d", MOVER_BATCH);
    if (rconn_script(m->cmd, SCRIPT_PROMOTE, mover_promoted_cb, m, 2, argv, NULL) != 0)
        return; /* not connected: the connection's return steps */
    m->stepping = true;
    m->inflight++;
}

static void mover_message_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct mover *m = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL) {
        m->subscribed = false;
        mover_release(m);
        return;
    }
    if (m->closing || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        mover_step(m); /* messages sent while we were away are lost: look again */
    } else if (strcmp(reply->element[0]->str, "message") == 0) {
        int64_t due = mover_num(reply->element[2]);
        if (m->sync_redis == 0 || m->stepping)
            mover_step(m); /* (a step in flight may have looked before the job came: look again after it) */
        else
            mover_arm(m, due, false);
    }
}

static void mover_sub_state_cb(struct rconn *rc, bool up, void *arg)
{
    struct mover *m = arg;
    if (!up || m->closing)
        return;
    if (rconn_subscribe(rc, mover_message_cb, m, m->channel) == 0)
        m->subscribed = true;
    else
        log_error("subscribe failed", "channel=%s", m->channel);
}

static void mover_cmd_state_cb(struct rconn *rc, bool up, void *arg)
{
    struct mover *m = arg;
    (void)rc;
    if (up)
        mover_step(m);
}

struct mover *mover_new(struct event_base *base, const struct redis_url *url, const char *name,
                        const char *prefix, int64_t redis_timeout_ms)
{
    struct mover *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->base = base;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    snprintf(m->channel, sizeof m->channel, "%ssched", prefix); /* what the scripts PUBLISH on */
    m->wake = evtimer_new(base, mover_wake_cb, m);
    m->cmd = rconn_new(base, url, name, mover_cmd_state_cb, m);
    m->sub = rconn_new(base, url, name, mover_sub_state_cb, m);
    if (m->wake == NULL || m->cmd == NULL || m->sub == NULL)
        goto err;
    if (rconn_set_timeout(m->cmd, redis_timeout_ms) != 0 || rconn_set_timeout(m->sub, redis_timeout_ms) != 0)
        goto err;
    return m;
err:
    mover_free(m);
    return NULL;
}

void mover_free(struct mover *m)
{
    if (m == NULL)
        return;
    m->closing = true;
    if (m->wake)
        event_del(m->wake);
    if (m->cmd)
        rconn_free(m->cmd); /* pending commands' callbacks come with NULL */
    if (m->sub)
        rconn_free(m->sub);
    m->cmd = m->sub = NULL;
    mover_release(m);
}

void mover_allow_eviction(struct mover *m, bool allow)
{
    rconn_allow_eviction(m->cmd, allow);
    rconn_allow_eviction(m->sub, allow);
}

void mover_stats(const struct mover *m, struct mover_stats *out)
{
    *out = m->stats;
}
