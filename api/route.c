#include "api/route.h"

#include <stdbool.h>
#include <string.h>

/* A path's pattern: literal segments, and at most one "{...}" segment that
 * matches any one non-empty segment (its text goes to route_match's id). */
static const struct {
    const char *path;
    enum route route;
    int allowed;
} routes[] = {
    {"/jobs", ROUTE_JOBS, RM_POST},
    {"/jobs/{id}", ROUTE_JOB, RM_GET | RM_HEAD | RM_DELETE},
    {"/queues", ROUTE_QUEUES, RM_GET | RM_HEAD},
    {"/queues/{queue}/dead", ROUTE_DEAD, RM_GET | RM_HEAD | RM_DELETE},
    {"/queues/{queue}/dead/retry", ROUTE_DEAD_RETRY, RM_POST},
    {"/schedules", ROUTE_SCHEDULES, RM_GET | RM_HEAD | RM_POST},
    {"/schedules/{name}", ROUTE_SCHEDULE, RM_GET | RM_HEAD | RM_DELETE},
    {"/workers", ROUTE_WORKERS, RM_GET | RM_HEAD},
    {"/cpu", ROUTE_CPU, RM_GET | RM_HEAD},
    {"/io", ROUTE_IO, RM_GET | RM_HEAD},
    {"/healthz", ROUTE_HEALTHZ, RM_GET | RM_HEAD},
    {"/readyz", ROUTE_READYZ, RM_GET | RM_HEAD},
    {"/metrics", ROUTE_METRICS, RM_GET | RM_HEAD},
    {"/info", ROUTE_INFO, RM_GET | RM_HEAD},
    {"/ui", ROUTE_UI, RM_GET | RM_HEAD}, /* "/ui/" too: one trailing slash is tolerated */
    {"/ui/{file}", ROUTE_UI_FILE, RM_GET | RM_HEAD},
};

/* Whether path[0..len) fits pattern; the {segment}'s text goes to arg. */
static bool route_fits(const char *pattern, const char *path, size_t len, char arg[ROUTE_ARG_MAX])
{
    const char *open = strchr(pattern, '{');
    size_t head, tail, seg;
    const char *rest;
    if (open == NULL)
        return strlen(pattern) == len && memcmp(pattern, path, len) == 0;
    head = (size_t)(open - pattern);
    rest = strchr(open, '}') + 1;
    tail = strlen(rest);
    if (len <= head + tail || memcmp(path, pattern, head) != 0 || memcmp(path + len - tail, rest, tail) != 0)
        return false;
    seg = len - head - tail;
    if (seg >= ROUTE_ARG_MAX || memchr(path + head, '/', seg) != NULL)
        return false;
    memcpy(arg, path + head, seg);
    arg[seg] = '\0';
    return true;
}

int route_match(const char *path, struct route_match *out)
{
    size_t len;
    memset(out, 0, sizeof *out);
    out->route = ROUTE_NONE;
    if (path == NULL)
        return -1;
    len = strlen(path);
    /* one trailing slash is tolerated, as most routers do */
    if (len > 1 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (route_fits(routes[i].path, path, len, out->id)) {
            out->route = routes[i].route;
            out->allowed = routes[i].allowed;
            return 0;
        }
    }
    out->id[0] = '\0';
    return -1;
}

const char *route_allow_header(int allowed)
{
    static const char *const names[] = {"GET", "POST", "DELETE", "HEAD"};
    static char buf[16][32]; /* one per combination of the four bits; loop thread only */
    int idx = allowed & 0xf;
    char *p = buf[idx];
    if (p[0] == '\0') {
        size_t off = 0;
        for (int i = 0; i < 4; i++) {
            if (!(allowed & (1 << i)))
                continue;
            size_t n = strlen(names[i]);
            if (off)
                memcpy(p + off, ", ", 2), off += 2;
            memcpy(p + off, names[i], n);
            off += n;
        }
        p[off] = '\0';
    }
    return p;
}

const char *route_label(enum route r)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].route == r)
            return routes[i].path;
    return "other";
}
