#ifndef OFFLOAD_REPLWAIT_H
#define OFFLOAD_REPLWAIT_H
/* --redis-wait N: an acknowledged write is answered only once N replicas
 * have it. Redis replication is asynchronous: a write the master answered
 * can be lost when it fails before a replica has it. `WAIT N timeout`, sent
 * on the connection the write went on, returns how many replicas have
 * every write that connection sent before it.
 *
 * One WAIT therefore covers every write before it: while one is in flight
 * (it holds the connection, since Redis answers in order), the writes that
 * are answered meanwhile share the next one. At most one WAIT is in flight
 * and one batch waits for it, so a slow replica costs the connection one
 * timeout at a time, not one per job. */
#include <stdint.h>

struct rconn;
struct replwait;

/* The outcome for one write: acked is the number of replicas that
 * confirmed it (confirmed when >= the number asked for), or -1 when the
 * answer was lost (the connection dropped, or Redis refused WAIT). */
typedef void replwait_fn(void *arg, long acked);

/* Waits for `replicas` replicas on rc (borrowed: it must outlive the
 * replwait), each WAIT at most timeout_ms (at least 1). Returns NULL when
 * out of memory. Free with replwait_free. */
struct replwait *replwait_new(struct rconn *rc, long replicas, int64_t timeout_ms);
/* Asks that the writes answered so far on rc reach the replicas: call it
 * from the reply callback of the write, so the WAIT that covers it goes on
 * the same connection after it. Returns 0 and fn runs once later, or -1
 * (not connected, out of memory) and fn never runs. */
int replwait_add(struct replwait *rw, replwait_fn *fn, void *arg);
/* The number of replicas asked for. */
long replwait_replicas(const struct replwait *rw);
/* The longest a WAIT blocks, in ms. */
int64_t replwait_timeout_ms(const struct replwait *rw);
/* Frees rw. Anything still waiting gets fn with -1 first. Call once rc's
 * pending callbacks have run (after rconn_free and a loop turn). */
void replwait_free(struct replwait *rw);

#endif
