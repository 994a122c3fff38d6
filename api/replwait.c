/* WAIT after acknowledged writes, one at a time: see replwait.h. */
#include "api/replwait.h"

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/rconn.h"

#define REPLWAIT_BATCH_MIN 16 /* first allocation of a batch; it doubles from there */

/* One write waiting for its outcome. */
struct replwait_entry {
    replwait_fn *fn;
    void *arg;
};

/* Writes that one WAIT covers. */
struct replwait_batch {
    struct replwait_entry *v;
    size_t n, cap;
};

struct replwait {
    struct rconn *rc;
    long replicas;
    int64_t timeout_ms;
    char replicas_arg[24]; /* WAIT's arguments as text */
    char timeout_arg[24];
    bool inflight;                /* a WAIT is sent and not answered */
    struct replwait_batch sent;   /* covered by the WAIT in flight */
    struct replwait_batch next;   /* answered meanwhile: covered by the next WAIT */
};

static int batch_push(struct replwait_batch *b, replwait_fn *fn, void *arg)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : REPLWAIT_BATCH_MIN;
        struct replwait_entry *v = realloc(b->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (struct replwait_entry){.fn = fn, .arg = arg};
    return 0;
}

/* Tells every write of b its outcome, then frees b's storage. */
static void batch_finish(struct replwait_batch *b, long acked)
{
    for (size_t i = 0; i < b->n; i++)
        b->v[i].fn(b->v[i].arg, acked);
    free(b->v);
    *b = (struct replwait_batch){0};
}

static void replwait_reply_cb(redisAsyncContext *ac, void *r, void *priv);

/* Sends the WAIT that covers rw->sent. Returns 0 or -1 (not sent). */
static int replwait_send(struct replwait *rw)
{
    const char *argv[3] = {"WAIT", rw->replicas_arg, rw->timeout_arg};
    if (rconn_command(rw->rc, replwait_reply_cb, rw, 3, argv, NULL) != 0)
        return -1;
    rw->inflight = true;
    return 0;
}

/* The WAIT in flight has answered: its batch learns the outcome, and the
 * batch that waited gets a WAIT of its own, sent now, after every write
 * it covers. When the connection is gone (reply NULL), that batch's writes
 * went on it too and can no longer be confirmed. */
static void replwait_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct replwait *rw = priv;
    redisReply *reply = r;
    struct replwait_batch done = rw->sent, lost = {0};
    long acked = -1;
    (void)ac;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        acked = (long)reply->integer;
    else if (reply)
        log_error("WAIT failed: --redis-wait cannot be honoured", "error=\"%s\"",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    rw->inflight = false;
    rw->sent = rw->next;
    rw->next = (struct replwait_batch){0};
    if (rw->sent.n > 0 && (reply == NULL || replwait_send(rw) != 0)) {
        lost = rw->sent;
        rw->sent = (struct replwait_batch){0};
    }
    /* rw is consistent again: the callbacks may add writes */
    batch_finish(&done, acked);
    batch_finish(&lost, -1);
}

struct replwait *replwait_new(struct rconn *rc, long replicas, int64_t timeout_ms)
{
    struct replwait *rw = calloc(1, sizeof *rw);
    if (rw == NULL)
        return NULL;
    rw->rc = rc;
    rw->replicas = replicas;
    rw->timeout_ms = timeout_ms < 1 ? 1 : timeout_ms; /* WAIT 0 would block for ever */
    snprintf(rw->replicas_arg, sizeof rw->replicas_arg, "%ld", replicas);
    snprintf(rw->timeout_arg, sizeof rw->timeout_arg, "%lld", (long long)rw->timeout_ms);
    return rw;
}

int replwait_add(struct replwait *rw, replwait_fn *fn, void *arg)
{
    if (rw->inflight)
        return batch_push(&rw->next, fn, arg);
    if (batch_push(&rw->sent, fn, arg) != 0)
        return -1;
    if (replwait_send(rw) != 0) {
        rw->sent.n--;
        return -1;
    }
    return 0;
}

long replwait_replicas(const struct replwait *rw)
{
    return rw->replicas;
}

int64_t replwait_timeout_ms(const struct replwait *rw)
{
    return rw->timeout_ms;
}

void replwait_free(struct replwait *rw)
{
    if (rw == NULL)
        return;
    batch_finish(&rw->sent, -1);
    batch_finish(&rw->next, -1);
    free(rw);
}
