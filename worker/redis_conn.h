#ifndef OFFLOAD_WORKER_REDIS_CONN_H
#define OFFLOAD_WORKER_REDIS_CONN_H
/* One blocking hiredis connection that knows how to come back: connect from a
 * struct redis_url, AUTH, SELECT, CLIENT SETNAME, SCRIPT LOAD of every
 * lifecycle script, and reconnect with backoff (100 ms doubling, capped at
 * 1 s) after the connection breaks. One thread per connection.
 *
 * Every connect and every command has a deadline (socket timeouts): a Redis
 * that stops answering (SIGSTOP, a partition) makes the command fail, the
 * connection is dropped and made again. A command that timed out may still
 * run when Redis catches up, so the next connection first closes the old
 * one on the server (CLIENT KILL): after a reconnect nothing sent on a
 * dropped connection can run any more, and the caller may look at what it
 * left behind (its wip list) knowing it will not change under it.
 *
 * With a redis+sentinel:// URL each connect first asks the sentinels where
 * the master is (common/sentinel.h) and checks with ROLE that it is one; a
 * command answered READONLY (the master was demoted) drops the connection
 * like a broken one, and the next connect asks again. */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/scripts.h"
#include "common/url.h"

#define REDIS_CONN_NAME_MAX 256
#define REDIS_CONN_BACKOFF_MAX_MS 1000 /* reconnect attempts are at most this far apart */
#define REDIS_CONN_SHA_LEN 40
#define REDIS_CONN_ADDR_MAX 128 /* a client's addr= in CLIENT INFO: ip:port, or a socket path:0 */

struct redis_conn {
    redisContext *ctx;                  /* NULL while disconnected */
    const struct redis_url *url;        /* borrowed; outlives the connection */
    char name[REDIS_CONN_NAME_MAX];     /* CLIENT SETNAME value */
    const char *role;                   /* "main" or "heartbeat", for logs */
    char sha[SCRIPT_COUNT][REDIS_CONN_SHA_LEN + 1];
    int connect_timeout_ms;             /* TCP connect deadline */
    int command_timeout_ms;             /* every command's deadline (socket timeout) */
    int deadline_ms;                    /* the socket timeout now set (redis_conn_blocking adds) */
    unsigned long connects;             /* successful (re)connects so far */
    int64_t down_since_ms;              /* monotonic time of the first failure, 0 while up */
    int64_t up_since_ms;                /* monotonic time of the last successful connect */
    long long client_id;                /* CLIENT INFO id of the open connection, 0 when unknown */
    char client_addr[REDIS_CONN_ADDR_MAX]; /* and its addr= (ip:port as Redis sees it) */
    long long fence_id;                 /* id of a connection dropped mid-command, to CLIENT
                                           KILL on the next connect; 0 for none */
    char fence_addr[REDIS_CONN_ADDR_MAX]; /* its address */
    bool refuse_eviction;               /* refuse a Redis that may evict keys (see redis_conn_open) */
    struct redis_addr master;           /* sentinel URLs: the master of the open connection */
};

/* Called between reconnect attempts: true = give up waiting for Redis. */
typedef bool (*redis_conn_stop_fn)(void *arg);

/* Prepares rc (disconnected). url and role (a string literal) are borrowed.
 * connect_timeout_ms bounds the TCP connect, command_timeout_ms every
 * command (setup ones included). Returns 0, or -1 when name does not fit. */
int redis_conn_init(struct redis_conn *rc, const struct redis_url *url, const char *name,
                    const char *role, int connect_timeout_ms, int command_timeout_ms);
/* One connection attempt: (sentinel URLs: find the master), connect, AUTH,
 * (sentinel URLs: ROLE is master), SELECT, SETNAME, CLIENT INFO, CLIENT
 * KILL of the connection dropped mid-command before (if any), SCRIPT LOAD.
 * Each step has the command deadline: a Redis that accepts the TCP
 * connection (the kernel's backlog) but does not answer fails the attempt.
 * Returns 0, or -1 with the reason in err (the password is never in it). */
int redis_conn_open(struct redis_conn *rc, char *err, size_t errlen);
/* Closes the connection, if any. rc may be opened again. */
void redis_conn_close(struct redis_conn *rc);
/* Returns 0 when already connected, 1 after a successful (re)connect, or -1
 * when stop(arg) said to give up first. Retries with backoff; logs the first
 * failure and the recovery, never the password. stop may be NULL. */
int redis_conn_ensure(struct redis_conn *rc, redis_conn_stop_fn stop, void *arg);

/* Run a command. Return the reply (caller frees with freeReplyObject; it may
 * be an error reply), or NULL when disconnected or the connection broke or
 * Redis did not answer within the command deadline (logged once, naming the
 * connection), or (sentinel URLs) Redis answered READONLY — then rc is
 * closed and the next redis_conn_ensure reconnects.
 * A command that got no reply may or may not have run, and may still run
 * until that reconnect has fenced the old connection. */
redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...);
/* redis_conn_command for a command that may block in Redis for up to
 * block_ms (BLMOVE ... timeout): its deadline is the command timeout plus
 * block_ms, and the usual one again after it. */
redisReply *redis_conn_blocking(struct redis_conn *rc, int block_ms, const char *fmt, ...);
redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *lens);
/* EVALSHA of script `id` with no KEYS and argc ARGV entries (lens may be NULL
 * for NUL-terminated strings). On NOSCRIPT reloads the scripts and retries
 * once. Same reply contract as redis_conn_command. */
redisReply *redis_conn_eval(struct redis_conn *rc, enum script_id id, int argc,
                            const char **argv, const size_t *lens);

/* Pipelining: sends EVALSHA of script `id` (as redis_conn_eval, without
 * its NOSCRIPT retry) and returns without waiting for the reply, which
 * redis_conn_reply reads later, replies in the order sent. Returns 0 sent,
 * or -1 when disconnected or the write broke (then rc is closed, as after
 * a command that got no reply). */
int redis_conn_send_eval(struct redis_conn *rc, enum script_id id, int argc, const char **argv,
                         const size_t *lens);
/* The reply to the oldest command sent and not yet answered, with the
 * contract of redis_conn_command; `what` names it in logs. */
redisReply *redis_conn_reply(struct redis_conn *rc, const char *what);

/* An unexpected reply as a logfmt value: the error text quoted into buf, or
 * "unexpected reply" for a reply of the wrong type. Returns buf. */
const char *redis_conn_reply_err(const redisReply *reply, char *buf, size_t len);

#endif
