#include "api/jobs.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/jobreq.h"
#include "api/jobstore.h"
#include "api/qstats.h"
#include "common/rconn.h"
#include "api/req.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/jobid.h"

#define WAIT_MAX_S 300.0 /* a long-poll longer than 5 minutes belongs to a webhook */

/* Reads ?wait=S into *wait_ms. Returns 0, or -1 after answering 400. */
static int jobs_wait_param(struct api_req *r, int64_t *wait_ms)
{
    if (req_wait_ms(r, WAIT_MAX_S, wait_ms) == 0)
        return 0;
    req_reply_error(r, 400, "wait: must be a number of seconds in 0..%g", WAIT_MAX_S);
    return -1;
}

/* Parses the body into specs (*specs owned by the caller: job_specs_free).
 * Returns 0, or -1 after answering r. */
static int jobs_parse(struct api_req *r, const char *body, size_t len, struct job_spec **specs, size_t *n,
                      bool *batch)
{
    char err[256];
    if (job_parse_body(body, len, specs, n, batch, err, sizeof err) != 0) {
        req_reply_error(r, 400, "%s", err);
        return -1;
    }
    req_body_done(r); /* the specs own copies: a long-poll holds no body */
    return 0;
}

/* The Idempotency-Key header, for a single job: the same rules as the body's
 * "key". Returns 0 (copied into specs[0].key when present), or -1 after
 * answering 400. */
static int jobs_idempotency_key(struct api_req *r, struct job_spec *specs, bool batch)
{
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Idempotency-Key");
    if (key == NULL)
        return 0;
    if (batch) {
        req_reply_error(r, 400, "Idempotency-Key: not for a batch; give each element its own \"key\"");
        return -1;
    }
    if (specs[0].key[0]) {
        req_reply_error(r, 400, "Idempotency-Key: give the header or the body's \"key\", not both");
        return -1;
    }
    if (!job_key_valid(key)) {
        req_reply_error(r, 400, "Idempotency-Key: must be 1..%d printable ASCII characters without spaces",
                        JOB_KEY_ID_MAX);
        return -1;
    }
    snprintf(specs[0].key, sizeof specs[0].key, "%s", key);
    return 0;
}

void jobs_handle_post(struct api_req *r)
{
    struct job_spec *specs = NULL;
    size_t n = 0, len;
    bool batch = false;
    int64_t wait_ms = 0;
    const char *body;
    if (req_body(r, &body, &len) != 0 || jobs_wait_param(r, &wait_ms) != 0 ||
        jobs_parse(r, body, len, &specs, &n, &batch) != 0)
        return;
    if (jobs_idempotency_key(r, specs, batch) != 0)
        ; /* answered */
    else if (batch && wait_ms > 0)
        req_reply_error(r, 400, "wait: not supported for a batch; wait on each id with GET /jobs/{id}?wait=S");
    else if (!rconn_ready(r->app->redis))
        req_reply_unavailable(r);
    else
        jobreq_submit(r, specs, n, batch, wait_ms);
    job_specs_free(specs, n);
}

void jobs_run_and_wait(struct api_req *r, int ms, int64_t timeout_ms)
{
    struct job_spec spec = {.ms = ms, .payload = (char *)"", .args = (char *)"", .delay_ms = -1,
                            .max_attempts = JOB_ATTEMPTS_DEFAULT, .task = JOB_TASK_DEFAULT};
    snprintf(spec.queue, sizeof spec.queue, "%s", JOB_QUEUE_DEFAULT);
    if (!rconn_ready(r->app->redis)) {
        req_reply_unavailable(r);
        return;
    }
    jobreq_run(r, &spec, timeout_ms);
}

void jobs_handle_get(struct api_req *r)
{
    int64_t wait_ms;
    if (jobs_wait_param(r, &wait_ms) != 0)
        return;
    if (!jobid_valid(r->id))
        req_reply_no_job(r, r->id, "ids are 32 lowercase hex characters");
    else if (!rconn_ready(r->app->redis))
        req_reply_unavailable(r);
    else
        jobreq_get(r, wait_ms);
}

static void jobs_cancelled_cb(redisAsyncContext *ac, void *rep, void *priv)
{
    struct api_req *r = priv;
    redisReply *reply = rep;
    (void)ac;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        req_reply_unavailable(r);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        req_reply_json(r, 200, json_pack("{s:s,s:s}", "id", r->id, "state", "cancelled"));
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        req_reply_no_job(r, r->id, "unknown or expired");
    } else {
        const char *st = reply->type == REDIS_REPLY_STRING ? reply->str : "unknown";
        req_reply_json(r, 409,
                       json_pack("{s:s,s:s,s:s}", "error", "only a queued or scheduled job can be cancelled", "id", r->id,
                                 "state", st));
    }
}

void jobs_handle_delete(struct api_req *r)
{
    struct app *app = r->app;
    if (!jobid_valid(r->id))
        req_reply_no_job(r, r->id, "ids are 32 lowercase hex characters");
    else if (jobstore_cancel(app->redis, app->cfg.prefix, r->id, app->cfg.result_ttl_ms, jobs_cancelled_cb, r) != 0)
        req_reply_unavailable(r);
}

static void jobs_queues_fn(void *arg, const struct qstats_view *v)
{
    struct api_req *r = arg;
    if (v == NULL)
        req_reply_unavailable(r);
    else
        req_reply_json(r, 200, json_incref(v->body));
}

void jobs_handle_queues(struct api_req *r)
{
    qstats_get(r->app->qstats, jobs_queues_fn, r);
}
