/* `loadgen [flags] URL`; see urlcmd.h. */
#include "loadgen/urlcmd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errmsg.h"
#include "common/url.h"
#include "loadgen/flags.h"
#include "loadgen/interrupt.h"
#include "loadgen/report.h"
#include "loadgen/request.h"
#include "loadgen/run.h"

#define URLCMD_DEFAULT_DURATION_MS 10000 /* like wrk, when neither -d nor -n is given */
#define URLCMD_BODY_MAX (64 * 1024 * 1024) /* a request body is held in memory once */

/* Reads a whole file for -b @file. Returns 0 with a malloc'd *buf (the
 * caller's), or -1 with a message in err. */
static int urlcmd_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    char *data = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        errmsg_fail(err, errlen, "-b: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nd = cap <= URLCMD_BODY_MAX ? realloc(data, cap) : NULL;
            if (nd == NULL) {
                errmsg_fail(err, errlen, "-b: %s is too large (%d MiB at most)", path, URLCMD_BODY_MAX >> 20);
                goto err;
            }
            data = nd;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        errmsg_fail(err, errlen, "-b: cannot read %s", path);
        goto err;
    }
    fclose(f);
    *buf = data;
    *len = n;
    return 0;
err:
    free(data);
    fclose(f);
    return -1;
}

int urlcmd_main(int argc, char **argv)
{
    long conns = 100, threads = 1, total = 0;
    int64_t duration_ms = 0, timeout_ms = 10000, drain_ms = 0;
    double rate = 0;
    const char *method = "GET", *body_arg = NULL, *header_help = NULL;
    bool json = false;
    const struct opt opts[] = {
        {"connections", 'c', "LOADGEN_CONNECTIONS", OPT_INT, &conns, 1, 1000000, "connections kept open (100)"},
        {"duration", 'd', "LOADGEN_DURATION", OPT_DURATION, &duration_ms, 1, 30LL * 86400 * 1000,
         "run this long: 10s, 2m... (10s unless -n)"},
        {"requests", 'n', "LOADGEN_REQUESTS", OPT_INT, &total, 1, 1e12, "send exactly this many requests, then stop"},
        {"rate", 'R', "LOADGEN_RATE", OPT_DOUBLE, &rate, 0.001, 1e8,
         "open loop: this many requests/s in all, latency from each one's scheduled time (closed loop)"},
        {"timeout", 't', "LOADGEN_TIMEOUT", OPT_DURATION, &timeout_ms, 1, 3600 * 1000,
         "a request slower than this is an error; its connection reopens (10s)"},
        {"method", 'm', "LOADGEN_METHOD", OPT_STR, &method, 0, 0, "request method (GET)"},
        {"body", 'b', "LOADGEN_BODY", OPT_STR, &body_arg, 0, 0, "request body, or @file to send a file's bytes"},
        {"header", 'H', NULL, OPT_STR, &header_help, 0, 0, "\"Name: value\" request header; repeatable"},
        {"threads", 0, "LOADGEN_THREADS", OPT_INT, &threads, 1, 1024, "event-loop threads; connections split across them (1)"},
        {"drain", 0, "LOADGEN_DRAIN", OPT_DURATION, &drain_ms, 0, 3600 * 1000,
         "after -d ends, wait this long for requests in flight (and, with -R, due): latency only, not counted (0)"},
        {"json", 0, "LOADGEN_JSON", OPT_BOOL, &json, 0, 0, "print one JSON object instead of the summary"},
    };
    const struct config_spec spec = {
        .prog = "loadgen",
        .usage = "loadgen [-c conns] [-d secs | -n total] [-R rate] [-t timeout] [-m method] [-b body] "
                 "[-H header]... [--threads N] [--json] URL\n"
                 "       loadgen jobs [flags]    end-to-end job throughput (loadgen jobs --help)\n"
                 "       loadgen suite [flags]   the seed's experiments against a stack (loadgen suite --help)",
        .about = "HTTP/1.1 load generator: keep-alive connections, closed loop by default, open loop with -R "
                 "(no coordinated omission). Non-2xx answers are listed under codes, never as success. "
                 "Exit 0 when the run happened (even with errors), 2 on a bad flag, 1 when it could not run.",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
        .allow_positional = true,
    };

    char err[512];
    char **args = calloc((size_t)argc + 2, sizeof *args);
    const char **headers = calloc((size_t)argc + 1, sizeof *headers);
    char *file_body = NULL;
    struct request req = {0};
    struct run_stats stats = {0};
    int rc = 1;
    if (args == NULL || headers == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        goto out;
    }
    size_t nheaders;
    int nargs = flags_split_args(&spec, argc, argv, args, headers, &nheaders, err, sizeof err);
    if (nargs < 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        rc = 2;
        goto out;
    }
    int first;
    rc = flags_parse(&spec, nargs, args, &first);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (first != nargs - 1) {
        fprintf(stderr, "loadgen: %s (see --help)\n", first == nargs ? "needs a URL" : "takes one URL");
        goto out;
    }
    if (duration_ms > 0 && total > 0) {
        fprintf(stderr, "loadgen: -d and -n are exclusive: run for a time or for a count\n");
        goto out;
    }
    if (duration_ms == 0 && total == 0)
        duration_ms = URLCMD_DEFAULT_DURATION_MS;
    struct http_url url;
    if (http_url_parse(args[first], &url, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen: URL: %s\n", err);
        goto out;
    }
    const char *body = body_arg;
    size_t body_len = body != NULL ? strlen(body) : 0;
    if (body != NULL && body[0] == '@') {
        if (urlcmd_read_file(body + 1, &file_body, &body_len, err, sizeof err) != 0) {
            fprintf(stderr, "loadgen: %s\n", err);
            goto out;
        }
        body = file_body;
    }
    if (request_build(&req, method, &url, headers, nheaders, body, body_len, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        goto out;
    }

    rc = 1;
    struct run_opts ro = {
        .req = &req,
        .conns = (int)conns,
        .threads = (int)threads,
        .duration_ms = total > 0 ? 0 : duration_ms,
        .total = (uint64_t)total,
        .rate = rate,
        .timeout_ms = timeout_ms,
        .drain_ms = drain_ms,
        .progress = isatty(STDERR_FILENO) == 1,
        .interrupted = interrupt_flag(),
    };
    if (run_resolve(url.host, url.port, &ro.addr, &ro.addrlen, err, sizeof err) != 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        goto out;
    }
    struct interrupt_saved saved;
    interrupt_catch(&saved);
    int run_rc = run_execute(&ro, &stats, err, sizeof err);
    interrupt_restore(&saved);
    if (run_rc != 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        goto out;
    }
    if (json) {
        json_t *j = report_run_json(&stats, rate);
        int prc = j != NULL ? report_json_print(stdout, j) : -1;
        json_decref(j);
        if (prc != 0) {
            fprintf(stderr, "loadgen: cannot write the JSON report\n");
            goto out;
        }
    } else {
        struct report_info info = {.url = args[first], .conns = (int)conns, .threads = (int)threads, .rate = rate};
        if (info.threads > info.conns)
            info.threads = info.conns;
        report_run_text(stdout, &info, &stats);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    run_stats_free(&stats);
    request_free(&req);
    free(file_body);
    free(headers);
    free(args);
    return rc;
}
