/* Unit tests for common/job.c: POST /jobs body parsing (defaults, ranges,
 * batches, error messages, scheduling, backoff and idempotency fields), the
 * JSON view of a job hash, key names, states.
 * Run under LeakSanitizer (make asan) the error paths also prove nothing leaks. */
#include "common/job.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/unit.h"

/* Parses a C string body; returns the job_parse_body result. */
static int parse(const char *body, struct job_spec **specs, size_t *n, bool *batch, char *err,
                 size_t errlen)
{
    return job_parse_body(body, body ? strlen(body) : 0, specs, n, batch, err, errlen);
}

/* Parses body, which must be accepted; returns the specs (caller frees
 * them with job_specs_free). */
static struct job_spec *accept_body(const char *body, size_t *n, bool *batch)
{
    struct job_spec *specs = NULL;
    char err[256] = "";
    int rc = parse(body, &specs, n, batch, err, sizeof err);
    ck_assert_msg(rc == 0, "rejected %.80s: %s", body ? body : "(null)", err);
    ck_assert_ptr_nonnull(specs);
    return specs;
}

static void assert_defaults(const struct job_spec *s)
{
    ck_assert_int_eq(s->ms, 500);
    ck_assert_ptr_nonnull(s->payload);
    ck_assert_str_eq(s->payload, "");
    ck_assert_uint_eq(s->payload_len, 0);
    ck_assert_str_eq(s->queue, "default");
    ck_assert_int_eq(s->max_attempts, 3);
    ck_assert_int_eq(s->delay_ms, -1);
    ck_assert_int_eq(s->run_at_us, 0);
    ck_assert_int_eq(s->backoff_base_ms, 0);
    ck_assert_int_eq(s->backoff_max_ms, 0);
    ck_assert_str_eq(s->key, "");
}

/* Expects body to be rejected with exactly `msg` (or, when prefix_only, a
 * message starting with it), leaving nothing allocated. */
static void assert_rejected(const char *body, size_t len, const char *msg, bool prefix_only)
{
    struct job_spec *specs = (struct job_spec *)&specs; /* must be reset to NULL */
    size_t n = 99;
    bool batch = true;
    char err[256] = "";
    ck_assert_msg(job_parse_body(body, len, &specs, &n, &batch, err, sizeof err) == -1,
                  "accepted %.80s", body);
    ck_assert_ptr_null(specs);
    ck_assert_uint_eq(n, 0);
    if (prefix_only)
        ck_assert_msg(strncmp(err, msg, strlen(msg)) == 0, "%.80s: got \"%s\", want \"%s...\"",
                      body, err, msg);
    else
        ck_assert_msg(strcmp(err, msg) == 0, "%.80s: got \"%s\", want \"%s\"", body, err, msg);
}

#define REJECT(body, msg) assert_rejected((body), strlen(body), (msg), false)
#define REJECT_PREFIX(body, msg) assert_rejected((body), strlen(body), (msg), true)

START_TEST(empty_body_is_one_default_job)
{
    /* no body, blank bodies and {} are one job with every default */
    static const char *const bodies[] = {NULL, "", "  \r\n\t ", "{}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        size_t n = 0;
        bool batch = true;
        struct job_spec *specs = accept_body(bodies[i], &n, &batch);
        ck_assert_uint_eq(n, 1);
        ck_assert(!batch);
        assert_defaults(&specs[0]);
        job_specs_free(specs, n);
    }
}
END_TEST

START_TEST(object_fields)
{
    size_t n;
    bool batch = true;
    struct job_spec *specs = accept_body("{\"ms\":250,\"payload\":\"h\\u00e9llo\",\"queue\":"
                                         "\"q.1:a-b_C\",\"max_attempts\":5}",
                                         &n, &batch);
    ck_assert_uint_eq(n, 1);
    ck_assert(!batch);
    ck_assert_int_eq(specs[0].ms, 250);
    ck_assert_str_eq(specs[0].payload, "h\xc3\xa9llo");
    ck_assert_uint_eq(specs[0].payload_len, 6); /* bytes, not characters */
    ck_assert_str_eq(specs[0].queue, "q.1:a-b_C");
    ck_assert_int_eq(specs[0].max_attempts, 5);
    job_specs_free(specs, n);

    /* the edges of every range are accepted */
    specs = accept_body("{\"ms\":0,\"max_attempts\":1}", &n, &batch);
    ck_assert_int_eq(specs[0].ms, 0);
    ck_assert_int_eq(specs[0].max_attempts, 1);
    job_specs_free(specs, n);
    specs = accept_body("{\"ms\":60000,\"max_attempts\":100,\"queue\":"
                        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                        &n, &batch);
    ck_assert_int_eq(specs[0].ms, 60000);
    ck_assert_int_eq(specs[0].max_attempts, 100);
    ck_assert_uint_eq(strlen(specs[0].queue), 64);
    job_specs_free(specs, n);
}
END_TEST

START_TEST(payload_limit)
{
    char *body = malloc(JOB_PAYLOAD_MAX + 32); /* {"payload":"x...x"} */
    ck_assert_ptr_nonnull(body);
    strcpy(body, "{\"payload\":\"");
    size_t off = strlen(body);
    memset(body + off, 'x', JOB_PAYLOAD_MAX);
    strcpy(body + off + JOB_PAYLOAD_MAX, "\"}");
    size_t n;
    bool batch;
    struct job_spec *specs = accept_body(body, &n, &batch);
    ck_assert_uint_eq(specs[0].payload_len, JOB_PAYLOAD_MAX);
    ck_assert_uint_eq(strlen(specs[0].payload), JOB_PAYLOAD_MAX);
    job_specs_free(specs, n);
    /* one byte more */
    memset(body + off, 'x', JOB_PAYLOAD_MAX + 1);
    strcpy(body + off + JOB_PAYLOAD_MAX + 1, "\"}");
    REJECT(body, "payload: must be a string of at most 524288 bytes");
    free(body);
}
END_TEST

