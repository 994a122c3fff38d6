/* The job queue end to end: real Redis, real api, real workers. */
#include <check.h>
#include <pthread.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/task.h"
#include "tests/harness/stack.h"

static struct stack S;

static void up(int workers, const char *const *api_args)
{
    struct stack_opts o = {.workers = workers, .api_args = api_args};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

static void down(void)
{
    stack_stop(&S);
}

/* POSTs body, expects `code`, returns the parsed JSON answer. */
static json_t *post(const char *path, const char *body, long code)
{
    struct http_resp r;
    json_t *j;
    ck_assert_int_eq(stack_http(&S, "POST", path, body, NULL, 10000, &r), 0);
    ck_assert_msg(r.code == code, "POST %s %s: want %ld got %ld: %s", path, body, code, r.code, r.body);
    j = http_resp_json(&r);
    http_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void check_digest(json_t *job)
{
    json_t *res = json_object_get(job, "result");
    const char *digest = json_string_value(json_object_get(res, "digest"));
    json_int_t iters = json_integer_value(json_object_get(res, "iterations"));
    char want[17];
    ck_assert_ptr_nonnull(digest);
    snprintf(want, sizeof want, "%016llx", (unsigned long long)task_digest("", 0, (uint64_t)iters));
    ck_assert_str_eq(digest, want);
}

START_TEST(jobs_all_done_with_two_workers)
{
    char body[64 * 1024];
    size_t off = 0;
    json_t *ids_all = json_array();
    up(2, NULL);
    /* 100 in one batch, 100 one by one */
    off += (size_t)snprintf(body + off, sizeof body - off, "[");
    for (int i = 0; i < 100; i++)
        off += (size_t)snprintf(body + off, sizeof body - off, "%s{\"ms\":5}", i ? "," : "");
    snprintf(body + off, sizeof body - off, "]");
    json_t *batch = post("/jobs", body, 202);
    json_array_extend(ids_all, json_object_get(batch, "ids"));
    json_decref(batch);
    for (int i = 0; i < 100; i++) {
        json_t *one = post("/jobs", "{\"ms\":5}", 202);
        ck_assert_str_eq(json_string_value(json_object_get(one, "state")), "queued");
        json_array_append(ids_all, json_object_get(one, "id"));
        json_decref(one);
    }
    ck_assert_int_eq(json_array_size(ids_all), 200);
    size_t i;
    json_t *idv;
    json_t *workers = json_object();
    json_array_foreach(ids_all, i, idv)
    {
        json_t *job = stack_job(&S, json_string_value(idv), 30);
        ck_assert_ptr_nonnull(job);
        ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "done");
        ck_assert_int_eq(json_integer_value(json_object_get(job, "attempts")), 1);
        check_digest(job);
        json_object_set_new(workers, json_string_value(json_object_get(job, "worker")), json_true());
        json_decref(job);
    }
    ck_assert_int_eq(json_object_size(workers), 2); /* both workers took a share */
    json_decref(workers);
    json_decref(ids_all);
    down();
}
END_TEST

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median time (ms) of `rounds` POSTs of a batch of `jobs` 0-ms jobs, all
 * on one kept-alive connection. */
static double batch_answer_ms(CURL *c, int jobs, int rounds)
{
    char url[96];
    char *body = malloc((size_t)jobs * 10 + 2);
    double t[16];
    size_t off = 0;
    ck_assert_ptr_nonnull(body);
    body[off++] = '[';
    for (int i = 0; i < jobs; i++)
        off += (size_t)sprintf(body + off, "%s{\"ms\":0}", i ? "," : "");
    body[off++] = ']';
    body[off] = '\0';
    snprintf(url, sizeof url, "%s/jobs", S.base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    for (int i = 0; i < rounds && i < 16; i++) {
        long code = 0;
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        ck_assert_int_eq(code, 202);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t[i]);
        t[i] *= 1000.0;
    }
    free(body);
    qsort(t, (size_t)rounds, sizeof t[0], cmp_double);
    return t[rounds / 2];
}

/* An answer over 16 KB on a kept-alive connection must not wait for the
 * client's delayed ACK (~40 ms with Nagle on): a batch of 500 (17.5 KB of
 * ids) answers about as fast as one of 400 (14 KB), measured side by side. */
START_TEST(large_answers_do_not_stall_kept_alive)
{
    up(0, NULL);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    double small = batch_answer_ms(c, 400, 9);
    double large = batch_answer_ms(c, 500, 9);
    long reused = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &reused);
    curl_easy_cleanup(c);
    ck_assert_int_eq(reused, 0); /* the last request made no new connection */
    ck_assert_msg(large < small + 20.0, "batch of 500: median %.1f ms, batch of 400: %.1f ms", large, small);
    down();
}
END_TEST

