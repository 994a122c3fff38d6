#ifndef OFFLOAD_WORKER_REAPER_H
#define OFFLOAD_WORKER_REAPER_H
/* Finds dead workers and hands their jobs back through SCRIPT_RECOVER.
 *
 * Dead means: the heartbeat is older than the lease (a hung worker that still
 * holds its connections), or the heartbeat is older than one period plus
 * REAPER_GRACE_MS and no connection named after the worker is left in
 * CLIENT LIST (kill -9: the kernel closed its sockets, so this is caught
 * within about 1.5 s). The second check alone would misjudge a live worker
 * that is reconnecting after a Redis restart; the stale heartbeat keeps it
 * honest, and SCRIPT_RECOVER itself aborts if the worker beat in between.
 * With a persistent Redis the zset survives a restart with old beats, so
 * CLIENT LIST is not trusted until Redis has been up long enough for every
 * live worker to reconnect and beat (INFO uptime). A Redis that stalled (or
 * a stall of this process) leaves every beat stale, and past --redis-timeout
 * every worker dropped its connections and is reconnecting: after a round
 * that came REAPER_STALL_MS late, or our own reconnect, no one is judged
 * until live workers have had the same time to come back and beat.
 * On its first round and every ~10 s after, it also SCANs for wip lists whose
 * owner is not registered and has no connection: a worker that died between
 * a BLMOVE and registering, or whose BLMOVE raced with its own recovery. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/redis_conn.h"
#include "worker/settings.h"

#define REAPER_GRACE_MS 250     /* a heartbeat may be this late before we look at CLIENT LIST */
#define REAPER_SCAN_EVERY_MS 60000 /* orphaned wip lists are rare, and a SCAN walks every key: once a minute */
#define REAPER_REASON "worker lost"
/* A round this much later than the previous one means Redis (or we) stalled. */
#define REAPER_STALL_MS (WORKER_REAP_PERIOD_MS + REAPER_GRACE_MS)

enum reaper_verdict {
    REAPER_ALIVE,   /* heartbeat fresh */
    REAPER_SUSPECT, /* heartbeat late: dead if none of its connections is left */
    REAPER_DEAD,    /* heartbeat older than the lease */
};

/* Pure: what a heartbeat at beat_ms (Unix ms) says at now_ms. */
enum reaper_verdict reaper_judge(int64_t now_ms, int64_t beat_ms, int64_t lease_ms,
                                 int64_t heartbeat_ms);
/* Pure: whether CLIENT LIST output (lines of space-separated k=v fields)
 * holds a client whose name is exactly `name`. */
bool reaper_client_list_has(const char *list, const char *name);
/* Pure: uptime_in_seconds from INFO output, or -1 when absent. */
int64_t reaper_info_uptime_s(const char *info);
/* Pure: the worker id of a wip key "<prefix>wip:<id>", pointing into key, or
 * NULL when key is not one. */
const char *reaper_wip_owner(const char *key, const char *prefix);
/* Pure: escapes the glob metacharacters *?[]\ of s with backslashes into buf
 * (for SCAN MATCH). Returns 0, or -1 when it does not fit. */
int reaper_glob_escape(const char *s, char *buf, size_t len);

struct reaper {
    const struct worker_config *cfg; /* borrowed */
    int64_t next_scan_ms;            /* monotonic time of the next wip SCAN */
    int64_t last_round_ms;           /* monotonic time the previous round heard Redis, 0 before */
    unsigned long connects_seen;     /* the connection's connects at that round */
    int64_t judge_after_ms;          /* no verdicts before this (monotonic): a stall settles */
};

void reaper_init(struct reaper *r, const struct worker_config *cfg);
/* One round on rc: take the reaper lock (SET NX PX, or keep it when it is
 * already ours), judge every registered worker but ourselves and recover the
 * dead; SCAN for orphaned wip lists when due. Judges no one while a stall
 * settles (see above). Returns the number of workers recovered, or -1 when
 * the connection broke (rc is then closed). */
int reaper_tick(struct reaper *r, struct redis_conn *rc);

#endif
