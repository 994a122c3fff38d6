#include "worker/worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/defaults.h"
#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"
#include "worker/handler.h"
#include "worker/batch.h"
#include "worker/handback.h"
#include "worker/heartbeat.h"
#include "worker/redis_conn.h"
#include "worker/wmover.h"
#include "common/clock.h"

/* An idle worker notices SIGTERM (and jobs on lower-priority queues) within
 * this. A BLMOVE may legitimately block that long: its deadline is
 * --redis-timeout plus this (every other command's is --redis-timeout).
 * Whole seconds. */
#define FETCH_BLOCK_MS 1000
#define SUMMARY_EVERY_MS 10000     /* period of the "jobs finished" info line */              /* how soon a second SIGTERM abandons a running task */
#define NO_HANDLER_PAUSE_MS 100     /* after bouncing a job it cannot run: a worker that can gets it first */
#define REQUEUE_PAUSE_MS 1000       /* after a task process could not start: a broken host does not spin */
#define LOG_ERROR_SHOWN 256         /* bytes of a failed run's (quoted) error in its log line */
#define ERROR_PAUSE_MS 1000          /* after an unexpected error reply: don't spin on it */
#define RECOVER_FORCE "9223372036854775807" /* max_heartbeat_ms that never aborts SCRIPT_RECOVER */
#define REASON_SHUTDOWN "worker shutdown"
#define REASON_RESTART "worker restarted"
#define REASON_RECONNECT "redis connection lost"
#define REASON_STOPPED "stopped" /* a clean stop: the reason its dead record gives */

/* One report of a run, as SCRIPT_FINISH's arguments (then, for
 * FINISH_TAKE, n and the queues). The strings it points to are the job's,
 * the outcome's and its own buffers: it lives as long as the report is
 * being sent. */
struct report {
    const struct held_job *job;
    const struct task_outcome *o;
    char ttl[24], digest[24], iters[24], cpu[32], wall[32], now[24], jitter[24], n[16];
    const char *argv[SCRIPT_FINISH_ARGC + 1 + WORKER_QUEUES_MAX];
    size_t lens[SCRIPT_FINISH_ARGC + 1 + WORKER_QUEUES_MAX];
};

/* The reports sent and not yet answered (pipelined: a batch's results go
 * out as each run ends; their replies are read once, at the batch's end).
 * Only the last may take jobs (take_n[i] > 0: FINISH_TAKE). */
struct pending {
    struct report r[WORKER_PREFETCH_MAX];
    int take_n[WORKER_PREFETCH_MAX];
    size_t n;
};

/* ---- the worker --------------------------------------------------------- */

struct worker {
    const struct worker_config *cfg;
    volatile sig_atomic_t *stops;  /* SIGTERM/SIGINT count, written by the signal handler */
    struct redis_conn conn;        /* fetch, start, finish: this thread only */
    struct heartbeat hb;
    struct wmover *mover;      /* scheduled jobs and schedules' ticks (worker/wmover.h) */
    struct handlers *handlers;     /* what runs each task */
    char wip[JOB_KEY_MAX];
    char record[JOB_KEY_MAX];   /* <prefix>worker:<id>: what this worker serves */
    char workers[JOB_KEY_MAX];
    char qkeys[WORKER_QUEUES_MAX][JOB_KEY_MAX];
    bool holding;                  /* a fetched job is in hand: don't recover our wip list */
    bool wip_dirty;                /* a FINISH_TAKE broke: our wip list may hold an unseen job */
    bool wip_own;                  /* what an earlier process of our id left in our wip list was
                                      handed back: it holds only what this process took since */
    bool recorded;                 /* this process has written its record once (counters started) */
    int64_t started_us;            /* when this process started: its record's started_at */
    struct handback *handback;     /* gives back the jobs held behind a long run */
    double run_us;                 /* recent runs' length (µs): a moving average that a run
                                      of --prefetch-hold or more resets to itself */
    struct task_outcome outcomes[WORKER_PREFETCH_MAX]; /* the batch's runs, by position */
    struct pending pending;        /* reports sent, replies not yet read */
    unsigned long jobs;            /* jobs finished */
    unsigned long summary_jobs;    /* w->jobs at the last summary line */
    int64_t summary_at_ms;
};

/* What one fetched job came to. */
enum job_outcome {
    JOB_HANDLED,   /* finished and reported, skipped, or left for recovery: fetch the next */
    JOB_ABANDONED, /* second stop while it ran: the caller puts it back and stops */
    JOB_FATAL,     /* reported, but this process must go (a plugin run that would not stop) */
};

static bool stop_requested(void *arg)
{
    const struct worker *w = arg;
    return *w->stops >= 1;
}

