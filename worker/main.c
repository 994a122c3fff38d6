/* bin/worker: flags and wiring. The work is in worker.c, the rest of worker/. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/defaults.h"
#include "common/job.h"
#include "common/log.h"
#include "common/supervise.h"
#include "common/url.h"
#include "worker/handler.h"
#include "worker/worker.h"

#define PROCS_MAX 1024

/* SIGTERM/SIGINT count: 1 = finish the job and stop, 2 = put it back and stop. */
static volatile sig_atomic_t stop_requests;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_requests < 1000)
        stop_requests++;
}

static int signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    /* A write to a socket Redis closed must fail with EPIPE, not kill us. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "worker: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    static struct worker_config cfg;
    const char *redis = "redis://127.0.0.1:6379", *queues = "default", *clock = "cpu";
    const char *prefix = "offload:", *id = NULL;
    long procs = 1, task_nice = 0, prefetch = WORKER_PREFETCH_DEFAULT;
    cfg.prefetch_hold_ms = WORKER_PREFETCH_HOLD_MS;
    cfg.lease_ms = DEFAULTS_LEASE_MS;
    cfg.heartbeat_ms = 1000;
    cfg.redis_timeout_ms = 2000;
    cfg.task_timeout_ms = 60000;
    cfg.kill_grace_ms = 2000;
    long max_result = 1 << 20;
    int64_t ttl_ms = 3600 * 1000;
    const struct opt opts[] = {
        {"redis", 0, "REDIS_URL", OPT_STR, &redis, 0, 0,
         "Redis: redis://[:password@]host[:port][/db], unix:///path, or "
         "redis+sentinel://[:password@]host:port[,host:port...]/MASTER[/db] (redis://127.0.0.1:6379)"},
        {"queues", 0, "WORKER_QUEUES", OPT_STR, &queues, 0, 0,
         "queues to serve, comma-separated, highest priority first (default)"},
        {"procs", 0, "WORKER_PROCS", OPT_INT, &procs, 1, PROCS_MAX,
         "worker processes; above 1 a supervisor forks and restarts them (1)"},
        {"lease", 0, "WORKER_LEASE", OPT_DURATION, &cfg.lease_ms, 100, 24 * 3600 * 1000.0,
         "a worker silent this long is dead and its jobs go back (" DEFAULTS_LEASE_TEXT ")"},
        {"heartbeat", 0, "WORKER_HEARTBEAT", OPT_DURATION, &cfg.heartbeat_ms, 10, 3600 * 1000.0,
         "heartbeat period (1s)"},
        {"redis-timeout", 0, "WORKER_REDIS_TIMEOUT", OPT_DURATION, &cfg.redis_timeout_ms, 100, 600 * 1000.0,
         "a Redis connect or command unanswered this long drops the connection, which is made again "
         "with backoff; a fetch's BLMOVE gets its 1 s block on top (2s)"},
        {"task-clock", 0, "TASK_CLOCK", OPT_STR, &clock, 0, 0,
         "cpu: a task costs its ms of CPU; wall: of wall time, like the seed (cpu)"},
        {"task-nice", 0, "WORKER_TASK_NICE", OPT_INT, &task_nice, 0, 19,
         "niceness of the task threads; 10 makes the CPU work yield to an API, Redis and this worker's "
         "heartbeat on the same machine (0: equal rank)"},
        {"task", 0, "WORKER_TASKS", OPT_LIST, &cfg.tasks, 0, 0,
         "NAME=KIND:SPEC, repeatable: exec:CMD ARG... (a process per job), serve:CMD ARG... "
         "(a JSON-lines coprocess), plugin:FILE.so (C, in process), burn (built in, always there); "
         "the variable holds one per line"},
        {"task-timeout", 0, "WORKER_TASK_TIMEOUT", OPT_DURATION, &cfg.task_timeout_ms, 10, 24 * 3600 * 1000.0,
         "a run's limit when its job names no timeout; past it the run is stopped and fails (60s)"},
        {"kill-grace", 0, "WORKER_KILL_GRACE", OPT_DURATION, &cfg.kill_grace_ms, 0, 3600 * 1000.0,
         "a stopped task process gets SIGTERM, then SIGKILL after this (2s)"},
        {"max-result", 0, "WORKER_MAX_RESULT", OPT_INT, &max_result, 1, 512 * 1024 * 1024.0,
         "bytes of output a run may produce; more fails the run (1048576)"},
        {"allow-eviction", 0, "WORKER_ALLOW_EVICTION", OPT_BOOL, &cfg.allow_eviction, 0, 0,
         "work with a Redis whose maxmemory-policy may evict keys (off: such a Redis is refused, "
         "since accepted jobs could vanish)"},
        {"result-ttl", 0, "RESULT_TTL", OPT_DURATION, &ttl_ms, 1000, 365 * 24 * 3600 * 1000.0,
         "how long finished jobs stay readable (3600s)"},
        {"prefetch", 0, "WORKER_PREFETCH", OPT_INT, &prefetch, 1, WORKER_PREFETCH_MAX,
         "jobs taken in one round trip and held while short ones run; results go out as each "
         "ends, their replies read once per batch (1: one job per round trip) (16)"},
        {"prefetch-hold", 0, "WORKER_PREFETCH_HOLD", OPT_DURATION, &cfg.prefetch_hold_ms, 1, 3600 * 1000.0,
         "a job running this long hands the jobs held behind it back to their queues, and the "
         "next take is of one job until runs are short again (50ms)"},
        {"prefix", 0, "REDIS_PREFIX", OPT_STR, &prefix, 0, 0, "Redis key prefix (offload:)"},
        {"id", 0, "WORKER_ID", OPT_STR, &id, 0, 0,
         "worker id (hostname-pid-random; with --procs, <id>-<slot>)"},
    };
    const struct config_spec spec = {
        "worker", "worker [flags]",
        "Runs jobs from Redis queues through their tasks' handlers: reliable fetch, heartbeat, "
        "recovery of dead workers.",
        opts, sizeof opts / sizeof opts[0], false,
    };
    char err[URL_PATH_MAX + 256];
    int first;
    log_init("worker");
    switch (config_parse(&spec, argc, argv, &first, err, sizeof err)) {
    case CONFIG_EXIT:
        return 0;
    case CONFIG_ERROR:
        return usage_error(err);
    case CONFIG_OK:
        break;
    }
    char uerr[256];
    if (redis_url_parse(redis, &cfg.redis, uerr, sizeof uerr) != 0) {
        snprintf(err, sizeof err, "--redis: %s", uerr);
        return usage_error(err);
    }
    cfg.task_nice = (int)task_nice;
    cfg.max_result = (size_t)max_result;
    cfg.prefetch = (int)prefetch;
    if (task_clock_parse(clock, &cfg.clock) != 0)
        return usage_error("--task-clock: must be cpu or wall");
    if (!job_prefix_valid(prefix)) {
        snprintf(err, sizeof err, "--prefix: must be 1..%d characters without spaces", JOB_PREFIX_MAX);
        return usage_error(err);
    }
    snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
    if (worker_queues_parse(&cfg, queues, err, sizeof err) != 0)
        return usage_error(err);
    if (cfg.lease_ms <= cfg.heartbeat_ms)
        return usage_error("--lease: must be longer than --heartbeat");
    /* Leave room for the "-<slot>" suffix of supervised children. */
    if (id && (!worker_id_valid(id) || strlen(id) > WORKER_ID_MAX - 5))
        return usage_error("--id: must be 1..59 characters of [A-Za-z0-9_.:-]");
    cfg.result_ttl_s = ttl_ms / 1000;
    if (signals_install() != 0) {
        log_error("cannot install signal handlers", NULL);
        return 1;
    }
    /* Every --task is checked here, before any fork (a bad one exits 2, not
     * in a restart loop). A plugin that crashes takes its process down: run
     * supervised, so one comes back (and the job is recovered as after kill -9). */
    struct handlers *check = handlers_new(&cfg, &stop_requests, false, err, sizeof err);
    if (!check)
        return usage_error(err);
    bool plugins = handlers_have_plugin(check);
    handlers_free(check);
    if (procs > 1 || plugins) {
        int slot = 0;
        switch (supervise_run((int)procs, "worker", &stop_requests, &slot)) {
        case SUPERVISE_CHILD:
            break;
        case SUPERVISE_CLEAN:
        case SUPERVISE_UNCLEAN: /* how the children ended is in the log */
            return 0;
        case SUPERVISE_FAILED:
            return 1;
        }
        if (id)
            snprintf(cfg.id, sizeof cfg.id, "%s-%d", id, slot);
        else if (worker_id_default(cfg.id, sizeof cfg.id) != 0)
            return 1;
    } else if (id) {
        snprintf(cfg.id, sizeof cfg.id, "%s", id);
    } else if (worker_id_default(cfg.id, sizeof cfg.id) != 0) {
        log_error("cannot make a worker id (no random source)", NULL);
        return 1;
    }
    int status = worker_run(&cfg, &stop_requests);
    if (status & WORKER_EXIT_NOW) {
        fflush(NULL);
        _exit(status & ~WORKER_EXIT_NOW); /* a task thread still runs: no destructors under it */
    }
    return status;
}
