#include "api/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct pool_item {
    pool_work_fn *work;
    pool_done_fn *done;
    void *arg;
    struct pool_item *next;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool_item *head, *tail;  /* waiting work */
    struct pool_item *done_head;    /* finished, for the loop */
    long pending;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    int wake[2];                    /* pool threads write a byte; the loop reads */
    struct event *wake_ev;
};

static void *pool_thread(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        struct pool_item *it;
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->head == NULL) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        it = p->head;
        p->head = it->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);

        it->work(it->arg);

        pthread_mutex_lock(&p->mu);
        bool was_empty = p->done_head == NULL;
        it->next = p->done_head;
        p->done_head = it;
        pthread_mutex_unlock(&p->mu);
        if (was_empty) {
            ssize_t w;
            do
                w = write(p->wake[1], "x", 1);
            while (w < 0 && errno == EINTR);
        }
    }
}

static void pool_drain_done(struct pool *p)
{
    struct pool_item *list, *rev = NULL;
    pthread_mutex_lock(&p->mu);
    list = p->done_head;
    p->done_head = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) { /* oldest first */
        struct pool_item *it = list;
        list = it->next;
        it->next = rev;
        rev = it;
    }
    while (rev) {
        struct pool_item *it = rev;
        rev = it->next;
        pthread_mutex_lock(&p->mu);
        p->pending--;
        pthread_mutex_unlock(&p->mu);
        it->done(it->arg);
        free(it);
    }
}

static void pool_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    char buf[256];
    (void)what;
    while (read(fd, buf, sizeof buf) > 0)
        ;
    pool_drain_done(arg);
}

struct pool *pool_new(struct event_base *base, int threads)
{
    struct pool *p;
    if (threads < 1) /* work submitted to no thread would never run */
        return NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->wake[0] = p->wake[1] = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        goto err;
    p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, pool_wake_cb, p);
    if (p->wake_ev == NULL || event_add(p->wake_ev, NULL) != 0)
        goto err;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (p->threads == NULL)
        goto err;
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_thread, p) != 0)
            goto err;
    return p;
err:
    pool_free(p);
    return NULL;
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pool_drain_done(p);
    if (p->wake_ev)
        event_free(p->wake_ev);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    free(p->threads);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int pool_submit(struct pool *p, pool_work_fn *work, pool_done_fn *done, void *arg)
{
    struct pool_item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return -1;
    it->work = work;
    it->done = done;
    it->arg = arg;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->pending++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

long pool_pending(struct pool *p)
{
    long n;
    pthread_mutex_lock(&p->mu);
    n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int pool_threads(const struct pool *p)
{
    return p->nthreads;
}