static bool abandon_requested(void *arg)
{
    const struct worker *w = arg;
    return *w->stops >= 2;
}

/* SCRIPT_RECOVER on ourselves, whatever our heartbeat says: every id in our
 * wip list goes back to its queue (or to dead when out of attempts), and we
 * are deregistered; unless `alive` (this process goes on), our record is
 * kept as a dead worker's with `reason`. Returns 0, or -1 when the
 * connection broke. */
static int recover_self(struct worker *w, const char *reason, bool alive)
{
    char now[24], ttl[24];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    snprintf(ttl, sizeof ttl, "%" PRId64, w->cfg->result_ttl_s);
    const char *argv[] = {w->cfg->prefix, w->cfg->id, now, ttl, RECOVER_FORCE, reason, alive ? "alive" : ""};
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_RECOVER, 7, argv, NULL);
    if (!reply)
        return -1;
    char q[256];
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        log_error("recover script failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
    else if (reply->element[0]->integer + reply->element[1]->integer > 0) /* a clean stop has none */
        log_info("put our jobs back", "reason=\"%s\" requeued=%lld dead=%lld", reason,
                 reply->element[0]->integer, reply->element[1]->integer);
    freeReplyObject(reply);
    return 0;
}

/* "high,default,low" from cfg->queues, for the start-up log line. */
static void queues_join(const struct worker_config *cfg, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->nqueues && o < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? "," : "", cfg->queues[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* SCRIPT_FINISH "requeue" of job `id` at attempt `run`: back on its queue
 * (at the back), the attempt not counted. Returns 0, or -1 when the
 * connection broke. */
static int finish_requeue(struct worker *w, const char *id, const char *run)
{
    char now[24], ttl[24];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    snprintf(ttl, sizeof ttl, "%" PRId64, w->cfg->result_ttl_s);
    const char *argv[SCRIPT_FINISH_ARGC] = {w->cfg->prefix, id, w->cfg->id, now, ttl, "requeue", "", "", "",
                                            "", REASON_RECONNECT, "", "text", run, "", ""};
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_FINISH, SCRIPT_FINISH_ARGC, argv, NULL);
    if (!reply)
        return -1;
    char q[256];
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        log_info("job started by a command whose reply was lost: put back, attempt not counted", "id=%s attempt=%s",
                 id, run);
    else if (reply->type != REDIS_REPLY_INTEGER)
        log_error("finish script failed", "id=%s err=%s", id, redis_conn_reply_err(reply, q, sizeof q));
    freeReplyObject(reply);
    return 0;
}

/* Once w->wip_own: jobs in our wip list marked running by us were started
 * by a command whose reply we never saw — a START, TAKE or FINISH_TAKE that
 * timed out or broke, yet ran — so they never ran (this process reports
 * every job it ran before it takes another). Each goes back uncounted
 * (SCRIPT_RECOVER would count the attempt, and make a job allowed one
 * attempt dead without running). The connection was fenced on connect, so
 * no late command can start another behind us. Not so for what an earlier
 * process of the same id (a supervised restart) left: that may have run,
 * crashed it, and must be counted. Returns the ids left in the list, or
 * -1 when the connection broke. */
static long long worker_unstart(struct worker *w)
{
    if (!w->wip_own) {
        redisReply *reply = redis_conn_command(&w->conn, "LLEN %s", w->wip);
        if (!reply)
            return -1;
        long long left = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
        freeReplyObject(reply);
        return left;
    }
    redisReply *ids = redis_conn_command(&w->conn, "LRANGE %s 0 -1", w->wip);
    if (!ids)
        return -1;
    long long left = 0;
    for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
        const redisReply *id = ids->element[i];
        char key[JOB_KEY_MAX];
        left++;
        if (id->type != REDIS_REPLY_STRING || key_job(key, sizeof key, w->cfg->prefix, id->str) < 0)
            continue;
        redisReply *f = redis_conn_command(&w->conn, "HMGET %s state worker attempts", key);
        if (!f)
            goto err;
        bool ours = f->type == REDIS_REPLY_ARRAY && f->elements == 3;
        for (size_t k = 0; ours && k < 3; k++)
            ours = f->element[k]->type == REDIS_REPLY_STRING;
        ours = ours && strcmp(f->element[0]->str, "running") == 0 && strcmp(f->element[1]->str, w->cfg->id) == 0;
        int rv = ours ? finish_requeue(w, id->str, f->element[2]->str) : 0;
        freeReplyObject(f);
        if (rv != 0)
            goto err;
        left -= ours;
    }
    freeReplyObject(ids);
    return left;
err:
    freeReplyObject(ids);
    return -1;
}

/* After every (re)connect: hand back whatever a lost BLMOVE, START, TAKE or
 * FINISH_TAKE left in our wip list (unless we hold that job and will finish
 * it), then register. Returns 0, or -1 when the connection broke again. */
