#ifndef OFFLOAD_HARNESS_H
#define OFFLOAD_HARNESS_H
/* Helpers for integration tests that start real processes: free ports,
 * a private redis-server, spawning the project's binaries, bounded waits.
 *
 * Every process started through harness_spawn (and so every redis-server) is
 * recorded; an atexit handler SIGKILLs and reaps whatever is still alive, and
 * each child gets PR_SET_PDEATHSIG=SIGKILL so it dies with the test even when
 * the test itself is SIGKILLed (e.g. by Check's timeout). Start processes from
 * the test's main thread: the death signal follows the thread that forked. */
#include <check.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define HARNESS_MAX_CHILDREN 256

/* A private redis-server. Set the fields marked "in" before harness_redis_start
 * (zero-initialise the struct first); the others are filled in. */
struct harness_redis {
    int port;          /* in/out: 0 = pick a free port */
    bool persist;      /* in: AOF with fsync always in `dir`: data survives a restart */
    pid_t pid;         /* out: 0 when stopped */
    char url[64];      /* out: "redis://127.0.0.1:PORT" */
    char dir[64];      /* out: private temporary directory with redis.log (removed by _stop) */
};

/* A TCP port on 127.0.0.1 that was free a moment ago (bind port 0), or -1. */
int harness_free_port(void);
/* Makes a fresh directory "<run dir or /tmp>/<name>-XXXXXX" into dir (len
 * bytes). Returns 0, or -1 with dir emptied. */
int harness_tmpdir(char *dir, size_t len, const char *name);
/* rm -rf of a directory harness_tmpdir made; empties dir. "" does nothing. */
void harness_dir_remove(char *dir);

/* Starts redis-server on r->port (a free one when 0) and waits until it answers
 * PING (10 s at most). Returns 0, or -1 (nothing left running). */
int harness_redis_start(struct harness_redis *r);
/* SIGKILLs and reaps the server and removes its directory. Safe to call twice. */
void harness_redis_stop(struct harness_redis *r);
/* SIGKILLs the server and starts a new one on the same port (same directory
 * and data when persist). Returns 0 or -1. */
int harness_redis_restart(struct harness_redis *r);
/* Kills the server without removing its directory (for restart tests that want
 * a gap while Redis is down). harness_redis_restart or _stop follow. */
void harness_redis_kill(struct harness_redis *r);
/* Starts the server again on the same port after harness_redis_kill. */
int harness_redis_resume(struct harness_redis *r);
/* SIGTERMs the server and waits for it to exit (a clean shutdown: with
 * persist, the AOF is complete), keeping its directory for
 * harness_redis_resume. Returns 0 when it exited 0, else -1 (it is then
 * SIGKILLed). */
int harness_redis_shutdown(struct harness_redis *r);
/* A new blocking connection to r (2 s connect timeout, 5 s command timeout),
 * or NULL. Free with redisFree. */
redisContext *harness_redis_connect(const struct harness_redis *r);

/* Forks and execs argv[0] (searched in PATH when it has no '/') with the
 * current environment plus env_extra ("NAME=value" entries, NULL-terminated,
 * or NULL; an entry replaces a variable of the same name). stdin is /dev/null;
 * stdout and stderr are inherited. Returns the pid, or -1. */
pid_t harness_spawn(const char *const argv[], const char *const env_extra[]);
/* kill(pid, sig); 0 or -1. */
int harness_kill(pid_t pid, int sig);
/* Waits up to timeout_ms for pid to exit and reaps it. Returns 0 with the
 * waitpid status in *status (may be NULL), or -1 on timeout (still running). */
int harness_wait_exit(pid_t pid, int timeout_ms, int *status);
/* SIGKILLs pid and reaps it (bounded: 5 s). */
void harness_stop(pid_t pid);
/* Every recorded child still running: SIGKILL and reap. Runs atexit too. */
void harness_kill_all(void);

/* Waits until something accepts TCP connections on 127.0.0.1:port.
 * Returns 0, or -1 after timeout_ms. */
int harness_wait_port(int port, int timeout_ms);
/* Polls pred(arg) every interval_ms (10 when 0) until it returns true or
 * timeout_ms passes. Returns 0 when it became true, -1 on timeout. */
int harness_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms, int interval_ms);

/* "$OFFLOAD_BIN/name" ("bin/name" when OFFLOAD_BIN is unset). The string is
 * interned: valid until the process exits (NULL past 32 names or on OOM). */
const char *harness_bin(const char *name);

/* Runs every test of s (Check's default fork mode, CK_NORMAL output), frees
 * the runner, and returns EXIT_SUCCESS or EXIT_FAILURE for main. Redis
 * directories of the run live in one temporary directory that it removes at
 * the end, also after tests that failed before their teardown. */
int harness_run_suite(Suite *s);

/* CLOCK_MONOTONIC in milliseconds, and a sleep that resumes after signals. */
int64_t harness_now_ms(void);
void harness_sleep_ms(int ms);

#endif
