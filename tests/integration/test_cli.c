/* bin/offload as a user runs it, against a real stack: every command's
 * output and exit status, --json that parses, bad input (exit 2), the API
 * down (exit 4), and a token given by flag and by environment. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jobid.h"
#include "tests/harness/cmdrun.h"
#include "tests/harness/harness.h"
#include "tests/harness/stack.h"

#define CLI_ARGS_MAX 24
/* Every run is bounded; none should come near it. */
#define CLI_RUN_TIMEOUT_MS 30000
#define FIXTURE "exec:tests/fixtures/exec_task.sh "

static struct stack S;
static char api_flag[96]; /* "--api=http://127.0.0.1:PORT" */

/* A worker on "default" serving "ok" (echoes its args) and "fail" (exits 3
 * with "something broke" on stderr). */
static const char *const worker_tasks[] = {"--task", "ok=" FIXTURE "ok", "--task", "fail=" FIXTURE "fail",
                                           NULL};

static void up(int workers, const char *const *api_args)
{
    struct stack_opts o = {.workers = workers, .api_args = api_args, .worker_args = worker_tasks};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
    snprintf(api_flag, sizeof api_flag, "--api=%s", S.base);
}

static void down(void)
{
    stack_stop(&S);
}

/* Runs bin/offload with the arguments in ap (up to a NULL) and env_extra. */
static void offload_va(struct cmdrun *r, const char *const *env, va_list ap)
{
    const char *argv[CLI_ARGS_MAX + 2] = {harness_bin("offload")};
    int n = 1;
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        ck_assert_int_lt(n, CLI_ARGS_MAX);
        argv[n++] = a;
    }
    ck_assert_int_eq(cmdrun_exec(argv, env, CLI_RUN_TIMEOUT_MS, r), 0);
}

static void offload_env(struct cmdrun *r, const char *const *env, ...)
{
    va_list ap;
    va_start(ap, env);
    offload_va(r, env, ap);
    va_end(ap);
}
#define offload(r, ...) offload_env(r, NULL, __VA_ARGS__, (const char *)NULL)

/* Expects exit status `status`; the message shows what the command said. */
static void expect(const struct cmdrun *r, int status, const char *what)
{
    ck_assert_msg(r->status == status, "%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r->status, status,
                  r->out, r->err);
}

static void expect_in(const char *text, const char *needle, const char *what)
{
    ck_assert_msg(strstr(text, needle) != NULL, "%s: \"%s\" not in:\n%s", what, needle, text);
}

/* Runs bin/offload with the arguments (up to a NULL) and env_extra, and
 * expects the exit status, and out_has in stdout and err_has in stderr
 * (NULL: anything). */
static void check_env(const char *const *env, int status, const char *out_has, const char *err_has, ...)
{
    struct cmdrun r;
    va_list ap;
    va_start(ap, err_has);
    offload_va(&r, env, ap);
    va_end(ap);
    expect(&r, status, out_has ? out_has : err_has ? err_has : "exit status");
    if (out_has != NULL)
        expect_in(r.out, out_has, "stdout");
    if (err_has != NULL)
        expect_in(r.err, err_has, "stderr");
    cmdrun_free(&r);
}
#define check(status, out_has, err_has, ...) check_env(NULL, status, out_has, err_has, __VA_ARGS__, (const char *)NULL)

/* How often needle occurs in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* `offload enqueue ...` that must print a job id: returns it in id. */
static void enqueue_id(char id[JOBID_LEN + 1], const char *task, const char *a1, const char *a2, const char *a3)
{
    struct cmdrun r;
    offload(&r, api_flag, "enqueue", task, a1, a2, a3);
    expect(&r, 0, "enqueue");
    ck_assert_msg(strlen(r.out) == JOBID_LEN + 1 && r.out[JOBID_LEN] == '\n', "not an id line: %s", r.out);
    memcpy(id, r.out, JOBID_LEN);
    id[JOBID_LEN] = '\0';
    ck_assert_msg(jobid_valid(id), "not an id: %s", id);
    cmdrun_free(&r);
}

/* The user's own OFFLOAD_API or OFFLOAD_TOKEN must not steer these tests. */
static void clean_env(void)
{
    unsetenv("OFFLOAD_API");
    unsetenv("OFFLOAD_TOKEN");
}

/* Bad input is exit 2 with a message on stderr, nothing on stdout, and no
 * request: --api names a port nothing listens on, which would be exit 4. */