static int worker_on_connect(struct worker *w)
{
    if (!w->holding) {
        long long left = worker_unstart(w);
        if (left < 0)
            return -1;
        if (left > 0 && recover_self(w, w->wip_own ? REASON_RECONNECT : REASON_RESTART, w->wip_own) != 0)
            return -1;
        w->wip_own = true;
    }
    char score[24], host[256] = "", queues[WORKER_QUEUES_BUF];
    snprintf(score, sizeof score, "%" PRId64, job_now_us() / 1000);
    redisReply *reply =
        redis_conn_command(&w->conn, "ZADD %s %s %s", w->workers, score, w->cfg->id);
    if (!reply)
        return -1;
    freeReplyObject(reply);
    (void)gethostname(host, sizeof host - 1);
    queues_join(w->cfg, queues, sizeof queues);
    /* The first time, the counters start at 0 and no job is shown (an
     * earlier process of our id may have left its record); after a
     * reconnect they are kept. */
    reply = redis_conn_command(&w->conn, w->recorded ? "HSET %s tasks %s queues %s host %s pid %ld started_at %" PRId64
                                                     : "HSET %s tasks %s queues %s host %s pid %ld started_at %" PRId64
                                                       " jobs_done 0 jobs_failed 0",
                               w->record, handlers_names(w->handlers), queues, host, (long)getpid(), w->started_us);
    if (!reply)
        return -1;
    freeReplyObject(reply);
    if (!w->recorded) {
        if (!(reply = redis_conn_command(&w->conn, "HDEL %s job job_task job_since", w->record)))
            return -1;
        freeReplyObject(reply);
        w->recorded = true;
    }
    return 0;
}

/* Connected (running worker_on_connect after each reconnect), or -1 when
 * stop(w) said to give up. */
static int worker_ensure(struct worker *w, redis_conn_stop_fn stop)
{
    for (;;) {
        int c = redis_conn_ensure(&w->conn, stop, w);
        if (c <= 0)
            return c;
        if (worker_on_connect(w) == 0)
            return 1;
    }
}

/* The queue names as script arguments, after `first` fixed ones. */
static int queue_args(const struct worker *w, const char **argv, int first)
{
    for (size_t i = 0; i < w->cfg->nqueues; i++)
        argv[first + (int)i] = w->cfg->queues[i];
    return first + (int)w->cfg->nqueues;
}

/* Redis answered a fetch with an error: says so and pauses, so a broken
 * script or server is not asked again in a tight loop. */
static void worker_error_pause(const char *what, const redisReply *reply)
{
    char q[256];
    log_error(what, "err=%s", redis_conn_reply_err(reply, q, sizeof q));
    clock_sleep_ms(ERROR_PAUSE_MS);
}

/* How many jobs the next take asks for: as many recent-length runs as fit
 * in --prefetch-hold, at most --prefetch, at least one — all of them while
 * runs are short, one after a run of the hold or more (prefetch must not
 * make jobs wait behind long ones). */
static int worker_want(const struct worker *w)
{
    double fit = w->run_us > 0 ? (double)w->cfg->prefetch_hold_ms * 1000.0 / w->run_us : w->cfg->prefetch;
    return fit >= w->cfg->prefetch ? w->cfg->prefetch : fit < 1 ? 1 : (int)fit;
}

/* Adds a run of run_us to the recent length worker_want goes by. */
static void worker_ran(struct worker *w, double run_us)
{
    if (run_us >= (double)w->cfg->prefetch_hold_ms * 1000.0 || w->run_us <= 0)
        w->run_us = run_us;
    else
        w->run_us = 0.8 * w->run_us + 0.2 * run_us;
}

/* SCRIPT_TAKE: up to worker_want jobs of any queue, without blocking.
 * Returns 1 with b filled, 0 when every queue is empty, -1 when the
 * connection broke. */
static int worker_take(struct worker *w, struct batch *b)
{
    char now[24], n[16];
    const char *argv[4 + WORKER_QUEUES_MAX];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    snprintf(n, sizeof n, "%d", worker_want(w));
    argv[0] = w->cfg->prefix;
    argv[1] = w->cfg->id;
    argv[2] = now;
    argv[3] = n;
    int argc = queue_args(w, argv, 4);
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_TAKE, argc, argv, NULL);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY) {
        if (batch_take(b, reply, 0) < 0)
            w->wip_dirty = true; /* malformed: let the recovery hand them back */
        return b->n > 0;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        worker_error_pause("take script failed", reply);
    freeReplyObject(reply);
    return 0;
}

