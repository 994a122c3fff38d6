/* Unit tests for common/config.c: flags and their environment twins,
 * error messages that name the flag, --help/--version, durations. */
#include "common/config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

/* The flags under test, reset before each test. */
static const char *listen_addr;
static long threads;
static long conns;
static int64_t lease_ms;
static int64_t timeout_ms;
static bool json_out;
static double ratio;
static struct opt_list tasks;

static const struct opt opts[] = {
    {"listen", 0, "TEST_LISTEN", OPT_STR, &listen_addr, 0, 0, "address (127.0.0.1:8080)"},
    {"threads", 0, "TEST_THREADS", OPT_INT, &threads, 1, 1024, "pool size (10)"},
    {"connections", 'c', NULL, OPT_INT, &conns, 0, 0, "connections (100)"},
    {"lease", 0, "TEST_LEASE", OPT_DURATION, &lease_ms, 1000, 3600000, "lease (10s)"},
    {"timeout", 't', NULL, OPT_DURATION, &timeout_ms, 0, 0, "timeout (5s)"},
    {"json", 0, "TEST_JSON", OPT_BOOL, &json_out, 0, 0, "print JSON"},
    {"ratio", 0, NULL, OPT_DOUBLE, &ratio, 0.5, 2, "ratio (1)"},
    {"task", 0, "TEST_TASKS", OPT_LIST, &tasks, 0, 0, "repeatable"},
};

static struct config_spec spec = {
    .prog = "api",
    .usage = "api [flags]",
    .about = "The HTTP API.",
    .opts = opts,
    .nopts = sizeof opts / sizeof opts[0],
    .allow_positional = false,
};

static void reset(void)
{
    listen_addr = "127.0.0.1:8080";
    threads = 10;
    conns = 100;
    lease_ms = 10000;
    timeout_ms = 5000;
    json_out = false;
    ratio = 1;
    memset(&tasks, 0, sizeof tasks);
    spec.allow_positional = false;
    unsetenv("TEST_TASKS");
    unsetenv("TEST_LISTEN");
    unsetenv("TEST_THREADS");
    unsetenv("TEST_LEASE");
    unsetenv("TEST_JSON");
}

/* Parses the NULL-terminated argument list after argv[0] = "api". */
static enum config_result parse_args(int *pos, char *err, size_t errlen, ...)
{
    char *argv[32] = {(char *)"api"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    return config_parse(&spec, argc, argv, pos, err, errlen);
}

#define PARSE(pos, err, ...) parse_args((pos), (err), sizeof(err), __VA_ARGS__, (char *)NULL)

START_TEST(duration_units)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"250ms", 250}, {"5s", 5000},     {"1.5s", 1500},      {"2m", 120000},
        {"1h", 3600000}, {"10", 10000},    {"0", 0},            {"0.25", 250},
        {".5s", 500},   {"1.25m", 75000}, {"0ms", 0},          {"007s", 7000},
        {"1.5ms", 2},   {"24h", 86400000}, {"3.", 3000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        ck_assert_msg(duration_parse_ms(ok[i].in, &ms) == 0, "rejected %s", ok[i].in);
        ck_assert_msg(ms == ok[i].ms, "%s gave %lld, want %lld", ok[i].in, (long long)ms,
                      (long long)ok[i].ms);
    }
}
END_TEST

START_TEST(duration_rejects)
{
    static const char *const bad[] = {
        "",    "-1s", "5x",  "5 s", "s",    "ms",    "1.2.3", "abc",   "1e3",
        " 5s", "5s ", "5S",  ".",   "5sec", "5mss",  "+5s",  "nan",   "inf",
        "0x10", "99999999999999999999h", "1000000000000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        ck_assert_msg(duration_parse_ms(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(ms, 42);
    }
    int64_t ms = 42;
    ck_assert_int_eq(duration_parse_ms(NULL, &ms), -1);
}
END_TEST