START_TEST(bad_input_is_usage_error)
{
    static const struct {
        const char *args[6];
        const char *says;
    } cases[] = {
        {{"frobnicate"}, "unknown command \"frobnicate\""},
        {{NULL}, "which command"},
        {{"enqueue"}, "which task"},
        {{"enqueue", "ok", "{\"a\":"}, "ARGS-JSON is not JSON"},
        {{"enqueue", "Bad Task"}, "not a task name"},
        {{"enqueue", "ok", "-q", "no/slash"}, "not a queue name"},
        {{"enqueue", "ok", "--wait", "soon"}, "--wait"},
        {{"enqueue", "ok", "--delay", "-1"}, "--delay"},
        {{"enqueue", "ok", "{}", "extra"}, "unexpected argument \"extra\""},
        {{"job", "1234"}, "\"1234\" is not a job id"},
        {{"job"}, "which job"},
        {{"cancel", "zz9d4c5e2f1a0b3c4d5e6f708192a3b4"}, "not a job id"},
        {{"dead", "frob", "default"}, "unknown action \"frob\""},
        {{"dead", "ls"}, "which queue"},
        {{"dead", "retry", "default", "nope"}, "\"nope\" is not a job id"},
        {{"stats", "--bogus"}, "unknown flag --bogus"},
        {{"top", "--count", "x"}, "--count"},
    };
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "--api=http://127.0.0.1:%d", harness_free_port());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        struct cmdrun r;
        offload(&r, nowhere, a[0], a[0] ? a[1] : NULL, a[0] && a[1] ? a[2] : NULL,
                a[0] && a[1] && a[2] ? a[3] : NULL);
        expect(&r, 2, cases[i].says);
        expect_in(r.err, cases[i].says, "stderr");
        ck_assert_msg(r.out[0] == '\0', "%s: stdout not empty: %s", cases[i].says, r.out);
        cmdrun_free(&r);
    }
}
END_TEST

/* --help everywhere: exit 0, the usage on stdout, the exit statuses listed. */
START_TEST(help_on_every_command)
{
    static const char *const cmds[] = {"stats", "top", "enqueue", "job", "cancel", "dead", "schedules"};
    struct cmdrun r;
    offload(&r, "--help");
    expect(&r, 0, "--help");
    expect_in(r.out, "usage: offload", "--help");
    expect_in(r.out, "4 API or network error", "--help");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        expect_in(r.out, cmds[i], "--help lists the commands");
    cmdrun_free(&r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char usage[64];
        offload(&r, cmds[i], "--help");
        expect(&r, 0, cmds[i]);
        snprintf(usage, sizeof usage, "usage: offload %s", cmds[i]);
        expect_in(r.out, usage, cmds[i]);
        expect_in(r.out, "exit status", cmds[i]);
        cmdrun_free(&r);
    }
    offload(&r, "enqueue", "--help");
    expect_in(r.out, "--wait", "enqueue --help");
    expect_in(r.out, "3 not finished", "enqueue --help");
    cmdrun_free(&r);
}
END_TEST

/* No API there: exit 4 and a message naming the URL, by flag and by env. */
START_TEST(api_down_is_exit_4)
{
    char url[64], flag[80], env[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", harness_free_port());
    snprintf(flag, sizeof flag, "--api=%s", url);
    snprintf(env, sizeof env, "OFFLOAD_API=%s", url);
    struct cmdrun r;
    offload(&r, flag, "stats");
    expect(&r, 4, "stats, API down");
    expect_in(r.err, "cannot reach the API at", "stderr");
    expect_in(r.err, url, "stderr");
    ck_assert_str_eq(r.out, "");
    cmdrun_free(&r);
    check_env((const char *const[]){env, NULL}, 4, NULL, url, "enqueue", "ok", "{}", (const char *)NULL);
    check(4, NULL, "cannot reach", flag, "job", "0123456789abcdef0123456789abcdef");
    check(2, NULL, "http://", "--api=ftp://x", "stats");
}
END_TEST

/* enqueue: the id at once, or with --wait the result; job shows it. */
START_TEST(enqueue_wait_and_job)
{
    struct cmdrun r;
    char id[JOBID_LEN + 1];
    up(1, NULL);
    offload(&r, api_flag, "enqueue", "ok", "{\"a\":[1,2]}", "--wait", "20");
    expect(&r, 0, "enqueue --wait");
    ck_assert_str_eq(r.out, "{\"a\":[1,2]}\n"); /* the task echoes its args: the result */
    cmdrun_free(&r);

    /* flags before the positionals, and the global --json after the command */
    offload(&r, api_flag, "enqueue", "--wait=20", "-q", "default", "ok", "\"text\"", "--json");
    expect(&r, 0, "enqueue --wait --json");
    ck_assert_msg(json_is_object(r.json), "not JSON: %s", r.out);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "done");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "result")), "text");
    cmdrun_free(&r);

    enqueue_id(id, "ok", "{\"x\":2}", NULL, NULL);
    json_decref(stack_job(&S, id, 20)); /* until it is done */
    offload(&r, api_flag, "--json", "job", id);
    expect(&r, 0, "job --json");
    ck_assert_msg(json_is_object(r.json), "not JSON: %s", r.out);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "args"), "x")), 2);
    cmdrun_free(&r);
    offload(&r, api_flag, "job", id);
    expect(&r, 0, "job");
    expect_in(r.out, id, "job");
    expect_in(r.out, "state     done", "job"); /* the labels' column is aligned */
    expect_in(r.out, "result    {\"x\":2}", "job");
    expect_in(r.out, "ATTEMPT", "job shows its history");
    cmdrun_free(&r);

    check(4, NULL, "404", api_flag, "job", "0123456789abcdef0123456789abcdef");
    down();
}
END_TEST

