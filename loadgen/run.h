#ifndef OFFLOAD_LOADGEN_RUN_H
#define OFFLOAD_LOADGEN_RUN_H
/* The run engine: N connections over T event-loop threads sending one
 * request template, closed loop (each connection sends again as soon as its
 * response is in) or open loop (a schedule of send times at 1/rate; a request
 * whose time has come waits for a free connection and its latency counts
 * from the scheduled time, so a slow server cannot hide its queueing). */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loadgen/http_parse.h"
#include "loadgen/request.h"

/* Status codes are counted per value 0..RUN_CODES-1 (parsed codes are 100..999). */
#define RUN_CODES 1000

struct run_opts {
    const struct request *req;  /* sent by every connection; the caller's */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int conns;                  /* connections in all, split across threads */
    int threads;                /* event loops, each on its own thread */
    int64_t duration_ms;        /* time-bounded run when > 0 */
    uint64_t total;             /* count-bounded run when > 0: exactly this many requests */
    double rate;                /* open loop at this many requests/s when > 0 */
    int64_t timeout_ms;         /* a request older than this is a timeout; its connection reopens */
    /* After a time-bounded run ends, wait up to this long for the requests
     * still in flight — in an open loop also for those due by the end that
     * still waited for a connection, which are sent now. They are not
     * counted (the window is over) but their latency is recorded, and the
     * server is left idle. 0: abandon them. */
    int64_t drain_ms;
    bool progress;              /* a live line on stderr once a second */
    /* When set, a 2xx response is a success only if accept() also says so
     * (e.g. POST /jobs?wait=S: 200 with the job done); response bodies are
     * then captured for it. Called on the loops' threads; must not block. */
    bool (*accept)(const struct http_parser *p, void *arg);
    void *accept_arg;
    const volatile sig_atomic_t *interrupted; /* set by a signal handler: end now, report what ran; may be NULL */
};

struct run_stats {
    uint64_t requests;          /* ended within the run: responses of any status plus errors */
    uint64_t responses;         /* responses of any status */
    uint64_t ok;                /* 2xx responses (that accept() took, when set): the only success */
    uint64_t codes[RUN_CODES];  /* responses by status */
    uint64_t err_connect, err_read, err_write, err_timeout;
    uint64_t due;               /* open loop: requests whose scheduled time came during the run */
    uint64_t drained;           /* ended after the run's end (latency recorded, not counted) */
    uint64_t drained_ok;        /* 2xx among them */
    double duration_s;          /* the measured window */
    /* From the start to the last request that ended, drained ones included
     * (at least duration_s). (ok + drained_ok) / span_s is the throughput of
     * all the work the run started: unbiased even when answers come in
     * bursts, e.g. from a server that serializes them. */
    double span_s;
    struct hist *latency;       /* µs of every response (any status); owned */
};

/* Runs the load described by o and fills out (initialized here; release
 * with run_stats_free even on failure). Returns 0 when the run happened —
 * whatever the server answered — or -1 with a message in err (no memory,
 * no threads). */
int run_execute(const struct run_opts *o, struct run_stats *out, char *err, size_t errlen);
void run_stats_free(struct run_stats *s);
/* Errors of every class. */
uint64_t run_stats_errors(const struct run_stats *s);

/* Resolves host:port for connecting (the first address getaddrinfo gives).
 * Returns 0, or -1 with a message in err. */
int run_resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen, char *err, size_t errlen);

#endif
