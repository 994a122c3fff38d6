/* User tasks end to end: a private Redis, the real api and a real worker
 * bound to exec:, serve: and plugin: tasks (tests/fixtures/), jobs sent over
 * HTTP. Each test starts its own stack with one of two workers:
 *   main    exec tasks "x.*" (exec_task.sh, behaviour by argument) and serve
 *           tasks by their bare names (one coproc.py coprocess learns the
 *           behaviour from each request's task), id "wt"
 *   plugin  testplugin.so's tasks by their bare names, beside "x.ok"/"x.big"
 *           (exec) and "s.ok"/"s.big" (serve, behaviour fixed by argument):
 *           every kind in one worker, which runs under its supervisor, so the
 *           worker process is the Redis record's pid, id "wp-0"
 * and a few add a worker of their own (tasks from WORKER_TASKS, a second
 * worker on the same queue, one whose log is read back). Paths are relative
 * to the repository root, where the tests run. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/stack.h"

#define PREFIX "offload:"
#define WAIT_S 30          /* bounds a job's run on a busy VM; only a hang comes near it */
#define GONE_MS 5000       /* a stopped process, group or worker process is gone within this */
#define REGISTER_MS 10000  /* a (re)started worker process writes its record within this */
#define SLEEP_NATURAL_S 30 /* the fixtures' sleep lasts this long when nothing stops it */
#define MAIN_ID "wt"
#define PLUGIN_ID "wp"
#define ENV_MAX (1 << 20)  /* bytes of a /proc/N/environ read */

#define EXEC_TASK "exec:tests/fixtures/exec_task.sh "
#define COPROC "serve:python3 tests/fixtures/coproc.py"

static struct stack S;
static redisContext *rc;
static char record_id[64]; /* the id the worker process registers under */

/* The main worker's bindings: exec behaviour by argument, every serve name on
 * one coprocess (same SPEC), so "pid" sees what "exit" did to it. */
static const char *const tasks_main[] = {
    "x.ok=" EXEC_TASK "ok",     "x.env=" EXEC_TASK "env",     "x.fail=" EXEC_TASK "fail",
    "x.segv=" EXEC_TASK "segv", "x.sleep=" EXEC_TASK "sleep", "x.text=" EXEC_TASK "text",
    "ok=" COPROC,               "fail=" COPROC,               "sleep=" COPROC,
    "garbage=" COPROC,          "exit=" COPROC,               "kill=" COPROC,
    "wrong_id=" COPROC,         "pid=" COPROC,                NULL,
};
static const char *const main_names[] = {"x.ok", "x.env", "x.fail", "x.segv", "x.sleep", "x.text", "ok",
                                         "fail", "sleep", "garbage", "exit", "kill", "wrong_id", "pid",
                                         "burn", NULL};
static const char *const plugin_task_names[] = {"ok", "fail", "segv", "spin", "stuck", "big", "count", NULL};

/* The plugin worker's bindings (the .so's path comes from OFFLOAD_BIN). */
static const char *const *tasks_plugin(void)
{
    static char bufs[8][4200];
    static const char *list[16];
    const char *so = harness_bin("tests/fixtures/testplugin.so");
    int n = 0;
    ck_assert_ptr_nonnull(so);
    for (int i = 0; plugin_task_names[i]; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%s=plugin:%s", plugin_task_names[i], so);
        list[n++] = bufs[i];
    }
    list[n++] = "x.ok=" EXEC_TASK "ok";
    list[n++] = "x.big=" EXEC_TASK "big";
    list[n++] = "s.ok=" COPROC " ok";
    list[n++] = "s.big=" COPROC " big";
    list[n] = NULL;
    return list;
}

/* ---- Redis and the worker's record ---- */

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "redis: %s", rc->errstr);
    return r;
}

/* HGET of the record of worker `id` as a malloc'd string, or NULL. */
static char *record_field_of(const char *id, const char *field)
{
    redisReply *r = cmd("HGET " PREFIX "worker:%s %s", id, field);
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return s;
}

/* The worker process's pid from its record, 0 while it has none. */
static pid_t record_pid(void)
{
    char *p = record_field_of(record_id, "pid");
    pid_t pid = p ? (pid_t)atol(p) : 0;
    free(p);
    return pid;
}

static bool record_present(void *arg)
{
    (void)arg;
    return record_pid() > 0;
}

/* A record whose pid differs from *arg: a new worker process registered. */
static bool record_pid_changed(void *arg)
{
    pid_t now = record_pid();
    return now > 0 && now != *(pid_t *)arg;
}

/* Waits for a new worker process (pid != old) and returns its pid. */
static pid_t wait_new_worker_process(pid_t old)
{
    ck_assert_msg(harness_wait_until(record_pid_changed, &old, REGISTER_MS, 20) == 0,
                  "no new worker process registered after pid %d", (int)old);
    return record_pid();
}

static bool list_has(const char *key, const char *id)
{
    redisReply *r = cmd("LRANGE %s 0 -1", key);
    bool found = false;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        found = found || strcmp(r->element[i]->str, id) == 0;
    freeReplyObject(r);
    return found;
}

/* ---- the stack ---- */

/* Starts bin/worker --id id with --task for each of tasks, the extra flags
 * and env_extra (NULL-terminated lists, or NULL). With log_path its stderr
 * goes to that file (through sh, which execs it), else to ours. A REDIS_URL
 * in env_extra replaces the --redis flag (the worker reads it from there). */
static pid_t spawn_worker(const char *id, const char *const *tasks, const char *const *extra,
                          const char *const *env_extra, const char *log_path)
{
    const char *argv[100] = {"sh", "-c", "exec \"$@\" 2>\"$TASKS_WORKER_LOG\"", "sh"};
    int n = log_path ? 4 : 0;
    bool redis_env = false;
    for (const char *const *e = env_extra; e && *e; e++)
        redis_env = redis_env || strncmp(*e, "REDIS_URL=", 10) == 0;
    argv[n++] = harness_bin("worker");
    for (const char *a[] = {"--redis", S.redis.url, "--id", id, "--lease", "3s"}, **p = a + (redis_env ? 2 : 0);
         p < a + 6; p++)
        argv[n++] = *p;
    for (const char *const *t = tasks; t && *t; t++) {
        ck_assert_int_lt(n, 90);
        argv[n++] = "--task";
        argv[n++] = *t;
    }
    for (const char *const *a = extra; a && *a; a++) {
        ck_assert_int_lt(n, 94);
        argv[n++] = *a;
    }
    argv[n] = NULL;
    const char *level = getenv("TEST_WORKER_LOG_LEVEL");
    char env_level[64], env_log[256];
    snprintf(env_level, sizeof env_level, "LOG_LEVEL=%s", log_path ? "info" : level ? level : "warn");
    snprintf(env_log, sizeof env_log, "TASKS_WORKER_LOG=%s", log_path ? log_path : "");
    const char *env[8] = {env_level, env_log};
    for (int i = 0; env_extra && env_extra[i] && i < 5; i++)
        env[i + 2] = env_extra[i];
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_lt(S.nworkers, STACK_MAX_WORKERS);
    S.workers[S.nworkers++] = pid; /* stack_stop ends it with SIGTERM and wants exit 0 */
    return pid;
}

/* Starts Redis and the api (stack_start, no workers), then the worker `id`
 * with `tasks` and the extra flags (NULL-terminated lists), and waits until
 * its process has written its record. */
static void up(const char *id, const char *const *tasks, const char *const *extra)
{
    struct stack_opts o = {.workers = 0};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    rc = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(rc);
    bool supervised = false;
    for (const char *const *t = tasks; t && *t; t++)
        supervised = supervised || strstr(*t, "=plugin:") != NULL;
    /* A supervised worker process registers as <id>-<slot>. */
    snprintf(record_id, sizeof record_id, supervised ? "%s-0" : "%s", id);
    spawn_worker(id, tasks, extra, NULL, NULL);
    ck_assert_msg(harness_wait_until(record_present, NULL, REGISTER_MS, 20) == 0,
                  "worker %s did not write its record", record_id);
}

static void up_main(const char *const *extra)
{
    static const char *const queues[] = {"--queues", "default,tq", NULL};
    const char *args[16];
    int n = 0;
    for (const char *const *a = queues; *a; a++)
        args[n++] = *a;
    for (const char *const *a = extra; a && *a && n < 15; a++)
        args[n++] = *a;
    args[n] = NULL;
    up(MAIN_ID, tasks_main, args);
}

static void up_plugin(const char *const *extra)
{
    up(PLUGIN_ID, tasks_plugin(), extra);
}

static void teardown(void)
{
    if (rc)
        redisFree(rc);
    rc = NULL;
    stack_stop(&S);
}

/* ---- jobs over HTTP ---- */

/* A POST /jobs body: task, args (stolen; NULL = none), timeout (NULL =
 * none), max_attempts (0 = default), queue (NULL = default). */