/* The exit status says how the job ended: 1 dead, 3 not yet, 1 cancelled. */
START_TEST(exit_status_says_how_the_job_ended)
{
    struct cmdrun r;
    char id[JOBID_LEN + 1];
    up(1, NULL);
    check(1, NULL, "dead: ", api_flag, "enqueue", "fail", "--max-attempts", "1", "--wait", "20");
    check(1, NULL, "something broke", api_flag, "enqueue", "fail", "--max-attempts", "1", "--wait", "20");

    /* no worker serves the queue "idle" */
    offload(&r, api_flag, "enqueue", "ok", "-q", "idle", "--wait", "0.3");
    expect(&r, 3, "not finished within --wait");
    expect_in(r.err, "still queued", "stderr");
    ck_assert_uint_eq(strlen(r.out), JOBID_LEN + 1); /* the id, to follow it up */
    cmdrun_free(&r);

    /* a delayed job cancelled, then the same key again: the cancelled job */
    enqueue_id(id, "ok", "--delay", "10m", "--key=order-1");
    check(0, id, NULL, api_flag, "cancel", id);
    check(4, NULL, "409", api_flag, "cancel", id);
    check(1, NULL, "cancelled", api_flag, "enqueue", "ok", "--delay", "10m", "--key", "order-1", "--wait", "5");
    down();
}
END_TEST

/* dead ls, retry and purge, as tables and as JSON. */
START_TEST(dead_ls_retry_purge)
{
    struct cmdrun r;
    up(1, NULL);
    for (int i = 0; i < 2; i++) {
        offload(&r, api_flag, "enqueue", "fail", "--max-attempts=1", "--wait=20");
        expect(&r, 1, "a job that fails");
        cmdrun_free(&r);
    }
    offload(&r, api_flag, "--json", "dead", "ls", "default");
    expect(&r, 0, "dead ls --json");
    ck_assert_msg(json_is_object(r.json), "not JSON: %s", r.out);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), 2);
    const json_t *jobs = json_object_get(r.json, "jobs");
    ck_assert_uint_eq(json_array_size(jobs), 2);
    char id[JOBID_LEN + 1];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(json_array_get(jobs, 0), "id")));
    cmdrun_free(&r);

    offload(&r, api_flag, "dead", "ls", "default", "--limit", "1");
    expect(&r, 0, "dead ls");
    expect_in(r.out, "2 dead in default, showing 1", "dead ls");
    expect_in(r.out, "ERROR", "dead ls");
    expect_in(r.out, "something broke", "dead ls shows the error");
    cmdrun_free(&r);

    check(0, "retried 1", NULL, api_flag, "dead", "retry", "default", id);
    json_decref(stack_job(&S, id, 20)); /* it fails again, dead again */

    offload(&r, api_flag, "--json", "dead", "purge", "default");
    expect(&r, 0, "dead purge --json");
    ck_assert_msg(json_is_object(r.json), "not JSON: %s", r.out);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "deleted")), 2);
    cmdrun_free(&r);
    check(0, "0 dead in default", NULL, api_flag, "dead", "ls", "default");
    down();
}
END_TEST

