/* `loadgen suite`; see suite.h. */
#include "loadgen/suite.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/errmsg.h"
#include "common/hist.h"
#include "common/job.h"
#include "common/sys.h"
#include "common/url.h"
#include "loadgen/fetch.h"
#include "loadgen/flags.h"
#include "loadgen/interrupt.h"
#include "loadgen/jobbody.h"
#include "loadgen/request.h"
#include "loadgen/run.h"
#include "loadgen/svg.h"

#define SUITE_CONTROL_TIMEOUT_MS 5000 /* /info, /queues, /healthz before a run */
#define SUITE_SETTLE_POLL_MS 500
#define SUITE_MIN_TIMEOUT_MS 30000
#define SUITE_TASK_WAIT_S 60 /* the task row's POST /jobs?wait=S: ample for a task, well under the API's 300 */
#define SUITE_TASK_S_DEFAULT 0.5 /* the seed's task length, for a user task's limit */
/* Colours by where the work runs, as in the legend. */
#define COLOR_LOOP "#db4437"   /* on the event loop */
#define COLOR_THREAD "#4285f4" /* on the API's thread pool */
#define COLOR_OFF "#0f9d58"    /* off the loop: queue and workers, or nonblocking IO */

struct suite_mode {
    const char *experiment, *mode;
    const char *path; /* "%ld" takes task_ms for cpu */
    const char *color;
    const char *body; /* POSTed when set (the task row), else a GET */
    const char *task; /* the task row's task name; NULL for the seed's rows */
};

static const struct suite_mode suite_modes[] = {
    {"cpu", "inline", "/cpu?mode=inline&ms=%ld", COLOR_LOOP, NULL, NULL},
    {"cpu", "thread", "/cpu?mode=thread&ms=%ld", COLOR_THREAD, NULL, NULL},
    {"cpu", "queue", "/cpu?mode=queue&ms=%ld", COLOR_OFF, NULL, NULL},
    {"io", "async", "/io?mode=async", COLOR_OFF, NULL, NULL},
    {"io", "blocking", "/io?mode=blocking", COLOR_LOOP, NULL, NULL},
    {"io", "thread", "/io?mode=thread", COLOR_THREAD, NULL, NULL},
};
#define SUITE_NMODES (sizeof suite_modes / sizeof suite_modes[0])

static const struct svg_legend suite_legend[] = {
    {COLOR_LOOP, "on the event loop"},
    {COLOR_THREAD, "on the API's thread pool"},
    {COLOR_OFF, "off the loop (queue + workers, nonblocking IO)"},
};

struct suite_opts {
    struct http_url api;
    const char *out_dir;
    int64_t duration_ms, settle_ms;
    long concurrency;
    double probe_rate;
    const char *only;
    struct suite_env env;
    const char *task_args; /* the task row's args as given, for results.json; NULL: none */
};

struct suite_result {
    const struct suite_mode *m;
    double rps, limit, p99_ms, healthz_p99_ms;
    uint64_t requests, ok, errors;
};

static long lmin(long a, long b)
{
    return a < b ? a : b;
}

double suite_limit(const char *experiment, const char *mode, const struct suite_env *e, long conc)
{
    double per_task = 1000.0 / (double)(e->task_ms > 0 ? e->task_ms : 1);
    double per_io = 1000.0 / (double)(e->delay_ms > 0 ? e->delay_ms : 1);
    bool cpu = strcmp(experiment, "cpu") == 0;
    if (strcmp(experiment, "task") == 0) /* a user task through the queue: the workers are the bound */
        return (double)lmin(e->workers, conc) / (e->task_s > 0 ? e->task_s : SUITE_TASK_S_DEFAULT);
    if (cpu && strcmp(mode, "inline") == 0)
        return per_task;
    if (cpu && strcmp(mode, "thread") == 0)
        return (double)lmin(e->wall_clock ? e->threads : lmin(e->threads, e->cores), conc) * per_task;
    if (cpu)
        return (double)lmin(e->wall_clock ? e->workers : lmin(e->workers, e->cores), conc) * per_task;
    if (strcmp(mode, "async") == 0)
        return (double)conc * per_io;
    if (strcmp(mode, "blocking") == 0)
        return per_io;
    return (double)lmin(e->threads, conc) * per_io;
}

