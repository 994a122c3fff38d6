/* libFuzzer target: command lines through config_parse, and each argument
 * through duration_parse_ms. The input is split on NUL and newline into
 * argv[1..]; an argument "FUZZ_<TWIN>=value" naming one of the environment
 * twins below is set in the environment instead (and unset afterwards), so
 * the environment path is fuzzed too. The opt table holds every opt_type,
 * with and without a range, short name and environment twin. */
#include "common/config.h"

#include "fuzz/fuzz.h"

#define FUZZ_CONFIG_ARGS_MAX 64

/* Defaults, inside their ranges, restored before each parse. */
#define FUZZ_THREADS_DEFAULT 10
#define FUZZ_CONNS_DEFAULT 100
#define FUZZ_LEASE_DEFAULT 10000
#define FUZZ_TIMEOUT_DEFAULT 5000
#define FUZZ_RATIO_DEFAULT 1.0
#define FUZZ_SCALE_DEFAULT 0.0

static const char fuzz_config_listen_default[] = "127.0.0.1:8080";
static const char *fuzz_config_listen;
static long fuzz_config_threads;
static long fuzz_config_conns;
static int64_t fuzz_config_lease;
static int64_t fuzz_config_timeout;
static bool fuzz_config_json;
static bool fuzz_config_quiet;
static double fuzz_config_ratio;
static double fuzz_config_scale;

static const char *const fuzz_config_envs[] = {"FUZZ_LISTEN", "FUZZ_THREADS", "FUZZ_LEASE",
                                               "FUZZ_JSON", "FUZZ_RATIO"};

static const struct opt fuzz_config_opts[] = {
    {"listen", 'l', "FUZZ_LISTEN", OPT_STR, &fuzz_config_listen, 0, 0, "address"},
    {"threads", 0, "FUZZ_THREADS", OPT_INT, &fuzz_config_threads, 1, 1024, "pool size"},
    {"connections", 'c', NULL, OPT_INT, &fuzz_config_conns, 0, 0, "connections (unranged)"},
    {"lease", 0, "FUZZ_LEASE", OPT_DURATION, &fuzz_config_lease, 1000, 3600000, "lease"},
    {"timeout", 't', NULL, OPT_DURATION, &fuzz_config_timeout, 0, 0, "timeout (unranged)"},
    {"json", 0, "FUZZ_JSON", OPT_BOOL, &fuzz_config_json, 0, 0, "print JSON"},
    {"quiet", 'q', NULL, OPT_BOOL, &fuzz_config_quiet, 0, 0, "no logs"},
    {"ratio", 0, "FUZZ_RATIO", OPT_DOUBLE, &fuzz_config_ratio, 0.5, 2, "ratio"},
    {"scale", 's', NULL, OPT_DOUBLE, &fuzz_config_scale, 0, 0, "scale (unranged)"},
};

static void fuzz_config_reset(void)
{
    fuzz_config_listen = fuzz_config_listen_default;
    fuzz_config_threads = FUZZ_THREADS_DEFAULT;
    fuzz_config_conns = FUZZ_CONNS_DEFAULT;
    fuzz_config_lease = FUZZ_LEASE_DEFAULT;
    fuzz_config_timeout = FUZZ_TIMEOUT_DEFAULT;
    fuzz_config_json = false;
    fuzz_config_quiet = false;
    fuzz_config_ratio = FUZZ_RATIO_DEFAULT;
    fuzz_config_scale = FUZZ_SCALE_DEFAULT;
}

/* Sets the environment twin named by "NAME=value"; false when a is not one. */
static bool fuzz_config_setenv(const char *a)
{
    for (size_t i = 0; i < sizeof fuzz_config_envs / sizeof fuzz_config_envs[0]; i++) {
        size_t n = strlen(fuzz_config_envs[i]);
        if (strncmp(a, fuzz_config_envs[i], n) == 0 && a[n] == '=') {
            char name[32];
            memcpy(name, a, n);
            name[n] = '\0';
            if (setenv(name, a + n + 1, 1) != 0)
                abort();
            return true;
        }
    }
    return false;
}

static bool fuzz_config_positional(const char *a)
{
    return a[0] != '-' || a[1] == '\0';
}

/* duration_parse_ms: values in range, nothing written on failure, and exact
 * for plain whole seconds and milliseconds. */
static void fuzz_config_duration(const char *a)
{
    int64_t ms = -42;
    int rc = duration_parse_ms(a, &ms);
    FUZZ_CHECK(rc == 0 || rc == -1, "duration rc %d", rc);
    if (rc < 0) {
        FUZZ_CHECK(ms == -42, "\"%s\" failed but wrote %lld", a, (long long)ms);
        return;
    }
    FUZZ_CHECK(ms >= 0 && ms <= 1000000000000000LL, "\"%s\" gave %lld", a, (long long)ms);
    size_t digits = strspn(a, "0123456789");
    if (digits > 0 && digits <= 12 && a[digits] == '\0')
        FUZZ_CHECK(ms == strtoll(a, NULL, 10) * 1000, "\"%s\" gave %lld", a, (long long)ms);
    if (digits > 0 && digits <= 15 && strcmp(a + digits, "ms") == 0)
        FUZZ_CHECK(ms == strtoll(a, NULL, 10), "\"%s\" gave %lld", a, (long long)ms);
}

