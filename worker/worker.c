#include "worker/worker.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/job.h"
#include "common/jobid.h"
#include "common/log.h"
#include "worker/heartbeat.h"
#include "worker/redis_conn.h"
#include "worker/wclock.h"

/* Must exceed FETCH_BLOCK_S: a BLMOVE may legitimately block that long. */
#define MAIN_COMMAND_TIMEOUT_MS 5000
/* An idle worker notices SIGTERM (and jobs on lower-priority queues) within this. */
#define FETCH_BLOCK_S "1"
#define TASK_INLINE_MAX_MS 20      /* shorter tasks run on the main thread: a second SIGTERM waits for them */
#define TASK_POLL_MS 50
#define SUMMARY_EVERY_MS 10000     /* period of the "jobs finished" info line */              /* how soon a second SIGTERM abandons a running task */
#define ERROR_PAUSE_MS 1000          /* after an unexpected error reply: don't spin on it */
#define RECOVER_FORCE "9223372036854775807" /* max_heartbeat_ms that never aborts SCRIPT_RECOVER */
#define REASON_SHUTDOWN "worker shutdown"
#define REASON_RESTART "worker restarted"
#define REASON_RECONNECT "redis connection lost"

bool worker_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > WORKER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.:-", id[i]))
            return false;
    return true;
}

int worker_id_default(char *buf, size_t len)
{
    char host[WORKER_ID_MAX + 1] = "worker";
    char rnd[JOBID_LEN + 1];
    if (jobid_new(rnd) != 0)
        return -1;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    host[WORKER_ID_MAX - 20] = '\0'; /* room for "-<pid>-<hex>" */
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
            *p = '-';
    int n = snprintf(buf, len, "%s-%ld-%.4s", host[0] ? host : "worker", (long)getpid(), rnd);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int worker_client_name(char *buf, size_t len, const char *prefix, const char *id)
{
    int n = snprintf(buf, len, "%sworker:%s", prefix, id);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int worker_queues_parse(struct worker_config *cfg, const char *list, char *err, size_t errlen)
{
    int n = snprintf(cfg->queue_buf, sizeof cfg->queue_buf, "%s", list);
    if (n < 0 || (size_t)n >= sizeof cfg->queue_buf) {
        snprintf(err, errlen, "--queues: list too long");
        return -1;
    }
    cfg->nqueues = 0;
    char *save = NULL;
    /* strtok_r would skip empty entries; walk the commas by hand to reject them. */
    for (char *q = cfg->queue_buf;; q = save + 1) {
        save = strchr(q, ',');
        if (save)
            *save = '\0';
        if (!job_queue_valid(q)) {
            snprintf(err, errlen,
                     "--queues: invalid queue name \"%s\" (want [A-Za-z0-9_.:-]{1,%d})", q,
                     JOB_QUEUE_MAX);
            return -1;
        }
        if (cfg->nqueues == WORKER_QUEUES_MAX) {
            snprintf(err, errlen, "--queues: more than %d queues", WORKER_QUEUES_MAX);
            return -1;
        }
        cfg->queues[cfg->nqueues++] = q;
        if (!save)
            break;
    }
    return 0;
}

/* ---- the task thread ---------------------------------------------------- */

/* One task run, shared by the worker thread and the task thread. Each holds a
 * reference; whoever drops the last one frees it, so a worker that abandons a
 * task (second SIGTERM) can return while the task thread still reads it. */
struct task_ctx {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    int ms;
    int nice;
    enum task_clock clock;
    char *payload; /* owned */
    size_t len;
    struct task_result result;
};

/* Returns a context holding a copy of payload with two references, or NULL. */
static struct task_ctx *task_ctx_new(int ms, int nice, enum task_clock clock, const char *payload,
                                     size_t len)
{
    struct task_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->payload = malloc(len + 1);
    if (!t->payload)
        goto err;
    memcpy(t->payload, payload, len);
    t->payload[len] = '\0';
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        goto err;
    if (wclock_cond_init(&t->done_cv) != 0) {
        pthread_mutex_destroy(&t->mu);
        goto err;
    }
    t->refs = 2;
    t->ms = ms;
    t->nice = nice;
    t->clock = clock;
    t->len = len;
    return t;
err:
    free(t->payload);
    free(t);
    return NULL;
}

/* Drops one reference; the last frees everything. */
static void task_ctx_unref(struct task_ctx *t)
{
    pthread_mutex_lock(&t->mu);
    int left = --t->refs;
    pthread_mutex_unlock(&t->mu);
    if (left > 0)
        return;
    pthread_cond_destroy(&t->done_cv);
    pthread_mutex_destroy(&t->mu);
    free(t->payload);
    free(t);
}

static void *task_thread(void *arg)
{
    struct task_ctx *t = arg;
    struct task_result r;
    /* Linux nice is per thread: only the task yields, never the heartbeat.
     * Raising one's own niceness needs no privilege; should it fail, the
     * task merely runs at the worker's rank. */
    if (t->nice > 0)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), t->nice);
    task_run(t->ms, t->clock, t->payload, t->len, &r);
    pthread_mutex_lock(&t->mu);
    t->result = r;
    t->done = true;
    pthread_cond_signal(&t->done_cv);
    pthread_mutex_unlock(&t->mu);
    task_ctx_unref(t);
    return NULL;
}

