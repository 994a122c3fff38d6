#ifndef OFFLOAD_CLOCK_H
#define OFFLOAD_CLOCK_H
/* Monotonic clocks, durations as timeval/timespec, short sleeps and
 * monotonic condition-variable deadlines: the one time layer of every
 * binary. Monotonic values are for intervals, never stored in Redis. */
#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#define CLOCK_NS_PER_MS 1000000ull    /* unsigned, like clock_mono_ns */
#define CLOCK_NS_PER_S 1000000000ull

/* Clock `id` (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...) in nanoseconds. */
int64_t clock_id_ns(clockid_t id);

/* CLOCK_MONOTONIC in nanoseconds (unsigned: loadgen's schedulers add and
 * compare unsigned deadlines). */
uint64_t clock_mono_ns(void);

/* CLOCK_MONOTONIC in microseconds. */
int64_t clock_mono_us(void);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_mono_ms(void);

/* The timeval of `ms` milliseconds, for evtimer_add and hiredis timeouts. */
struct timeval clock_ms_timeval(int64_t ms);

/* The timeval of `us` microseconds. */
struct timeval clock_us_timeval(int64_t us);

/* Sleeps ms milliseconds; a signal cuts the sleep short (callers poll flags). */
void clock_sleep_ms(int64_t ms);

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC
 * (immune to wall-clock jumps). Returns 0 or an errno value; the caller
 * destroys cv with pthread_cond_destroy. */
int clock_cond_init(pthread_cond_t *cv);

/* The CLOCK_MONOTONIC timespec `ms` milliseconds from now (now when ms < 0),
 * for pthread_cond_timedwait on a clock_cond_init condition variable. */
struct timespec clock_deadline(int64_t ms);

#endif
