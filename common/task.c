/* The CPU task: a chain of splitmix64 finaliser rounds seeded by the FNV-1a
 * hash of the payload. Each round depends on the previous one, so nothing
 * can skip, vectorise or precompute it: the work is real. */
#include "common/task.h"

#include <string.h>
#include <time.h>

#include "common/clock.h"

/* Rounds between two clock reads. One round is a few ns, so a chunk is tens
 * of microseconds: the task overshoots `ms` by at most that, while the clock
 * reads (a syscall for the thread CPU clock) stay well under 1 % of the work. */
#define TASK_CHUNK 4096

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t task_seed(const void *payload, size_t len)
{
    const unsigned char *p = payload;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* x -> mix(x + golden): a bijection on 64 bits, so two different seeds
 * never meet after the same number of rounds. */
static uint64_t task_rounds(uint64_t x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    return x;
}

int task_clock_parse(const char *s, enum task_clock *out)
{
    if (s != NULL && strcmp(s, "cpu") == 0) {
        *out = TASK_CLOCK_CPU;
        return 0;
    }
    if (s != NULL && strcmp(s, "wall") == 0) {
        *out = TASK_CLOCK_WALL;
        return 0;
    }
    return -1;
}

const char *task_clock_name(enum task_clock c)
{
    switch (c) {
    case TASK_CLOCK_CPU:
        return "cpu";
    case TASK_CLOCK_WALL:
        return "wall";
    }
    return "unknown";
}

uint64_t task_digest(const void *payload, size_t len, uint64_t iterations)
{
    return task_rounds(task_seed(payload, payload ? len : 0), iterations);
}

/* Runs whole chunks until the chosen clock has advanced by ms; fills *out.
 * ms <= 0 runs no round at all: a 0 ms job measures the queue, not the task,
 * and its digest is the payload's seed. */
void task_run(int ms, enum task_clock clock, const void *payload, size_t len,
              struct task_result *out)
{
    task_run_cancellable(ms, clock, payload, len, NULL, out);
}

void task_run_cancellable(int ms, enum task_clock clock, const void *payload, size_t len,
                          const atomic_int *cancel, struct task_result *out)
{
    clockid_t id = clock == TASK_CLOCK_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    int64_t cpu0 = clock_id_ns(CLOCK_THREAD_CPUTIME_ID);
    int64_t wall0 = clock_id_ns(CLOCK_MONOTONIC);
    int64_t budget_ns = (int64_t)(ms > 0 ? ms : 0) * 1000000;
    int64_t deadline = (id == CLOCK_MONOTONIC ? wall0 : cpu0) + budget_ns;
    uint64_t x = task_seed(payload, payload ? len : 0);
    uint64_t n = 0;
    while (ms > 0) {
        x = task_rounds(x, TASK_CHUNK);
        n += TASK_CHUNK;
        if (clock_id_ns(id) >= deadline ||
            (cancel && atomic_load_explicit(cancel, memory_order_relaxed)))
            break;
    }
    out->digest = x;
    out->iterations = n;
    out->cpu_ms = (double)(clock_id_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0) / 1e6;
    out->wall_ms = (double)(clock_id_ns(CLOCK_MONOTONIC) - wall0) / 1e6;
}