static json_t *spec_new(const char *task, json_t *args, const char *timeout, int max_attempts, const char *queue)
{
    json_t *s = json_pack("{s:s}", "task", task);
    ck_assert_ptr_nonnull(s);
    if (args)
        json_object_set_new(s, "args", args);
    if (timeout)
        json_object_set_new(s, "timeout", json_string(timeout));
    if (max_attempts > 0)
        json_object_set_new(s, "max_attempts", json_integer(max_attempts));
    if (queue)
        json_object_set_new(s, "queue", json_string(queue));
    return s;
}

/* POSTs body (JSON, stolen) to path; wants `code`; returns the answer. */
static json_t *post_json(const char *path, json_t *body, long code, long timeout_ms)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    ck_assert_ptr_nonnull(text);
    char url[256];
    struct http_resp r;
    snprintf(url, sizeof url, "%s%s", S.base, path);
    int rv = http_do("POST", url, text, strlen(text), NULL, timeout_ms, &r);
    free(text);
    ck_assert_msg(rv == 0, "POST %s: no answer", path);
    ck_assert_msg(r.code == code, "POST %s: want %ld, got %ld: %.400s", path, code, r.code, r.body);
    json_t *j = http_resp_json(&r);
    http_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* Submits spec (stolen) with ?wait and returns the finished job. */
static json_t *run_spec(json_t *spec)
{
    char path[64];
    snprintf(path, sizeof path, "/jobs?wait=%d", WAIT_S);
    return post_json(path, spec, 200, (WAIT_S + 15) * 1000L);
}

static json_t *run(const char *task, json_t *args, const char *timeout, int max_attempts)
{
    return run_spec(spec_new(task, args, timeout, max_attempts, NULL));
}

/* spec_new with a short retry backoff (20 ms doubling, at most 100 ms), for
 * tests whose jobs are retried: they wait milliseconds between attempts,
 * not the server's default of seconds. */
static json_t *spec_retry(const char *task, json_t *args, const char *timeout, int max_attempts)
{
    json_t *s = spec_new(task, args, timeout, max_attempts, NULL);
    json_object_set_new(s, "backoff", json_pack("{s:s,s:s}", "base", "20ms", "max", "100ms"));
    return s;
}

static json_t *run_retry(const char *task, json_t *args, const char *timeout, int max_attempts)
{
    return run_spec(spec_retry(task, args, timeout, max_attempts));
}

/* Submits spec (stolen) without waiting; returns its id (malloc'd). */
static char *submit(json_t *spec)
{
    json_t *a = post_json("/jobs", spec, 202, 10000);
    const char *id = json_string_value(json_object_get(a, "id"));
    ck_assert_ptr_nonnull(id);
    char *copy = strdup(id);
    json_decref(a);
    return copy;
}

/* Submits an array of specs (stolen) in one request; returns the ids. */
static json_t *submit_batch(json_t *specs)
{
    json_t *a = post_json("/jobs", specs, 202, 20000);
    json_t *ids = json_incref(json_object_get(a, "ids"));
    json_decref(a);
    ck_assert_ptr_nonnull(ids);
    return ids;
}

static const char *jstr(const json_t *job, const char *key)
{
    const char *s = json_string_value(json_object_get(job, key));
    return s ? s : "";
}

static bool terminal(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "dead") == 0;
}

/* The job once it is terminal (long poll): done, or dead after its last
 * attempt ("failed" is only a malformed job's). */
static json_t *await_job(const char *id)
{
    json_t *job = stack_job(&S, id, WAIT_S);
    ck_assert_msg(job != NULL, "GET /jobs/%s failed", id);
    ck_assert_msg(terminal(jstr(job, "state")), "job %s (task %s) still %s after %d s", id, jstr(job, "task"),
                  jstr(job, "state"), WAIT_S);
    return job;
}

static void assert_state(const json_t *job, const char *state)
{
    ck_assert_msg(strcmp(jstr(job, "state"), state) == 0, "job %s (task %s): state %s, want %s; error: %s",
                  jstr(job, "id"), jstr(job, "task"), jstr(job, "state"), state, jstr(job, "error"));
}

static void assert_error_has(const json_t *job, const char *needle)
{
    ck_assert_msg(strstr(jstr(job, "error"), needle) != NULL, "job %s (task %s): error \"%s\" lacks \"%s\"",
                  jstr(job, "id"), jstr(job, "task"), jstr(job, "error"), needle);
}

static void assert_attempts(const json_t *job, json_int_t n)
{
    json_int_t got = json_integer_value(json_object_get(job, "attempts"));
    ck_assert_msg(got == n, "job %s (task %s): %lld attempts, want %lld", jstr(job, "id"), jstr(job, "task"),
                  (long long)got, (long long)n);
}

/* The job is dead after `attempt` of `max` attempts, its error the last
 * attempt's, exactly `error`, with the attempt named (common/scripts.c,
 * finish: "<error> (attempt N of M)"), and it is on its queue's dead list. */
static void assert_dead_with(const json_t *job, const char *error, int attempt, int max)
{
    char want[4096];
    assert_state(job, "dead");
    assert_attempts(job, attempt);
    snprintf(want, sizeof want, "%s (attempt %d of %d)", error, attempt, max);
    ck_assert_str_eq(jstr(job, "error"), want);
    ck_assert_msg(list_has(PREFIX "dead:default", jstr(job, "id")), "job %s is not on dead:default",
                  jstr(job, "id"));
}

/* The job's history holds its n attempts in order: each numbered, with
 * its worker and times, ended with `outcome` ("done", "error", "crash",
 * "lost"), and (unless needle is NULL) an error holding needle. */
static void assert_history(const json_t *job, size_t n, const char *outcome, const char *needle)
{
    const json_t *h = json_object_get(job, "history");
    ck_assert_msg(json_is_array(h), "job %s: history is not an array", jstr(job, "id"));
    ck_assert_msg(json_array_size(h) == n, "job %s (task %s): %zu attempts in its history, want %zu",
                  jstr(job, "id"), jstr(job, "task"), json_array_size(h), n);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(h, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "attempt")), (json_int_t)i + 1);
        ck_assert_msg(jstr(e, "worker")[0] != '\0', "job %s: attempt %zu names no worker", jstr(job, "id"), i + 1);
        ck_assert_str_eq(jstr(e, "outcome"), outcome);
        double started = json_number_value(json_object_get(e, "started_at"));
        double ended = json_number_value(json_object_get(e, "ended_at"));
        ck_assert_msg(started > 0 && ended >= started, "job %s: attempt %zu from %f to %f", jstr(job, "id"), i + 1,
                      started, ended);
        if (needle)
            ck_assert_msg(strstr(jstr(e, "error"), needle) != NULL, "job %s: attempt %zu's error \"%s\" lacks \"%s\"",
                          jstr(job, "id"), i + 1, jstr(e, "error"), needle);
    }
}

/* Each retry of the job started at least its backoff's least draw after the
 * attempt before ended: spec_retry's d = 20 ms doubled per attempt, at most
 * 100 ms, drawn in [d/2, d] (10 ms after attempt 1, 20 ms after attempt 2),
 * less 1 ms for the rounding of the times. */
static void assert_retries_waited(const json_t *job)
{
    const json_t *h = json_object_get(job, "history");
    for (size_t i = 1; i < json_array_size(h); i++) {
        double ended = json_number_value(json_object_get(json_array_get(h, i - 1), "ended_at"));
        double next = json_number_value(json_object_get(json_array_get(h, i), "started_at"));
        double d = i < 4 ? 0.020 * (double)(1u << (i - 1)) : 0.100;
        double least = (d < 0.100 ? d : 0.100) / 2 - 0.001;
        ck_assert_msg(next - ended >= least, "job %s: attempt %zu started %.3f s after attempt %zu ended, want >= %.3f",
                      jstr(job, "id"), i + 1, next - ended, i, least);
    }
}

/* The job is done and its result equals want (borrowed). */
static void assert_done_with(const json_t *job, const json_t *want)
{
    assert_state(job, "done");
    const json_t *got = json_object_get(job, "result");
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        ck_abort_msg("job %s (task %s): result %.300s (%zu bytes) != %.300s (%zu bytes)", jstr(job, "id"),
                     jstr(job, "task"), g ? g : "(none)", g ? strlen(g) : 0, w ? w : "?", w ? strlen(w) : 0);
    }
}

/* A timed-out job: dead after its last attempt (a timeout is a failed
 * attempt: retried while attempts remain) with "timeout:", ended before the
 * task would have. */
static void assert_timed_out(const json_t *job)
{
    assert_state(job, "dead");
    ck_assert_msg(strncmp(jstr(job, "error"), "timeout:", 8) == 0, "job %s: error \"%s\" is not a timeout",
                  jstr(job, "id"), jstr(job, "error"));
    double ran = json_number_value(json_object_get(job, "finished_at")) -
                 json_number_value(json_object_get(job, "started_at"));
    ck_assert_msg(ran < SLEEP_NATURAL_S - 5, "job %s ran %.1f s: the timeout did not stop it", jstr(job, "id"), ran);
}

/* The serve fixture's coprocess pid (its "pid" task). */
static pid_t coproc_pid(void)
{
    json_t *job = run("pid", NULL, NULL, 1);
    assert_state(job, "done");
    json_int_t pid = json_integer_value(json_object_get(job, "result"));
    json_decref(job);
    ck_assert_int_gt(pid, 1);
    return (pid_t)pid;
}

