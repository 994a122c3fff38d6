#ifndef OFFLOAD_CONN_H
#define OFFLOAD_CONN_H
/* The client connections: how many are open, and a guard on each against
 * slow clients (slowloris): a connection must deliver a complete request
 * within --header-timeout of being opened or of its previous answer, or it
 * is closed. evhttp's own timeout is an idle timeout, which a client
 * trickling one byte at a time never trips. The table also holds the
 * accept gate (api/accept.h) that keeps the count under --max-conns. */
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

struct app;
struct conn_table;

/* An empty table, or NULL. Free with conn_table_free after evhttp_free. */
struct conn_table *conn_table_new(struct app *app);
void conn_table_free(struct conn_table *t);
/* After app->bound is set: caps the connections at --max-conns and backs
 * off when descriptors run out (accept_gate_attach). 0 or -1. */
int conn_table_listen(struct conn_table *t);
/* For evhttp_set_bevcb: the bufferevent evhttp will use for a new
 * connection, with its guard attached (arg is the app). */
struct bufferevent *conn_bevcb(struct event_base *base, void *arg);
/* A complete request arrived on evcon: stop its clock. The connection's
 * one close callback is the request's until conn_request_done: call this
 * after setting it, and conn_request_done after clearing it. */
void conn_request_seen(struct app *app, struct evhttp_connection *evcon);
/* The answer is being sent: the next request's clock starts, and the close
 * callback is the guard's again. */
void conn_request_done(struct app *app, struct evhttp_connection *evcon);
/* evhttp is closing evcon while a request holds its close callback
 * (api/req.c forwards it): the connection stops counting at once. */
void conn_closing(struct app *app, struct evhttp_connection *evcon);
/* Whether an answer of `more` bytes must be refused: what already waits for
 * clients that do not read is at --max-output (small answers always pass;
 * what waits stays under the bound plus one answer). */
bool conn_output_full(const struct app *app, size_t more);

/* Bytes held for clients, for /metrics. */
struct conn_bytes {
    size_t bodies;         /* received for unfinished requests */
    size_t output;         /* answers not yet sent */
    unsigned long refused; /* requests answered 503 for --max-body-total */
};
void conn_bytes(const struct conn_table *t, struct conn_bytes *out);
/* Client connections open now: a closed one stops counting when evhttp
 * frees it (at once), or within CONN_SWEEP_MS if it had to be found by its
 * socket. */
long conn_count(const struct conn_table *t);

#endif
