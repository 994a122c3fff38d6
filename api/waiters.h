#ifndef OFFLOAD_WAITERS_H
#define OFFLOAD_WAITERS_H
/* Requests waiting for jobs to finish, keyed by job id. They are woken by
 * the worker's PUBLISH on this API's done channel (never by polling), or by
 * their own timer. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct rconn;
struct waiters;
struct waiter;

/* Called once per waiter: with the terminal job (borrowed) when it finished,
 * or with job == NULL when the timeout passed. The waiter is already removed
 * when this runs (treat it as freed); the fn may add waiters and cancel any
 * other, even one of the same id that the same news is waking. */
typedef void waiter_fn(void *arg, json_t *job);

/* Returns an empty set whose timers run on `base` and which reads finished
 * jobs through `redis` under `prefix` (all borrowed: they outlive the set),
 * or NULL. Free with waiters_free (waiters still registered are completed
 * with job == NULL first; reads in flight are dropped when they answer).
 * Every function takes a NULL set (the set is gone at shutdown):
 * waiters_add then returns NULL, as it does inside waiters_free. */
struct waiters *waiters_new(struct event_base *base, struct rconn *redis, const char *prefix);
void waiters_free(struct waiters *ws);
/* Registers a waiter for `id` (32 hex). Returns it, or NULL on allocation
 * failure. The waiter is owned by the set until fn runs or it is cancelled. */
struct waiter *waiters_add(struct waiters *ws, const char *id, int64_t timeout_ms, waiter_fn *fn, void *arg);
/* Removes and frees a waiter without calling its fn. */
void waiters_cancel(struct waiters *ws, struct waiter *w);
/* A done message for `id` arrived: fetch the job and wake its waiters. */
void waiters_notify(struct waiters *ws, const char *id);
/* Wakes every waiter of `id` with `job` (borrowed) if it is terminal. */
void waiters_complete(struct waiters *ws, const char *id, json_t *job);
/* After the subscription was (re)established: fetch every waited job, in
 * case its message was lost while we were not subscribed. */
void waiters_recheck_all(struct waiters *ws);
/* Ends every wait now, as if its time were up (each fn gets NULL, and its
 * request answers with the job as it stands): at shutdown, so no long-poll
 * is cut without an answer. */
void waiters_expire_all(struct waiters *ws);
long waiters_count(const struct waiters *ws);

#endif