START_TEST(field_errors)
{
    const char *ms = "ms: must be an integer in 0..60000";
    REJECT("{\"ms\":60001}", ms);
    REJECT("{\"ms\":-1}", ms);
    REJECT("{\"ms\":500.0}", ms);
    REJECT("{\"ms\":\"500\"}", ms);
    REJECT("{\"ms\":true}", ms);
    REJECT("{\"ms\":null}", ms);
    REJECT("{\"ms\":9223372036854775807}", ms);
    const char *att = "max_attempts: must be an integer in 1..100";
    REJECT("{\"max_attempts\":0}", att);
    REJECT("{\"max_attempts\":101}", att);
    REJECT("{\"max_attempts\":[3]}", att);
    const char *q = "queue: must match [A-Za-z0-9_.:-]{1,64}";
    REJECT("{\"queue\":\"\"}", q);
    REJECT("{\"queue\":\"a b\"}", q);
    REJECT("{\"queue\":\"caf\\u00e9\"}", q);
    REJECT("{\"queue\":\"q/../x\"}", q);
    REJECT("{\"queue\":42}", q);
    REJECT("{\"queue\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", q);
    REJECT("{\"payload\":{}}", "payload: must be a string of at most 524288 bytes");
    REJECT("{\"payload\":\"ok\",\"ms\":1,\"colour\":\"red\"}",
           "colour: unknown field (allowed: task, args, timeout, queue, max_attempts, delay, run_at, "
           "backoff, key, ms, payload)");
    REJECT_PREFIX("{\"MS\":5}", "MS: unknown field");
    /* the first bad field in document order is named */
    REJECT("{\"queue\":\"ok\",\"max_attempts\":0,\"ms\":-1}", att);
}
END_TEST

START_TEST(json_errors)
{
    REJECT("{\"ms\": 5,}", "invalid JSON: string or '}' expected near '}' at line 1 column 10");
    REJECT_PREFIX("{\n  \"ms\": ,\n}", "invalid JSON: ");
    {
        char err[256];
        struct job_spec *specs;
        size_t n;
        bool batch;
        ck_assert_int_eq(parse("{\n  \"ms\": ,\n}", &specs, &n, &batch, err, sizeof err), -1);
        ck_assert_msg(strstr(err, " at line 2 column ") != NULL, "%s", err);
    }
    REJECT_PREFIX("{} x", "invalid JSON: end of file expected");
    REJECT_PREFIX("{\"ms\":1,\"ms\":2}", "invalid JSON: duplicate object key");
    REJECT_PREFIX("{\"payload\":\"\xff\"}", "invalid JSON: ");
    REJECT_PREFIX("{\"ms\":", "invalid JSON: ");
    REJECT_PREFIX("nope", "invalid JSON: ");
    const char *top = "body: must be a JSON object or an array of objects";
    REJECT("5", top);
    REJECT("\"job\"", top);
    REJECT("null", top);
    /* a NUL inside the declared length is not the end of the body */
    assert_rejected("{}\0{}", 5, "invalid JSON: ", true);
}
END_TEST

START_TEST(batches)
{
    size_t n;
    bool batch = false;
    struct job_spec *specs =
        accept_body("[{\"ms\":1},{},{\"queue\":\"b\",\"payload\":\"p3\"}]", &n, &batch);
    ck_assert(batch);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(specs[0].ms, 1);
    assert_defaults(&specs[1]);
    ck_assert_str_eq(specs[2].queue, "b");
    ck_assert_str_eq(specs[2].payload, "p3");
    job_specs_free(specs, n);

    /* a batch of one is still a batch */
    specs = accept_body("[{}]", &n, &batch);
    ck_assert(batch);
    ck_assert_uint_eq(n, 1);
    job_specs_free(specs, n);

    REJECT("[]", "batch: must hold at least 1 job");
    REJECT("[{},{},{},{\"ms\":-1}]", "[3].ms: must be an integer in 0..60000");
    REJECT("[{},5]", "[1]: must be an object");
    REJECT("[[]]", "[0]: must be an object");
    REJECT("[{},{\"x\":1}]", "[1].x: unknown field (allowed: task, args, timeout, queue, "
                             "max_attempts, delay, run_at, backoff, key, ms, payload)");
    REJECT("[{\"queue\":\"\"}]", "[0].queue: must match [A-Za-z0-9_.:-]{1,64}");
}
END_TEST

/* Builds "[{...},{...},...]" of n objects, each with a payload (so an error
 * at the end has allocations to clean up), optionally a bad last element. */
static char *make_batch(size_t n, bool bad_last)
{
    size_t cap = n * 40 + 16;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    size_t o = 0;
    b[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        bool bad = bad_last && i == n - 1;
        o += (size_t)snprintf(b + o, cap - o, "%s{\"payload\":\"p%zu\",\"ms\":%d}", i ? "," : "",
                              i, bad ? 60001 : 1);
    }
    b[o++] = ']';
    b[o] = '\0';
    return b;
}

START_TEST(batch_limits)
{
    size_t n;
    bool batch;
    char *b = make_batch(1000, false);
    struct job_spec *specs = accept_body(b, &n, &batch);
    ck_assert_uint_eq(n, 1000);
    ck_assert_str_eq(specs[999].payload, "p999");
    job_specs_free(specs, n);
    free(b);

    b = make_batch(1001, false);
    REJECT(b, "batch: at most 1000 jobs");
    free(b);

    b = make_batch(1000, true); /* 999 payloads allocated before the error */
    REJECT(b, "[999].ms: must be an integer in 0..60000");
    free(b);
}
END_TEST

START_TEST(small_error_buffer)
{
    struct job_spec *specs;
    size_t n;
    bool batch;
    char err[8];
    memset(err, 'Z', sizeof err);
    ck_assert_int_eq(parse("{\"ms\":-1}", &specs, &n, &batch, err, sizeof err), -1);
    ck_assert_str_eq(err, "ms: mus");
    ck_assert_int_eq(parse("{\"ms\":-1}", &specs, &n, &batch, NULL, 0), -1);
}
END_TEST

/* ---- delay, run_at, backoff, key ---- */

/* Parses one object body that must be accepted; returns its spec (free it
 * with job_specs_free(s, 1)). */
static struct job_spec *accept_one(const char *body)
{
    size_t n;
    bool batch;
    struct job_spec *s = accept_body(body, &n, &batch);
    ck_assert_uint_eq(n, 1);
    return s;
}

