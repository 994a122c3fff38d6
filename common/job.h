#ifndef OFFLOAD_JOB_H
#define OFFLOAD_JOB_H
/* The job model: what a client submits, its lifecycle, its Redis keys and
 * hash fields, and its JSON view. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_MS_DEFAULT 500
#define JOB_MS_MAX 60000          /* a task longer than a minute belongs in a batch system */
#define JOB_ATTEMPTS_DEFAULT 3
#define JOB_ATTEMPTS_MAX 100
#define JOB_QUEUE_DEFAULT "default"
#define JOB_QUEUE_MAX 64          /* [A-Za-z0-9_.:-]{1,64}: safe inside key names and logs */
#define JOB_BATCH_MAX 1000        /* one Redis round trip stays short */
#define JOB_PAYLOAD_MAX (512 * 1024)
#define JOB_TASK_MAX 64           /* [a-z0-9_.:-]{1,64}: safe in logs, env and Redis */
#define JOB_TASK_DEFAULT "burn"   /* the built-in CPU task of the seed's experiment */
#define JOB_TIMEOUT_MIN_MS 10     /* shorter is below the timer granularity that matters */
#define JOB_TIMEOUT_MAX_MS (24 * 3600 * 1000LL) /* a run longer than a day is a batch system's */
#define JOB_DELAY_MAX_MS (366 * 24 * 3600 * 1000LL) /* a year (a leap one): later is a cron job's */
#define JOB_RUN_AT_LIMIT_S 253402300800LL /* year 10000: run_at stays a 4-digit year, and in µs an int64 */
#define JOB_BACKOFF_MIN_MS 1      /* 0 means "the server's default" */
#define JOB_BACKOFF_BASE_MAX_MS (24 * 3600 * 1000LL)      /* a first retry a day later is the latest useful */
#define JOB_BACKOFF_MAX_MAX_MS (30 * 24 * 3600 * 1000LL)  /* retries a month apart: a job's hash must live that long */
#define JOB_KEY_ID_MAX 200        /* idempotency key: room for a UUID, a hash or a composite business key */

enum job_state {
    JOB_QUEUED,    /* in offload:q:{queue}, or moved to a wip list but not yet started */
    JOB_SCHEDULED, /* waiting for its run_at: a delayed job, or a failed run waiting to retry */
    JOB_RUNNING,   /* a worker marked it started; it is in that worker's wip list */
    JOB_DONE,      /* finished with a result (terminal) */
    JOB_FAILED,    /* the task reported an error (terminal) */
    JOB_DEAD,      /* ran out of attempts, in offload:dead:{queue} (terminal) */
    JOB_CANCELLED, /* DELETE while queued (terminal) */
};

const char *job_state_name(enum job_state s);
int job_state_parse(const char *s, enum job_state *out);
bool job_state_terminal(enum job_state s);

/* One job as submitted. */
struct job_spec {
    int ms;             /* burn only */
    char *payload;      /* owned, NUL-terminated ("" when absent); burn only */
    size_t payload_len;
    char queue[JOB_QUEUE_MAX + 1];
    int max_attempts;
    char task[JOB_TASK_MAX + 1];
    char *args;         /* owned: compact JSON text, "" when absent (the task gets null) */
    size_t args_len;
    int64_t timeout_ms; /* one run's limit; 0 = the worker's --task-timeout */
    int64_t delay_ms;   /* "delay": 0..JOB_DELAY_MAX_MS, -1 when absent */
    int64_t run_at_us;  /* "run_at": Unix µs, 0 when absent; never set with delay_ms */
    int64_t backoff_base_ms; /* first retry's wait; 0 = the server's default */
    int64_t backoff_max_ms;  /* cap on a retry's wait (>= base when both set); 0 = the server's default */
    char key[JOB_KEY_ID_MAX + 1]; /* idempotency key: printable ASCII, no spaces; "" when absent */
};

bool job_queue_valid(const char *q);
/* True for an idempotency key: 1..JOB_KEY_ID_MAX bytes of printable ASCII
 * (0x21..0x7e, so no spaces). */
bool job_key_valid(const char *k);
/* True for a key prefix (--prefix): 1..JOB_PREFIX_MAX characters, none of
 * them whitespace or control characters. */
bool job_prefix_valid(const char *p);
/* True for 1..JOB_TASK_MAX chars of [a-z0-9_.:-]. */
bool job_task_valid(const char *t);

/* Parses a POST /jobs body: one object, or an array of 1..JOB_BATCH_MAX
 * objects. An empty body is one job with every default. On success returns 0,
 * *out is a malloc'd array of *n specs (free with job_specs_free), *is_batch
 * says whether the body was an array. On failure returns -1 and err names the
 * field and the allowed range, prefixed by the index in a batch, e.g.
 * "[3].ms: must be an integer in 0..60000". Unknown fields are rejected, and
 * so are ms and payload for a task other than burn, and delay with run_at.
 * Durations (timeout, delay, backoff.base, backoff.max) are strings for
 * duration_parse_ms ("500ms", "5s", "2m", "1h") or numbers of seconds. run_at
 * is only range-checked: how far ahead it may be is the caller's to decide. */