static bool readyz_is(long want)
{
    struct http_resp r;
    if (stack_http(&S, "GET", "/readyz", NULL, NULL, 2000, &r) != 0)
        return false;
    bool ok = r.code == want;
    http_resp_free(&r);
    return ok;
}

/* /readyz answers 503 naming the refused policy. */
static bool readyz_refused(void *arg)
{
    struct http_resp r;
    (void)arg;
    if (stack_http(&S, "GET", "/readyz", NULL, NULL, 2000, &r) != 0)
        return false;
    bool ok = r.code == 503 && r.body && strstr(r.body, "maxmemory-policy");
    http_resp_free(&r);
    return ok;
}

static bool readyz_200(void *arg)
{
    (void)arg;
    return readyz_is(200);
}

/* Sets Redis's maxmemory-policy and drops every client's connection, so the
 * API and the workers connect (and check) again. */
static void redis_policy(const char *policy)
{
    redisContext *c = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "CONFIG SET maxmemory-policy %s", policy);
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = redisCommand(c, "CLIENT KILL TYPE normal");
    ck_assert(r && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

/* A Redis that may evict keys could lose accepted jobs: the API refuses to be
 * ready (saying why) and so does the worker, until the policy is safe or the
 * operator passes --allow-eviction. */
START_TEST(evicting_redis_refused_until_allowed)
{
    up(1, NULL);
    redis_policy("allkeys-lru");
    ck_assert_int_eq(harness_wait_until(readyz_refused, NULL, 5000, 50), 0);
    struct http_resp r;
    ck_assert_int_eq(stack_http(&S, "GET", "/readyz", NULL, NULL, 2000, &r), 0);
    ck_assert_msg(strstr(r.body, "maxmemory-policy allkeys-lru") && strstr(r.body, "--allow-eviction"),
                  "/readyz: %s", r.body);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"ms\":1}", NULL, 2000, &r), 0);
    ck_assert_int_eq(r.code, 503);
    ck_assert_ptr_nonnull(strstr(r.body, "maxmemory-policy"));
    http_resp_free(&r);
    /* safe again: ready within a reconnect, and the worker serves again */
    redis_policy("noeviction");
    ck_assert_int_eq(harness_wait_until(readyz_200, NULL, 5000, 50), 0);
    json_t *j = post("/jobs?wait=10", "{\"ms\":1}", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
    json_decref(j);
    down();
    /* the operator's choice */
    const char *allow[] = {"--allow-eviction", NULL};
    up(0, allow);
    redis_policy("volatile-lru");
    harness_sleep_ms(1500);
    ck_assert_int_eq(harness_wait_until(readyz_200, NULL, 5000, 50), 0);
    down();
}
END_TEST

START_TEST(post_wait_returns_finished_job)
{
    up(1, NULL);
    json_t *job = post("/jobs?wait=10", "{\"ms\":50,\"payload\":\"abc\"}", 200);
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "done");
    ck_assert_ptr_nonnull(json_object_get(job, "result"));
    ck_assert(json_real_value(json_object_get(job, "finished_at")) >=
              json_real_value(json_object_get(job, "started_at")));
    json_decref(job);
    /* a wait shorter than the job answers 202 with the job as it stands */
    json_t *pending = post("/jobs?wait=0.1", "{\"ms\":2000}", 202);
    const char *id = json_string_value(json_object_get(pending, "id"));
    ck_assert_ptr_nonnull(id);
    /* GET ?wait long-polls until it is done */
    json_t *done = stack_job(&S, id, 10);
    ck_assert_ptr_nonnull(done);
    ck_assert_str_eq(json_string_value(json_object_get(done, "state")), "done");
    json_decref(done);
    json_decref(pending);
    down();
}
END_TEST

