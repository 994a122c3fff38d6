/* Unit tests for api/pool.c on a real libevent loop: work runs on the
 * pool's threads, several at once, its completion on the loop thread; the
 * loop keeps turning while work blocks; pool_pending counts what is queued
 * or running; pool_free finishes the queued work and its completions. */
#include "api/pool.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "common/clock.h"
#include "tests/unit/loop_unit.h"
#include "tests/unit/unit.h"

#define WAIT_MS 10000 /* watchdog for anything that should take milliseconds */
#define ITEMS_MAX 256

struct item {
    int id;
    atomic_int works;       /* times its work ran */
    int dones;              /* times its completion ran */
    pthread_t work_thread;
    pthread_t done_thread;
    bool done_after_work;   /* the completion saw the work finished */
    atomic_bool work_finished;
};

/* A gate that work waits at (bounded), and the counts the tests read. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int arrived;            /* works that reached the gate or the meeting point */
    int meet;               /* how many must meet */
    int met;                /* works whose wait ended with its condition true */
    int order[ITEMS_MAX];   /* work start order */
    int norder;
    int done_order[ITEMS_MAX];
    int ndone;
} G;

static struct item items[ITEMS_MAX];
static struct event_base *base;
static struct pool *pool;
static pthread_t loop_thread;

static void setup(void)
{
    memset(items, 0, sizeof items);
    memset(&G, 0, sizeof G);
    pthread_mutex_init(&G.mu, NULL);
    ck_assert_int_eq(clock_cond_init(&G.cv), 0);
    loop_thread = pthread_self();
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    pool = NULL;
}

static void gate_open(void)
{
    pthread_mutex_lock(&G.mu);
    G.open = true;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
}

static void teardown(void)
{
    gate_open(); /* a failed test must not leave pool_free waiting on a gate */
    pool_free(pool);
    event_base_free(base);
    pthread_cond_destroy(&G.cv);
    pthread_mutex_destroy(&G.mu);
}

static void work_record(struct item *it)
{
    it->work_thread = pthread_self();
    atomic_fetch_add(&it->works, 1);
    pthread_mutex_lock(&G.mu);
    if (G.norder < ITEMS_MAX)
        G.order[G.norder++] = it->id;
    pthread_mutex_unlock(&G.mu);
}

static void work_fn(void *arg)
{
    struct item *it = arg;
    work_record(it);
    atomic_store(&it->work_finished, true);
}

static bool gate_is_open(void)
{
    return G.open;
}

static bool all_met(void)
{
    return G.arrived >= G.meet;
}

/* A work that records itself, counts in G.arrived, then waits (at most
 * WAIT_MS) until ok() holds (read under G.mu); if it did, counts in G.met. */
static void work_wait(struct item *it, bool (*ok)(void))
{
    struct timespec until = clock_deadline(WAIT_MS);
    work_record(it);
    pthread_mutex_lock(&G.mu);
    G.arrived++;
    pthread_cond_broadcast(&G.cv);
    while (!ok() && pthread_cond_timedwait(&G.cv, &G.mu, &until) == 0)
        ;
    if (ok())
        G.met++;
    pthread_mutex_unlock(&G.mu);
    atomic_store(&it->work_finished, true);
}

/* Waits until the gate opens. */
static void work_gated_fn(void *arg)
{
    work_wait(arg, gate_is_open);
}

/* Waits until G.meet works are here at once. */
static void work_meet_fn(void *arg)
{
    work_wait(arg, all_met);
}

static void done_fn(void *arg)
{
    struct item *it = arg;
    it->done_thread = pthread_self();
    it->dones++;
    it->done_after_work = atomic_load(&it->work_finished);
    if (G.ndone < ITEMS_MAX)
        G.done_order[G.ndone++] = it->id;
}

static void submit(pool_work_fn *work, int n)
{
    for (int i = 0; i < n; i++) {
        items[i].id = i;
        ck_assert_int_eq(pool_submit(pool, work, done_fn, &items[i]), 0);
    }
}

static int want_done;

/* A pool of `threads` with n works submitted; the test waits for n completions. */
static void start(int threads, pool_work_fn *work, int n)
{
    pool = pool_new(base, threads);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(pool_threads(pool), threads);
    want_done = n;
    submit(work, n);
}

static bool all_done(void *arg)
{
    (void)arg;
    return G.ndone >= want_done;
}

static bool gate_waiting(void *arg)
{
    bool yes;
    pthread_mutex_lock(&G.mu);
    yes = G.arrived >= *(int *)arg;
    pthread_mutex_unlock(&G.mu);
    return yes;
}

/* Waits for `n` works to have reached the gate, turning the loop meanwhile. */
static void wait_gate(int n)
{
    ck_assert_msg(loop_until(base, gate_waiting, &n, WAIT_MS), "%d works never reached the gate", n);
}

