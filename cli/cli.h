#ifndef OFFLOAD_CLI_H
#define OFFLOAD_CLI_H
/* What every `offload` command shares: the settings from the command line,
 * the exit statuses, and the flags every command accepts. */
#include <signal.h>
#include <stdbool.h>

#include "common/config.h"

/* The exit statuses scripts rely on (README "offload", and `offload --help`). */
enum cli_exit {
    CLI_EXIT_OK = 0,         /* done, or accepted */
    CLI_EXIT_JOB_FAILED = 1, /* the job ended failed, dead or cancelled */
    CLI_EXIT_USAGE = 2,      /* a bad command, flag or argument: nothing was sent */
    CLI_EXIT_NOT_DONE = 3,   /* --wait ran out before the job finished */
    CLI_EXIT_API = 4,        /* the API refused, or could not be reached */
};

/* The text of the table above, for --help. */
#define CLI_EXIT_HELP                                                                          \
    "exit status: 0 done or accepted, 1 the job ended failed/dead/cancelled, 2 usage error,\n" \
    "3 not finished within --wait, 4 API or network error"

#define CLI_API_DEFAULT "http://127.0.0.1:8080"

struct http_client;

/* One run of the command. Strings point into argv or the environment. */
struct cli {
    const char *api;   /* the API's base URL */
    const char *token; /* bearer token, "" = none */
    bool json;         /* print the API's JSON instead of tables */
    volatile sig_atomic_t *stop; /* set by a signal handler: give up requests in flight, or NULL */
    struct http_client *http;    /* made by the first api_call; api_close frees it */
};

/* The flags every command takes after its name too (`offload stats --json`).
 * No environment twins here: main applied those already, and applying them
 * again would override a flag given before the command. */
#define CLI_OPTS_COMMON(c)                                                                   \
    {"api", 0, NULL, OPT_STR, &(c)->api, 0, 0, "the API's base URL (" CLI_API_DEFAULT ")"}, \
    {"token", 0, NULL, OPT_STR, &(c)->token, 0, 0, "the API's bearer token (none)"},        \
    {"json", 0, NULL, OPT_BOOL, &(c)->json, 0, 0, "print the API's JSON, not a table"}

#define CLI_NOPTS(a) (sizeof(a) / sizeof((a)[0]))

#endif
