/* Replays the fuzz corpora through the fuzz targets' own code: every file of
 * fuzz/corpus/<target>/ (hand-written seeds) and fuzz/regress/<target>/
 * (inputs that once crashed a target) goes through fuzz_<target>_one, whose
 * checks become Check assertions here. A seed's name says what the parser
 * must answer, in the part before the first '-':
 *   job     ok | err                       (job_parse_body returns 0 | -1)
 *   url     none, or letters of r h a      (redis_url_parse, http_url_parse,
 *                                           addr_parse accept it)
 *   config  ok | exit | err                (config_parse without positionals)
 *   route   none | job, dead, deadretry, schedule, uifile (the patterned routes) | a fixed route's label without '/' (jobs, healthz...)
 *   cron    ok | err                       (cron_parse returns 0 | -1)
 * Regression inputs keep libFuzzer's names and are checked for invariants
 * only. Files are found under $OFFLOAD_SRC, or the current directory (the
 * repository root when run by make test). */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

/* The file being replayed, for failure messages. */
static char current_file[1024];

#define FUZZ_CHECK(cond, ...)                                                              \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            char *detail_ = NULL;                                                          \
            if (asprintf(&detail_, __VA_ARGS__) < 0)                                       \
                detail_ = NULL;                                                            \
            ck_abort_msg("%s: check failed: %s: %s", current_file, #cond,                  \
                         detail_ ? detail_ : "?");                                         \
        }                                                                                  \
    } while (0)

#include "fuzz/fuzz_config.c"
#include "fuzz/fuzz_cron.c"
#include "fuzz/fuzz_job.c"
#include "fuzz/fuzz_route.c"
#include "fuzz/fuzz_url.c"

/* Reads the expectation in a seed's name token; false when the token means
 * nothing to the target (a regression input). */
typedef bool (*expect_fn)(const char *token, int *want);

static bool expect_job(const char *token, int *want)
{
    if (strcmp(token, "ok") == 0 || strcmp(token, "err") == 0) {
        *want = strcmp(token, "ok") == 0 ? 0 : -1;
        return true;
    }
    return false;
}

static bool expect_url(const char *token, int *want)
{
    if (strcmp(token, "none") == 0) {
        *want = 0;
        return true;
    }
    if (token[0] == '\0' || strspn(token, "rha") != strlen(token))
        return false;
    *want = (strchr(token, 'r') ? FUZZ_URL_REDIS : 0) | (strchr(token, 'h') ? FUZZ_URL_HTTP : 0) |
            (strchr(token, 'a') ? FUZZ_URL_ADDR : 0);
    return true;
}

static bool expect_config(const char *token, int *want)
{
    static const struct {
        const char *token;
        enum config_result result;
    } names[] = {{"ok", CONFIG_OK}, {"exit", CONFIG_EXIT}, {"err", CONFIG_ERROR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(token, names[i].token) == 0) {
            *want = (int)names[i].result;
            return true;
        }
    }
    return false;
}

static bool expect_route(const char *token, int *want)
{
    char label[64];
    if (strcmp(token, "none") == 0) {
        *want = -1;
        return true;
    }
    static const struct {
        const char *token;
        enum route route;
    } patterned[] = {{"job", ROUTE_JOB},
                     {"dead", ROUTE_DEAD},
                     {"deadretry", ROUTE_DEAD_RETRY},
                     {"schedule", ROUTE_SCHEDULE},
                     {"uifile", ROUTE_UI_FILE}};
    for (size_t i = 0; i < sizeof patterned / sizeof patterned[0]; i++) {
        if (strcmp(token, patterned[i].token) == 0) {
            *want = patterned[i].route;
            return true;
        }
    }
    snprintf(label, sizeof label, "/%s", token);
    for (int r = ROUTE_NONE + 1; r < ROUTE_COUNT; r++) {
        if (strcmp(route_label((enum route)r), label) == 0) {
            *want = r;
            return true;
        }
    }
    return false;
}

struct target {
    const char *name;
    int (*one)(const uint8_t *data, size_t size);
    expect_fn expect;
    bool prints; /* writes --help/--version to stdout: captured */
};

/* Reads a whole file into an exactly-sized buffer (so an ASan build sees
 * any read past the input, as libFuzzer's would). */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Replays every file of dir through t; seeds (require_expect) must name a
 * known expectation. Returns how many files were replayed. */
static int replay_dir(const struct target *t, const char *dir, bool require_expect)
{
    DIR *d = opendir(dir);
    int count = 0;
    if (d == NULL) {
        ck_assert_msg(!require_expect, "no seed directory %s (set OFFLOAD_SRC)", dir);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char token[64];
        int want = 0;
        size_t size;
        snprintf(current_file, sizeof current_file, "%s/%s", dir, e->d_name);
        snprintf(token, sizeof token, "%.*s", (int)strcspn(e->d_name, "-."), e->d_name);
        bool known = t->expect(token, &want);
        ck_assert_msg(known || !require_expect, "%s: the name states no expectation",
                      current_file);

        uint8_t *data = read_file(current_file, &size);
        struct capture out;
        if (t->prints)
            capture_begin(&out, STDOUT_FILENO);
        int got = t->one(data, size);
        if (t->prints) {
            char *printed = capture_end(&out);
            /* --help and --version print; a parse that returns does not */
            if (known && want == CONFIG_EXIT)
                ck_assert_msg(strncmp(printed, "usage: fuzz", 11) == 0 ||
                                  strncmp(printed, "fuzz 0.1.0", 10) == 0,
                              "%s: printed \"%s\"", current_file, printed);
            free(printed);
        }
        free(data);
        if (known)
            ck_assert_msg(got == want, "%s: outcome %d, the name says %d", current_file, got,
                          want);
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const struct target *t)
{
    const char *root = getenv("OFFLOAD_SRC");
    char dir[512];
    if (root == NULL || *root == '\0')
        root = ".";
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", root, t->name);
    int seeds = replay_dir(t, dir, true);
    ck_assert_msg(seeds >= 5, "%s: only %d seeds", dir, seeds);
    snprintf(dir, sizeof dir, "%s/fuzz/regress/%s", root, t->name);
    replay_dir(t, dir, false);
}

static const struct target targets[] = {
    {"job", fuzz_job_one, expect_job, false},
    {"url", fuzz_url_one, expect_url, false},
    {"config", fuzz_config_one, expect_config, true},
    {"route", fuzz_route_one, expect_route, false},
    {"cron", fuzz_cron_one, expect_job, false}, /* the same ok | err names */
};

START_TEST(corpus_replays)
{
    replay(&targets[_i]);
}
END_TEST

static Suite *fuzz_regress_suite(void)
{
    Suite *s = suite_create("fuzz_regress");
    TCase *tc = tcase_create("corpora");
    tcase_add_loop_test(tc, corpus_replays, 0, (int)(sizeof targets / sizeof targets[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(fuzz_regress_suite());
}