/* Expects body's "delay" to parse to want_ms. */
static void assert_delay(const char *body, int64_t want_ms)
{
    struct job_spec *s = accept_one(body);
    ck_assert_msg(s->delay_ms == want_ms, "%s: delay_ms %lld, want %lld", body,
                  (long long)s->delay_ms, (long long)want_ms);
    ck_assert_int_eq(s->run_at_us, 0);
    job_specs_free(s, 1);
}

START_TEST(delay_field)
{
    assert_delay("{\"delay\":\"500ms\"}", 500);
    assert_delay("{\"delay\":\"5s\"}", 5000);
    assert_delay("{\"delay\":\"2m\"}", 120000);
    assert_delay("{\"delay\":\"1h\"}", 3600000);
    assert_delay("{\"delay\":\"1.5\"}", 1500);   /* bare: seconds */
    assert_delay("{\"delay\":1.5}", 1500);       /* a number of seconds */
    assert_delay("{\"delay\":90}", 90000);
    assert_delay("{\"delay\":0.0004}", 0);       /* rounds to the millisecond */
    assert_delay("{\"delay\":0}", 0);            /* given as 0: not absent (-1) */
    assert_delay("{\"delay\":\"0s\"}", 0);
    assert_delay("{\"delay\":\"8784h\"}", 366LL * 24 * 3600 * 1000); /* the edge: 366 days */
    assert_delay("{\"delay\":31622400}", 366LL * 24 * 3600 * 1000);
    const char *d = "delay: must be a duration from 0s to 8784h (366 days; \"500ms\", \"5s\", "
                    "\"2m\", \"1h\", or a number of seconds)";
    REJECT("{\"delay\":\"8785h\"}", d);
    REJECT("{\"delay\":31622400.001}", d);
    REJECT("{\"delay\":-1}", d);
    REJECT("{\"delay\":-0.001}", d);
    REJECT("{\"delay\":\"-1s\"}", d);
    REJECT("{\"delay\":\"1d\"}", d);
    REJECT("{\"delay\":\"soon\"}", d);
    REJECT("{\"delay\":\"\"}", d);
    REJECT("{\"delay\":true}", d);
    REJECT("{\"delay\":null}", d);
    REJECT("{\"delay\":[5]}", d);
    REJECT("{\"delay\":1e300}", d);
    REJECT("[{},{\"delay\":\"2d\"}]",
           "[1].delay: must be a duration from 0s to 8784h (366 days; \"500ms\", \"5s\", \"2m\", "
           "\"1h\", or a number of seconds)");
}
END_TEST

/* Expects body's "run_at" to parse to want_us. */
static void assert_run_at(const char *body, int64_t want_us)
{
    struct job_spec *s = accept_one(body);
    ck_assert_msg(s->run_at_us == want_us, "%s: run_at_us %lld, want %lld", body,
                  (long long)s->run_at_us, (long long)want_us);
    ck_assert_int_eq(s->delay_ms, -1);
    job_specs_free(s, 1);
}

START_TEST(run_at_field)
{
    assert_run_at("{\"run_at\":1732571000.123456}", 1732571000123456LL); /* µs kept */
    assert_run_at("{\"run_at\":1732571000.1}", 1732571000100000LL);
    assert_run_at("{\"run_at\":1732571000}", 1732571000000000LL);       /* an integer too */
    assert_run_at("{\"run_at\":0.000001}", 1);                           /* just above 0 */
    assert_run_at("{\"run_at\":1}", 1000000);                            /* the past: the caller's call */
    assert_run_at("{\"run_at\":253402300799}", 253402300799000000LL);    /* 9999-12-31T23:59:59Z */
    const char *r = "run_at: must be Unix seconds as a number, above 0 and below 253402300800 "
                    "(the year 10000)";
    REJECT("{\"run_at\":0}", r);
    REJECT("{\"run_at\":0.0000004}", r); /* rounds to 0 µs */
    REJECT("{\"run_at\":-1732571000}", r);
    REJECT("{\"run_at\":253402300800}", r);
    REJECT("{\"run_at\":1e300}", r);
    REJECT("{\"run_at\":9223372036854775807}", r);
    REJECT("{\"run_at\":\"1732571000\"}", r);
    REJECT("{\"run_at\":\"2024-11-25T21:43:20Z\"}", r);
    REJECT("{\"run_at\":null}", r);
    REJECT("[{\"run_at\":1},{\"run_at\":false}]",
           "[1].run_at: must be Unix seconds as a number, above 0 and below 253402300800 (the "
           "year 10000)");
}
END_TEST

START_TEST(delay_and_run_at_together)
{
    const char *both = "delay, run_at: give one or the other, not both";
    REJECT("{\"delay\":\"5s\",\"run_at\":1732571000}", both);
    REJECT("{\"run_at\":1732571000,\"delay\":0}", both); /* a 0 delay is still a delay */
    REJECT("[{\"delay\":1},{\"run_at\":1},{\"delay\":1,\"run_at\":1}]",
           "[2].delay, run_at: give one or the other, not both");
    /* a bad value is named first, in document order */
    REJECT_PREFIX("{\"delay\":\"x\",\"run_at\":1}", "delay: must be a duration");
    REJECT_PREFIX("{\"delay\":1,\"run_at\":0}", "run_at: must be Unix seconds");
    /* one of each in a batch is fine */
    size_t n;
    bool batch;
    struct job_spec *s = accept_body("[{\"delay\":\"2m\"},{\"run_at\":1732571000.5},{}]", &n, &batch);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(s[0].delay_ms, 120000);
    ck_assert_int_eq(s[0].run_at_us, 0);
    ck_assert_int_eq(s[1].delay_ms, -1);
    ck_assert_int_eq(s[1].run_at_us, 1732571000500000LL);
    ck_assert_int_eq(s[2].delay_ms, -1);
    ck_assert_int_eq(s[2].run_at_us, 0);
    job_specs_free(s, n);
}
END_TEST

/* Expects body's backoff to parse to base_ms and max_ms. */
static void assert_backoff(const char *body, int64_t base_ms, int64_t max_ms)
{
    struct job_spec *s = accept_one(body);
    ck_assert_msg(s->backoff_base_ms == base_ms && s->backoff_max_ms == max_ms,
                  "%s: base %lld max %lld, want %lld %lld", body, (long long)s->backoff_base_ms,
                  (long long)s->backoff_max_ms, (long long)base_ms, (long long)max_ms);
    job_specs_free(s, 1);
}

