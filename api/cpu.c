#include "api/cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/jobs.h"
#include "api/pool.h"
#include "api/req.h"
#include "api/serial.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/task.h"

#define CPU_QUEUE_WAIT_MS 120000 /* a deep queue at 100 clients takes ~25 s to drain; leave room */

struct cpu_work {
    struct api_req *r;
    atomic_bool cancelled; /* set on the loop when the client leaves; read by the pool thread */
    bool ran;
    int ms;
    enum task_clock clock;
    struct task_result res;
};

static json_t *cpu_result_json(const char *mode, const struct task_result *res)
{
    char digest[17];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)res->digest);
    return json_pack("{s:s,s:s,s:I,s:f,s:f}", "mode", mode, "digest", digest, "iterations",
                     (json_int_t)res->iterations, "cpu_ms", res->cpu_ms, "wall_ms", res->wall_ms);
}

static void cpu_work_run(void *arg)
{
    struct cpu_work *w = arg;
    if (atomic_load(&w->cancelled))
        return; /* the client left while this waited for a thread */
    task_run(w->ms, w->clock, "", 0, &w->res);
    w->ran = true;
}

static void cpu_work_done(void *arg)
{
    struct cpu_work *w = arg;
    struct api_req *r = w->r;
    bool ran = w->ran;
    json_t *body = ran ? cpu_result_json("thread", &w->res) : NULL;
    free(w);
    if (ran)
        req_reply_json(r, 200, body);
    else
        req_reply_error(r, 499, "client closed the request");
}

/* The pool still owns the work: only flag it. */
static void cpu_work_gone(struct api_req *r)
{
    struct cpu_work *w = r->data;
    atomic_store(&w->cancelled, true);
}

/* On the loop: the anti-pattern itself. */
static void cpu_inline_run(void *arg)
{
    struct cpu_work *w = arg;
    struct api_req *r = w->r;
    if (req_client_gone(r)) { /* nobody waits for this one: don't stall the loop for it */
        free(w);
        req_reply_error(r, 499, "client closed the request");
        return;
    }
    task_run(w->ms, w->clock, "", 0, &w->res);
    json_t *body = cpu_result_json("inline", &w->res);
    free(w);
    req_reply_json(r, 200, body);
}

/* Work of `ms` for request r, owned by the caller until handed to the
 * serial queue or the pool; NULL after answering r 503 (out of memory). */
static struct cpu_work *cpu_work_new(struct api_req *r, long ms)
{
    struct cpu_work *w = calloc(1, sizeof *w);
    if (w == NULL) {
        req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        return NULL;
    }
    w->r = r;
    w->ms = (int)ms;
    w->clock = r->app->clock;
    return w;
}

void cpu_handle(struct api_req *r)
{
    char *mode = req_query(r, "mode");
    char *mss = req_query(r, "ms");
    const char *m = mode ? mode : "inline";
    long ms = JOB_MS_DEFAULT;
    int64_t wait_ms = 0;
    if (mss) {
        char *end;
        ms = strtol(mss, &end, 10);
        if (end == mss || *end != '\0' || ms < 0 || ms > JOB_MS_MAX) {
            req_reply_error(r, 400, "ms: must be an integer in 0..%d", JOB_MS_MAX);
            goto out;
        }
    }
    if (strcmp(m, "inline") == 0) {
        struct cpu_work *w = cpu_work_new(r, ms);
        if (w == NULL)
            goto out;
        if (serial_submit(r->app->serial, cpu_inline_run, w) != 0) {
            free(w);
            req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
        }
    } else if (strcmp(m, "thread") == 0) {
        struct cpu_work *w = cpu_work_new(r, ms);
        if (w == NULL)
            goto out;
        if (pool_submit(r->app->pool, cpu_work_run, cpu_work_done, w) != 0) {
            free(w);
            req_reply_error(r, 503, MSG_OUT_OF_MEMORY);
            goto out;
        }
        r->data = w;
        req_on_gone(r, cpu_work_gone);
    } else if (strcmp(m, "queue") == 0) {
        if (req_wait_ms(r, 600, &wait_ms) != 0) {
            req_reply_error(r, 400, "wait: must be a number of seconds in 0..600");
            goto out;
        }
        jobs_run_and_wait(r, (int)ms, wait_ms ? wait_ms : CPU_QUEUE_WAIT_MS);
    } else {
        req_reply_error(r, 400, "mode: must be one of inline, thread, queue");
    }
out:
    free(mode);
    free(mss);
}
