/* Output of a command; see report.h. */
#include "loadgen/report.h"

#include <string.h>

#include "common/hist.h"

/* Outcome names in report order; see REPORT_JOB_OUTCOMES. */
static const char *const report_job_outcomes[REPORT_JOB_OUTCOMES] = {
    "done", "failed", "dead", "cancelled", "queued", "scheduled", "running", "unsubmitted", "unknown", "lost"};

static double us_to_ms(uint64_t us)
{
    return (double)us / 1000.0;
}

json_t *report_latency_json(const struct hist *h)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "p50", us_to_ms(hist_percentile(h, 50)), "p90",
                     us_to_ms(hist_percentile(h, 90)), "p99", us_to_ms(hist_percentile(h, 99)), "p999",
                     us_to_ms(hist_percentile(h, 99.9)), "max", us_to_ms(hist_max(h)), "mean",
                     hist_mean(h) / 1000.0);
}

static double run_rps(const struct run_stats *s)
{
    return s->duration_s > 0 ? (double)s->requests / s->duration_s : 0.0;
}

json_t *report_run_json(const struct run_stats *s, double rate)
{
    json_t *codes = json_object();
    json_t *lat = report_latency_json(s->latency);
    json_t *errors = json_pack("{s:I,s:I,s:I,s:I}", "connect", (json_int_t)s->err_connect, "read",
                               (json_int_t)s->err_read, "write", (json_int_t)s->err_write, "timeout",
                               (json_int_t)s->err_timeout);
    json_t *root = NULL;
    if (codes == NULL || lat == NULL || errors == NULL)
        goto err;
    for (int i = 0; i < RUN_CODES; i++) {
        if (s->codes[i] == 0)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        if (json_object_set_new(codes, key, json_integer((json_int_t)s->codes[i])) != 0)
            goto err;
    }
    /* "o" steals the references, also when json_pack fails. */
    root = json_pack("{s:I,s:I,s:f,s:f,s:o,s:o,s:o}", "requests", (json_int_t)s->requests, "ok",
                     (json_int_t)s->ok, "duration_s", s->duration_s, "rps", run_rps(s), "latency_ms", lat,
                     "codes", codes, "errors", errors);
    if (root == NULL)
        return NULL;
    if ((rate > 0 && (json_object_set_new(root, "rate", json_real(rate)) != 0 ||
                      json_object_set_new(root, "due", json_integer((json_int_t)s->due)) != 0)) ||
        (s->drained > 0 && json_object_set_new(root, "drained", json_integer((json_int_t)s->drained)) != 0)) {
        json_decref(root);
        return NULL;
    }
    return root;
err:
    json_decref(codes);
    json_decref(lat);
    json_decref(errors);
    return NULL;
}

const char *report_fmt_us(double us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%.0fus", us);
    else if (us < 1000000)
        snprintf(buf, len, "%.2fms", us / 1000);
    else
        snprintf(buf, len, "%.2fs", us / 1000000);
    return buf;
}

/* One "  LABEL p50 ...  mean ..." line of a µs histogram, LABEL padded to width. */
static void report_latency_line(FILE *f, const char *label, int width, const struct hist *h)
{
    char a[6][32];
    fprintf(f, "  %-*s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n", width, label,
            report_fmt_us((double)hist_percentile(h, 50), a[0], sizeof a[0]),
            report_fmt_us((double)hist_percentile(h, 90), a[1], sizeof a[1]),
            report_fmt_us((double)hist_percentile(h, 99), a[2], sizeof a[2]),
            report_fmt_us((double)hist_percentile(h, 99.9), a[3], sizeof a[3]),
            report_fmt_us((double)hist_max(h), a[4], sizeof a[4]), report_fmt_us(hist_mean(h), a[5], sizeof a[5]));
}

