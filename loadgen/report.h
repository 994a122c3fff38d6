#ifndef OFFLOAD_LOADGEN_REPORT_H
#define OFFLOAD_LOADGEN_REPORT_H
/* Output of a command: the human summary and the one-object JSON form of a
 * `loadgen URL` run and of a `loadgen jobs` run. */
#include <stddef.h>
#include <stdint.h>
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

/* The outcomes a job of `loadgen jobs` is counted under, in report order:
 * the job states done, failed, dead, cancelled, queued, running, then
 * "unsubmitted", "unknown" (404) and "lost" (its polls failed). */
#define REPORT_JOB_OUTCOMES 10

/* What `loadgen jobs` ran and measured, for its summary. */
struct report_jobs {
    const char *api, *queue;    /* as given */
    const char *task;           /* the jobs' task (burn when none was given) */
    long n, ms;                 /* ms < 0: not burn, the summary names the task */
    long conns, batch;
    double rate;                /* open loop at this many jobs/s when > 0 */
    size_t submitted, finished;
    double duration_s;          /* first created_at to last finished_at */
    double jobs_per_s;          /* finished / duration_s */
    double submit_s;            /* from the start to the last accepted POST */
    struct hist *to_start, *to_done; /* enqueue->start and enqueue->done, µs; the caller's */
    size_t outcomes[REPORT_JOB_OUTCOMES]; /* jobs by outcome, filled by report_jobs_count */
    uint64_t submit_errors, poll_errors, retries;
};

/* Counts one job under its outcome (a job state name, "unsubmitted",
 * "unknown" or "lost"; another is not counted). */
void report_jobs_count(struct report_jobs *r, const char *outcome);
/* The jobs run as {"jobs","task","submitted","finished","duration_s",
 * "jobs_per_s","submit_s","enqueue_to_start_ms",{...},"enqueue_to_done_ms",
 * {...},"states",{"done":n,...},"errors",{"submit","poll","retries"}}.
 * Returns a new reference, or NULL. */
json_t *report_jobs_json(const struct report_jobs *r);
/* Prints the jobs run's human summary. */
void report_jobs_text(FILE *f, const struct report_jobs *r);

/* "850us", "12.34ms", "1.50s": a µs value for people. Returns buf. */
const char *report_fmt_us(double us, char *buf, size_t len);
/* Writes j as one line (with a newline) to f. Returns 0, or -1. */
int report_json_print(FILE *f, const json_t *j);

#endif