/* ---- /proc ---- */

struct pstat {
    pid_t pid, ppid, pgrp;
    char state;
    char comm[64];
};

/* /proc/<pid>/stat; 0, or -1 when the process is gone. */
static int pstat_read(pid_t pid, struct pstat *ps)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -1;
    int ppid = 0, pgrp = 0;
    if (sscanf(close + 2, "%c %d %d", &ps->state, &ppid, &pgrp) != 3)
        return -1;
    snprintf(ps->comm, sizeof ps->comm, "%.*s", (int)(close - open - 1), open + 1);
    ps->pid = pid;
    ps->ppid = ppid;
    ps->pgrp = pgrp;
    return 0;
}

/* Gone for good: no /proc entry, or a zombie nobody reaps is not "gone". */
static bool pid_gone(void *arg)
{
    struct pstat ps;
    return pstat_read(*(pid_t *)arg, &ps) != 0;
}

static void assert_pid_gone(pid_t pid, const char *what)
{
    ck_assert_msg(harness_wait_until(pid_gone, &pid, GONE_MS, 20) == 0, "%s (pid %d) still exists", what, (int)pid);
}

/* Calls fn for every process in /proc; stops early when fn returns false. */
static void proc_each(bool (*fn)(pid_t pid, void *arg), void *arg)
{
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (!fn((pid_t)pid, arg))
            break;
    }
    closedir(d);
}

struct kids {
    pid_t parent;
    int n, zombies;
    struct pstat k[64];
};

static bool kid_add(pid_t pid, void *arg)
{
    struct kids *ks = arg;
    struct pstat ps;
    if (pstat_read(pid, &ps) != 0 || ps.ppid != ks->parent)
        return true;
    ks->zombies += ps.state == 'Z';
    if (ks->n < 64)
        ks->k[ks->n++] = ps;
    return true;
}

/* The child processes of parent. */
static void children_of(pid_t parent, struct kids *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->parent = parent;
    proc_each(kid_add, ks);
}

struct env_find {
    char needle[128]; /* "OFFLOAD_JOB_ID=<id>" */
    char *buf;
    int n;
    pid_t pids[16];
};

static bool env_match(pid_t pid, void *arg)
{
    struct env_find *ef = arg;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true; /* not ours, or gone */
    size_t len = fread(ef->buf, 1, ENV_MAX, f);
    fclose(f);
    size_t nl = strlen(ef->needle);
    /* entries are NUL-separated: match a whole entry */
    for (const char *p = ef->buf; (p = memmem(p, len - (size_t)(p - ef->buf), ef->needle, nl)) != NULL; p++) {
        if ((p == ef->buf || p[-1] == '\0') && (size_t)(p - ef->buf) + nl <= len &&
            ((size_t)(p - ef->buf) + nl == len || p[nl] == '\0')) {
            if (ef->n < 16)
                ef->pids[ef->n++] = pid;
            break;
        }
    }
    return true;
}

/* The processes running for job `id` (OFFLOAD_JOB_ID=<id> in their
 * environment, as an exec task and everything it starts has). */
static int job_procs(const char *id, pid_t *pids, int max)
{
    struct env_find ef;
    memset(&ef, 0, sizeof ef);
    snprintf(ef.needle, sizeof ef.needle, "OFFLOAD_JOB_ID=%s", id);
    ef.buf = malloc(ENV_MAX);
    ck_assert_ptr_nonnull(ef.buf);
    proc_each(env_match, &ef);
    free(ef.buf);
    for (int i = 0; i < ef.n && i < max; i++)
        pids[i] = ef.pids[i];
    return ef.n;
}

static bool job_procs_running(void *arg)
{
    pid_t pids[16];
    return job_procs(arg, pids, 16) > 0;
}

static bool job_procs_gone(void *arg)
{
    pid_t pids[16];
    return job_procs(arg, pids, 16) == 0;
}

struct group_scan {
    pid_t pgrp;
    int live; /* members that are not zombies: still running */
};

static bool pgrp_member_count(pid_t pid, void *arg)
{
    struct group_scan *g = arg;
    struct pstat ps;
    if (pstat_read(pid, &ps) == 0 && ps.pgrp == g->pgrp && ps.state != 'Z' && ps.state != 'X')
        g->live++;
    return true;
}

/* Processes of group pgrp still running. A member that was killed may stay
 * a zombie until init reaps it (it was reparented): that one does not run. */
static int group_live(pid_t pgrp)
{
    struct group_scan g = {pgrp, 0};
    proc_each(pgrp_member_count, &g);
    return g.live;
}

static bool group_stopped(void *arg)
{
    return group_live(*(pid_t *)arg) == 0;
}

static bool group_has_two(void *arg)
{
    return group_live(*(pid_t *)arg) >= 2;
}

static int fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- exec ---- */

/* The coprocess (restarted or not) still answers an `ok` job with the echo
 * of its args. */
static void assert_coprocess_serves(void)
{
    json_t *one = json_integer(1);
    json_t *job = run("ok", json_incref(one), NULL, 0);
    json_t *want = json_pack("{s:O}", "echo", one);
    assert_done_with(job, want);
    json_decref(want);
    json_decref(one);
    json_decref(job);
}

/* The worker still runs `task` (an echo of its args) after what came before. */
static void assert_still_serves(const char *task)
{
    json_t *one = json_integer(1);
    json_t *job = run(task, json_incref(one), NULL, 0);
    assert_done_with(job, one);
    json_decref(job);
    json_decref(one);
}

START_TEST(exec_result_is_json_or_text)
{
    up_main(NULL);
    json_t *args = json_pack("{s:i,s:s,s:[b,n,f]}", "n", 42, "s", "h\xc3\xa9llo", "list", 1, 0.5);
    json_t *job = run("x.ok", json_incref(args), NULL, 0);
    assert_done_with(job, args); /* cat: the args' JSON back, parsed */
    assert_attempts(job, 1);
    ck_assert_str_eq(jstr(job, "worker"), MAIN_ID);
    json_decref(job);
    job = run("x.text", NULL, NULL, 0);
    json_t *text = json_string("plain text"); /* not JSON: a string, trailing newline dropped */
    assert_done_with(job, text);
    json_decref(text);
    json_decref(job);
    json_decref(args);
    /* burn is still there, the default task */
    job = post_json("/jobs?wait=30", json_pack("{s:i,s:s}", "ms", 5, "payload", "p"), 200, 45000);
    assert_state(job, "done");
    ck_assert_str_eq(jstr(job, "task"), "burn");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(job, "result"), "digest"));
    json_decref(job);
}
END_TEST

START_TEST(exec_env_names_the_job)
{
    up_main(NULL);
    json_t *job = run_spec(spec_new("x.env", NULL, NULL, 0, "tq"));
    assert_state(job, "done");
    json_t *env = json_object_get(job, "result");
    ck_assert_msg(json_is_object(env), "x.env result is not an object");
    ck_assert_str_eq(jstr(env, "OFFLOAD_JOB_ID"), jstr(job, "id"));
    ck_assert_str_eq(jstr(env, "OFFLOAD_ATTEMPT"), "1");
    ck_assert_str_eq(jstr(env, "OFFLOAD_QUEUE"), "tq");
    ck_assert_str_eq(jstr(env, "OFFLOAD_TASK"), "x.env");
    ck_assert_str_eq(jstr(env, "OFFLOAD_WORKER_ID"), MAIN_ID);
    json_decref(job);
}
END_TEST

START_TEST(exec_failure_and_signal)
{
    up_main(NULL);
    /* A task's error is retried after a backoff while attempts remain (it
     * used to be final, the job "failed" after one attempt): three runs, each
     * in the history with the task's own message, then dead with it. */
    json_t *job = run_retry("x.fail", NULL, NULL, 3);
    assert_dead_with(job, "exit status 3: something broke", 3, 3);
    assert_history(job, 3, "error", "exit status 3: something broke");
    assert_retries_waited(job);
    ck_assert(json_is_null(json_object_get(job, "result")));
    json_decref(job);
    /* one attempt allowed: dead after it, the signal named */
    job = run("x.segv", NULL, NULL, 1);
    assert_state(job, "dead");
    assert_attempts(job, 1);
    assert_error_has(job, "signal 11");
    assert_error_has(job, " (attempt 1 of 1)");
    assert_history(job, 1, "error", "signal 11");
    json_decref(job);
    /* the worker is unharmed */
    assert_still_serves("x.ok");
}
END_TEST