/* ---- the worker --------------------------------------------------------- */

struct worker {
    const struct worker_config *cfg;
    volatile sig_atomic_t *stops;  /* SIGTERM/SIGINT count, written by the signal handler */
    struct redis_conn conn;        /* fetch, start, finish: this thread only */
    struct heartbeat hb;
    char wip[WORKER_KEY_MAX];
    char workers[WORKER_KEY_MAX];
    char qkeys[WORKER_QUEUES_MAX][WORKER_KEY_MAX];
    bool holding;                  /* a fetched job is in hand: don't recover our wip list */
    bool wip_dirty;                /* a FINISH_TAKE broke: our wip list may hold an unseen job */
    unsigned long jobs;            /* jobs finished */
    unsigned long summary_jobs;    /* w->jobs at the last summary line */
    int64_t summary_at_ms;
};

/* What one fetched job came to. */
enum job_outcome {
    JOB_HANDLED,   /* finished and reported, skipped, or left for recovery: fetch the next */
    JOB_ABANDONED, /* second stop while it ran: the caller puts it back and stops */
    JOB_FATAL,     /* out of memory or threads: the caller stops with status 1 */
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
 * are deregistered. Returns 0, or -1 when the connection broke. */
static int recover_self(struct worker *w, const char *reason)
{
    char now[24], ttl[24];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    snprintf(ttl, sizeof ttl, "%" PRId64, w->cfg->result_ttl_s);
    const char *argv[] = {w->cfg->prefix, w->cfg->id, now, ttl, RECOVER_FORCE, reason};
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_RECOVER, 6, argv, NULL);
    if (!reply)
        return -1;
    char q[256];
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        log_info("put our jobs back", "reason=\"%s\" requeued=%lld dead=%lld", reason,
                 reply->element[0]->integer, reply->element[1]->integer);
    else
        log_error("recover script failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
    freeReplyObject(reply);
    return 0;
}

/* After every (re)connect: hand back whatever a lost BLMOVE or SCRIPT_START
 * left in our wip list (unless we hold that job and will finish it), then
 * register. Returns 0, or -1 when the connection broke again. */
static int worker_on_connect(struct worker *w)
{
    if (!w->holding) {
        redisReply *reply = redis_conn_command(&w->conn, "LLEN %s", w->wip);
        if (!reply)
            return -1;
        long long left = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
        freeReplyObject(reply);
        if (left > 0 &&
            recover_self(w, w->conn.connects > 1 ? REASON_RECONNECT : REASON_RESTART) != 0)
            return -1;
    }
    char score[24];
    snprintf(score, sizeof score, "%" PRId64, job_now_us() / 1000);
    redisReply *reply =
        redis_conn_command(&w->conn, "ZADD %s %s %s", w->workers, score, w->cfg->id);
    if (!reply)
        return -1;
    freeReplyObject(reply);
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

/* A job in hand: taken into our wip list and marked running. */
struct held_job {
    char *id;      /* owned; NULL when nothing is held */
    char *ms;      /* owned */
    char *payload; /* owned */
    size_t len;
    char attempt[24];
    char max_attempts[24];
};

static void held_clear(struct held_job *h)
{
    free(h->id);
    free(h->ms);
    free(h->payload);
    memset(h, 0, sizeof *h);
}

static char *reply_strdup(const redisReply *r, size_t *len)
{
    const char *s = r->type == REDIS_REPLY_STRING ? r->str : "";
    size_t n = r->type == REDIS_REPLY_STRING ? r->len : 0;
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    if (len)
        *len = n;
    return out;
}

/* Fills h from {id, ms, payload, attempts, max_attempts}. Returns 0, or -1 on
 * a malformed reply or out of memory (h is left empty). */
static int held_from(struct held_job *h, redisReply **f)
{
    held_clear(h);
    if (f[0]->type != REDIS_REPLY_STRING)
        return -1;
    h->id = reply_strdup(f[0], NULL);
    h->ms = reply_strdup(f[1], NULL);
    h->payload = reply_strdup(f[2], &h->len);
    if (!h->id || !h->ms || !h->payload) {
        held_clear(h);
        return -1;
    }
    snprintf(h->attempt, sizeof h->attempt, "%s", f[3]->type == REDIS_REPLY_STRING ? f[3]->str : "?");
    snprintf(h->max_attempts, sizeof h->max_attempts, "%s",
             f[4]->type == REDIS_REPLY_STRING ? f[4]->str : "?");
    return 0;
}

/* The queue names as script arguments, after `first` fixed ones. */
static int queue_args(const struct worker *w, const char **argv, int first)
{
    for (size_t i = 0; i < w->cfg->nqueues; i++)
        argv[first + (int)i] = w->cfg->queues[i];
    return first + (int)w->cfg->nqueues;
}

/* SCRIPT_TAKE: the next job of any queue, without blocking. Returns 1 with
 * *h filled, 0 when every queue is empty, -1 when the connection broke. */
static int worker_take(struct worker *w, struct held_job *h)
{
    char now[24];
    const char *argv[3 + WORKER_QUEUES_MAX];
    snprintf(now, sizeof now, "%" PRId64, job_now_us());
    argv[0] = w->cfg->prefix;
    argv[1] = w->cfg->id;
    argv[2] = now;
    int argc = queue_args(w, argv, 3);
    redisReply *reply = redis_conn_eval(&w->conn, SCRIPT_TAKE, argc, argv, NULL);
    if (!reply)
        return -1;
    int rv = 0;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
        rv = held_from(h, reply->element) == 0 ? 1 : 0;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        char q[256];
        log_error("take script failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
        wclock_sleep_ms(ERROR_PAUSE_MS);
    }
    freeReplyObject(reply);
    return rv;
}

/* Every queue was empty: BLMOVE on the highest-priority one for up to
 * FETCH_BLOCK_S (lower ones are looked at again by the next TAKE), then
 * SCRIPT_START. Returns 1 with *h filled, 0 when nothing came, -1 when the
 * connection broke. */
static int worker_wait_fetch(struct worker *w, struct held_job *h)
{
    redisReply *reply = redis_conn_command(&w->conn, "BLMOVE %s %s RIGHT LEFT " FETCH_BLOCK_S,
                                           w->qkeys[0], w->wip);
    if (!reply)
        return -1;
    if (reply->type != REDIS_REPLY_STRING) {
        if (reply->type == REDIS_REPLY_ERROR) {
            char q[256];
            log_error("fetch failed", "err=%s", redis_conn_reply_err(reply, q, sizeof q));
            wclock_sleep_ms(ERROR_PAUSE_MS);
        }
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
        w->holding = false; /* unknown whether it started: the reconnect hands our wip back */
        return -1;
    }
    int rv = 0;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 4) {
        redisReply idr = {.type = REDIS_REPLY_STRING, .str = id, .len = strlen(id)};
        redisReply *f[5] = {&idr, reply->element[0], reply->element[1], reply->element[2],
                            reply->element[3]};
        rv = held_from(h, f) == 0 ? 1 : 0;
    } else if (reply->type == REDIS_REPLY_NIL) {
        log_debug("job skipped: gone, cancelled or finished", "id=%s", id);
    } else {
        char q[256];
        log_error("start script failed; job left in our wip list", "id=%s err=%s", id,
                  redis_conn_reply_err(reply, q, sizeof q));
        wclock_sleep_ms(ERROR_PAUSE_MS);
    }
    if (rv != 1)
        w->holding = false;
    freeReplyObject(reply);
    return rv;
}

/* Reports a result. While no stop was asked for and `next` is given, the
 * report also takes the next job (SCRIPT_FINISH_TAKE: one round trip per
 * job); *next is filled when one came. If that round trip breaks, the result
 * is reported again with plain SCRIPT_FINISH, retried across reconnects until
 * Redis has it (a result is never dropped while the process lives, unless a
 * second stop says give up), and w->wip_dirty says a job may have been taken
 * unseen. Returns 0 reported, -1 given up. */
static int worker_finish(struct worker *w, const char *id, const char *state,
                         const struct task_result *r, const char *error, struct held_job *next)
{
    char ttl[24], digest[24], iters[24], cpu[32], wall[32], now[24];
    const char *argv[11 + WORKER_QUEUES_MAX];
    snprintf(ttl, sizeof ttl, "%" PRId64, w->cfg->result_ttl_s);
    snprintf(digest, sizeof digest, "%016" PRIx64, r->digest);
    snprintf(iters, sizeof iters, "%" PRIu64, r->iterations);
    snprintf(cpu, sizeof cpu, "%.3f", r->cpu_ms);
    snprintf(wall, sizeof wall, "%.3f", r->wall_ms);
    const char *fixed[] = {w->cfg->prefix, id, w->cfg->id, now, ttl, state, digest, iters, cpu, wall, error};
    memcpy(argv, fixed, sizeof fixed);
    bool take = next != NULL && *w->stops == 0;
    for (;;) {
        if (worker_ensure(w, abandon_requested) < 0) {
            log_error("result lost: Redis unreachable and told to stop", "id=%s", id);
            return -1;
        }
        snprintf(now, sizeof now, "%" PRId64, job_now_us());
        redisReply *reply = take ? redis_conn_eval(&w->conn, SCRIPT_FINISH_TAKE, queue_args(w, argv, 11), argv, NULL)
                                 : redis_conn_eval(&w->conn, SCRIPT_FINISH, 11, argv, NULL);
        if (!reply) {
            if (take)
                w->wip_dirty = true;
            take = false;
            continue; /* broken: reconnect and report again (the script is idempotent) */
        }
        char q[256];
        long long done = -1;
        if (reply->type == REDIS_REPLY_INTEGER)
            done = reply->integer;
        else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER)
            done = reply->element[0]->integer;
        if (done == 1)
            log_debug("job finished", "id=%s state=%s cpu_ms=%s wall_ms=%s iterations=%s", id,
                     state, cpu, wall, iters);
        else if (done == 0)
            log_warn("result ignored: job already terminal or gone", "id=%s", id);
        else
            log_error("finish script failed", "id=%s err=%s", id,
                      redis_conn_reply_err(reply, q, sizeof q));
        if (take && reply->type == REDIS_REPLY_ARRAY && reply->elements == 6 &&
            held_from(next, reply->element + 1) != 0)
            w->wip_dirty = true; /* out of memory: let the recovery hand it back */
        freeReplyObject(reply);
        return 0;
    }
}