START_TEST(defaults_kept_without_flags)
{
    char err[256] = "";
    int pos = -1;
    reset();
    ck_assert_int_eq(PARSE(&pos, err, (char *)NULL), CONFIG_OK);
    ck_assert_int_eq(pos, 1);
    ck_assert_str_eq(listen_addr, "127.0.0.1:8080");
    ck_assert_int_eq(threads, 10);
    ck_assert_int_eq(lease_ms, 10000);
    ck_assert(!json_out);
}
END_TEST

START_TEST(flag_forms)
{
    char err[256] = "";
    int pos = -1;
    reset();
    ck_assert_int_eq(PARSE(&pos, err, "--listen", "0.0.0.0:9000", "--threads=64", "-c", "7",
                           "-t250ms", "--lease", "2m", "--json", "--ratio=1.5"),
                     CONFIG_OK);
    ck_assert_str_eq(listen_addr, "0.0.0.0:9000");
    ck_assert_int_eq(threads, 64);
    ck_assert_int_eq(conns, 7);
    ck_assert_int_eq(timeout_ms, 250);
    ck_assert_int_eq(lease_ms, 120000);
    ck_assert(json_out);
    ck_assert_double_eq(ratio, 1.5);
    ck_assert_int_eq(pos, 11); /* argc: no positional */

    reset();
    ck_assert_int_eq(PARSE(&pos, err, "--json=false", "-c10", "--listen=", "--timeout=1.5"),
                     CONFIG_OK);
    ck_assert(!json_out);
    ck_assert_int_eq(conns, 10);
    ck_assert_str_eq(listen_addr, "");
    ck_assert_int_eq(timeout_ms, 1500);

    /* the last occurrence wins */
    reset();
    ck_assert_int_eq(PARSE(&pos, err, "--threads", "2", "--threads", "3"), CONFIG_OK);
    ck_assert_int_eq(threads, 3);
}
END_TEST

/* A repeatable flag: each use appends, in order; its environment twin is one
 * entry that any flag replaces; more than OPT_LIST_MAX is an error. */
START_TEST(list_flags)
{
    char err[256];
    int pos;
    reset();
    ck_assert_int_eq(PARSE(&pos, err, "--task", "a=exec:x", "--task=b=serve:y z"), CONFIG_OK);
    ck_assert_uint_eq(tasks.n, 2);
    ck_assert_str_eq(tasks.items[0], "a=exec:x");
    ck_assert_str_eq(tasks.items[1], "b=serve:y z");
    reset();
    setenv("TEST_TASKS", "e=exec:1\nf=exec:2", 1);
    ck_assert_int_eq(PARSE(&pos, err, "--json"), CONFIG_OK);
    ck_assert_uint_eq(tasks.n, 1);
    ck_assert_str_eq(tasks.items[0], "e=exec:1\nf=exec:2");
    ck_assert(tasks.from_env);
    ck_assert_int_eq(PARSE(&pos, err, "--task", "g=burn"), CONFIG_OK);
    ck_assert_uint_eq(tasks.n, 1);
    ck_assert_str_eq(tasks.items[0], "g=burn");
    reset();
    char *argv[2 + 2 * (OPT_LIST_MAX + 1)] = {(char *)"api"};
    int argc = 1;
    for (int i = 0; i <= OPT_LIST_MAX; i++) {
        argv[argc++] = (char *)"--task";
        argv[argc++] = (char *)"t=burn";
    }
    ck_assert_int_eq(config_parse(&spec, argc, argv, &pos, err, sizeof err), CONFIG_ERROR);
    ck_assert_str_eq(err, "--task: at most 32 times");
}
END_TEST

