/* `loadgen jobs`; see jobs.h. */
#include "loadgen/jobs.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/defaults.h"
#include "common/errmsg.h"
#include "common/hist.h"
#include "common/job.h"
#include "common/url.h"
#include "loadgen/flags.h"
#include "loadgen/http_client.h"
#include "loadgen/jobbody.h"
#include "loadgen/pace.h"
#include "loadgen/report.h"
#include "loadgen/request.h"
#include "loadgen/run.h"

#define JOBS_SUBMIT_TIMEOUT_MS 30000 /* one POST, even of 1,000 jobs, is one Redis round trip */
#define JOBS_POLL_SLACK_MS 10000     /* a long poll may take its wait plus this */
#define JOBS_RETRY_MS 200            /* pause after a 429/503 or a failed poll */
#define JOBS_POLL_RETRIES 3          /* failed polls in a row before a job is given up as lost */
#define JOBS_TICK_MS 50              /* timeouts, retries and the deadline are checked this often */
#define JOBS_ID_MAX 64               /* longer ids are not ours */

struct jobs_opts {
    struct http_url api;
    long n, ms, conns, batch; /* ms < 0: not sent (a task other than burn) */
    const char *queue;
    const char *task;         /* NULL: not sent (burn) */
    const char *args;         /* JSON text; NULL: not sent */
    int64_t job_timeout_ms;   /* 0: not sent */
    double rate;      /* 0: submit as fast as accepted */
    int64_t wait_ms;  /* long-poll wait per GET */
    int64_t timeout_ms; /* the whole run */
    bool poll_after;  /* long-poll only the last job until it ends, then read the rest */
};

enum rec_phase {
    REC_UNSENT,     /* not yet handed to a submitter */
    REC_SUBMITTING, /* in a POST in flight (or waiting to retry one) */
    REC_WAITING,    /* accepted, has an id; not yet seen terminal */
    REC_FINAL,      /* seen terminal, or given up on */
};

/* One job as this run knows it. */
struct rec {
    enum rec_phase phase;
    char id[JOBS_ID_MAX + 1];
    const char *outcome; /* a job state name, or "unsubmitted", "unknown" (404), "lost" (polls failed) */
    double created, started, finished; /* Unix seconds; 0 when unset */
    int poll_failures;
};

enum slot_role {
    ROLE_SUBMIT, /* POSTs batches of records */
    ROLE_WAIT,   /* long-polls one record at a time */
};

struct jslot {
    struct jobs *j;
    enum slot_role role;
    struct conn *conn;
    bool busy;
    uint64_t sent_ns, timeout_ns;
    uint64_t retry_at_ns; /* idle until then; a submitter keeps its batch to resend */
    size_t first, count;  /* the records the request is about (count 0: none held) */
    struct request req;   /* owned; rebuilt for every poll and for a POST of a short batch */
};

struct jobs {
    const struct jobs_opts *o;
    struct event_base *base;
    char *scratch;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct http_url post_url;    /* the API's /jobs */
    char *job_json;              /* one job object, the same for every job */
    size_t job_json_len;
    struct request full_req;     /* the POST of a full batch (full_count jobs), built once */
    size_t full_count;
    struct rec *recs;
    size_t next_submit;          /* first REC_UNSENT record */
    size_t *pollq;               /* ring of record indices to poll; each is in it at most once */
    size_t pq_head, pq_len;
    size_t final;                /* records in REC_FINAL */
    size_t gate;                 /* poll_after: the record waited on first (SIZE_MAX: not chosen yet) */
    size_t last_accepted;        /* the last record of the batch accepted last: the queue's tail */
    bool gate_open;              /* poll_after: every accepted record may be polled */
    struct jslot *slots;         /* submitters first, then waiters */
    int nslots;
    struct event *ev_tick, *ev_sched, *ev_int, *ev_term;
    uint64_t t0_ns, deadline_ns, submit_end_ns;
    struct pace pace;            /* open loop: job k's POST is due at pace_intended(k) */
    uint64_t submit_errors, poll_errors, retries;
    char first_error[256];
    bool interrupted, timed_out;
};

