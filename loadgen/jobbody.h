#ifndef OFFLOAD_LOADGEN_JOBBODY_H
#define OFFLOAD_LOADGEN_JOBBODY_H
/* The POST /jobs bodies loadgen sends: one job object, and a batch of
 * identical ones as a JSON array. A run builds them once (per batch size),
 * not once per request: a benchmark submits tens of thousands of jobs. */
#include <stddef.h>
#include <stdint.h>

/* What one job object carries; a field left unset is not sent, so the
 * API's default applies. */
struct jobbody {
    const char *task;   /* NULL: not sent (the API runs burn) */
    long ms;            /* < 0: not sent; sent only when task is NULL or burn */
    const char *args;   /* JSON text, as checked by jobbody_args_check; NULL: not sent (null) */
    int64_t timeout_ms; /* <= 0: not sent (the worker's default) */
    const char *queue;  /* NULL: not sent; else a name job_queue_valid accepts */
};

/* Checks that text is one JSON value of any kind (object, array, string,
 * number, true, false, null). Returns 0, or -1 with jansson's reason and
 * position in err. */
int jobbody_args_check(const char *text, char *err, size_t errlen);

/* The job object as JSON text, fields in the order task, ms, args, timeout,
 * queue: with only ms and queue set it is exactly {"ms":M,"queue":"Q"}. args
 * is copied verbatim; timeout is sent as the shortest exact duration string
 * ("30s", "250ms", "2m", "1h"). task and queue must already be valid names
 * (nothing in them is escaped). Returns a malloc'd NUL-terminated string
 * (the caller's) with its length in *len, or NULL when out of memory. */
char *jobbody_object(const struct jobbody *b, size_t *len);

/* The body of a POST of `count` (>= 1) copies of the object one[0..len):
 * the object itself when count is 1, else a JSON array of them. Returns a
 * malloc'd NUL-terminated string (the caller's) with its length in
 * *out_len, or NULL when out of memory. */
char *jobbody_batch(const char *one, size_t len, size_t count, size_t *out_len);

#endif
