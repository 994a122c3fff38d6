/* The built-in CPU task (the seed's experiment) as a handler: short runs on
 * the worker's thread, longer ones on a task thread that a timeout stops. */
#include <stdlib.h>
#include <string.h>

#include "worker/kinds.h"
#include "worker/tthread.h"

#define BURN_INLINE_MAX_MS 20 /* shorter runs stay on the worker's thread: a second SIGTERM waits for them */

/* One burn run shared with its thread (see tthread.h). */
struct burn {
    struct tthread t; /* first: the run is freed through it */
    int ms;
    enum task_clock clock;
    char *payload;    /* owned */
    size_t len;
    struct task_result result;
};

static void burn_work(struct tthread *t)
{
    struct burn *b = (struct burn *)t;
    task_run_cancellable(b->ms, b->clock, b->payload, b->len, &t->cancel, &b->result);
}

static void burn_destroy(struct tthread *t)
{
    struct burn *b = (struct burn *)t;
    free(b->payload);
    free(b);
}

/* A burn run holding a copy of the payload, or NULL. */
static struct burn *burn_new(const struct handlers *hs, const struct task_call *call)
{
    struct burn *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->payload = malloc(call->payload_len + 1);
    if (!b->payload || tthread_init(&b->t, burn_work, burn_destroy, hs->cfg->task_nice) != 0) {
        free(b->payload);
        free(b);
        return NULL;
    }
    memcpy(b->payload, call->payload, call->payload_len);
    b->payload[call->payload_len] = '\0';
    b->ms = call->ms;
    b->clock = hs->cfg->clock;
    b->len = call->payload_len;
    return b;
}

void burn_run(struct handlers *hs, const struct task_call *call, struct task_outcome *out)
{
    if (call->ms < 0 || call->ms > JOB_MS_MAX) {
        outcome_fail(out, RUN_FAILED, "invalid ms in job");
        return;
    }
    if (call->ms <= BURN_INLINE_MAX_MS) {
        task_run(call->ms, hs->cfg->clock, call->payload, call->payload_len, &out->burn);
        out->has_burn = true;
        out->end = RUN_DONE;
        return;
    }
    struct burn *b = burn_new(hs, call);
    if (!b) {
        outcome_fail(out, RUN_RETRY, "worker %s: out of memory for the task", hs->cfg->id);
        return;
    }
    enum tthread_end end = tthread_go(&b->t, hs->runner, call->timeout_ms, hs->cfg->kill_grace_ms, hs->stops);
    switch (end) {
    case TTHREAD_DONE:
        out->burn = b->result;
        out->has_burn = true;
        out->end = RUN_DONE;
        break;
    case TTHREAD_LATE:
    case TTHREAD_STUCK: /* burn checks its stop every chunk: not seen in practice */
        outcome_fail(out, RUN_FAILED, "timeout: still running after %.3gs (stopped)",
                     (double)call->timeout_ms / 1000.0);
        break;
    case TTHREAD_ABANDONED:
        out->end = RUN_ABANDONED;
        break;
    case TTHREAD_NOSTART:
        outcome_fail(out, RUN_RETRY, "worker %s: cannot start a task thread", hs->cfg->id);
        break;
    }
    tthread_unref(&b->t);
}
