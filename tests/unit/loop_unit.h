#ifndef OFFLOAD_TESTS_LOOP_UNIT_H
#define OFFLOAD_TESTS_LOOP_UNIT_H
/* Helpers for the unit tests of modules that run on a libevent loop
 * (header-only, like unit.h). Every wait is bounded by a watchdog timer, as
 * hiredis's test.c drives its async code: a test that waits for something
 * that never happens fails instead of hanging. */
#include <check.h>
#include <event2/event.h>
#include <stdbool.h>

#include "common/clock.h"

typedef bool loop_unit_pred(void *arg);

static inline void loop_unit_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

static inline void loop_unit_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

#define LOOP_UNIT_POLL_MS 10 /* how often done() is looked at when nothing else happens */

/* Turns base's loop until done(arg) is true or timeout_ms have passed (the
 * watchdog fires). A 10 ms tick makes the loop turn, so done() may also
 * look at things outside the loop (another thread, a Redis server).
 * Returns whether done(arg) became true. */
static inline bool loop_until(struct event_base *base, loop_unit_pred *done, void *arg, int64_t timeout_ms)
{
    bool fired = false;
    struct event *watchdog = evtimer_new(base, loop_unit_watchdog_cb, &fired);
    struct event *tick = event_new(base, -1, EV_PERSIST, loop_unit_tick_cb, NULL);
    struct timeval tv = clock_ms_timeval(timeout_ms), poll = clock_ms_timeval(LOOP_UNIT_POLL_MS);
    ck_assert_ptr_nonnull(watchdog);
    ck_assert_ptr_nonnull(tick);
    ck_assert_int_eq(evtimer_add(watchdog, &tv), 0);
    ck_assert_int_eq(evtimer_add(tick, &poll), 0);
    while (!done(arg) && !fired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    event_free(watchdog);
    return done(arg);
}

static inline bool loop_unit_never(void *arg)
{
    (void)arg;
    return false;
}

/* Runs base's loop for ms milliseconds (for "this does not happen" checks). */
static inline void loop_for(struct event_base *base, int64_t ms)
{
    loop_until(base, loop_unit_never, NULL, ms);
}

#endif