/* Every queue was empty: BLMOVE on the highest-priority one for up to
 * FETCH_BLOCK_MS (lower ones are looked at again by the next TAKE), then
 * SCRIPT_START. Returns 1 with b holding the job, 0 when nothing came, -1
 * when the connection broke. */
static int worker_wait_fetch(struct worker *w, struct batch *b)
{
    redisReply *reply = redis_conn_blocking(&w->conn, FETCH_BLOCK_MS, "BLMOVE %s %s RIGHT LEFT %d",
                                            w->qkeys[0], w->wip, FETCH_BLOCK_MS / 1000);
    if (!reply)
        return -1;
    if (reply->type != REDIS_REPLY_STRING) {
        if (reply->type == REDIS_REPLY_ERROR)
            worker_error_pause("fetch failed", reply);
        freeReplyObject(reply);
        return 0;
    }
    char id[JOBID_LEN + 64];
    snprintf(id, sizeof id, "%s", reply->str);
    freeReplyObject(reply);
    w->holding = true;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    const char *argv[] = {w->cfg->prefix, id, w->cfg->id, now};
    reply = redis_conn_eval(&w->conn, SCRIPT_START, 4, argv, NULL);
    if (!reply) {
        /* Unknown whether it started (a timed-out START may have run, or may
         * still run until the reconnect fences this connection): the
         * reconnect hands back whatever our wip list holds then. */
        w->holding = false;
        return -1;
    }
    int rv = 0;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == SCRIPT_START_FIELDS) {
        rv = batch_take_one(b, reply, id) == 1 ? 1 : 0;
        reply = NULL; /* b owns it now, or it was freed */
    } else if (reply->type == REDIS_REPLY_NIL) {
        log_debug("job skipped: gone, cancelled or finished", "id=%s", id);
    } else {
        char q[256];
        log_error("start script failed; job left in our wip list", "id=%s err=%s", id,
                  redis_conn_reply_err(reply, q, sizeof q));
        clock_sleep_ms(ERROR_PAUSE_MS);
    }
    if (rv != 1)
        w->holding = false;
    if (reply)
        freeReplyObject(reply);
    return rv;
}

/* The state SCRIPT_FINISH stores for a run's end. */
static const char *finish_state(enum run_end end)
{
    switch (end) {
    case RUN_DONE:
        return "done";
    case RUN_RETRY:
        return "retry";
    case RUN_REQUEUE:
        return "requeue";
    case RUN_FAILED:
    case RUN_ABANDONED:
        break;
    }
    return "failed";
}


/* Fills r for job h's outcome o; next_id (or NULL) names the job held
 * behind it whose run begins as this report goes out. */
static void report_init(struct report *r, const struct worker *w, const struct held_job *h,
                        const struct task_outcome *o, const char *next_id)
{
    memset(r, 0, sizeof *r);
    r->job = h;
    r->o = o;
    snprintf(r->ttl, sizeof r->ttl, "%" PRId64, w->cfg->result_ttl_s);
    if (o->has_burn) {
        snprintf(r->digest, sizeof r->digest, "%016" PRIx64, o->burn.digest);
        snprintf(r->iters, sizeof r->iters, "%" PRIu64, o->burn.iterations);
        snprintf(r->cpu, sizeof r->cpu, "%.3f", o->burn.cpu_ms);
        snprintf(r->wall, sizeof r->wall, "%.3f", o->burn.wall_ms);
    }
    /* the retry backoff's draw (Lua's random is the same in every script) */
    snprintf(r->jitter, sizeof r->jitter, "%.6f", arc4random() / 4294967296.0);
    const char *fixed[SCRIPT_FINISH_ARGC] = {w->cfg->prefix, h->id, w->cfg->id, r->now, r->ttl,
                                             finish_state(o->end), r->digest, r->iters, r->cpu, r->wall,
                                             o->end == RUN_DONE ? "" : o->error, o->result ? o->result : "",
                                             o->result_json ? "json" : "text", h->f[F_ATTEMPTS]->str, r->jitter,
                                             next_id ? next_id : ""};
    memcpy(r->argv, fixed, sizeof fixed);
}

/* The arguments for one attempt now: FINISH's, or with take_n > 0
 * FINISH_TAKE's. Returns argc. */
static int report_args(struct report *r, const struct worker *w, int take_n)
{
    snprintf(r->now, sizeof r->now, "%" PRId64, job_now_us());
    int argc = SCRIPT_FINISH_ARGC;
    if (take_n > 0) {
        snprintf(r->n, sizeof r->n, "%d", take_n);
        r->argv[argc] = r->n;
        argc = queue_args(w, r->argv, argc + 1);
    }
    for (int i = 0; i < argc; i++)
        r->lens[i] = i == 11 ? r->o->result_len : strlen(r->argv[i]);
    return argc;
}

