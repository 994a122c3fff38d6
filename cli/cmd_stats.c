/* offload stats and offload top; see cmd_stats.h. */
#include "cli/cmd_stats.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/api.h"
#include "cli/args.h"
#include "cli/fmt.h"
#include "cli/table.h"

/* top's refresh period. */
#define TOP_PERIOD_MS 1000
/* ANSI: cursor home, clear the screen. Only ever written to a terminal. */
#define TOP_CLEAR "\033[H\033[2J"
/* Room for a column header made from a key the API added. */
#define HEADER_MAX 64

/* The columns every queue has, in the order shown; other keys follow. */
static const struct {
    const char *key, *header;
} queue_cols[] = {
    {"depth", "QUEUED"}, {"in_progress", "RUNNING"}, {"scheduled", "SCHEDULED"}, {"dead", "DEAD"},
};
#define QUEUE_KNOWN (sizeof queue_cols / sizeof queue_cols[0])

static const char *const worker_headers[] = {"WORKER", "HOST",  "PID",    "STATE",    "QUEUES",
                                             "JOB",    "SINCE", "DONE",   "FAILED",   "HEARTBEAT"};
#define WORKER_COLS (sizeof worker_headers / sizeof worker_headers[0])

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool queue_col_known(const char *k)
{
    for (size_t i = 0; i < QUEUE_KNOWN; i++)
        if (strcmp(queue_cols[i].key, k) == 0)
            return true;
    return false;
}

/* The queues of GET /queues as a table sorted by name; a number the API adds
 * later (a rate) becomes a column of its own. 0 or -1 (OOM). */
static int stats_print_queues(const json_t *answer, FILE *f)
{
    json_t *queues = json_object_get(answer, "queues");
    size_t n = json_object_size(queues), ncols = 1 + QUEUE_KNOWN;
    const char **names = NULL;
    const char *headers[TABLE_COLS_MAX], *keys[TABLE_COLS_MAX] = {NULL};
    char upper[TABLE_COLS_MAX][HEADER_MAX];
    struct table *t = NULL;
    const char *k;
    json_t *v;
    size_t i = 0;
    if (n == 0) {
        fprintf(f, "no queues yet\n");
        return 0;
    }
    if ((names = calloc(n, sizeof *names)) == NULL)
        goto err;
    json_object_foreach(queues, k, v) names[i++] = k;
    qsort(names, n, sizeof *names, key_cmp);
    headers[0] = "QUEUE";
    for (i = 0; i < QUEUE_KNOWN; i++) {
        headers[1 + i] = queue_cols[i].header;
        keys[1 + i] = queue_cols[i].key;
    }
    json_object_foreach(json_object_get(queues, names[0]), k, v) {
        if (queue_col_known(k) || ncols == TABLE_COLS_MAX)
            continue;
        size_t j = 0;
        for (; k[j] != '\0' && j + 1 < HEADER_MAX; j++)
            upper[ncols][j] = (char)toupper((unsigned char)k[j]);
        upper[ncols][j] = '\0';
        if (strcmp(k, "in_per_s") == 0 || strcmp(k, "out_per_s") == 0) /* "IN/S", "OUT/S" */
            snprintf(upper[ncols], HEADER_MAX, "%s/S", k[0] == 'i' ? "IN" : "OUT");
        headers[ncols] = upper[ncols];
        keys[ncols++] = k;
    }
    if ((t = table_new(ncols, headers)) == NULL)
        goto err;
    for (i = 0; i < n; i++) {
        const json_t *q = json_object_get(queues, names[i]);
        char cells[TABLE_COLS_MAX][FMT_CELL_BUF];
        const char *row[TABLE_COLS_MAX] = {names[i]};
        for (size_t col = 1; col < ncols; col++) {
            fmt_value(json_object_get(q, keys[col]), FMT_CELL_CHARS, cells[col], sizeof cells[col]);
            row[col] = cells[col];
        }
        if (table_add(t, row) != 0)
            goto err;
    }
    table_print(t, f);
    table_free(t);
    free(names);
    return 0;
err:
    table_free(t);
    free(names);
    return -1;
}

/* One worker of GET /workers as a row of worker_headers. */
static void stats_worker_row(const json_t *w, char cells[][FMT_CELL_BUF])
{
    const json_t *alive = json_object_get(w, "alive"), *job = json_object_get(w, "job");
    const json_t *since = json_object_get(w, "job_since");
    fmt_value(json_object_get(w, "id"), FMT_CELL_CHARS, cells[0], FMT_CELL_BUF);
    fmt_value(json_object_get(w, "host"), FMT_CELL_CHARS, cells[1], FMT_CELL_BUF);
    fmt_value(json_object_get(w, "pid"), 0, cells[2], FMT_CELL_BUF);
    snprintf(cells[3], FMT_CELL_BUF, "%s", json_is_true(alive) ? "alive" : "dead");
    fmt_list(json_object_get(w, "queues"), FMT_CELL_CHARS, cells[4], FMT_CELL_BUF);
    if (json_is_object(job)) { /* {"id","task","since"} */
        if (since == NULL)
            since = json_object_get(job, "since");
        job = json_object_get(job, "id");
    }
    fmt_value(job, FMT_CELL_CHARS, cells[5], FMT_CELL_BUF);
    fmt_age(since, cells[6], FMT_CELL_BUF);
    fmt_value(json_object_get(w, "jobs_done"), 0, cells[7], FMT_CELL_BUF);
    fmt_value(json_object_get(w, "jobs_failed"), 0, cells[8], FMT_CELL_BUF);
    fmt_age(json_object_get(w, "heartbeat_at"), cells[9], FMT_CELL_BUF);
}

