#ifndef OFFLOAD_WORKER_TTHREAD_H
#define OFFLOAD_WORKER_TTHREAD_H
/* A task run on a thread of its own (burn, plugins): the worker's thread
 * waits for it, asks it to stop at its timeout, and can walk away from it
 * (a second SIGTERM, a run that ignores the stop). The run is shared by the
 * two threads and reference-counted, so whoever finishes last frees it. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Embed as the first member of the run's own struct. */
struct tthread {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    atomic_int cancel;                    /* 1 once the run should return */
    int nice;                             /* the thread's niceness (Linux: per thread) */
    void (*run)(struct tthread *t);       /* the work, on the new thread */
    void (*destroy)(struct tthread *t);   /* frees the embedding struct */
};

enum tthread_end {
    TTHREAD_DONE,      /* returned within its timeout */
    TTHREAD_LATE,      /* returned after being asked to stop at its timeout */
    TTHREAD_STUCK,     /* still running a grace after being asked to stop */
    TTHREAD_ABANDONED, /* the worker's second stop signal */
    TTHREAD_NOSTART,   /* no thread could be made */
};

/* One long-lived thread that runs tthreads one after another, so a run
 * costs a hand-off instead of a thread's creation (thousands of plugin jobs a
 * second). A run it is still busy with when the next comes (one that would
 * not stop, or was abandoned) makes that next one get a thread of its own. */
struct tthread_runner;

/* Starts the runner thread at niceness nice. Returns it, or NULL (then
 * every run gets a thread of its own). */
struct tthread_runner *tthread_runner_new(int nice);
/* Tells the runner to exit once idle and drops the caller's hold on it; a
 * run still going keeps it alive until it returns. NULL is fine. */
void tthread_runner_free(struct tthread_runner *r);

/* Prepares t with two references (the caller's and the thread's). Returns 0
 * or -1 (t is then unusable and holds nothing). */
int tthread_init(struct tthread *t, void (*run)(struct tthread *), void (*destroy)(struct tthread *),
                 int nice);
/* Starts t->run on runner r when it is idle (r may be NULL), else on a
 * detached thread of its own, and waits: until it returns; at
 * timeout_ms sets t->cancel and waits grace_ms more; at once when *stops
 * reaches 2. After DONE or LATE the caller may read what the run wrote.
 * The caller still holds its reference: tthread_unref when done with t. */
enum tthread_end tthread_go(struct tthread *t, struct tthread_runner *r, int64_t timeout_ms,
                            int64_t grace_ms, volatile sig_atomic_t *stops);
/* Drops one reference; the last calls t->destroy. */
void tthread_unref(struct tthread *t);

#endif