int job_parse_body(const char *buf, size_t len, struct job_spec **out, size_t *n,
                   bool *is_batch, char *err, size_t errlen);
void job_specs_free(struct job_spec *specs, size_t n);

/* Redis hash fields of offload:job:{id}. Times are Unix microseconds. */
#define JOB_F_ID "id"
#define JOB_F_STATE "state"
#define JOB_F_QUEUE "queue"
#define JOB_F_MS "ms"
#define JOB_F_PAYLOAD "payload"
#define JOB_F_MAX_ATTEMPTS "max_attempts"
#define JOB_F_ATTEMPTS "attempts"
#define JOB_F_CREATED "created_at"
#define JOB_F_STARTED "started_at"
#define JOB_F_FINISHED "finished_at"
#define JOB_F_WORKER "worker"
#define JOB_F_DIGEST "digest"       /* 16 lowercase hex chars */
#define JOB_F_ITERATIONS "iterations"
#define JOB_F_CPU_MS "cpu_ms"
#define JOB_F_WALL_MS "wall_ms"
#define JOB_F_ERROR "error"
#define JOB_F_NOTIFY "notify"       /* space-separated API ids to PUBLISH to when terminal */
#define JOB_F_TASK "task"           /* absent in jobs made before tasks: burn */
#define JOB_F_ARGS "args"           /* compact JSON text; absent = null */
#define JOB_F_TIMEOUT_MS "timeout_ms" /* absent = the worker's --task-timeout */
#define JOB_F_RESULT "result"       /* a user task's output: JSON text or plain text */
#define JOB_F_RESULT_KIND "result_kind" /* "json" or "text" */
#define JOB_F_RUN_AT "run_at"       /* when a scheduled job is due */
#define JOB_F_PROMOTED_AT "promoted_at" /* when it moved to its queue: lateness = promoted_at - run_at */
#define JOB_F_BACKOFF_BASE_MS "backoff_base_ms" /* absent = the server's default */
#define JOB_F_BACKOFF_MAX_MS "backoff_max_ms"   /* absent = the server's default */
/* JSON text: an array of the last attempts, each {"attempt":n, "worker":"...",
 * "started_at":µs, "ended_at":µs, "outcome":"...", "error":"..."} */
#define JOB_F_HISTORY "history"
#define JOB_F_KEY "key"             /* the idempotency key the job was submitted with */
#define JOB_F_SCHEDULE "schedule"   /* the periodic schedule that made the job, absent otherwise */
#define JOB_F_TICK "tick"           /* Unix µs: the schedule's tick the job was made for */

/* Builds the JSON view of a job from HGETALL's flat field/value pairs:
 * {id, state, queue, task, args, key, timeout (seconds, null = the worker's
 * default), ms, max_attempts, attempts, created_at, run_at, promoted_at,
 * started_at, finished_at (Unix seconds as numbers with µs precision, null
 * when unset), worker, schedule, tick (the schedule and its tick, for a job
 * a schedule made), result, error, backoff, history}, each null when
 * unset. result is a user task's output (its JSON value, or a string),
 * burn's {digest,iterations,cpu_ms,wall_ms}, or null. backoff is
 * {base, max} in seconds (either null = the server's default), or null when
 * neither is stored. history is the stored attempts with started_at and
 * ended_at in Unix seconds: [] when absent, null when the stored text is not
 * a JSON array of objects (the rest of the view is still built).
 * Returns a new reference, or NULL on allocation failure or when the pairs
 * lack an id (an expired or unknown job). */
json_t *job_to_json(const char *const *fields, const size_t *field_lens,
                    const char *const *values, const size_t *value_lens, size_t npairs);

/* A stored time (Unix µs as text) as Unix seconds with µs precision, the way
 * job views show times; null when us is NULL or not an integer (e.g. "inf").
 * New reference (NULL only on OOM). */
json_t *job_time_json(const char *us);

/* json_dumps flags for a job view: 16 significant digits print microsecond
 * timestamps as 1732571000.1 or 1732571000.123456 (jansson's default of 17
 * can print 1732571000.0999999 for the same number). */
#define JOB_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(16))

#define JOB_PREFIX_MAX 64         /* --prefix: 1..64 characters without spaces */
#define JOB_KEY_MAX 256           /* fits any key: the prefix, a kind, and a queue name, id or worker id */

/* Key names. Each writes a NUL-terminated key into buf and returns its
 * length, or -1 if it does not fit. */
int key_queue(char *buf, size_t len, const char *prefix, const char *queue);
int key_job(char *buf, size_t len, const char *prefix, const char *id);
int key_wip(char *buf, size_t len, const char *prefix, const char *worker);
int key_workers(char *buf, size_t len, const char *prefix);
int key_dead(char *buf, size_t len, const char *prefix, const char *queue);
int key_done_channel(char *buf, size_t len, const char *prefix, const char *api_id);
int key_reaper_lock(char *buf, size_t len, const char *prefix);
int key_queues(char *buf, size_t len, const char *prefix); /* set of known queue names */
/* hash: what worker `id` serves (tasks, queues, host, pid, started_at) */
int key_worker_record(char *buf, size_t len, const char *prefix, const char *id);

/* Unix time in microseconds (CLOCK_REALTIME). */
int64_t job_now_us(void);

#endif
