#ifndef OFFLOAD_REQ_H
#define OFFLOAD_REQ_H
/* One HTTP request in flight through the API, from arrival to its single
 * reply. Every route handler gets one and must end it with exactly one
 * req_reply_* call, even when the client left meanwhile (evhttp then frees
 * the request). */
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/route.h"

struct app;
struct api_req;

/* Called on the loop (deferred, never inside evhttp's close callback) when
 * the client closed its connection before the reply. */
typedef void req_gone_fn(struct api_req *r);

struct api_req {
    struct app *app;
    struct evhttp_request *req;
    struct evhttp_connection *conn; /* NULL once the client left */
    enum route route;
    char id[ROUTE_ARG_MAX];         /* the path's {id}, {queue} or {name}, when the route has one */
    int64_t start_us;
    bool client_gone;
    req_gone_fn *on_gone;
    void *data;                     /* the handler's state; the handler frees it */
    struct event *gone_ev;
    struct event *watch_ev;         /* EOF watch on the client socket while we work */
};

/* Takes a new request: returns a context, or NULL on allocation failure
 * (the caller then answers 503 directly). Counts it in flight. */
struct api_req *req_new(struct app *app, struct evhttp_request *req, enum route route);
/* Replies `code` with the JSON `body` (reference stolen; may be NULL for an
 * empty JSON object) and frees r. */
void req_reply_json(struct api_req *r, int code, json_t *body);
/* Replies {"error": msg} with `code` and frees r. */
void req_reply_error(struct api_req *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Replies 404 {"error": "no job with id ID (WHY)"} and frees r. */
void req_reply_no_job(struct api_req *r, const char *id, const char *why);
/* Replies 503 + Retry-After because Redis is not connected or is refused,
 * saying why, and frees r. */
void req_reply_unavailable(struct api_req *r);
/* Replies with a raw body (copied) and content type, and frees r. */
void req_reply_raw(struct api_req *r, int code, const char *content_type, const void *body, size_t len);
/* Replies with `body` (its contents are moved out; the caller still frees
 * the empty buffer) and content type, and frees r. */
void req_reply_buffer(struct api_req *r, int code, const char *content_type, struct evbuffer *body);
/* Adds a response header before the reply. */
void req_add_header(struct api_req *r, const char *name, const char *value);
/* Watches for the client leaving; fn runs at most once, from the loop. */
void req_on_gone(struct api_req *r, req_gone_fn *fn);
/* True when the client has hung up (checked now, on the loop thread). */
bool req_client_gone(struct api_req *r);
/* The request body in one piece (*body valid until req_body_done or the
 * reply; "" when empty). Returns 0, or -1 after answering 413 (over
 * --max-body) or 503. */
int req_body(struct api_req *r, const char **body, size_t *len);
/* Drops the body once parsed: a request that waits holds no body bytes. */
void req_body_done(struct api_req *r);
/* The value of query parameter `name` (owned by the caller: free()), or NULL. */
char *req_query(struct api_req *r, const char *name);
/* Parses ?wait=S (seconds, 0 < S <= max_s, fractions allowed) into *ms.
 * Returns 0 when absent (ms = 0) or valid, -1 when invalid. */
int req_wait_ms(struct api_req *r, double max_s, int64_t *ms);

#endif
