/* libFuzzer target: the input as a NUL-terminated request path through
 * route_match, and the matched route's method bits (and bits taken from the
 * input) through route_allow_header. */
#include "api/route.h"

#include "fuzz/fuzz.h"

/* The Allow header route_allow_header should give for bits, built here
 * independently: the RM_GET..RM_HEAD names in bit order, ", "-separated. */
static void fuzz_route_check_allow(int allowed)
{
    static const char *const names[] = {"GET", "POST", "DELETE", "HEAD"};
    char want[64] = "";
    for (int i = 0; i < 4; i++) {
        if (allowed & (1 << i)) {
            if (want[0] != '\0')
                strcat(want, ", ");
            strcat(want, names[i]);
        }
    }
    const char *got = route_allow_header(allowed);
    FUZZ_CHECK(got != NULL && strcmp(got, want) == 0, "allow 0x%x: \"%s\", want \"%s\"",
               (unsigned)allowed, got ? got : "(null)", want);
}

/* Returns the matched enum route, or -1 for an unknown path. */
static int fuzz_route_one(const uint8_t *data, size_t size)
{
    char *path = fuzz_cstr(data, size);
    struct route_match m;
    memset(&m, 0x5a, sizeof m);
    int rc = route_match(path, &m);
    size_t len = strlen(path);
    /* the path without its one tolerated trailing slash */
    size_t base = len > 1 && path[len - 1] == '/' ? len - 1 : len;

    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(fuzz_terminated(m.id, sizeof m.id), "id not terminated");
    if (rc < 0) {
        FUZZ_CHECK(m.route == ROUTE_NONE && m.allowed == 0 && m.id[0] == '\0',
                   "unknown path left route %d allowed %d", (int)m.route, m.allowed);
    } else {
        /* the path is the route's label with its {segment}, if any, replaced
         * by the id: literally what route_match was asked to match */
        const char *label = route_label(m.route);
        const char *open = strchr(label, '{');
        size_t idlen = strlen(m.id);
        FUZZ_CHECK(m.route > ROUTE_NONE && m.route < ROUTE_COUNT, "route %d", (int)m.route);
        FUZZ_CHECK(m.allowed != 0 && (m.allowed & ~(RM_GET | RM_POST | RM_DELETE | RM_HEAD)) == 0,
                   "allowed %d", m.allowed);
        if (open == NULL) {
            FUZZ_CHECK(m.id[0] == '\0', "fixed route with id \"%s\"", m.id);
            FUZZ_CHECK(strlen(label) == base && strncmp(label, path, base) == 0, "\"%s\" matched %s", path,
                       label);
        } else {
            size_t head = (size_t)(open - label);
            const char *tail = strchr(open, '}') + 1;
            FUZZ_CHECK(idlen >= 1 && idlen < sizeof m.id && strchr(m.id, '/') == NULL, "id \"%s\"", m.id);
            FUZZ_CHECK(base == head + idlen + strlen(tail) && strncmp(path, label, head) == 0 &&
                           memcmp(path + head, m.id, idlen) == 0 &&
                           strncmp(path + head + idlen, tail, strlen(tail)) == 0,
                       "\"%s\" gave %s with \"%s\"", path, label, m.id);
        }
        if (m.route == ROUTE_JOB)
            FUZZ_CHECK(m.allowed == (RM_GET | RM_HEAD | RM_DELETE), "job allowed %d", m.allowed);
    }
    if (rc == 0)
        fuzz_route_check_allow(m.allowed);

    /* Any int: the header covers the four known bits and ignores the rest. */
    int bits = 0;
    if (size > 0)
        memcpy(&bits, data, size < sizeof bits ? size : sizeof bits);
    fuzz_route_check_allow(bits);
    free(path);
    return rc == 0 ? (int)m.route : -1;
}

FUZZ_ENTRY(fuzz_route_one)
