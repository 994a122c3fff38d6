#ifndef OFFLOAD_SERIAL_H
#define OFFLOAD_SERIAL_H
/* Blocking work on the event loop itself, one item per loop turn: the
 * anti-pattern modes (/cpu?mode=inline, /io?mode=blocking) run here. Between
 * two items the loop turns once, so each reply is written before the next
 * item blocks, as a one-thread server would do, while everything else
 * (/healthz included) waits behind the item that runs. */
#include <event2/event.h>

struct serial;

typedef void serial_fn(void *arg);

/* Returns a new empty queue on base, or NULL. */
struct serial *serial_new(struct event_base *base);
/* Runs what is queued, then frees. */
void serial_free(struct serial *s);
/* Queues fn(arg) to run on the loop after the items before it. Returns 0,
 * or -1 on allocation failure (nothing queued). */
int serial_submit(struct serial *s, serial_fn *fn, void *arg);

#endif
