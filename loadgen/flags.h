#ifndef OFFLOAD_LOADGEN_FLAGS_H
#define OFFLOAD_LOADGEN_FLAGS_H
/* The command line of the programs in loadgen/ (loadgen's commands and
 * slowsvc): config_parse with their exit codes, and the split of -H values
 * and positionals out of argv for `loadgen URL`. */
#include <stddef.h>

#include "common/config.h"

/* config_parse for one of these programs: returns -1 when the command goes on
 * (*first set), else the exit code to return now — 0 after --help or
 * --version, 2 after a bad flag (reported on stderr as "<prog>: ..."). */
int flags_parse(const struct config_spec *spec, int argc, char **argv, int *first);

/* Moves every -H/--header value out of argv into headers (pointers into
 * argv) and the positional arguments after the flags, so config_parse sees
 * `prog flags... -- positionals...` whatever order the user typed. The spec
 * says which flags take a value, so values are not taken for positionals.
 * out_argv must have room for argc + 2 entries (it ends with NULL), headers
 * for argc; both are the caller's and hold pointers into argv. Returns the
 * new argc, or -1 with a message in err (a -H without a value). */
int flags_split_args(const struct config_spec *spec, int argc, char **argv, char **out_argv, const char **headers,
                     size_t *nheaders, char *err, size_t errlen);

#endif