START_TEST(work_on_pool_threads_completion_on_the_loop)
{
    start(3, work_fn, 100);
    ck_assert_msg(loop_until(base, all_done, NULL, WAIT_MS), "%d of %d completed", G.ndone, want_done);
    for (int i = 0; i < want_done; i++) {
        ck_assert_int_eq(atomic_load(&items[i].works), 1);
        ck_assert_int_eq(items[i].dones, 1);
        ck_assert(items[i].done_after_work);
        ck_assert(!pthread_equal(items[i].work_thread, loop_thread));
        ck_assert(pthread_equal(items[i].done_thread, loop_thread));
    }
    ck_assert_int_eq(pool_pending(pool), 0);
    /* nothing completes twice later */
    loop_for(base, 50);
    ck_assert_int_eq(G.ndone, want_done);
}
END_TEST

/* Completions run only when the loop runs: never on a pool thread, never
 * inside pool_submit. */
START_TEST(completion_waits_for_the_loop)
{
    start(2, work_fn, 4);
    for (int i = 0; i < want_done; i++) { /* the works finish without the loop */
        int64_t until = clock_mono_ms() + WAIT_MS;
        while (!atomic_load(&items[i].work_finished) && clock_mono_ms() < until)
            clock_sleep_ms(1);
        ck_assert_msg(atomic_load(&items[i].work_finished), "work %d did not run", i);
    }
    ck_assert_int_eq(G.ndone, 0);
    ck_assert(loop_until(base, all_done, NULL, WAIT_MS));
}
END_TEST

START_TEST(threads_run_work_at_the_same_time)
{
    G.meet = 4;
    start(4, work_meet_fn, 4);
    ck_assert(loop_until(base, all_done, NULL, 2 * WAIT_MS));
    ck_assert_msg(G.met == 4, "only %d of 4 works saw all four running at once", G.met);
}
END_TEST

/* While every thread is blocked: submission did not wait, the loop keeps
 * turning, only `threads` works run, and pool_pending counts the queued and
 * the running work. */
START_TEST(blocked_work_does_not_block_the_loop)
{
    start(2, work_gated_fn, 5);
    ck_assert_int_eq(pool_pending(pool), 5);
    wait_gate(2);
    loop_for(base, 20); /* the loop turns while both threads are blocked */
    ck_assert_int_eq(G.ndone, 0);
    ck_assert_int_eq(pool_pending(pool), 5); /* 2 running + 3 queued */
    pthread_mutex_lock(&G.mu);
    ck_assert_int_eq(G.norder, 2); /* only as many running as there are threads */
    pthread_mutex_unlock(&G.mu);
    gate_open();
    ck_assert(loop_until(base, all_done, NULL, WAIT_MS));
    ck_assert_int_eq(pool_pending(pool), 0);
}
END_TEST

/* One thread: work starts, and completions run, in submission order. */
START_TEST(one_thread_keeps_submission_order)
{
    start(1, work_fn, 20);
    ck_assert(loop_until(base, all_done, NULL, WAIT_MS));
    for (int i = 0; i < want_done; i++) {
        ck_assert_int_eq(G.order[i], i);
        ck_assert_int_eq(G.done_order[i], i);
    }
}
END_TEST

static void *gate_open_later(void *arg)
{
    (void)arg;
    clock_sleep_ms(200);
    gate_open();
    return NULL;
}

/* pool_free waits for the queued work and runs every completion, in order,
 * even when the loop never ran. */
START_TEST(free_finishes_queued_work_and_completions)
{
    pthread_t opener;
    start(1, work_gated_fn, 6);
    wait_gate(1);
    ck_assert_int_eq(G.ndone, 0);
    /* the first work still blocks when pool_free begins; the gate opens
     * from another thread meanwhile (should it open first on a loaded
     * machine, the test still passes, it only proves less) */
    ck_assert_int_eq(pthread_create(&opener, NULL, gate_open_later, NULL), 0);
    pool_free(pool);
    pool = NULL;
    ck_assert_int_eq(pthread_join(opener, NULL), 0);
    ck_assert_int_eq(G.ndone, want_done);
    for (int i = 0; i < want_done; i++) {
        ck_assert_int_eq(atomic_load(&items[i].works), 1);
        ck_assert_int_eq(items[i].dones, 1);
        ck_assert_int_eq(G.done_order[i], i);
        ck_assert(pthread_equal(items[i].done_thread, loop_thread));
    }
    /* nothing of the pool is left on the loop */
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("api_pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, work_on_pool_threads_completion_on_the_loop);
    tcase_add_test(tc, completion_waits_for_the_loop);
    tcase_add_test(tc, threads_run_work_at_the_same_time);
    tcase_add_test(tc, blocked_work_does_not_block_the_loop);
    tcase_add_test(tc, one_thread_keeps_submission_order);
    tcase_add_test(tc, free_finishes_queued_work_and_completions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(pool_suite());
}
