#ifndef OFFLOAD_PROXY_H
#define OFFLOAD_PROXY_H
/* GET /io: the seed's IO experiment. `async` proxies through libcurl's
 * multi-socket interface driven by the API's libevent loop (kept-alive
 * connections, no thread); `blocking` calls curl_easy_perform on the loop
 * (the seed's 1-thread server); `thread` makes blocking calls on the pool. */
#include <event2/event.h>
#include <stdint.h>

struct proxy;
struct api_req;

/* Creates the multi handle on `base`. `upstream` and the timeout are
 * copied. Returns NULL on failure. */
struct proxy *proxy_new(struct event_base *base, const char *upstream, int64_t timeout_ms, long max_conns);
/* Aborts every transfer (their requests get 503) and frees. */
void proxy_free(struct proxy *p);
/* Handles GET /io?mode=... */
void proxy_handle_io(struct proxy *p, struct api_req *r);
long proxy_active(const struct proxy *p);

#endif