/* Runs the task on its own thread and waits for it, or for a second stop.
 * Returns 0 with *out filled, 1 when abandoned, -1 when no thread could run. */
static int worker_run_task(struct worker *w, int ms, const char *payload, size_t len,
                           struct task_result *out)
{
    if (ms <= TASK_INLINE_MAX_MS) {
        /* too short to be worth a thread (or to abandon): run it here */
        task_run(ms, w->cfg->clock, payload, len, out);
        return 0;
    }
    struct task_ctx *t = task_ctx_new(ms, w->cfg->task_nice, w->cfg->clock, payload, len);
    if (!t)
        return -1;
    pthread_attr_t attr;
    pthread_t th;
    if (pthread_attr_init(&attr) != 0)
        goto err;
    int created = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&th, &attr, task_thread, t) == 0;
    pthread_attr_destroy(&attr);
    if (!created)
        goto err;
    pthread_mutex_lock(&t->mu);
    while (!t->done && *w->stops < 2) {
        struct timespec ts = wclock_deadline(TASK_POLL_MS);
        pthread_cond_timedwait(&t->done_cv, &t->mu, &ts);
    }
    bool done = t->done;
    if (done)
        *out = t->result;
    pthread_mutex_unlock(&t->mu);
    task_ctx_unref(t);
    return done ? 0 : 1;