void report_run_text(FILE *f, const struct report_info *info, const struct run_stats *s)
{
    if (info->rate > 0)
        fprintf(f, "%s: open loop at %.1f req/s, %d connections, %d thread%s\n", info->url, info->rate, info->conns,
                info->threads, info->threads == 1 ? "" : "s");
    else
        fprintf(f, "%s: closed loop, %d connections, %d thread%s\n", info->url, info->conns, info->threads,
                info->threads == 1 ? "" : "s");
    fprintf(f, "  requests   %llu in %.2fs (%llu ok)\n", (unsigned long long)s->requests, s->duration_s,
            (unsigned long long)s->ok);
    fprintf(f, "  req/s      %.2f\n", run_rps(s));
    if (info->rate > 0)
        fprintf(f, "  schedule   %llu due, %llu ended in time\n", (unsigned long long)s->due,
                (unsigned long long)s->requests);
    report_latency_line(f, "latency", 10, s->latency);
    fprintf(f, "  codes     ");
    bool any = false;
    for (int i = 0; i < RUN_CODES; i++) {
        if (s->codes[i] > 0) {
            fprintf(f, " %d: %llu", i, (unsigned long long)s->codes[i]);
            any = true;
        }
    }
    fprintf(f, "%s\n", any ? "" : " none");
    fprintf(f, "  errors     connect %llu  read %llu  write %llu  timeout %llu\n", (unsigned long long)s->err_connect,
            (unsigned long long)s->err_read, (unsigned long long)s->err_write, (unsigned long long)s->err_timeout);
    if (s->drained > 0)
        fprintf(f, "  drained    %llu ended after the window (latency only)\n", (unsigned long long)s->drained);
}

void report_jobs_count(struct report_jobs *r, const char *outcome)
{
    for (size_t k = 0; k < REPORT_JOB_OUTCOMES; k++) {
        if (strcmp(outcome, report_job_outcomes[k]) == 0) {
            r->outcomes[k]++;
            return;
        }
    }
}

json_t *report_jobs_json(const struct report_jobs *r)
{
    json_t *states = json_object();
    if (states == NULL)
        return NULL;
    for (size_t k = 0; k < REPORT_JOB_OUTCOMES; k++) {
        if (r->outcomes[k] > 0 &&
            json_object_set_new(states, report_job_outcomes[k], json_integer((json_int_t)r->outcomes[k])) != 0) {
            json_decref(states);
            return NULL;
        }
    }
    return json_pack("{s:I,s:s,s:I,s:I,s:f,s:f,s:f,s:o,s:o,s:o,s:{s:I,s:I,s:I}}", "jobs", (json_int_t)r->n, "task",
                     r->task, "submitted", (json_int_t)r->submitted, "finished", (json_int_t)r->finished,
                     "duration_s", r->duration_s, "jobs_per_s", r->jobs_per_s, "submit_s", r->submit_s,
                     "enqueue_to_start_ms", report_latency_json(r->to_start), "enqueue_to_done_ms",
                     report_latency_json(r->to_done), "states", states, "errors", "submit",
                     (json_int_t)r->submit_errors, "poll", (json_int_t)r->poll_errors, "retries",
                     (json_int_t)r->retries);
}

void report_jobs_text(FILE *f, const struct report_jobs *r)
{
    if (r->ms >= 0)
        fprintf(f, "%ld jobs of %ld ms", r->n, r->ms);
    else
        fprintf(f, "%ld jobs of task %s", r->n, r->task);
    fprintf(f, " via %s (queue %s, %ld+%ld connections, ", r->api, r->queue, r->conns, r->conns);
    if (r->rate > 0)
        fprintf(f, "open loop at %.1f jobs/s)\n", r->rate);
    else
        fprintf(f, "batches of %ld)\n", r->batch);
    fprintf(f, "  submitted      %zu in %.3fs", r->submitted, r->submit_s);
    if (r->submit_s > 0)
        fprintf(f, " (%.1f jobs/s accepted)", (double)r->submitted / r->submit_s);
    fprintf(f, "\n  finished       %zu in %.3fs: %.2f jobs/s (first created_at to last finished_at)\n", r->finished,
            r->duration_s, r->jobs_per_s);
    report_latency_line(f, "enqueue->start", 15, r->to_start);
    report_latency_line(f, "enqueue->done", 15, r->to_done);
    fprintf(f, "  states        ");
    for (size_t k = 0; k < REPORT_JOB_OUTCOMES; k++)
        if (r->outcomes[k] > 0)
            fprintf(f, " %s %zu", report_job_outcomes[k], r->outcomes[k]);
    fprintf(f, "\n  errors         submit %llu  poll %llu  (429/503 retries %llu)\n",
            (unsigned long long)r->submit_errors, (unsigned long long)r->poll_errors, (unsigned long long)r->retries);
}

int report_json_print(FILE *f, const json_t *j)
{
    if (json_dumpf(j, f, JSON_COMPACT | JSON_REAL_PRECISION(10)) != 0)
        return -1;
    fputc('\n', f);
    return 0;
}
