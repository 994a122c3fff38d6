#include "api/route.h"

#include <string.h>

static const struct {
    const char *path;
    enum route route;
    int allowed;
    const char *label;
} routes[] = {
    {"/jobs", ROUTE_JOBS, RM_POST, "/jobs"},
    {"/queues", ROUTE_QUEUES, RM_GET | RM_HEAD, "/queues"},
    {"/cpu", ROUTE_CPU, RM_GET | RM_HEAD, "/cpu"},
    {"/io", ROUTE_IO, RM_GET | RM_HEAD, "/io"},
    {"/healthz", ROUTE_HEALTHZ, RM_GET | RM_HEAD, "/healthz"},
    {"/readyz", ROUTE_READYZ, RM_GET | RM_HEAD, "/readyz"},
    {"/metrics", ROUTE_METRICS, RM_GET | RM_HEAD, "/metrics"},
    {"/info", ROUTE_INFO, RM_GET | RM_HEAD, "/info"},
};

#define JOB_PREFIX "/jobs/"

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
        if (strlen(routes[i].path) == len && memcmp(routes[i].path, path, len) == 0) {
            out->route = routes[i].route;
            out->allowed = routes[i].allowed;
            return 0;
        }
    }
    if (len > strlen(JOB_PREFIX) && strncmp(path, JOB_PREFIX, strlen(JOB_PREFIX)) == 0) {
        const char *id = path + strlen(JOB_PREFIX);
        size_t idlen = len - strlen(JOB_PREFIX);
        if (idlen >= sizeof out->id || memchr(id, '/', idlen) != NULL)
            return -1;
        memcpy(out->id, id, idlen);
        out->id[idlen] = '\0';
        out->route = ROUTE_JOB;
        out->allowed = RM_GET | RM_HEAD | RM_DELETE;
        return 0;
    }
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
    if (r == ROUTE_JOB)
        return "/jobs/{id}";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].route == r)
            return routes[i].label;
    return "other";
}
