#include "worker/wmover.h"

#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mover.h"

struct wmover {
    struct event_base *base;
    struct mover *mover;
    struct event *stop_ev; /* readable end of stop_pipe: the loop ends */
    int stop_pipe[2];
    pthread_t thread;
};

static void wmover_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wmover *wm = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(wm->base);
}

static void *wmover_main(void *arg)
{
    struct wmover *wm = arg;
    event_base_dispatch(wm->base);
    mover_free(wm->mover);
    wm->mover = NULL;
    event_base_loop(wm->base, EVLOOP_NONBLOCK); /* the connections' deferred frees, and the mover's */
    return NULL;
}

/* A loop whose timers fire to the microsecond (epoll's timeout is whole
 * milliseconds, rounded up, without EVENT_BASE_FLAG_PRECISE_TIMER): a
 * due job is moved ~1 ms sooner. This loop has nothing else to do. */
static struct event_base *wmover_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base = NULL;
    if (ec == NULL)
        return NULL;
    if (event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER) == 0)
        base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

/* Frees what wmover_start made; the thread is not running. */
static void wmover_free(struct wmover *wm)
{
    mover_free(wm->mover);
    if (wm->mover && wm->base)
        event_base_loop(wm->base, EVLOOP_NONBLOCK);
    if (wm->stop_ev)
        event_free(wm->stop_ev);
    if (wm->base)
        event_base_free(wm->base);
    for (int i = 0; i < 2; i++)
        if (wm->stop_pipe[i] >= 0)
            close(wm->stop_pipe[i]);
    free(wm);
}

struct wmover *wmover_start(const struct worker_config *cfg)
{
    struct wmover *wm = calloc(1, sizeof *wm);
    char name[JOB_KEY_MAX];
    if (wm == NULL)
        return NULL;
    wm->stop_pipe[0] = wm->stop_pipe[1] = -1;
    snprintf(name, sizeof name, "%smover:worker:%s", cfg->prefix, cfg->id);
    if (pipe2(wm->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || (wm->base = wmover_base()) == NULL)
        goto err;
    wm->stop_ev = event_new(wm->base, wm->stop_pipe[0], EV_READ, wmover_stop_cb, wm);
    wm->mover = mover_new(wm->base, &cfg->redis, name, cfg->prefix, cfg->redis_timeout_ms);
    if (wm->stop_ev == NULL || wm->mover == NULL || event_add(wm->stop_ev, NULL) != 0)
        goto err;
    mover_allow_eviction(wm->mover, cfg->allow_eviction);
    if (pthread_create(&wm->thread, NULL, wmover_main, wm) != 0)
        goto err;
    return wm;
err:
    log_error("cannot start the mover", NULL);
    wmover_free(wm);
    return NULL;
}

void wmover_stop(struct wmover *wm)
{
    if (wm == NULL)
        return;
    if (write(wm->stop_pipe[1], "x", 1) != 1)
        log_error("cannot stop the mover thread", NULL); /* a pipe with room: cannot happen */
    pthread_join(wm->thread, NULL);
    wmover_free(wm);
}
