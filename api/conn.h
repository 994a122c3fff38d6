#ifndef OFFLOAD_CONN_H
#define OFFLOAD_CONN_H
/* Per-connection guard against slow clients (slowloris): a connection must
 * deliver a complete request within --header-timeout of being opened or of
 * its previous answer, or it is closed. evhttp's own timeout is an idle
 * timeout, which a client trickling one byte at a time never trips. */
#include <event2/bufferevent.h>
#include <event2/http.h>

struct app;
struct conn_table;

/* An empty table, or NULL. Free with conn_table_free after evhttp_free. */
struct conn_table *conn_table_new(struct app *app);
void conn_table_free(struct conn_table *t);
/* For evhttp_set_bevcb: the bufferevent evhttp will use for a new
 * connection, with its guard attached (arg is the app). */
struct bufferevent *conn_bevcb(struct event_base *base, void *arg);
/* A complete request arrived on evcon: stop its clock. */
void conn_request_seen(struct app *app, struct evhttp_connection *evcon);
/* The answer was sent: the next request's clock starts. */
void conn_request_done(struct app *app, struct evhttp_connection *evcon);
/* Connections guarded now (closed ones linger until their clock runs out). */
long conn_count(const struct conn_table *t);

#endif