START_TEST(backoff_field)
{
    assert_backoff("{\"backoff\":{\"base\":\"500ms\",\"max\":\"1h\"}}", 500, 3600000);
    assert_backoff("{\"backoff\":{\"max\":60,\"base\":0.25}}", 250, 60000); /* numbers: seconds */
    assert_backoff("{\"backoff\":{\"base\":\"2s\"}}", 2000, 0);  /* max: the server's */
    assert_backoff("{\"backoff\":{\"max\":\"2m\"}}", 0, 120000); /* base: the server's */
    assert_backoff("{\"backoff\":{}}", 0, 0);
    assert_backoff("{\"backoff\":{\"base\":\"1ms\",\"max\":0.001}}", 1, 1); /* max == base */
    assert_backoff("{\"backoff\":{\"base\":\"24h\",\"max\":\"720h\"}}", 86400000, 2592000000LL);
    const char *base = "backoff.base: must be a duration from 1ms to 24h (\"500ms\", \"5s\", or a "
                       "number of seconds)";
    const char *max = "backoff.max: must be a duration from 1ms to 720h (30 days; \"5m\", \"1h\", "
                      "or a number of seconds)";
    const char *obj = "backoff: must be an object {\"base\": duration, \"max\": duration}";
    REJECT("{\"backoff\":{\"base\":0}}", base);
    REJECT("{\"backoff\":{\"base\":\"0ms\"}}", base);
    REJECT("{\"backoff\":{\"base\":0.0004}}", base); /* rounds to 0 ms */
    REJECT("{\"backoff\":{\"base\":\"25h\"}}", base);
    REJECT("{\"backoff\":{\"base\":-1}}", base);
    REJECT("{\"backoff\":{\"base\":null}}", base);
    REJECT("{\"backoff\":{\"max\":\"721h\"}}", max);
    REJECT("{\"backoff\":{\"max\":0}}", max);
    REJECT("{\"backoff\":{\"max\":\"fast\"}}", max);
    REJECT("{\"backoff\":{\"base\":\"2s\",\"max\":\"1s\"}}", "backoff.max: must be at least backoff.base");
    REJECT("{\"backoff\":{\"max\":1,\"base\":1.001}}", "backoff.max: must be at least backoff.base");
    REJECT("{\"backoff\":\"5s\"}", obj);
    REJECT("{\"backoff\":5}", obj);
    REJECT("{\"backoff\":null}", obj);
    REJECT("{\"backoff\":[1,2]}", obj);
    REJECT("{\"backoff\":{\"base\":1,\"factor\":2}}", "backoff.factor: unknown field (allowed: base, max)");
    REJECT("{\"backoff\":{\"Base\":1}}", "backoff.Base: unknown field (allowed: base, max)");
    REJECT_PREFIX("{\"backoff\":{\"base\":1,\"base\":2}}", "invalid JSON: duplicate object key");
    REJECT("[{},{},{\"backoff\":{\"base\":\"1m\",\"max\":\"30s\"}}]",
           "[2].backoff.max: must be at least backoff.base");
    REJECT("[{\"backoff\":{\"jitter\":true}}]", "[0].backoff.jitter: unknown field (allowed: base, max)");
    REJECT("[{},{\"backoff\":{\"base\":\"2d\"}}]",
           "[1].backoff.base: must be a duration from 1ms to 24h (\"500ms\", \"5s\", or a number "
           "of seconds)");
}
END_TEST

START_TEST(key_field)
{
    struct job_spec *s = accept_one("{\"key\":\"order-42\"}");
    ck_assert_str_eq(s->key, "order-42");
    job_specs_free(s, 1);
    /* every printable character but space */
    char all[0x7f - 0x21 + 1];
    for (int c = 0x21; c < 0x7f; c++)
        all[c - 0x21] = (char)c;
    all[sizeof all - 1] = '\0';
    json_t *o = json_pack("{s:s}", "key", all);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    s = accept_one(body);
    free(body);
    ck_assert_str_eq(s->key, all);
    job_specs_free(s, 1);
    /* 1 and JOB_KEY_ID_MAX bytes */
    char b[300];
    char k200[JOB_KEY_ID_MAX + 1];
    memset(k200, 'k', JOB_KEY_ID_MAX);
    k200[JOB_KEY_ID_MAX] = '\0';
    snprintf(b, sizeof b, "{\"key\":\"%s\"}", k200);
    s = accept_one(b);
    ck_assert_uint_eq(strlen(s->key), 200);
    job_specs_free(s, 1);
    s = accept_one("[{\"key\":\"x\"}]");
    ck_assert_str_eq(s->key, "x");
    job_specs_free(s, 1);

    const char *k = "key: must be 1..200 printable ASCII characters, no spaces";
    snprintf(b, sizeof b, "{\"key\":\"%0201d\"}", 0); /* 201 bytes */
    REJECT(b, k);
    REJECT("{\"key\":\"\"}", k);
    REJECT("{\"key\":\"a b\"}", k);
    REJECT("{\"key\":\"a\\tb\"}", k);
    REJECT("{\"key\":\"a\\nb\"}", k);
    REJECT_PREFIX("{\"key\":\"a\\u0000b\"}", "invalid JSON: "); /* NUL: refused before the key */
    REJECT("{\"key\":\"a\\u007f\"}", k);
    REJECT("{\"key\":\"caf\\u00e9\"}", k);
    REJECT("{\"key\":42}", k);
    REJECT("{\"key\":null}", k);
    REJECT("{\"key\":[\"a\"]}", k);
    REJECT("[{\"key\":\"a\"},{\"key\":\"b c\"}]",
           "[1].key: must be 1..200 printable ASCII characters, no spaces");

    /* job_key_valid, the same rule for an Idempotency-Key header */
    ck_assert(job_key_valid("order-42"));
    ck_assert(job_key_valid(all));
    ck_assert(job_key_valid(k200));
    ck_assert(!job_key_valid(""));
    ck_assert(!job_key_valid("a b"));
    ck_assert(!job_key_valid("caf\xc3\xa9"));
    ck_assert(!job_key_valid("del\x7f"));
    char k201[JOB_KEY_ID_MAX + 2];
    memset(k201, 'k', JOB_KEY_ID_MAX + 1);
    k201[JOB_KEY_ID_MAX + 1] = '\0';
    ck_assert(!job_key_valid(k201));
}
END_TEST

