/* bin/api: flags, the listening socket, and with --procs N a supervisor of
 * N server processes that share the port (SO_REUSEPORT). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/server.h"
#include "common/config.h"
#include "common/job.h"
#include "common/log.h"
#include "common/supervise.h"
#include "common/sys.h"
#include "common/task.h"
#include "common/url.h"

/* SIGTERM/SIGINT count of the supervisor (--procs above 1); a single server
 * process takes the signals over in server_run. */
static volatile sig_atomic_t stop_requests;

static void on_stop(int sig)
{
    (void)sig;
    if (stop_requests < 1000)
        stop_requests++;
}

#define TOKEN_MAX 1024

/* Reads the token from the first line of `path` into buf (trailing CR/LF and
 * spaces cut). Returns 0, or -1 with the reason in err. */
static int token_read(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fgets(buf, (int)len, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    n = strcspn(buf, "\r\n");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if (n == 0 || n >= len - 1) {
        snprintf(err, errlen, "%s: %s", path, n == 0 ? "empty first line" : "token longer than 1022 bytes");
        return -1;
    }
    return 0;
}

/* In a supervised child: serves on a socket of its own, sharing host:port
 * with its siblings (SO_REUSEPORT). Returns the child's exit status. */
static int api_child(const struct api_config *cfg, const char *host, int port)
{
    char err[256];
    int fd;
    /* server_run takes SIGTERM/SIGINT over; until then they end the child */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (stop_requests) /* counted during the fork: the supervisor is stopping or gone */
        return 0;
    fd = server_socket(host, port, 1, err, sizeof err);
    if (fd < 0) {
        log_error("listen failed", "error=\"%s\"", err);
        return 1;
    }
    return server_run(cfg, fd) == 0 ? 0 : 1;
}

/* --procs N: keeps cfg->procs servers on host:port until SIGTERM/SIGINT
 * (common/supervise.h); `reserved` holds the port meanwhile and is closed
 * here, in the parent and in each child. Returns the exit status of the
 * process it returns in: the parent's is 1 when a server did not stop cleanly. */
static int api_supervise(const struct api_config *cfg, const char *host, int port, int reserved)
{
    struct sigaction sa = {.sa_handler = on_stop};
    enum supervise_result result = SUPERVISE_FAILED;
    int slot;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) == 0 && sigaction(SIGINT, &sa, NULL) == 0)
        result = supervise_run((int)cfg->procs, "api", &stop_requests, &slot);
    else
        log_error("cannot install signal handlers", NULL);
    close(reserved);
    if (result == SUPERVISE_CHILD)
        return api_child(cfg, host, port);
    return result == SUPERVISE_CLEAN ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct api_config cfg = {
        .listen = "127.0.0.1:8080",
        .redis = "redis://127.0.0.1:6379",
        .upstream = "http://127.0.0.1:8081/",
        .upstream_timeout_ms = 5000,
        .threads = 0,
        .task_clock = "cpu",
        .max_queue = 100000,
        .max_inflight = 10000,
        .max_body = 1024 * 1024,
        .result_ttl_ms = 3600 * 1000,
        .prefix = "offload:",
        .procs = 1,
        .auth_token = "",
        .grace_ms = 30000,
        .header_timeout_ms = 30000,
        .idle_timeout_ms = 60000,
        .redis_timeout_ms = 2000,
        .max_conns = 0,
        .max_queues = 1000,
        .max_body_total = 64L * 1024 * 1024,
        .max_output = 64L * 1024 * 1024,
        .idempotency_ttl_ms = 24 * 3600 * 1000LL,
        .backoff_base_ms = 1000,
        .backoff_max_ms = 3600 * 1000,
    };
    const char *token_file = "";
    const struct opt opts[] = {
        {"listen", 0, "API_LISTEN", OPT_STR, &cfg.listen, 0, 0, "address to listen on (127.0.0.1:8080)"},
        {"redis", 0, "REDIS_URL", OPT_STR, &cfg.redis, 0, 0,
         "redis://[:password@]host[:port][/db], unix:///path, or "
         "redis+sentinel://[:password@]host:port[,host:port...]/MASTER[/db] (redis://127.0.0.1:6379)"},
        {"upstream", 0, "UPSTREAM_URL", OPT_STR, &cfg.upstream, 0, 0, "upstream for /io (http://127.0.0.1:8081/)"},
        {"upstream-timeout", 0, "UPSTREAM_TIMEOUT", OPT_DURATION, &cfg.upstream_timeout_ms, 1, 3600000, "upstream timeout, 504 after it (5s)"},
        {"threads", 0, "API_THREADS", OPT_INT, &cfg.threads, 1, 1024, "thread pool size for /cpu and /io mode=thread (5 x cores)"},
        {"task-clock", 0, "TASK_CLOCK", OPT_STR, &cfg.task_clock, 0, 0, "cpu | wall: what a task's ms measure (cpu)"},
        {"max-queue", 0, "API_MAX_QUEUE", OPT_INT, &cfg.max_queue, 1, 1e9, "429 when a queue holds more jobs (100000)"},
        {"max-inflight", 0, "API_MAX_INFLIGHT", OPT_INT, &cfg.max_inflight, 1, 1e7, "503 when more requests are in flight (10000)"},
        {"max-body", 0, "API_MAX_BODY", OPT_INT, &cfg.max_body, 1, 1 << 30, "413 over this many body bytes (1048576)"},
        {"result-ttl", 0, "RESULT_TTL", OPT_DURATION, &cfg.result_ttl_ms, 1000, 1e12, "how long finished jobs are kept (3600s)"},
        {"prefix", 0, "REDIS_PREFIX", OPT_STR, &cfg.prefix, 0, 0, "Redis key prefix (offload:)"},
        {"procs", 0, "API_PROCS", OPT_INT, &cfg.procs, 1, 256, "server processes sharing the port (1)"},
        {"auth-token", 0, "API_TOKEN", OPT_STR, &cfg.auth_token, 0, 0,
         "require Authorization: Bearer <token> (off); prefer API_TOKEN or --auth-token-file, which ps does not show"},
        {"auth-token-file", 0, "API_TOKEN_FILE", OPT_STR, &token_file, 0, 0,
         "read the token from this file's first line (wins over --auth-token)"},
        {"metrics-public", 0, "API_METRICS_PUBLIC", OPT_BOOL, &cfg.metrics_public, 0, 0,
         "/metrics answers without the token when --auth-token is set (off: it needs the token too)"},
        {"experiments", 0, "API_EXPERIMENTS", OPT_BOOL, &cfg.experiments, 0, 0,
         "serve the /cpu and /io experiment routes (off: they answer 404; the demo turns them on)"},
        {"redis-timeout", 0, "API_REDIS_TIMEOUT", OPT_DURATION, &cfg.redis_timeout_ms, 100, 600000,
         "a Redis command unanswered this long fails its request with 503 and the connection is re-made (2s)"},
        {"redis-wait", 0, "API_REDIS_WAIT", OPT_INT, &cfg.redis_wait, 0, 16,
         "answer an enqueue only once this many replicas have it (Redis WAIT, at most half of --redis-timeout), "
         "else 503 \"outcome\":\"unconfirmed\" (0: once the master has it; replication is asynchronous)"},
        {"max-conns", 0, "API_MAX_CONNS", OPT_INT, &cfg.max_conns, 0, 1e7,
         "client connections at once, more wait in the backlog (0: the descriptor limit less 10% for Redis and upstreams)"},
        {"max-queues", 0, "API_MAX_QUEUES", OPT_INT, &cfg.max_queues, 1, 1e6,
         "distinct queue names; a job for a new queue past it gets 429 (1000); empty queues are forgotten"},
        {"max-body-total", 0, "API_MAX_BODY_TOTAL", OPT_INT, &cfg.max_body_total, 1024, 1L << 40,
         "bytes held for all unfinished requests together; the request that would pass it gets 503 (67108864)"},
        {"max-output", 0, "API_MAX_OUTPUT", OPT_INT, &cfg.max_output, 1024, 1L << 40,
         "bytes of answers waiting for clients that do not read; past it new answers over 8 KiB get 503 (67108864)"},
        {"allow-eviction", 0, "API_ALLOW_EVICTION", OPT_BOOL, &cfg.allow_eviction, 0, 0,
         "use a Redis whose maxmemory-policy may evict keys (off: /readyz and every Redis route answer 503 "
         "with the reason, since accepted jobs could vanish)"},
        {"idempotency-ttl", 0, "API_IDEMPOTENCY_TTL", OPT_DURATION, &cfg.idempotency_ttl_ms, 1000, 366 * 86400000LL,
         "a POST /jobs repeated with the same Idempotency-Key within this answers with the first job (24h)"},
        {"backoff-base", 0, "API_BACKOFF_BASE", OPT_DURATION, &cfg.backoff_base_ms, 1, 86400000,
         "a failed attempt's retry waits this, doubled per attempt, with jitter; a job's backoff.base wins (1s)"},
        {"backoff-max", 0, "API_BACKOFF_MAX", OPT_DURATION, &cfg.backoff_max_ms, 1, 30 * 86400000LL,
         "the longest wait before a retry; a job's backoff.max wins (1h)"},
        {"grace", 0, "API_GRACE", OPT_DURATION, &cfg.grace_ms, 0, 3600000, "on SIGTERM, time to finish requests in flight (30s)"},
        {"header-timeout", 0, "API_HEADER_TIMEOUT", OPT_DURATION, &cfg.header_timeout_ms, 100, 3600000, "a connection must send a whole request within this (30s)"},
        {"idle-timeout", 0, "API_IDLE_TIMEOUT", OPT_DURATION, &cfg.idle_timeout_ms, 1000, 3600000, "close a connection idle this long (60s)"},
    };
    const struct config_spec spec = {
        .prog = "api",
        .usage = "api [flags]",
        .about = "offload's HTTP front end: enqueues jobs in Redis, proxies IO without blocking.",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    char err[512], host[URL_HOST_MAX];
    static char token[TOKEN_MAX];
    int first, port, fd;
    enum task_clock clock;
    struct redis_url ru;
    struct http_url hu;

    log_init("api");
    switch (config_parse(&spec, argc, argv, &first, err, sizeof err)) {
    case CONFIG_EXIT:
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "api: %s\n", err);
        return 2;
    case CONFIG_OK:
        break;
    }
    if (token_file[0]) {
        if (token_read(token_file, token, sizeof token, err, sizeof err) != 0) {
            fprintf(stderr, "api: --auth-token-file: %s\n", err);
            return 2;
        }
        cfg.auth_token = token;
    }
    if (cfg.threads == 0)
        cfg.threads = 5 * sysconf(_SC_NPROCESSORS_ONLN);
    if (task_clock_parse(cfg.task_clock, &clock) != 0) {
        fprintf(stderr, "api: --task-clock: must be cpu or wall\n");
        return 2;
    }
    if (redis_url_parse(cfg.redis, &ru, err, sizeof err) != 0) {
        fprintf(stderr, "api: --redis: %s\n", err);
        return 2;
    }
    if (http_url_parse(cfg.upstream, &hu, err, sizeof err) != 0) {
        fprintf(stderr, "api: --upstream: %s\n", err);
        return 2;
    }
    if (addr_parse(cfg.listen, host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, "api: --listen: %s\n", err);
        return 2;
    }
    if (cfg.backoff_max_ms < cfg.backoff_base_ms) {
        fprintf(stderr, "api: --backoff-max: must be at least --backoff-base\n");
        return 2;
    }
    if (!job_prefix_valid(cfg.prefix)) {
        fprintf(stderr, "api: --prefix: must be 1..%d characters without spaces\n", JOB_PREFIX_MAX);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sys_raise_nofile();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "api: libcurl initialisation failed\n");
        return 1;
    }
    if (cfg.procs > 1) {
        /* bound but not listening: reserves the port (port 0 → a real one)
         * without taking a share of the connections */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int ret;
        fd = server_socket(host, port, 0, err, sizeof err);
        if (fd < 0) {
            fprintf(stderr, "api: --listen: %s\n", err);
            return 1;
        }
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        log_info("port reserved", "port=%d procs=%ld", port, cfg.procs);
        ret = api_supervise(&cfg, host, port, fd);
        curl_global_cleanup();
        return ret;
    }
    fd = server_socket(host, port, 1, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "api: --listen: %s\n", err);
        return 1;
    }
    {
        int ret = server_run(&cfg, fd) == 0 ? 0 : 1;
        curl_global_cleanup();
        return ret;
    }
}