/* GETs a path under the API and parses the answer as JSON; NULL when it does
 * not answer 200 with JSON (a missing route is tolerated by the callers). */
static json_t *suite_get_json(const struct http_url *api, const char *path)
{
    struct http_url url;
    struct fetch_result fr;
    char err[256];
    if (request_url_join(api, path, &url, err, sizeof err) != 0 ||
        fetch_get(&url, SUITE_CONTROL_TIMEOUT_MS, &fr, err, sizeof err) != 0)
        return NULL;
    json_t *j = fr.status == 200 ? json_loadb(fr.body, fr.len, 0, NULL) : NULL;
    fetch_result_free(&fr);
    return j;
}

/* One limit's figure: the flag's when it was given (*value > 0), else obj's
 * positive integer `key`, from source `from` (obj may be NULL). Returns
 * false, *value left 0, when neither gives one. */
static bool suite_env_take(long *value, const char **src, const json_t *obj, const char *key, const char *from)
{
    const json_t *v = json_object_get(obj, key);
    if (*value > 0) {
        *src = "flag";
    } else if (json_is_integer(v) && json_integer_value(v) > 0) {
        *value = (long)json_integer_value(v);
        *src = from;
    } else {
        return false;
    }
    return true;
}

/* Fills what flags left unset (0) from /info and /queues, then defaults. */
static void suite_discover(const struct http_url *api, struct suite_env *e, const char *clock_flag)
{
    json_t *info = suite_get_json(api, "/info");
    json_t *queues = NULL;
    if (!suite_env_take(&e->cores, &e->src_cores, info, "cores", "/info")) {
        e->cores = sys_cpu_count();
        e->src_cores = "this machine";
    }
    if (!suite_env_take(&e->threads, &e->src_threads, info, "threads", "/info")) {
        e->threads = 5 * e->cores; /* the API's default */
        e->src_threads = "default 5 x cores";
    }
    if (!suite_env_take(&e->task_ms, &e->src_task_ms, info, "task_ms", "/info")) {
        e->task_ms = JOB_MS_DEFAULT;
        e->src_task_ms = "default";
    }
    const char *clock = clock_flag;
    e->src_clock = "flag";
    if (clock == NULL) {
        clock = json_string_value(json_object_get(info, "task_clock"));
        e->src_clock = "/info";
    }
    if (clock == NULL) {
        clock = "cpu";
        e->src_clock = "default";
    }
    e->wall_clock = strcmp(clock, "wall") == 0;
    if (!suite_env_take(&e->workers, &e->src_workers, info, "workers_alive", "/info")) {
        queues = suite_get_json(api, "/queues"); /* asked only when needed */
        if (!suite_env_take(&e->workers, &e->src_workers, queues, "workers_alive", "/queues")) {
            e->workers = e->cores;
            e->src_workers = "default = cores";
        }
    }
    json_decref(info);
    json_decref(queues);
}

/* Waits until GET /queues shows nothing queued or running (or it does not
 * answer JSON: nothing to wait for), at most settle_ms. */
static void suite_settle(const struct http_url *api, int64_t settle_ms)
{
    uint64_t until = clock_mono_ns() + (uint64_t)settle_ms * 1000000u;
    for (;;) {
        json_t *q = suite_get_json(api, "/queues");
        const json_t *queues = json_object_get(q, "queues");
        if (!json_is_object(queues)) {
            json_decref(q);
            return;
        }
        json_int_t busy = 0;
        const char *name;
        const json_t *qv;
        json_object_foreach((json_t *)queues, name, qv)
        {
            busy += json_integer_value(json_object_get(qv, "depth"));
            busy += json_integer_value(json_object_get(qv, "in_progress"));
        }
        json_decref(q);
        if (busy == 0 || interrupt_requested())
            return;
        if (clock_mono_ns() >= until) {
            fprintf(stderr, "suite: %lld jobs still queued or running after %.0fs; going on\n", (long long)busy,
                    (double)settle_ms / 1000);
            return;
        }
        clock_sleep_ms(SUITE_SETTLE_POLL_MS);
    }
}

