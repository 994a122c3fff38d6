/* serve handlers: a long-lived coprocess per worker process (shared by the
 * task names bound to the same SPEC), one JSON line per job each way:
 *   → {"id","task","args","attempt","queue","timeout_ms"}
 *   ← {"id","result":…} or {"id","error":"…"}  (the request's id)
 * A coprocess that dies or answers garbage is restarted with backoff and
 * the job it held is retried like a killed worker's. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/log.h"
#include "worker/handler.h"
#include "worker/kinds.h"
#include "common/clock.h"

#define SERVE_BACKOFF_FIRST_MS 100  /* a crashed coprocess is back almost at once... */
#define SERVE_BACKOFF_MAX_MS 5000   /* ...but a crash loop does not spin the CPU */
#define SERVE_ENVELOPE_MAX 65536    /* answer bytes beyond --max-result: id, keys, an error text */
#define SERVE_GARBAGE_SHOWN 200     /* bytes of a bad answer quoted in the job's error */
#define SERVE_WAIT_POLL_MS 50       /* how soon a second SIGTERM ends a wait for a restart */

struct serve_proc {
    char *spec;              /* owned: the SPEC text, to share the coprocess */
    char **argv;             /* owned words */
    struct coproc co;
    int64_t restart_at_ms;   /* monotonic: no start before this */
    int64_t backoff_ms;      /* the last restart delay; 0 after a good answer */
    char *req;               /* owned: the request line being built */
    size_t req_cap;
};

struct serve_proc *serve_proc_new(char **words, const char *spec)
{
    struct serve_proc *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->spec = strdup(spec))) {
        free(sp);
        handler_words_free(words);
        return NULL;
    }
    sp->argv = words;
    return sp;
}

const char *serve_proc_spec(const struct serve_proc *sp)
{
    return sp->spec;
}

void serve_proc_free(struct serve_proc *sp, int64_t grace_ms)
{
    if (!sp)
        return;
    coproc_stop(&sp->co, grace_ms);
    handler_words_free(sp->argv);
    free(sp->spec);
    free(sp->req);
    free(sp);
}

int serve_proc_start(struct handlers *hs, struct serve_proc *sp, char *err, size_t errlen)
{
    if (coproc_running(&sp->co))
        return 0;
    int64_t wait = sp->restart_at_ms - clock_mono_ms();
    if (wait > 0)
        return errmsg_fail(err, errlen, "restarting in %" PRId64 " ms", wait);
    char id_env[WORKER_ID_MAX + 32];
    snprintf(id_env, sizeof id_env, "OFFLOAD_WORKER_ID=%s", hs->cfg->id);
    const char *env_extra[] = {id_env, NULL};
    const struct proc_spec spec = {(const char *const *)sp->argv, env_extra, false, handler_env_drop};
    if (coproc_start(&sp->co, &spec, err, errlen) != 0)
        return -1;
    log_info("coprocess started", "pid=%ld spec=\"%s\"", (long)sp->co.p.pid, sp->spec);
    return 0;
}

/* The coprocess is gone (or must go): stop it and let it start again after
 * a backoff that doubles while it keeps failing. */
static void serve_restart_later(struct handlers *hs, struct serve_proc *sp, bool backoff)
{
    coproc_stop(&sp->co, hs->cfg->kill_grace_ms);
    if (!backoff) {
        sp->restart_at_ms = 0;
        return;
    }
    sp->backoff_ms = sp->backoff_ms == 0 ? SERVE_BACKOFF_FIRST_MS
                     : sp->backoff_ms * 2 > SERVE_BACKOFF_MAX_MS ? SERVE_BACKOFF_MAX_MS
                                                                 : sp->backoff_ms * 2;
    sp->restart_at_ms = clock_mono_ms() + sp->backoff_ms;
}

/* Waits out a restart backoff and starts the coprocess. Returns 0, 1 when
 * told to abandon, -1 with out filled. */
static int serve_ensure(struct handlers *hs, struct serve_proc *sp, struct task_outcome *out)
{
    int st;
    if (coproc_running(&sp->co) && proc_reap(&sp->co.p, &st) == 0) {
        char why[128];
        proc_status_text(st, why, sizeof why);
        log_warn("coprocess died while idle", "spec=\"%s\" status=\"%s\"", sp->spec, why);
        serve_restart_later(hs, sp, true);
    }
    while (!coproc_running(&sp->co)) {
        if (handlers_abandon(hs))
            return 1;
        int64_t wait = sp->restart_at_ms - clock_mono_ms();
        if (wait > 0) {
            clock_sleep_ms(wait < SERVE_WAIT_POLL_MS ? wait : SERVE_WAIT_POLL_MS);
            continue;
        }
        char err[512];
        if (serve_proc_start(hs, sp, err, sizeof err) != 0) {
            serve_restart_later(hs, sp, true);
            outcome_fail(out, RUN_REQUEUE, "worker %s: cannot start the coprocess: %s", hs->cfg->id, err);
            return -1;
        }
    }
    return 0;
}

