#include "worker/handback.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/defaults.h"
#include "common/jobid.h"
#include "common/log.h"
#include "worker/redis_conn.h"

#define RUN_MAX 24 /* an attempt number as text */

struct handback {
    const struct worker_config *cfg; /* borrowed */
    struct redis_conn conn;          /* the thread's only */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;             /* arm, disarm and stop signal it; the thread signals idle */
    bool started;                    /* the thread runs (prefetch > 1) */
    /* under mu: */
    bool stop;
    bool armed;
    bool busy;                       /* the thread is handing the ids back */
    size_t handed;                   /* how many went back since the last arm */
    int64_t due_ms;                  /* monotonic: when the ids go back */
    size_t n;
    char ids[WORKER_PREFETCH_MAX][JOBID_LEN + 64];
    char runs[WORKER_PREFETCH_MAX][RUN_MAX];
};

static bool hb_stopping(void *arg)
{
    struct handback *hb = arg;
    pthread_mutex_lock(&hb->mu);
    bool stop = hb->stop;
    pthread_mutex_unlock(&hb->mu);
    return stop;
}

/* SCRIPT_UNTAKE of the n ids armed. Called without mu: while busy, the
 * main thread does not touch them (it arms again only after a disarm,
 * which waits for busy to end). An UNTAKE whose reply is lost may still
 * run when Redis catches up, so its outcome must be known before the
 * worker may run those jobs: it is asked again on a new connection (which
 * fences the old one; UNTAKE is idempotent) until Redis answers. Returns
 * how many went back, or -1 when it surely did not run (an error reply, or
 * the process is stopping before a first attempt): then the worker keeps
 * them, still running by it in its wip list. */
static long long untake(struct handback *hb, size_t n)
{
    const char *argv[2 + 2 * WORKER_PREFETCH_MAX];
    argv[0] = hb->cfg->prefix;
    argv[1] = hb->cfg->id;
    for (size_t i = 0; i < n; i++) {
        argv[2 + 2 * i] = hb->ids[i];
        argv[3 + 2 * i] = hb->runs[i];
    }
    redisReply *reply = NULL;
    for (bool sent = false; !reply;) {
        /* at a stop with the outcome unknown, the process ends: its wip
         * list is recovered either way */
        if (redis_conn_ensure(&hb->conn, hb_stopping, hb) < 0)
            return sent ? 0 : -1;
        reply = redis_conn_eval(&hb->conn, SCRIPT_UNTAKE, (int)(2 + 2 * n), argv, NULL);
        sent = true;
    }
    long long back = -1;
    char q[256];
    if (reply->type == REDIS_REPLY_INTEGER)
        back = reply->integer;
    else
        log_error("untake script failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
    freeReplyObject(reply);
    return back;
}

static void *handback_main(void *arg)
{
    struct handback *hb = arg;
    pthread_mutex_lock(&hb->mu);
    while (!hb->stop) {
        if (!hb->armed || hb->handed > 0) {
            pthread_cond_wait(&hb->wake, &hb->mu);
            continue;
        }
        int64_t now = clock_mono_ms();
        if (now < hb->due_ms) {
            struct timespec ts = clock_deadline(hb->due_ms - now);
            pthread_cond_timedwait(&hb->wake, &hb->mu, &ts);
            continue;
        }
        size_t n = hb->n;
        hb->busy = true;
        pthread_mutex_unlock(&hb->mu);
        long long back = untake(hb, n);
        pthread_mutex_lock(&hb->mu);
        hb->busy = false;
        if (back >= 0) {
            /* every id is out of the wip list now, whether it went back
             * (ours) or not (cancelled, recovered meanwhile) */
            hb->handed = n;
            log_info("a long run: the jobs held behind it went back to their queues", "held=%zu back=%lld", n,
                     back);
        } else {
            hb->due_ms = clock_mono_ms() + hb->cfg->prefetch_hold_ms; /* try again later */
        }
        pthread_cond_broadcast(&hb->wake);
    }
    pthread_mutex_unlock(&hb->mu);
    redis_conn_close(&hb->conn);
    return NULL;
}

struct handback *handback_start(const struct worker_config *cfg)
{
    struct handback *hb = calloc(1, sizeof *hb);
    char name[REDIS_CONN_NAME_MAX];
    if (!hb) {
        log_error(MSG_OUT_OF_MEMORY, NULL);
        return NULL;
    }
    hb->cfg = cfg;
    if (cfg->prefetch <= 1)
        return hb;
    /* not named like the worker's own connections: the reaper reads those
     * as the worker's liveness */
    snprintf(name, sizeof name, "%shandback:worker:%s", cfg->prefix, cfg->id);
    if (redis_conn_init(&hb->conn, &cfg->redis, name, "handback", (int)cfg->redis_timeout_ms,
                        (int)cfg->redis_timeout_ms) != 0)
        goto err;
    if (clock_cond_init(&hb->wake) != 0)
        goto err;
    if (pthread_mutex_init(&hb->mu, NULL) != 0) {
        pthread_cond_destroy(&hb->wake);
        goto err;
    }
    if (pthread_create(&hb->thread, NULL, handback_main, hb) != 0) {
        pthread_mutex_destroy(&hb->mu);
        pthread_cond_destroy(&hb->wake);
        goto err;
    }
    hb->started = true;
    return hb;
err:
    log_error("cannot start the hand-back thread", NULL);
    free(hb);
    return NULL;
}

void handback_arm(struct handback *hb, const char *const *ids, const char *const *runs, size_t n,
                  int64_t due_ms)
{
    if (!hb->started || n == 0)
        return;
    if (n > WORKER_PREFETCH_MAX)
        n = WORKER_PREFETCH_MAX;
    pthread_mutex_lock(&hb->mu);
    for (size_t i = 0; i < n; i++) {
        snprintf(hb->ids[i], sizeof hb->ids[i], "%s", ids[i]);
        snprintf(hb->runs[i], sizeof hb->runs[i], "%s", runs[i]);
    }
    hb->n = n;
    hb->handed = 0;
    hb->due_ms = due_ms;
    hb->armed = true;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->mu);
}

size_t handback_disarm(struct handback *hb)
{
    if (!hb->started)
        return 0;
    pthread_mutex_lock(&hb->mu);
    hb->armed = false;
    while (hb->busy)
        pthread_cond_wait(&hb->wake, &hb->mu);
    size_t handed = hb->handed;
    hb->handed = 0;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->mu);
    return handed;
}

void handback_stop(struct handback *hb)
{
    if (!hb)
        return;
    if (hb->started) {
        pthread_mutex_lock(&hb->mu);
        hb->stop = true;
        pthread_cond_broadcast(&hb->wake);
        pthread_mutex_unlock(&hb->mu);
        pthread_join(hb->thread, NULL);
        pthread_mutex_destroy(&hb->mu);
        pthread_cond_destroy(&hb->wake);
    }
    free(hb);
}