/* The /healthz probe, run on its own thread beside the load. */
struct probe {
    struct run_opts ro;
    struct run_stats stats;
    int rc;
    char err[256];
};

static void *probe_thread(void *arg)
{
    struct probe *p = arg;
    p->rc = run_execute(&p->ro, &p->stats, p->err, sizeof p->err);
    return NULL;
}

bool suite_job_done(const struct http_parser *p, void *arg)
{
    (void)arg;
    if (p->status != 200 || p->body == NULL)
        return false;
    json_t *job = json_loadb(p->body, p->body_len, 0, NULL);
    const char *state = json_string_value(json_object_get(job, "state"));
    bool done = state != NULL && strcmp(state, "done") == 0;
    json_decref(job);
    return done;
}

/* Resolves api+path and builds its GET, or its POST of a JSON body when
 * body is set. Returns 0, or -1 with err. */
static int suite_request(const struct http_url *api, const char *path, const char *body, struct request *req,
                         struct run_opts *ro, char *err, size_t errlen)
{
    struct http_url url;
    const char *hdr[] = {"Content-Type: application/json"};
    if (request_url_join(api, path, &url, err, errlen) != 0 ||
        run_resolve(url.host, url.port, &ro->addr, &ro->addrlen, err, errlen) != 0)
        return -1;
    if (body != NULL)
        return request_build(req, "POST", &url, hdr, 1, body, strlen(body), err, errlen);
    return request_build(req, "GET", &url, NULL, 0, NULL, 0, err, errlen);
}

/* Measures one mode. Returns 0, or -1 with a message in err. */
static int suite_run_mode(const struct suite_opts *o, const struct suite_mode *m, struct suite_result *res,
                          char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, m->path, o->env.task_ms);
    memset(res, 0, sizeof *res);
    res->m = m;
    res->limit = suite_limit(m->experiment, m->mode, &o->env, o->concurrency);
    /* A request may wait behind all the others, concurrency / limit seconds
     * at best; a shared machine can be several times slower. */
    int64_t timeout_ms = (int64_t)(4000.0 * (double)o->concurrency / res->limit) + SUITE_MIN_TIMEOUT_MS;
    if (m->task != NULL && timeout_ms < SUITE_TASK_WAIT_S * 1000 + SUITE_MIN_TIMEOUT_MS)
        timeout_ms = SUITE_TASK_WAIT_S * 1000 + SUITE_MIN_TIMEOUT_MS; /* the API's 202 must come first */
    struct request load_req = {0}, probe_req = {0};
    struct run_stats load = {0};
    struct probe pr = {0};
    bool probe_started = false;
    pthread_t th;
    int rc = -1;
    struct run_opts ro = {.req = &load_req, .conns = (int)o->concurrency, .threads = 1,
                          .duration_ms = o->duration_ms, .timeout_ms = timeout_ms, .drain_ms = timeout_ms,
                          .interrupted = interrupt_flag(),
                          /* a task's success is its job done, not the 2xx of an answer that may be a 202 */
                          .accept = m->task != NULL ? suite_job_done : NULL};
    pr.ro = (struct run_opts){.req = &probe_req, .conns = 1, .threads = 1, .duration_ms = o->duration_ms,
                              .rate = o->probe_rate, .timeout_ms = timeout_ms, .drain_ms = timeout_ms,
                              .interrupted = interrupt_flag()};
    if (suite_request(&o->api, path, m->body, &load_req, &ro, err, errlen) != 0 ||
        suite_request(&o->api, "/healthz", NULL, &probe_req, &pr.ro, err, errlen) != 0)
        goto out;
    fprintf(stderr, "suite: %s %s: %ld clients for %.0fs on %s%s%s%s (limit %.1f req/s)\n", m->experiment, m->mode,
            o->concurrency, (double)o->duration_ms / 1000, m->body != NULL ? "POST " : "", path,
            m->body != NULL ? " " : "", m->body != NULL ? m->body : "", res->limit);
    if (pthread_create(&th, NULL, probe_thread, &pr) != 0) {
        errmsg_fail(err, errlen, "cannot start the /healthz probe thread");
        goto out;
    }
    probe_started = true;
    if (run_execute(&ro, &load, err, errlen) != 0)
        goto out;
    pthread_join(th, NULL);
    probe_started = false;
    if (pr.rc != 0) {
        errmsg_fail(err, errlen, "/healthz probe: %s", pr.err);
        goto out;
    }
    /* Every request the window started counts, drained ones too, over the
     * time until the last answer: a server that serializes its answers
     * (inline, blocking) flushes them in a burst at the end. */
    res->requests = load.requests + load.drained;
    res->ok = load.ok + load.drained_ok;
    res->errors = res->requests - res->ok;
    res->rps = load.span_s > 0 ? (double)res->ok / load.span_s : 0;
    res->p99_ms = (double)hist_percentile(load.latency, 99) / 1000;
    res->healthz_p99_ms = (double)hist_percentile(pr.stats.latency, 99) / 1000;
    fprintf(stderr, "suite: %s %s: %.2f req/s (%.0f %% of %.1f), p99 %.1f ms, /healthz p99 %.1f ms, %llu %s\n",
            m->experiment, m->mode, res->rps, 100 * res->rps / res->limit, res->limit, res->p99_ms,
            res->healthz_p99_ms, (unsigned long long)res->errors, m->task != NULL ? "not 200 + done" : "not 2xx");
    if (m->task != NULL)
        fprintf(stderr, "suite: %s %s: in the window, 202 (not done within %ds) %llu, 200 not done %llu\n",
                m->experiment, m->mode, SUITE_TASK_WAIT_S, (unsigned long long)load.codes[202],
                (unsigned long long)(load.codes[200] - load.ok));
    rc = 0;
