#ifndef OFFLOAD_ROUTE_H
#define OFFLOAD_ROUTE_H
/* The route table: a pure function from (method, path) to a route, so the
 * matcher can be unit-tested and fuzzed apart from the server. */
#include <stddef.h>

#define ROUTE_ARG_MAX 72 /* bytes of a path's {id}, {queue}, {name} or {file}, NUL included */

enum route {
    ROUTE_NONE,       /* 404 */
    ROUTE_JOBS,       /* /jobs */
    ROUTE_JOB,        /* /jobs/{id} */
    ROUTE_QUEUES,     /* /queues */
    ROUTE_CPU,        /* /cpu */
    ROUTE_IO,         /* /io */
    ROUTE_HEALTHZ,    /* /healthz */
    ROUTE_READYZ,     /* /readyz */
    ROUTE_METRICS,    /* /metrics */
    ROUTE_INFO,       /* /info */
    ROUTE_DEAD,       /* /queues/{queue}/dead */
    ROUTE_DEAD_RETRY, /* /queues/{queue}/dead/retry */
    ROUTE_SCHEDULES,  /* /schedules */
    ROUTE_SCHEDULE,   /* /schedules/{name} */
    ROUTE_WORKERS,    /* /workers */
    ROUTE_UI,         /* /ui: the dashboard's page */
    ROUTE_UI_FILE,    /* /ui/{file}: the dashboard's other files */
    ROUTE_COUNT
};

enum route_method {
    RM_GET = 1,
    RM_POST = 2,
    RM_DELETE = 4,
    RM_HEAD = 8,
    RM_OTHER = 16,
};

struct route_match {
    enum route route;
    int allowed;       /* RM_* bits the route accepts */
    char id[ROUTE_ARG_MAX]; /* the {id}, {queue}, {name} or {file} segment, as sent (the handler checks it) */
};

/* Matches a path (without query). Returns 0 when the route exists (check
 * `allowed` for the method), -1 for an unknown path. Never reads past the
 * NUL; a {segment} of ROUTE_ARG_MAX bytes or more gives an unknown path. */
int route_match(const char *path, struct route_match *out);
/* "GET, HEAD" style Allow header value for the bits. Static storage. */
const char *route_allow_header(int allowed);
/* A stable label for metrics: "/jobs/{id}", "/queues/{queue}/dead" etc. */
const char *route_label(enum route r);

#endif
