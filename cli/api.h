#ifndef OFFLOAD_CLI_API_H
#define OFFLOAD_CLI_API_H
/* The offload API as the command sees it: a request, its JSON answer, and
 * every failure turned into a message on stderr and an exit status. */
#include <jansson.h>
#include <stdint.h>

#include "cli/cli.h"

/* How long a request may take beyond what it asks the API to wait for. */
#define API_TIMEOUT_MS 10000

enum api_flags {
    API_QUIET_404 = 1, /* a 404 returns CLI_EXIT_API without a message (a route not there yet) */
};

/* Sends method path (already escaped; only validated names go in) with body
 * (NULL: none) and waits API_TIMEOUT_MS + extra_ms. On a 2xx answer returns
 * CLI_EXIT_OK with *out its JSON (new reference; JSON null for an empty
 * body). Otherwise prints "offload: METHOD PATH: why" to stderr and returns
 * CLI_EXIT_API, or CLI_EXIT_USAGE when --api is no http(s) URL. *code gets
 * the HTTP status, 0 when none came (code may be NULL). */
int api_call(struct cli *c, const char *method, const char *path, const json_t *body,
             int64_t extra_ms, unsigned flags, json_t **out, long *code);
/* GETs path and prints the answer: its JSON with --json, else through
 * print (which returns 0, or -1 on OOM). Returns the exit status. */
int api_show(struct cli *c, const char *path, int (*print)(const json_t *answer));
/* Frees the connection api_call made in c. Safe to call twice. */
void api_close(struct cli *c);
/* Prints j to stdout the way --json promises: indented, one newline.
 * Returns CLI_EXIT_OK. */
int api_print_json(const json_t *j);

#endif
