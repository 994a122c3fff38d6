#ifndef OFFLOAD_LOADGEN_PACE_H
#define OFFLOAD_LOADGEN_PACE_H
/* The open-loop schedule: requests at a fixed rate, request g of the whole
 * run intended at t0 + g/rate. Latency counts from that intended time, not
 * from the send, so a server that makes requests wait for a connection
 * cannot hide its queueing (no coordinated omission, as wrk2). A run may
 * split the schedule between senders (one per event loop): sender `offset`
 * of `stride` takes requests offset, offset + stride, ...; its own k-th
 * request is g = k * stride + offset. */
#include <stdbool.h>
#include <stdint.h>

struct event;

struct pace {
    uint64_t t0_ns;     /* the run's start: request 0's time */
    double interval_ns; /* between two requests of the whole run: 1/rate */
    uint64_t stride;    /* senders sharing the schedule */
    uint64_t offset;    /* this sender's place among them */
};

/* The schedule of sender `offset` of `stride` (>= 1) at `rate` (> 0)
 * requests/s in all, starting at t0_ns (CLOCK_MONOTONIC ns). */
void pace_init(struct pace *p, uint64_t t0_ns, double rate, uint64_t stride, uint64_t offset);

/* When this sender's k-th request (from 0) is due, in ns. */
uint64_t pace_intended(const struct pace *p, uint64_t k);

/* Whether this sender's k-th request is due at `now`. */
bool pace_due(const struct pace *p, uint64_t k, uint64_t now);

/* How many of this sender's requests are due by t. */
uint64_t pace_due_by(const struct pace *p, uint64_t t);

/* Arms the timer ev (the caller's) for this sender's k-th request: at its
 * intended time, or on the loop's next turn when that has passed. */
void pace_arm(const struct pace *p, struct event *ev, uint64_t k, uint64_t now);

#endif