/* Logs what FINISH's reply says; returns the number it carries (-1 for an
 * error reply). */
static long long report_logged(const struct report *r, const redisReply *reply, bool retried)
{
    const char *id = r->job->id;
    char q[256];
    long long done = -1;
    if (reply->type == REDIS_REPLY_INTEGER)
        done = reply->integer;
    else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
             reply->element[0]->type == REDIS_REPLY_INTEGER)
        done = reply->element[0]->integer;
    if (done == 1)
        log_debug("job finished", "id=%s state=%s", id, r->argv[5]);
    else if (done == 0 && retried)
        log_info("result already stored: the attempt whose reply was lost reached Redis", "id=%s", id);
    else if (done == 0)
        log_warn("result ignored: job already terminal or gone", "id=%s", id);
    else if (done == 2)
        log_warn("late result dropped: the job was recovered from this worker and runs again",
                 "id=%s attempt=%s", id, r->job->f[F_ATTEMPTS]->str);
    else
        log_error("finish script failed", "id=%s err=%s", id, redis_conn_reply_err(reply, q, sizeof q));
    return done;
}

/* Reports a run's outcome and waits for Redis's answer. While no stop was
 * asked for and `next` is given, the report also takes up to take_n jobs
 * into it (SCRIPT_FINISH_TAKE: one round trip per job, or per batch). If
 * that round trip breaks, the result is reported again with plain
 * SCRIPT_FINISH, retried across reconnects until Redis has it (a result is
 * never dropped while the process lives, unless a second stop says give
 * up), and w->wip_dirty says jobs may have been taken unseen. `retried`:
 * an earlier attempt (sent before) got no reply. Returns 0 reported, -1
 * given up. */
static int worker_finish(struct worker *w, struct report *r, struct batch *next, int take_n, bool retried)
{
    bool take = next != NULL && take_n > 0 && *w->stops == 0;
    for (;;) {
        if (worker_ensure(w, abandon_requested) < 0) {
            log_error("result lost: Redis unreachable and told to stop", "id=%s", r->job->id);
            return -1;
        }
        int argc = report_args(r, w, take ? take_n : 0);
        redisReply *reply =
            redis_conn_eval(&w->conn, take ? SCRIPT_FINISH_TAKE : SCRIPT_FINISH, argc, r->argv, r->lens);
        if (!reply) {
            /* Broken or timed out: reconnect (which fences this connection,
             * so the lost attempt has run by then or never will) and report
             * again: the script is idempotent. */
            if (take)
                w->wip_dirty = true;
            take = false;
            retried = true;
            continue;
        }
        report_logged(r, reply, retried);
        if (take && reply->type == REDIS_REPLY_ARRAY) {
            if (batch_take(next, reply, 1) < 0)
                w->wip_dirty = true; /* malformed: let the recovery hand them back */
            return 0;
        }
        freeReplyObject(reply);
        return 0;
    }
}


static unsigned long worker_settle(struct worker *w, struct pending *p, struct batch *next);

/* Sends job h's report without waiting for the reply (see struct pending),
 * with take_n > 0 as FINISH_TAKE of up to take_n jobs. If the send breaks,
 * what was in flight is settled at once. */
static void worker_send(struct worker *w, struct pending *p, const struct held_job *h,
                        const struct task_outcome *o, const char *next_id, int take_n)
{
    struct report *r = &p->r[p->n];
    report_init(r, w, h, o, next_id);
    bool take = take_n > 0 && *w->stops == 0;
    int argc = report_args(r, w, take ? take_n : 0);
    p->take_n[p->n] = take ? take_n : 0;
    p->n++;
    if (redis_conn_send_eval(&w->conn, take ? SCRIPT_FINISH_TAKE : SCRIPT_FINISH, argc, r->argv, r->lens) != 0) {
        /* the connection broke: no reply will come for any of them, so
         * they are made again now, before a new connection is used */
        p->take_n[p->n - 1] = 0;
        redis_conn_close(&w->conn);
        w->jobs += worker_settle(w, p, NULL);
    }
}

/* Reads the replies of every report in p, in order, the last one's jobs
 * (FINISH_TAKE) into next. Those whose reply is lost (from the first one
 * on, when the connection broke) or refused (NOSCRIPT) are made again with
 * worker_finish once every reply is in. Returns how many were stored or
 * known (the jobs count). */
