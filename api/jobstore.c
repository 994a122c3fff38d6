#include "api/jobstore.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rconn.h"
#include "common/scripts.h"

json_t *jobstore_json(const redisReply *reply)
{
    const char **f = NULL, **v = NULL;
    size_t *fl = NULL, *vl = NULL, n;
    json_t *job = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return NULL;
    n = reply->elements / 2;
    f = malloc(n * sizeof *f);
    v = malloc(n * sizeof *v);
    fl = malloc(n * sizeof *fl);
    vl = malloc(n * sizeof *vl);
    if (!f || !v || !fl || !vl)
        goto err;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = reply->element[2 * i], *val = reply->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            goto err;
        f[i] = k->str;
        fl[i] = k->len;
        v[i] = val->str;
        vl[i] = val->len;
    }
    job = job_to_json(f, fl, v, vl, n);
err:
    free(f);
    free(v);
    free(fl);
    free(vl);
    return job;
}

bool jobstore_terminal(const json_t *job)
{
    enum job_state st;
    const json_t *s = json_object_get(job, "state");
    return json_is_string(s) && job_state_parse(json_string_value(s), &st) == 0 && job_state_terminal(st);
}

/* What makes two submits the same request for an idempotency key: FNV-1a
 * (64 bits, hex) over every field of the spec but the key. */
static void jobstore_fingerprint(const struct job_spec *sp, char out[17])
{
    uint64_t h = 14695981039346656037ull;
    char nums[160];
    int n = snprintf(nums, sizeof nums, "%d|%d|%lld|%lld|%lld|%lld|%lld", sp->ms, sp->max_attempts,
                     (long long)sp->timeout_ms, (long long)sp->delay_ms, (long long)sp->run_at_us,
                     (long long)sp->backoff_base_ms, (long long)sp->backoff_max_ms);
    const struct {
        const char *p;
        size_t len;
    } parts[] = {{sp->queue, strlen(sp->queue) + 1}, {sp->task, strlen(sp->task) + 1},
                 {sp->args, sp->args_len + 1},       {sp->payload, sp->payload_len + 1},
                 {nums, (size_t)(n > 0 ? n : 0)}}; /* + 1: each part's NUL separates it from the next */
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (size_t k = 0; k < parts[i].len; k++)
            h = (h ^ (unsigned char)parts[i].p[k]) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Scratch space for one job's numbers in ENQUEUE's argv (alive until the
 * command is sent). */
struct jobstore_nums {
    char ms[24], attempts[24], timeout[24], run_at[24], delay[24], base[24], max[24], fp[17];
};

/* The SCRIPT_ENQUEUE_STRIDE values of job i (a, with lengths l). */
static void jobstore_enqueue_args(const struct jobstore_enqueue *e, size_t i, const char **a, size_t *l,
                                  struct jobstore_nums *nm)
{
    const struct job_spec *sp = &e->specs[i];
    if (strcmp(sp->task, JOB_TASK_DEFAULT) == 0)
        snprintf(nm->ms, sizeof nm->ms, "%d", sp->ms);
    snprintf(nm->attempts, sizeof nm->attempts, "%d", sp->max_attempts);
    if (sp->timeout_ms > 0)
        snprintf(nm->timeout, sizeof nm->timeout, "%lld", (long long)sp->timeout_ms);
    if (sp->run_at_us > 0)
        snprintf(nm->run_at, sizeof nm->run_at, "%lld", (long long)sp->run_at_us);
    else if (sp->delay_ms >= 0)
        snprintf(nm->delay, sizeof nm->delay, "%lld", (long long)sp->delay_ms * 1000);
    snprintf(nm->base, sizeof nm->base, "%lld",
             (long long)(sp->backoff_base_ms > 0 ? sp->backoff_base_ms : e->backoff_base_ms));
    int64_t base = sp->backoff_base_ms > 0 ? sp->backoff_base_ms : e->backoff_base_ms;
    int64_t max = sp->backoff_max_ms > 0 ? sp->backoff_max_ms : e->backoff_max_ms;
    snprintf(nm->max, sizeof nm->max, "%lld", (long long)(max < base ? base : max)); /* a base past the default max */
    if (sp->key[0])
        jobstore_fingerprint(sp, nm->fp);
    const char *v[SCRIPT_ENQUEUE_STRIDE] = {e->ids[i], sp->queue,    nm->ms,    sp->payload, nm->attempts,
                                            e->notify, sp->task,     sp->args,  nm->timeout, nm->run_at,
                                            nm->delay, nm->base,     nm->max,   sp->key,     nm->fp};
    for (int k = 0; k < SCRIPT_ENQUEUE_STRIDE; k++) {
        a[k] = v[k];
        l[k] = strlen(v[k]);
    }
    l[3] = sp->payload_len; /* payload and args are binary-safe */
    l[7] = sp->args_len;
}

int jobstore_enqueue(struct rconn *rc, const struct jobstore_enqueue *e, redisCallbackFn *cb, void *priv)
{
    enum { STRIDE = SCRIPT_ENQUEUE_STRIDE, HEAD = SCRIPT_ENQUEUE_HEAD };
    size_t argc = HEAD + STRIDE * e->n;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    struct jobstore_nums *nums = calloc(e->n, sizeof *nums);
    char maxq[24], now[24], count[24], maxqs[24], ttl[24];
    int ret = -1;
    if (!argv || !lens || !nums)
        goto err;
    snprintf(maxq, sizeof maxq, "%ld", e->max_queue);
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    snprintf(count, sizeof count, "%zu", e->n);
    snprintf(maxqs, sizeof maxqs, "%ld", e->max_queues);
    snprintf(ttl, sizeof ttl, "%lld", (long long)((e->idem_ttl_ms + 999) / 1000));
    const char *head[HEAD] = {e->prefix, maxq, now, count, maxqs, ttl};
    for (size_t i = 0; i < HEAD; i++) {
        argv[i] = head[i];
        lens[i] = strlen(head[i]);
    }
    for (size_t i = 0; i < e->n; i++)
        jobstore_enqueue_args(e, i, argv + HEAD + STRIDE * i, lens + HEAD + STRIDE * i, &nums[i]);
    ret = rconn_script(rc, SCRIPT_ENQUEUE, cb, priv, (int)argc, argv, lens);
err:
    free(argv);
    free(lens);
    free(nums);
    return ret;
}

int jobstore_fetch(struct rconn *rc, const char *prefix, const char *id, redisCallbackFn *cb, void *priv)
{
    char key[JOB_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};
    if (key_job(key, sizeof key, prefix, id) < 0)
        return -1;
    return rconn_command(rc, cb, priv, 2, argv, NULL);
}

int jobstore_watch(struct rconn *rc, const char *prefix, const char *id, const char *api_id,
                   redisCallbackFn *cb, void *priv)
{
    const char *argv[3] = {prefix, id, api_id};
    return rconn_script(rc, SCRIPT_WATCH, cb, priv, 3, argv, NULL);
}

int jobstore_cancel(struct rconn *rc, const char *prefix, const char *id, int64_t ttl_ms, redisCallbackFn *cb,
                    void *priv)
{
    char now[24], ttl[24];
    const char *argv[4] = {prefix, id, now, ttl};
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    snprintf(ttl, sizeof ttl, "%lld", (long long)((ttl_ms + 999) / 1000));
    return rconn_script(rc, SCRIPT_CANCEL, cb, priv, 4, argv, NULL);
}
