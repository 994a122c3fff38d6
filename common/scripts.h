#ifndef OFFLOAD_SCRIPTS_H
#define OFFLOAD_SCRIPTS_H
/* The Lua scripts that make every multi-key step of a job's life atomic.
 * They are the single place that writes job hashes and moves ids between
 * lists, so api and worker cannot disagree about the lifecycle.
 * Keys are built inside the scripts from the prefix (standalone Redis only). */
#include <stddef.h>

#define SCRIPT_ENQUEUE_HEAD 6    /* SCRIPT_ENQUEUE's values before the jobs' */
#define SCRIPT_ENQUEUE_STRIDE 15 /* values per job */
#define SCRIPT_START_FIELDS 8    /* elements of SCRIPT_START's reply */
#define SCRIPT_FINISH_ARGC 16    /* SCRIPT_FINISH's arguments */
#define SCRIPT_PROMOTE_HEAD 5    /* SCRIPT_PROMOTE's reply before the due schedules */
#define SCRIPT_QUEUES_STRIDE 7   /* SCRIPT_QUEUES's values per queue */
#define SCRIPT_FLOW_WINDOW_S 60  /* seconds SCRIPT_QUEUES sums jobs in and out over */
/* The retry backoff of a job that stores none (made before backoffs, or by
 * hand): the API's --backoff-base and --backoff-max defaults. */
#define SCRIPT_BACKOFF_BASE_MS "1000"
#define SCRIPT_BACKOFF_MAX_MS "3600000"

