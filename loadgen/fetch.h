#ifndef OFFLOAD_LOADGEN_FETCH_H
#define OFFLOAD_LOADGEN_FETCH_H
/* One blocking HTTP GET on a private event loop, for the few control
 * requests the suite makes (/info, /queues, /healthz). */
#include <stddef.h>
#include <stdint.h>

#include "common/url.h"

struct fetch_result {
    int status;  /* 0 when no answer came */
    char *body;  /* NUL-terminated, owned; free with fetch_result_free */
    size_t len;
};

/* GETs url, waiting at most timeout_ms. Returns 0 with the answer in out,
 * or -1 with a message in err (no answer: connect, read, timeout, memory).
 * out is always initialized. */
int fetch_get(const struct http_url *url, int64_t timeout_ms, struct fetch_result *out, char *err, size_t errlen);
void fetch_result_free(struct fetch_result *r);

#endif
