#include "common/clock.h"

int64_t clock_id_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t clock_mono_ns(void)
{
    return (uint64_t)clock_id_ns(CLOCK_MONOTONIC);
}

int64_t clock_mono_us(void)
{
    return clock_id_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t clock_mono_ms(void)
{
    return clock_id_ns(CLOCK_MONOTONIC) / 1000000;
}

struct timeval clock_ms_timeval(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

struct timeval clock_us_timeval(int64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    return tv;
}

void clock_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int clock_cond_init(pthread_cond_t *cv)
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

struct timespec clock_deadline(int64_t ms)
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
