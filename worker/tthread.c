#include "worker/tthread.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"

#define TTHREAD_POLL_MS 50 /* how soon a second SIGTERM or a timeout is noticed */

int tthread_init(struct tthread *t, void (*run)(struct tthread *), void (*destroy)(struct tthread *),
                 int nice)
{
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        return -1;
    if (clock_cond_init(&t->done_cv) != 0) {
        pthread_mutex_destroy(&t->mu);
        return -1;
    }
    t->refs = 2;
    t->done = false;
    atomic_init(&t->cancel, 0);
    t->nice = nice;
    t->run = run;
    t->destroy = destroy;
    return 0;
}

/* Drops one of *refs (guarded by mu). True when it was the last: mu and cv
 * are destroyed, and the caller frees what holds them. */
static bool refs_drop_last(pthread_mutex_t *mu, pthread_cond_t *cv, int *refs)
{
    pthread_mutex_lock(mu);
    int left = --*refs;
    pthread_mutex_unlock(mu);
    if (left > 0)
        return false;
    pthread_cond_destroy(cv);
    pthread_mutex_destroy(mu);
    return true;
}

void tthread_unref(struct tthread *t)
{
    if (refs_drop_last(&t->mu, &t->done_cv, &t->refs))
        t->destroy(t);
}

struct tthread_runner {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    struct tthread *job; /* posted, not yet taken */
    bool busy;           /* running a job */
    bool quit;           /* exit once idle */
    int refs;            /* the owner's and the thread's */
    int nice;
};

/* Linux nice is per thread: only the task yields, never the heartbeat.
 * Raising one's own niceness needs no privilege; should it fail, the task
 * merely runs at the worker's rank. */
static void thread_nice(int nice)
{
    if (nice > 0)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

/* Runs t, says it is done, drops the thread's reference. */
static void tthread_execute(struct tthread *t)
{
    t->run(t);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_signal(&t->done_cv);
    pthread_mutex_unlock(&t->mu);
    tthread_unref(t);
}

static void *tthread_main(void *arg)
{
    struct tthread *t = arg;
    thread_nice(t->nice);
    tthread_execute(t);
    return NULL;
}

static void runner_unref(struct tthread_runner *r)
{
    if (refs_drop_last(&r->mu, &r->work_cv, &r->refs))
        free(r);
}

static void *runner_main(void *arg)
{
    struct tthread_runner *r = arg;
    thread_nice(r->nice);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->job && !r->quit)
            pthread_cond_wait(&r->work_cv, &r->mu);
        if (!r->job)
            break;
        struct tthread *t = r->job;
        r->job = NULL;
        r->busy = true;
        pthread_mutex_unlock(&r->mu);
        tthread_execute(t);
        pthread_mutex_lock(&r->mu);
        r->busy = false;
    }
    pthread_mutex_unlock(&r->mu);
    runner_unref(r);
    return NULL;
}

/* Starts fn(arg) on a detached thread that blocks every signal (SIGTERM is
 * the worker thread's to see; a task's blocking calls must not get EINTR
 * from it). 0 or -1. */
static int thread_spawn(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    sigfillset(&all);
    /* faults stay deliverable: a task that crashes must take the process down */
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int created = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&th, &attr, fn, arg) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return created ? 0 : -1;
}

struct tthread_runner *tthread_runner_new(int nice)
{
    struct tthread_runner *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        goto err;
    if (pthread_cond_init(&r->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        goto err;
    }
    r->refs = 2;
    r->nice = nice;
    if (thread_spawn(runner_main, r) != 0)
        goto err_sync;
    return r;
err_sync:
    pthread_cond_destroy(&r->work_cv);
    pthread_mutex_destroy(&r->mu);
err:
    free(r);
    return NULL;
}

void tthread_runner_free(struct tthread_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = true;
    pthread_cond_signal(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
    runner_unref(r);
}

/* Hands t to r when r is idle. Returns true when it did. */
static bool runner_post(struct tthread_runner *r, struct tthread *t)
{
    if (!r)
        return false;
    pthread_mutex_lock(&r->mu);
    bool idle = !r->busy && !r->job && !r->quit;
    if (idle) {
        r->job = t;
        pthread_cond_signal(&r->work_cv);
    }
    pthread_mutex_unlock(&r->mu);
    return idle;
}


enum tthread_end tthread_go(struct tthread *t, struct tthread_runner *r, int64_t timeout_ms,
                            int64_t grace_ms, volatile sig_atomic_t *stops)
{
    if (!runner_post(r, t) && thread_spawn(tthread_main, t) != 0)
        goto err;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    enum tthread_end end = TTHREAD_DONE;
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        if (*stops >= 2) {
            atomic_store(&t->cancel, 1); /* plugin.h: cancelled() turns true when stopping at once */
            end = TTHREAD_ABANDONED;
            break;
        }
        int64_t now = clock_mono_ms();
        if (now >= deadline) {
            if (atomic_load(&t->cancel)) {
                end = TTHREAD_STUCK;
                break;
            }
            atomic_store(&t->cancel, 1);
            deadline = now + grace_ms;
            continue;
        }
        int64_t wait = deadline - now < TTHREAD_POLL_MS ? deadline - now : TTHREAD_POLL_MS;
        struct timespec ts = clock_deadline(wait);
        pthread_cond_timedwait(&t->done_cv, &t->mu, &ts);
    }
    if (t->done)
        end = atomic_load(&t->cancel) ? TTHREAD_LATE : TTHREAD_DONE;
    pthread_mutex_unlock(&t->mu);
    return end;
err:
    tthread_unref(t); /* the thread's reference */
    return TTHREAD_NOSTART;
}
