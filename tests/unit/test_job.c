/* Unit tests for common/job.c: POST /jobs body parsing (defaults, ranges,
 * batches, error messages), the JSON view of a job hash, key names, states.
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
           "colour: unknown field (allowed: task, args, timeout, queue, max_attempts, ms, payload)");
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
    REJECT("[{},{\"x\":1}]", "[1].x: unknown field (allowed: task, args, timeout, queue, max_attempts, ms, payload)");
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
                     "\"queue\":\"default\",\"task\":\"burn\",\"args\":null,\"timeout\":null,"
                     "\"ms\":500,\"max_attempts\":3,\"attempts\":1,"
                     "\"created_at\":1732571000.123456,\"started_at\":1732571000.1,"
                     "\"finished_at\":1732571000.700001,\"worker\":\"w-3f2a\","
                     "\"result\":{\"digest\":\"00ff00ff00ff00ff\",\"iterations\":123456789,"
                     "\"cpu_ms\":500.016,\"wall_ms\":501.5},\"error\":null}");
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
    ck_assert_uint_eq(json_object_size(j), 15);
    ck_assert_str_eq(json_string_value(json_object_get(j, "task")), "burn"); /* made before tasks */
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 0); /* absent: none yet */
    ck_assert_double_eq(json_real_value(json_object_get(j, "created_at")), 1.0);
    ck_assert(json_is_null(json_object_get(j, "started_at")));
    ck_assert(json_is_null(json_object_get(j, "finished_at")));
    ck_assert(json_is_null(json_object_get(j, "worker")));
    ck_assert(json_is_null(json_object_get(j, "result")));
    ck_assert(json_is_null(json_object_get(j, "error")));
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
    static const char *const names[] = {"queued", "running", "done",
                                        "failed", "dead",    "cancelled"};
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
    tcase_add_test(tc, json_view_of_done_job);
    tcase_add_test(tc, task_fields);
    tcase_add_test(tc, json_view_of_task_results);
    tcase_add_test(tc, json_view_of_queued_and_failed_jobs);
    tcase_add_test(tc, json_view_uses_lengths_and_needs_id);
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
