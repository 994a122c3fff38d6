#include "worker/tthread.h"

#include <sys/resource.h>
#include <unistd.h>

#include "worker/wclock.h"

#define TTHREAD_POLL_MS 50 /* how soon a second SIGTERM or a timeout is noticed */

int tthread_init(struct tthread *t, void (*run)(struct tthread *), void (*destroy)(struct tthread *),
                 int nice)
{
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        return -1;
    if (wclock_cond_init(&t->done_cv) != 0) {
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

void tthread_unref(struct tthread *t)
{
    pthread_mutex_lock(&t->mu);
    int left = --t->refs;
    pthread_mutex_unlock(&t->mu);
    if (left > 0)
        return;
    pthread_cond_destroy(&t->done_cv);
    pthread_mutex_destroy(&t->mu);
    t->destroy(t);
}

static void *tthread_main(void *arg)
{
    struct tthread *t = arg;
    /* Linux nice is per thread: only the task yields, never the heartbeat.
     * Raising one's own niceness needs no privilege; should it fail, the
     * task merely runs at the worker's rank. */
    if (t->nice > 0)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), t->nice);
    t->run(t);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_signal(&t->done_cv);
    pthread_mutex_unlock(&t->mu);
    tthread_unref(t);
    return NULL;
}

enum tthread_end tthread_go(struct tthread *t, int64_t timeout_ms, int64_t grace_ms,
                            volatile sig_atomic_t *stops)
{
    pthread_attr_t attr;
    pthread_t th;
    if (pthread_attr_init(&attr) != 0)
        goto err;
    int created = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&th, &attr, tthread_main, t) == 0;
    pthread_attr_destroy(&attr);
    if (!created)
        goto err;
    int64_t deadline = wclock_mono_ms() + timeout_ms;
    enum tthread_end end = TTHREAD_DONE;
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        if (*stops >= 2) {
            end = TTHREAD_ABANDONED;
            break;
        }
        int64_t now = wclock_mono_ms();
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
        struct timespec ts = wclock_deadline(wait);
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
