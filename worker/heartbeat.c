#include "worker/heartbeat.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/job.h"
#include "common/log.h"
#include "common/clock.h"

static bool hb_should_stop(void *arg)
{
    struct heartbeat *hb = arg;
    return atomic_load(&hb->stop);
}

/* ZADD <prefix>workers <now_ms> <id>. Returns 0, or -1 when the connection broke. */
static int beat(struct heartbeat *hb)
{
    char key[JOB_KEY_MAX], score[24];
    if (key_workers(key, sizeof key, hb->cfg->prefix) < 0)
        return 0;
    snprintf(score, sizeof score, "%" PRId64, job_now_us() / 1000);
    redisReply *reply = redis_conn_command(&hb->conn, "ZADD %s %s %s", key, score, hb->cfg->id);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ERROR) {
        char q[256];
        log_warn("heartbeat failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
    }
    freeReplyObject(reply);
    return 0;
}

/* Sleeps until the monotonic deadline or heartbeat_stop, whichever is first. */
static void wait_until(struct heartbeat *hb, int64_t deadline_ms)
{
    struct timespec ts = clock_deadline(deadline_ms - clock_mono_ms());
    pthread_mutex_lock(&hb->mu);
    while (!atomic_load(&hb->stop) && pthread_cond_timedwait(&hb->wake, &hb->mu, &ts) == 0) {
    }
    pthread_mutex_unlock(&hb->mu);
}

static void *heartbeat_main(void *arg)
{
    struct heartbeat *hb = arg;
    int64_t next_beat = 0, next_reap = 0;
    while (!atomic_load(&hb->stop)) {
        int c = redis_conn_ensure(&hb->conn, hb_should_stop, hb);
        if (c < 0)
            break;
        int64_t now = clock_mono_ms();
        if (c == 1)
            next_beat = now; /* beat at once after every (re)connect */
        if (now >= next_beat) {
            if (beat(hb) != 0)
                continue;
            next_beat = now + hb->cfg->heartbeat_ms;
        }
        if (now >= next_reap) {
            if (reaper_tick(&hb->reaper, &hb->conn) < 0)
                continue;
            next_reap = now + WORKER_REAP_PERIOD_MS;
        }
        wait_until(hb, next_beat < next_reap ? next_beat : next_reap);
    }
    redis_conn_close(&hb->conn);
    return NULL;
}

int heartbeat_start(struct heartbeat *hb, const struct worker_config *cfg)
{
    memset(hb, 0, sizeof *hb);
    hb->cfg = cfg;
    atomic_init(&hb->stop, false);
    char name[REDIS_CONN_NAME_MAX];
    if (worker_client_name(name, sizeof name, cfg->prefix, cfg->id) < 0 ||
        redis_conn_init(&hb->conn, &cfg->redis, name, "heartbeat", (int)cfg->redis_timeout_ms,
                        (int)cfg->redis_timeout_ms) != 0)
        return -1;
    reaper_init(&hb->reaper, cfg);
    if (clock_cond_init(&hb->wake) != 0)
        return -1;
    if (pthread_mutex_init(&hb->mu, NULL) != 0)
        goto err;
    if (pthread_create(&hb->thread, NULL, heartbeat_main, hb) != 0) {
        pthread_mutex_destroy(&hb->mu);
        goto err;
    }
    hb->started = true;
    return 0;
err:
    pthread_cond_destroy(&hb->wake);
    return -1;
}

void heartbeat_stop(struct heartbeat *hb)
{
    if (!hb->started)
        return;
    pthread_mutex_lock(&hb->mu);
    atomic_store(&hb->stop, true);
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->mu);
    pthread_join(hb->thread, NULL);
    pthread_mutex_destroy(&hb->mu);
    pthread_cond_destroy(&hb->wake);
    hb->started = false;
}
