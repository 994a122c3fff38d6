#include "worker/batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->job[i].id);
    if (b->reply)
        freeReplyObject(b->reply);
    memset(b, 0, sizeof *b);
}

/* Fills job i from the fields at f (and its id, or f[-1] when id is NULL).
 * Returns 0, or -1 when a field is not a string or out of memory. */
static int held_fill(struct held_job *h, redisReply **f, const char *id)
{
    for (int i = 0; i < SCRIPT_START_FIELDS; i++)
        if (f[i]->type != REDIS_REPLY_STRING)
            return -1;
    if (!id && f[-1]->type != REDIS_REPLY_STRING)
        return -1;
    if (!(h->id = strdup(id ? id : f[-1]->str)))
        return -1;
    h->f = f;
    return 0;
}

int batch_take(struct batch *b, redisReply *reply, size_t first)
{
    const size_t stride = 1 + SCRIPT_START_FIELDS;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < first ||
        (reply->elements - first) % stride != 0 || (reply->elements - first) / stride > WORKER_PREFETCH_MAX)
        goto err;
    b->reply = reply;
    b->taken_ms = clock_mono_ms();
    for (size_t e = first; e < reply->elements; e += stride) {
        if (held_fill(&b->job[b->n], reply->element + e + 1, NULL) != 0)
            goto err;
        b->n++;
    }
    if (b->n == 0)
        batch_clear(b);
    return (int)b->n;
err:
    if (b->reply != reply)
        freeReplyObject(reply);
    batch_clear(b);
    return -1;
}

int batch_take_one(struct batch *b, redisReply *reply, const char *id)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != SCRIPT_START_FIELDS ||
        held_fill(&b->job[0], reply->element, id) != 0) {
        freeReplyObject(reply);
        return -1;
    }
    b->reply = reply;
    b->n = 1;
    b->taken_ms = clock_mono_ms();
    return 1;
}

size_t batch_left(const struct batch *b)
{
    return b->n - b->next;
}

struct held_job *batch_pop(struct batch *b)
{
    return &b->job[b->next++];
}

long long held_num(const struct held_job *h, int field, long long def)
{
    char *end;
    const char *s = h->f[field]->str;
    long long v = strtoll(s, &end, 10);
    return s[0] == '\0' || *end != '\0' ? def : v;
}
