/* The job model: states, POST /jobs bodies, the JSON view of a job hash,
 * and Redis key names. */
#include "common/job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/defaults.h"
#include "common/errmsg.h"

static const char *const state_names[] = {
    [JOB_QUEUED] = "queued", [JOB_SCHEDULED] = "scheduled", [JOB_RUNNING] = "running",
    [JOB_DONE] = "done",     [JOB_FAILED] = "failed",       [JOB_DEAD] = "dead",
    [JOB_CANCELLED] = "cancelled",
};
#define STATE_COUNT (sizeof state_names / sizeof state_names[0])

const char *job_state_name(enum job_state s)
{
    return (unsigned)s < STATE_COUNT ? state_names[s] : "unknown";
}

int job_state_parse(const char *s, enum job_state *out)
{
    for (size_t i = 0; s != NULL && i < STATE_COUNT; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum job_state)i;
            return 0;
        }
    }
    return -1;
}

bool job_state_terminal(enum job_state s)
{
    return s == JOB_DONE || s == JOB_FAILED || s == JOB_DEAD || s == JOB_CANCELLED;
}

/* True for 1..max chars of [a-z0-9_.:-], and of A-Z too when upper. */
static bool name_valid(const char *s, size_t max, bool upper)
{
    if (s == NULL)
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (upper && c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok || n >= max)
            return false;
    }
    return n > 0;
}

bool job_queue_valid(const char *q)
{
    return name_valid(q, JOB_QUEUE_MAX, true);
}

bool job_prefix_valid(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > JOB_PREFIX_MAX)
        return false;
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

bool job_task_valid(const char *t)
{
    return name_valid(t, JOB_TASK_MAX, false);
}

/* ---- POST /jobs bodies ---- */

/* Sets every default; the payload is an owned "". Returns 0 or -1 (OOM). */
static int spec_init(struct job_spec *s)
{
    s->ms = JOB_MS_DEFAULT;
    s->max_attempts = JOB_ATTEMPTS_DEFAULT;
    snprintf(s->queue, sizeof s->queue, "%s", JOB_QUEUE_DEFAULT);
    snprintf(s->task, sizeof s->task, "%s", JOB_TASK_DEFAULT);
    s->payload_len = 0;
    s->args_len = 0;
    s->timeout_ms = 0;
    s->delay_ms = -1;
    s->run_at_us = 0;
    s->backoff_base_ms = 0;
    s->backoff_max_ms = 0;
    s->key[0] = '\0';
    s->payload = calloc(1, 1);
    s->args = calloc(1, 1);
    return s->payload && s->args ? 0 : -1;
}

/* A duration field: its name in errors, its range, and how an error states
 * that range and gives examples. */
struct duration_rule {
    const char *name;
    int64_t min_ms, max_ms;
    const char *range, *examples;
};

static const struct duration_rule rule_timeout = {
    "timeout", JOB_TIMEOUT_MIN_MS, JOB_TIMEOUT_MAX_MS, "10ms to 24h", "\"30s\", \"250ms\""};
static const struct duration_rule rule_delay = {
    "delay", 0, JOB_DELAY_MAX_MS, "0s to 8784h", "366 days; \"500ms\", \"5s\", \"2m\", \"1h\""};
static const struct duration_rule rule_backoff_base = {
    "backoff.base", JOB_BACKOFF_MIN_MS, JOB_BACKOFF_BASE_MAX_MS, "1ms to 24h", "\"500ms\", \"5s\""};
static const struct duration_rule rule_backoff_max = {
    "backoff.max", JOB_BACKOFF_MIN_MS, JOB_BACKOFF_MAX_MAX_MS, "1ms to 720h", "30 days; \"5m\", \"1h\""};

/* Reads a duration under rule r: a string for duration_parse_ms ("250ms",
 * "5s", "2m", "1h", bare = seconds) or a JSON number of seconds, rounded to
 * the millisecond; err names the field and its range otherwise. */
static int field_duration(json_t *val, const char *prefix, const struct duration_rule *r,
                          int64_t *out, char *err, size_t errlen)
{
    int64_t ms = -1;
    if (json_is_string(val)) {
        if (duration_parse_ms(json_string_value(val), &ms) != 0)
            ms = -1;
    } else if (json_is_number(val)) {
        double s = json_number_value(val);
        if (isfinite(s) && s >= 0 && s <= (double)r->max_ms / 1000.0)
            ms = (int64_t)llround(s * 1000.0);
    }
    if (ms < r->min_ms || ms > r->max_ms)
        return errmsg_fail(err, errlen,
                           "%s%s: must be a duration from %s (%s, or a number of seconds)", prefix,
                           r->name, r->range, r->examples);
    *out = ms;
    return 0;
}

