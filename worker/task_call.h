#ifndef OFFLOAD_WORKER_TASK_CALL_H
#define OFFLOAD_WORKER_TASK_CALL_H
/* One run of a task: what goes in (task_call) and what comes out
 * (task_outcome, run_end). Shared by the handlers' interface
 * (worker/handler.h) and the kinds that run it (worker/kinds.h); it depends
 * on neither (task_outcome_clear, which frees an outcome, is in handler.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/task.h"

#define HANDLER_ERROR_MAX 4096 /* bytes of a run's error message kept for the job */

/* One job to run, as SCRIPT_START gave it. Every pointer is borrowed for
 * the duration of handlers_run. */
struct task_call {
    const char *id;
    const char *task;
    const char *queue;
    const char *args;    /* compact JSON text, never empty ("null" for a job without args) */
    size_t args_len;
    const char *payload; /* burn's */
    size_t payload_len;
    int ms;              /* burn's */
    unsigned attempt;
    int64_t timeout_ms;  /* this run's limit (the job's, else --task-timeout) */
};

/* How a run ended: what the worker reports. RUN_FAILED is the zero value,
 * so a path that forgets to say never reports success. */
enum run_end {
    RUN_FAILED,    /* the task failed (error, timeout, oversized output): a failed attempt,
                      retried after its backoff while attempts remain, else dead */
    RUN_DONE,      /* finished: result below */
    RUN_RETRY,     /* ended like a crash (no handler, a coprocess died): a failed attempt
                      too, remembered as a crash in the job's history */
    RUN_REQUEUE,   /* never reached the task (its process could not start): back on the
                      queue, the attempt not counted; the worker pauses before its next job */
    RUN_ABANDONED, /* the worker's second stop signal: the job goes back, the worker stops */
};

struct task_outcome {
    enum run_end end;
    char *result;        /* owned (task_outcome_clear frees): output, NULL for none */
    size_t result_len;
    bool result_json;    /* result is JSON text, else plain text */
    bool has_burn;       /* burn's figures below are the result */
    struct task_result burn;
    bool exit_after;     /* report, then stop this process (a plugin run would not stop) */
    bool no_handler;     /* RUN_RETRY because this worker serves no such task */
    char error[HANDLER_ERROR_MAX]; /* why, when not RUN_DONE */
};

#endif
