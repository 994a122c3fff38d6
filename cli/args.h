#ifndef OFFLOAD_CLI_ARGS_H
#define OFFLOAD_CLI_ARGS_H
/* A command's arguments: its flags (config_parse) wherever they stand among
 * its positional arguments, as `offload enqueue burn '{}' -q q --wait 5`. */
#include <stdbool.h>

#include "common/config.h"

/* Parses argv[1..argc) against spec (whose options have no environment
 * twins: they would be applied again at each positional). After "--"
 * everything is positional. Fills pos with the positional arguments
 * (pointers into argv), at most maxpos of them, count in *npos. Returns -1
 * when the command goes on, else its exit status: 0 after --help printed,
 * 2 after saying on stderr what is wrong ("offload PROG: ..."). */
int args_parse(const struct config_spec *spec, int argc, char **argv, const char **pos,
               int maxpos, int *npos);

/* True when id is a job id (32 hex characters); else says so on stderr as
 * "offload PROG: ...". */
bool args_job_id_ok(const char *prog, const char *id);
/* True when q is a queue name; else says so on stderr. */
bool args_queue_ok(const char *prog, const char *q);

#endif
