/* offload enqueue; see cmd_enqueue.h. */
#include "cli/cmd_enqueue.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/args.h"
#include "common/job.h"

/* The API's bound on ?wait=S (POST /jobs). */
#define ENQUEUE_WAIT_MAX_MS 300000

/* The states a job does not leave. */
static bool enqueue_state_final(const char *s)
{
    return strcmp(s, "done") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "dead") == 0 ||
           strcmp(s, "cancelled") == 0;
}

/* The job's result on stdout: a string as it is, other JSON compact. */
static void enqueue_print_result(const json_t *result)
{
    if (json_is_string(result))
        fwrite(json_string_value(result), 1, json_string_length(result), stdout);
    else
        json_dumpf(result, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    putchar('\n');
}

/* The body of POST /jobs (new reference), or NULL after saying why. */
static json_t *enqueue_body(const char *task, const char *args, const char *queue,
                            const char *delay, const char *key)
{
    json_error_t jerr;
    int64_t ms;
    json_t *a = NULL, *body = NULL;
    if (!job_task_valid(task)) {
        fprintf(stderr, "offload enqueue: \"%s\" is not a task name ([a-z0-9_.:-]{1,%d})\n", task,
                JOB_TASK_MAX);
        goto err;
    }
    if (args != NULL && (a = json_loads(args, JSON_DECODE_ANY, &jerr)) == NULL) {
        fprintf(stderr, "offload enqueue: ARGS-JSON is not JSON: %s (at character %d)\n", jerr.text,
                jerr.position);
        goto err;
    }
    if (queue != NULL && !args_queue_ok("enqueue", queue))
        goto err;
    if (delay != NULL && duration_parse_ms(delay, &ms) != 0) {
        fprintf(stderr, "offload enqueue: --delay: must be a duration like 250ms, 5s, 2m, 1h\n");
        goto err;
    }
    if (key != NULL && !job_key_valid(key)) {
        fprintf(stderr, "offload enqueue: --key: 1..%d printable characters, no spaces\n",
                JOB_KEY_ID_MAX);
        goto err;
    }
    body = json_pack("{s:s}", "task", task);
    if (body == NULL || (a != NULL && json_object_set_new(body, "args", a) != 0) ||
        (queue != NULL && json_object_set_new(body, "queue", json_string(queue)) != 0) ||
        (delay != NULL && json_object_set_new(body, "delay", json_string(delay)) != 0) ||
        (key != NULL && json_object_set_new(body, "key", json_string(key)) != 0)) {
        a = NULL; /* json_object_set_new took it, even when it failed */
        fprintf(stderr, "offload: out of memory\n");
        goto err;
    }
    return body;
err:
    json_decref(a);
    json_decref(body);
    return NULL;
}

/* What the answer to POST /jobs means for the user: prints it and returns
 * the exit status. */
static int enqueue_report(const struct cli *c, const json_t *job, int64_t wait_ms)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *state = json_string_value(json_object_get(job, "state"));
    if (id == NULL || state == NULL) {
        fprintf(stderr, "offload enqueue: the API's answer has no id or state\n");
        return CLI_EXIT_API;
    }
    bool final = wait_ms > 0 && enqueue_state_final(state);
    bool done = final && strcmp(state, "done") == 0;
    if (c->json)
        api_print_json(job);
    else if (done)
        enqueue_print_result(json_object_get(job, "result"));
    else
        printf("%s\n", id);
    if (wait_ms == 0 || done)
        return CLI_EXIT_OK;
    if (final) {
        const char *why = json_string_value(json_object_get(job, "error"));
        fprintf(stderr, "offload enqueue: job %s %s%s%s\n", id, state, why ? ": " : "", why ? why : "");
        return CLI_EXIT_JOB_FAILED;
    }
    fprintf(stderr, "offload enqueue: job %s is still %s after --wait %.3gs\n", id, state,
            (double)wait_ms / 1000);
    return CLI_EXIT_NOT_DONE;
}

int cmd_enqueue(struct cli *c, int argc, char **argv)
{
    const char *queue = NULL, *delay = NULL, *key = NULL;
    int64_t wait_ms = 0;
    long attempts = 0;
    struct opt opts[] = {
        CLI_OPTS_COMMON(c),
        {"queue", 'q', NULL, OPT_STR, &queue, 0, 0, "the queue (the API's default: default)"},
        {"wait", 0, NULL, OPT_DURATION, &wait_ms, 0, ENQUEUE_WAIT_MAX_MS,
         "wait this long for the job to end and print its result (0: print the id at once)"},
        {"delay", 0, NULL, OPT_STR, &delay, 0, 0, "run it no sooner than this from now (10m)"},
        {"key", 0, NULL, OPT_STR, &key, 0, 0,
         "idempotency key: the same key again answers with the first job"},
        {"max-attempts", 0, NULL, OPT_INT, &attempts, 1, JOB_ATTEMPTS_MAX,
         "runs before the job is dead (the API's default: 3)"},
    };
    struct config_spec spec = {
        "enqueue", "offload enqueue TASK [ARGS-JSON] [-q QUEUE] [--wait S] [--delay D] [--key K]\n"
        "                       [--max-attempts N]",
        "Submits a job for TASK with ARGS-JSON (any JSON value) as its args and prints\n"
        "its id; with --wait, its result (a string as it is, other JSON compact;\n"
        "--json: the whole job).\n"
        "  offload enqueue wordcount '{\"text\":\"one two\"}' --wait 10\n" CLI_EXIT_HELP,
        opts, CLI_NOPTS(opts), true};
    const char *pos[2];
    int npos, rc = args_parse(&spec, argc, argv, pos, 2, &npos);
    if (rc >= 0)
        return rc;
    if (npos == 0) {
        fprintf(stderr, "offload enqueue: which task? (see offload enqueue --help)\n");
        return CLI_EXIT_USAGE;
    }
    json_t *body = enqueue_body(pos[0], npos > 1 ? pos[1] : NULL, queue, delay, key);
    if (body == NULL)
        return CLI_EXIT_USAGE;
    if (attempts > 0 && json_object_set_new(body, "max_attempts", json_integer(attempts)) != 0) {
        fprintf(stderr, "offload: out of memory\n");
        json_decref(body);
        return CLI_EXIT_API;
    }
    char path[64] = "/jobs";
    if (wait_ms > 0)
        snprintf(path, sizeof path, "/jobs?wait=%.3f", (double)wait_ms / 1000);
    json_t *job;
    rc = api_call(c, "POST", path, body, wait_ms, 0, &job, NULL);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = enqueue_report(c, job, wait_ms);
    json_decref(job);
    return rc;
}
