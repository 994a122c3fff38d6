/* The open-loop schedule; see pace.h. */
#include "loadgen/pace.h"

#include <math.h>

#include <event2/event.h>

#include "common/clock.h"

#define PACE_NS_PER_S 1e9

void pace_init(struct pace *p, uint64_t t0_ns, double rate, uint64_t stride, uint64_t offset)
{
    p->t0_ns = t0_ns;
    p->interval_ns = PACE_NS_PER_S / rate;
    p->stride = stride;
    p->offset = offset;
}

uint64_t pace_intended(const struct pace *p, uint64_t k)
{
    double g = (double)k * (double)p->stride + (double)p->offset; /* the request's place in the whole schedule */
    return p->t0_ns + (uint64_t)(g * p->interval_ns);
}

bool pace_due(const struct pace *p, uint64_t k, uint64_t now)
{
    return pace_intended(p, k) <= now;
}

uint64_t pace_due_by(const struct pace *p, uint64_t t)
{
    if (t < p->t0_ns)
        return 0;
    double x = (double)(t - p->t0_ns) / p->interval_ns - (double)p->offset;
    return x < 0 ? 0 : (uint64_t)floor(x / (double)p->stride) + 1;
}

void pace_arm(const struct pace *p, struct event *ev, uint64_t k, uint64_t now)
{
    uint64_t t = pace_intended(p, k);
    uint64_t us = t > now ? (t - now + 999) / 1000 : 0;
    struct timeval tv = clock_us_timeval((int64_t)us);
    evtimer_add(ev, &tv);
}
