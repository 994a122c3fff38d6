/* Command-line flags with environment twins, and duration parsing. */
#include "common/config.h"

#include "common/errmsg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char offload_version[] = "0.1.0";

/* Durations past ~31 years are typos, and staying far below INT64_MAX keeps
 * the double arithmetic exact enough. */
#define DURATION_MAX_MS 1000000000000000.0
/* Width of the flag column in --help. */
#define USAGE_COLUMN 34

/* Accepts digits with an optional fraction, then "ms", "s", "m", "h" or
 * nothing (seconds). Rounds to the nearest millisecond. */
int duration_parse_ms(const char *s, int64_t *ms)
{
    if (s == NULL)
        return -1;
    const char *p = s;
    size_t int_digits = 0, frac_digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        int_digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            frac_digits++;
        }
    }
    if (int_digits + frac_digits == 0 || int_digits > 20 || frac_digits > 20)
        return -1;
    double scale;
    if (strcmp(p, "ms") == 0)
        scale = 1.0;
    else if (strcmp(p, "s") == 0 || *p == '\0')
        scale = 1000.0;
    else if (strcmp(p, "m") == 0)
        scale = 60000.0;
    else if (strcmp(p, "h") == 0)
        scale = 3600000.0;
    else
        return -1;
    /* The characters were checked above, so strtod reads exactly the number. */
    double v = strtod(s, NULL) * scale;
    if (!(v <= DURATION_MAX_MS))
        return -1;
    *ms = (int64_t)llround(v);
    return 0;
}

/* Writes ms as the shortest exact duration ("90s", "2m", "250ms"). */
static void duration_format(int64_t ms, char *buf, size_t len)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, len, "%" PRId64 "m", ms / 60000);
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRId64 "ms", ms);
}

static bool opt_has_range(const struct opt *o)
{
    return !(o->min == 0 && o->max == 0);
}

static int bool_parse(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Parses val for o and stores it in o->dst only when valid; `label` is how
 * the user wrote the flag ("--threads", "-c" or "THREADS") for the message. */
static int opt_set(const struct opt *o, const char *label, const char *val, char *err,
                   size_t errlen)
{
    switch (o->type) {
    case OPT_STR:
        *(const char **)o->dst = val;
        return 0;
    case OPT_LIST: {
        struct opt_list *l = o->dst;
        bool env = strcmp(label, o->env ? o->env : "") == 0;
        if (l->from_env && !env) { /* a flag replaces the environment's value */
            l->n = 0;
            l->from_env = false;
        }
        if (l->n == OPT_LIST_MAX)
            return errmsg_fail(err, errlen, "%s: at most %d times", label, OPT_LIST_MAX);
        l->items[l->n++] = val;
        l->from_env = env;
        return 0;
    }
    case OPT_BOOL: {
        bool b;
        if (bool_parse(val, &b) < 0)
            return errmsg_fail(err, errlen, "%s: must be true or false (1/0, yes/no, on/off)",
                               label);
        *(bool *)o->dst = b;
        return 0;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        bool ok = *val != '\0' && !isspace((unsigned char)*val) && *end == '\0' && errno == 0;
        if (ok && opt_has_range(o))
            ok = (double)v >= o->min && (double)v <= o->max;
        if (!ok) {
            if (opt_has_range(o))
                return errmsg_fail(err, errlen, "%s: must be an integer in %.0f..%.0f", label,
                                   o->min, o->max);
            return errmsg_fail(err, errlen, "%s: must be an integer", label);
        }
        *(long *)o->dst = v;
        return 0;
    }
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        bool ok = *val != '\0' && !isspace((unsigned char)*val) && *end == '\0' &&
                  errno == 0 && isfinite(v);
        if (ok && opt_has_range(o))
            ok = v >= o->min && v <= o->max;
        if (!ok) {
            if (opt_has_range(o))
                return errmsg_fail(err, errlen, "%s: must be a number in %g..%g", label, o->min,
                                   o->max);
            return errmsg_fail(err, errlen, "%s: must be a number", label);
        }
        *(double *)o->dst = v;
        return 0;
    }
    case OPT_DURATION: {
        int64_t ms;
        bool ok = duration_parse_ms(val, &ms) == 0;
        if (ok && opt_has_range(o))
            ok = (double)ms >= o->min && (double)ms <= o->max;
        if (!ok) {
            if (opt_has_range(o)) {
                char lo[32], hi[32];
                duration_format((int64_t)o->min, lo, sizeof lo);
                duration_format((int64_t)o->max, hi, sizeof hi);
                return errmsg_fail(err, errlen,
                                   "%s: must be a duration in %s..%s (like 250ms, 5s, 2m, 1h; "
                                   "a bare number is seconds)",
                                   label, lo, hi);
            }
            return errmsg_fail(err, errlen,
                               "%s: must be a duration like 250ms, 5s, 2m, 1h (a bare number is "
                               "seconds)",
                               label);
        }
        *(int64_t *)o->dst = ms;
        return 0;
    }
    }
    return errmsg_fail(err, errlen, "%s: unsupported option type", label);
}

