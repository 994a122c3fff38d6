#ifndef OFFLOAD_WORKER_HANDLER_H
#define OFFLOAD_WORKER_HANDLER_H
/* The handlers' room: what runs a job's task. `--task NAME=KIND:SPEC` binds
 * a task name to one of
 *   burn             the built-in CPU task (always there, as "burn")
 *   exec:CMD ARG…    one process per job: args on stdin, result on stdout
 *   serve:CMD ARG…   a long-lived coprocess speaking one JSON line per job
 *   plugin:FILE.so   C code in this process (include/offload/plugin.h)
 * and handlers_run runs one job through the handler of its task, bounded by
 * its timeout, and says how the run ended. */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/settings.h"
#include "worker/task_call.h"

struct handlers;

/* Builds the handlers of cfg->tasks (each entry may hold several, one per
 * line, as the WORKER_TASKS variable does): resolves commands in PATH,
 * loads plugins and checks their ABI, and when `init` calls their init (a
 * check of the flags before forking passes false). stops is the worker's
 * signal count (2 = abandon the running job). Returns the set
 * (handlers_free), or NULL with err naming the bad entry. */
struct handlers *handlers_new(const struct worker_config *cfg, volatile sig_atomic_t *stops,
                              bool init, char *err, size_t errlen);
/* Starts every serve coprocess now, so the first job does not wait for one
 * (a failure is logged; it is retried when a job needs it). */
void handlers_start(struct handlers *h);
/* Stops every coprocess, calls the plugins' fini, frees h. NULL is fine. */
void handlers_free(struct handlers *h);
/* "burn,resize,thumbs": the task names h serves, for the worker's record. */
const char *handlers_names(const struct handlers *h);
/* True when a plugin is loaded (then the process runs supervised). */
bool handlers_have_plugin(const struct handlers *h);
/* True when a run's thread was left running (abandoned, or a plugin run that
 * would not stop): the process must end with _exit, so that no library
 * destructor runs under that thread. */
bool handlers_thread_left(const struct handlers *h);

/* Runs call through the handler of call->task and fills *out (cleared
 * first). A task no handler serves is RUN_RETRY with an error naming the
 * task and this worker. Never blocks past the run's timeout plus the kill
 * grace, except a plugin's run (see plugin.h). */
void handlers_run(struct handlers *h, const struct task_call *call, struct task_outcome *out);
void task_outcome_clear(struct task_outcome *out);

/* What a task process does not inherit from the worker's environment: the
 * worker's own settings, which hold Redis's password and the API's token. */
extern const char *const handler_env_drop[];

/* Splits SPEC into words like a shell without expansions: blanks separate,
 * '…' and "…" quote, \ escapes outside '…'. Returns a NULL-terminated
 * malloc'd vector of malloc'd words (handler_words_free), or NULL with err
 * set (empty, an unclosed quote, out of memory). */
char **handler_words(const char *spec, char *err, size_t errlen);
void handler_words_free(char **words);

/* Fills out->result from a run's output: trailing newlines dropped; JSON
 * when it parses as JSON, else text; nothing left = no result. Takes
 * ownership of buf (malloc'd, may be NULL). */
void handler_take_output(struct task_outcome *out, char *buf, size_t len);

#endif
