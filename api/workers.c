#include "api/workers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/req.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/log.h"
#include "common/rconn.h"
#include "common/scripts.h"

/* The workers' default lease, as GET /queues counts workers_alive. */
#define WORKERS_LEASE_MS DEFAULTS_LEASE_MS

/* The value of field `name` in an HGETALL reply, or NULL. Borrowed. */
static const char *hash_get(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && h->element[i + 1]->type == REDIS_REPLY_STRING &&
            strcmp(h->element[i]->str, name) == 0)
            return h->element[i + 1]->str;
    return NULL;
}

/* "a,b,c" as ["a","b","c"] ([] when NULL or empty). New reference or NULL. */
static json_t *list_json(const char *s)
{
    json_t *a = json_array();
    while (a && s && *s) {
        size_t n = strcspn(s, ",");
        if (n > 0 && json_array_append_new(a, json_stringn(s, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        s += n + (s[n] == ',');
    }
    return a;
}

/* The JSON view of one worker: id, its record h (an HGETALL), its last
 * heartbeat in Unix µs (< 0: unknown), alive or not. New reference or NULL. */
static json_t *worker_json(const char *id, const redisReply *h, double beat_us, int64_t now_us, bool alive)
{
    const char *pid = hash_get(h, "pid"), *job = hash_get(h, "job"), *ended = hash_get(h, "ended_at");
    const char *done = hash_get(h, "jobs_done"), *failed = hash_get(h, "jobs_failed");
    const char *task = hash_get(h, "job_task"), *host = hash_get(h, "host"), *reason = hash_get(h, "reason");
    double age_s = ((double)now_us - beat_us) / 1e6; /* another machine's clock may be ahead: 0 then */
    json_t *running = job ? json_pack("{s:s,s:s,s:o}", "id", job, "task", task ? task : "", "since",
                                      job_time_json(hash_get(h, "job_since")))
                          : json_null();
    json_t *v = json_pack("{s:s,s:o,s:o,s:o*,s:o*,s:o,s:o,s:o,s:b,s:I,s:I,s:o*}", "id", id, "host",
                          host ? json_string(host) : json_null(), "pid",
                          pid ? json_integer(strtoll(pid, NULL, 10)) : json_null(), "queues",
                          list_json(hash_get(h, "queues")), "tasks", list_json(hash_get(h, "tasks")), "started_at",
                          job_time_json(hash_get(h, "started_at")), "heartbeat_at",
                          beat_us < 0 ? json_null() : json_real(beat_us / 1e6), "heartbeat_age_s",
                          beat_us < 0 ? json_null() : json_real(age_s > 0 ? age_s : 0), "alive", alive,
                          "jobs_done", (json_int_t)(done ? strtoll(done, NULL, 10) : 0), "jobs_failed",
                          (json_int_t)(failed ? strtoll(failed, NULL, 10) : 0), "job", running);
    if (v && ended && (json_object_set_new(v, "ended_at", job_time_json(ended)) != 0 ||
                       json_object_set_new(v, "reason", json_string(reason ? reason : "")) != 0)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *workers_json(const redisReply *reply, int64_t now_us, int64_t lease_ms)
{
    json_t *live = json_array(), *dead = json_array();
    if (!live || !dead || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[1]->type != REDIS_REPLY_ARRAY)
        goto err;
    for (size_t i = 0; i < reply->element[0]->elements; i++) {
        const redisReply *w = reply->element[0]->element[i];
        if (w->type != REDIS_REPLY_ARRAY || w->elements != 3 || w->element[0]->type != REDIS_REPLY_STRING ||
            w->element[1]->type != REDIS_REPLY_STRING || w->element[2]->type != REDIS_REPLY_ARRAY)
            continue;
        double beat_ms = strtod(w->element[1]->str, NULL);
        bool alive = (double)now_us / 1000 - beat_ms <= (double)lease_ms;
        if (json_array_append_new(live, worker_json(w->element[0]->str, w->element[2], beat_ms * 1000, now_us,
                                                    alive)) != 0)
            goto err;
    }
    for (size_t i = 0; i < reply->element[1]->elements; i++) {
        const redisReply *w = reply->element[1]->element[i];
        if (w->type != REDIS_REPLY_ARRAY || w->elements != 2 || w->element[0]->type != REDIS_REPLY_STRING ||
            w->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const char *beat = hash_get(w->element[1], "heartbeat_at");
        if (json_array_append_new(dead, worker_json(w->element[0]->str, w->element[1],
                                                    beat ? strtod(beat, NULL) : -1, now_us, false)) != 0)
            goto err;
    }
    return json_pack("{s:o,s:o}", "workers", live, "dead", dead); /* steals both, even on failure */
err:
    json_decref(live);
    json_decref(dead);
    return NULL;
}

static void workers_fetched_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    const redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("workers script failed", "error=\"%s\"", reply->str);
        req_reply_unavailable(r);
        return;
    }
    json_t *body = workers_json(reply, job_now_us(), WORKERS_LEASE_MS);
    if (body == NULL)
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
    else
        req_reply_json(r, 200, body);
}

void workers_handle_get(struct api_req *r)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", WORKERS_LIST_MAX);
    const char *argv[2] = {r->app->cfg.prefix, limit};
    if (rconn_script(r->app->redis, SCRIPT_WORKERS, workers_fetched_cb, r, 2, argv, NULL) != 0)
        req_reply_unavailable(r);
}