enum script_id {
    /* ARGV: prefix, max_queue, now_us, n, max_queues ('' = unbounded),
     * idempotency ttl_s, then n × SCRIPT_ENQUEUE_STRIDE values: id, queue,
     * ms, payload, max_attempts, notify, task, args, timeout_ms, run_at_us,
     * delay_us, backoff_base_ms, backoff_max_ms, key, fingerprint (empty
     * optional values are not stored). A job with run_at (or delay from
     * Redis's clock) in the future is scheduled, else LPUSHed. A job whose
     * key was used within ttl_s by a job still there is not made again: the
     * same fingerprint replays it, another fails the call. All or none:
     * replies {made, then per job "queued", "scheduled <run_at_us>", or
     * "=<id>" (the job its key replays)}, or the
     * error "FULL <queue>" when a queue would hold (queued and scheduled)
     * more than max_queue, "QUEUES <max>" when a new queue name would pass
     * max_queues (after forgetting the queues empty for a minute), or
     * "KEYREUSED <n>" when job n's key names another request. */
    SCRIPT_ENQUEUE,
    /* ARGV: prefix, id, now_us, ttl_s. Cancels a queued or scheduled job.
     * Replies 1 cancelled, 0 unknown, or the job's state (string) when it
     * is neither. */
    SCRIPT_CANCEL,
    /* ARGV: prefix, id, api_id. Adds api_id to the job's notify list unless
     * the job is terminal; replies HGETALL of the job (empty when unknown). */
    SCRIPT_WATCH,
    /* ARGV: prefix, id, worker_id, now_us. Marks a queued job running by
     * this worker, attempts+1; replies {ms, payload, attempts, max_attempts,
     * task, args, timeout_ms, queue} ('' where the job has none).
     * A job that is gone, cancelled or terminal is dropped from the worker's
     * wip list and nil is replied: skip it. A started job is shown in the
     * worker's record (job, job_task, job_since). */
    SCRIPT_START,
    /* ARGV: prefix, id, worker_id, now_us, ttl_s, state (done|failed|retry|requeue),
     * digest, iterations, cpu_ms, wall_ms, error, result, result_kind, run
     * (the attempt number START gave this run; '' skips that check), jitter
     * (a uniform draw in [0, 1) for the backoff), next (the id of the job
     * held behind this one whose run begins now: no longer held, started
     * now, shown in the worker's record; '' for none)
     * (SCRIPT_FINISH_ARGC in all;
     * empty values are not stored). Only the job's current run may finish
     * it: a job no longer running by this worker at this attempt (recovered
     * meanwhile) replies 2 and is left alone (the late result is dropped).
     * failed (the task failed) and retry (the run ended like a crash) are a
     * failed attempt: while attempts remain the job is scheduled again after
     * its backoff, else it goes to dead:{queue}; requeue: back on the queue,
     * the attempt not counted. Each counted attempt is appended to the
     * job's history. Stores the result, sets the TTL, LREMs the id from the
     * worker's wip list, PUBLISHes the id to every notify channel when the
     * job ends. The worker's record drops its job and counts jobs_done or
     * jobs_failed (a failed or retry attempt; requeue counts neither); a job
     * that ends done or dead counts as out of its queue (see SCRIPT_QUEUES).
     * Replies 1, 0 when the job was already terminal (result ignored), or
     * 2. */
    SCRIPT_FINISH,
    /* ARGV: prefix, worker_id, now_us, ttl_s, max_heartbeat_ms, reason,
     * and optionally 'alive' (the worker lives on: a reconnect).
     * Aborts (replies -1) if the worker's heartbeat is newer than
     * max_heartbeat_ms. Otherwise, for each id in its wip list: back to the
     * front of its queue as queued (a held job — taken ahead, its run not
     * begun — with its attempt not counted and nothing in its history), or
     * — when a started run has used up
     * max_attempts — into dead:{queue} as dead with `reason`; a started
     * run is appended to the job's history as lost; then deregisters the
     * worker and, unless 'alive', keeps its record for an hour as a dead
     * worker's (workers:dead:{id}, with ended_at and reason; listed in
     * workers:dead). Replies {requeued, dead}. */
    SCRIPT_RECOVER,
    /* ARGV: prefix, now_ms, lease_ms. Replies {workers_alive, then per known
     * queue: name, depth, in_progress, dead, scheduled, jobs in and jobs out
     * over the last SCRIPT_FLOW_WINDOW_S complete seconds}. Forgets queues
     * empty (nothing queued, scheduled or dead) for a minute. */
    SCRIPT_QUEUES,
    /* ARGV: prefix, worker_id, now_us, n, queue names in priority order.
     * Reliable fetch and START in one step, without blocking: LMOVE up to
     * n jobs, from the first non-empty queues, into the worker's wip list
     * and mark them running, all but the first held (their runs have not
     * begun: see SCRIPT_FINISH's next). Replies, per job taken, {id} + SCRIPT_START's
     * reply, all in one flat array; or nil when every queue is empty (then
     * BLMOVE + SCRIPT_START). */
    SCRIPT_TAKE,
    /* ARGV: SCRIPT_FINISH's, then n, then queue names in priority order.
     * FINISH, then TAKE in the same step: one round trip per job (per n
     * jobs) while the queues are busy. Replies {finished (1|0|2)} followed
     * by TAKE's elements. */
    SCRIPT_FINISH_TAKE,
    /* ARGV: prefix, limit. Moves scheduled jobs due by Redis's clock to
     * their queues; replies {moved, taken, now_us, next job due or '', next
     * schedule tick or '', then name, tick_us, cron per due schedule}
     * (see scripts.c). */
    SCRIPT_PROMOTE,
    /* ARGV: prefix, name, tick_us, next_us, id, now_us. Makes schedule
     * name's job for tick_us if no one has (compare-and-set on its next
     * tick) and moves it to next_us; replies 1 (made) or 0. */
    SCRIPT_TICK,
    /* ARGV: prefix, queue, limit, ids... (none: the oldest `limit` dead
     * jobs). Puts each dead job of the list back on its queue with a fresh
     * set of attempts; replies {retried, left on the list (when no ids
     * were given, else 0), then the ids that were not on it}. */
    SCRIPT_DEAD_RETRY,
    /* The same ARGV and reply: deletes each dead job of the list. */
    SCRIPT_DEAD_PURGE,
    /* ARGV: prefix, name, first tick (µs), now (µs), max schedules, then
     * the template's field/value pairs (queue, task, args, ...). Makes or
     * replaces the schedule; replies {1 made | 0 replaced, its HGETALL}, or
     * the error "SCHEDULES <max>". */
    SCRIPT_SCHEDULE_SET,
    /* ARGV: prefix, name ('' for all). Replies a list of HGETALLs. */
    SCRIPT_SCHEDULE_GET,
    /* ARGV: prefix, name. Replies 1 deleted, 0 unknown. */
    SCRIPT_SCHEDULE_DEL,
    /* ARGV: prefix, limit. Replies {live, dead}: live = per registered
     * worker (at most limit, by id) {id, heartbeat_ms, HGETALL of its
     * record}; dead = per worker that ended within the hour (newest first,
     * at most limit) {id, HGETALL of its dead record}. */
    SCRIPT_WORKERS,
    /* ARGV: prefix, queue, limit. Replies {dead jobs of the queue, then the
     * HGETALL of each of the newest `limit` (expired ones skipped)}. */
    SCRIPT_DEAD_LIST,
    /* ARGV: prefix, worker_id, then id, run (the attempt number START gave
     * it) per job taken ahead and not run, in the order taken. Puts each
     * back at the front of its queue, queued, its attempt not counted
     * (the order kept: the first taken is the next out). Replies how many
     * went back. */
    SCRIPT_UNTAKE,
    SCRIPT_COUNT
};

/* The Lua source of a script (static storage). */
const char *script_source(enum script_id id);
/* A short name for logs: "enqueue", "finish", ... */
const char *script_name(enum script_id id);

#endif
