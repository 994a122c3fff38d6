#include "tests/harness/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_READY_TIMEOUT_MS 10000 /* a cold redis-server starts in well under a second */
#define STOP_TIMEOUT_MS 5000         /* SIGKILL is never ignored; this only bounds a stuck reap */
#define REDIS_SHUTDOWN_TIMEOUT_MS 10000 /* SIGTERM: Redis finishes its AOF write and exits */
#define BIN_NAMES_MAX 32             /* distinct harness_bin names per test program */

static pid_t children[HARNESS_MAX_CHILDREN];
static size_t nchildren;
static bool atexit_registered;
/* Set by harness_run_suite: every Redis directory of the run goes below it,
 * so the runner removes them all, even those of a test that Check ended with
 * _exit (a failed assertion skips teardown and atexit alike). */
#define RUN_DIR_ENV "HARNESS_RUN_DIR"

static int register_atexit(void)
{
    if (!atexit_registered) {
        if (atexit(harness_kill_all) != 0)
            return -1;
        atexit_registered = true;
    }
    return 0;
}

static void registry_add(pid_t pid)
{
    for (size_t i = 0; i < nchildren; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
    if (nchildren < HARNESS_MAX_CHILDREN)
        children[nchildren++] = pid;
    else
        fprintf(stderr, "harness: more than %d children; pid %d not tracked\n",
                HARNESS_MAX_CHILDREN, (int)pid);
}

static void registry_remove(pid_t pid)
{
    for (size_t i = 0; i < nchildren; i++)
        if (children[i] == pid)
            children[i] = 0;
}

int64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int harness_wait_port(int port, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    do {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return 0;
        harness_sleep_ms(10);
    } while (harness_now_ms() < deadline);
    return -1;
}

int harness_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms, int interval_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    if (interval_ms <= 0)
        interval_ms = 10;
    for (;;) {
        if (pred(arg))
            return 0;
        if (harness_now_ms() >= deadline)
            return -1;
        harness_sleep_ms(interval_ms);
    }
}

const char *harness_bin(const char *name)
{
    static char *names[BIN_NAMES_MAX];
    static size_t nnames;
    const char *dir = getenv("OFFLOAD_BIN");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "bin", name);
    for (size_t i = 0; i < nnames; i++)
        if (strcmp(names[i], path) == 0)
            return names[i];
    if (nnames == BIN_NAMES_MAX)
        return NULL;
    char *s = strdup(path);
    if (!s)
        return NULL;
    names[nnames++] = s;
    return s;
}

/* Builds a malloc'd envp: environ without the names env_extra overrides, then
 * env_extra. The strings are borrowed; free only the array. */
static char **env_build(const char *const env_extra[])
{
    extern char **environ;
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (env_extra && env_extra[k])
        k++;
    char **envp = calloc(n + k + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nlen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < k && !overridden; j++)
            overridden = strncmp(env_extra[j], environ[i], nlen) == 0 && env_extra[j][nlen] == '=';
        if (!overridden)
            envp[out++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        envp[out++] = (char *)env_extra[j]; /* execve's type; never written */
    envp[out] = NULL;
    return envp;
}

/* OFFLOAD_WRAP="valgrind --error-exitcode=99 ..." runs the project's own
 * binaries under that command (OFFLOAD_WRAP_ONLY=api limits it to one);
 * anything else execs as is. Only returns when exec failed. */
static void exec_wrapped(const char *const argv[], char **envp)
{
    const char *wrap = getenv("OFFLOAD_WRAP");
    const char *only = getenv("OFFLOAD_WRAP_ONLY");
    const char *bin = getenv("OFFLOAD_BIN");
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (wrap && *wrap && bin && strncmp(argv[0], bin, strlen(bin)) == 0 && (!only || strcmp(only, base) == 0)) {
        char *copy = strdup(wrap);
        const char *av[128];
        int n = 0;
        for (char *tok = copy ? strtok(copy, " ") : NULL; tok && n < 64; tok = strtok(NULL, " "))
            av[n++] = tok;
        for (int i = 0; argv[i] && n < 127; i++)
            av[n++] = argv[i];
        av[n] = NULL;
        if (n > 0)
            execvpe(av[0], (char *const *)av, envp);
    }
    execvpe(argv[0], (char *const *)argv, envp);
}

pid_t harness_spawn(const char *const argv[], const char *const env_extra[])
{
    if (register_atexit() != 0)
        return -1;
    char **envp = env_build(env_extra);
    if (!envp)
        return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Child: die with the test, however the test dies. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        exec_wrapped(argv, envp);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(envp);
    if (pid < 0)
        return -1;
    registry_add(pid);
    return pid;
}

int harness_kill(pid_t pid, int sig)
{
    if (pid <= 0)
        return -1;
    return kill(pid, sig);
}

int harness_wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r == -1 && errno == ECHILD)) {
            registry_remove(pid);
            if (status)
                *status = r == pid ? st : 0;
            return 0;
        }
        if (harness_now_ms() >= deadline)
            return -1;
        harness_sleep_ms(5);
    }
}