err:
    task_ctx_unref(t); /* the thread's reference */
    task_ctx_unref(t);
    return -1;
}

/* One info line per SUMMARY_EVERY_MS with the jobs done meanwhile (each job
 * has its own line at debug level: at thousands of jobs a second, a line
 * per job costs more than the job). */
static void worker_summary(struct worker *w, bool force)
{
    int64_t now = wclock_mono_ms();
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

/* Runs a held job and reports it, taking the next one into *next when the
 * queues have one (see worker_finish). */
static enum job_outcome worker_process(struct worker *w, const struct held_job *h, struct held_job *next)
{
    char *end;
    long ms = strtol(h->ms, &end, 10);
    struct task_result result = {0};
    log_debug("job started", "id=%s ms=%s attempt=%s max_attempts=%s", h->id, h->ms, h->attempt,
              h->max_attempts);
    if (h->ms[0] == '\0' || *end != '\0' || ms < 0 || ms > JOB_MS_MAX) {
        worker_finish(w, h->id, "failed", &result, "invalid ms in job", next);
        return JOB_HANDLED;
    }
    int rv = worker_run_task(w, (int)ms, h->payload, h->len, &result);
    if (rv == 1) {
        log_warn("second stop signal: abandoning the running job", "id=%s", h->id);
        return JOB_ABANDONED;
    }
    if (rv < 0) {
        log_error("cannot run the task (out of memory or threads)", "id=%s", h->id);
        return JOB_FATAL;
    }
    if (worker_finish(w, h->id, "done", &result, "", next) == 0)
        w->jobs++;
    worker_summary(w, false);
    return JOB_HANDLED;
}

/* Builds the key names the loop uses. Returns 0 or -1 (a name does not fit). */
static int worker_keys(struct worker *w)
{
    const struct worker_config *cfg = w->cfg;
    if (key_wip(w->wip, sizeof w->wip, cfg->prefix, cfg->id) < 0 ||
        key_workers(w->workers, sizeof w->workers, cfg->prefix) < 0)
        return -1;
    for (size_t i = 0; i < cfg->nqueues; i++)
        if (key_queue(w->qkeys[i], sizeof w->qkeys[i], cfg->prefix, cfg->queues[i]) < 0)
            return -1;
    return 0;
}

/* Leaves Redis tidy on the way out: after an abandon, every job we hold goes
 * back to its queue; otherwise our wip list is empty and we only ZREM
 * ourselves. One reconnect attempt at most; if Redis is down, the reaper
 * cleans up after our lease. */
static void worker_leave(struct worker *w, bool abandoned)
{
    char err[256];
    if (!w->conn.ctx && redis_conn_open(&w->conn, err, sizeof err) != 0) {
        char q[300];
        log_warn("redis unavailable at exit; the reaper will deregister us", "err=%s",
                 log_quote(err, q, sizeof q));
        return;
    }
    if (abandoned) {
        if (recover_self(w, REASON_SHUTDOWN) != 0)
            log_warn("could not put the job back; the reaper will", "id=%s", w->cfg->id);
        return;
    }
    redisReply *reply = redis_conn_command(&w->conn, "ZREM %s %s", w->workers, w->cfg->id);
    if (reply)
        freeReplyObject(reply);
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

int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop_requests)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) {
        log_error("out of memory", NULL);
        return 1;
    }
    w->cfg = cfg;
    w->stops = stop_requests;
    char name[REDIS_CONN_NAME_MAX], url[URL_HOST_MAX + URL_PATH_MAX + 64];
    char queues[WORKER_QUEUES_BUF];
    if (worker_keys(w) != 0 || worker_client_name(name, sizeof name, cfg->prefix, cfg->id) < 0 ||
        redis_conn_init(&w->conn, &cfg->redis, name, "main", MAIN_COMMAND_TIMEOUT_MS) != 0) {
        log_error("prefix, id or queue names too long", NULL);
        goto err;
    }
    if (heartbeat_start(&w->hb, cfg) != 0) {
        log_error("cannot start the heartbeat thread", NULL);
        goto err;
    }
    redis_url_redact(&cfg->redis, url, sizeof url);
    queues_join(cfg, queues, sizeof queues);
    log_info("worker started", "id=%s redis=%s queues=%s lease_ms=%" PRId64
             " heartbeat_ms=%" PRId64 " task_clock=%s task_nice=%d",
             cfg->id, url, queues, cfg->lease_ms, cfg->heartbeat_ms, task_clock_name(cfg->clock), cfg->task_nice);
    int status = 0;
    bool abandoned = false;
    struct held_job cur = {0}, next = {0};
    /* a job taken just before a stop is the current job: it is run, not dropped */
    while (*w->stops == 0 || cur.id != NULL) {
        if (worker_ensure(w, stop_requested) < 0)
            break;
        if (w->wip_dirty) {
            /* a FINISH_TAKE broke mid-way: a job may sit in our wip list unseen */
            w->holding = false;
            if (worker_on_connect(w) != 0)
                continue;
            w->wip_dirty = false;
        }
        if (cur.id == NULL) {
            int rv = worker_take(w, &cur);
            if (rv == 0)
                rv = worker_wait_fetch(w, &cur);
            if (rv <= 0)
                continue;
        }
        w->holding = true;
        enum job_outcome o = worker_process(w, &cur, &next);
        held_clear(&cur);
        cur = next; /* the job FINISH_TAKE took, if any */
        memset(&next, 0, sizeof next);
        w->holding = cur.id != NULL;
        if (o == JOB_ABANDONED) {
            abandoned = true;
            break;
        }
        if (o == JOB_FATAL) {
            status = 1;
            break;
        }
    }
    if (cur.id && !abandoned)
        abandoned = true; /* Redis gave up on us while we held a job: hand it back */
    held_clear(&cur);
    worker_summary(w, true);
    /* Stop beating first, so the heartbeat cannot re-register us after we leave. */
    heartbeat_stop(&w->hb);
    worker_leave(w, abandoned);
    redis_conn_close(&w->conn);
    log_info("worker stopped", "id=%s jobs=%lu", cfg->id, w->jobs);
    free(w);
    return status;
err:
    free(w);
    return 1;
}