static void jobs_pump(struct jobs *j, uint64_t now);

static long lmin(long a, long b)
{
    return a < b ? a : b;
}

static void pollq_push(struct jobs *j, size_t idx)
{
    j->pollq[(j->pq_head + j->pq_len) % (size_t)j->o->n] = idx;
    j->pq_len++;
}

static size_t pollq_pop(struct jobs *j)
{
    size_t idx = j->pollq[j->pq_head];
    j->pq_head = (j->pq_head + 1) % (size_t)j->o->n;
    j->pq_len--;
    return idx;
}

static void rec_finish(struct jobs *j, struct rec *r, const char *outcome)
{
    if (r->phase == REC_FINAL)
        return;
    r->phase = REC_FINAL;
    r->outcome = outcome;
    j->final++;
}

static void note_error(struct jobs *j, const char *what, int status, const char *body)
{
    if (j->first_error[0] != '\0')
        return;
    if (status > 0)
        snprintf(j->first_error, sizeof j->first_error, "%s: HTTP %d %.160s", what, status, body ? body : "");
    else
        snprintf(j->first_error, sizeof j->first_error, "%s: %.160s", what, body);
}

static const char *conn_error_name(enum conn_error e)
{
    switch (e) {
    case CONN_ERR_CONNECT: return "cannot connect";
    case CONN_ERR_WRITE: return "connection broke while sending";
    case CONN_ERR_TIMEOUT: return "timed out";
    default: return "connection broke while reading";
    }
}

