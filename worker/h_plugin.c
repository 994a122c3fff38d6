/* plugin handlers: C tasks in this process through include/offload/plugin.h.
 * A run goes on a task thread; past its timeout it is asked to stop, and one
 * that ignores that for a grace is reported failed and the process exits
 * (its supervisor starts a fresh one: a thread cannot be killed safely). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/defaults.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "include/offload/plugin.h"
#include "worker/handler.h"
#include "worker/kinds.h"
#include "worker/tthread.h"

#define PLUGIN_SYMBOL "offload_plugin"
#define PLUGIN_ERR_MAX 1024 /* bytes of a plugin's fail() message kept */

struct plugin_lib {
    char *path;                      /* owned */
    bool inited;                     /* init was called: fini is due */
    void *dl;                        /* dlopen handle */
    const struct offload_plugin *pl; /* inside dl */
};

/* What a run writes (struct offload_out of the ABI). */
struct offload_out {
    char *buf;           /* owned; one byte of room beyond len for a NUL */
    size_t len, cap, max;
    bool over;           /* a write passed max */
    bool oom;            /* a write found no memory */
    char err[PLUGIN_ERR_MAX];
    const atomic_int *cancel;
};

/* One plugin run shared with its thread. */
struct plugin_run {
    struct tthread t;    /* first: the run is freed through it */
    const struct offload_plugin *pl;
    char *args;          /* owned copies: the thread may outlive the worker's call */
    char id[64], task[JOB_TASK_MAX + 1], queue[JOB_QUEUE_MAX + 1];
    struct offload_job job;
    struct offload_out out;
    int rv;
};

static int host_write(struct offload_out *o, const void *buf, size_t len)
{
    if (o->over || o->oom || len > o->max - o->len) {
        o->over = true;
        return -1;
    }
    if (o->len + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + len + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->oom = true;
            return -1;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, buf, len);
    o->len += len;
    return 0;
}

static void host_fail(struct offload_out *o, const char *message)
{
    snprintf(o->err, sizeof o->err, "%s", message ? message : "failed");
}

static int host_cancelled(struct offload_out *o)
{
    return atomic_load(o->cancel);
}

static const struct offload_host plugin_host = {sizeof plugin_host, host_write, host_fail, host_cancelled};

struct plugin_lib *plugin_lib_open(const char *path, bool init, char *err, size_t errlen)
{
    struct plugin_lib *lib = calloc(1, sizeof *lib);
    if (!lib || !(lib->path = strdup(path))) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        goto err;
    }
    lib->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib->dl) {
        errmsg_fail(err, errlen, "plugin: %s", dlerror());
        goto err;
    }
    lib->pl = dlsym(lib->dl, PLUGIN_SYMBOL);
    if (!lib->pl) {
        errmsg_fail(err, errlen, "plugin %s: no symbol %s (use OFFLOAD_PLUGIN_DEFINE)", path, PLUGIN_SYMBOL);
        goto err;
    }
    if (lib->pl->abi != OFFLOAD_PLUGIN_ABI || !lib->pl->run) {
        errmsg_fail(err, errlen, "plugin %s: ABI %u, this worker speaks %d", path, lib->pl->abi, OFFLOAD_PLUGIN_ABI);
        goto err;
    }
    if (!init)
        return lib;
    if (lib->pl->init && lib->pl->init() != 0) {
        errmsg_fail(err, errlen, "plugin %s: init failed", path);
        goto err;
    }
    lib->inited = true;
    log_info("plugin loaded", "path=\"%s\" name=\"%s\"", path, lib->pl->name ? lib->pl->name : "");
    return lib;
err:
    if (lib && lib->dl)
        dlclose(lib->dl);
    if (lib)
        free(lib->path);
    free(lib);
    return NULL;
}

const char *plugin_lib_path(const struct plugin_lib *lib)
{
    return lib->path;
}

void plugin_lib_close(struct plugin_lib *lib)
{
    if (lib->inited && lib->pl->fini)
        lib->pl->fini();
    dlclose(lib->dl);
    free(lib->path);
    free(lib);
}

static void plugin_work(struct tthread *t)
{
    struct plugin_run *r = (struct plugin_run *)t;
    r->rv = r->pl->run(&r->job, &plugin_host, &r->out);
}

static void plugin_destroy(struct tthread *t)
{
    struct plugin_run *r = (struct plugin_run *)t;
    free(r->out.buf);
    free(r->args);
    free(r);
}

/* A run holding copies of the job's fields, or NULL. */
static struct plugin_run *plugin_run_new(const struct handlers *hs, struct plugin_lib *lib,
                                         const struct task_call *call)
{
    struct plugin_run *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->args = strndup(call->args, call->args_len);
    if (!r->args || tthread_init(&r->t, plugin_work, plugin_destroy, hs->cfg->task_nice) != 0) {
        free(r->args);
        free(r);
        return NULL;
    }
    r->pl = lib->pl;
    snprintf(r->id, sizeof r->id, "%s", call->id);
    snprintf(r->task, sizeof r->task, "%s", call->task);
    snprintf(r->queue, sizeof r->queue, "%s", call->queue);
    r->job = (struct offload_job){r->id, r->task, r->queue, r->args, call->args_len, call->attempt, call->timeout_ms};
    r->out.max = hs->cfg->max_result;
    r->out.cancel = &r->t.cancel;
    return r;
}

void plugin_run(struct handlers *hs, struct plugin_lib *lib, const struct task_call *call,
                struct task_outcome *out)
{
    struct plugin_run *r = plugin_run_new(hs, lib, call);
    if (!r) {
        outcome_fail(out, RUN_RETRY, "worker %s: out of memory for the task", hs->cfg->id);
        return;
    }
    double secs = (double)call->timeout_ms / 1000.0;
    switch (tthread_go(&r->t, hs->runner, call->timeout_ms, hs->cfg->kill_grace_ms, hs->stops)) {
    case TTHREAD_DONE:
        if (r->out.oom)
            outcome_fail(out, RUN_RETRY, "worker %s: out of memory for the result", hs->cfg->id);
        else if (r->out.over)
            outcome_fail(out, RUN_FAILED, "result over --max-result (%zu bytes)", hs->cfg->max_result);
        else if (r->rv != 0 && r->out.err[0])
            outcome_fail(out, RUN_FAILED, "%s", r->out.err);
        else if (r->rv != 0)
            outcome_fail(out, RUN_FAILED, "plugin returned %d", r->rv);
        else {
            handler_take_output(out, r->out.buf, r->out.len);
            r->out.buf = NULL;
            out->end = RUN_DONE;
        }
        break;
    case TTHREAD_LATE:
        outcome_fail(out, RUN_FAILED, "timeout: still running after %.3gs (stopped)", secs);
        break;
    case TTHREAD_STUCK:
        outcome_fail(out, RUN_FAILED, "timeout: still running after %.3gs and did not stop; worker %s restarts",
                     secs, hs->cfg->id);
        out->exit_after = true;
        hs->thread_left = true;
        break;
    case TTHREAD_ABANDONED:
        out->end = RUN_ABANDONED;
        hs->thread_left = true;
        break;
    case TTHREAD_NOSTART:
        outcome_fail(out, RUN_RETRY, "worker %s: cannot start a task thread", hs->cfg->id);
        break;
    }
    tthread_unref(&r->t);
}