/* Checks what one config_parse left behind. args[0..size] is the buffer argv
 * points into. */
static void fuzz_config_check(enum config_result r, bool lenient, int argc, char **argv,
                              int pos, const char *err, size_t errlen, const char *args,
                              size_t size)
{
    FUZZ_CHECK(r == CONFIG_OK || r == CONFIG_EXIT || r == CONFIG_ERROR, "result %d", (int)r);
    if (r == CONFIG_ERROR)
        FUZZ_CHECK(fuzz_terminated(err, errlen) && err[0] != '\0', "error without a message");
    if (r != CONFIG_OK)
        return;
    FUZZ_CHECK(pos >= 1 && pos <= argc, "first_positional %d of %d", pos, argc);
    bool after_dashes = pos >= 2 && strcmp(argv[pos - 1], "--") == 0;
    bool at_positional = lenient && pos < argc && fuzz_config_positional(argv[pos]);
    FUZZ_CHECK(pos == argc || after_dashes || at_positional, "stopped at %d of %d: \"%s\"", pos,
               argc, argv[pos]);

    /* Every ranged value is within its range (the defaults are). */
    FUZZ_CHECK(fuzz_config_threads >= 1 && fuzz_config_threads <= 1024, "threads %ld",
               fuzz_config_threads);
    FUZZ_CHECK(fuzz_config_lease >= 1000 && fuzz_config_lease <= 3600000, "lease %lld",
               (long long)fuzz_config_lease);
    FUZZ_CHECK(fuzz_config_timeout >= 0, "timeout %lld", (long long)fuzz_config_timeout);
    FUZZ_CHECK(fuzz_config_ratio >= 0.5 && fuzz_config_ratio <= 2, "ratio %g", fuzz_config_ratio);
    FUZZ_CHECK(fuzz_config_scale == fuzz_config_scale, "scale is NaN");
    unsigned char b1, b2;
    memcpy(&b1, &fuzz_config_json, 1);
    memcpy(&b2, &fuzz_config_quiet, 1);
    FUZZ_CHECK(b1 <= 1 && b2 <= 1, "bool bytes %u %u", b1, b2);

    /* A string is never copied: it is the default, a piece of argv, or the
     * environment's value. */
    const char *l = fuzz_config_listen;
    bool in_argv = l >= args && l <= args + size;
    FUZZ_CHECK(l == fuzz_config_listen_default || in_argv || l == getenv("FUZZ_LISTEN"),
               "listen points elsewhere");
}

/* Parses the input as a command line, strictly (no positionals) and then
 * leniently. Returns the strict config_result. */
static int fuzz_config_one(const uint8_t *data, size_t size)
{
    char *args = fuzz_cstr(data, size);
    char *argv[FUZZ_CONFIG_ARGS_MAX + 1];
    char prog[] = "fuzz";
    int argc = 0;
    argv[argc++] = prog;
    /* Separators end arguments; an empty one between two separators counts,
     * a final separator adds none. */
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < FUZZ_CONFIG_ARGS_MAX; i++) {
        if (i < size && args[i] != '\n' && args[i] != '\0')
            continue;
        args[i] = '\0';
        char *a = args + start;
        if (i < size || i > start) {
            if (!fuzz_config_setenv(a))
                argv[argc++] = a;
            fuzz_config_duration(a);
        }
        start = i + 1;
    }
    argv[argc] = NULL;

    struct config_spec spec = {
        .prog = "fuzz",
        .usage = "fuzz [flags]",
        .about = "Every option type.",
        .opts = fuzz_config_opts,
        .nopts = sizeof fuzz_config_opts / sizeof fuzz_config_opts[0],
        .allow_positional = false,
    };
    char err[256];
    int pos = -1;
    memset(err, 'x', sizeof err);
    fuzz_config_reset();
    enum config_result strict = config_parse(&spec, argc, argv, &pos, err, sizeof err);
    fuzz_config_check(strict, false, argc, argv, pos, err, sizeof err, args, size);
    int strict_pos = pos;

    spec.allow_positional = true;
    pos = -1;
    memset(err, 'x', sizeof err);
    fuzz_config_reset();
    enum config_result lenient = config_parse(&spec, argc, argv, &pos, err, sizeof err);
    fuzz_config_check(lenient, true, argc, argv, pos, err, sizeof err, args, size);
    if (strict == CONFIG_OK)
        FUZZ_CHECK(lenient == CONFIG_OK && pos == strict_pos,
                   "allowing positionals changed a command line without any");

    for (size_t i = 0; i < sizeof fuzz_config_envs / sizeof fuzz_config_envs[0]; i++)
        unsetenv(fuzz_config_envs[i]);
    free(args);
    return (int)strict;
}

FUZZ_ENTRY(fuzz_config_one)
