#include "api/serial.h"

#include <stdlib.h>

struct serial_item {
    serial_fn *fn;
    void *arg;
    struct serial_item *next;
};

struct serial {
    struct event *tick;
    struct serial_item *head, *tail;
};

static void serial_arm(struct serial *s)
{
    /* a zero timer, not event_active: timers run after the loop has polled
     * the sockets, so the previous item's reply goes out first */
    struct timeval zero = {0, 0};
    evtimer_add(s->tick, &zero);
}

static void serial_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct serial *s = arg;
    struct serial_item *it = s->head;
    (void)fd;
    (void)what;
    if (it == NULL)
        return;
    s->head = it->next;
    if (s->head == NULL)
        s->tail = NULL;
    else
        serial_arm(s);
    it->fn(it->arg);
    free(it);
}

struct serial *serial_new(struct event_base *base)
{
    struct serial *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->tick = evtimer_new(base, serial_tick_cb, s);
    if (s->tick == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void serial_free(struct serial *s)
{
    if (s == NULL)
        return;
    while (s->head) {
        struct serial_item *it = s->head;
        s->head = it->next;
        if (s->head == NULL)
            s->tail = NULL; /* an item this one submits is queued, and run, after it */
        it->fn(it->arg);
        free(it);
    }
    event_free(s->tick);
    free(s);
}

int serial_submit(struct serial *s, serial_fn *fn, void *arg)
{
    struct serial_item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return -1;
    it->fn = fn;
    it->arg = arg;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    if (s->head == it)
        serial_arm(s);
    return 0;
}
