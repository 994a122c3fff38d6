#ifndef OFFLOAD_WORKER_SETTINGS_H
#define OFFLOAD_WORKER_SETTINGS_H
/* A worker's settings (parsed by main from flags and environment) and the
 * helpers that name a worker: its id, its Redis client name, its queues. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/job.h"
#include "common/task.h"
#include "common/url.h"

#define WORKER_ID_MAX 64        /* [A-Za-z0-9_.:-]: safe inside key and client names and logs */
#define WORKER_QUEUES_MAX 16    /* more priority levels than anyone should need */
#define WORKER_QUEUES_BUF 1088  /* WORKER_QUEUES_MAX names of JOB_QUEUE_MAX bytes plus commas */
#define WORKER_REAP_PERIOD_MS 250 /* how often some worker looks for dead ones */
#define WORKER_PREFETCH_MAX 64  /* jobs a worker may hold at once (--prefetch) */
#define WORKER_PREFETCH_DEFAULT 16 /* enough to hide a 1 ms round trip behind no-op jobs */
#define WORKER_PREFETCH_HOLD_MS 50 /* --prefetch-hold's default */

struct worker_config {
    struct redis_url redis;
    char prefix[JOB_PREFIX_MAX + 1];
    char queue_buf[WORKER_QUEUES_BUF];  /* storage for queues[] */
    const char *queues[WORKER_QUEUES_MAX]; /* priority order: queues[0] first */
    size_t nqueues;
    int64_t lease_ms;      /* a heartbeat older than this means dead */
    int64_t heartbeat_ms;  /* heartbeat period */
    int64_t redis_timeout_ms; /* connect and command deadline (a BLMOVE gets its block
                                 time on top); past it the connection is dropped and
                                 made again */
    int64_t result_ttl_s;  /* EXPIRE on finished jobs */
    enum task_clock clock;
    int task_nice;         /* niceness of the task threads, 0..19 */
    struct opt_list tasks; /* "NAME=KIND:SPEC" entries (borrowed from argv / environment) */
    int64_t task_timeout_ms; /* a run's limit when its job names none */
    int64_t kill_grace_ms;   /* SIGTERM → SIGKILL delay when a task process is stopped */
    size_t max_result;       /* bytes of output a run may produce */
    bool allow_eviction;     /* work with a Redis whose maxmemory-policy may evict keys */
    int prefetch;            /* jobs held at once, 1..WORKER_PREFETCH_MAX (1: one at a time) */
    int64_t prefetch_hold_ms; /* a run this long hands the jobs held behind it back, and
                                 the next take is of one job */
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

#endif
