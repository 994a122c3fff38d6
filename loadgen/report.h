#ifndef OFFLOAD_LOADGEN_REPORT_H
#define OFFLOAD_LOADGEN_REPORT_H
/* Output of a run: the human summary and the one-object JSON form. */
#include <stdio.h>

#include <jansson.h>

#include "loadgen/run.h"

struct hist;

/* What the run was, for the summary's first line. */
struct report_info {
    const char *url;
    int conns, threads;
    double rate; /* 0: closed loop */
};

/* {"p50","p90","p99","p999","max","mean"} in milliseconds of a µs histogram.
 * Returns a new reference, or NULL on allocation failure. */
json_t *report_latency_json(const struct hist *h);
/* The run as {"requests","ok","duration_s","rps","latency_ms",{...},"codes",
 * {"200":n,...},"errors",{"connect","read","write","timeout"}}, plus "rate"
 * and "due" in an open loop and "drained" when --drain waited for any.
 * Returns a new reference, or NULL. */
json_t *report_run_json(const struct run_stats *s, double rate);
/* Prints the human summary. */
void report_run_text(FILE *f, const struct report_info *info, const struct run_stats *s);
/* "850us", "12.34ms", "1.50s": a µs value for people. Returns buf. */
const char *report_fmt_us(double us, char *buf, size_t len);
/* Writes j as one line (with a newline) to f. Returns 0, or -1. */
int report_json_print(FILE *f, const json_t *j);

#endif
