/* exec handlers: one process per job. The job's args go to its stdin, its
 * stdout is the result, exit 0 is done. Nothing from a job reaches argv or
 * a shell: the command and its arguments are the operator's SPEC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "worker/handler.h"
#include "worker/kinds.h"

#define ENV_VALUE_MAX 160 /* "OFFLOAD_QUEUE=" + a queue name, with room */

void exec_run(struct handlers *hs, const struct handler *h, const struct task_call *call,
              struct task_outcome *out)
{
    char env[5][ENV_VALUE_MAX];
    snprintf(env[0], sizeof env[0], "OFFLOAD_JOB_ID=%s", call->id);
    snprintf(env[1], sizeof env[1], "OFFLOAD_TASK=%s", call->task);
    snprintf(env[2], sizeof env[2], "OFFLOAD_ATTEMPT=%u", call->attempt);
    snprintf(env[3], sizeof env[3], "OFFLOAD_QUEUE=%s", call->queue);
    snprintf(env[4], sizeof env[4], "OFFLOAD_WORKER_ID=%s", hs->cfg->id);
    const char *env_extra[] = {env[0], env[1], env[2], env[3], env[4], NULL};
    const struct proc_spec spec = {(const char *const *)h->argv, env_extra, true, handler_env_drop};
    struct proc_run_out o;
    if (proc_run(&spec, call->args, call->args_len, hs->cfg->max_result, call->timeout_ms, hs->cfg->kill_grace_ms,
                 handlers_abandon, hs, &o) != 0) {
        outcome_fail(out, RUN_RETRY, "worker %s: out of memory running %s", hs->cfg->id, h->argv[0]);
        return;
    }
    char status[128];
    while (o.err_tail_len > 0 && (o.err_tail[o.err_tail_len - 1] == '\n' || o.err_tail[o.err_tail_len - 1] == '\r'))
        o.err_tail[--o.err_tail_len] = '\0';
    switch (o.end) {
    case PROC_EXITED:
        if (WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) {
            handler_take_output(out, o.out, o.out_len);
            o.out = NULL;
            out->end = RUN_DONE;
            break;
        }
        proc_status_text(o.status, status, sizeof status);
        outcome_fail(out, RUN_FAILED, "%s%s%s", status, o.err_tail_len ? ": " : "", o.err_tail);
        break;
    case PROC_TIMEOUT:
        outcome_fail(out, RUN_FAILED, "timeout: still running after %.3gs (process group stopped)%s%s",
                     (double)call->timeout_ms / 1000.0, o.err_tail_len ? ": " : "", o.err_tail);
        break;
    case PROC_OVERSIZE:
        outcome_fail(out, RUN_FAILED, "result over --max-result (%zu bytes): output cut off, process group stopped",
                     hs->cfg->max_result);
        break;
    case PROC_ABANDONED:
        out->end = RUN_ABANDONED;
        break;
    case PROC_NOSTART: /* the command never ran: not the job's fault */
        outcome_fail(out, RUN_REQUEUE, "worker %s: %s", hs->cfg->id, o.err_tail);
        break;
    }
    free(o.out);
}