START_TEST(all_new_fields_together)
{
    size_t n;
    bool batch;
    struct job_spec *s = accept_body(
        "[{\"task\":\"mail\",\"delay\":\"30s\",\"backoff\":{\"base\":\"1s\",\"max\":\"10m\"},"
        "\"key\":\"mail:7\",\"max_attempts\":5},"
        "{\"run_at\":1732571000.000001,\"key\":\"b\",\"ms\":1}]",
        &n, &batch);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(s[0].task, "mail");
    ck_assert_int_eq(s[0].delay_ms, 30000);
    ck_assert_int_eq(s[0].backoff_base_ms, 1000);
    ck_assert_int_eq(s[0].backoff_max_ms, 600000);
    ck_assert_str_eq(s[0].key, "mail:7");
    ck_assert_int_eq(s[0].max_attempts, 5);
    ck_assert_int_eq(s[1].run_at_us, 1732571000000001LL);
    ck_assert_int_eq(s[1].delay_ms, -1);
    ck_assert_int_eq(s[1].backoff_base_ms, 0);
    ck_assert_str_eq(s[1].key, "b");
    ck_assert_int_eq(s[1].ms, 1);
    job_specs_free(s, n);
}
END_TEST

/* ---- job_to_json ---- */

struct pairs {
    const char *f[32], *v[32];
    size_t fl[32], vl[32];
    size_t n;
};

static void pairs_add(struct pairs *p, const char *f, const char *v)
{
    p->f[p->n] = f;
    p->fl[p->n] = strlen(f);
    p->v[p->n] = v;
    p->vl[p->n] = strlen(v);
    p->n++;
}

/* Adds the field/value pairs of a NULL-terminated list. */
static void pairs_add_all(struct pairs *p, const char *const *kv)
{
    for (; kv[0] != NULL; kv += 2)
        pairs_add(p, kv[0], kv[1]);
}

static json_t *pairs_json(const struct pairs *p)
{
    return job_to_json(p->f, p->fl, p->v, p->vl, p->n);
}

START_TEST(json_view_of_done_job)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "0123456789abcdef0123456789abcdef",
        "state", "done",
        "queue", "default",
        "ms", "500",
        "payload", "secret payload",
        "max_attempts", "3",
        "attempts", "1",
        "created_at", "1732571000123456",
        "started_at", "1732571000100000",
        "finished_at", "1732571000700001",
        "worker", "w-3f2a",
        "digest", "00ff00ff00ff00ff",
        "iterations", "123456789",
        "cpu_ms", "500.016",
        "wall_ms", "501.5",
        "notify", "api-1 api-2",
        NULL});
    json_t *j = pairs_json(&p);
    ck_assert_ptr_nonnull(j);
    char *text = json_dumps(j, JOB_JSON_DUMP_FLAGS | JSON_PRESERVE_ORDER);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text,
                     "{\"id\":\"0123456789abcdef0123456789abcdef\",\"state\":\"done\","
                     "\"queue\":\"default\",\"task\":\"burn\",\"args\":null,\"key\":null,"
                     "\"timeout\":null,\"ms\":500,\"max_attempts\":3,\"attempts\":1,"
                     "\"created_at\":1732571000.123456,\"run_at\":null,\"promoted_at\":null,"
                     "\"started_at\":1732571000.1,"
                     "\"finished_at\":1732571000.700001,\"worker\":\"w-3f2a\",\"schedule\":null,\"tick\":null,"
                     "\"result\":{\"digest\":\"00ff00ff00ff00ff\",\"iterations\":123456789,"
                     "\"cpu_ms\":500.016,\"wall_ms\":501.5},\"error\":null,"
                     "\"backoff\":null,\"history\":[]}");
    free(text);
    /* types, not just text */
    ck_assert(json_is_integer(json_object_get(j, "attempts")));
    ck_assert(json_is_real(json_object_get(j, "created_at")));
    ck_assert(json_is_real(json_object_get(json_object_get(j, "result"), "cpu_ms")));
    ck_assert_ptr_null(json_object_get(j, "payload"));
    ck_assert_ptr_null(json_object_get(j, "notify"));
    json_decref(j);
}
END_TEST

/* task, args and timeout: parsed, defaulted, and refused with a clear message */
START_TEST(task_fields)
{
    size_t n;
    bool batch;
    struct job_spec *s = accept_body("{}", &n, &batch);
    ck_assert_str_eq(s->task, "burn");
    ck_assert_str_eq(s->args, "");
    ck_assert_int_eq(s->timeout_ms, 0);
    job_specs_free(s, n);
    s = accept_body("{\"task\":\"thumbs.resize:v2-x_1\",\"args\":{\"b\":[1,2.5,\"caf\\u00e9\"],"
                    "\"a\":null},\"timeout\":\"250ms\"}", &n, &batch);
    ck_assert_str_eq(s->task, "thumbs.resize:v2-x_1");
    ck_assert_str_eq(s->args, "{\"b\":[1,2.5,\"caf\xc3\xa9\"],\"a\":null}"); /* order kept, UTF-8 */
    ck_assert_uint_eq(s->args_len, strlen(s->args));
    ck_assert_int_eq(s->timeout_ms, 250);
    job_specs_free(s, n);
    s = accept_body("{\"task\":\"t\",\"args\":\"$(rm -rf /)\",\"timeout\":1.5}", &n, &batch);
    ck_assert_str_eq(s->args, "\"$(rm -rf /)\"");
    ck_assert_int_eq(s->timeout_ms, 1500);
    job_specs_free(s, n);
    s = accept_body("{\"task\":\"burn\",\"ms\":5,\"args\":null}", &n, &batch);
    ck_assert_int_eq(s->ms, 5);
    ck_assert_str_eq(s->args, "null");
    job_specs_free(s, n);
    const char *t = "task: must match [a-z0-9_.:-]{1,64}";
    REJECT("{\"task\":\"\"}", t);
    REJECT("{\"task\":\"Upper\"}", t);
    REJECT("{\"task\":\"a b\"}", t);
    REJECT("{\"task\":\"a;rm\"}", t);
    REJECT("{\"task\":7}", t);
    REJECT("{\"task\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", t);
    REJECT_PREFIX("{\"timeout\":\"soon\"}", "timeout: must be a duration from 10ms to 24h");
    REJECT_PREFIX("{\"timeout\":0}", "timeout: must be a duration");
    REJECT_PREFIX("{\"timeout\":\"5ms\"}", "timeout: must be a duration");
    REJECT_PREFIX("{\"timeout\":\"25h\"}", "timeout: must be a duration");
    REJECT_PREFIX("{\"timeout\":-1}", "timeout: must be a duration");
    REJECT("{\"task\":\"x\",\"ms\":5}", "ms: only for task \"burn\" (pass the task's input in args)");
    REJECT("[{},{\"payload\":\"p\",\"task\":\"x\"}]",
           "[1].payload: only for task \"burn\" (pass the task's input in args)");
}
END_TEST