/* Reads "run_at": Unix seconds as a number, kept to the microsecond, in
 * (0, JOB_RUN_AT_LIMIT_S). */
static int field_run_at(json_t *val, const char *prefix, int64_t *out, char *err, size_t errlen)
{
    int64_t us = 0;
    if (json_is_number(val)) {
        double s = json_number_value(val);
        if (isfinite(s) && s > 0 && s < (double)JOB_RUN_AT_LIMIT_S)
            us = (int64_t)llround(s * 1e6);
    }
    if (us <= 0 || us >= JOB_RUN_AT_LIMIT_S * 1000000) /* rounding can reach either end */
        return errmsg_fail(err, errlen,
                           "%srun_at: must be Unix seconds as a number, above 0 and below "
                           "%lld (the year 10000)",
                           prefix, JOB_RUN_AT_LIMIT_S);
    *out = us;
    return 0;
}

/* Reads "backoff": {"base": duration, "max": duration}, both optional. */
static int field_backoff(json_t *val, struct job_spec *s, const char *prefix, char *err,
                         size_t errlen)
{
    const char *key;
    json_t *d;
    if (!json_is_object(val))
        return errmsg_fail(err, errlen,
                           "%sbackoff: must be an object {\"base\": duration, \"max\": duration}",
                           prefix);
    json_object_foreach(val, key, d) {
        int rc;
        if (strcmp(key, "base") == 0)
            rc = field_duration(d, prefix, &rule_backoff_base, &s->backoff_base_ms, err, errlen);
        else if (strcmp(key, "max") == 0)
            rc = field_duration(d, prefix, &rule_backoff_max, &s->backoff_max_ms, err, errlen);
        else
            rc = errmsg_fail(err, errlen, "%sbackoff.%s: unknown field (allowed: base, max)",
                             prefix, key);
        if (rc < 0)
            return -1;
    }
    if (s->backoff_base_ms > 0 && s->backoff_max_ms > 0 && s->backoff_max_ms < s->backoff_base_ms)
        return errmsg_fail(err, errlen, "%sbackoff.max: must be at least backoff.base", prefix);
    return 0;
}

bool job_key_valid(const char *k)
{
    size_t len = strlen(k);
    bool ok = len >= 1 && len <= JOB_KEY_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)k[i] >= 0x21 && (unsigned char)k[i] <= 0x7e;
    return ok;
}

/* Reads "key": 1..JOB_KEY_ID_MAX bytes of printable ASCII without spaces. */
static int field_key(json_t *val, struct job_spec *s, const char *prefix, char *err,
                     size_t errlen)
{
    size_t len = json_is_string(val) ? json_string_length(val) : 0;
    const char *k = json_string_value(val);
    if (!json_is_string(val) || strlen(k) != len || !job_key_valid(k))
        return errmsg_fail(err, errlen,
                           "%skey: must be 1..%d printable ASCII characters, no spaces", prefix,
                           JOB_KEY_ID_MAX);
    memcpy(s->key, k, len);
    s->key[len] = '\0';
    return 0;
}

/* Stores val as compact JSON text in s->args. */
static int field_args(json_t *val, struct job_spec *s, char *err, size_t errlen)
{
    char *text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    free(s->args);
    s->args = text;
    s->args_len = strlen(text);
    return 0;
}

/* Reads an integer field in [min, max]; -1 names it otherwise. */
static int field_int(json_t *val, const char *prefix, const char *name, int min, int max,
                     int *out, char *err, size_t errlen)
{
    json_int_t v = json_is_integer(val) ? json_integer_value(val) : (json_int_t)min - 1;
    if (v < min || v > max)
        return errmsg_fail(err, errlen, "%s%s: must be an integer in %d..%d", prefix, name, min,
                           max);
    *out = (int)v;
    return 0;
}

/* Fills s (already defaulted) from one object; err names the first bad
 * field, prefixed (e.g. "[3].") in a batch. */