static unsigned long worker_settle(struct worker *w, struct pending *p, struct batch *next)
{
    bool redo[WORKER_PREFETCH_MAX] = {false};
    unsigned long reported = 0;
    size_t i = 0;
    for (; i < p->n; i++) {
        redisReply *reply = redis_conn_reply(&w->conn, "finish");
        if (!reply)
            break;
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            redo[i] = true;
            freeReplyObject(reply);
            continue;
        }
        report_logged(&p->r[i], reply, false);
        reported++;
        if (p->take_n[i] > 0 && reply->type == REDIS_REPLY_ARRAY) {
            if (batch_take(next, reply, 1) < 0)
                w->wip_dirty = true; /* malformed: let the recovery hand them back */
            continue;
        }
        freeReplyObject(reply);
    }
    for (size_t k = i; k < p->n; k++) {
        redo[k] = true;
        if (p->take_n[k] > 0)
            w->wip_dirty = true; /* it may have taken jobs unseen */
    }
    for (size_t k = 0; k < p->n; k++)
        if (redo[k] && worker_finish(w, &p->r[k], NULL, 0, k >= i) == 0)
            reported++;
    p->n = 0;
    return reported;
}

/* One info line per SUMMARY_EVERY_MS with the jobs done meanwhile (each job
 * has its own line at debug level: at thousands of jobs a second, a line
 * per job costs more than the job). */
static void worker_summary(struct worker *w, bool force)
{
    int64_t now = clock_mono_ms();
    if (w->summary_at_ms == 0)
        w->summary_at_ms = now;
    if (!force && now - w->summary_at_ms < SUMMARY_EVERY_MS)
        return;
    if (w->jobs > w->summary_jobs)
        log_info("jobs finished", "count=%lu total=%lu seconds=%.1f", w->jobs - w->summary_jobs, w->jobs,
                 (double)(now - w->summary_at_ms) / 1000.0);
    w->summary_at_ms = now;
    w->summary_jobs = w->jobs;
}

/* The outcome of a job whose id, queue or task breaks the API's rules. */
static void outcome_malformed(struct task_outcome *o)
{
    o->end = RUN_FAILED;
    snprintf(o->error, sizeof o->error,
             "malformed job: id, queue or task is not what the API writes ([A-Za-z0-9_.:-]{1,64}; "
             "task [a-z0-9_.:-]{1,64})");
}

/* Arms the hand-back with the jobs b holds behind the one about to run. */
static void worker_arm(struct worker *w, const struct batch *b)
{
    const char *ids[WORKER_PREFETCH_MAX], *runs[WORKER_PREFETCH_MAX];
    size_t n = 0;
    for (size_t i = b->next; i < b->n; i++, n++) {
        ids[n] = b->job[i].id;
        runs[n] = b->job[i].f[F_ATTEMPTS]->str;
    }
    /* no job waits in our hands longer than the hold, whatever runs ahead of it */
    handback_arm(w->handback, ids, runs, n, b->taken_ms + w->cfg->prefetch_hold_ms);
}

/* Runs job h, the one b popped last, into o. While it runs, the jobs held
 * behind it may be handed back (worker/handback.h): then b drops them. */
static void worker_run_job(struct worker *w, struct batch *b, struct held_job *h, struct task_outcome *o)
{
    redisReply **f = h->f;
    long long timeout = held_num(h, F_TIMEOUT_MS, 0), ms = held_num(h, F_MS, -1);
    struct task_call call = {
        .id = h->id,
        .task = f[F_TASK]->str,
        .queue = f[F_QUEUE]->str,
        .args = f[F_ARGS]->len ? f[F_ARGS]->str : "null",
        .args_len = f[F_ARGS]->len ? f[F_ARGS]->len : 4,
        .payload = f[F_PAYLOAD]->str,
        .payload_len = f[F_PAYLOAD]->len,
        .ms = ms < 0 || ms > JOB_MS_MAX ? -1 : (int)ms, /* burn refuses -1 */
        .attempt = (unsigned)held_num(h, F_ATTEMPTS, 1),
        .timeout_ms = timeout > 0 ? timeout : w->cfg->task_timeout_ms,
    };
    log_debug("job started", "id=%s task=%s attempt=%s max_attempts=%s", h->id, call.task,
              f[F_ATTEMPTS]->str, f[F_MAX_ATTEMPTS]->str);
    worker_arm(w, b);
    uint64_t start = clock_mono_ns();
    /* The API checks all three; a job written into Redis by other hands is
     * not run (its names reach environments, logs and JSON lines). */
    if (!job_queue_valid(h->id) || !job_queue_valid(call.queue) || !job_task_valid(call.task)) {
        task_outcome_clear(o);
        outcome_malformed(o);
    } else {
        handlers_run(w->handlers, &call, o);
    }
    worker_ran(w, (double)(clock_mono_ns() - start) / 1000.0);
    if (handback_disarm(w->handback) > 0)
        b->next = b->n; /* out of our wip list: not ours to run any more */
    if (o->end != RUN_DONE && o->end != RUN_ABANDONED) {
        char q[LOG_ERROR_SHOWN]; /* log_quote cuts it short, escapes whole */
        log_info("job run failed", "id=%s task=%s end=%s error=%s", h->id, call.task, finish_state(o->end),
                 log_quote(o->error, q, sizeof q));
    }
}

