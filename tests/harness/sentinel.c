#include "tests/harness/sentinel.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness/harness.h"

#define SENTINEL_READY_TIMEOUT_MS 10000
#define SENTINEL_POLL_MS 50

/* A blocking connection to the sentinel (1 s deadlines), or NULL. */
static redisContext *sentinel_connect(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && (c->err || redisSetTimeout(c, tv) != REDIS_OK)) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

static bool sentinel_answers(void *arg)
{
    const struct harness_sentinel *s = arg;
    redisContext *c = sentinel_connect(s->port);
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok;
}

/* Writes the sentinel's configuration file. Returns 0 or -1. */
static int sentinel_conf_write(const struct harness_sentinel *s, const struct harness_sentinel_watch *w,
                               const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/sentinel.log\nloglevel notice\n"
            "sentinel monitor %s 127.0.0.1 %d %d\n"
            "sentinel down-after-milliseconds %s %d\n"
            "sentinel failover-timeout %s %d\n"
            "sentinel parallel-syncs %s 1\n",
            s->port, s->dir, s->dir, w->master, w->master_port, w->quorum, w->master, w->down_after_ms, w->master,
            w->failover_timeout_ms, w->master);
    return fclose(f) == 0 ? 0 : -1;
}

int harness_sentinel_start(struct harness_sentinel *s, const struct harness_sentinel_watch *w)
{
    char conf[sizeof s->dir + 16];
    if (harness_tmpdir(s->dir, sizeof s->dir, "sentinel") != 0)
        return -1;
    if (s->port == 0)
        s->port = harness_free_port();
    snprintf(conf, sizeof conf, "%s/sentinel.conf", s->dir);
    if (s->port <= 0 || sentinel_conf_write(s, w, conf) != 0)
        goto err;
    const char *argv[] = {"redis-sentinel", conf, NULL};
    s->pid = harness_spawn(argv, NULL);
    if (s->pid <= 0) {
        s->pid = 0;
        goto err;
    }
    if (harness_wait_until(sentinel_answers, s, SENTINEL_READY_TIMEOUT_MS, 20) != 0)
        goto err;
    return 0;
err:
    harness_sentinel_stop(s);
    return -1;
}

void harness_sentinel_stop(struct harness_sentinel *s)
{
    if (s->pid > 0)
        harness_stop(s->pid);
    s->pid = 0;
    harness_dir_remove(s->dir);
}

/* A field of a SENTINEL MASTER reply (a flat name, value array) as a number; -1 when absent. */
static long sentinel_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return strtol(r->element[i + 1]->str, NULL, 10);
    return -1;
}

int harness_sentinel_wait(const struct harness_sentinel *s, const char *master, int port, int replicas,
                          int others, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        redisContext *c = sentinel_connect(s->port);
        bool ok = false;
        if (c) {
            redisReply *r = redisCommand(c, "SENTINEL MASTER %s", master);
            ok = r && sentinel_field(r, "port") == port && sentinel_field(r, "num-slaves") >= replicas &&
                 sentinel_field(r, "num-other-sentinels") >= others;
            if (r)
                freeReplyObject(r);
            redisFree(c);
        }
        if (ok)
            return 0;
        if (harness_now_ms() >= deadline)
            return -1;
        harness_sleep_ms(SENTINEL_POLL_MS);
    }
}
