/* Unit tests for worker/handler.c: how a SPEC becomes argv (like a shell,
 * without expansions), how a run's output becomes a job's result, and how
 * bad --task entries are refused before anything runs. */
#include "worker/handler.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

/* Splits spec and checks the words against want (NULL-terminated). */
static void words_are(const char *spec, const char *const *want)
{
    char err[128] = "";
    char **w = handler_words(spec, err, sizeof err);
    ck_assert_msg(w != NULL, "%s: %s", spec, err);
    size_t i = 0;
    for (; want[i]; i++) {
        ck_assert_msg(w[i] != NULL, "%s: word %zu missing", spec, i);
        ck_assert_str_eq(w[i], want[i]);
    }
    ck_assert_msg(w[i] == NULL, "%s: extra word \"%s\"", spec, w[i] ? w[i] : "");
    handler_words_free(w);
}

static void words_refused(const char *spec, const char *msg)
{
    char err[128] = "";
    ck_assert_ptr_null(handler_words(spec, err, sizeof err));
    ck_assert_str_eq(err, msg);
}

START_TEST(spec_words_like_a_shell)
{
    words_are("python3 tasks.py", (const char *const[]){"python3", "tasks.py", NULL});
    words_are("  sh\t-c  'echo $HOME; ls'  ", (const char *const[]){"sh", "-c", "echo $HOME; ls", NULL});
    words_are("sh -c \"a \\\"b\\\" \\$X \\\\ \\n\"", (const char *const[]){"sh", "-c", "a \"b\" $X \\ \\n", NULL});
    words_are("a\\ b c'd e'\"f\"", (const char *const[]){"a b", "cd ef", NULL});
    words_are("''", (const char *const[]){"", NULL});
    /* no expansion of any kind: the words reach execve as written */
    words_are("echo $(id) `id` * ~ ;", (const char *const[]){"echo", "$(id)", "`id`", "*", "~", ";", NULL});
    words_refused("", "no command");
    words_refused("   ", "no command");
    words_refused("sh -c 'oops", "unclosed ' quote");
    words_refused("sh -c \"oops", "unclosed \" quote");
}
END_TEST

/* Output → result: trailing newlines go; JSON when all of it parses; else text. */
START_TEST(output_becomes_result)
{
    struct task_outcome o;
    memset(&o, 0, sizeof o);
    handler_take_output(&o, strdup("{\"a\":1}\n\n"), 9);
    ck_assert(o.result_json);
    ck_assert_str_eq(o.result, "{\"a\":1}");
    ck_assert_uint_eq(o.result_len, 7);
    handler_take_output(&o, strdup("42\r\n"), 4);
    ck_assert(o.result_json);
    ck_assert_str_eq(o.result, "42");
    handler_take_output(&o, strdup("plain text\n"), 11);
    ck_assert(!o.result_json);
    ck_assert_str_eq(o.result, "plain text");
    handler_take_output(&o, strdup("{\"a\":1} trailing"), 16);
    ck_assert(!o.result_json);
    handler_take_output(&o, strdup("\n\n"), 2);
    ck_assert_ptr_null(o.result); /* nothing: a null result */
    handler_take_output(&o, NULL, 0);
    ck_assert_ptr_null(o.result);
    task_outcome_clear(&o);
}
END_TEST

/* handlers_new refuses what a worker must not start with, naming the entry. */
static void tasks_refused(const char *entry, const char *msg_start)
{
    static volatile sig_atomic_t stops;
    struct worker_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.id, sizeof cfg.id, "w1");
    cfg.tasks.items[0] = entry;
    cfg.tasks.n = 1;
    char err[512] = "";
    struct handlers *h = handlers_new(&cfg, &stops, false, err, sizeof err);
    if (h)
        handlers_free(h);
    ck_assert_msg(h == NULL, "%s accepted", entry);
    ck_assert_msg(strncmp(err, msg_start, strlen(msg_start)) == 0, "%s: \"%s\"", entry, err);
}

START_TEST(bad_tasks_refused)
{
    tasks_refused("noequals", "--task \"noequals\": want NAME=KIND:SPEC");
    tasks_refused("Bad=exec:true", "--task Bad: the name must match");
    tasks_refused("x=teleport:now", "--task x: unknown kind \"teleport\"");
    tasks_refused("x=exec:", "--task x: exec: no command");
    tasks_refused("x=exec:/nonexistent/cmd", "--task x: exec: cannot run /nonexistent/cmd");
    tasks_refused("x=serve:no-such-command-anywhere", "--task x: serve: no such command");
    tasks_refused("x=plugin:", "--task x: plugin: needs a FILE.so");
    tasks_refused("x=plugin:/nonexistent.so", "--task x: plugin:");
    tasks_refused("burn=exec:true", "--task burn: the built-in task keeps its name");
    tasks_refused("a=exec:true\na=exec:true", "--task a: given twice");
}
END_TEST

START_TEST(names_and_env_lines)
{
    static volatile sig_atomic_t stops;
    struct worker_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.id, sizeof cfg.id, "w1");
    cfg.tasks.items[0] = "a=exec:true\n  b=serve:cat  \n\nc=burn";
    cfg.tasks.items[1] = "d=exec:sh -c 'exit 0'";
    cfg.tasks.n = 2;
    char err[512] = "";
    struct handlers *h = handlers_new(&cfg, &stops, false, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
    ck_assert_str_eq(handlers_names(h), "a,b,c,d,burn");
    ck_assert(!handlers_have_plugin(h));
    handlers_free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, spec_words_like_a_shell);
    tcase_add_test(tc, output_becomes_result);
    tcase_add_test(tc, bad_tasks_refused);
    tcase_add_test(tc, names_and_env_lines);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
