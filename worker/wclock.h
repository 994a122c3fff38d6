#ifndef OFFLOAD_WORKER_WCLOCK_H
#define OFFLOAD_WORKER_WCLOCK_H
/* Monotonic time, short sleeps and monotonic condition-variable deadlines for
 * the worker's loops and backoffs. */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds: for intervals, never stored in Redis. */
static inline int64_t wclock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds; a signal cuts the sleep short (callers poll flags). */
static inline void wclock_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC
 * (immune to wall-clock jumps). Returns 0 or an errno value. */
static inline int wclock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    int rv = pthread_condattr_init(&attr);
    if (rv != 0)
        return rv;
    rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rv == 0)
        rv = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rv;
}

/* The CLOCK_MONOTONIC timespec `ms` milliseconds from now, for
 * pthread_cond_timedwait on a wclock_cond_init condition variable. */
static inline struct timespec wclock_deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
