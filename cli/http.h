#ifndef OFFLOAD_CLI_HTTP_H
#define OFFLOAD_CLI_HTTP_H
/* A blocking HTTP client on libcurl's easy interface. One handle serves
 * every request of a run, so `offload top` keeps its connection. */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* One answer. */
struct http_answer {
    long code;  /* the HTTP status */
    char *body; /* NUL-terminated, owned: http_answer_free */
    size_t len;
};

struct http_client;

/* A client for base ("http://host:port", without a trailing path) sending
 * `Authorization: Bearer token` when token is non-empty. Copies both.
 * Returns NULL on OOM or when curl cannot start. Free with http_client_free. */
struct http_client *http_client_new(const char *base, const char *token);
/* Requests in flight give up soon after *stop becomes non-zero (a signal
 * handler's flag); stop must outlive the client. */
void http_client_set_stop(struct http_client *h, volatile sig_atomic_t *stop);
/* Sends method base+path with body (JSON, or NULL for none), waiting at most
 * timeout_ms. Returns 0 when an answer came (any status: see out->code;
 * free out with http_answer_free), or -1 with why in err (nothing to free). */
int http_client_request(struct http_client *h, const char *method, const char *path,
                        const char *body, int64_t timeout_ms, struct http_answer *out, char *err,
                        size_t errlen);
void http_client_free(struct http_client *h);
void http_answer_free(struct http_answer *a);

#endif