/* The request line in sp->req; its length, or 0 (out filled). */
static size_t serve_request(struct handlers *hs, struct serve_proc *sp, const struct task_call *call,
                            struct task_outcome *out)
{
    const char *args = call->args;
    size_t alen = call->args_len;
    /* The API stores compact JSON; anything else was written around it and
     * must not be spliced into the request line. */
    json_t *valid = json_loadb(args, alen, JSON_DECODE_ANY, NULL);
    json_decref(valid);
    if (!valid || memchr(args, '\n', alen)) {
        outcome_fail(out, RUN_FAILED, "args: not one line of JSON");
        return 0;
    }
    size_t need = alen + 3 * JOB_TASK_MAX + 256;
    if (need > sp->req_cap) {
        char *r = realloc(sp->req, need);
        if (!r) {
            outcome_fail(out, RUN_RETRY, "worker %s: out of memory", hs->cfg->id);
            return 0;
        }
        sp->req = r;
        sp->req_cap = need;
    }
    int n = snprintf(sp->req, sp->req_cap,
                     "{\"id\":\"%s\",\"task\":\"%s\",\"args\":%.*s,\"attempt\":%u,\"queue\":\"%s\","
                     "\"timeout_ms\":%" PRId64 "}\n",
                     call->id, call->task, (int)alen, args, call->attempt, call->queue, call->timeout_ms);
    if (n <= 0 || (size_t)n >= sp->req_cap) {
        outcome_fail(out, RUN_FAILED, "worker %s: the request line does not fit", hs->cfg->id);
        return 0;
    }
    return (size_t)n;
}

/* Reads one answer line into out. Returns 0, or -1 when it is garbage. */
static int serve_answer(struct handlers *hs, const struct task_call *call, const char *line, size_t len,
                        struct task_outcome *out)
{
    json_t *a = json_loadb(line, len, 0, NULL), *v;
    const char *id = json_string_value(json_object_get(a, "id"));
    /* the id is required: a stray line (a print() gone to stdout) must not
     * become the next job's answer */
    if (!json_is_object(a) || !id || strcmp(id, call->id) != 0)
        goto err;
    if ((v = json_object_get(a, "result")) != NULL) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            outcome_fail(out, RUN_RETRY, "worker %s: out of memory", hs->cfg->id);
        } else if (strlen(text) > hs->cfg->max_result) {
            free(text);
            outcome_fail(out, RUN_FAILED, "result over --max-result (%zu bytes)", hs->cfg->max_result);
        } else {
            out->result = text;
            out->result_len = strlen(text);
            out->result_json = true;
            out->end = RUN_DONE;
        }
    } else if ((v = json_object_get(a, "error")) != NULL) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        outcome_fail(out, RUN_FAILED, "%s", json_is_string(v) ? json_string_value(v) : text ? text : "error");
        free(text);
    } else {
        goto err;
    }
    json_decref(a);
    return 0;
err:
    json_decref(a);
    return -1;
}

void serve_run(struct handlers *hs, struct serve_proc *sp, const struct task_call *call,
               struct task_outcome *out)
{
    int rv = serve_ensure(hs, sp, out);
    if (rv != 0) {
        if (rv == 1)
            out->end = RUN_ABANDONED;
        return;
    }
    size_t req_len = serve_request(hs, sp, call, out);
    if (req_len == 0)
        return;
    const char *line;
    size_t len;
    int st = 0;
    char why[128];
    switch (coproc_call(&sp->co, sp->req, req_len, hs->cfg->max_result + SERVE_ENVELOPE_MAX,
                        call->timeout_ms, hs->cfg->kill_grace_ms, handlers_abandon, hs, &line, &len, &st)) {
    case COPROC_OK:
        if (serve_answer(hs, call, line, len, out) == 0) {
            sp->backoff_ms = 0;
            return;
        }
        log_warn("coprocess answered garbage; restarting it", "spec=\"%s\" id=%s", sp->spec, call->id);
        outcome_fail(out, RUN_RETRY, "coprocess answered garbage: %.*s", (int)(len < SERVE_GARBAGE_SHOWN ? len : SERVE_GARBAGE_SHOWN), line);
        serve_restart_later(hs, sp, true);
        return;
    case COPROC_DIED:
        proc_status_text(st, why, sizeof why);
        log_warn("coprocess died mid-job; restarting it", "spec=\"%s\" id=%s status=\"%s\"", sp->spec, call->id, why);
        outcome_fail(out, RUN_RETRY, "coprocess died mid-job (%s)", why);
        serve_restart_later(hs, sp, true);
        return;
    case COPROC_TIMEOUT:
        outcome_fail(out, RUN_FAILED, "timeout: no answer after %.3gs (coprocess restarted)",
                     (double)call->timeout_ms / 1000.0);
        serve_restart_later(hs, sp, false);
        return;
    case COPROC_OVERSIZE:
        outcome_fail(out, RUN_FAILED, "result over --max-result (%zu bytes) (coprocess restarted)",
                     hs->cfg->max_result);
        serve_restart_later(hs, sp, false);
        return;
    case COPROC_ABANDONED:
        out->end = RUN_ABANDONED;
        return;
    }
}