START_TEST(exec_timeout_stops_process_group)
{
    up_main(NULL);
    /* The fixture sleeps 30 s in a child of its shell. */
    json_t *job = run("x.sleep", NULL, "300ms", 1);
    assert_timed_out(job);
    char *id = strdup(jstr(job, "id"));
    json_decref(job);
    ck_assert_msg(harness_wait_until(job_procs_gone, id, GONE_MS, 50) == 0,
                  "processes of timed-out job %s still running", id);
    free(id);

    /* The same, watched while it runs: the scan above does find a job's
     * processes, and they are a process group of their own that is gone. */
    char *id2 = submit(spec_new("x.sleep", NULL, "5s", 1, NULL));
    ck_assert_msg(harness_wait_until(job_procs_running, id2, 10000, 20) == 0, "no process of job %s seen", id2);
    pid_t pids[16];
    int n = job_procs(id2, pids, 16);
    ck_assert_int_gt(n, 0);
    struct pstat ps, wps;
    ck_assert_int_eq(pstat_read(pids[0], &ps), 0);
    ck_assert_int_eq(pstat_read(S.workers[0], &wps), 0);
    pid_t group = ps.pgrp;
    ck_assert_int_ne(group, wps.pgrp);
    /* the shell and its sleep, both in the task's group */
    ck_assert_msg(harness_wait_until(group_has_two, &group, 5000, 20) == 0, "group %d: %d processes running",
                  (int)group, group_live(group));
    job = await_job(id2);
    assert_timed_out(job);
    json_decref(job);
    ck_assert_msg(harness_wait_until(job_procs_gone, id2, GONE_MS, 50) == 0,
                  "processes of timed-out job %s still running", id2);
    ck_assert_msg(harness_wait_until(group_stopped, &group, GONE_MS, 20) == 0,
                  "process group %d of timed-out job %s: %d processes still running", (int)group, id2,
                  group_live(group));
    free(id2);
}
END_TEST

/* ---- serve ---- */

START_TEST(serve_result_and_error)
{
    up_main(NULL);
    json_t *args = json_pack("{s:[i,s,n]}", "a", 1, "two");
    json_t *job = run("ok", json_incref(args), NULL, 0);
    json_t *want = json_pack("{s:O}", "echo", args);
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
    json_decref(args);
    /* The coprocess's error is the job's, verbatim. One attempt: a task's
     * error is now retried (before, it was final: "failed" after one run),
     * and this test is about the text, not the retries (exec_failure_and_signal). */
    job = run("fail", json_string("bad input"), NULL, 1);
    assert_dead_with(job, "boom: bad input", 1, 1);
    assert_history(job, 1, "error", "boom: bad input");
    json_decref(job);
    job = run("fail", json_pack("{s:i}", "x", 1), NULL, 1);
    assert_dead_with(job, "boom: {\"x\":1}", 1, 1);
    json_decref(job);
}
END_TEST

START_TEST(serve_exit_and_kill_retried_then_dead)
{
    up_main(NULL);
    pid_t p1 = coproc_pid();
    /* exit, and an ok job queued right behind it: the retried exit job goes
     * back behind it, so the ok job starts before exit's last attempt */
    json_t *specs = json_pack("[o,o]", spec_retry("exit", NULL, NULL, 3),
                              spec_new("ok", json_string("behind"), NULL, 0, NULL));
    json_t *ids = submit_batch(specs);
    json_t *ex = await_job(json_string_value(json_array_get(ids, 0)));
    json_t *ok = await_job(json_string_value(json_array_get(ids, 1)));
    assert_state(ex, "dead");
    assert_attempts(ex, 3);
    assert_error_has(ex, "coprocess died mid-job");
    assert_error_has(ex, "exit status 3");
    assert_error_has(ex, "attempt 3 of 3");
    ck_assert(list_has(PREFIX "dead:default", jstr(ex, "id")));
    assert_history(ex, 3, "crash", "coprocess died mid-job");
    assert_retries_waited(ex);
    json_t *want = json_pack("{s:s}", "echo", "behind");
    assert_done_with(ok, want);
    json_decref(want);
    ck_assert_msg(json_number_value(json_object_get(ok, "started_at")) <
                      json_number_value(json_object_get(ex, "started_at")),
                  "the retried job was not put back behind the queued one");
    json_decref(ex);
    json_decref(ok);
    json_decref(ids);
    assert_pid_gone(p1, "the coprocess that exited");
    pid_t p2 = coproc_pid();
    ck_assert_int_ne(p2, p1);

    json_t *job = run_retry("kill", NULL, NULL, 2);
    assert_state(job, "dead");
    assert_attempts(job, 2);
    assert_error_has(job, "coprocess died mid-job");
    assert_error_has(job, "signal 9");
    assert_error_has(job, "attempt 2 of 2");
    assert_history(job, 2, "crash", "signal 9");
    json_decref(job);
    pid_t p3 = coproc_pid();
    ck_assert_int_ne(p3, p2);
    assert_pid_gone(p2, "the coprocess that killed itself");
}
END_TEST

START_TEST(serve_garbage_retried_then_dead)
{
    up_main(NULL);
    pid_t p1 = coproc_pid();
    json_t *job = run_retry("garbage", NULL, NULL, 2);
    assert_state(job, "dead");
    assert_attempts(job, 2);
    assert_error_has(job, "coprocess answered garbage: this is not JSON");
    assert_error_has(job, "attempt 2 of 2");
    assert_history(job, 2, "crash", "coprocess answered garbage");
    json_decref(job);
    pid_t p2 = coproc_pid();
    ck_assert_int_ne(p2, p1);
    /* an answer for another job is garbage too */
    job = run("wrong_id", NULL, NULL, 1);
    assert_state(job, "dead");
    assert_attempts(job, 1);
    assert_error_has(job, "coprocess answered garbage");
    assert_error_has(job, "attempt 1 of 1");
    json_decref(job);
    pid_t p3 = coproc_pid();
    ck_assert_int_ne(p3, p2);
    assert_coprocess_serves();
}
END_TEST

START_TEST(serve_timeout_restarts_coprocess)
{
    up_main(NULL);
    pid_t p1 = coproc_pid();
    /* One attempt, so one restart to watch: a timeout is now retried like any
     * failed attempt (before: "failed" at once, not retried); the retry of a
     * timed-out run is plugin_timeout_cancels_run's. */
    json_t *job = run("sleep", json_integer(SLEEP_NATURAL_S), "300ms", 1);
    assert_timed_out(job);
    assert_attempts(job, 1);
    assert_error_has(job, " (attempt 1 of 1)");
    json_decref(job);
    assert_pid_gone(p1, "the coprocess of the timed-out job");
    pid_t p2 = coproc_pid();
    ck_assert_int_ne(p2, p1);
    job = run("ok", json_string("after"), NULL, 0);
    json_t *want = json_pack("{s:s}", "echo", "after");
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
}
END_TEST

/* ---- plugin ---- */