START_TEST(killed_worker_job_finishes_on_survivor)
{
    up(2, NULL);
    json_t *j = post("/jobs", "{\"ms\":3000}", 202);
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *job = NULL;
    char w[128];
    for (int i = 0; i < 100; i++) {
        json_decref(job);
        job = stack_job(&S, id, 0);
        if (job && strcmp(json_string_value(json_object_get(job, "state")), "running") == 0)
            break;
        harness_sleep_ms(20);
    }
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "running");
    snprintf(w, sizeof w, "%s", json_string_value(json_object_get(job, "worker")));
    /* which of the two is running it? kill that one */
    char want[32];
    int victim = -1;
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "-%d-", (int)S.workers[i]);
        if (strstr(w, want))
            victim = i;
    }
    ck_assert_msg(victim >= 0, "worker id %s names no pid of ours", w);
    harness_kill(S.workers[victim], SIGKILL);
    harness_wait_exit(S.workers[victim], 5000, NULL);
    S.workers[victim] = 0;
    json_decref(job);
    job = stack_job(&S, id, 20);
    ck_assert_ptr_nonnull(job);
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(job, "attempts")), 2);
    ck_assert_str_ne(json_string_value(json_object_get(job, "worker")), w);
    json_decref(job);
    json_decref(j);
    down();
}
END_TEST

START_TEST(redis_down_503_then_recovers)
{
    struct http_resp r;
    char ra[16];
    up(1, NULL);
    harness_redis_kill(&S.redis);
    harness_sleep_ms(200);
    int64_t t0 = harness_now_ms();
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"ms\":1}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 503);
    ck_assert_ptr_nonnull(http_resp_header(&r, "Retry-After", ra, sizeof ra));
    ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
    http_resp_free(&r);
    ck_assert_msg(harness_now_ms() - t0 < 1000, "503 must come at once");
    ck_assert_int_eq(stack_http(&S, "GET", "/readyz", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 503);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/healthz", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200); /* the loop still turns */
    http_resp_free(&r);
    ck_assert_int_eq(harness_redis_resume(&S.redis), 0);
    long code = 0;
    for (int i = 0; i < 100 && code != 202; i++) {
        harness_sleep_ms(100);
        ck_assert_int_eq(stack_http(&S, "POST", "/jobs?wait=10", "{\"ms\":1}", NULL, 15000, &r), 0);
        code = r.code;
        http_resp_free(&r);
        if (code == 200)
            break;
    }
    ck_assert_msg(code == 200, "after Redis is back the job must run (got %ld)", code);
    ck_assert_int_eq(harness_wait_exit(S.api, 0, NULL), -1); /* the API never exited */
    down();
}
END_TEST

/* Redis stopped, not killed: every request still answers within the
 * deadline, /readyz says why, and all is well once Redis wakes. */
START_TEST(hung_redis_answers_503_within_deadline)
{
    struct http_resp r;
    char ra[16];
    up(0, (const char *const[]){"--redis-timeout", "500ms", NULL});
    /* a Redis round trip now: no idle PING is in flight when Redis stops */
    ck_assert_int_eq(stack_http(&S, "GET", "/jobs/0123456789abcdef0123456789abcdef", NULL, NULL, 3000, &r), 0);
    http_resp_free(&r);
    ck_assert_int_eq(kill(S.redis.pid, SIGSTOP), 0);
    int64_t t0 = harness_now_ms();
    ck_assert_msg(stack_http(&S, "POST", "/jobs", "{\"ms\":1}", NULL, 6000, &r) == 0,
                  "POST /jobs hung with Redis stopped");
    int64_t took = harness_now_ms() - t0;
    kill(S.redis.pid, SIGCONT); /* before any assertion can end the test */
    ck_assert_int_eq(r.code, 503);
    ck_assert_msg(took < 3000, "the 503 took %lld ms with a 500 ms deadline", (long long)took);
    ck_assert_ptr_nonnull(http_resp_header(&r, "Retry-After", ra, sizeof ra));
    /* it may still be enqueued when Redis wakes: the answer says so and names the id */
    json_t *j = http_resp_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "unknown");
    const char *id = json_string_value(json_array_get(json_object_get(j, "ids"), 0));
    ck_assert_ptr_nonnull(id);
    char path[64];
    snprintf(path, sizeof path, "/jobs/%s", id);
    json_decref(j);
    http_resp_free(&r);
    /* stopped again with no traffic: the idle check notices and /readyz says why */
    harness_sleep_ms(300);
    ck_assert_int_eq(kill(S.redis.pid, SIGSTOP), 0);
    harness_sleep_ms(2500);
    int rc = stack_http(&S, "GET", "/readyz", NULL, NULL, 3000, &r);
    kill(S.redis.pid, SIGCONT);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(r.code, 503);
    ck_assert_msg(strstr(r.body, "--redis-timeout") != NULL, "readyz: %s", r.body);
    http_resp_free(&r);
    long code = 0;
    for (int i = 0; i < 50 && code != 200; i++) {
        harness_sleep_ms(100);
        ck_assert_int_eq(stack_http(&S, "GET", "/readyz", NULL, NULL, 3000, &r), 0);
        code = r.code;
        http_resp_free(&r);
    }
    ck_assert_msg(code == 200, "ready again after Redis woke");
    ck_assert_int_eq(stack_http(&S, "GET", path, NULL, NULL, 3000, &r), 0);
    ck_assert_msg(r.code == 200 || r.code == 404, "the unknown job is there or not: %ld", r.code);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"ms\":1}", NULL, 3000, &r), 0);
    ck_assert_int_eq(r.code, 202);
    http_resp_free(&r);
    down();
}
END_TEST

