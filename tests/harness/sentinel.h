#ifndef OFFLOAD_HARNESS_SENTINEL_H
#define OFFLOAD_HARNESS_SENTINEL_H
/* A private redis-sentinel for tests (Debian's redis-sentinel), started
 * through harness_spawn so it dies with the test, monitoring a master on
 * 127.0.0.1. */
#include <stdbool.h>
#include <sys/types.h>

/* Set the fields marked "in" before harness_sentinel_start (zero-initialise
 * the struct first); the others are filled in. */
struct harness_sentinel {
    int port;      /* in/out: 0 = pick a free port */
    pid_t pid;     /* out: 0 when stopped */
    char dir[64];  /* out: private directory with sentinel.conf and sentinel.log (removed by _stop) */
};

/* What the sentinels are told about the master they watch. */
struct harness_sentinel_watch {
    const char *master;      /* the name it is monitored under */
    int master_port;         /* on 127.0.0.1 */
    int quorum;              /* sentinels that must agree it is down */
    int down_after_ms;       /* silent this long: subjectively down */
    int failover_timeout_ms; /* and a failover is retried after this */
};

/* Starts a sentinel watching w and waits until it answers PING (10 s).
 * Returns 0, or -1 (nothing left running). */
int harness_sentinel_start(struct harness_sentinel *s, const struct harness_sentinel_watch *w);
/* SIGKILLs and reaps it and removes its directory. Safe to call twice. */
void harness_sentinel_stop(struct harness_sentinel *s);
/* Waits up to timeout_ms until sentinel s names 127.0.0.1:port as the
 * master `master` and counts at least `replicas` replicas and `others`
 * other sentinels. Returns 0, or -1 on timeout. */
int harness_sentinel_wait(const struct harness_sentinel *s, const char *master, int port, int replicas,
                          int others, int timeout_ms);

#endif
