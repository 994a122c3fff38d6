#ifndef OFFLOAD_LOADGEN_SUITE_H
#define OFFLOAD_LOADGEN_SUITE_H
/* `loadgen suite`: the seed's two experiments against a running stack.
 *
 * Each mode — cpu: /cpu?mode=inline|thread|queue, io: /io?mode=async|
 * blocking|thread — is loaded by --concurrency closed-loop clients for
 * --duration while a separate connection probes /healthz at --probe-rate
 * (open loop, so a stalled event loop shows in its latency). Requests still
 * in flight when the window ends are waited for (not counted), then
 * GET /queues is polled until nothing is queued or running, so one mode's
 * backlog does not leak into the next.
 *
 * Theoretical limits come from GET /info {"cores","threads","task_clock",
 * "task_ms", optional "workers_alive"} and GET /queues {"workers_alive"},
 * each overridable by a flag; the upstream delay is a flag (500ms):
 *   cpu inline   1000/task_ms                        (one event loop)
 *   cpu thread   min(threads, cores, C) x 1000/task_ms  (task clock cpu;
 *                min(threads, C) with clock wall)
 *   cpu queue    min(workers, cores, C) x 1000/task_ms  (likewise)
 *   io async     C x 1000/delay
 *   io blocking  1000/delay
 *   io thread    min(threads, C) x 1000/delay
 * req/s counts 2xx answers only. Writes a Markdown table on stdout, and
 * DIR/results.json, DIR/cpu.svg, DIR/io.svg.
 *
 * With --task NAME one more row, after the cpu ones and labelled
 * "queue, task NAME" (experiment "task"), is the seed's queue row with the
 * user's task: the clients POST /jobs?wait=60 {"task":NAME,"args":ARGS}
 * and a success is only an answer 200 whose job is "done" (a 202, not
 * finished within the wait, or a failed job is not). Its limit is
 *   task queue   min(workers, C) / task_s            (--task-s, 0.5 s)
 * with no cores term: a user task need not be CPU-bound. It is in the
 * table and results.json (with task, task_args, task_s), not in the charts,
 * whose scale and subtitle are the seed's CPU task's. */

#include <stdbool.h>
#include <stdint.h>

#include "loadgen/http_parse.h"

/* What the limits are computed from, and where each figure came from. */
struct suite_env {
    long cores, threads, workers, task_ms;
    bool wall_clock;
    int64_t delay_ms;
    double task_s; /* expected seconds per --task job */
    const char *src_cores, *src_threads, *src_workers, *src_task_ms, *src_clock;
};

/* The theoretical req/s of experiment ("cpu"|"io"|"task") / mode at `conc`
 * concurrent clients, by the table above. */
double suite_limit(const char *experiment, const char *mode, const struct suite_env *e, long conc);

/* The task row's success, for run_opts.accept: an answer 200 whose body is
 * a job in state "done". */
bool suite_job_done(const struct http_parser *p, void *arg);

/* Runs the command; returns the exit code (0 ran, 1 fatal, 2 bad flag). */
int suite_main(int argc, char **argv);

#endif
