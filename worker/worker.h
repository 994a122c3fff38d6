#ifndef OFFLOAD_WORKER_WORKER_H
#define OFFLOAD_WORKER_WORKER_H
/* The job loop of one worker process: reliable fetch (BLMOVE into its wip
 * list), SCRIPT_START, the CPU task on a thread of its own, SCRIPT_FINISH;
 * registration in <prefix>workers, a heartbeat thread that also reaps dead
 * workers, reconnects after Redis restarts, and graceful shutdown. */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/task.h"
#include "common/url.h"

#define WORKER_ID_MAX 64        /* [A-Za-z0-9_.:-]: safe inside key and client names and logs */
#define WORKER_QUEUES_MAX 16    /* more priority levels than anyone should need */
#define WORKER_QUEUES_BUF 1088  /* WORKER_QUEUES_MAX names of JOB_QUEUE_MAX bytes plus commas */
#define WORKER_PREFIX_MAX 64    /* keeps every key and client name short and bounded */
#define WORKER_KEY_MAX 256      /* prefix + fixed words + an id or a queue name, with room */
#define WORKER_REAP_PERIOD_MS 250 /* how often some worker looks for dead ones */

struct worker_config {
    struct redis_url redis;
    char prefix[WORKER_PREFIX_MAX + 1];
    char queue_buf[WORKER_QUEUES_BUF];  /* storage for queues[] */
    const char *queues[WORKER_QUEUES_MAX]; /* priority order: queues[0] first */
    size_t nqueues;
    int64_t lease_ms;      /* a heartbeat older than this means dead */
    int64_t heartbeat_ms;  /* heartbeat period */
    int64_t result_ttl_s;  /* EXPIRE on finished jobs */
    enum task_clock clock;
    int task_nice;         /* niceness of the task threads, 0..19 */
    char id[WORKER_ID_MAX + 1];
};

/* Parses "high,default,low" into cfg->queues (copied into cfg->queue_buf).
 * Returns 0, or -1 with err naming the bad entry (empty, invalid, too many). */
int worker_queues_parse(struct worker_config *cfg, const char *list, char *err, size_t errlen);
/* True for 1..WORKER_ID_MAX chars of [A-Za-z0-9_.:-]. */
bool worker_id_valid(const char *id);
/* Writes the default id "<hostname>-<pid>-<4 random hex>" into buf. Returns 0 or -1. */
int worker_id_default(char *buf, size_t len);
/* The CLIENT SETNAME of a worker's connections: "<prefix>worker:<id>".
 * Returns the length, or -1 when it does not fit. */
int worker_client_name(char *buf, size_t len, const char *prefix, const char *id);

/* Runs the worker until *stop_requests becomes 1 (finish the current job,
 * report it, deregister) or 2 while a job runs (put it back on its queue and
 * return at once). Redis outages are waited out, never fatal. Returns 0 on a
 * clean stop, 1 when the worker could not run (a thread or memory failure).
 * cfg and stop_requests are borrowed; the signal handler increments the latter. */
int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop_requests);

#endif