START_TEST(env_twins)
{
    char err[256] = "";
    int pos;
    reset();
    setenv("TEST_LISTEN", "10.0.0.1:1", 1);
    setenv("TEST_THREADS", "12", 1);
    setenv("TEST_LEASE", "30s", 1);
    setenv("TEST_JSON", "yes", 1);
    ck_assert_int_eq(PARSE(&pos, err, (char *)NULL), CONFIG_OK);
    ck_assert_str_eq(listen_addr, "10.0.0.1:1");
    ck_assert_int_eq(threads, 12);
    ck_assert_int_eq(lease_ms, 30000);
    ck_assert(json_out);

    /* the flag wins over its twin */
    ck_assert_int_eq(PARSE(&pos, err, "--threads", "99", "--json=off"), CONFIG_OK);
    ck_assert_int_eq(threads, 99);
    ck_assert(!json_out);

    /* an empty variable is unset */
    reset();
    setenv("TEST_THREADS", "", 1);
    ck_assert_int_eq(PARSE(&pos, err, (char *)NULL), CONFIG_OK);
    ck_assert_int_eq(threads, 10);
}
END_TEST

START_TEST(bad_values_name_the_flag)
{
    char err[256];
    int pos;
    static const struct {
        const char *a, *b, *msg;
    } cases[] = {
        {"--threads", "abc", "--threads: must be an integer in 1..1024"},
        {"--threads", "0", "--threads: must be an integer in 1..1024"},
        {"--threads", "1025", "--threads: must be an integer in 1..1024"},
        {"--threads", "", "--threads: must be an integer in 1..1024"},
        {"--threads", "12x", "--threads: must be an integer in 1..1024"},
        {"--threads", "99999999999999999999999", "--threads: must be an integer in 1..1024"},
        {"-c", "many", "-c: must be an integer"},
        {"--lease", "500ms", "--lease: must be a duration in 1s..1h"},
        {"--lease", "soon", "--lease: must be a duration in 1s..1h"},
        {"-t", "5y", "-t: must be a duration like 250ms"},
        {"--ratio", "3", "--ratio: must be a number in 0.5..2"},
        {"--ratio", "nan", "--ratio: must be a number in 0.5..2"},
        {"--json=maybe", NULL, "--json: must be true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset();
        strcpy(err, "");
        char *argv[] = {(char *)"api", (char *)cases[i].a, (char *)cases[i].b, NULL};
        int argc = cases[i].b ? 3 : 2;
        ck_assert_int_eq(config_parse(&spec, argc, argv, &pos, err, sizeof err), CONFIG_ERROR);
        ck_assert_msg(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0,
                      "%s %s: got \"%s\", want \"%s...\"", cases[i].a,
                      cases[i].b ? cases[i].b : "", err, cases[i].msg);
        /* the destination keeps its old value */
        ck_assert_int_eq(threads, 10);
        ck_assert_int_eq(conns, 100);
        ck_assert_int_eq(lease_ms, 10000);
        ck_assert_int_eq(timeout_ms, 5000);
        ck_assert_double_eq(ratio, 1);
        ck_assert(!json_out);
    }
}
END_TEST

START_TEST(unknown_and_missing)
{
    char err[256];
    int pos;
    reset();
    ck_assert_int_eq(PARSE(&pos, err, "--nope", "1"), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "unknown flag --nope"));
    ck_assert_int_eq(PARSE(&pos, err, "--thread=3"), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "unknown flag --thread"));
    ck_assert_int_eq(PARSE(&pos, err, "-z"), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "unknown flag -z"));
    ck_assert_int_eq(PARSE(&pos, err, "--threads"), CONFIG_ERROR);
    ck_assert_str_eq(err, "--threads: needs a value");
    ck_assert_int_eq(PARSE(&pos, err, "-c"), CONFIG_ERROR);
    ck_assert_str_eq(err, "-c: needs a value");
    ck_assert_int_eq(PARSE(&pos, err, "stray"), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "unexpected argument \"stray\""));
    /* a tiny error buffer is still NUL-terminated */
    char small[8];
    char *argv[] = {(char *)"api", (char *)"--threads", (char *)"x", NULL};
    ck_assert_int_eq(config_parse(&spec, 3, argv, &pos, small, sizeof small), CONFIG_ERROR);
    ck_assert_str_eq(small, "--threa");
}
END_TEST

