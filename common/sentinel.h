#ifndef OFFLOAD_SENTINEL_H
#define OFFLOAD_SENTINEL_H
/* Finding the Redis master of a redis+sentinel:// URL. The sentinels are
 * asked in the URL's order, `SENTINEL get-master-addr-by-name MASTER`,
 * until one names an address; the caller connects there and checks with
 * ROLE (sentinel_role_check) that the server is a master, since a sentinel
 * may not have seen a failover yet and a demoted master still accepts
 * connections. A connection that drops, or a write answered READONLY
 * (sentinel_readonly), sends the caller back here.
 *
 * Two ways to ask, one answer: sentinel_resolve blocks with a deadline per
 * sentinel (the worker's threads); a sentinel_ask runs on a libevent loop
 * and never blocks it (the API, the movers). The sentinels' own password
 * (?sentinel_password=) is sent with AUTH when given; the URL's password
 * is the master's and never goes to a sentinel. */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/url.h"

#define SENTINEL_TIMEOUT_DEFAULT_MS 1000 /* per sentinel, when the caller has no deadline of its own */
#define SENTINEL_ERR_MAX 512             /* what every sentinel said, for one log line or 503 answer */

/* Reads a SENTINEL get-master-addr-by-name reply (borrowed) into out.
 * Returns 0, or -1 with why ("does not know master X", an error reply...). */
int sentinel_reply_addr(const redisReply *r, const char *master, struct redis_addr *out, char *why,
                        size_t len);
/* Reads a ROLE reply (borrowed). Returns 0 when the server is a master,
 * or -1 with why ("it is a replica of h:p"). */
int sentinel_role_check(const redisReply *r, char *why, size_t len);
/* True for an error reply that says the server is read-only: it was a
 * master and is a replica now, so the master is to be found again. */
bool sentinel_readonly(const redisReply *r);

/* Asks u's sentinels in turn, each within timeout_ms for its connect and
 * again for each command. Returns 0 with the master's address in out, or
 * -1 with what each sentinel said in err (no password in it). Blocks. */
int sentinel_resolve(const struct redis_url *u, int timeout_ms, struct redis_addr *out, char *err,
                     size_t errlen);

struct sentinel_ask;

/* The answer of a sentinel_ask: master is the address (borrowed for the
 * call), or NULL and err says what each sentinel said. Runs from a libevent
 * event, never inside a hiredis callback. */
typedef void sentinel_ask_fn(void *arg, const struct redis_addr *master, const char *err);

/* Makes an idle asker on base for u's sentinels. u is borrowed (it must
 * outlive the asker); fn runs once per sentinel_ask_start. Returns NULL
 * when out of memory. Free with sentinel_ask_free. */
struct sentinel_ask *sentinel_ask_new(struct event_base *base, const struct redis_url *u,
                                      sentinel_ask_fn *fn, void *arg);
/* Starts a round: each sentinel in turn gets timeout_ms for its connect
 * and answer. fn runs once, later, from the loop. A round already under way
 * goes on (and answers once). */
void sentinel_ask_start(struct sentinel_ask *sa, int64_t timeout_ms);
/* Stops any round (fn does not run) and frees. Call from the loop, never
 * inside a hiredis callback. sa may be NULL. */
void sentinel_ask_free(struct sentinel_ask *sa);

#endif