static long long redis_evalsha_calls(redisContext *c)
{
    redisReply *rep = redisCommand(c, "INFO commandstats");
    const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "cmdstat_evalsha:calls=") : NULL;
    long long n = p ? atoll(p + strlen("cmdstat_evalsha:calls=")) : 0;
    freeReplyObject(rep);
    return n;
}

static long post_code(const char *path, const char *body)
{
    struct http_resp r;
    long code;
    ck_assert_int_eq(stack_http(&S, "POST", path, body, NULL, 5000, &r), 0);
    code = r.code;
    http_resp_free(&r);
    return code;
}

/* Queue names are bounded (--max-queues) and empty ones forgotten; the
 * queue figures are asked of Redis at most once a second, whoever scrapes. */
START_TEST(queues_bounded_and_figures_cached)
{
    struct http_resp r;
    up(0, (const char *const[]){"--max-queues", "3", "--metrics-public", NULL});
    redisContext *c = harness_redis_connect(&S.redis);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(post_code("/jobs", "{\"queue\":\"a\"}"), 202);
    ck_assert_int_eq(post_code("/jobs", "[{\"queue\":\"b\"},{\"queue\":\"c\"},{\"queue\":\"b\"}]"), 202);
    ck_assert_int_eq(post_code("/jobs", "{\"queue\":\"a\"}"), 202); /* a known queue is fine */
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"queue\":\"d\"}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 429);
    ck_assert_msg(strstr(r.body, "--max-queues") != NULL, "%s", r.body);
    http_resp_free(&r);
    /* a empties; once it has been empty for a minute it is forgotten and d fits */
    freeReplyObject(redisCommand(c, "DEL offload:q:a"));
    freeReplyObject(redisCommand(c, "HSET offload:queues:empty a 1"));
    freeReplyObject(redisCommand(c, "DEL offload:queues:swept")); /* swept at most once a second: as if it passed */
    ck_assert_int_eq(post_code("/jobs", "{\"queue\":\"d\"}"), 202);
    ck_assert_int_eq(stack_http(&S, "GET", "/queues", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    ck_assert_msg(strstr(r.body, "\"d\"") != NULL && strstr(r.body, "\"a\"") == NULL, "%s", r.body);
    http_resp_free(&r);
    /* b empty for long: a batch for b and a new e may not forget b to fit e */
    freeReplyObject(redisCommand(c, "DEL offload:q:b"));
    freeReplyObject(redisCommand(c, "HSET offload:queues:empty b 1"));
    freeReplyObject(redisCommand(c, "DEL offload:queues:swept"));
    ck_assert_int_eq(post_code("/jobs", "[{\"queue\":\"b\"},{\"queue\":\"e\"}]"), 429);
    redisReply *n = redisCommand(c, "SCARD offload:queues");
    ck_assert_int_eq(n->integer, 3);
    freeReplyObject(n);
    /* 30 scrapes and /queues in a row: one or two fetches, not 30 */
    long long before = redis_evalsha_calls(c);
    int64_t t0 = harness_now_ms();
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(stack_http(&S, "GET", i % 2 ? "/metrics" : "/queues", NULL, NULL, 5000, &r), 0);
        ck_assert_int_eq(r.code, 200);
        http_resp_free(&r);
    }
    long long fetches = redis_evalsha_calls(c) - before;
    long long allowed = 2 + (harness_now_ms() - t0) / 1000;
    ck_assert_msg(fetches <= allowed, "%lld queue fetches for 30 requests (allowed %lld)", fetches, allowed);
    redisFree(c);
    down();
}
END_TEST

struct bad_case {
    const char *method, *path, *body;
    long code;
    const char *needle; /* in the error message */
};

START_TEST(bad_inputs_get_their_codes)
{
    static const struct bad_case cases[] = {
        {"POST", "/jobs", "{\"ms\":", 400, "invalid JSON"},
        {"POST", "/jobs", "{\"ms\":\"fast\"}", 400, "ms"},
        {"POST", "/jobs", "{\"ms\":60001}", 400, "0..60000"},
        {"POST", "/jobs", "{\"ms\":-1}", 400, "0..60000"},
        {"POST", "/jobs", "{\"queue\":\"a b\"}", 400, "queue"},
        {"POST", "/jobs", "{\"max_attempts\":0}", 400, "max_attempts"},
        {"POST", "/jobs", "{\"colour\":1}", 400, "colour"},
        {"POST", "/jobs", "[{\"ms\":1},{\"ms\":1},{\"ms\":\"x\"}]", 400, "[2]"},
        {"POST", "/jobs", "[]", 400, ""},
        {"POST", "/jobs", "42", 400, ""},
        {"POST", "/jobs?wait=abc", "{}", 400, "wait"},
        {"GET", "/nope", NULL, 404, "no route"},
        {"GET", "/jobs/0123456789abcdef0123456789abcdef", NULL, 404, "no job"},
        {"GET", "/jobs/zzz", NULL, 404, "no job"},
        {"DELETE", "/jobs/0123456789abcdef0123456789abcdef", NULL, 404, "no job"},
        {"GET", "/jobs", NULL, 405, "allowed"},
        {"PUT", "/queues", "{}", 405, "allowed"},
        {"GET", "/cpu?mode=fast", NULL, 400, "mode"},
        {"GET", "/cpu?mode=inline&ms=70000", NULL, 400, "ms"},
        {"GET", "/io?mode=magic", NULL, 400, "mode"},
    };
    struct http_resp r;
    char allow[64];
    up(0, (const char *const[]){"--max-body", "1000", NULL});
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        ck_assert_int_eq(stack_http(&S, c->method, c->path, c->body, NULL, 5000, &r), 0);
        ck_assert_msg(r.code == c->code, "%s %s %s: want %ld got %ld (%s)", c->method, c->path,
                      c->body ? c->body : "", c->code, r.code, r.body);
        json_t *j = http_resp_json(&r);
        ck_assert_msg(j && json_is_string(json_object_get(j, "error")), "%s %s: not a JSON error: %s",
                      c->method, c->path, r.body);
        ck_assert_msg(strstr(json_string_value(json_object_get(j, "error")), c->needle),
                      "%s %s: error '%s' lacks '%s'", c->method, c->path,
                      json_string_value(json_object_get(j, "error")), c->needle);
        if (c->code == 405)
            ck_assert_ptr_nonnull(http_resp_header(&r, "Allow", allow, sizeof allow));
        json_decref(j);
        http_resp_free(&r);
    }
    /* a body over --max-body */
    char big[1500];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '{';
    big[sizeof big - 2] = '}';
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", big, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 413);
    http_resp_free(&r);
    /* still serving */
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"ms\":1}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 202);
    ck_assert_ptr_nonnull(http_resp_header(&r, "Location", allow, sizeof allow));
    ck_assert_int_eq(strncmp(allow, "/jobs/", 6), 0);
    http_resp_free(&r);
    down();
}
END_TEST

