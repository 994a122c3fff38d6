#include "tests/harness/stack.h"

#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>

static bool stack_ready(void *arg)
{
    struct stack *s = arg;
    struct http_resp r;
    bool ok = stack_http(s, "GET", "/readyz", NULL, NULL, 1000, &r) == 0 && r.code == 200;
    http_resp_free(&r);
    return ok;
}

pid_t stack_worker(struct stack *s, const char *const *extra)
{
    const char *argv[32] = {harness_bin("worker"), "--redis", s->redis.url, "--lease", "3s"};
    int n = 5;
    for (const char *const *a = extra; a && *a && n < 30; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    return harness_spawn(argv, NULL);
}

pid_t stack_api(struct stack *s, int port, const struct stack_opts *o)
{
    char listen[32], upstream[64];
    const char *argv[48];
    int n = 0;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(upstream, sizeof upstream, "http://127.0.0.1:%d/", s->up_port);
    argv[n++] = harness_bin("api");
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--redis";
    argv[n++] = s->redis.url;
    argv[n++] = "--upstream";
    argv[n++] = upstream;
    if (!o || !o->no_experiments)
        argv[n++] = "--experiments"; /* the seed's /cpu and /io routes */
    for (const char *const *a = o ? o->api_args : NULL; a && *a && n < 46; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, NULL);
    if (pid > 0 && harness_wait_port(port, 10000) != 0) {
        harness_stop(pid);
        pid = -1;
    }
    return pid;
}

int stack_start(struct stack *s, const struct stack_opts *o)
{
    memset(s, 0, sizeof *s);
    s->redis.persist = o->persist;
    if (harness_redis_start(&s->redis) != 0)
        return -1;
    s->api_port = harness_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->api_port);
    if (o->slowsvc_delay_ms > 0) {
        char up_listen[32], delay[16];
        s->up_port = harness_free_port();
        snprintf(up_listen, sizeof up_listen, "127.0.0.1:%d", s->up_port);
        snprintf(delay, sizeof delay, "%d", o->slowsvc_delay_ms);
        const char *sv[] = {harness_bin("slowsvc"), "--listen", up_listen, "--delay-ms", delay, NULL};
        s->slowsvc = harness_spawn(sv, NULL);
        if (s->slowsvc < 0 || harness_wait_port(s->up_port, 10000) != 0)
            return -1;
    } else {
        s->up_port = harness_free_port(); /* nothing listens: /io gets 502 */
    }
    s->api = stack_api(s, s->api_port, o);
    if (s->api < 0)
        return -1;
    for (int i = 0; i < o->workers && i < STACK_MAX_WORKERS; i++) {
        s->workers[i] = stack_worker(s, o->worker_args);
        if (s->workers[i] < 0)
            return -1;
        s->nworkers++;
    }
    return harness_wait_until(stack_ready, s, 10000, 50);
}

/* SIGTERM, then a clean exit 0 is required: the sanitizer and valgrind
 * builds report leaks and errors through the exit status. */
void stack_terminate(pid_t *pid, const char *what)
{
    int status = 0;
    if (*pid <= 0)
        return;
    harness_kill(*pid, SIGTERM);
    if (harness_wait_exit(*pid, 20000, &status) != 0) {
        harness_stop(*pid);
        *pid = 0;
        ck_abort_msg("%s did not exit within 20 s of SIGTERM", what);
    }
    *pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited with status 0x%x after SIGTERM", what,
                  status);
}

void stack_stop(struct stack *s)
{
    stack_terminate(&s->api, "api");
    for (int i = 0; i < s->nworkers; i++)
        stack_terminate(&s->workers[i], "worker");
    if (s->slowsvc > 0)
        harness_stop(s->slowsvc);
    harness_redis_stop(&s->redis);
}

int stack_http(struct stack *s, const char *method, const char *path, const char *body,
               const char *const *headers, long timeout_ms, struct http_resp *out)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    return http_do(method, url, body, body ? strlen(body) : 0, headers, timeout_ms, out);
}

json_t *stack_job(struct stack *s, const char *id, double wait_s)
{
    char path[128];
    struct http_resp r;
    json_t *j = NULL;
    if (wait_s > 0)
        snprintf(path, sizeof path, "/jobs/%s?wait=%g", id, wait_s);
    else
        snprintf(path, sizeof path, "/jobs/%s", id);
    if (stack_http(s, "GET", path, NULL, NULL, (long)(wait_s * 1000) + 5000, &r) == 0 && r.code == 200)
        j = http_resp_json(&r);
    http_resp_free(&r);
    return j;
}
