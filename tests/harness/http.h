#ifndef OFFLOAD_HARNESS_HTTP_H
#define OFFLOAD_HARNESS_HTTP_H
/* A blocking HTTP client for tests (libcurl easy): one call, one answer. */
#include <jansson.h>
#include <stddef.h>

struct http_resp {
    long code;            /* 0 when the request failed at the transport */
    char *body;           /* NUL-terminated, owned: free with http_resp_free */
    size_t len;
    char headers[4096];   /* raw response head, for header checks */
    double total_ms;
};

/* Sends `method` to url with an optional body (NULL = none) and extra
 * header lines (NULL-terminated array or NULL). Returns 0 when an answer
 * came (see code), -1 on transport failure or timeout. */
int http_do(const char *method, const char *url, const char *body, size_t body_len,
            const char *const *headers, long timeout_ms, struct http_resp *out);
void http_resp_free(struct http_resp *r);
/* The body parsed as JSON (new reference), or NULL. */
json_t *http_resp_json(const struct http_resp *r);
/* Value of a response header (case-insensitive name) copied into buf, or NULL. */
const char *http_resp_header(const struct http_resp *r, const char *name, char *buf, size_t len);



/* Sends n GETs to url at once (libcurl multi, one connection each) and
 * waits for all. codes[i] gets each status (0 on transport failure);
 * *elapsed_ms the time until the last answer. Returns 0, or -1 on setup
 * failure. */
int http_parallel_get(const char *url, int n, long timeout_ms, long *codes, double *elapsed_ms);
#endif
