#include "api/schedules.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/req.h"
#include "common/cron.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/log.h"
#include "common/rconn.h"
#include "common/scripts.h"

#define SCHEDULE_PAIRS_MAX 12 /* field/value pairs of a template */

/* The JSON view of a schedule's HGETALL: its template as POST /schedules
 * takes it, and its times as Unix seconds (null when unset). NULL when
 * empty or out of memory. New reference. */
static json_t *schedules_view(const redisReply *h)
{
    json_t *v, *backoff = NULL;
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements < 2)
        return NULL;
    v = json_object();
    for (size_t i = 0; v && i + 1 < h->elements; i += 2) {
        if (h->element[i]->type != REDIS_REPLY_STRING || h->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        const char *k = h->element[i]->str, *s = h->element[i + 1]->str;
        if (strcmp(k, "args") == 0) {
            json_object_set_new(v, "args", json_loads(s, JSON_DECODE_ANY, NULL));
        } else if (strcmp(k, "max_attempts") == 0 || strcmp(k, "ms") == 0) {
            json_object_set_new(v, k, json_integer(strtoll(s, NULL, 10)));
        } else if (strcmp(k, "timeout_ms") == 0) {
            json_object_set_new(v, "timeout", json_real(strtod(s, NULL) / 1e3));
        } else if (strcmp(k, "backoff_base_ms") == 0 || strcmp(k, "backoff_max_ms") == 0) {
            if (backoff == NULL)
                backoff = json_object();
            json_object_set_new(backoff, k[8] == 'b' ? "base" : "max", json_real(strtod(s, NULL) / 1e3));
        } else if (strcmp(k, "next_tick") == 0 || strcmp(k, "last_tick") == 0) {
            json_object_set_new(v, k[0] == 'n' ? "next_run_at" : "last_run_at", job_time_json(s)); /* "inf": null */
        } else if (strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0) {
            json_object_set_new(v, k, job_time_json(s));
        } else {
            json_object_set_new(v, k, json_string(s)); /* name, cron, queue, task, payload, last_job */
        }
    }
    if (v && backoff)
        json_object_set_new(v, "backoff", backoff);
    else
        json_decref(backoff);
    for (const char *const *k = (const char *const[]){"last_run_at", "last_job", "next_run_at", NULL}; v && *k; k++)
        if (json_object_get(v, *k) == NULL)
            json_object_set_new(v, *k, json_null());
    return v;
}

/* The template pairs of spec into argv (numbers written into nums). */
static int schedules_pairs(const struct app *app, const struct job_spec *sp, const char *cron, const char **argv,
                           char (*nums)[24])
{
    int n = 0;
#define PAIR(k, v) (argv[n++] = (k), argv[n++] = (v))
    PAIR("cron", cron);
    PAIR("queue", sp->queue);
    PAIR("task", sp->task);
    snprintf(nums[0], sizeof nums[0], "%d", sp->max_attempts);
    PAIR("max_attempts", nums[0]);
    snprintf(nums[1], sizeof nums[1], "%lld",
             (long long)(sp->backoff_base_ms > 0 ? sp->backoff_base_ms : app->cfg.backoff_base_ms));
    PAIR("backoff_base_ms", nums[1]);
    snprintf(nums[2], sizeof nums[2], "%lld",
             (long long)(sp->backoff_max_ms > 0 ? sp->backoff_max_ms : app->cfg.backoff_max_ms));
    PAIR("backoff_max_ms", nums[2]);
    if (sp->args_len)
        PAIR("args", sp->args);
    if (sp->timeout_ms > 0) {
        snprintf(nums[3], sizeof nums[3], "%lld", (long long)sp->timeout_ms);
        PAIR("timeout_ms", nums[3]);
    }
    if (strcmp(sp->task, JOB_TASK_DEFAULT) == 0) {
        snprintf(nums[4], sizeof nums[4], "%d", sp->ms);
        PAIR("ms", nums[4]);
        if (sp->payload_len)
            PAIR("payload", sp->payload);
    }
#undef PAIR
    return n;
}

static void schedules_set_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    redisReply *reply = rep;
    json_t *view;
    char loc[JOB_QUEUE_MAX + 16];
    (void)ac;
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "SCHEDULES ", 10) == 0) {
        req_reply_error(r, 429, "there are %d schedules already: delete one first", SCHEDULES_MAX);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        (view = schedules_view(reply->element[1])) == NULL) {
        req_reply_unavailable(r);
        return;
    }
    snprintf(loc, sizeof loc, "/schedules/%s", json_string_value(json_object_get(view, "name")));
    req_add_header(r, "Location", loc);
    req_reply_json(r, reply->element[0]->integer == 1 ? 201 : 200, view);
}

/* The body's name and cron, taken out of doc, and the rest of it parsed as
 * one job's fields into *spec (job_specs_free). Returns 0, or -1 after
 * answering 400. */
