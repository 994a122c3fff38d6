/* libFuzzer target: POST /jobs bodies through job_parse_body and
 * job_specs_free. The body is untrusted network input, read by length
 * (never as a C string), so the fuzzer's exactly-sized buffer lets ASan see
 * any read past it. */
#include "common/job.h"

#include "fuzz/fuzz.h"

/* Checks one parsed spec against the limits job.h promises. */
static void fuzz_job_check_spec(const struct job_spec *s, size_t i)
{
    FUZZ_CHECK(s->ms >= 0 && s->ms <= JOB_MS_MAX, "[%zu].ms %d", i, s->ms);
    FUZZ_CHECK(s->max_attempts >= 1 && s->max_attempts <= JOB_ATTEMPTS_MAX,
               "[%zu].max_attempts %d", i, s->max_attempts);
    FUZZ_CHECK(fuzz_terminated(s->queue, sizeof s->queue), "[%zu].queue not terminated", i);
    FUZZ_CHECK(job_queue_valid(s->queue), "[%zu].queue \"%s\" invalid", i, s->queue);
    FUZZ_CHECK(s->payload != NULL, "[%zu].payload NULL", i);
    FUZZ_CHECK(s->payload_len <= JOB_PAYLOAD_MAX, "[%zu].payload_len %zu", i, s->payload_len);
    FUZZ_CHECK(s->payload[s->payload_len] == '\0', "[%zu].payload not terminated", i);
    FUZZ_CHECK(fuzz_terminated(s->task, sizeof s->task), "[%zu].task not terminated", i);
    FUZZ_CHECK(job_task_valid(s->task), "[%zu].task \"%s\" invalid", i, s->task);
    FUZZ_CHECK(s->args != NULL && s->args[s->args_len] == '\0', "[%zu].args", i);
    FUZZ_CHECK(memchr(s->args, '\n', s->args_len) == NULL, "[%zu].args not one line", i);
    FUZZ_CHECK(s->timeout_ms == 0 || (s->timeout_ms >= JOB_TIMEOUT_MIN_MS && s->timeout_ms <= JOB_TIMEOUT_MAX_MS),
               "[%zu].timeout_ms %lld", i, (long long)s->timeout_ms);
    FUZZ_CHECK(strcmp(s->task, JOB_TASK_DEFAULT) == 0 || (s->ms == JOB_MS_DEFAULT && s->payload_len == 0),
               "[%zu] burn input on task %s", i, s->task);
}

/* Parses data as a body, checks the outcome, frees it. Returns what
 * job_parse_body returned (0 or -1). */
static int fuzz_job_one(const uint8_t *data, size_t size)
{
    struct job_spec *specs = (struct job_spec *)1; /* must be overwritten */
    size_t n = 99;
    bool is_batch = true;
    char err[256];
    memset(err, 'x', sizeof err);

    int rc = job_parse_body((const char *)data, size, &specs, &n, &is_batch, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(specs != NULL, "specs NULL on success");
        FUZZ_CHECK(n >= 1 && n <= JOB_BATCH_MAX, "n %zu", n);
        FUZZ_CHECK(is_batch || n == 1, "%zu specs but not a batch", n);
        for (size_t i = 0; i < n; i++)
            fuzz_job_check_spec(&specs[i], i);
    } else {
        FUZZ_CHECK(specs == NULL && n == 0 && !is_batch, "outputs not reset on failure");
        FUZZ_CHECK(fuzz_terminated(err, sizeof err), "err not terminated");
        FUZZ_CHECK(err[0] != '\0', "empty err");
    }
    job_specs_free(specs, n);

    /* A tiny error buffer truncates the message but must not change the result. */
    char small[8];
    struct job_spec *again = NULL;
    size_t n2 = 0;
    int rc2 = job_parse_body((const char *)data, size, &again, &n2, &is_batch, small, sizeof small);
    FUZZ_CHECK(rc2 == rc && n2 == n, "small err buffer: rc %d->%d n %zu->%zu", rc, rc2, n, n2);
    if (rc2 < 0)
        FUZZ_CHECK(fuzz_terminated(small, sizeof small) && small[0] != '\0', "small err");
    job_specs_free(again, n2);
    return rc;
}

FUZZ_ENTRY(fuzz_job_one)
