#include "api/jobstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/rconn.h"
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

/* The STRIDE values of one job in ENQUEUE's argv; nums is scratch space for
 * its numbers (owned by the caller, alive until the command is sent). */
static void jobstore_enqueue_args(const struct jobstore_enqueue *e, size_t i, const char **a, size_t *l,
                                  char (*nums)[24])
{
    const struct job_spec *sp = &e->specs[i];
    if (strcmp(sp->task, JOB_TASK_DEFAULT) == 0)
        snprintf(nums[0], sizeof nums[0], "%d", sp->ms);
    snprintf(nums[1], sizeof nums[1], "%d", sp->max_attempts);
    if (sp->timeout_ms > 0)
        snprintf(nums[2], sizeof nums[2], "%lld", (long long)sp->timeout_ms);
    a[0] = e->ids[i];
    a[1] = sp->queue;
    a[2] = nums[0];
    a[3] = sp->payload;
    l[3] = sp->payload_len;
    a[4] = nums[1];
    a[5] = e->notify;
    a[6] = sp->task;
    a[7] = sp->args;
    l[7] = sp->args_len;
    a[8] = nums[2];
    for (int k = 0; k < SCRIPT_ENQUEUE_STRIDE; k++)
        if (k != 3 && k != 7) /* payload and args are binary-safe: lengths above */
            l[k] = strlen(a[k]);
}

int jobstore_enqueue(struct rconn *rc, const struct jobstore_enqueue *e, redisCallbackFn *cb, void *priv)
{
    enum { STRIDE = SCRIPT_ENQUEUE_STRIDE, HEAD = 4 };
    size_t argc = HEAD + STRIDE * e->n + 1;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char (*nums)[3][24] = calloc(e->n, sizeof *nums);
    char maxq[24], now[24], count[24], maxqs[24];
    int ret = -1;
    if (!argv || !lens || !nums)
        goto err;
    snprintf(maxq, sizeof maxq, "%ld", e->max_queue);
    snprintf(now, sizeof now, "%lld", (long long)job_now_us());
    snprintf(count, sizeof count, "%zu", e->n);
    snprintf(maxqs, sizeof maxqs, "%ld", e->max_queues);
    argv[0] = e->prefix;
    argv[1] = maxq;
    argv[2] = now;
    argv[3] = count;
    for (size_t i = 0; i < HEAD; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < e->n; i++)
        jobstore_enqueue_args(e, i, argv + HEAD + STRIDE * i, lens + HEAD + STRIDE * i, nums[i]);
    argv[argc - 1] = maxqs;
    lens[argc - 1] = strlen(maxqs);
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
