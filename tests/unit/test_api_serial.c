/* Unit tests for api/serial.c on a real libevent loop: items run on the
 * loop thread in submission order, one per loop turn, so what an item
 * wrote to a socket is handled by the loop before the next item runs;
 * serial_free runs what is still queued. */
#include "api/serial.h"

#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/loop_unit.h"
#include "tests/unit/unit.h"

#define WAIT_MS 10000 /* watchdog: everything here takes microseconds */
#define LOG_MAX 64

/* What ran, in order: item numbers, and -1 for each socket event. */
struct trace {
    int log[LOG_MAX];
    int n;
    int items;              /* items run */
    int want;               /* items the test waits for */
    pthread_t loop_thread;  /* the test's (and the loop's) thread */
    bool off_thread;        /* an item ran on another thread */
    struct serial *s;       /* for items that submit more */
    int pipe_w;             /* items write a byte here when >= 0 */
};

static struct trace T;
static struct event_base *base;

static void setup(void)
{
    memset(&T, 0, sizeof T);
    T.loop_thread = pthread_self();
    T.pipe_w = -1;
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
    event_base_free(base);
}

static void trace_add(int what)
{
    ck_assert_int_lt(T.n, LOG_MAX);
    T.log[T.n++] = what;
}

/* arg is the item number (1, 2, ...). */
static void item_fn(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (!pthread_equal(pthread_self(), T.loop_thread))
        T.off_thread = true;
    trace_add(id);
    T.items++;
    if (T.pipe_w >= 0)
        ck_assert_int_eq(write(T.pipe_w, "r", 1), 1);
}

static bool all_items_ran(void *arg)
{
    (void)arg;
    return T.items >= T.want;
}

static void submit(int id)
{
    ck_assert_int_eq(serial_submit(T.s, item_fn, (void *)(intptr_t)id), 0);
}

/* The trace is exactly expect[0..n) (-1 is a socket event). */
static void expect_trace(const int *expect, int n)
{
    ck_assert_int_eq(T.n, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(T.log[i] == expect[i], "step %d: %d, expected %d (-1 is the socket event)", i, T.log[i],
                      expect[i]);
}

/* A new queue with items 1..n submitted; the test waits for n. */
static void queue_items(int n)
{
    T.s = serial_new(base);
    ck_assert_ptr_nonnull(T.s);
    T.want = n;
    for (int i = 1; i <= n; i++)
        submit(i);
}

START_TEST(items_run_on_the_loop_in_order)
{
    queue_items(5);
    ck_assert_int_eq(T.items, 0); /* submit only queues */
    ck_assert_msg(loop_until(base, all_items_ran, NULL, WAIT_MS), "%d of %d items ran", T.items, T.want);
    expect_trace((const int[]){1, 2, 3, 4, 5}, 5);
    ck_assert(!T.off_thread);
    /* idle, it keeps nothing pending that would keep the loop alive */
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
    /* and a later submission wakes it again */
    T.want = 6;
    submit(6);
    ck_assert(loop_until(base, all_items_ran, NULL, WAIT_MS));
    expect_trace((const int[]){1, 2, 3, 4, 5, 6}, 6);
    serial_free(T.s);
    ck_assert_int_eq(T.items, 6);
}
END_TEST

/* Each EVLOOP_ONCE turn runs at most one item. */
START_TEST(one_item_per_loop_turn)
{
    queue_items(4);
    for (int turn = 0; turn < 100 && T.items < T.want; turn++) {
        int before = T.items;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ck_assert_msg(T.items - before <= 1, "one loop turn ran %d items", T.items - before);
    }
    ck_assert_int_eq(T.items, T.want);
    serial_free(T.s);
}
END_TEST

static void pipe_read_cb(evutil_socket_t fd, short what, void *arg)
{
    char buf[16];
    (void)what;
    (void)arg;
    ssize_t n = read(fd, buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++)
        trace_add(-1);
}

static bool trace_full(void *arg)
{
    (void)arg;
    return T.n >= 2 * T.want;
}

/* What an item writes to a socket (its reply) is seen by the loop's I/O
 * before the next item runs: item, I/O, item, I/O, ... */
START_TEST(io_is_handled_between_items)
{
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    struct event *rd = event_new(base, fds[0], EV_READ | EV_PERSIST, pipe_read_cb, NULL);
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(event_add(rd, NULL), 0);
    T.pipe_w = fds[1];
    queue_items(4);
    ck_assert(loop_until(base, trace_full, NULL, WAIT_MS));
    expect_trace((const int[]){1, -1, 2, -1, 3, -1, 4, -1}, 8);
    serial_free(T.s);
    event_free(rd);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* An item that submits another goes to the back of the queue. */
static void item_submits_fn(void *arg)
{
    item_fn(arg);
    submit(100 + (int)(intptr_t)arg);
}

START_TEST(items_submitted_by_items_run_after_the_queue)
{
    T.s = serial_new(base);
    ck_assert_ptr_nonnull(T.s);
    ck_assert_int_eq(serial_submit(T.s, item_submits_fn, (void *)(intptr_t)1), 0);
    submit(2);
    submit(3);
    T.want = 4;
    ck_assert(loop_until(base, all_items_ran, NULL, WAIT_MS));
    expect_trace((const int[]){1, 2, 3, 101}, 4);
    serial_free(T.s);
    ck_assert_int_eq(T.items, 4);
}
END_TEST

START_TEST(free_runs_what_is_queued)
{
    queue_items(3);
    serial_free(T.s); /* the loop never ran */
    expect_trace((const int[]){1, 2, 3}, 3);
    /* nothing of it is left on the loop */
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
}
END_TEST

/* The last queued item submits another while the set is being freed: it
 * runs too (it was lost, and leaked, when the tail still named the item
 * being run). */
START_TEST(free_runs_what_the_last_item_submits)
{
    T.s = serial_new(base);
    ck_assert_ptr_nonnull(T.s);
    submit(1);
    ck_assert_int_eq(serial_submit(T.s, item_submits_fn, (void *)(intptr_t)2), 0);
    serial_free(T.s); /* the loop never ran */
    expect_trace((const int[]){1, 2, 102}, 3);
}
END_TEST

static Suite *serial_suite(void)
{
    Suite *s = suite_create("api_serial");
    TCase *tc = tcase_create("serial");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, items_run_on_the_loop_in_order);
    tcase_add_test(tc, one_item_per_loop_turn);
    tcase_add_test(tc, io_is_handled_between_items);
    tcase_add_test(tc, items_submitted_by_items_run_after_the_queue);
    tcase_add_test(tc, free_runs_what_is_queued);
    tcase_add_test(tc, free_runs_what_the_last_item_submits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(serial_suite());
}
