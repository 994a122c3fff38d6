#ifndef OFFLOAD_JOBREQ_H
#define OFFLOAD_JOBREQ_H
/* The life of an HTTP request about jobs, from its Redis command to its one
 * reply: submit (POST /jobs, with or without ?wait), read (GET /jobs/{id},
 * with or without ?wait), and run-and-wait (/cpu?mode=queue). A request
 * that waits has two things in flight on two Redis connections, its
 * command and its waiter, which can end in either order; the request's
 * state (jobreq.c) names where it stands, and whichever ends second
 * replies. Each function takes a validated request and answers it, now or
 * later, exactly once. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/job.h"

struct api_req;

/* Submits specs[0..n) (copied; nothing is taken) with new ids. batch: the
 * body was an array (202 {"ids"}), else one job (202 {"id"} + Location).
 * wait_ms > 0 (single job only): 200 with the finished job, or 202 with
 * the job as it stands when the wait ends. */
void jobreq_submit(struct api_req *r, const struct job_spec *specs, size_t n, bool batch, int64_t wait_ms);
/* Answers job r->id (a valid id): 200 with it, or after wait_ms > 0 at the
 * latest, as soon as it has ended; 404 when unknown or expired. */
void jobreq_get(struct api_req *r, int64_t wait_ms);
/* Submits `spec` and answers 200 with the finished job, or 504 when it has
 * not finished after timeout_ms. The job is cancelled if the client leaves
 * before a worker starts it. */
void jobreq_run(struct api_req *r, const struct job_spec *spec, int64_t timeout_ms);

/* The order of events in a waiting request, exposed for its unit test.
 * Its command (ENQUEUE or WATCH) and its waiter run on different Redis
 * connections, so either can end first; the state says what has happened.
 *
 *   SENT --waiter: job--> FINISHED --answered--> reply the finished job
 *   SENT --waiter: time-> EXPIRED ---answered--> expire
 *   SENT --answered-----> WAITING --waiter: job--> reply the finished job
 *                                 --waiter: time-> expire
 *                                 --client gone--> abandon
 *   expire: 504 (/cpu), or FETCHING: read the job and answer with it
 *
 * A failed command, and the FETCHING read, end the request from any
 * state. The client leaving is acted on in WAITING only: in the other
 * states a command is in flight and its reply ends the request (when it
 * would enter WAITING, the request is abandoned instead). */
enum jobreq_state {
    JOBREQ_SENT,     /* the command is in flight; the waiter waits */
    JOBREQ_FINISHED, /* the command is in flight; the waiter has the finished job */
    JOBREQ_EXPIRED,  /* the command is in flight; the waiter's time has passed */
    JOBREQ_WAITING,  /* the command has answered; only the waiter is in flight */
    JOBREQ_FETCHING, /* only a read of the job is in flight */
    JOBREQ_ENDED,    /* answered */
    JOBREQ_STATES
};
enum jobreq_event {
    JOBREQ_ANSWERED, /* the command answered: the job exists and has not ended */
    JOBREQ_ENDS,     /* the waiter got the finished job */
    JOBREQ_TIMES_OUT,/* the waiter's time passed */
    JOBREQ_GONE,     /* the client left */
    JOBREQ_EVENTS
};
enum jobreq_action {
    JOBREQ_NOTHING,        /* wait for the next event */
    JOBREQ_WAIT,           /* entered WAITING: abandon if the client has already left */
    JOBREQ_REPLY_FINISHED, /* answer 200 with the finished job */
    JOBREQ_EXPIRE,         /* the wait is over without a finished job */
    JOBREQ_ABANDON,        /* stop waiting; 499 */
};
/* Moves *state on `ev` and returns what to do. An event that cannot
 * happen in a state (the waiter is gone, say) changes nothing. */
enum jobreq_action jobreq_next(enum jobreq_state *state, enum jobreq_event ev);

#endif
