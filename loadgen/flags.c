/* The command line of the programs in loadgen/; see flags.h. */
#include "loadgen/flags.h"

#include <stdio.h>
#include <string.h>

#include "common/errmsg.h"

/* The option a flag argument `a` ("--name" or "-x") names, or NULL. */
static const struct opt *flags_find(const struct config_spec *spec, const char *a)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct opt *o = &spec->opts[i];
        if (a[1] == '-' && strcmp(a + 2, o->name) == 0)
            return o;
        if (a[1] != '-' && a[2] == '\0' && a[1] == o->short_name)
            return o;
    }
    return NULL;
}

int flags_split_args(const struct config_spec *spec, int argc, char **argv, char **out_argv, const char **headers,
                     size_t *nheaders, char *err, size_t errlen)
{
    int nflags = 1, npos = 0;
    char **pos = out_argv + argc; /* positionals are collected backwards at the end, then moved */
    *nheaders = 0;
    out_argv[0] = argv[0];
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                *--pos = argv[i], npos++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            *--pos = a, npos++;
            continue;
        }
        if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) {
            if (i + 1 >= argc) {
                errmsg_fail(err, errlen, "%s: needs a value", a);
                return -1;
            }
            headers[(*nheaders)++] = argv[++i];
            continue;
        }
        if (strncmp(a, "--header=", 9) == 0) {
            headers[(*nheaders)++] = a + 9;
            continue;
        }
        if (a[1] == 'H') {
            headers[(*nheaders)++] = a + 2; /* -H"Name: value" */
            continue;
        }
        out_argv[nflags++] = a;
        const struct opt *o = flags_find(spec, a);
        if (o != NULL && o->type != OPT_BOOL && i + 1 < argc)
            out_argv[nflags++] = argv[++i];
    }
    /* The positionals sit reversed at the end of out_argv: put them in
     * order, then after the flags behind a "--" (one may start with '-'). */
    for (int lo = argc - npos, hi = argc - 1; lo < hi; lo++, hi--) {
        char *t = out_argv[lo];
        out_argv[lo] = out_argv[hi];
        out_argv[hi] = t;
    }
    if (npos > 0) {
        memmove(out_argv + nflags + 1, out_argv + argc - npos, (size_t)npos * sizeof *out_argv);
        static char dashdash[] = "--"; /* argv entries are char *, not const */
        out_argv[nflags++] = dashdash;
    }
    out_argv[nflags + npos] = NULL;
    return nflags + npos;
}

int flags_parse(const struct config_spec *spec, int argc, char **argv, int *first)
{
    char err[512];
    enum config_result cr = config_parse(spec, argc, argv, first, err, sizeof err);
    if (cr == CONFIG_OK)
        return -1;
    if (cr == CONFIG_ERROR)
        fprintf(stderr, "%s: %s\n", spec->prog, err);
    return cr == CONFIG_EXIT ? 0 : 2;
}
