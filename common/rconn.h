#ifndef OFFLOAD_RCONN_H
#define OFFLOAD_RCONN_H
/* One asynchronous Redis connection on a libevent loop that reconnects by
 * itself (backoff 100 ms doubling, capped at 1 s), authenticates, selects
 * the db, names itself, and loads the project's Lua scripts before it
 * reports itself ready. hiredis 0.14 has no async timeouts and no safe
 * free-inside-callback, so the context is only ever freed from a deferred
 * event. */
#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/scripts.h"
#include "common/url.h"

#define RCONN_OBUF_MAX (64u * 1024 * 1024) /* bytes of unsent commands before new ones are refused */

struct rconn;

/* Called on the loop when the connection becomes ready (up = true) or is
 * lost (up = false). Every command in flight has already had its callback
 * (with NULL) when up = false is reported. */
typedef void rconn_state_fn(struct rconn *rc, bool up, void *arg);

/* Creates the connection and starts connecting. `url` is copied; `name` is
 * the CLIENT SETNAME value (copied). Returns NULL on allocation failure.
 * Free with rconn_free. */
struct rconn *rconn_new(struct event_base *base, const struct redis_url *url, const char *name,
                        rconn_state_fn *on_state, void *arg);
/* Disconnects (deferred, never inside a hiredis callback) and frees. Pending
 * commands get their callback with a NULL reply before this returns or from
 * the loop shortly after; the state callback is not called again. */
void rconn_free(struct rconn *rc);
bool rconn_ready(const struct rconn *rc);
/* Whether a Redis that may evict keys (maxmemory-policy other than
 * noeviction) is used. By default it is refused: checked at every connect
 * and every 30 s, the connection stays not ready and says why. Call right
 * after rconn_new. */
void rconn_allow_eviction(struct rconn *rc, bool allow);
/* Why Redis is refused ("" when it is not): for /readyz. */
const char *rconn_refused(const struct rconn *rc);
/* Gives every command, and each connect with its setup, a deadline: a
 * command unanswered for timeout_ms (measured from the last reply, since
 * Redis answers in order) drops the connection; its commands get their
 * callbacks with NULL and the connection is made again. An idle ready
 * connection PINGs every second so a hung Redis is noticed without
 * traffic. Returns 0, or -1 when the watchdog cannot be made. */
int rconn_set_timeout(struct rconn *rc, int64_t timeout_ms);
/* Why the connection was last lost ("" while ready): for 503 answers. */
const char *rconn_down_reason(const struct rconn *rc);
/* Connections dropped for a missed deadline so far. */
unsigned long rconn_deadlines(const struct rconn *rc);
/* Number of times the connection was lost after having been ready. */
unsigned long rconn_reconnects(const struct rconn *rc);

/* Sends a command when ready. On success returns 0 and `cb` runs exactly
 * once later, with reply == NULL on error or disconnect (the reply belongs to
 * hiredis: copy what you keep). Returns -1, and cb is not called, when not
 * ready, when more than RCONN_OBUF_MAX bytes of commands wait unsent (Redis
 * is not reading: refuse rather than grow), or when out of memory. */
int rconn_command(struct rconn *rc, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                  const size_t *argvlen);
/* SUBSCRIBE: cb runs for every message until the connection is lost (then
 * with NULL). A subscribed connection has no command deadline or PING.
 * Returns 0 or -1 (not ready). */
int rconn_subscribe(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *channel);
/* Like rconn_command for EVALSHA of a project script: argv holds only the
 * script's ARGV (numkeys is 0). */
int rconn_script(struct rconn *rc, enum script_id id, redisCallbackFn *cb, void *priv, int argc,
                 const char **argv, const size_t *argvlen);

#endif
