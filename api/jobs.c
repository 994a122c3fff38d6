#include "api/jobs.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/jobreq.h"
#include "api/jobstore.h"
#include "api/qstats.h"
#include "api/rconn.h"
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

/* Parses the body of `len` bytes into specs (*specs owned by the caller:
 * job_specs_free). Returns 0, or -1 after answering r. */
static int jobs_parse(struct api_req *r, size_t len, struct job_spec **specs, size_t *n, bool *batch)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    char err[256];
    if (len && body == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return -1;
    }
    if (job_parse_body(body, len, specs, n, batch, err, sizeof err) != 0) {
        req_reply_error(r, 400, "%s", err);
        return -1;
    }
    evbuffer_drain(in, len); /* the specs own copies: a long-poll holds no body */
    return 0;
}

void jobs_handle_post(struct api_req *r)
{
    size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(r->req));
    struct job_spec *specs = NULL;
    size_t n = 0;
    bool batch = false;
    int64_t wait_ms = 0;
    if ((long)len > r->app->cfg.max_body) {
        req_reply_error(r, 413, "body of %zu bytes is over --max-body (%ld bytes)", len, r->app->cfg.max_body);
        return;
    }
    if (jobs_wait_param(r, &wait_ms) != 0 || jobs_parse(r, len, &specs, &n, &batch) != 0)
        return;
    if (batch && wait_ms > 0)
        req_reply_error(r, 400, "wait: not supported for a batch; wait on each id with GET /jobs/{id}?wait=S");
    else if (!rconn_ready(r->app->redis))
        req_reply_unavailable(r);
    else
        jobreq_submit(r, specs, n, batch, wait_ms);
    job_specs_free(specs, n);
}

void jobs_run_and_wait(struct api_req *r, int ms, int64_t timeout_ms)
{
    struct job_spec spec = {.ms = ms, .payload = (char *)"", .args = (char *)"",
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
                       json_pack("{s:s,s:s,s:s}", "error", "only a queued job can be cancelled", "id", r->id,
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
