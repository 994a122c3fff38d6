#include "api/dead.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/jobstore.h"
#include "api/req.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"
#include "common/rconn.h"
#include "common/scripts.h"

#define DEAD_ROUNDS_MAX 10000 /* batches for one "every dead job" call: 10 M jobs, then it answers */

/* One retry or purge in flight. */
struct dead_op {
    struct api_req *r;
    enum script_id script;
    const char *verb;      /* "retried" or "deleted": the answer's count */
    json_t *ids;           /* the ids the body named, or NULL for every dead job */
    long done;
    json_t *missing;       /* named ids that were not on the list */
    int rounds;
};

static void dead_op_free(struct dead_op *op)
{
    json_decref(op->ids);
    json_decref(op->missing);
    free(op);
}

static int dead_send(struct dead_op *op);

/* 200 {"retried"|"deleted": n, "missing": [...]} and the end of op. */
static void dead_reply(struct dead_op *op)
{
    struct api_req *r = op->r;
    json_t *body = json_pack("{s:I,s:O}", op->verb, (json_int_t)op->done, "missing", op->missing);
    dead_op_free(op);
    req_reply_json(r, 200, body);
}

static void dead_sent_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct dead_op *op = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        struct api_req *r = op->r;
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("dead list script failed", "error=\"%s\"", reply->str);
        dead_op_free(op);
        req_reply_unavailable(r);
        return;
    }
    op->done += (long)reply->element[0]->integer;
    for (size_t i = 2; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(op->missing, json_string(reply->element[i]->str));
    /* every dead job: another batch while some are left (a list that keeps
     * growing is answered after DEAD_ROUNDS_MAX batches) */
    if (op->ids == NULL && reply->element[1]->integer > 0 && ++op->rounds < DEAD_ROUNDS_MAX &&
        dead_send(op) == 0)
        return;
    dead_reply(op);
}

/* Sends the next batch. Returns 0, or -1 (not sent: Redis is down). */
static int dead_send(struct dead_op *op)
{
    struct app *app = op->r->app;
    size_t n = op->ids ? json_array_size(op->ids) : 0;
    const char **argv = calloc(3 + n, sizeof *argv);
    char limit[16];
    int ret = -1;
    if (argv == NULL)
        return -1;
    snprintf(limit, sizeof limit, "%d", DEAD_BATCH);
    argv[0] = app->cfg.prefix;
    argv[1] = op->r->id;
    argv[2] = limit;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = json_string_value(json_array_get(op->ids, i));
    ret = rconn_script(app->redis, op->script, dead_sent_cb, op, (int)(3 + n), argv, NULL);
    free(argv);
    return ret;
}

/* The body's ids: NULL body or {} means every dead job. Returns 0 with
 * *ids (a new reference, or NULL for all), or -1 after answering 400. */
static int dead_parse_ids(struct api_req *r, const char *body, size_t len, json_t **ids)
{
    json_error_t jerr;
    json_t *doc, *list;
    *ids = NULL;
    if (len == 0)
        return 0;
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        req_reply_error(r, 400, "body: must be a JSON object {\"ids\": [...]}, or empty for every dead job");
        goto err;
    }
    list = json_object_get(doc, "ids");
    if (json_object_size(doc) > (list ? 1u : 0u)) {
        req_reply_error(r, 400, "body: only \"ids\" is accepted");
        goto err;
    }
    if (list == NULL) {
        json_decref(doc);
        return 0;
    }
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > JOB_BATCH_MAX) {
        req_reply_error(r, 400, "ids: must be an array of 1..%d job ids", JOB_BATCH_MAX);
        goto err;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_string(v) || !jobid_valid(json_string_value(v))) {
            req_reply_error(r, 400, "ids[%zu]: must be a job id (32 lowercase hex characters)", i);
            goto err;
        }
    }
    *ids = json_incref(list);
    json_decref(doc);
    return 0;
err:
    json_decref(doc);
    return -1;
}

/* Checks the request and starts the op. */
static void dead_start(struct api_req *r, enum script_id script, const char *verb)
{
    struct dead_op *op;
    const char *body;
    size_t len;
    json_t *ids;
    if (!job_queue_valid(r->id)) {
        req_reply_error(r, 404, "no queue %s (names are 1..%d of A-Z a-z 0-9 _ . : -)", r->id, JOB_QUEUE_MAX);
        return;
    }
    if (req_body(r, &body, &len) != 0 || dead_parse_ids(r, body, len, &ids) != 0)
        return;
    req_body_done(r);
    op = calloc(1, sizeof *op);
    if (op == NULL || (op->missing = json_array()) == NULL) {
        free(op);
        json_decref(ids);
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return;
    }
    op->r = r;
    op->script = script;
    op->verb = verb;
    op->ids = ids;
    if (dead_send(op) != 0) {
        dead_op_free(op);
        req_reply_unavailable(r);
    }
}

/* 200 {"queue", "total", "jobs": [job views, newest first]} from
 * SCRIPT_DEAD_LIST's reply. */
static void dead_listed_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    const redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("dead list script failed", "error=\"%s\"", reply->str);
        req_reply_unavailable(r);
        return;
    }
    json_t *jobs = json_array();
    for (size_t i = 1; jobs && i < reply->elements; i++) {
        json_t *job = jobstore_json(reply->element[i]);
        if (job && json_array_append_new(jobs, job) != 0) {
            json_decref(jobs);
            jobs = NULL;
        }
    }
    json_t *body = jobs ? json_pack("{s:s,s:I,s:o}", "queue", r->id, "total", (json_int_t)reply->element[0]->integer,
                                    "jobs", jobs)
                        : NULL;
    if (body == NULL)
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
    else
        req_reply_json(r, 200, body);
}

void dead_handle_list(struct api_req *r)
{
    char *given = req_query(r, "limit"), *end = NULL, limit[16];
    long n = DEAD_LIST_DEFAULT;
    if (given)
        n = strtol(given, &end, 10);
    bool bad = given && (end == given || *end != '\0' || n < 1 || n > DEAD_LIST_MAX);
    free(given);
    if (bad) {
        req_reply_error(r, 400, "limit: must be an integer 1..%d", DEAD_LIST_MAX);
        return;
    }
    if (!job_queue_valid(r->id)) {
        req_reply_error(r, 404, "no queue %s (names are 1..%d of A-Z a-z 0-9 _ . : -)", r->id, JOB_QUEUE_MAX);
        return;
    }
    snprintf(limit, sizeof limit, "%ld", n);
    const char *argv[3] = {r->app->cfg.prefix, r->id, limit};
    if (rconn_script(r->app->redis, SCRIPT_DEAD_LIST, dead_listed_cb, r, 3, argv, NULL) != 0)
        req_reply_unavailable(r);
}

void dead_handle_retry(struct api_req *r)
{
    dead_start(r, SCRIPT_DEAD_RETRY, "retried");
}

void dead_handle_purge(struct api_req *r)
{
    dead_start(r, SCRIPT_DEAD_PURGE, "deleted");
}