START_TEST(queue_limit_gives_429)
{
    struct http_resp r;
    char ra[16];
    up(0, (const char *const[]){"--max-queue", "3", NULL});
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", NULL, 5000, &r), 0);
        ck_assert_int_eq(r.code, 202);
        http_resp_free(&r);
    }
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 429);
    ck_assert_ptr_nonnull(http_resp_header(&r, "Retry-After", ra, sizeof ra));
    http_resp_free(&r);
    /* another queue is not full */
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{\"queue\":\"other\"}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 202);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/queues", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    json_t *q = http_resp_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(q, "queues"), "default"), "depth")), 3);
    json_decref(q);
    http_resp_free(&r);
    down();
}
END_TEST

START_TEST(auth_token_required)
{
    struct http_resp r;
    up(0, (const char *const[]){"--auth-token", "s3cret", NULL});
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 401);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", (const char *const[]){"Authorization: Bearer wrong", NULL}, 5000, &r), 0);
    ck_assert_int_eq(r.code, 401);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", (const char *const[]){"Authorization: Bearer s3cret", NULL}, 5000, &r), 0);
    ck_assert_int_eq(r.code, 202);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/healthz", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    /* /metrics names every queue: with a token it needs the token too */
    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 401);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, (const char *const[]){"Authorization: Bearer s3cret", NULL}, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    down();
}
END_TEST