void harness_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    harness_wait_exit(pid, STOP_TIMEOUT_MS, NULL);
}

void harness_kill_all(void)
{
    for (size_t i = 0; i < nchildren; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    for (size_t i = 0; i < nchildren; i++)
        if (children[i] > 0)
            harness_wait_exit(children[i], STOP_TIMEOUT_MS, NULL);
}

redisContext *harness_redis_connect(const struct harness_redis *r)
{
    struct timeval connect_tv = {2, 0}, cmd_tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, connect_tv);
    if (!c)
        return NULL;
    if (c->err || redisSetTimeout(c, cmd_tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static bool redis_answers(void *arg)
{
    redisContext *c = harness_redis_connect(arg);
    if (!c)
        return false;
    redisReply *reply = redisCommand(c, "PING");
    bool ok = reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

int harness_redis_resume(struct harness_redis *r)
{
    char port[16], logfile[sizeof r->dir + 16];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(logfile, sizeof logfile, "%s/redis.log", r->dir);
    const char *argv[] = {
        "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r->dir,
        "--save", "", "--appendonly", r->persist ? "yes" : "no",
        "--appendfsync", "always", "--loglevel", "warning", "--logfile", logfile, NULL,
    };
    r->pid = harness_spawn(argv, NULL);
    if (r->pid < 0) {
        r->pid = 0;
        return -1;
    }
    if (harness_wait_until(redis_answers, r, REDIS_READY_TIMEOUT_MS, 20) != 0) {
        harness_stop(r->pid);
        r->pid = 0;
        return -1;
    }
    return 0;
}

int harness_tmpdir(char *dir, size_t len, const char *name)
{
    const char *base = getenv(RUN_DIR_ENV);
    int n = snprintf(dir, len, "%s/%s-XXXXXX", base && *base ? base : "/tmp", name);
    if (n < 0 || (size_t)n >= len || !mkdtemp(dir)) {
        dir[0] = '\0';
        return -1;
    }
    return 0;
}

int harness_redis_start(struct harness_redis *r)
{
    if (harness_tmpdir(r->dir, sizeof r->dir, "redis") != 0)
        return -1;
    if (r->port == 0)
        r->port = harness_free_port();
    if (r->port <= 0)
        goto err;
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    if (harness_redis_resume(r) != 0)
        goto err;
    return 0;
err:
    harness_redis_stop(r);
    return -1;
}

void harness_redis_kill(struct harness_redis *r)
{
    if (r->pid > 0)
        harness_stop(r->pid);
    r->pid = 0;
}

int harness_redis_shutdown(struct harness_redis *r)
{
    int status = 0;
    if (r->pid <= 0 || kill(r->pid, SIGTERM) != 0)
        return -1;
    if (harness_wait_exit(r->pid, REDIS_SHUTDOWN_TIMEOUT_MS, &status) != 0) {
        harness_redis_kill(r);
        return -1;
    }
    r->pid = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int harness_redis_restart(struct harness_redis *r)
{
    harness_redis_kill(r);
    return harness_redis_resume(r);
}

void harness_dir_remove(char *dir)
{
    char cmd[128];
    if (!dir[0])
        return;
    /* mkdtemp names under /tmp (or our run directory) hold no shell metacharacters. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: failed: %s\n", cmd);
    dir[0] = '\0';
}

void harness_redis_stop(struct harness_redis *r)
{
    harness_redis_kill(r);
    harness_dir_remove(r->dir);
}

int harness_run_suite(Suite *s)
{
    char run_dir[] = "/tmp/offload-test-XXXXXX";
    bool have_dir = mkdtemp(run_dir) != NULL && setenv(RUN_DIR_ENV, run_dir, 1) == 0;
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (have_dir)
        harness_dir_remove(run_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