/* The workers of GET /workers ({"workers":[…],"dead":[…]}: alive, then
 * recently dead) as one table. 0 or -1 (OOM). */
static int stats_print_workers(const json_t *answer, FILE *f)
{
    static const char *const lists[] = {"workers", "dead"};
    json_t *all = json_array();
    if (all == NULL)
        return -1;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        json_t *l = json_object_get(answer, lists[i]);
        if (json_is_array(l) && json_array_extend(all, l) != 0) {
            json_decref(all);
            return -1;
        }
    }
    int rc = 0;
    if (json_array_size(all) == 0)
        fprintf(f, "no workers registered\n");
    else
        rc = table_print_list(all, WORKER_COLS, worker_headers, stats_worker_row, f);
    json_decref(all);
    return rc;
}

/* GET /queues's answer with GET /workers's added as "workers" (null when
 * the API has no /workers: no error) in *out (new reference). Returns the
 * exit status. */
static int stats_fetch(struct cli *c, json_t **out)
{
    json_t *queues = NULL, *workers = NULL;
    long code;
    int rc = api_call(c, "GET", "/queues", NULL, 0, 0, &queues, NULL);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = api_call(c, "GET", "/workers", NULL, 0, API_QUIET_404, &workers, &code);
    if (rc != CLI_EXIT_OK && code != 404) {
        json_decref(queues);
        return rc;
    }
    if (json_object_set_new(queues, "workers", workers ? workers : json_null()) != 0) {
        fprintf(stderr, "offload: out of memory\n");
        json_decref(queues);
        return CLI_EXIT_API;
    }
    *out = queues;
    return CLI_EXIT_OK;
}

/* Prints what stats_fetch got: JSON, or the tables. */
static int stats_show(const struct cli *c, const json_t *s, bool one_line)
{
    if (c->json) {
        json_dumpf(s, stdout, one_line ? JSON_COMPACT : JSON_INDENT(2));
        putchar('\n');
        return CLI_EXIT_OK;
    }
    const json_t *workers = json_object_get(s, "workers");
    char alive[FMT_CELL_BUF];
    fmt_value(json_object_get(s, "workers_alive"), 0, alive, sizeof alive);
    if (stats_print_queues(s, stdout) != 0)
        goto oom;
    printf("\nworkers alive: %s\n", alive);
    if (!json_is_null(workers) && stats_print_workers(workers, stdout) != 0)
        goto oom;
    return CLI_EXIT_OK;
oom:
    fprintf(stderr, "offload: out of memory\n");
    return CLI_EXIT_API;
}

int cmd_stats(struct cli *c, int argc, char **argv)
{
    struct opt opts[] = {CLI_OPTS_COMMON(c)};
    struct config_spec spec = {"stats", "offload stats [--json]",
                               "Queues (queued, running, scheduled, dead, jobs in and out per second)\n"
                               "and workers at a glance. --json: GET /queues's answer, with GET\n"
                               "/workers's as \"workers\" (null when the API has no /workers).\n"
                               CLI_EXIT_HELP,
                               opts, CLI_NOPTS(opts), true};
    const char *pos[1];
    int npos, rc = args_parse(&spec, argc, argv, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    json_t *s;
    if ((rc = stats_fetch(c, &s)) != CLI_EXIT_OK)
        return rc;
    rc = stats_show(c, s, false);
    json_decref(s);
    return rc;
}

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

/* Sleeps ms, or less when a signal stops top. */
static void top_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!top_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int cmd_top(struct cli *c, int argc, char **argv)
{
    long count = 0;
    struct opt opts[] = {
        CLI_OPTS_COMMON(c),
        {"count", 'n', NULL, OPT_INT, &count, 0, 1000000, "stop after N refreshes (0: at Ctrl-C)"},
    };
    struct config_spec spec = {"top", "offload top [--count N] [--json]",
                               "offload stats, refreshed every second until Ctrl-C. On a terminal it\n"
                               "redraws the screen; otherwise it prints one frame after the other\n"
                               "(with --json: one line of JSON each).\n" CLI_EXIT_HELP,
                               opts, CLI_NOPTS(opts), true};
    const char *pos[1];
    int npos, rc = args_parse(&spec, argc, argv, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    struct sigaction sa = {0};
    sa.sa_handler = top_on_signal; /* no SA_RESTART: the sleep ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    c->stop = &top_stop;
    bool tty = !c->json && isatty(STDOUT_FILENO);
    for (long n = 0; !top_stop && (count == 0 || n < count); n++) {
        if (n > 0)
            top_sleep(TOP_PERIOD_MS);
        if (top_stop)
            break;
        if (!c->json) {
            char now[80];
            json_t *t = json_real(fmt_now());
            fmt_time(t, now, sizeof now);
            json_decref(t);
            printf("%s%soffload top  %s  %.19s  (Ctrl-C quits)\n\n", tty ? TOP_CLEAR : "",
                   n > 0 && !tty ? "\n" : "", c->api, now);
        }
        json_t *s;
        rc = stats_fetch(c, &s);
        if (rc == CLI_EXIT_OK) {
            rc = stats_show(c, s, true);
            json_decref(s);
        }
        fflush(stdout);
    }
    return top_stop ? CLI_EXIT_OK : rc;
}