/* A user task's result: its JSON value, or a string when stored as text */
START_TEST(json_view_of_task_results)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "abc", "state", "done", "task", "resize", "args", "{\"w\":64}",
        "timeout_ms", "2500", "result", "{\"ok\":[1,\"\xc3\xa9\"]}", "result_kind", "json", NULL});
    json_t *j = pairs_json(&p);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "task")), "resize");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "args"), "w")), 64);
    ck_assert_double_eq(json_real_value(json_object_get(j, "timeout")), 2.5);
    json_t *r = json_object_get(j, "result");
    ck_assert(json_is_array(json_object_get(r, "ok")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "ok"), 1)), "\xc3\xa9");
    ck_assert(json_is_null(json_object_get(j, "ms")));
    json_decref(j);
    struct pairs t = {0};
    pairs_add_all(&t, (const char *const[]){
        "id", "abc", "state", "done", "task", "sh", "result", "{not json", "result_kind", "text", NULL});
    j = pairs_json(&t);
    ck_assert_str_eq(json_string_value(json_object_get(j, "result")), "{not json");
    json_decref(j);
}
END_TEST

START_TEST(json_view_of_queued_and_failed_jobs)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "abc",
        "state", "queued",
        "queue", "default",
        "ms", "10",
        "max_attempts", "3",
        "created_at", "1000000",
        NULL});
    json_t *j = pairs_json(&p);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_object_size(j), 22);
    ck_assert_str_eq(json_string_value(json_object_get(j, "task")), "burn"); /* made before tasks */
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 0); /* absent: none yet */
    ck_assert_double_eq(json_real_value(json_object_get(j, "created_at")), 1.0);
    ck_assert(json_is_null(json_object_get(j, "started_at")));
    ck_assert(json_is_null(json_object_get(j, "finished_at")));
    ck_assert(json_is_null(json_object_get(j, "worker")));
    ck_assert(json_is_null(json_object_get(j, "result")));
    ck_assert(json_is_null(json_object_get(j, "error")));
    ck_assert(json_is_null(json_object_get(j, "run_at")));
    ck_assert(json_is_null(json_object_get(j, "backoff")));
    ck_assert(json_is_null(json_object_get(j, "key")));
    ck_assert(json_is_null(json_object_get(j, "schedule"))); /* not made by a schedule */
    ck_assert(json_is_null(json_object_get(j, "tick")));
    ck_assert(json_is_array(json_object_get(j, "history"))); /* no attempts yet: [] */
    ck_assert_uint_eq(json_array_size(json_object_get(j, "history")), 0);
    json_decref(j);

    /* failed: the worker stores an empty digest and an error */
    struct pairs f = {0};
    pairs_add_all(&f, (const char *const[]){
        "id", "abc",
        "state", "failed",
        "attempts", "2",
        "digest", "",
        "error", "task \"crashed\"",
        "ms", "not a number",
        "worker", "w-\xff",
        NULL});
    j = pairs_json(&f);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_null(json_object_get(j, "result")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")), "task \"crashed\"");
    ck_assert(json_is_null(json_object_get(j, "ms")));
    ck_assert(json_is_null(json_object_get(j, "queue")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "worker")), "w-?"); /* not valid UTF-8 */
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
}
END_TEST

START_TEST(json_view_uses_lengths_and_needs_id)
{
    /* values are not NUL-terminated at their length (as in a raw reply buffer) */
    const char *buf = "idXYZ500garbage";
    const char *f[] = {"idjunk", "msjunk"};
    size_t fl[] = {2, 2};
    const char *v[] = {buf + 2, buf + 5};
    size_t vl[] = {3, 3};
    json_t *j = job_to_json(f, fl, v, vl, 2);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "XYZ");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "ms")), 500);
    json_decref(j);

    /* no id (expired or unknown job), or an empty one: NULL */
    struct pairs p = {0};
    ck_assert_ptr_null(pairs_json(&p));
    pairs_add(&p, "state", "done");
    ck_assert_ptr_null(pairs_json(&p));
    pairs_add(&p, "id", "");
    ck_assert_ptr_null(pairs_json(&p));
}
END_TEST

/* A scheduled job with every new field: times as seconds, backoff in
 * seconds, history's times converted, the key. */