static int spec_from_object(json_t *obj, struct job_spec *s, const char *prefix, char *err,
                            size_t errlen)
{
    const char *key, *burn_only = NULL;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (strcmp(key, "ms") == 0 || strcmp(key, "payload") == 0)
            burn_only = key;
        if (strcmp(key, "task") == 0) {
            if (!json_is_string(val) || !job_task_valid(json_string_value(val)))
                return errmsg_fail(err, errlen, "%stask: must match [a-z0-9_.:-]{1,%d}", prefix,
                                   JOB_TASK_MAX);
            snprintf(s->task, sizeof s->task, "%s", json_string_value(val));
        } else if (strcmp(key, "args") == 0) {
            if (field_args(val, s, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "timeout") == 0) {
            if (field_duration(val, prefix, &rule_timeout, &s->timeout_ms, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "delay") == 0) {
            if (field_duration(val, prefix, &rule_delay, &s->delay_ms, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "run_at") == 0) {
            if (field_run_at(val, prefix, &s->run_at_us, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "backoff") == 0) {
            if (field_backoff(val, s, prefix, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "key") == 0) {
            if (field_key(val, s, prefix, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "ms") == 0) {
            if (field_int(val, prefix, key, 0, JOB_MS_MAX, &s->ms, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "max_attempts") == 0) {
            if (field_int(val, prefix, key, 1, JOB_ATTEMPTS_MAX, &s->max_attempts, err,
                          errlen) < 0)
                return -1;
        } else if (strcmp(key, "payload") == 0) {
            size_t len = json_is_string(val) ? json_string_length(val) : 0;
            if (!json_is_string(val) || len > JOB_PAYLOAD_MAX)
                return errmsg_fail(err, errlen, "%spayload: must be a string of at most %d bytes",
                                   prefix, JOB_PAYLOAD_MAX);
            char *copy = malloc(len + 1);
            if (copy == NULL)
                return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
            memcpy(copy, json_string_value(val), len + 1);
            free(s->payload);
            s->payload = copy;
            s->payload_len = len;
        } else if (strcmp(key, "queue") == 0) {
            if (!json_is_string(val) || !job_queue_valid(json_string_value(val)))
                return errmsg_fail(err, errlen, "%squeue: must match [A-Za-z0-9_.:-]{1,%d}",
                                   prefix, JOB_QUEUE_MAX);
            snprintf(s->queue, sizeof s->queue, "%s", json_string_value(val));
        } else {
            return errmsg_fail(err, errlen,
                               "%s%s: unknown field (allowed: task, args, timeout, queue, "
                               "max_attempts, delay, run_at, backoff, key, ms, payload)",
                               prefix, key);
        }
    }
    if (s->delay_ms >= 0 && s->run_at_us > 0)
        return errmsg_fail(err, errlen, "%sdelay, run_at: give one or the other, not both", prefix);
    if (burn_only != NULL && strcmp(s->task, JOB_TASK_DEFAULT) != 0)
        return errmsg_fail(err, errlen, "%s%s: only for task \"burn\" (pass the task's input in args)",
                           prefix, burn_only);
    return 0;
}

static bool body_blank(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
            return false;
    }
    return true;
}

/* See job.h. On success *out (n specs) belongs to the caller; on failure
 * nothing is left allocated and *out is NULL. */
int job_parse_body(const char *buf, size_t len, struct job_spec **out, size_t *n,
                   bool *is_batch, char *err, size_t errlen)
{
    json_t *root = NULL;
    struct job_spec *specs = NULL;
    size_t count = 0;
    bool batch = false;
    json_error_t jerr;

    *out = NULL;
    *n = 0;
    *is_batch = false;
    if (buf == NULL || body_blank(buf, len)) {
        count = 1;
    } else {
        root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL) {
            errmsg_fail(err, errlen, "invalid JSON: %s at line %d column %d", jerr.text,
                        jerr.line, jerr.column);
            goto err;
        }
        if (json_is_array(root)) {
            batch = true;
            count = json_array_size(root);
            if (count == 0) {
                errmsg_fail(err, errlen, "batch: must hold at least 1 job");
                goto err;
            }
            if (count > JOB_BATCH_MAX) {
                errmsg_fail(err, errlen, "batch: at most %d jobs", JOB_BATCH_MAX);
                goto err;
            }
        } else if (json_is_object(root)) {
            count = 1;
        } else {
            errmsg_fail(err, errlen, "body: must be a JSON object or an array of objects");
            goto err;
        }
    }

    specs = calloc(count, sizeof *specs); /* zeroed: job_specs_free can free any prefix */
    if (specs == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        goto err;
    }
    for (size_t i = 0; i < count; i++) {
        char prefix[32] = "";
        json_t *obj = batch ? json_array_get(root, i) : root;
        if (spec_init(&specs[i]) < 0) {
            errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
            goto err;
        }
        if (obj == NULL)
            continue; /* empty body: defaults */
        if (batch)
            snprintf(prefix, sizeof prefix, "[%zu].", i);
        if (!json_is_object(obj)) {
            errmsg_fail(err, errlen, "[%zu]: must be an object", i);
            goto err;
        }
        if (spec_from_object(obj, &specs[i], prefix, err, errlen) < 0)
            goto err;
    }
    json_decref(root);
    *out = specs;
    *n = count;
    *is_batch = batch;
    return 0;
err:
    job_specs_free(specs, count);
    json_decref(root);
    return -1;
}

void job_specs_free(struct job_spec *specs, size_t n)
{
    if (specs == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(specs[i].payload);
        free(specs[i].args);
    }
    free(specs);
}

/* ---- the JSON view of a job hash ---- */

/* The value of field `name`, or NULL when absent or empty (scripts write ""
 * for "no value", e.g. the digest of a failed job). */
static const char *pair_get(const char *const *fields, const size_t *field_lens,
                            const char *const *values, const size_t *value_lens, size_t npairs,
                            const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < npairs; i++) {
        if (field_lens[i] == nlen && memcmp(fields[i], name, nlen) == 0) {
            if (values[i] == NULL || value_lens[i] == 0)
                return NULL;
            *len = value_lens[i];
            return values[i];
        }
    }
    return NULL;
}

/* A JSON string from bytes that should be UTF-8; invalid bytes become '?'
 * rather than losing the whole value. NULL only on OOM. */
static json_t *json_text(const char *v, size_t len)
{
    json_t *s = json_stringn(v, len);
    if (s != NULL)
        return s;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)v[i] < 0x80 ? v[i] : '?';
    s = json_stringn(copy, len);
    free(copy);
    return s;
}

/* Copies a short value into buf as a C string; false when it does not fit. */
static bool value_cstr(const char *v, size_t len, char *buf, size_t cap)
{
    if (len >= cap)
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return true;
}

static bool parse_i64(const char *v, size_t len, long long *out)
{
    char buf[32], *end;
    if (!value_cstr(v, len, buf, sizeof buf))
        return false;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return end != buf && *end == '\0' && errno == 0;
}

static bool parse_double(const char *v, size_t len, double *out)
{
    char buf[64], *end;
    if (!value_cstr(v, len, buf, sizeof buf))
        return false;
    errno = 0;
    *out = strtod(buf, &end);
    return end != buf && *end == '\0' && errno == 0 && isfinite(*out);
}

/* Unix microseconds as seconds; exact to the microsecond below 2^53 µs. */
static json_t *us_to_seconds(long long us)
{
    return json_real((double)us / 1e6);
}

json_t *job_time_json(const char *us)
{
    long long i;
    return us && parse_i64(us, strlen(us), &i) ? us_to_seconds(i) : json_null();
}

/* How a stored field is shown in JSON. */
enum value_kind {
    V_TEXT, /* string */
    V_INT,  /* integer */
    V_REAL, /* number */
    V_TIME, /* Unix microseconds shown as seconds */
    V_SECS, /* milliseconds shown as seconds */
    V_JSON, /* JSON text shown as its value (a string if it does not parse) */
};

/* The JSON value of one stored field, as `kind`; null when absent or not
 * parseable as that kind. NULL only on OOM. */
static json_t *field_json(const char *const *f, const size_t *fl, const char *const *v,
                          const size_t *vl, size_t n, const char *name, enum value_kind kind)
{
    size_t len = 0;
    const char *s = pair_get(f, fl, v, vl, n, name, &len);
    long long i;
    double d;
    if (s == NULL)
        return json_null();
    switch (kind) {
    case V_TEXT:
        return json_text(s, len);
    case V_INT:
        return parse_i64(s, len, &i) ? json_integer(i) : json_null();
    case V_REAL:
        return parse_double(s, len, &d) ? json_real(d) : json_null();
    case V_TIME:
        return parse_i64(s, len, &i) ? us_to_seconds(i) : json_null();
    case V_SECS:
        return parse_i64(s, len, &i) ? json_real((double)i / 1e3) : json_null();
    case V_JSON: {
        json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        return j ? j : json_text(s, len);
    }
    }
    return json_null();
}

/* One field of a JSON view: its name there, the hash field, how it shows. */
struct view_field {
    const char *json, *field;
    enum value_kind kind;
};

/* A new object of the nv view fields; NULL only on OOM. */
static json_t *view_object(const struct view_field *vf, size_t nv, const char *const *f,
                           const size_t *fl, const char *const *v, const size_t *vl, size_t n)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    for (size_t i = 0; i < nv; i++) {
        if (json_object_set_new(obj, vf[i].json, field_json(f, fl, v, vl, n, vf[i].field,
                                                            vf[i].kind)) < 0)
            goto err;
    }
    return obj;
err:
    json_decref(obj);
    return NULL;
}

/* A user task's output (JSON value or string by its result_kind), else
 * burn's {digest, iterations, cpu_ms, wall_ms} when a digest was stored,
 * else null. */
static json_t *result_json(const char *const *f, const size_t *fl, const char *const *v,
                           const size_t *vl, size_t n)
{
    static const struct view_field burn[] = {
        {"digest", JOB_F_DIGEST, V_TEXT},
        {"iterations", JOB_F_ITERATIONS, V_INT},
        {"cpu_ms", JOB_F_CPU_MS, V_REAL},
        {"wall_ms", JOB_F_WALL_MS, V_REAL},
    };
    size_t len, klen = 0;
    const char *kind = pair_get(f, fl, v, vl, n, JOB_F_RESULT_KIND, &klen);
    if (pair_get(f, fl, v, vl, n, JOB_F_RESULT, &len) != NULL)
        return field_json(f, fl, v, vl, n, JOB_F_RESULT,
                          kind && klen == 4 && memcmp(kind, "json", 4) == 0 ? V_JSON : V_TEXT);
    if (pair_get(f, fl, v, vl, n, JOB_F_DIGEST, &len) == NULL)
        return json_null();
    return view_object(burn, sizeof burn / sizeof burn[0], f, fl, v, vl, n);
}

/* {base, max} in seconds from the stored milliseconds (either null when
 * absent: the server's default), or null when neither is stored. NULL only
 * on OOM. */
static json_t *backoff_json(const char *const *f, const size_t *fl, const char *const *v,
                            const size_t *vl, size_t n)
{
    static const struct view_field backoff[] = {
        {"base", JOB_F_BACKOFF_BASE_MS, V_SECS},
        {"max", JOB_F_BACKOFF_MAX_MS, V_SECS},
    };
    size_t len;
    if (pair_get(f, fl, v, vl, n, JOB_F_BACKOFF_BASE_MS, &len) == NULL &&
        pair_get(f, fl, v, vl, n, JOB_F_BACKOFF_MAX_MS, &len) == NULL)
        return json_null();
    return view_object(backoff, sizeof backoff / sizeof backoff[0], f, fl, v, vl, n);
}

/* Rewrites an attempt's time `name` from Unix µs to seconds; one that is not
 * an integer becomes null, an absent one stays absent. -1 on OOM. */
static int attempt_time(json_t *attempt, const char *name)
{
    json_t *t = json_object_get(attempt, name);
    if (t == NULL || json_is_null(t))
        return 0;
    return json_object_set_new(attempt, name,
                               json_is_integer(t) ? us_to_seconds(json_integer_value(t))
                                                  : json_null());
}

/* The stored attempt history with its times in Unix seconds: [] when
 * absent, null when the text is not a JSON array of objects (a bad history
 * must not hide the rest of the job). NULL only on OOM. */
static json_t *history_json(const char *const *f, const size_t *fl, const char *const *v,
                            const size_t *vl, size_t n)
{
    size_t len = 0, i;
    json_error_t jerr;
    json_t *attempt;
    const char *text = pair_get(f, fl, v, vl, n, JOB_F_HISTORY, &len);
    if (text == NULL)
        return json_array();
    json_t *h = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (h == NULL)
        return json_error_code(&jerr) == json_error_out_of_memory ? NULL : json_null();
    if (!json_is_array(h))
        goto malformed;
    json_array_foreach(h, i, attempt) {
        if (!json_is_object(attempt))
            goto malformed;
        if (attempt_time(attempt, "started_at") < 0 || attempt_time(attempt, "ended_at") < 0)
            goto err;
    }
    return h;
malformed:
    json_decref(h);
    return json_null();
err:
    json_decref(h);
    return NULL;
}

/* See job.h. json_object_set_new takes the value even when it fails, and a
 * NULL value (OOM) makes it fail, so one check per field frees everything. */
json_t *job_to_json(const char *const *fields, const size_t *field_lens,
                    const char *const *values, const size_t *value_lens, size_t npairs)
{
    static const struct view_field plain[] = {
        {"id", JOB_F_ID, V_TEXT},
        {"state", JOB_F_STATE, V_TEXT},
        {"queue", JOB_F_QUEUE, V_TEXT},
        {"task", JOB_F_TASK, V_TEXT},
        {"args", JOB_F_ARGS, V_JSON},
        {"key", JOB_F_KEY, V_TEXT},
        {"timeout", JOB_F_TIMEOUT_MS, V_SECS},
        {"ms", JOB_F_MS, V_INT},
        {"max_attempts", JOB_F_MAX_ATTEMPTS, V_INT},
        {"attempts", JOB_F_ATTEMPTS, V_INT},
        {"created_at", JOB_F_CREATED, V_TIME},
        {"run_at", JOB_F_RUN_AT, V_TIME},
        {"promoted_at", JOB_F_PROMOTED_AT, V_TIME},
        {"started_at", JOB_F_STARTED, V_TIME},
        {"finished_at", JOB_F_FINISHED, V_TIME},
        {"worker", JOB_F_WORKER, V_TEXT},
        {"schedule", JOB_F_SCHEDULE, V_TEXT},
        {"tick", JOB_F_TICK, V_TIME},
    };
    size_t len;
    if (pair_get(fields, field_lens, values, value_lens, npairs, JOB_F_ID, &len) == NULL)
        return NULL;
    json_t *job = view_object(plain, sizeof plain / sizeof plain[0], fields, field_lens, values,
                              value_lens, npairs);
    if (job == NULL)
        return NULL;
    /* a job not yet started has made no attempts, even if the hash says nothing */
    if (json_is_null(json_object_get(job, "attempts")) &&
        json_object_set_new(job, "attempts", json_integer(0)) < 0)
        goto err;
    /* jobs made before tasks existed are burn jobs */
    if (json_is_null(json_object_get(job, "task")) &&
        json_object_set_new(job, "task", json_string(JOB_TASK_DEFAULT)) < 0)
        goto err;
    if (json_object_set_new(job, "result",
                            result_json(fields, field_lens, values, value_lens, npairs)) < 0 ||
        json_object_set_new(job, "error", field_json(fields, field_lens, values, value_lens,
                                                     npairs, JOB_F_ERROR, V_TEXT)) < 0 ||
        json_object_set_new(job, "backoff",
                            backoff_json(fields, field_lens, values, value_lens, npairs)) < 0 ||
        json_object_set_new(job, "history",
                            history_json(fields, field_lens, values, value_lens, npairs)) < 0)
        goto err;
    return job;
err:
    json_decref(job);
    return NULL;
}

/* ---- key names ---- */

static int key_build(char *buf, size_t len, const char *prefix, const char *kind,
                     const char *name)
{
    if (len == 0)
        return -1;
    int n = snprintf(buf, len, "%s%s%s", prefix ? prefix : "", kind, name ? name : "");
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

int key_queue(char *buf, size_t len, const char *prefix, const char *queue)
{
    return key_build(buf, len, prefix, "q:", queue);
}

int key_job(char *buf, size_t len, const char *prefix, const char *id)
{
    return key_build(buf, len, prefix, "job:", id);
}

int key_wip(char *buf, size_t len, const char *prefix, const char *worker)
{
    return key_build(buf, len, prefix, "wip:", worker);
}

int key_workers(char *buf, size_t len, const char *prefix)
{
    return key_build(buf, len, prefix, "workers", NULL);
}

int key_dead(char *buf, size_t len, const char *prefix, const char *queue)
{
    return key_build(buf, len, prefix, "dead:", queue);
}

int key_done_channel(char *buf, size_t len, const char *prefix, const char *api_id)
{
    return key_build(buf, len, prefix, "done:", api_id);
}

int key_reaper_lock(char *buf, size_t len, const char *prefix)
{
    return key_build(buf, len, prefix, "reaper", NULL);
}

int key_queues(char *buf, size_t len, const char *prefix)
{
    return key_build(buf, len, prefix, "queues", NULL);
}

int key_worker_record(char *buf, size_t len, const char *prefix, const char *id)
{
    return key_build(buf, len, prefix, "worker:", id);
}

int64_t job_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