static const struct opt *opt_find_long(const struct config_spec *spec, const char *name,
                                       size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const char *n = spec->opts[i].name;
        if (n != NULL && strlen(n) == len && strncmp(n, name, len) == 0)
            return &spec->opts[i];
    }
    return NULL;
}

static const struct opt *opt_find_short(const struct config_spec *spec, char c)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        if (spec->opts[i].short_name != 0 && spec->opts[i].short_name == c)
            return &spec->opts[i];
    }
    return NULL;
}

/* Applies each set, non-empty environment twin. An empty variable counts as
 * unset, the way `FOO= cmd` is commonly used to clear one. */
static int config_apply_env(const struct config_spec *spec, char *err, size_t errlen)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct opt *o = &spec->opts[i];
        if (o->env == NULL)
            continue;
        const char *v = getenv(o->env);
        if (v == NULL || *v == '\0')
            continue;
        if (opt_set(o, o->env, v, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void config_print_version(const struct config_spec *spec)
{
    printf("%s %s\n", spec->prog ? spec->prog : "offload", offload_version);
    fflush(stdout);
}

/* Environment first, then argv, so a flag wins over its twin. An invalid
 * environment value is reported after argv, so --help still works. */
enum config_result config_parse(const struct config_spec *spec, int argc, char **argv,
                                int *first_positional, char *err, size_t errlen)
{
    char env_err[256] = "";
    int env_failed = config_apply_env(spec, env_err, sizeof env_err);
    bool help_is_flag = opt_find_short(spec, 'h') == NULL;
    int i = 1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        const struct opt *o;
        const char *val = NULL;
        char label[80];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') { /* positional ("-" alone is stdin-style) */
            if (spec->allow_positional)
                break;
            return errmsg_fail(err, errlen, "unexpected argument \"%s\"", a);
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            if (eq == NULL && strcmp(name, "help") == 0) {
                config_usage(spec);
                return CONFIG_EXIT;
            }
            if (eq == NULL && strcmp(name, "version") == 0) {
                config_print_version(spec);
                return CONFIG_EXIT;
            }
            o = opt_find_long(spec, name, nlen);
            if (o == NULL)
                return errmsg_fail(err, errlen, "unknown flag --%.*s (see --help)", (int)nlen,
                                   name);
            snprintf(label, sizeof label, "--%s", o->name);
            if (eq != NULL)
                val = eq + 1;
        } else {
            if (a[1] == 'h' && a[2] == '\0' && help_is_flag) {
                config_usage(spec);
                return CONFIG_EXIT;
            }
            o = opt_find_short(spec, a[1]);
            if (o == NULL)
                return errmsg_fail(err, errlen, "unknown flag -%c (see --help)", a[1]);
            snprintf(label, sizeof label, "-%c", o->short_name);
            if (a[2] != '\0') {
                if (o->type == OPT_BOOL)
                    return errmsg_fail(err, errlen, "%s: takes no value", label);
                val = a + 2; /* -c10 */
            }
        }
        if (val == NULL) {
            if (o->type == OPT_BOOL) {
                val = "true";
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                return errmsg_fail(err, errlen, "%s: needs a value", label);
            }
        }
        if (opt_set(o, label, val, err, errlen) < 0)
            return CONFIG_ERROR;
    }
    if (env_failed < 0)
        return errmsg_fail(err, errlen, "%s", env_err);
    if (first_positional != NULL)
        *first_positional = i;
    return CONFIG_OK;
}

static const char *opt_metavar(enum opt_type t)
{
    switch (t) {
    case OPT_STR:
        return " STRING";
    case OPT_LIST:
        return " VALUE";
    case OPT_INT:
        return " N";
    case OPT_DURATION:
        return " DURATION";
    case OPT_DOUBLE:
        return " NUMBER";
    case OPT_BOOL:
        return "";
    }
    return "";
}

static void usage_line(const char *left, const char *help, const char *env)
{
    int n = printf("  %s", left);
    printf("%*s%s", n < USAGE_COLUMN ? USAGE_COLUMN - n : 2, "", help ? help : "");
    if (env != NULL)
        printf(" [env %s]", env);
    putchar('\n');
}

/* Prints usage, the about line and one line per flag to stdout. */
void config_usage(const struct config_spec *spec)
{
    printf("usage: %s\n", spec->usage ? spec->usage : spec->prog);
    if (spec->about != NULL)
        printf("\n%s\n", spec->about);
    printf("\nflags:\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct opt *o = &spec->opts[i];
        char left[128];
        if (o->short_name != 0)
            snprintf(left, sizeof left, "-%c, --%s%s", o->short_name, o->name,
                     opt_metavar(o->type));
        else
            snprintf(left, sizeof left, "    --%s%s", o->name, opt_metavar(o->type));
        usage_line(left, o->help, o->env);
    }
    usage_line(opt_find_short(spec, 'h') == NULL ? "-h, --help" : "    --help",
               "print this help and exit", NULL);
    usage_line("    --version", "print the version and exit", NULL);
    fflush(stdout);
}
