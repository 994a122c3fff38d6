#ifndef OFFLOAD_HARNESS_CMDRUN_H
#define OFFLOAD_HARNESS_CMDRUN_H
/* Runs a program to its end with its stdout and stderr captured, for tests
 * of command-line tools: what a user would see, and the exit status. */
#include <jansson.h>

/* What one run did. */
struct cmdrun {
    int status;   /* the exit status; -1 when killed by a signal or timed out */
    char *out;    /* stdout, NUL-terminated, owned */
    char *err;    /* stderr, NUL-terminated, owned */
    json_t *json; /* stdout parsed as one JSON value, or NULL */
};

/* Runs argv through harness_spawn (so it dies with the test) with env_extra
 * as there ("NAME=value", NULL-terminated, or NULL), killing it after
 * timeout_ms. Returns 0 with r filled (free with cmdrun_free), or -1 when it
 * could not be started (nothing to free). Call from the test's main thread. */
int cmdrun_exec(const char *const argv[], const char *const env_extra[], int timeout_ms,
                struct cmdrun *r);
void cmdrun_free(struct cmdrun *r);

#endif