/* stats and top: the queue and the worker, tables and JSON. */
START_TEST(stats_and_top)
{
    struct cmdrun r;
    up(1, NULL);
    offload(&r, api_flag, "enqueue", "ok", "1", "--wait", "20");
    expect(&r, 0, "enqueue");
    cmdrun_free(&r);
    offload(&r, api_flag, "stats");
    expect(&r, 0, "stats");
    expect_in(r.out, "QUEUE    QUEUED  RUNNING  SCHEDULED  DEAD", "stats");
    expect_in(r.out, "\ndefault  0", "stats");
    expect_in(r.out, "workers alive: 1", "stats");
    expect_in(r.out, "alive  default", "stats shows the worker and its queue");
    cmdrun_free(&r);
    offload(&r, api_flag, "stats", "--json");
    expect(&r, 0, "stats --json");
    ck_assert_msg(json_is_object(r.json), "not JSON: %s", r.out);
    ck_assert(json_is_object(json_object_get(json_object_get(r.json, "queues"), "default")));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "workers_alive")), 1);
    ck_assert(json_object_get(r.json, "workers") != NULL);
    cmdrun_free(&r);

    /* not a terminal: frames one after the other, no escapes */
    offload(&r, api_flag, "top", "--count", "2");
    expect(&r, 0, "top --count 2");
    ck_assert_msg(count(r.out, "offload top") == 2 && count(r.out, "\ndefault ") == 2, "want two frames:\n%s", r.out);
    ck_assert_msg(strchr(r.out, '\033') == NULL, "escapes while not on a terminal");
    expect_in(r.out, "\ndefault", "top");
    cmdrun_free(&r);
    offload(&r, api_flag, "--json", "top", "-n", "2");
    expect(&r, 0, "top --json");
    char *nl = strchr(r.out, '\n');
    ck_assert_ptr_nonnull(nl);
    json_t *a = json_loadb(r.out, (size_t)(nl - r.out), 0, NULL), *b = json_loads(nl + 1, 0, NULL);
    ck_assert_msg(json_is_object(a) && json_is_object(b), "want two JSON lines:\n%s", r.out);
    json_decref(a);
    json_decref(b);
    cmdrun_free(&r);
    down();
}
END_TEST

/* top on a terminal (script(1) gives it a pseudo-terminal), as a user runs
 * it: each frame clears the screen and starts at the top, and Ctrl-C (a
 * SIGINT, sent by timeout 2.5 s in) ends it at once with status 0. */
START_TEST(top_redraws_a_terminal_until_ctrl_c)
{
    struct cmdrun r;
    char cmd[256];
    up(1, NULL);
    snprintf(cmd, sizeof cmd, "timeout --preserve-status -s INT 2.5 %s %s top; echo \"top exited $?\"",
             harness_bin("offload"), api_flag);
    const char *const argv[] = {"script", "-qec", cmd, "/dev/null", NULL};
    ck_assert_int_eq(cmdrun_exec(argv, NULL, CLI_RUN_TIMEOUT_MS, &r), 0);
    expect(&r, 0, "script top");
    expect_in(r.out, "top exited 0", "Ctrl-C ends top with status 0");
    ck_assert_msg(count(r.out, "\033[H\033[2Joffload top") >= 2, "want at least two frames, each clearing the screen:\n%s",
                  r.out);
    expect_in(r.out, "default", "top shows the queue");
    cmdrun_free(&r);
    down();
}
END_TEST

START_TEST(schedules_listed)
{
    struct cmdrun r;
    struct http_resp h;
    up(0, NULL);
    ck_assert_int_eq(stack_http(&S, "POST", "/schedules",
                                "{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"task\":\"ok\",\"queue\":\"reports\"}",
                                NULL, 5000, &h), 0);
    ck_assert_int_eq(h.code, 201);
    http_resp_free(&h);
    offload(&r, api_flag, "schedules");
    expect(&r, 0, "schedules");
    expect_in(r.out, "NAME     CRON       TASK  QUEUE    NEXT", "schedules");
    expect_in(r.out, "nightly  0 3 * * *  ok    reports  in ", "schedules");
    cmdrun_free(&r);
    offload(&r, api_flag, "schedules", "--json");
    expect(&r, 0, "schedules --json");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "schedules"), 0), "name")),
                     "nightly");
    cmdrun_free(&r);
    down();
}
END_TEST

/* A token the API requires: missing is exit 4 saying so; --token and
 * OFFLOAD_TOKEN both work, and the flag wins over the environment. */
START_TEST(token_by_flag_and_env)
{
    up(0, (const char *const[]){"--auth-token", "s3cret", NULL});
    const char *const env[] = {"OFFLOAD_TOKEN=s3cret", NULL};
    check(4, NULL, "401", api_flag, "stats");
    check(4, NULL, "OFFLOAD_TOKEN", api_flag, "stats"); /* says how to give it */
    check(0, "workers alive: 0", NULL, api_flag, "--token", "s3cret", "stats");
    check_env(env, 0, NULL, NULL, api_flag, "enqueue", "ok", (const char *)NULL);
    check_env(env, 4, NULL, "401", api_flag, "stats", "--token=wrong", (const char *)NULL); /* the flag wins */
    down();
}
END_TEST

int main(void)
{
    clean_env();
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("offload");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_input_is_usage_error);
    tcase_add_test(tc, help_on_every_command);
    tcase_add_test(tc, api_down_is_exit_4);
    tcase_add_test(tc, enqueue_wait_and_job);
    tcase_add_test(tc, exit_status_says_how_the_job_ended);
    tcase_add_test(tc, dead_ls_retry_purge);
    tcase_add_test(tc, stats_and_top);
    tcase_add_test(tc, top_redraws_a_terminal_until_ctrl_c);
    tcase_add_test(tc, schedules_listed);
    tcase_add_test(tc, token_by_flag_and_env);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
