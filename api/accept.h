#ifndef OFFLOAD_ACCEPT_H
#define OFFLOAD_ACCEPT_H
/* The gate in front of evhttp's listener. It stops accepting while the
 * client connections are at --max-conns, and backs off while accept(2)
 * fails for want of descriptors or memory; meanwhile new connections wait
 * in the kernel's backlog and the open ones are served. Without it libevent
 * leaves the (level-triggered) listener enabled and warns on every failure:
 * a spin at 100% CPU that writes megabytes of log a second. */

struct app;
struct accept_gate;

/* A gate for app->bound, not yet attached, that reads the number of open
 * client connections at *open (kept by the caller, alive as long as the
 * gate); NULL when out of memory. The caller owns it: accept_gate_free,
 * after evhttp_free. */
struct accept_gate *accept_gate_new(struct app *app, const long *open);
void accept_gate_free(struct accept_gate *g);
/* Settles app->cfg.max_conns (0: the descriptor limit less a reserve; the
 * value in force is written back there and logged) and takes the accept
 * errors of app->bound's listener. 0, or -1 when there is no bound socket. */
int accept_gate_attach(struct accept_gate *g);
/* A connection was accepted (*open already counts it): the gate may
 * stop accepting. Runs inside the listener's callback. */
void accept_gate_opened(struct accept_gate *g);
/* A connection closed (*open no longer counts it): accepting resumes
 * if it was paused. Deferred to the loop, so it is safe from anywhere,
 * evhttp_free included. */
void accept_gate_closed(struct accept_gate *g);

#endif