/* The token from a file (which ps does not show), and --metrics-public. */
START_TEST(auth_token_from_file)
{
    struct http_resp r;
    char path[] = "/tmp/offload-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "fromfile\n", 9), 9);
    close(fd);
    up(0, (const char *const[]){"--auth-token", "ignored", "--auth-token-file", path, "--metrics-public", NULL});
    unlink(path);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", (const char *const[]){"Authorization: Bearer ignored", NULL}, 5000, &r), 0);
    ck_assert_int_eq(r.code, 401);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "POST", "/jobs", "{}", (const char *const[]){"Authorization: Bearer fromfile", NULL}, 5000, &r), 0);
    ck_assert_int_eq(r.code, 202);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    down();
}
END_TEST

/* /cpu?mode=inline stalls the loop on purpose: off unless --experiments. */
START_TEST(experiment_routes_need_the_flag)
{
    struct http_resp r;
    struct stack_opts o = {.workers = 0, .no_experiments = true};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    ck_assert_int_eq(stack_http(&S, "GET", "/cpu?mode=inline&ms=60000", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "--experiments"));
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "GET", "/io", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 404);
    http_resp_free(&r);
    down();
}
END_TEST

START_TEST(cancel_queued_job)
{
    struct http_resp r;
    char path[64];
    up(0, NULL);
    json_t *j = post("/jobs", "{}", 202);
    snprintf(path, sizeof path, "/jobs/%s", json_string_value(json_object_get(j, "id")));
    ck_assert_int_eq(stack_http(&S, "DELETE", path, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    http_resp_free(&r);
    ck_assert_int_eq(stack_http(&S, "DELETE", path, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 409);
    http_resp_free(&r);
    json_t *job = stack_job(&S, json_string_value(json_object_get(j, "id")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "cancelled");
    json_decref(job);
    json_decref(j);
    /* a cancelled job is never run: start a worker and check it stays cancelled */
    down();
}
END_TEST

START_TEST(metrics_and_info)
{
    struct http_resp r;
    up(1, NULL);
    json_t *j = post("/jobs?wait=5", "{\"ms\":1}", 200);
    json_decref(j);
    ck_assert_int_eq(stack_http(&S, "GET", "/metrics", NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.code, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "offload_http_requests_total{route=\"/jobs\",code=\"200\"} 1"));
    ck_assert_ptr_nonnull(strstr(r.body, "offload_event_loop_lag_seconds_bucket"));
    ck_assert_ptr_nonnull(strstr(r.body, "offload_queue_depth{queue=\"default\"} 0"));
    ck_assert_ptr_nonnull(strstr(r.body, "offload_workers_alive 1"));
    http_resp_free(&r);
    down();
}
END_TEST

struct bg_req {
    const char *path;
    const char *body;
    long code;
};

static void *bg_post(void *arg)
{
    struct bg_req *b = arg;
    struct http_resp r;
    if (stack_http(&S, "POST", b->path, b->body, NULL, 20000, &r) == 0)
        b->code = r.code;
    http_resp_free(&r);
    return NULL;
}

START_TEST(sigterm_drains_in_flight_then_exits_0)
{
    pthread_t th;
    struct bg_req b = {.path = "/jobs?wait=10", .body = "{\"ms\":1000}"};
    int status = -1;
    up(1, NULL);
    pthread_create(&th, NULL, bg_post, &b);
    harness_sleep_ms(300);
    harness_kill(S.api, SIGTERM);
    harness_sleep_ms(100);
    /* no longer accepting */
    struct http_resp r;
    ck_assert_int_ne(stack_http(&S, "GET", "/healthz", NULL, NULL, 1000, &r), 0);
    http_resp_free(&r);
    pthread_join(th, NULL);
    ck_assert_int_eq(b.code, 200); /* the request in flight was finished */
    ck_assert_int_eq(harness_wait_exit(S.api, 5000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    S.api = 0;
    down();
}
END_TEST

/* A long-poll still open when the grace period ends gets the job as it
 * stands, not a cut connection. */
START_TEST(sigterm_answers_open_long_polls)
{
    pthread_t th;
    struct bg_req b = {.path = "/jobs?wait=20", .body = "{\"ms\":10000}"};
    int status = -1;
    up(1, (const char *const[]){"--grace", "1s", NULL});
    pthread_create(&th, NULL, bg_post, &b);
    harness_sleep_ms(500);
    int64_t t0 = harness_now_ms();
    harness_kill(S.api, SIGTERM);
    pthread_join(th, NULL);
    ck_assert_msg(b.code == 202, "the open long-poll got %ld, not the job as it stands", b.code);
    ck_assert_msg(harness_now_ms() - t0 < 5000, "answered only after %lld ms", (long long)(harness_now_ms() - t0));
    ck_assert_int_eq(harness_wait_exit(S.api, 5000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    S.api = 0;
    down();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("jobs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, jobs_all_done_with_two_workers);
    tcase_add_test(tc, post_wait_returns_finished_job);
    tcase_add_test(tc, large_answers_do_not_stall_kept_alive);
    tcase_add_test(tc, evicting_redis_refused_until_allowed);
    tcase_add_test(tc, killed_worker_job_finishes_on_survivor);
    tcase_add_test(tc, redis_down_503_then_recovers);
    tcase_add_test(tc, hung_redis_answers_503_within_deadline);
    tcase_add_test(tc, bad_inputs_get_their_codes);
    tcase_add_test(tc, queue_limit_gives_429);
    tcase_add_test(tc, queues_bounded_and_figures_cached);
    tcase_add_test(tc, auth_token_required);
    tcase_add_test(tc, auth_token_from_file);
    tcase_add_test(tc, experiment_routes_need_the_flag);
    tcase_add_test(tc, cancel_queued_job);
    tcase_add_test(tc, metrics_and_info);
    tcase_add_test(tc, sigterm_drains_in_flight_then_exits_0);
    tcase_add_test(tc, sigterm_answers_open_long_polls);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
