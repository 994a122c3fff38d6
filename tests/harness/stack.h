#ifndef OFFLOAD_TEST_STACK_H
#define OFFLOAD_TEST_STACK_H
/* A whole offload stack for integration tests: a private Redis, the real
 * api, N real workers and optionally slowsvc, on free ports. */
#include <stdbool.h>
#include <sys/types.h>

#include "tests/harness/harness.h"
#include "tests/harness/http.h"

#define STACK_MAX_WORKERS 8

struct stack {
    struct harness_redis redis;
    int api_port;
    pid_t api;
    int up_port;
    pid_t slowsvc;
    int nworkers;
    pid_t workers[STACK_MAX_WORKERS];
    char base[64]; /* "http://127.0.0.1:PORT" */
};

struct stack_opts {
    int workers;
    int slowsvc_delay_ms;       /* 0: no slowsvc */
    const char *const *api_args; /* extra api flags, NULL-terminated, or NULL */
    const char *const *worker_args;
    bool persist;
    bool no_experiments; /* api without --experiments: /cpu and /io answer 404 */
};

/* Starts everything and waits until /readyz answers 200 (10 s). 0 or -1. */
int stack_start(struct stack *s, const struct stack_opts *o);
/* Starts one more worker (index i) with the stack's Redis. */
pid_t stack_worker(struct stack *s, const char *const *extra_args);
/* Starts an api on 127.0.0.1:port with the stack's Redis and upstream and
 * o's api flags (o may be NULL: defaults), and waits until it accepts
 * connections (10 s). stack_start makes s->api with it; call it again for
 * a second api, or to start one again after stopping it. Returns its pid,
 * or -1. The caller stops the extra ones (stack_terminate). */
pid_t stack_api(struct stack *s, int port, const struct stack_opts *o);
/* SIGTERMs *pid and requires it to exit 0 within 20 s (the sanitizer
 * builds report leaks through the exit status); *pid becomes 0. A no-op
 * when *pid <= 0. */
void stack_terminate(pid_t *pid, const char *what);
void stack_stop(struct stack *s);
/* HTTP to the api: path like "/jobs". */
int stack_http(struct stack *s, const char *method, const char *path, const char *body,
               const char *const *headers, long timeout_ms, struct http_resp *out);
/* GET the job; returns its JSON (new ref) or NULL. */
json_t *stack_job(struct stack *s, const char *id, double wait_s);

#endif
