#ifndef OFFLOAD_CONFIG_H
#define OFFLOAD_CONFIG_H
/* Command-line flags with environment twins. A flag on the command line wins
 * over its environment variable, which wins over the default already stored
 * in the destination. Strings are never copied: a parsed string points into
 * argv or the environment, which outlive the program's use of them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum opt_type {
    OPT_STR,      /* dst: const char ** */
    OPT_INT,      /* dst: long *, checked against [min, max] */
    OPT_DURATION, /* dst: int64_t * in milliseconds; "250ms", "5s", "2m", "1h", bare = seconds; [min, max] in ms */
    OPT_BOOL,     /* dst: bool *; the flag alone sets true; env "1/true/yes/on" or "0/false/no/off" */
    OPT_DOUBLE,   /* dst: double *, checked against [min, max] */
    OPT_LIST,     /* dst: struct opt_list *; repeatable: each flag appends; the environment
                     twin is one entry (its reader splits it) and any flag replaces it */
};

#define OPT_LIST_MAX 32

/* The values of a repeatable flag, in command-line order. */
struct opt_list {
    const char *items[OPT_LIST_MAX];
    size_t n;
    bool from_env; /* items[0] came from the environment twin */
};

struct opt {
    const char *name;  /* long name without dashes: "listen" → --listen X or --listen=X */
    char short_name;   /* 'c' → -c X, or 0 */
    const char *env;   /* environment twin, or NULL */
    enum opt_type type;
    void *dst;
    double min, max;   /* range for OPT_INT / OPT_DURATION / OPT_DOUBLE; both 0 = unchecked */
    const char *help;  /* one line for --help, including the default */
};

struct config_spec {
    const char *prog;    /* "api" */
    const char *usage;   /* "api [flags]" — first line of --help */
    const char *about;   /* one sentence under it, or NULL */
    const struct opt *opts;
    size_t nopts;
    bool allow_positional; /* false: a positional argument is an error */
};

enum config_result {
    CONFIG_OK = 0,     /* parsed; *first_positional is the index of the first non-flag argument (argc if none) */
    CONFIG_EXIT = 1,   /* --help or --version was printed to stdout: exit 0 */
    CONFIG_ERROR = -1, /* err holds a message naming the flag: print it, exit 2 */
};

/* Parses argv[1..argc) (stops at "--" or, when allow_positional, at the first
 * positional argument) after applying environment twins. */
enum config_result config_parse(const struct config_spec *spec, int argc, char **argv,
                                int *first_positional, char *err, size_t errlen);
/* Prints --help text for spec to stdout. */
void config_usage(const struct config_spec *spec);

/* "250ms" "5s" "1.5s" "2m" "1h" "10" (seconds) → milliseconds. Returns 0, or
 * -1 on anything else (empty, negative, unknown unit, overflow). */
int duration_parse_ms(const char *s, int64_t *ms);

/* The project's version string, e.g. "0.1.0". */
extern const char offload_version[];

#endif