START_TEST(bad_env_names_the_variable)
{
    char err[256];
    int pos;
    reset();
    setenv("TEST_THREADS", "lots", 1);
    ck_assert_int_eq(PARSE(&pos, err, (char *)NULL), CONFIG_ERROR);
    ck_assert_str_eq(err, "TEST_THREADS: must be an integer in 1..1024");
    ck_assert_int_eq(threads, 10);
}
END_TEST

START_TEST(positionals)
{
    char err[256];
    int pos = -1;
    reset();
    spec.allow_positional = true;
    ck_assert_int_eq(PARSE(&pos, err, "-c", "10", "http://x/", "--threads", "5"), CONFIG_OK);
    ck_assert_int_eq(pos, 3);
    ck_assert_int_eq(conns, 10);
    ck_assert_int_eq(threads, 10); /* after the positional: not parsed */

    ck_assert_int_eq(PARSE(&pos, err, "-c", "11", "--", "--threads"), CONFIG_OK);
    ck_assert_int_eq(pos, 4);
    ck_assert_int_eq(conns, 11);

    ck_assert_int_eq(PARSE(&pos, err, "-"), CONFIG_OK);
    ck_assert_int_eq(pos, 1);
}
END_TEST

/* Runs config_parse with stdout captured; returns what was printed (caller frees). */
static char *parse_capturing_stdout(int argc, char **argv, enum config_result *res)
{
    char err[256] = "";
    int pos;
    struct capture c;
    capture_begin(&c, STDOUT_FILENO);
    *res = config_parse(&spec, argc, argv, &pos, err, sizeof err);
    return capture_end(&c);
}

START_TEST(help_and_version)
{
    enum config_result res;
    reset();
    char *help_argv[] = {(char *)"api", (char *)"--threads", (char *)"3", (char *)"--help",
                         (char *)"--nope", NULL};
    char *out = parse_capturing_stdout(5, help_argv, &res);
    ck_assert_int_eq(res, CONFIG_EXIT);
    ck_assert_msg(strncmp(out, "usage: api [flags]\n", 19) == 0, "help: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "The HTTP API."));
    ck_assert_ptr_nonnull(strstr(out, "    --threads N"));
    ck_assert_ptr_nonnull(strstr(out, "pool size (10) [env TEST_THREADS]"));
    ck_assert_ptr_nonnull(strstr(out, "-c, --connections N"));
    ck_assert_ptr_nonnull(strstr(out, "--lease DURATION"));
    ck_assert_ptr_nonnull(strstr(out, "--json "));
    ck_assert_ptr_nonnull(strstr(out, "-h, --help"));
    ck_assert_ptr_nonnull(strstr(out, "--version"));
    free(out);

    char *h_argv[] = {(char *)"api", (char *)"-h", NULL};
    out = parse_capturing_stdout(2, h_argv, &res);
    ck_assert_int_eq(res, CONFIG_EXIT);
    ck_assert_ptr_nonnull(strstr(out, "usage: api [flags]"));
    free(out);

    /* --help works even when the environment holds a bad value */
    setenv("TEST_THREADS", "lots", 1);
    out = parse_capturing_stdout(2, h_argv, &res);
    ck_assert_int_eq(res, CONFIG_EXIT);
    free(out);
    unsetenv("TEST_THREADS");

    char *v_argv[] = {(char *)"api", (char *)"--version", NULL};
    out = parse_capturing_stdout(2, v_argv, &res);
    ck_assert_int_eq(res, CONFIG_EXIT);
    ck_assert_str_eq(out, "api 0.1.0\n");
    ck_assert_str_eq(offload_version, "0.1.0");
    free(out);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, duration_units);
    tcase_add_test(tc, duration_rejects);
    tcase_add_test(tc, defaults_kept_without_flags);
    tcase_add_test(tc, flag_forms);
    tcase_add_test(tc, env_twins);
    tcase_add_test(tc, list_flags);
    tcase_add_test(tc, bad_values_name_the_flag);
    tcase_add_test(tc, unknown_and_missing);
    tcase_add_test(tc, bad_env_names_the_variable);
    tcase_add_test(tc, positionals);
    tcase_add_test(tc, help_and_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(config_suite());
}
