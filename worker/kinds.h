#ifndef OFFLOAD_WORKER_KINDS_H
#define OFFLOAD_WORKER_KINDS_H
/* Inside the handlers' room: the kinds, the handler set and one function
 * family per kind (h_burn.c, h_exec.c, h_serve.c, h_plugin.c). Only
 * handler.c and the kinds include this; the worker sees worker/handler.h.
 * This does not include handler.h (handler.c includes this): a run's types
 * come from worker/task_call.h, and a kind that uses handler.h's shared
 * helpers (the SPEC words, the output rule) includes it itself. */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/job.h"
#include "worker/coproc.h"
#include "worker/proc.h"
#include "worker/prun.h"
#include "worker/settings.h"
#include "worker/task_call.h"
#include "worker/tthread.h"

#define HANDLER_MAX (OPT_LIST_MAX + 1) /* every --task, plus burn */

enum handler_kind {
    HANDLER_BURN,   /* the built-in CPU task */
    HANDLER_EXEC,   /* a process per job */
    HANDLER_SERVE,  /* a coprocess per worker process, one line per job */
    HANDLER_PLUGIN, /* a shared object in this process */
};

struct serve_proc;
struct plugin_lib;

/* One task name bound to a handler. */
struct handler {
    char name[JOB_TASK_MAX + 1];
    enum handler_kind kind;
    char **argv;              /* exec: owned words, argv[0] resolved */
    struct serve_proc *serve; /* serve: shared by names with the same SPEC; owned by the set */
    struct plugin_lib *lib;   /* plugin: shared by names with the same FILE; owned by the set */
};

struct handlers {
    const struct worker_config *cfg;
    volatile sig_atomic_t *stops; /* 2 = abandon the running job */
    struct handler h[HANDLER_MAX];
    size_t n;
    struct serve_proc *serves[HANDLER_MAX];
    size_t nserves;
    struct plugin_lib *libs[HANDLER_MAX];
    size_t nlibs;
    char names[HANDLER_MAX * (JOB_TASK_MAX + 1)];
    bool thread_left; /* a run's thread was left running: plugins must stay loaded */
    bool init;        /* plugins' init was called (not a check of the flags) */
    struct tthread_runner *runner; /* owned: the thread burn and plugin runs go on */
};

/* True once the worker was told to drop the running job. */
bool handlers_abandon(void *hs);
/* Writes "<what>: <error>" into out->error and sets out->end. */
void outcome_fail(struct task_outcome *out, enum run_end end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void burn_run(struct handlers *hs, const struct task_call *call, struct task_outcome *out);

void exec_run(struct handlers *hs, const struct handler *h, const struct task_call *call,
              struct task_outcome *out);

/* A coprocess for the serve SPEC words (taken: owned by the result), or
 * NULL on OOM (words freed). */
struct serve_proc *serve_proc_new(char **words, const char *spec);
const char *serve_proc_spec(const struct serve_proc *sp);
/* Starts the coprocess unless it runs or waits out a restart backoff. 0 or -1. */
int serve_proc_start(struct handlers *hs, struct serve_proc *sp, char *err, size_t errlen);
void serve_proc_free(struct serve_proc *sp, int64_t grace_ms);
void serve_run(struct handlers *hs, struct serve_proc *sp, const struct task_call *call,
               struct task_outcome *out);

/* dlopen()s path, checks its ABI, and calls its init when `init`. NULL
 * with err set. */
struct plugin_lib *plugin_lib_open(const char *path, bool init, char *err, size_t errlen);
const char *plugin_lib_path(const struct plugin_lib *lib);
/* Calls fini (if init was called) and dlclose()s. */
void plugin_lib_close(struct plugin_lib *lib);
void plugin_run(struct handlers *hs, struct plugin_lib *lib, const struct task_call *call,
                struct task_outcome *out);

#endif
