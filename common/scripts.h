#ifndef OFFLOAD_SCRIPTS_H
#define OFFLOAD_SCRIPTS_H
/* The Lua scripts that make every multi-key step of a job's life atomic.
 * They are the single place that writes job hashes and moves ids between
 * lists, so api and worker cannot disagree about the lifecycle.
 * Keys are built inside the scripts from the prefix (standalone Redis only). */
#include <stddef.h>

#define SCRIPT_ENQUEUE_STRIDE 9 /* values per job after SCRIPT_ENQUEUE's first four */
#define SCRIPT_START_FIELDS 8   /* elements of SCRIPT_START's reply */
#define SCRIPT_FINISH_ARGC 14   /* SCRIPT_FINISH's arguments */

enum script_id {
    /* ARGV: prefix, max_queue, now_us, n, then n × SCRIPT_ENQUEUE_STRIDE
     * values (id, queue, ms, payload, max_attempts, notify, task, args,
     * timeout_ms; empty ms, payload, notify, args, timeout_ms are not
     * stored), then optionally max_queues. Creates every job hash and
     * LPUSHes every id, or none: replies the integer n, or the error
     * "FULL <queue>" when a queue would pass max_queue, or "QUEUES <max>"
     * when a new queue name would pass max_queues (after forgetting the
     * queues empty for a minute). */
    SCRIPT_ENQUEUE,
    /* ARGV: prefix, id, now_us, ttl_s. Replies 1 cancelled, 0 unknown, or
     * the job's state (string) when it is no longer queued. */
    SCRIPT_CANCEL,
    /* ARGV: prefix, id, api_id. Adds api_id to the job's notify list unless
     * the job is terminal; replies HGETALL of the job (empty when unknown). */
    SCRIPT_WATCH,
    /* ARGV: prefix, id, worker_id, now_us. Marks a queued job running by
     * this worker, attempts+1; replies {ms, payload, attempts, max_attempts,
     * task, args, timeout_ms, queue} ('' where the job has none).
     * A job that is gone, cancelled or terminal is dropped from the worker's
     * wip list and nil is replied: skip it. */
    SCRIPT_START,
    /* ARGV: prefix, id, worker_id, now_us, ttl_s, state (done|failed|retry|requeue),
     * digest, iterations, cpu_ms, wall_ms, error, result, result_kind, run
     * (the attempt number START gave this run; '' skips that check)
     * (SCRIPT_FINISH_ARGC in all; empty values are not stored). Only the
     * job's current run may finish it: a job no longer running by this
     * worker at this attempt (recovered meanwhile) replies 2 and is left
     * alone (the late result is dropped). retry: a run
     * that ended like a crash goes to the back of its queue while attempts
     * remain, else dead:{queue}; requeue: back, the attempt not counted. Stores the result, sets the TTL, LREMs the id from the worker's wip list (and from its queue, if a
     * recovery had put it back), PUBLISHes the id to every notify channel.
     * Replies 1, 0 when the job was already terminal (result ignored), or 2. */
    SCRIPT_FINISH,
    /* ARGV: prefix, worker_id, now_us, ttl_s, max_heartbeat_ms, reason.
     * Aborts (replies -1) if the worker's heartbeat is newer than
     * max_heartbeat_ms. Otherwise, for each id in its wip list: back to the
     * front of its queue as queued, or — when a started run has used up
     * max_attempts — into dead:{queue} as dead with `reason`; then
     * deregisters the worker. Replies {requeued, dead}. */
    SCRIPT_RECOVER,
    /* ARGV: prefix, now_ms, lease_ms. Replies {workers_alive, then per known
     * queue: name, depth, in_progress, dead}. Forgets queues empty (nothing
     * queued or dead) for a minute. */
    SCRIPT_QUEUES,
    /* ARGV: prefix, worker_id, now_us, queue names in priority order.
     * Reliable fetch and START in one step, without blocking: LMOVE from the
     * first non-empty queue into the worker's wip list and mark the job
     * running. Replies {id} + SCRIPT_START's reply, or nil when
     * every queue is empty (then BLMOVE + SCRIPT_START). */
    SCRIPT_TAKE,
    /* ARGV: SCRIPT_FINISH's, then queue names in priority order.
     * FINISH, then TAKE in the same step: one round trip per job while the
     * queues are busy. Replies {finished (1|0)} or {finished} + TAKE's. */
    SCRIPT_FINISH_TAKE,
    SCRIPT_COUNT
};

/* The Lua source of a script (static storage). */
const char *script_source(enum script_id id);
/* A short name for logs: "enqueue", "finish", ... */
const char *script_name(enum script_id id);

#endif