static int schedules_parse(struct api_req *r, json_t *doc, char *name, char *cron, struct cron *c,
                           struct job_spec **spec)
{
    const char *nm = json_string_value(json_object_get(doc, "name"));
    const char *cr = json_string_value(json_object_get(doc, "cron"));
    char err[256], *rest = NULL;
    size_t n = 0;
    bool batch = false;
    int ret = -1;
    if (nm == NULL || !job_queue_valid(nm)) {
        req_reply_error(r, 400, "name: must be 1..%d of A-Z a-z 0-9 _ . : -", JOB_QUEUE_MAX);
        return -1;
    }
    if (cr == NULL || cron_parse(cr, c, err, sizeof err) != 0) {
        req_reply_error(r, 400, "cron: %s", cr ? err : "must be a cron expression such as \"*/5 * * * *\"");
        return -1;
    }
    snprintf(name, JOB_QUEUE_MAX + 1, "%s", nm);
    snprintf(cron, CRON_EXPR_MAX + 1, "%s", cr);
    json_object_del(doc, "name");
    json_object_del(doc, "cron");
    rest = json_dumps(doc, JSON_COMPACT);
    if (rest == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return -1;
    }
    if (job_parse_body(rest, strlen(rest), spec, &n, &batch, err, sizeof err) != 0)
        req_reply_error(r, 400, "%s", err);
    else if ((*spec)[0].delay_ms >= 0 || (*spec)[0].run_at_us > 0 || (*spec)[0].key[0])
        req_reply_error(r, 400, "delay, run_at, key: not for a schedule's jobs (they run at its ticks)");
    else
        ret = 0;
    if (ret != 0 && *spec) {
        job_specs_free(*spec, n);
        *spec = NULL;
    }
    free(rest);
    return ret;
}

void schedules_handle_post(struct api_req *r)
{
    struct app *app = r->app;
    const char *body, *argv[5 + 2 * SCHEDULE_PAIRS_MAX];
    char name[JOB_QUEUE_MAX + 1], cron[CRON_EXPR_MAX + 1], tick[24], now[24], maxs[16], nums[5][24];
    size_t len;
    json_t *doc;
    struct job_spec *spec = NULL;
    struct cron c;
    int64_t now_us = job_now_us(), first;
    if (req_body(r, &body, &len) != 0)
        return;
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        req_reply_error(r, 400, "body: must be a JSON object {\"name\", \"cron\", \"task\", ...}");
        return;
    }
    if (schedules_parse(r, doc, name, cron, &c, &spec) != 0) {
        json_decref(doc);
        return;
    }
    json_decref(doc);
    req_body_done(r);
    first = cron_next(&c, now_us / 1000000);
    if (first < 0) {
        job_specs_free(spec, 1);
        req_reply_error(r, 400, "cron: %s does not fire within 5 years", cron);
        return;
    }
    snprintf(tick, sizeof tick, "%lld", (long long)first * 1000000);
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    snprintf(maxs, sizeof maxs, "%d", SCHEDULES_MAX);
    argv[0] = app->cfg.prefix;
    argv[1] = name;
    argv[2] = tick;
    argv[3] = now;
    argv[4] = maxs;
    int argc = 5 + schedules_pairs(app, spec, cron, argv + 5, nums);
    if (rconn_script(app->redis, SCRIPT_SCHEDULE_SET, schedules_set_cb, r, argc, argv, NULL) != 0)
        req_reply_unavailable(r);
    job_specs_free(spec, 1);
}

static void schedules_got_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    redisReply *reply = rep;
    json_t *list;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || (list = json_array()) == NULL) {
        req_reply_unavailable(r);
        return;
    }
    for (size_t i = 0; i < reply->elements; i++)
        json_array_append_new(list, schedules_view(reply->element[i]));
    if (r->route == ROUTE_SCHEDULES) {
        req_reply_json(r, 200, json_pack("{s:o}", "schedules", list));
    } else if (json_array_size(list) == 0) {
        json_decref(list);
        req_reply_error(r, 404, "no schedule %s", r->id);
    } else {
        req_reply_json(r, 200, json_incref(json_array_get(list, 0)));
        json_decref(list);
    }
}

/* Sends SCHEDULE_GET for `name` ('' for all). */
static void schedules_get(struct api_req *r, const char *name)
{
    const char *argv[2] = {r->app->cfg.prefix, name};
    if (rconn_script(r->app->redis, SCRIPT_SCHEDULE_GET, schedules_got_cb, r, 2, argv, NULL) != 0)
        req_reply_unavailable(r);
}

void schedules_handle_list(struct api_req *r)
{
    schedules_get(r, "");
}

/* 404 unless r->id can name a schedule. Returns true when it can. */
static bool schedules_name_ok(struct api_req *r)
{
    if (job_queue_valid(r->id))
        return true;
    req_reply_error(r, 404, "no schedule %s (names are 1..%d of A-Z a-z 0-9 _ . : -)", r->id, JOB_QUEUE_MAX);
    return false;
}

void schedules_handle_get(struct api_req *r)
{
    if (schedules_name_ok(r))
        schedules_get(r, r->id);
}

static void schedules_deleted_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        req_reply_unavailable(r);
    else if (reply->integer == 0)
        req_reply_error(r, 404, "no schedule %s", r->id);
    else
        req_reply_json(r, 200, json_pack("{s:s,s:b}", "name", r->id, "deleted", 1));
}

void schedules_handle_delete(struct api_req *r)
{
    const char *argv[2] = {r->app->cfg.prefix, r->id};
    if (!schedules_name_ok(r))
        return;
    if (rconn_script(r->app->redis, SCRIPT_SCHEDULE_DEL, schedules_deleted_cb, r, 2, argv, NULL) != 0)
        req_reply_unavailable(r);
}
