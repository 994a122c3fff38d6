/* Output of a run; see report.h. */
#include "loadgen/report.h"

#include "common/hist.h"

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

void report_run_text(FILE *f, const struct report_info *info, const struct run_stats *s)
{
    char a[6][32];
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
    const struct hist *h = s->latency;
    fprintf(f, "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
            report_fmt_us((double)hist_percentile(h, 50), a[0], sizeof a[0]),
            report_fmt_us((double)hist_percentile(h, 90), a[1], sizeof a[1]),
            report_fmt_us((double)hist_percentile(h, 99), a[2], sizeof a[2]),
            report_fmt_us((double)hist_percentile(h, 99.9), a[3], sizeof a[3]),
            report_fmt_us((double)hist_max(h), a[4], sizeof a[4]), report_fmt_us(hist_mean(h), a[5], sizeof a[5]));
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

int report_json_print(FILE *f, const json_t *j)
{
    if (json_dumpf(j, f, JSON_COMPACT | JSON_REAL_PRECISION(10)) != 0)
        return -1;
    fputc('\n', f);
    return 0;
}