START_TEST(json_view_of_scheduled_job)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "abc",
        "state", "scheduled",
        "queue", "mail",
        "task", "send",
        "max_attempts", "5",
        "attempts", "2",
        "created_at", "1732571000000000",
        "run_at", "1732571030123456",
        "promoted_at", "1732571030200001",
        "backoff_base_ms", "500",
        "backoff_max_ms", "3600000",
        "history", "[{\"attempt\":1,\"worker\":\"w-1\",\"started_at\":1732571000100000,"
                   "\"ended_at\":1732571000350000,\"outcome\":\"failed\",\"error\":\"smtp 451\"},"
                   "{\"attempt\":2,\"worker\":\"w-2\",\"started_at\":1732571010000001,"
                   "\"ended_at\":1732571010500000,\"outcome\":\"timeout\",\"error\":\"\"}]",
        "key", "mail:7",
        NULL});
    json_t *j = pairs_json(&p);
    ck_assert_ptr_nonnull(j);
    char *text = json_dumps(j, JOB_JSON_DUMP_FLAGS);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text,
                     "{\"id\":\"abc\",\"state\":\"scheduled\",\"queue\":\"mail\",\"task\":\"send\","
                     "\"args\":null,\"key\":\"mail:7\",\"timeout\":null,\"ms\":null,"
                     "\"max_attempts\":5,\"attempts\":2,\"created_at\":1732571000.0,"
                     "\"run_at\":1732571030.123456,\"promoted_at\":1732571030.200001,"
                     "\"started_at\":null,\"finished_at\":null,\"worker\":null,\"schedule\":null,\"tick\":null,"
                     "\"result\":null,"
                     "\"error\":null,\"backoff\":{\"base\":0.5,\"max\":3600.0},"
                     "\"history\":[{\"attempt\":1,\"worker\":\"w-1\",\"started_at\":1732571000.1,"
                     "\"ended_at\":1732571000.35,\"outcome\":\"failed\",\"error\":\"smtp 451\"},"
                     "{\"attempt\":2,\"worker\":\"w-2\",\"started_at\":1732571010.000001,"
                     "\"ended_at\":1732571010.5,\"outcome\":\"timeout\",\"error\":\"\"}]}");
    free(text);
    /* types, not just text */
    ck_assert(json_is_real(json_object_get(j, "run_at")));
    json_t *h0 = json_array_get(json_object_get(j, "history"), 0);
    ck_assert(json_is_real(json_object_get(h0, "started_at")));
    ck_assert(json_is_integer(json_object_get(h0, "attempt")));
    ck_assert(json_is_real(json_object_get(json_object_get(j, "backoff"), "base")));
    json_decref(j);

    /* only one backoff field stored: the other is the server's default */
    struct pairs b = {0};
    pairs_add_all(&b, (const char *const[]){"id", "abc", "backoff_max_ms", "90000", NULL});
    j = pairs_json(&b);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_null(json_object_get(json_object_get(j, "backoff"), "base")));
    ck_assert_double_eq(json_real_value(json_object_get(json_object_get(j, "backoff"), "max")), 90.0);
    json_decref(j);
}
END_TEST

/* Expects the view of a job whose history field holds `history` to have
 * `want` as its history (JSON text, "null" for null), and the rest of the
 * view intact. */
static void assert_history(const char *history, const char *want)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "abc", "state", "queued", "key", "k1", "run_at", "2000000",
        "history", history, NULL});
    json_t *j = pairs_json(&p);
    ck_assert_msg(j != NULL, "history %s: no view", history);
    char *text = json_dumps(json_object_get(j, "history"), JOB_JSON_DUMP_FLAGS | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strcmp(text, want) == 0, "history %s: got %s, want %s", history, text, want);
    free(text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "abc");
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued");
    ck_assert_str_eq(json_string_value(json_object_get(j, "key")), "k1");
    ck_assert_double_eq(json_real_value(json_object_get(j, "run_at")), 2.0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 0);
    ck_assert_uint_eq(json_object_size(j), 22);
    json_decref(j);
}

START_TEST(json_view_of_odd_histories)
{
    /* not a JSON array of objects: null, never a failed view */
    assert_history("[{\"attempt\":1,", "null");
    assert_history("not json", "null");
    assert_history("{\"attempt\":1}", "null");
    assert_history("[1,2]", "null");
    assert_history("[{\"attempt\":1},\"x\"]", "null");
    assert_history("42", "null");
    assert_history("[] trailing", "null");
    /* "" is no history at all (scripts write "" for "no value") */
    assert_history("", "[]");
    assert_history("[]", "[]");
    /* a time that is not an integer of µs is null; an absent one stays absent */
    assert_history("[{\"attempt\":1,\"started_at\":\"soon\",\"ended_at\":1.5}]",
                   "[{\"attempt\":1,\"started_at\":null,\"ended_at\":null}]");
    assert_history("[{\"attempt\":3,\"worker\":\"w\",\"started_at\":5000000,\"ended_at\":null}]",
                   "[{\"attempt\":3,\"worker\":\"w\",\"started_at\":5.0,\"ended_at\":null}]");
    assert_history("[{\"attempt\":1,\"extra\":{\"started_at\":7}}]",
                   "[{\"attempt\":1,\"extra\":{\"started_at\":7}}]");
}
END_TEST

/* ---- allocation failures ---- */

/* A jansson allocator that fails the Nth allocation and counts live blocks,
 * so a test can see that every error path gave back what it took. */
static long alloc_live;
static long alloc_fail_at; /* 0: never */
static long alloc_seen;

static void *counting_malloc(size_t n)
{
    if (alloc_fail_at != 0 && ++alloc_seen == alloc_fail_at)
        return NULL;
    void *p = malloc(n);
    if (p != NULL)
        alloc_live++;
    return p;
}

static void counting_free(void *p)
{
    if (p != NULL)
        alloc_live--;
    free(p);
}

START_TEST(oom_paths_free_everything)
{
    struct pairs p = {0};
    pairs_add_all(&p, (const char *const[]){
        "id", "abc",
        "state", "done",
        "created_at", "1000000",
        "worker", "w-\xff",
        "digest", "00ff00ff00ff00ff",
        "cpu_ms", "1.5",
        "error", "e",
        "backoff_base_ms", "500",
        "history", "[{\"attempt\":1,\"started_at\":1000000,\"ended_at\":2000000},"
                   "{\"attempt\":2,\"started_at\":3000000}]",
        NULL});
    const char *body = "[{\"ms\":1,\"payload\":\"abc\"},{\"queue\":\"q\"},{\"ms\":-1}]";
    json_set_alloc_funcs(counting_malloc, counting_free);
    bool view_done = false, parse_done = false;
    for (long n = 1; n < 10000 && !(view_done && parse_done); n++) {
        alloc_fail_at = n;
        alloc_seen = 0;
        json_t *j = pairs_json(&p);
        if (alloc_seen < n) /* the nth allocation never came: every one was tried */
            view_done = true;
        ck_assert(j != NULL || alloc_seen >= n);
        json_decref(j);
        ck_assert_msg(alloc_live == 0, "job_to_json failing allocation %ld left %ld blocks", n,
                      alloc_live);

        alloc_seen = 0;
        struct job_spec *specs = NULL;
        size_t cnt;
        bool batch;
        char err[128] = "";
        ck_assert_int_eq(parse(body, &specs, &cnt, &batch, err, sizeof err), -1);
        ck_assert_ptr_null(specs);
        if (alloc_seen < n) {
            parse_done = true;
            ck_assert_str_eq(err, "[2].ms: must be an integer in 0..60000");
        }
        ck_assert_msg(alloc_live == 0, "job_parse_body failing allocation %ld left %ld blocks",
                      n, alloc_live);
    }
    alloc_fail_at = 0;
    json_set_alloc_funcs(malloc, free);
    ck_assert(view_done && parse_done);
}
END_TEST