static double json_time(const json_t *job, const char *key)
{
    const json_t *v = json_object_get(job, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* Copies an id from the API's answer; false when it is not a plausible id. */
static bool id_copy(char *dst, const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0' || strlen(s) > JOBS_ID_MAX || strspn(s, "0123456789abcdefABCDEF-_") != strlen(s))
        return false;
    strcpy(dst, s);
    return true;
}

/* The answer to a POST /jobs: 202 {"id"} or {"ids":[...]}. */
static void on_submitted(struct jslot *s, enum conn_error err, const struct http_parser *p, uint64_t now)
{
    struct jobs *j = s->j;
    int status = err == CONN_OK ? p->status : 0;
    if (status == 429 || status == 503) { /* queue full or overloaded: back off, send the same batch again */
        j->retries++;
        s->retry_at_ns = now + JOBS_RETRY_MS * CLOCK_NS_PER_MS;
        return;
    }
    size_t first = s->first, count = s->count;
    s->count = 0;
    json_t *body = NULL;
    if (status >= 200 && status < 300 && p->body != NULL)
        body = json_loadb(p->body, p->body_len, 0, NULL);
    const json_t *ids = json_object_get(body, "ids");
    bool ok = body != NULL;
    for (size_t i = 0; ok && i < count; i++) {
        const json_t *v = json_is_array(ids) ? json_array_get(ids, i) : i == 0 ? json_object_get(body, "id") : NULL;
        ok = id_copy(j->recs[first + i].id, v);
    }
    json_decref(body);
    if (!ok) {
        j->submit_errors++;
        if (err != CONN_OK)
            note_error(j, "POST /jobs", 0, conn_error_name(err));
        else
            note_error(j, "POST /jobs", status, p->body);
        for (size_t i = 0; i < count; i++)
            rec_finish(j, &j->recs[first + i], "unsubmitted");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        j->recs[first + i].phase = REC_WAITING;
        j->recs[first + i].outcome = "queued";
        if (!j->o->poll_after)
            pollq_push(j, first + i); /* else jobs_gate queues it */
    }
    j->last_accepted = first + count - 1;
    j->submit_end_ns = now;
}

/* The answer to GET /jobs/{id}?wait=S. */
static void on_polled(struct jslot *s, enum conn_error err, const struct http_parser *p, uint64_t now)
{
    struct jobs *j = s->j;
    struct rec *r = &j->recs[s->first];
    s->count = 0;
    int status = err == CONN_OK ? p->status : 0;
    if (status == 404) {
        rec_finish(j, r, "unknown");
        return;
    }
    json_t *job = status == 200 && p->body != NULL ? json_loadb(p->body, p->body_len, 0, NULL) : NULL;
    enum job_state st;
    const char *state = json_string_value(json_object_get(job, "state"));
    if (job == NULL || state == NULL || job_state_parse(state, &st) != 0) {
        json_decref(job);
        if (++r->poll_failures >= JOBS_POLL_RETRIES) {
            j->poll_errors++;
            if (err != CONN_OK)
                note_error(j, "GET /jobs/{id}", 0, conn_error_name(err));
            else
                note_error(j, "GET /jobs/{id}", status, p->body);
            rec_finish(j, r, "lost");
        } else {
            pollq_push(j, s->first);
        }
        s->retry_at_ns = now + JOBS_RETRY_MS * CLOCK_NS_PER_MS;
        return;
    }
    r->poll_failures = 0;
    r->outcome = job_state_name(st);
    r->created = json_time(job, "created_at");
    r->started = json_time(job, "started_at");
    r->finished = json_time(job, "finished_at");
    json_decref(job);
    if (job_state_terminal(st))
        rec_finish(j, r, job_state_name(st));
    else
        pollq_push(j, s->first); /* the wait ran out first: poll again */
}

static void slot_on_done(struct conn *c, enum conn_error err, const struct http_parser *p, void *arg)
{
    (void)c;
    struct jslot *s = arg;
    uint64_t now = clock_mono_ns();
    s->busy = false;
    if (s->role == ROLE_SUBMIT)
        on_submitted(s, err, p, now);
    else
        on_polled(s, err, p, now);
    jobs_pump(s->j, now);
}

/* Sends req (the slot's own or the shared full batch; it stays valid
 * until the answer). */
static void slot_send(struct jslot *s, const struct request *req, uint64_t now, int64_t timeout_ms)
{
    s->busy = true;
    s->sent_ns = now;
    s->timeout_ns = (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
    conn_send(s->conn, req->buf, req->len, false, true);
}

/* Builds into out the POST /jobs of `count` copies of the run's job.
 * Returns 0, or -1 with a message in err. */
static int jobs_build_post(const struct jobs *j, size_t count, struct request *out, char *err, size_t errlen)
{
    const char *hdr[] = {"Content-Type: application/json"};
    size_t len;
    char *body = jobbody_batch(j->job_json, j->job_json_len, count, &len);
    if (body == NULL)
        return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    int rc = request_build(out, "POST", &j->post_url, hdr, 1, body, len, err, errlen);
    free(body);
    return rc;
}

/* POSTs records [first, first+count): a full batch from the request built
 * once, a shorter one (the run's last) built now. Returns 0, or -1 (no
 * memory: the records are given up). */
static int slot_submit(struct jslot *s, uint64_t now)
{
    struct jobs *j = s->j;
    const struct request *req = &j->full_req;
    char err[128];
    if (s->count != j->full_count) {
        request_free(&s->req);
        if (jobs_build_post(j, s->count, &s->req, err, sizeof err) != 0)
            goto err;
        req = &s->req;
    }
    slot_send(s, req, now, JOBS_SUBMIT_TIMEOUT_MS);
    return 0;
err:
    note_error(j, "POST /jobs", 0, err);
    j->submit_errors++;
    for (size_t i = 0; i < s->count; i++)
        rec_finish(j, &j->recs[s->first + i], "unsubmitted");
    s->count = 0;
    return -1;
}

static int slot_poll(struct jslot *s, size_t idx, uint64_t now)
{
    struct jobs *j = s->j;
    char path[JOBS_ID_MAX + 64], err[128];
    struct http_url url;
    s->first = idx;
    s->count = 1;
    snprintf(path, sizeof path, "/jobs/%s?wait=%lld", j->recs[idx].id, (long long)(j->o->wait_ms / 1000));
    request_free(&s->req);
    if (request_url_join(&j->o->api, path, &url, err, sizeof err) != 0 ||
        request_build(&s->req, "GET", &url, NULL, 0, NULL, 0, err, sizeof err) != 0) {
        j->poll_errors++;
        rec_finish(j, &j->recs[idx], "lost");
        s->count = 0;
        return -1;
    }
    slot_send(s, &s->req, now, j->o->wait_ms + JOBS_POLL_SLACK_MS);
    return 0;
}

/* --poll-after: once every job is submitted, only the last job of the batch
 * accepted last (the queue's tail) is long-polled; when it has ended (the
 * queue is drained, FIFO), every other record is queued for one read. The
 * machine then runs the jobs without the observer's GETs competing for its
 * CPU. */
static void jobs_gate(struct jobs *j)
{
    size_t n = (size_t)j->o->n;
    if (!j->o->poll_after || j->gate_open || j->next_submit < n)
        return;
    for (int i = 0; i < j->nslots; i++)
        if (j->slots[i].role == ROLE_SUBMIT && j->slots[i].count > 0)
            return; /* a batch is still in flight or waiting to be sent again */
    if (j->gate == SIZE_MAX) {
        if (j->recs[j->last_accepted].phase == REC_WAITING) {
            j->gate = j->last_accepted;
            pollq_push(j, j->gate);
            return;
        }
    } else if (j->recs[j->gate].phase != REC_FINAL) {
        return;
    }
    j->gate_open = true;
    for (size_t k = 0; k < n; k++)
        if (j->recs[k].phase == REC_WAITING && k != j->gate)
            pollq_push(j, k);
}

/* Gives every idle connection its next request and, in an open loop, sets
 * the timer for the next scheduled job. Ends the loop when every job is final. */
static void jobs_pump(struct jobs *j, uint64_t now)
{
    const struct jobs_opts *o = j->o;
    size_t n = (size_t)o->n;
    jobs_gate(j);
    for (int i = 0; i < j->nslots; i++) {
        struct jslot *s = &j->slots[i];
        if (s->busy || s->retry_at_ns > now || j->interrupted || j->timed_out)
            continue;
        if (s->role == ROLE_SUBMIT) {
            if (s->count == 0) { /* else: a batch to send again */
                if (j->next_submit >= n || (o->rate > 0 && !pace_due(&j->pace, j->next_submit, now)))
                    continue;
                s->first = j->next_submit;
                s->count = o->rate > 0 ? 1 : (size_t)o->batch;
                if (s->count > n - s->first)
                    s->count = n - s->first;
                j->next_submit += s->count;
                for (size_t k = 0; k < s->count; k++)
                    j->recs[s->first + k].phase = REC_SUBMITTING;
            }
            slot_submit(s, now);
        } else if (j->pq_len > 0) {
            slot_poll(s, pollq_pop(j), now);
        }
    }
    /* the next job's time is still to come: wake for it. Already due: no
     * submit connection was free, and the next one to finish (or the tick,
     * for one waiting to retry) pumps again; a timer now would spin. */
    if (o->rate > 0 && j->next_submit < n && !pace_due(&j->pace, j->next_submit, now))
        pace_arm(&j->pace, j->ev_sched, j->next_submit, now);
    if (j->final >= n)
        event_base_loopbreak(j->base);
}

static void jobs_on_sched(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    jobs_pump(arg, clock_mono_ns());
}

static void jobs_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jobs *j = arg;
    uint64_t now = clock_mono_ns();
    if (now >= j->deadline_ns) {
        j->timed_out = true;
        event_base_loopbreak(j->base);
        return;
    }
    for (int i = 0; i < j->nslots; i++) {
        struct jslot *s = &j->slots[i];
        if (s->busy && now - s->sent_ns > s->timeout_ns) {
            conn_reset(s->conn);
            s->busy = false;
            if (s->role == ROLE_SUBMIT)
                on_submitted(s, CONN_ERR_TIMEOUT, NULL, now);
            else
                on_polled(s, CONN_ERR_TIMEOUT, NULL, now);
        }
    }
    jobs_pump(j, now);
}

static void jobs_on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jobs *j = arg;
    j->interrupted = true;
    event_base_loopbreak(j->base);
}

/* Sets up the loop and connections. Returns 0, or -1 with a message in err. */
static int jobs_init(struct jobs *j, const struct jobs_opts *o, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->gate = SIZE_MAX;
    j->o = o;
    if (run_resolve(o->api.host, o->api.port, &j->addr, &j->addrlen, err, errlen) != 0 ||
        request_url_join(&o->api, "/jobs", &j->post_url, err, errlen) != 0)
        return -1;
    struct jobbody jb = {.task = o->task, .ms = o->ms, .args = o->args, .timeout_ms = o->job_timeout_ms,
                         .queue = o->queue};
    j->job_json = jobbody_object(&jb, &j->job_json_len);
    if (j->job_json == NULL)
        return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    /* Every POST but perhaps the last carries this many jobs. */
    j->full_count = o->rate > 0 ? 1 : (size_t)lmin(o->batch, o->n);
    if (jobs_build_post(j, j->full_count, &j->full_req, err, errlen) != 0)
        return -1;
    j->recs = calloc((size_t)o->n, sizeof *j->recs);
    j->pollq = calloc((size_t)o->n, sizeof *j->pollq);
    j->scratch = malloc(CONN_READ_BUF);
    j->slots = calloc((size_t)o->conns * 2, sizeof *j->slots);
    j->base = event_base_new();
    if (j->recs == NULL || j->pollq == NULL || j->scratch == NULL || j->slots == NULL || j->base == NULL)
        return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    for (long i = 0; i < o->n; i++)
        j->recs[i].outcome = "unsubmitted";
    for (int i = 0; i < (int)o->conns * 2; i++) {
        struct jslot *s = &j->slots[i];
        s->j = j;
        s->role = i < o->conns ? ROLE_SUBMIT : ROLE_WAIT;
        s->conn = conn_new(j->base, (struct sockaddr *)&j->addr, j->addrlen, j->scratch, slot_on_done, s);
        if (s->conn == NULL)
            return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        j->nslots++;
    }
    struct timeval tick = {0, JOBS_TICK_MS * 1000};
    j->ev_tick = event_new(j->base, -1, EV_PERSIST, jobs_on_tick, j);
    j->ev_sched = evtimer_new(j->base, jobs_on_sched, j);
    j->ev_int = evsignal_new(j->base, SIGINT, jobs_on_signal, j);
    j->ev_term = evsignal_new(j->base, SIGTERM, jobs_on_signal, j);
    if (j->ev_tick == NULL || j->ev_sched == NULL || j->ev_int == NULL || j->ev_term == NULL ||
        event_add(j->ev_tick, &tick) != 0 || evsignal_add(j->ev_int, NULL) != 0 || evsignal_add(j->ev_term, NULL) != 0)
        return errmsg_fail(err, errlen, "cannot set up the event loop");
    return 0;
}

static void jobs_free(struct jobs *j)
{
    for (int i = 0; i < j->nslots; i++) {
        conn_free(j->slots[i].conn);
        request_free(&j->slots[i].req);
    }
    free(j->slots);
    if (j->ev_tick != NULL)
        event_free(j->ev_tick);
    if (j->ev_sched != NULL)
        event_free(j->ev_sched);
    if (j->ev_int != NULL)
        event_free(j->ev_int);
    if (j->ev_term != NULL)
        event_free(j->ev_term);
    if (j->base != NULL)
        event_base_free(j->base);
    free(j->scratch);
    free(j->pollq);
    free(j->recs);
    request_free(&j->full_req);
    free(j->job_json);
}

/* The run's figures, from the records, into sum (its histograms are the
 * caller's to free, even on failure); api is the --api text. Returns 0, or
 * -1 when out of memory. */
static int jobs_summarize(const struct jobs *j, const char *api, struct report_jobs *sum)
{
    const struct jobs_opts *o = j->o;
    *sum = (struct report_jobs){.api = api, .queue = o->queue, .task = o->task != NULL ? o->task : JOB_TASK_DEFAULT,
                                .n = o->n, .ms = o->ms, .conns = o->conns, .batch = o->batch, .rate = o->rate,
                                .submit_errors = j->submit_errors, .poll_errors = j->poll_errors,
                                .retries = j->retries};
    sum->to_start = hist_new();
    sum->to_done = hist_new();
    if (sum->to_start == NULL || sum->to_done == NULL)
        return -1;
    double first_created = 0, last_finished = 0;
    for (long i = 0; i < o->n; i++) {
        const struct rec *r = &j->recs[i];
        report_jobs_count(sum, r->outcome);
        if (r->id[0] != '\0')
            sum->submitted++;
        if (r->created <= 0)
            continue;
        if (first_created == 0 || r->created < first_created)
            first_created = r->created;
        if (r->started >= r->created)
            hist_record(sum->to_start, (uint64_t)((r->started - r->created) * 1e6 + 0.5));
        if (r->finished >= r->created && r->phase == REC_FINAL) {
            hist_record(sum->to_done, (uint64_t)((r->finished - r->created) * 1e6 + 0.5));
            sum->finished++;
            if (r->finished > last_finished)
                last_finished = r->finished;
        }
    }
    if (sum->finished > 0 && last_finished > first_created) {
        sum->duration_s = last_finished - first_created;
        sum->jobs_per_s = (double)sum->finished / sum->duration_s;
    }
    if (j->submit_end_ns > j->t0_ns)
        sum->submit_s = (double)(j->submit_end_ns - j->t0_ns) / CLOCK_NS_PER_S;
    return 0;
}

int jobs_main(int argc, char **argv)
{
    long n = 100, ms = -1, conns = 16, batch = 1; /* ms -1: not given */
    const char *api = "http://127.0.0.1:8080", *queue = JOB_QUEUE_DEFAULT, *task = NULL, *args = NULL;
    double rate = 0;
    int64_t wait_ms = 30000, timeout_ms = 600000, job_timeout_ms = 0;
    bool json = false, poll_after = false;
    const struct opt opts[] = {
        {"jobs", 'n', "LOADGEN_JOBS", OPT_INT, &n, 1, 10000000, "jobs to submit (100)"},
        {"ms", 0, "LOADGEN_JOB_MS", OPT_INT, &ms, 0, JOB_MS_MAX,
         "each job's task length in ms, task burn only (500)"},
        {"task", 0, "LOADGEN_TASK", OPT_STR, &task, 0, 0,
         "the task each job runs, [a-z0-9_.:-]{1,64}; unset: none sent, the API runs burn with --ms"},
        {"args", 0, "LOADGEN_ARGS", OPT_STR, &args, 0, 0,
         "each job's args: any JSON value, sent as given (none: null)"},
        {"job-timeout", 0, "LOADGEN_JOB_TIMEOUT", OPT_DURATION, &job_timeout_ms, JOB_TIMEOUT_MIN_MS,
         JOB_TIMEOUT_MAX_MS, "each job's run timeout, 10ms..24h (none: the worker's default); -t is the whole run's"},
        {"connections", 'c', "LOADGEN_CONNECTIONS", OPT_INT, &conns, 1, 10000,
         "connections submitting, and as many again waiting (16)"},
        {"api", 0, "LOADGEN_API", OPT_STR, &api, 0, 0, "the API's base URL (http://127.0.0.1:8080)"},
        {"queue", 'q', "LOADGEN_QUEUE", OPT_STR, &queue, 0, 0, "queue name (default)"},
        {"batch", 0, "LOADGEN_BATCH", OPT_INT, &batch, 1, JOB_BATCH_MAX,
         "jobs per POST, sent as a JSON array when > 1 (1)"},
        {"rate", 'R', "LOADGEN_RATE", OPT_DOUBLE, &rate, 0.001, 1e6,
         "open loop: submit one job every 1/rate s instead of as fast as accepted"},
        {"wait", 0, "LOADGEN_WAIT", OPT_DURATION, &wait_ms, 1000, 600000, "long-poll wait of each GET /jobs/{id} (30s)"},
        {"timeout", 't', "LOADGEN_TIMEOUT", OPT_DURATION, &timeout_ms, 1, 86400000,
         "give up on unfinished jobs after this long (10m)"},
        {"poll-after", 0, "LOADGEN_POLL_AFTER", OPT_BOOL, &poll_after, 0, 0,
         "long-poll only the last job while the queue works, then read the others: the measuring adds no "
         "load meanwhile (default: long-poll every job as soon as it is accepted)"},
        {"json", 0, "LOADGEN_JSON", OPT_BOOL, &json, 0, 0, "print one JSON object instead of the summary"},
    };
    const struct config_spec spec = {
        .prog = "loadgen jobs",
        .usage = "loadgen jobs [-n N] [--ms M | --task NAME [--args JSON]] [--job-timeout D] [-c C] [--api URL] "
                 "[--queue Q] [--batch K] [-R rate] [--poll-after] [--json]",
        .about = "End-to-end job throughput: submits N jobs (burn jobs of --ms, or --task NAME with --args) with "
                 "POST /jobs, long-polls each until terminal, and reports jobs/s, enqueue->start and enqueue->done "
                 "latency from the jobs' own timestamps, and how many ended in each state.",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
        .allow_positional = false,
    };
    char err[512];
    int first;
    int exit_code = flags_parse(&spec, argc, argv, &first);
    if (exit_code >= 0)
        return exit_code;
    bool burn = task == NULL || strcmp(task, JOB_TASK_DEFAULT) == 0;
    if (task != NULL && !job_task_valid(task)) {
        fprintf(stderr, "loadgen jobs: --task: must be 1..%d of [a-z0-9_.:-]\n", JOB_TASK_MAX);
        return 2;
    }
    if (ms >= 0 && !burn) {
        fprintf(stderr, "loadgen jobs: --ms: only for task burn (give task %s its input with --args)\n", task);
        return 2;
    }
    if (args != NULL && jobbody_args_check(args, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen jobs: --args: %s\n", err);
        return 2;
    }
    if (ms < 0 && burn)
        ms = JOB_MS_DEFAULT;
    struct jobs_opts o = {.n = n, .ms = ms, .conns = conns, .batch = batch, .queue = queue, .task = task,
                          .args = args, .job_timeout_ms = job_timeout_ms, .rate = rate, .wait_ms = wait_ms,
                          .timeout_ms = timeout_ms, .poll_after = poll_after};
    if (http_url_parse(api, &o.api, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen jobs: --api: %s\n", err);
        return 2;
    }
    if (!job_queue_valid(queue)) {
        fprintf(stderr, "loadgen jobs: --queue: must be 1..%d of [A-Za-z0-9_.:-]\n", JOB_QUEUE_MAX);
        return 2;
    }

    struct jobs j;
    struct report_jobs sum = {0};
    int rc = 1;
    if (jobs_init(&j, &o, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen jobs: %s\n", err);
        goto out;
    }
    j.t0_ns = clock_mono_ns();
    if (rate > 0)
        pace_init(&j.pace, j.t0_ns, rate, 1, 0);
    j.deadline_ns = j.t0_ns + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
    jobs_pump(&j, j.t0_ns);
    if (j.final < (size_t)o.n)
        event_base_dispatch(j.base);
    if (j.timed_out)
        fprintf(stderr, "loadgen jobs: gave up after %.0fs with %zu of %ld jobs unfinished\n", timeout_ms / 1000.0,
                (size_t)o.n - j.final, o.n);
    if (jobs_summarize(&j, api, &sum) != 0) {
        fprintf(stderr, "loadgen jobs: out of memory\n");
        goto out;
    }
    if (sum.submitted == 0) {
        fprintf(stderr, "loadgen jobs: no job was accepted%s%s\n", j.first_error[0] ? ": " : "", j.first_error);
        goto out;
    }
    if (j.first_error[0] != '\0')
        fprintf(stderr, "loadgen jobs: first error: %s\n", j.first_error);
    if (json) {
        json_t *out = report_jobs_json(&sum);
        int prc = out != NULL ? report_json_print(stdout, out) : -1;
        json_decref(out);
        if (prc != 0) {
            fprintf(stderr, "loadgen jobs: cannot write the JSON report\n");
            goto out;
        }
    } else {
        report_jobs_text(stdout, &sum);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    hist_free(sum.to_start);
    hist_free(sum.to_done);
    jobs_free(&j);
    return rc;
}
