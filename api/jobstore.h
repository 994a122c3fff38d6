#ifndef OFFLOAD_JOBSTORE_H
#define OFFLOAD_JOBSTORE_H
/* A job's record in Redis, as the API reads and writes it: the commands
 * that create, watch, read and cancel jobs (each one Redis round trip on the
 * given connection), and the JSON view of a job hash. It knows Redis and
 * the job model, not HTTP: the route handlers and the waiters sit above it. */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/job.h"
#include "common/jobid.h"

struct rconn;

/* What ENQUEUE needs besides the connection (all borrowed for the call). */
struct jobstore_enqueue {
    const char *prefix;
    long max_queue;                    /* --max-queue: jobs per queue */
    long max_queues;                   /* --max-queues: distinct queue names */
    const char *notify;                /* API id to PUBLISH to when each job ends, "" for none */
    int64_t idem_ttl_ms;               /* how long an idempotency key names its job */
    int64_t backoff_base_ms;           /* for specs that give none */
    int64_t backoff_max_ms;
    const struct job_spec *specs;
    const char (*ids)[JOBID_LEN + 1];  /* one per spec */
    size_t n;
};

/* The JSON view of an HGETALL (or WATCH) reply; NULL when empty (unknown or
 * expired job), malformed, or on allocation failure. New reference. */
json_t *jobstore_json(const redisReply *reply);
/* True when `job` (a JSON view) is in a terminal state. */
bool jobstore_terminal(const json_t *job);
/* Sends ENQUEUE for every spec, all or none (common/scripts.h). Returns 0
 * and cb runs once later with the reply ({made, then per spec '' or the id
 * of the job its idempotency key replays}, an error such as "FULL <queue>",
 * or NULL when it was lost), or -1: nothing was sent. */
int jobstore_enqueue(struct rconn *rc, const struct jobstore_enqueue *e, redisCallbackFn *cb, void *priv);
/* Sends HGETALL of job `id`. Returns 0 (cb runs once later) or -1. */
int jobstore_fetch(struct rconn *rc, const char *prefix, const char *id, redisCallbackFn *cb, void *priv);
/* Sends WATCH: `api_id` is told when job `id` ends; the reply is the job's
 * hash as it stands. Returns 0 (cb runs once later) or -1. */
int jobstore_watch(struct rconn *rc, const char *prefix, const char *id, const char *api_id,
                   redisCallbackFn *cb, void *priv);
/* Sends CANCEL of a queued job; its record is kept ttl_ms (rounded up to a
 * second). cb may be NULL to ignore the reply. Returns 0 or -1. */
int jobstore_cancel(struct rconn *rc, const char *prefix, const char *id, int64_t ttl_ms, redisCallbackFn *cb,
                    void *priv);

#endif