/* Hands the jobs b holds and has not run back to their queues (a stop
 * came, or this process must go), with every report settled first. */
static void worker_untake_rest(struct worker *w, struct batch *b)
{
    const char *argv[2 + 2 * WORKER_PREFETCH_MAX] = {w->cfg->prefix, w->cfg->id};
    int argc = 2;
    for (size_t i = b->next; i < b->n; i++) {
        argv[argc++] = b->job[i].id;
        argv[argc++] = b->job[i].f[F_ATTEMPTS]->str;
    }
    b->next = b->n;
    if (argc == 2)
        return;
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_UNTAKE, argc, argv, NULL);
    if (!reply) /* still in our wip list: our leaving puts them back */
        return;
    if (reply->type == REDIS_REPLY_INTEGER)
        log_info("stopping: the jobs held and not run went back to their queues", "count=%lld",
                 reply->integer);
    freeReplyObject(reply);
}

/* Runs the next job of cur and reports it: pipelined while more of the
 * batch remain, else as the batch's last report, which takes the next
 * batch into *next when the queues have one (see worker_settle). Returns
 * what the job came to. */
static enum job_outcome worker_step(struct worker *w, struct batch *cur, struct batch *next)
{
    size_t i = cur->next;
    struct held_job *h = batch_pop(cur);
    struct task_outcome *o = &w->outcomes[i];
    worker_run_job(w, cur, h, o);
    if (o->end == RUN_ABANDONED) {
        log_warn("second stop signal: abandoning the running job", "id=%s", h->id);
        w->jobs += worker_settle(w, &w->pending, next);
        worker_untake_rest(w, cur);
        return JOB_ABANDONED;
    }
    /* A job going back to its queue is not taken again in the same step:
     * a worker waiting in BLMOVE (one that may serve its task) gets it first. */
    bool back = o->end == RUN_RETRY || o->end == RUN_REQUEUE;
    /* after a pause (a task this worker does not serve, a broken host) the
     * jobs held go back too: a worker that can run them gets them first */
    bool pause = o->no_handler || o->end == RUN_REQUEUE;
    bool stop = o->exit_after || *w->stops > 0 || pause;
    bool last = batch_left(cur) == 0 || stop;
    /* the report says the next held job begins now: it does, right after */
    worker_send(w, &w->pending, h, o, last ? NULL : cur->job[cur->next].id,
                last && !stop && !back ? worker_want(w) : 0);
    enum job_outcome jo = o->exit_after ? JOB_FATAL : JOB_HANDLED;
    if (!last)
        return jo;
    w->jobs += worker_settle(w, &w->pending, next);
    worker_untake_rest(w, cur);
    if (o->no_handler)
        clock_sleep_ms(NO_HANDLER_PAUSE_MS);
    else if (o->end == RUN_REQUEUE)
        clock_sleep_ms(REQUEUE_PAUSE_MS);
    for (size_t k = 0; k < cur->n; k++)
        task_outcome_clear(&w->outcomes[k]);
    worker_summary(w, false);
    return jo;
}

/* Builds the key names the loop uses. Returns 0 or -1 (a name does not fit). */
static int worker_keys(struct worker *w)
{
    const struct worker_config *cfg = w->cfg;
    if (key_wip(w->wip, sizeof w->wip, cfg->prefix, cfg->id) < 0 ||
        key_workers(w->workers, sizeof w->workers, cfg->prefix) < 0 ||
        key_worker_record(w->record, sizeof w->record, cfg->prefix, cfg->id) < 0)
        return -1;
    for (size_t i = 0; i < cfg->nqueues; i++)
        if (key_queue(w->qkeys[i], sizeof w->qkeys[i], cfg->prefix, cfg->queues[i]) < 0)
            return -1;
    return 0;
}

/* Leaves Redis tidy on the way out: after an abandon, every job we hold goes
 * back to its queue; otherwise our wip list is empty and we only
 * deregister. Either way our record stays an hour as a dead worker's
 * ("worker shutdown" or "stopped"). One reconnect attempt at most; if Redis
 * is down, the reaper cleans up after our lease. */
static void worker_leave(struct worker *w, bool abandoned)
{
    char err[256];
    if (!w->conn.ctx && redis_conn_open(&w->conn, err, sizeof err) != 0) {
        char q[300];
        log_warn("redis unavailable at exit; the reaper will deregister us", "err=%s",
                 log_quote(err, q, sizeof q));
        return;
    }
    if (recover_self(w, abandoned ? REASON_SHUTDOWN : REASON_STOPPED, false) != 0)
        log_warn(abandoned ? "could not put the job back; the reaper will" : "could not deregister; the reaper will",
                 "id=%s", w->cfg->id);
}

