#ifndef OFFLOAD_TASK_H
#define OFFLOAD_TASK_H
/* The CPU task: real arithmetic (an iterated 64-bit mix seeded by the
 * payload) until `ms` milliseconds have passed on the chosen clock. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum task_clock {
    TASK_CLOCK_CPU,  /* CLOCK_THREAD_CPUTIME_ID: the task costs `ms` of CPU */
    TASK_CLOCK_WALL, /* CLOCK_MONOTONIC: the seed's `while time()-start < 0.5` */
};

struct task_result {
    uint64_t digest;     /* task_digest(payload, iterations) */
    uint64_t iterations;
    double cpu_ms;       /* thread CPU time spent */
    double wall_ms;      /* monotonic time spent */
};

/* "cpu" / "wall" → 0, else -1. */
int task_clock_parse(const char *s, enum task_clock *out);
const char *task_clock_name(enum task_clock c);
/* Runs the task on the calling thread. ms == 0 does one round of iterations. */
void task_run(int ms, enum task_clock clock, const void *payload, size_t len,
              struct task_result *out);
/* task_run that also returns early, within one chunk (tens of µs), once
 * *cancel (may be NULL) turns non-zero. */
void task_run_cancellable(int ms, enum task_clock clock, const void *payload, size_t len,
                          const atomic_int *cancel, struct task_result *out);
/* The digest of `iterations` rounds over payload; pure function, so
 * task_digest(p, n, r.iterations) == r.digest for any run r over p. */
uint64_t task_digest(const void *payload, size_t len, uint64_t iterations);

#endif
