#ifndef OFFLOAD_WORKER_BATCH_H
#define OFFLOAD_WORKER_BATCH_H
/* The jobs a worker holds: taken into its wip list and marked running by
 * one TAKE, FINISH_TAKE or START reply — up to --prefetch of them — and
 * run in the order taken. Their fields point into that reply, which the
 * batch owns (no copies: thousands of jobs a second). */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "common/scripts.h"
#include "worker/settings.h"

/* Where each of SCRIPT_START's fields is. */
enum { F_MS, F_PAYLOAD, F_ATTEMPTS, F_MAX_ATTEMPTS, F_TASK, F_ARGS, F_TIMEOUT_MS, F_QUEUE };

/* One job in hand. */
struct held_job {
    redisReply **f;     /* SCRIPT_START's SCRIPT_START_FIELDS fields, inside the batch's reply */
    char *id;           /* owned: the id exactly as Redis holds it */
};

struct batch {
    redisReply *reply;  /* owned; NULL when empty */
    struct held_job job[WORKER_PREFETCH_MAX];
    size_t n;           /* jobs held */
    size_t next;        /* the next to run; the ones before it ran */
    int64_t taken_ms;   /* monotonic: when the reply came */
};

/* Frees what b holds and empties it. */
void batch_clear(struct batch *b);
/* Takes reply (a TAKE or FINISH_TAKE reply; ownership passes to b, which
 * must be empty), whose jobs — {id} + START's fields each — begin at
 * element `first`. Returns the jobs taken (0 when the reply has none: it is
 * freed), or -1 when it is malformed (freed; some jobs it names may sit in
 * the wip list: the caller recovers them). */
int batch_take(struct batch *b, redisReply *reply, size_t first);
/* Takes a START reply (its fields only) for the job `id`; as batch_take. */
int batch_take_one(struct batch *b, redisReply *reply, const char *id);
/* Jobs held and not yet run. */
size_t batch_left(const struct batch *b);
/* The next job to run (b must have one left), counted as running. */
struct held_job *batch_pop(struct batch *b);
/* A number field of a held job, or def when empty or malformed. */
long long held_num(const struct held_job *h, int field, long long def);

#endif