out:
    if (probe_started)
        pthread_join(th, NULL);
    run_stats_free(&load);
    run_stats_free(&pr.stats);
    request_free(&load_req);
    request_free(&probe_req);
    return rc;
}

/* Whether --only names `token` (a whole comma-separated item). */
static bool suite_only_has(const char *only, const char *token)
{
    size_t tlen = strlen(token);
    for (const char *p = only; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == tlen && strncmp(p, token, len) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

static bool suite_selected(const char *only, const struct suite_mode *m)
{
    if (only == NULL || *only == '\0')
        return true;
    char full[32];
    snprintf(full, sizeof full, "%s/%s", m->experiment, m->mode);
    return suite_only_has(only, m->experiment) || suite_only_has(only, full);
}

/* Every token of --only names an experiment or experiment/mode, or "task"
 * (the --task row, which runs whatever --only says: "task" alone selects
 * none of the seed's rows). */
static bool suite_only_valid(const char *only)
{
    if (only == NULL)
        return true;
    const char *p = only;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool found = len == 4 && strncmp(p, "task", 4) == 0;
        for (size_t i = 0; i < SUITE_NMODES && !found; i++) {
            char full[32];
            snprintf(full, sizeof full, "%s/%s", suite_modes[i].experiment, suite_modes[i].mode);
            found = (len == strlen(suite_modes[i].experiment) && strncmp(p, suite_modes[i].experiment, len) == 0) ||
                    (len == strlen(full) && strncmp(p, full, len) == 0);
        }
        if (!found)
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

static void suite_table(FILE *f, const struct suite_result *res, size_t n, long conc)
{
    fprintf(f, "| experiment | mode | concurrency | req/s | limit | efficiency | p99 ms | /healthz p99 ms |\n");
    fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "| %s | %s | %ld | %.2f | %.1f | %.0f %% | %.1f | %.1f |\n", res[i].m->experiment, res[i].m->mode,
                conc, res[i].rps, res[i].limit, res[i].limit > 0 ? 100 * res[i].rps / res[i].limit : 0,
                res[i].p99_ms, res[i].healthz_p99_ms);
}

/* The rows as an array of objects; the task row also carries task,
 * task_args (its JSON value) and task_s. */
static json_t *suite_json(const struct suite_result *res, size_t n, long conc, const char *task_args, double task_s)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        json_t *o = json_pack("{s:s,s:s,s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:I}", "experiment", res[i].m->experiment, "mode",
                              res[i].m->mode, "concurrency", (json_int_t)conc, "rps", res[i].rps, "limit",
                              res[i].limit, "efficiency", res[i].limit > 0 ? res[i].rps / res[i].limit : 0.0,
                              "p99_ms", res[i].p99_ms, "healthz_p99_ms", res[i].healthz_p99_ms, "requests",
                              (json_int_t)res[i].requests, "errors", (json_int_t)res[i].errors);
        if (o != NULL && res[i].m->task != NULL &&
            (json_object_set_new(o, "task", json_string(res[i].m->task)) != 0 ||
             json_object_set_new(o, "task_args", task_args != NULL ? json_loads(task_args, JSON_DECODE_ANY, NULL)
                                                                   : json_null()) != 0 ||
             json_object_set_new(o, "task_s", json_real(task_s)) != 0)) {
            json_decref(o);
            o = NULL;
        }
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* mkdir -p. Returns 0, or -1 with errno set. */
static int suite_mkdirs(const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes DIR/<experiment>.svg from the results of that experiment (none: no file). */
static int suite_svg(const struct suite_opts *o, const char *experiment, const struct suite_result *res, size_t n,
                     char *err, size_t errlen)
{
    struct svg_bar bars[SUITE_NMODES];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(res[i].m->experiment, experiment) != 0)
            continue;
        bars[nb++] = (struct svg_bar){.label = res[i].m->mode, .value = res[i].rps, .limit = res[i].limit,
                                      .color = res[i].m->color};
    }
    if (nb == 0)
        return 0;
    char path[1100], sub[256];
    snprintf(path, sizeof path, "%s/%s.svg", o->out_dir, experiment);
    if (strcmp(experiment, "cpu") == 0)
        snprintf(sub, sizeof sub, "CPU-bound: %ld ms task (%s clock), %ld concurrent clients, %ld cores, %ld threads, "
                 "%ld workers; dashed: limit", o->env.task_ms, o->env.wall_clock ? "wall" : "cpu", o->concurrency,
                 o->env.cores, o->env.threads, o->env.workers);
    else
        snprintf(sub, sizeof sub, "IO-bound: %lld ms upstream, %ld concurrent clients, %ld threads; dashed: limit",
                 (long long)o->env.delay_ms, o->concurrency, o->env.threads);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return errmsg_fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
    int rc = svg_bar_chart(f, "Reqs/sec", sub, bars, nb, suite_legend, sizeof suite_legend / sizeof suite_legend[0]);
    if (fclose(f) != 0 || rc != 0)
        return errmsg_fail(err, errlen, "cannot write %s", path);
    return 0;
}

static int suite_write(const struct suite_opts *o, const struct suite_result *res, size_t n, char *err, size_t errlen)
{
    if (suite_mkdirs(o->out_dir) != 0)
        return errmsg_fail(err, errlen, "cannot create %s: %s", o->out_dir, strerror(errno));
    char path[1100];
    snprintf(path, sizeof path, "%s/results.json", o->out_dir);
    json_t *j = suite_json(res, n, o->concurrency, o->task_args, o->env.task_s);
    int rc = j != NULL ? json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : -1;
    json_decref(j);
    if (rc != 0)
        return errmsg_fail(err, errlen, "cannot write %s", path);
    if (suite_svg(o, "cpu", res, n, err, errlen) != 0 || suite_svg(o, "io", res, n, err, errlen) != 0)
        return -1;
    return 0;
}

int suite_main(int argc, char **argv)
{
    const char *api = "http://127.0.0.1:8080", *out_dir = "out", *only = NULL, *clock = NULL;
    const char *task = NULL, *task_args = NULL;
    int64_t duration_ms = 10000, settle_ms = 120000, delay_ms = 500;
    long conc = 100, cores = 0, threads = 0, workers = 0, task_ms = 0;
    double probe_rate = 10, task_s = SUITE_TASK_S_DEFAULT;
    const struct opt opts[] = {
        {"api", 0, "LOADGEN_API", OPT_STR, &api, 0, 0, "the API's base URL (http://127.0.0.1:8080)"},
        {"out", 'o', "LOADGEN_OUT", OPT_STR, &out_dir, 0, 0, "directory for results.json, cpu.svg, io.svg (out)"},
        {"duration", 'd', "LOADGEN_DURATION", OPT_DURATION, &duration_ms, 100, 3600000, "load per mode (10s)"},
        {"concurrency", 'c', "LOADGEN_CONCURRENCY", OPT_INT, &conc, 1, 100000, "concurrent clients per mode (100)"},
        {"cores", 0, "LOADGEN_CORES", OPT_INT, &cores, 1, 100000, "API host's cores for the limits (from /info, else nproc)"},
        {"threads", 0, "LOADGEN_API_THREADS", OPT_INT, &threads, 1, 100000,
         "API thread pool size for the limits (from /info, else 5 x cores)"},
        {"workers", 0, "LOADGEN_WORKERS", OPT_INT, &workers, 1, 100000,
         "workers for the queue limit (from /info or /queues workers_alive, else cores)"},
        {"task-ms", 0, "LOADGEN_TASK_MS", OPT_INT, &task_ms, 1, JOB_MS_MAX, "CPU task length (from /info, else 500)"},
        {"task-clock", 0, "LOADGEN_TASK_CLOCK", OPT_STR, &clock, 0, 0, "cpu | wall (from /info, else cpu)"},
        {"upstream-delay", 0, "LOADGEN_UPSTREAM_DELAY", OPT_DURATION, &delay_ms, 1, 3600000,
         "the upstream's answer delay for the io limits (500ms)"},
        {"probe-rate", 0, "LOADGEN_PROBE_RATE", OPT_DOUBLE, &probe_rate, 0.1, 10000, "/healthz probes per second (10)"},
        {"settle", 0, "LOADGEN_SETTLE", OPT_DURATION, &settle_ms, 0, 3600000,
         "after each mode, wait this long at most for /queues to empty (2m)"},
        {"only", 0, "LOADGEN_ONLY", OPT_STR, &only, 0, 0,
         "comma list of experiments or modes: cpu,io/async (all); task: only the --task row"},
        {"task", 0, "LOADGEN_TASK", OPT_STR, &task, 0, 0,
         "also measure this task through the queue: a row after the cpu ones, POST /jobs?wait=60 (none)"},
        {"task-args", 0, "LOADGEN_TASK_ARGS", OPT_STR, &task_args, 0, 0,
         "the --task row's args: any JSON value, sent as given (none: null)"},
        {"task-s", 0, "LOADGEN_TASK_S", OPT_DOUBLE, &task_s, 0.0001, 86400,
         "expected seconds per --task job, for its limit: workers (at most C) / task-s (0.5)"},
    };
    const struct config_spec spec = {
        .prog = "loadgen suite",
        .usage = "loadgen suite [--api URL] [--out DIR] [--duration S] [--concurrency C] [--task NAME [--task-args "
                 "JSON] [--task-s S]] [limit overrides]",
        .about = "Runs the seed's CPU and IO experiments against a running stack: every mode's req/s beside its "
                 "theoretical limit and the /healthz p99 meanwhile, as a Markdown table on stdout and "
                 "DIR/results.json, DIR/cpu.svg, DIR/io.svg. With --task, one more row measures that task "
                 "through the queue (table and results.json only): a success is an answer 200 with the job done.",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
        .allow_positional = false,
    };
    char err[512];
    int first;
    int exit_code = flags_parse(&spec, argc, argv, &first);
    if (exit_code >= 0)
        return exit_code;
    struct suite_opts o = {.out_dir = out_dir, .duration_ms = duration_ms, .settle_ms = settle_ms,
                           .concurrency = conc, .probe_rate = probe_rate, .only = only,
                           .task_args = task_args,
                           .env = {.cores = cores, .threads = threads, .workers = workers, .task_ms = task_ms,
                                   .delay_ms = delay_ms, .task_s = task_s}};
    if (http_url_parse(api, &o.api, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen suite: --api: %s\n", err);
        return 2;
    }
    if (clock != NULL && strcmp(clock, "cpu") != 0 && strcmp(clock, "wall") != 0) {
        fprintf(stderr, "loadgen suite: --task-clock: must be cpu or wall\n");
        return 2;
    }
    if (!suite_only_valid(only)) {
        fprintf(stderr, "loadgen suite: --only: use cpu, io, task, or experiment/mode such as cpu/queue\n");
        return 2;
    }
    if (task != NULL && !job_task_valid(task)) {
        fprintf(stderr, "loadgen suite: --task: must be 1..%d of [a-z0-9_.:-]\n", JOB_TASK_MAX);
        return 2;
    }
    if (task == NULL && (task_args != NULL || suite_only_has(only, "task"))) {
        fprintf(stderr, "loadgen suite: %s: needs --task\n", task_args != NULL ? "--task-args" : "--only task");
        return 2;
    }
    if (task_args != NULL && jobbody_args_check(task_args, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen suite: --task-args: %s\n", err);
        return 2;
    }
    /* The --task row: the seed's queue row with the user's task, each
     * client waiting on its own job. */
    char task_label[JOB_TASK_MAX + 16], task_path[32];
    size_t task_body_len;
    struct jobbody jb = {.task = task, .ms = -1, .args = task_args};
    char *task_body = task != NULL ? jobbody_object(&jb, &task_body_len) : NULL;
    if (task != NULL && task_body == NULL) {
        fprintf(stderr, "loadgen suite: out of memory\n");
        return 1;
    }
    snprintf(task_label, sizeof task_label, "queue, task %s", task != NULL ? task : "");
    snprintf(task_path, sizeof task_path, "/jobs?wait=%d", SUITE_TASK_WAIT_S);
    const struct suite_mode task_mode = {"task", task_label, task_path, COLOR_OFF, task_body, task};

    struct http_url health;
    struct fetch_result fr;
    if (request_url_join(&o.api, "/healthz", &health, err, sizeof err) != 0 ||
        fetch_get(&health, SUITE_CONTROL_TIMEOUT_MS, &fr, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen suite: the API does not answer: %s\n", err);
        free(task_body);
        return 1;
    }
    fetch_result_free(&fr);
    suite_discover(&o.api, &o.env, clock);
    fprintf(stderr,
            "suite: limits from cores %ld (%s), threads %ld (%s), workers %ld (%s), task %ld ms (%s) on the %s clock "
            "(%s), upstream delay %lld ms\n",
            o.env.cores, o.env.src_cores, o.env.threads, o.env.src_threads, o.env.workers, o.env.src_workers,
            o.env.task_ms, o.env.src_task_ms, o.env.wall_clock ? "wall" : "cpu", o.env.src_clock,
            (long long)o.env.delay_ms);
    if (task != NULL)
        fprintf(stderr, "suite: task %s: limit workers %ld / %g s per task\n", task, o.env.workers, o.env.task_s);

    struct interrupt_saved saved;
    interrupt_catch(&saved);
    /* The seed's selected rows in order, the task row (if any) right after
     * the cpu ones. */
    const struct suite_mode *plan[SUITE_NMODES + 1];
    size_t nplan = 0;
    bool task_planned = task == NULL;
    for (size_t i = 0; i < SUITE_NMODES; i++) {
        if (!task_planned && strcmp(suite_modes[i].experiment, "cpu") != 0) {
            plan[nplan++] = &task_mode;
            task_planned = true;
        }
        if (suite_selected(only, &suite_modes[i]))
            plan[nplan++] = &suite_modes[i];
    }
    if (!task_planned)
        plan[nplan++] = &task_mode;
    struct suite_result res[SUITE_NMODES + 1];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < nplan && !interrupt_requested(); i++) {
        if (suite_run_mode(&o, plan[i], &res[n], err, sizeof err) != 0) {
            fprintf(stderr, "loadgen suite: %s %s: %s\n", plan[i]->experiment, plan[i]->mode, err);
            rc = 1;
            break;
        }
        n++;
        suite_settle(&o.api, o.settle_ms);
    }
    interrupt_restore(&saved);
    if (interrupt_requested())
        fprintf(stderr, "loadgen suite: interrupted; reporting the %zu modes measured\n", n);
    suite_table(stdout, res, n, conc);
    if (suite_write(&o, res, n, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen suite: %s\n", err);
        rc = 1;
    }
    if (fflush(stdout) != 0)
        rc = 1;
    free(task_body);
    return rc;
}