/* ---- keys, states, time ---- */

START_TEST(key_names)
{
    char k[64];
    ck_assert_int_eq(key_queue(k, sizeof k, "offload:", "default"), 17);
    ck_assert_str_eq(k, "offload:q:default");
    ck_assert_int_eq(key_job(k, sizeof k, "offload:", "abc"), 15);
    ck_assert_str_eq(k, "offload:job:abc");
    ck_assert_int_gt(key_wip(k, sizeof k, "offload:", "w-1"), 0);
    ck_assert_str_eq(k, "offload:wip:w-1");
    ck_assert_int_gt(key_workers(k, sizeof k, "offload:"), 0);
    ck_assert_str_eq(k, "offload:workers");
    ck_assert_int_gt(key_dead(k, sizeof k, "offload:", "default"), 0);
    ck_assert_str_eq(k, "offload:dead:default");
    ck_assert_int_gt(key_done_channel(k, sizeof k, "offload:", "api-7"), 0);
    ck_assert_str_eq(k, "offload:done:api-7");
    ck_assert_int_gt(key_reaper_lock(k, sizeof k, "offload:"), 0);
    ck_assert_str_eq(k, "offload:reaper");
    ck_assert_int_gt(key_queues(k, sizeof k, "t1:"), 0);
    ck_assert_str_eq(k, "t1:queues");
    ck_assert_int_eq(key_job(k, sizeof k, "", "abc"), 7);
    ck_assert_str_eq(k, "job:abc");

    /* exact fit, one byte short, no room */
    char small[18];
    ck_assert_int_eq(key_queue(small, 18, "offload:", "default"), 17);
    ck_assert_int_eq(key_queue(small, 17, "offload:", "default"), -1);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(key_workers(small, 0, "offload:"), -1);
}
END_TEST

START_TEST(states)
{
    static const char *const names[] = {"queued", "scheduled", "running", "done",
                                        "failed", "dead",      "cancelled"};
    ck_assert_int_eq(JOB_SCHEDULED, JOB_QUEUED + 1);
    for (int s = JOB_QUEUED; s <= JOB_CANCELLED; s++) {
        enum job_state back = JOB_QUEUED;
        ck_assert_str_eq(job_state_name((enum job_state)s), names[s]);
        ck_assert_int_eq(job_state_parse(names[s], &back), 0);
        ck_assert_int_eq(back, s);
    }
    enum job_state st = JOB_DEAD;
    ck_assert_int_eq(job_state_parse("Done", &st), -1);
    ck_assert_int_eq(job_state_parse("", &st), -1);
    ck_assert_int_eq(job_state_parse(NULL, &st), -1);
    ck_assert_int_eq(st, JOB_DEAD);
    ck_assert_str_eq(job_state_name((enum job_state)42), "unknown");
    ck_assert(!job_state_terminal(JOB_QUEUED));
    ck_assert(!job_state_terminal(JOB_SCHEDULED));
    enum job_state sch = JOB_DEAD;
    ck_assert_int_eq(job_state_parse("scheduled", &sch), 0);
    ck_assert_int_eq(sch, JOB_SCHEDULED);
    ck_assert_str_eq(job_state_name(JOB_SCHEDULED), "scheduled");
    ck_assert(!job_state_terminal(JOB_RUNNING));
    ck_assert(job_state_terminal(JOB_DONE));
    ck_assert(job_state_terminal(JOB_FAILED));
    ck_assert(job_state_terminal(JOB_DEAD));
    ck_assert(job_state_terminal(JOB_CANCELLED));
}
END_TEST

START_TEST(queue_names)
{
    ck_assert(job_queue_valid("default"));
    ck_assert(job_queue_valid("A-z_0.9:x"));
    ck_assert(job_queue_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
    ck_assert(!job_queue_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    ck_assert(!job_queue_valid(""));
    ck_assert(!job_queue_valid(NULL));
    ck_assert(!job_queue_valid("a b"));
    ck_assert(!job_queue_valid("a/b"));
    ck_assert(!job_queue_valid("a{b}"));
    ck_assert(!job_queue_valid("a*"));
}
END_TEST

START_TEST(now_is_unix_microseconds)
{
    int64_t a = job_now_us();
    int64_t t = (int64_t)time(NULL) * 1000000;
    int64_t b = job_now_us();
    ck_assert_int_le(a, b);
    ck_assert_int_lt(llabs((long long)(a - t)), 2000000);
    ck_assert_int_gt(a, 1700000000LL * 1000000); /* after Nov 2023: in µs, not ms or s */
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, empty_body_is_one_default_job);
    tcase_add_test(tc, object_fields);
    tcase_add_test(tc, payload_limit);
    tcase_add_test(tc, field_errors);
    tcase_add_test(tc, json_errors);
    tcase_add_test(tc, batches);
    tcase_add_test(tc, batch_limits);
    tcase_add_test(tc, small_error_buffer);
    tcase_add_test(tc, delay_field);
    tcase_add_test(tc, run_at_field);
    tcase_add_test(tc, delay_and_run_at_together);
    tcase_add_test(tc, backoff_field);
    tcase_add_test(tc, key_field);
    tcase_add_test(tc, all_new_fields_together);
    tcase_add_test(tc, json_view_of_done_job);
    tcase_add_test(tc, task_fields);
    tcase_add_test(tc, json_view_of_task_results);
    tcase_add_test(tc, json_view_of_queued_and_failed_jobs);
    tcase_add_test(tc, json_view_uses_lengths_and_needs_id);
    tcase_add_test(tc, json_view_of_scheduled_job);
    tcase_add_test(tc, json_view_of_odd_histories);
    tcase_add_test(tc, oom_paths_free_everything);
    tcase_add_test(tc, key_names);
    tcase_add_test(tc, states);
    tcase_add_test(tc, queue_names);
    tcase_add_test(tc, now_is_unix_microseconds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(job_suite());
}