START_TEST(plugin_result_and_error)
{
    up_plugin(NULL);
    pid_t child = record_pid(), sup = S.workers[0];
    struct pstat ps;
    ck_assert_int_ne(child, sup);
    ck_assert_int_eq(pstat_read(child, &ps), 0);
    ck_assert_int_eq(ps.ppid, sup); /* the record names the supervised worker process */
    json_t *args = json_pack("{s:s,s:[i,i]}", "k", "v", "n", 1, 2);
    json_t *job = run("ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    ck_assert_str_eq(jstr(job, "worker"), PLUGIN_ID "-0");
    json_decref(job);
    json_decref(args);
    job = run("count", json_string("abc"), NULL, 0);
    json_t *want = json_pack("{s:i}", "bytes", 5); /* the args' JSON text: "abc" with its quotes */
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
    /* host->fail's message is the job's error; one attempt, as this is
     * about the text (a task's error is retried now: it was final) */
    job = run("fail", NULL, NULL, 1);
    assert_dead_with(job, "plugin says no", 1, 1);
    assert_history(job, 1, "error", "plugin says no");
    json_decref(job);
    ck_assert_int_eq(record_pid(), child); /* no restart on the way */
}
END_TEST

START_TEST(plugin_segv_recovered_then_dead)
{
    up_plugin(NULL);
    pid_t sup = S.workers[0], c1 = record_pid();
    json_t *job = run("segv", NULL, NULL, 1);
    assert_state(job, "dead");
    assert_attempts(job, 1);
    ck_assert_msg(jstr(job, "error")[0] != '\0', "a dead job names why");
    assert_error_has(job, " (attempt 1 of 1)");
    ck_assert(list_has(PREFIX "dead:default", jstr(job, "id")));
    assert_history(job, 1, "lost", NULL); /* its worker process died with it */
    json_decref(job);
    pid_t c2 = wait_new_worker_process(c1);
    assert_pid_gone(c1, "the worker process that crashed");
    json_t *args = json_pack("{s:s}", "after", "segv");
    job = run("ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    /* with attempts left it goes back on the queue and runs again */
    job = run("segv", NULL, NULL, 2);
    assert_state(job, "dead");
    assert_attempts(job, 2);
    assert_history(job, 2, "lost", NULL);
    json_decref(job);
    wait_new_worker_process(c2);
    job = run("ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    json_decref(args);
    ck_assert_msg(harness_wait_exit(sup, 0, NULL) == -1, "the supervisor exited");
}
END_TEST

START_TEST(plugin_timeout_cancels_run)
{
    up_plugin(NULL);
    pid_t c1 = record_pid();
    /* A timeout is a failed attempt, retried after a backoff (before: the
     * job "failed" at once): both runs time out and are cancelled, and the
     * worker process serves them both. */
    json_t *job = run_retry("spin", NULL, "300ms", 2);
    assert_timed_out(job);
    assert_attempts(job, 2);
    assert_error_has(job, " (attempt 2 of 2)");
    assert_history(job, 2, "error", "timeout:");
    assert_retries_waited(job);
    ck_assert_msg(strstr(jstr(job, "error"), "did not stop") == NULL, "spin stopped when cancelled: %s",
                  jstr(job, "error"));
    json_decref(job);
    json_t *args = json_string("still here");
    job = run("ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    json_decref(args);
    ck_assert_int_eq(record_pid(), c1); /* a run that returned needs no restart */
}
END_TEST

START_TEST(plugin_stuck_run_restarts_worker_process)
{
    static const char *const grace[] = {"--kill-grace", "1s", NULL};
    up_plugin(grace);
    pid_t c1 = record_pid();
    /* One attempt: each stuck run costs a worker process, and this watches
     * one restart (a timeout is retried now; before, it was final). */
    json_t *job = run("stuck", NULL, "300ms", 1);
    assert_timed_out(job);
    assert_attempts(job, 1);
    assert_error_has(job, "did not stop");
    json_decref(job);
    wait_new_worker_process(c1);
    assert_pid_gone(c1, "the worker process with the stuck run");
    json_t *args = json_string("fresh process");
    job = run("ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    json_decref(args);
}
END_TEST

/* ---- every kind ---- */

START_TEST(oversized_output_fails_every_kind)
{
    static const char *const small[] = {"--max-result", "65536", NULL};
    up_plugin(small);
    const char *bigs[] = {"x.big", "s.big", "big"}; /* 2 MiB from exec and plugin, 200 kB from serve */
    for (int i = 0; i < 3; i++) {
        /* a failed attempt, retried after a backoff (before: "failed" at once) */
        json_t *job = run_retry(bigs[i], i == 1 ? json_integer(200000) : NULL, NULL, 2);
        assert_state(job, "dead");
        assert_attempts(job, 2);
        assert_error_has(job, "--max-result");
        assert_error_has(job, " (attempt 2 of 2)");
        assert_history(job, 2, "error", "--max-result");
        json_decref(job);
    }
    /* every kind still works afterwards, and a result under the limit passes */
    const char *oks[] = {"x.ok", "s.ok", "ok"};
    for (int i = 0; i < 3; i++) {
        json_t *args = json_pack("{s:i}", "i", i);
        json_t *job = run(oks[i], json_incref(args), NULL, 0);
        json_t *want = i == 1 ? json_pack("{s:O}", "echo", args) : json_incref(args);
        assert_done_with(job, want);
        json_decref(want);
        json_decref(job);
        json_decref(args);
    }
    json_t *job = run("s.big", json_integer(1000), NULL, 0);
    assert_state(job, "done");
    ck_assert_uint_eq(json_string_length(json_object_get(job, "result")), 1000);
    json_decref(job);
}
END_TEST

/* ~300 kB of JSON: text in many scripts, escapes, numbers, nesting. */
static json_t *large_unicode_args(void)
{
    static const char *const pieces[] = {
        "h\xc3\xa9llo w\xc3\xb6rld ",                      /* héllo wörld */
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ",           /* 日本語 */
        "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89 ",               /* two emoji (astral plane) */
        "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac ", /* Ελληνικά */
        "\xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa ",       /* עברית */
        "e\xcc\x81 ",                                      /* e + combining acute */
        "\xe2\x80\xa8sep ",                                /* U+2028 */
        "\"quoted\" back\\slash tab\there line\nbreak ",
        "\xef\xbb\xbf bom ",                               /* U+FEFF */
    };
    size_t cap = 220 * 1000, len = 0, np = sizeof pieces / sizeof pieces[0];
    char *text = malloc(cap + 64);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; len < cap; i++) {
        size_t l = strlen(pieces[i % np]);
        memcpy(text + len, pieces[i % np], l);
        len += l;
    }
    text[len] = '\0';
    json_t *items = json_array();
    for (int i = 0; i < 2000; i++) {
        char s[32];
        snprintf(s, sizeof s, "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-%d", i); /* ключ-i */
        json_array_append_new(items, json_pack("{s:i,s:f,s:b,s:n,s:s}", "i", i * 7919, "f", i / 8.0, "b", i % 2,
                                                "z", "s", s));
    }
    json_t *args = json_pack("{s:s,s:o,s:{s:s,s:I}}", "text", text, "items", items,
                             "\xf0\x9f\x94\x91 \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", /* 🔑 ключ */
                             "value", "\xd0\xb7\xd0\xbd\xd0\xb0\xd1\x87\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5", "big",
                             (json_int_t)1234567890123456LL);
    free(text);
    ck_assert_ptr_nonnull(args);
    char *dump = json_dumps(args, JSON_COMPACT);
    ck_assert_uint_ge(strlen(dump), 300 * 1000);
    free(dump);
    return args;
}

START_TEST(large_unicode_args_round_trip_every_kind)
{
    up_plugin(NULL);
    json_t *args = large_unicode_args();
    const char *tasks[] = {"x.ok", "s.ok", "ok"}; /* exec (cat), serve (echo), plugin (write back) */
    for (int i = 0; i < 3; i++) {
        json_t *job = run(tasks[i], json_incref(args), NULL, 0);
        ck_assert_msg(json_equal(json_object_get(job, "args"), args), "%s: args changed on the way in", tasks[i]);
        json_t *want = i == 1 ? json_pack("{s:O}", "echo", args) : json_incref(args);
        assert_done_with(job, want);
        json_decref(want);
        /* and the same when read back later */
        json_t *again = stack_job(&S, jstr(job, "id"), 0);
        ck_assert_ptr_nonnull(again);
        assert_done_with(again, json_object_get(job, "result"));
        json_decref(again);
        json_decref(job);
    }
    json_decref(args);
}
END_TEST

START_TEST(shell_metacharacters_in_args_never_run)
{
    up_main(NULL);
    char files[8][64], s[8][160];
    for (int i = 0; i < 8; i++) {
        snprintf(files[i], sizeof files[i], "/tmp/offload-pwned-%d-%d", (int)getpid(), i);
        unlink(files[i]);
    }
    snprintf(s[0], sizeof s[0], "$(touch %s)", files[0]);
    snprintf(s[1], sizeof s[1], "`touch %s`", files[1]);
    snprintf(s[2], sizeof s[2], "; touch %s", files[2]);
    snprintf(s[3], sizeof s[3], "| touch %s", files[3]);
    snprintf(s[4], sizeof s[4], "&& touch %s", files[4]);
    snprintf(s[5], sizeof s[5], "\n touch %s\n", files[5]);
    snprintf(s[6], sizeof s[6], "'; touch %s; '", files[6]);
    snprintf(s[7], sizeof s[7], "\"; touch %s; \"", files[7]);
    json_t *args = json_array();
    for (int i = 0; i < 7; i++)
        json_array_append_new(args, json_string(s[i]));
    json_array_append_new(args, json_pack("{s:s}", s[7], s[0])); /* as a key too */
    json_t *job = run("x.ok", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    job = run("ok", json_incref(args), NULL, 0);
    json_t *want = json_pack("{s:O}", "echo", args);
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
    json_decref(args);
    harness_sleep_ms(300); /* anything spawned by a shell would have run by now */
    char created[8 * 80] = "";
    for (int i = 0; i < 8; i++) {
        if (access(files[i], F_OK) == 0)
            snprintf(created + strlen(created), sizeof created - strlen(created), " %s", files[i]);
        unlink(files[i]);
    }
    ck_assert_msg(created[0] == '\0', "args reached a shell, which created:%s", created);
}
END_TEST

START_TEST(unknown_task_goes_dead_naming_worker)
{
    up_main(NULL);
    json_t *job = run_retry("nosuch", json_string("x"), NULL, 2);
    assert_state(job, "dead");
    assert_attempts(job, 2);
    assert_error_has(job, "no handler for task \"nosuch\" on worker " MAIN_ID);
    assert_error_has(job, "(it serves: ");
    assert_error_has(job, "x.ok");
    assert_error_has(job, "burn");
    assert_error_has(job, "attempt 2 of 2");
    ck_assert(list_has(PREFIX "dead:default", jstr(job, "id")));
    assert_history(job, 2, "crash", "no handler for task \"nosuch\"");
    assert_retries_waited(job);
    json_decref(job);
    assert_still_serves("x.ok");
}
END_TEST

static bool registered_w2(void *arg)
{
    char *pid = record_field_of(arg, "pid");
    free(pid);
    return pid != NULL;
}

/* README: a job whose task this worker does not serve goes to the back of
 * its queue, "another worker may serve it", "never a hot loop". With an idle
 * worker that serves it waiting on the queue, every such job ends done there.
 * A bounced job now waits out a retry backoff first (before: back on the
 * queue at once); the short one here falls due while the bouncing worker
 * still pauses (100 ms), so the waiting worker gets it, as before. */
START_TEST(unknown_task_reaches_worker_that_serves_it)
{
    up_main(NULL);
    static const char *const only2[] = {"only2=" EXEC_TASK "ok", NULL};
    spawn_worker("w2", only2, NULL, NULL, NULL);
    ck_assert_int_eq(harness_wait_until(registered_w2, (void *)"w2", REGISTER_MS, 20), 0);
    int dead = 0;
    char first_error[512] = "";
    for (int i = 0; i < 6; i++) {
        json_t *job = run_retry("only2", json_integer(i), NULL, 3);
        if (strcmp(jstr(job, "state"), "done") != 0 && dead++ == 0)
            snprintf(first_error, sizeof first_error, "%s (%s after %lld attempts)", jstr(job, "error"),
                     jstr(job, "state"), (long long)json_integer_value(json_object_get(job, "attempts")));
        json_decref(job);
    }
    ck_assert_msg(dead == 0, "%d of 6 jobs for the task only w2 serves never reached it; first: %s", dead,
                  first_error);
}
END_TEST

/* The names in a "a,b,c" list, exactly `want` in any order. */
static void assert_names(const char *list, const char *const *want)
{
    size_t nwant = 0, nlist = 1;
    for (const char *p = list; *p; p++)
        nlist += *p == ',';
    for (; want[nwant]; nwant++) {
        char needle[80], hay[4096];
        snprintf(needle, sizeof needle, ",%s,", want[nwant]);
        snprintf(hay, sizeof hay, ",%s,", list);
        ck_assert_msg(strstr(hay, needle) != NULL, "tasks \"%s\" lack %s", list, want[nwant]);
    }
    ck_assert_msg(nlist == nwant, "tasks \"%s\": %zu names, want %zu", list, nlist, nwant);
}

static bool record_gone(void *arg)
{
    redisReply *r = cmd("EXISTS " PREFIX "worker:%s", (const char *)arg);
    bool gone = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
    freeReplyObject(r);
    return gone;
}

static void stop_worker(int i)
{
    int status = 0;
    harness_kill(S.workers[i], SIGTERM);
    ck_assert_msg(harness_wait_exit(S.workers[i], 20000, &status) == 0, "worker did not stop");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exit status 0x%x", status);
    S.workers[i] = 0;
}

START_TEST(worker_record_lists_tasks)
{
    up_main(NULL);
    char *tasks = record_field_of(MAIN_ID, "tasks"), *queues = record_field_of(MAIN_ID, "queues");
    char *host = record_field_of(MAIN_ID, "host"), *started = record_field_of(MAIN_ID, "started_at");
    ck_assert_ptr_nonnull(tasks);
    assert_names(tasks, main_names);
    ck_assert_str_eq(queues ? queues : "", "default,tq");
    char myhost[256] = "";
    gethostname(myhost, sizeof myhost - 1);
    ck_assert_str_eq(host ? host : "", myhost);
    ck_assert_int_eq(record_pid(), S.workers[0]);
    double started_s = started ? atof(started) / 1e6 : 0, now = (double)time(NULL);
    ck_assert_msg(started_s > now - 600 && started_s < now + 60, "started_at %s", started ? started : "(none)");
    free(tasks);
    free(queues);
    free(host);
    free(started);

    /* A second worker with its tasks from WORKER_TASKS, one per line. */
    const char *env[] = {"WORKER_TASKS=e.ok=" EXEC_TASK "ok\n"
                         "e.co=" COPROC " ok\n",
                         NULL};
    static const char *const envq[] = {"--queues", "envq", NULL};
    spawn_worker("we", NULL, envq, env, NULL);
    const char *we = "we";
    snprintf(record_id, sizeof record_id, "%s", we);
    ck_assert_msg(harness_wait_until(record_present, NULL, REGISTER_MS, 20) == 0, "worker we: no record");
    tasks = record_field_of("we", "tasks");
    static const char *const we_names[] = {"e.ok", "e.co", "burn", NULL};
    ck_assert_ptr_nonnull(tasks);
    assert_names(tasks, we_names);
    free(tasks);
    json_t *job = run_spec(spec_new("e.co", json_integer(7), NULL, 1, "envq"));
    json_t *want = json_pack("{s:i}", "echo", 7);
    assert_done_with(job, want);
    ck_assert_str_eq(jstr(job, "worker"), "we");
    json_decref(want);
    json_decref(job);

    /* Leaving, each deletes its record. */
    stop_worker(0);
    stop_worker(1);
    ck_assert_int_eq(harness_wait_until(record_gone, (void *)MAIN_ID, GONE_MS, 20), 0);
    ck_assert_int_eq(harness_wait_until(record_gone, (void *)we, GONE_MS, 20), 0);
}
END_TEST

/* A failed run whose stderr holds several lines and quotes: the job keeps
 * the text, and the worker's log stays one logfmt line per entry (STYLE.md:
 * logs are logfmt), so a task's output cannot forge or split log lines. */
START_TEST(failed_run_log_stays_logfmt)
{
    struct stack_opts o = {.workers = 0};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    rc = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(rc);
    char log_path[128];
    snprintf(log_path, sizeof log_path, "%s/worker.log", S.redis.dir);
    static const char *const lines[] = {
        "x.lines=exec:sh -c \"printf 'first line\\nlevel=error msg=\\\"forged\\\"\\n' >&2; exit 1\"", NULL};
    spawn_worker("wl", lines, NULL, NULL, log_path);
    snprintf(record_id, sizeof record_id, "wl");
    ck_assert_msg(harness_wait_until(record_present, NULL, REGISTER_MS, 20) == 0, "worker wl: no record");
    /* one attempt: dead after it (a task's error was final, "failed") */
    json_t *job = run("x.lines", NULL, NULL, 1);
    assert_dead_with(job, "exit status 1: first line\nlevel=error msg=\"forged\"", 1, 1);
    json_decref(job);
    harness_sleep_ms(200); /* the log line follows the report */
    FILE *f = fopen(log_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    int entries = 0;
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(strncmp(line, "ts=", 3) == 0, "worker log line not logfmt: %s", line);
        entries += strstr(line, "msg=\"job run failed\"") != NULL;
    }
    fclose(f);
    ck_assert_int_eq(entries, 1);
}
END_TEST

static bool has_exec_child(void *arg)
{
    struct kids ks;
    children_of(*(pid_t *)arg, &ks);
    for (int i = 0; i < ks.n; i++)
        if (strcmp(ks.k[i].comm, "exec_task.sh") == 0)
            return true;
    return false;
}

START_TEST(no_zombies_after_exec_jobs)
{
    up_main(NULL);
    pid_t w = S.workers[0];
    /* The scan sees an exec task as the worker's child while it runs. */
    char *id = submit(spec_new("x.sleep", NULL, "3s", 1, NULL));
    ck_assert_msg(harness_wait_until(has_exec_child, &w, 10000, 20) == 0, "no exec child of the worker seen");
    json_t *job = await_job(id);
    assert_timed_out(job);
    json_decref(job);
    free(id);
    static const struct {
        const char *task, *timeout, *state;
    } mix[] = {
        /* max_attempts 1: a failed run is dead at once (before: "failed") */
        {"x.ok", NULL, "done"},     {"x.fail", NULL, "dead"},    {"x.segv", NULL, "dead"},
        {"x.text", NULL, "done"},   {"x.sleep", "100ms", "dead"}, {"x.env", NULL, "done"},
    };
    json_t *specs = json_array();
    for (int i = 0; i < 24; i++)
        json_array_append_new(specs, spec_new(mix[i % 6].task, json_integer(i), mix[i % 6].timeout, 1, NULL));
    json_t *ids = submit_batch(specs);
    for (int i = 0; i < 24; i++) {
        job = await_job(json_string_value(json_array_get(ids, (size_t)i)));
        assert_state(job, mix[i % 6].state);
        json_decref(job);
    }
    json_decref(ids);
    /* Reported means reaped: no zombie, and no child but the serve coprocess. */
    struct kids ks;
    children_of(w, &ks);
    ck_assert_msg(ks.zombies == 0, "%d zombie children of the worker", ks.zombies);
    for (int i = 0; i < ks.n; i++)
        ck_assert_msg(strcmp(ks.k[i].comm, "python3") == 0, "child %d (%s, state %c) of the worker left over",
                      (int)ks.k[i].pid, ks.k[i].comm, ks.k[i].state);
}
END_TEST

/* Jobs of every exec and serve outcome, ending with plain successes of
 * both kinds (so the coprocess runs when the fds are counted). */
static void run_mix(int n)
{
    static const struct {
        const char *task, *timeout;
        int args; /* -1: none */
        const char *state;
    } mix[] = {
        /* max_attempts 1: every failed run is dead at once (a task's error
         * and a timeout were "failed" before) */
        {"x.ok", NULL, 1, "done"},     {"ok", NULL, 1, "done"},          {"x.fail", NULL, -1, "dead"},
        {"fail", NULL, 1, "dead"},     {"x.text", NULL, -1, "done"},     {"ok", NULL, 2, "done"},
        {"x.segv", NULL, -1, "dead"},  {"ok", NULL, 3, "done"},          {"x.ok", NULL, 2, "done"},
        {"garbage", NULL, -1, "dead"}, {"ok", NULL, 4, "done"},          {"x.ok", NULL, 3, "done"},
        {"exit", NULL, -1, "dead"},    {"ok", NULL, 5, "done"},          {"x.sleep", "100ms", -1, "dead"},
        {"x.ok", NULL, 4, "done"},     {"sleep", "100ms", 5, "dead"},    {"ok", NULL, 6, "done"},
        {"x.ok", NULL, 5, "done"},     {"ok", NULL, 7, "done"},
    };
    const int m = (int)(sizeof mix / sizeof mix[0]);
    json_t *specs = json_array();
    for (int i = 0; i < n; i++) {
        int a = mix[i % m].args;
        json_array_append_new(specs, spec_new(mix[i % m].task, a < 0 ? NULL : json_integer(a), mix[i % m].timeout, 1, NULL));
    }
    json_t *ids = submit_batch(specs);
    for (int i = 0; i < n; i++) {
        json_t *job = await_job(json_string_value(json_array_get(ids, (size_t)i)));
        assert_state(job, mix[i % m].state);
        json_decref(job);
    }
    json_decref(ids);
}

START_TEST(fd_count_stable_over_many_jobs)
{
    up_main(NULL);
    pid_t w = S.workers[0];
    run_mix(20);
    int before = fd_count(w);
    run_mix(100);
    run_mix(100);
    int after = fd_count(w);
    ck_assert_msg(after == before, "worker fds: %d after 20 jobs, %d after 200 more", before, after);
}
END_TEST

/* ---- a task's boundaries: environment, start-up, answers, SPEC ---- */

/* Starts Redis and the api (no worker) and connects rc. */
static void up_bare(void)
{
    struct stack_opts o = {.workers = 0};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    rc = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(rc);
}

/* Waits until worker `id` (spawned by the test) has written its record. */
static void wait_record(const char *id)
{
    snprintf(record_id, sizeof record_id, "%s", id);
    ck_assert_msg(harness_wait_until(record_present, NULL, REGISTER_MS, 20) == 0, "worker %s: no record", id);
}

/* The text of /usr/bin/env (NAME=value lines) holds a line starting with
 * `line` (a "NAME=" prefix, or a whole "NAME=value" when whole). */
static bool env_text_has(const char *text, const char *line, bool whole)
{
    size_t n = strlen(text) + 3;
    char *t = malloc(n), needle[256];
    ck_assert_ptr_nonnull(t);
    snprintf(t, n, "\n%s\n", text);
    snprintf(needle, sizeof needle, "\n%s%s", line, whole ? "\n" : "");
    bool found = strstr(t, needle) != NULL;
    free(t);
    return found;
}

/* README: the worker's own settings (REDIS_URL with Redis's password,
 * API_TOKEN, every WORKER_*) stay out of a task process's environment; the
 * rest passes. The worker reads its Redis from REDIS_URL here, as a
 * deployment that keeps the password out of argv does. */
START_TEST(task_env_drops_worker_secrets)
{
    up_bare();
    char redis_env[128];
    snprintf(redis_env, sizeof redis_env, "REDIS_URL=%s", S.redis.url);
    const char *const env[] = {redis_env, "API_TOKEN=t0ken-s3cret", "WORKER_SECRET_X=s3cret", "OFFLOAD_TEST_KEEP=yes",
                               NULL};
    static const char *const tasks[] = {"x.envdump=exec:/usr/bin/env", "environ=" COPROC, NULL};
    spawn_worker("wsec", tasks, NULL, env, NULL);
    wait_record("wsec");

    json_t *job = run("x.envdump", NULL, NULL, 1);
    assert_state(job, "done");
    const char *text = json_string_value(json_object_get(job, "result"));
    ck_assert_msg(text != NULL, "x.envdump: the result is not env's text");
    char own[128];
    snprintf(own, sizeof own, "OFFLOAD_JOB_ID=%s", jstr(job, "id"));
    ck_assert_msg(env_text_has(text, own, true), "exec: %s missing from:\n%s", own, text);
    ck_assert_msg(env_text_has(text, "OFFLOAD_TEST_KEEP=yes", true), "exec: OFFLOAD_TEST_KEEP=yes missing from:\n%s",
                  text);
    static const char *const gone[] = {"REDIS_URL=", "API_TOKEN=", "WORKER_", NULL};
    for (const char *const *g = gone; *g; g++)
        ck_assert_msg(!env_text_has(text, *g, false), "exec: %s... reached the task:\n%s", *g, text);
    json_decref(job);

    job = run("environ", NULL, NULL, 1);
    assert_state(job, "done");
    json_t *envo = json_object_get(job, "result");
    ck_assert_msg(json_is_object(envo), "environ: the result is not an object");
    ck_assert_str_eq(jstr(envo, "OFFLOAD_TEST_KEEP"), "yes");
    ck_assert_str_eq(jstr(envo, "OFFLOAD_WORKER_ID"), "wsec");
    const char *name;
    json_t *value;
    json_object_foreach(envo, name, value) {
        ck_assert_msg(strcmp(name, "REDIS_URL") != 0 && strcmp(name, "API_TOKEN") != 0 &&
                          strncmp(name, "WORKER_", 7) != 0,
                      "serve: %s=%s reached the coprocess", name, json_string_value(value));
    }
    json_decref(job);
}
END_TEST

/* Runs bin/worker --id wb with --task for each of tasks, stderr to
 * log_path; 0 with its wait status once it exited, or -1 (then stopped)
 * when it still ran after REGISTER_MS. */
static int bad_worker_status(const char *const *tasks, const char *log_path, int *status)
{
    const char *argv[32] = {"sh", "-c", "exec \"$@\" 2>\"$TASKS_WORKER_LOG\"", "sh", harness_bin("worker"),
                            "--redis", S.redis.url, "--id", "wb"};
    int n = 9;
    for (const char *const *t = tasks; *t; t++) {
        argv[n++] = "--task";
        argv[n++] = *t;
    }
    argv[n] = NULL;
    char env_log[256];
    snprintf(env_log, sizeof env_log, "TASKS_WORKER_LOG=%s", log_path);
    const char *env[] = {"LOG_LEVEL=info", env_log, NULL};
    pid_t pid = harness_spawn(argv, env);
    ck_assert_int_gt(pid, 0);
    if (harness_wait_exit(pid, REGISTER_MS, status) != 0) {
        harness_stop(pid);
        return -1;
    }
    return 0;
}

/* A bad --task is a usage error: status 2 at start-up with the entry named,
 * also when a good plugin beside it makes the worker run supervised (no
 * restart loop). */
START_TEST(bad_task_exits_2_at_startup)
{
    up_bare();
    char plugin_ok[4200];
    snprintf(plugin_ok, sizeof plugin_ok, "ok=plugin:%s", harness_bin("tests/fixtures/testplugin.so"));
    const struct {
        const char *tasks[3];
        const char *name, *what; /* both on stderr */
    } cases[] = {
        {{"foo=exec:/nonexistent/cmd"}, "--task foo", "/nonexistent/cmd"},
        {{"bar=nosuchkind:x"}, "--task bar", "nosuchkind"},
        {{"burn=exec:/bin/true"}, "--task burn", "built-in"},
        {{"p=plugin:/nonexistent.so"}, "--task p", "/nonexistent.so"},
        {{plugin_ok, "foo=exec:/nonexistent/cmd"}, "--task foo", "/nonexistent/cmd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char log_path[128], text[4096] = "";
        snprintf(log_path, sizeof log_path, "%s/bad-%zu.log", S.redis.dir, i);
        int status = 0;
        ck_assert_msg(bad_worker_status(cases[i].tasks, log_path, &status) == 0,
                      "worker with --task %s%s%s still running after %d ms", cases[i].tasks[0],
                      cases[i].tasks[1] ? " --task " : "", cases[i].tasks[1] ? cases[i].tasks[1] : "", REGISTER_MS);
        FILE *f = fopen(log_path, "r");
        ck_assert_ptr_nonnull(f);
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2,
                      "worker with --task %s%s%s: wait status 0x%x, want exit 2; stderr: %s", cases[i].tasks[0],
                      cases[i].tasks[1] ? " --task " : "", cases[i].tasks[1] ? cases[i].tasks[1] : "", status, text);
        ck_assert_msg(strstr(text, cases[i].name) && strstr(text, cases[i].what),
                      "case %zu: stderr lacks \"%s\" or \"%s\": %s", i, cases[i].name, cases[i].what, text);
    }
    /* none of them got as far as registering */
    ck_assert(record_gone((void *)"wb"));
    ck_assert(record_gone((void *)"wb-0"));
}
END_TEST

/* One coprocess behind every name, as in the main worker. */
static const char *const tasks_ids[] = {"ok=" COPROC, "pid=" COPROC, "noid=" COPROC, "chatty=" COPROC, NULL};

START_TEST(serve_answer_without_id_is_garbage)
{
    up("wi", tasks_ids, NULL);
    pid_t p1 = coproc_pid();
    json_t *job = run_retry("noid", NULL, NULL, 2);
    assert_state(job, "dead");
    assert_attempts(job, 2);
    assert_error_has(job, "coprocess answered garbage");
    assert_error_has(job, "attempt 2 of 2");
    assert_history(job, 2, "crash", "coprocess answered garbage");
    ck_assert(list_has(PREFIX "dead:default", jstr(job, "id")));
    json_decref(job);
    pid_t p2 = coproc_pid();
    ck_assert_int_ne(p2, p1);
    assert_pid_gone(p1, "the coprocess that answered without an id");
    assert_coprocess_serves();
}
END_TEST

/* A line the coprocess prints after its answer (no id) is never the next
 * job's answer: that job ends done with its own result, at once or after a
 * retry on a restarted coprocess. */
START_TEST(serve_stray_line_never_answers_next_job)
{
    up("wi", tasks_ids, NULL);
    for (int i = 0; i < 3; i++) {
        json_t *args = json_pack("{s:i}", "chatty", i);
        json_t *job = run_retry("chatty", json_incref(args), NULL, 3);
        json_t *want = json_pack("{s:O}", "echo", args);
        assert_done_with(job, want);
        json_decref(want);
        json_decref(job);
        json_decref(args);
        args = json_pack("{s:i}", "ok", i);
        job = run_retry("ok", json_incref(args), NULL, 3);
        want = json_pack("{s:O}", "echo", args);
        assert_done_with(job, want);
        json_decref(want);
        json_decref(job);
        json_decref(args);
    }
}
END_TEST

/* A script with this body, executable. */
static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(body, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
}

/* Lines of the file holding needle. */
static int lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* README/handler.h: a run whose process cannot start never reached its
 * task: the job goes back without an attempt counted, and the worker pauses
 * (~1 s) before the next, so it neither dies of a broken host nor spins. */
START_TEST(exec_command_gone_requeues_without_attempt)
{
    up_bare();
    char script[128], spec[256], log_path[128];
    snprintf(script, sizeof script, "%s/gone.sh", S.redis.dir);
    snprintf(spec, sizeof spec, "x.gone=exec:'%s'", script);
    snprintf(log_path, sizeof log_path, "%s/worker.log", S.redis.dir);
    write_script(script, "#!/bin/sh\nexec cat\n");
    const char *const tasks[] = {spec, NULL};
    spawn_worker("wg", tasks, NULL, NULL, log_path);
    wait_record("wg");
    ck_assert_int_eq(unlink(script), 0);

    json_t *args = json_pack("{s:s}", "back", "again");
    char *id = submit(spec_new("x.gone", json_incref(args), NULL, 1, NULL));
    harness_sleep_ms(3000);
    json_t *job = stack_job(&S, id, 0);
    ck_assert_ptr_nonnull(job);
    const char *state = jstr(job, "state");
    json_int_t attempts = json_integer_value(json_object_get(job, "attempts"));
    ck_assert_msg(strcmp(state, "queued") == 0 || strcmp(state, "running") == 0,
                  "job %s: %s after 3 s with its command gone (attempts %lld, error: %s)", id, state,
                  (long long)attempts, jstr(job, "error"));
    ck_assert_msg(attempts <= 1, "job %s: %lld attempts counted for runs that never started", id,
                  (long long)attempts);
    assert_error_has(job, script);
    json_decref(job);
    /* each try is a "job run failed" line: some, but not a hot loop */
    int tries = lines_with(log_path, "end=requeue");
    ck_assert_msg(tries >= 1 && tries <= 10, "%d tries in about 3 s (a pause of ~1 s between them)", tries);

    write_script(script, "#!/bin/sh\nexec cat\n");
    job = await_job(id);
    assert_done_with(job, args);
    assert_attempts(job, 1);
    json_decref(job);
    json_decref(args);
    free(id);
}
END_TEST

/* SPEC splits like a shell: inside "…", \$ is a $ for the command (so sh
 * expands it), \\ a backslash. Each result is what the same line typed at
 * sh prints. */
START_TEST(spec_backslash_dollar_in_double_quotes)
{
    static const char *const tasks[] = {
        /* sh -c "printf %s \"\$OFFLOAD_QUEUE\"": sh gets printf %s "$OFFLOAD_QUEUE" */
        "x.dollar=exec:sh -c \"printf %s \\\"\\$OFFLOAD_QUEUE\\\"\"",
        /* sh -c "printf %s \"\\\$OFFLOAD_QUEUE\"": sh gets printf %s "\$OFFLOAD_QUEUE" */
        "x.escaped=exec:sh -c \"printf %s \\\"\\\\\\$OFFLOAD_QUEUE\\\"\"",
        /* sh -c "printf %s \$0" literal: sh gets printf %s $0, with $0 = literal */
        "x.arg0=exec:sh -c \"printf %s \\$0\" literal",
        NULL,
    };
    static const char *const queues[] = {"--queues", "default,tq", NULL};
    up("wd", tasks, queues);
    static const struct {
        const char *task, *want;
    } cases[] = {{"x.dollar", "tq"}, {"x.escaped", "$OFFLOAD_QUEUE"}, {"x.arg0", "literal"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *job = run_spec(spec_new(cases[i].task, NULL, NULL, 1, "tq"));
        json_t *want = json_string(cases[i].want);
        assert_done_with(job, want);
        json_decref(want);
        json_decref(job);
    }
}
END_TEST

/* ---- the examples ---- */

START_TEST(examples_run)
{
    char upper[4200], count[4200];
    const char *so = harness_bin("plugins/hello.so");
    snprintf(upper, sizeof upper, "upper=plugin:%s", so);
    snprintf(count, sizeof count, "count=plugin:%s", so);
    const char *const tasks[] = {
        "echo=serve:python3 examples/python/tasks.py",
        "hash_password=serve:python3 examples/python/tasks.py",
        "wordcount=exec:examples/shell/wordcount.sh",
        upper,
        count,
        NULL,
    };
    up("wx", tasks, NULL);
    json_t *args = json_pack("{s:[s,i]}", "a", "\xc3\xa9", 1);
    json_t *job = run("echo", json_incref(args), NULL, 0);
    assert_done_with(job, args);
    json_decref(job);
    json_decref(args);
    job = run("hash_password", json_pack("{s:s,s:s,s:i}", "password", "hunter2", "salt", "00ff", "iterations", 1000),
              NULL, 0);
    assert_state(job, "done");
    json_t *res = json_object_get(job, "result");
    ck_assert_str_eq(jstr(res, "algorithm"), "pbkdf2_sha256");
    ck_assert_str_eq(jstr(res, "salt"), "00ff");
    ck_assert_int_eq(json_integer_value(json_object_get(res, "iterations")), 1000);
    ck_assert_uint_eq(strlen(jstr(res, "hash")), 64);
    json_decref(job);
    /* the helper's TaskError is the job's error; one attempt, since a
     * task's error is retried now (before: "failed" after one run) */
    job = run("hash_password", json_pack("{s:i}", "password", 5), NULL, 1);
    assert_dead_with(job, "args.password: must be a string", 1, 1);
    json_decref(job);
    job = run("wordcount", json_pack("{s:s}", "text", "to be or not\nto be"), NULL, 0);
    json_t *want = json_pack("{s:i,s:i,s:i,s:s}", "words", 6, "lines", 1, "bytes", 18, "job", jstr(job, "id"));
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
    job = run("upper", json_string("h\xc3\xa9llo\n"), NULL, 0);
    want = json_string("H\xc3\xa9LLO\n");
    assert_done_with(job, want);
    json_decref(want);
    json_decref(job);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, exec_result_is_json_or_text);
    tcase_add_test(tc, exec_env_names_the_job);
    tcase_add_test(tc, exec_failure_and_signal);
    tcase_add_test(tc, exec_timeout_stops_process_group);
    tcase_add_test(tc, serve_result_and_error);
    tcase_add_test(tc, serve_exit_and_kill_retried_then_dead);
    tcase_add_test(tc, serve_garbage_retried_then_dead);
    tcase_add_test(tc, serve_timeout_restarts_coprocess);
    tcase_add_test(tc, plugin_result_and_error);
    tcase_add_test(tc, plugin_segv_recovered_then_dead);
    tcase_add_test(tc, plugin_timeout_cancels_run);
    tcase_add_test(tc, plugin_stuck_run_restarts_worker_process);
    tcase_add_test(tc, oversized_output_fails_every_kind);
    tcase_add_test(tc, large_unicode_args_round_trip_every_kind);
    tcase_add_test(tc, shell_metacharacters_in_args_never_run);
    tcase_add_test(tc, unknown_task_goes_dead_naming_worker);
    tcase_add_test(tc, unknown_task_reaches_worker_that_serves_it);
    tcase_add_test(tc, worker_record_lists_tasks);
    tcase_add_test(tc, failed_run_log_stays_logfmt);
    tcase_add_test(tc, no_zombies_after_exec_jobs);
    tcase_add_test(tc, fd_count_stable_over_many_jobs);
    tcase_add_test(tc, examples_run);
    tcase_add_test(tc, task_env_drops_worker_secrets);
    tcase_add_test(tc, bad_task_exits_2_at_startup);
    tcase_add_test(tc, serve_answer_without_id_is_garbage);
    tcase_add_test(tc, serve_stray_line_never_answers_next_job);
    tcase_add_test(tc, exec_command_gone_requeues_without_attempt);
    tcase_add_test(tc, spec_backslash_dollar_in_double_quotes);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