int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop_requests)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) {
        log_error(MSG_OUT_OF_MEMORY, NULL);
        return 1;
    }
    w->cfg = cfg;
    w->stops = stop_requests;
    w->started_us = job_now_us();
    char name[REDIS_CONN_NAME_MAX], url[URL_HOST_MAX + URL_PATH_MAX + 64];
    char queues[WORKER_QUEUES_BUF];
    if (worker_keys(w) != 0 || worker_client_name(name, sizeof name, cfg->prefix, cfg->id) < 0 ||
        redis_conn_init(&w->conn, &cfg->redis, name, "main", (int)cfg->redis_timeout_ms,
                        (int)cfg->redis_timeout_ms) != 0) {
        log_error("prefix, id or queue names too long", NULL);
        goto err;
    }
    w->conn.refuse_eviction = !cfg->allow_eviction;
    char herr[HANDLER_ERROR_MAX];
    if (!(w->handlers = handlers_new(cfg, stop_requests, true, herr, sizeof herr))) {
        log_error("bad task handlers", "err=\"%s\"", herr);
        goto err;
    }
    handlers_start(w->handlers);
    if (heartbeat_start(&w->hb, cfg) != 0) {
        log_error("cannot start the heartbeat thread", NULL);
        goto err;
    }
    if ((w->mover = wmover_start(cfg)) == NULL) {
        heartbeat_stop(&w->hb);
        goto err;
    }
    if ((w->handback = handback_start(cfg)) == NULL) {
        wmover_stop(w->mover);
        heartbeat_stop(&w->hb);
        goto err;
    }
    redis_url_redact(&cfg->redis, url, sizeof url);
    queues_join(cfg, queues, sizeof queues);
    log_info("worker started", "id=%s redis=%s queues=%s tasks=%s lease_ms=%" PRId64
             " heartbeat_ms=%" PRId64 " redis_timeout_ms=%" PRId64 " task_clock=%s task_nice=%d"
             " prefetch=%d prefetch_hold_ms=%" PRId64,
             cfg->id, url, queues, handlers_names(w->handlers), cfg->lease_ms, cfg->heartbeat_ms,
             cfg->redis_timeout_ms, task_clock_name(cfg->clock), cfg->task_nice, cfg->prefetch,
             cfg->prefetch_hold_ms);
    int status = 0;
    bool abandoned = false;
    struct batch cur = {0}, next = {0};
    /* a job taken just before a stop is the current job: it is run, not
     * dropped (the ones held behind it go back) */
    while (*w->stops == 0 || batch_left(&cur) > 0) {
        if (worker_ensure(w, stop_requested) < 0)
            break;
        if (w->wip_dirty && batch_left(&cur) == 0) {
            /* a FINISH_TAKE broke mid-way: a job may sit in our wip list unseen */
            w->holding = false;
            if (worker_on_connect(w) != 0)
                continue;
            w->wip_dirty = false;
        }
        if (batch_left(&cur) == 0) {
            batch_clear(&cur);
            int rv = worker_take(w, &cur);
            if (rv == 0 && !w->wip_dirty) /* a malformed take: first look at our wip list */
                rv = worker_wait_fetch(w, &cur);
            if (rv <= 0)
                continue;
        }
        w->holding = true;
        enum job_outcome o = worker_step(w, &cur, &next);
        if (batch_left(&cur) == 0) {
            batch_clear(&cur);
            cur = next; /* the jobs FINISH_TAKE took, if any */
            memset(&next, 0, sizeof next);
        }
        w->holding = batch_left(&cur) > 0;
        if (o == JOB_ABANDONED) {
            abandoned = true;
            break;
        }
        if (o == JOB_FATAL) {
            status = 1;
            break;
        }
    }
    if (batch_left(&cur) > 0 && !abandoned)
        abandoned = true; /* Redis gave up on us while we held a job: hand it back */
    batch_clear(&cur);
    batch_clear(&next);
    handback_stop(w->handback);
    worker_summary(w, true);
    /* Stop beating first, so the heartbeat cannot re-register us after we leave. */
    heartbeat_stop(&w->hb);
    wmover_stop(w->mover);
    worker_leave(w, abandoned);
    redis_conn_close(&w->conn);
    if (handlers_thread_left(w->handlers))
        status |= WORKER_EXIT_NOW;
    handlers_free(w->handlers);
    log_info("worker stopped", "id=%s jobs=%lu", cfg->id, w->jobs);
    free(w);
    return status;
err:
    handlers_free(w->handlers);
    free(w);
    return 1;
}
