/* offload dead; see cmd_dead.h. */
#include "cli/cmd_dead.h"

#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/args.h"
#include "cli/fmt.h"
#include "cli/table.h"
#include "common/job.h"

/* Ids one retry or purge names at most (one command line's worth). */
#define DEAD_IDS_MAX 1000
/* `dead ls` shows this many unless --limit says otherwise; the API's bound. */
#define DEAD_LS_DEFAULT 20
#define DEAD_LS_MAX 1000

static const char *const dead_headers[] = {"ID", "TASK", "ATTEMPTS", "DIED", "ERROR"};
#define DEAD_COLS (sizeof dead_headers / sizeof dead_headers[0])

/* One dead job as a row of dead_headers. */
static void dead_row(const json_t *j, char cells[][FMT_CELL_BUF])
{
    fmt_value(json_object_get(j, "id"), 0, cells[0], FMT_CELL_BUF);
    fmt_value(json_object_get(j, "task"), FMT_CELL_CHARS, cells[1], FMT_CELL_BUF);
    fmt_value(json_object_get(j, "attempts"), 0, cells[2], FMT_CELL_BUF);
    fmt_age(json_object_get(j, "finished_at"), cells[3], FMT_CELL_BUF);
    fmt_value(json_object_get(j, "error"), FMT_CELL_CHARS, cells[4], FMT_CELL_BUF);
}

/* GET /queues/{q}/dead's {"queue","total","jobs"} as a table. 0 or -1 (OOM). */
static int dead_print(const json_t *answer)
{
    const json_t *jobs = json_object_get(answer, "jobs");
    char total[FMT_CELL_BUF];
    fmt_value(json_object_get(answer, "total"), 0, total, sizeof total);
    printf("%s dead in %s, showing %zu\n", total, json_string_value(json_object_get(answer, "queue")),
           json_array_size(jobs));
    if (json_array_size(jobs) == 0)
        return 0;
    printf("\n");
    return table_print_list(jobs, DEAD_COLS, dead_headers, dead_row, stdout);
}

/* `dead ls`: the newest dead jobs of queue. */
static int dead_ls(struct cli *c, const char *queue, long limit)
{
    char path[128];
    snprintf(path, sizeof path, "/queues/%s/dead?limit=%ld", queue, limit);
    return api_show(c, path, dead_print);
}

/* `dead retry` and `dead purge`: ids (n of them; none: all of the queue's)
 * back on the queue, or deleted. */
static int dead_act(struct cli *c, bool retry, const char *queue, const char *const *ids, int n)
{
    json_t *body = NULL, *answer = NULL, *list = NULL;
    int rc = CLI_EXIT_API;
    char path[128];
    for (int i = 0; i < n; i++)
        if (!args_job_id_ok("dead", ids[i]))
            return CLI_EXIT_USAGE;
    if (n > 0) {
        if ((list = json_array()) == NULL)
            goto oom;
        for (int i = 0; i < n; i++)
            if (json_array_append_new(list, json_string(ids[i])) != 0)
                goto oom;
        body = json_pack("{s:o}", "ids", list);
        list = NULL; /* json_pack took it, even when it failed */
        if (body == NULL)
            goto oom;
    }
    snprintf(path, sizeof path, retry ? "/queues/%s/dead/retry" : "/queues/%s/dead", queue);
    rc = api_call(c, retry ? "POST" : "DELETE", path, body, 0, 0, &answer, NULL);
    if (rc != CLI_EXIT_OK)
        goto done;
    if (c->json) {
        api_print_json(answer);
    } else {
        char count[FMT_CELL_BUF], missing[FMT_CELL_BUF];
        const json_t *miss = json_object_get(answer, "missing");
        fmt_value(json_object_get(answer, retry ? "retried" : "deleted"), 0, count, sizeof count);
        printf("%s %s dead jobs of %s\n", retry ? "retried" : "deleted", count, queue);
        if (json_array_size(miss) > 0) {
            fmt_list(miss, 0, missing, sizeof missing);
            printf("not dead in %s (missing): %s\n", queue, missing);
        }
    }
done:
    json_decref(answer);
    json_decref(body);
    return rc;
oom:
    fprintf(stderr, "offload: out of memory\n");
    json_decref(list);
    json_decref(body);
    return CLI_EXIT_API;
}

int cmd_dead(struct cli *c, int argc, char **argv)
{
    long limit = DEAD_LS_DEFAULT;
    struct opt opts[] = {
        CLI_OPTS_COMMON(c),
        {"limit", 'n', NULL, OPT_INT, &limit, 1, DEAD_LS_MAX, "ls: list at most N, newest first (20)"},
    };
    struct config_spec spec = {
        "dead", "offload dead ls|retry|purge QUEUE [IDS...] [--limit N]",
        "A queue's dead jobs (out of attempts):\n"
        "  ls QUEUE             the newest dead jobs with their last error\n"
        "  retry QUEUE [IDS...] back on the queue with fresh attempts (all, or those ids)\n"
        "  purge QUEUE [IDS...] deleted (all, or those ids)\n" CLI_EXIT_HELP,
        opts, CLI_NOPTS(opts), true};
    static const char *pos[DEAD_IDS_MAX + 2]; /* too big for the stack of a short command */
    int npos, rc = args_parse(&spec, argc, argv, pos, DEAD_IDS_MAX + 2, &npos);
    if (rc >= 0)
        return rc;
    if (npos < 2) {
        fprintf(stderr, "offload dead: %s (see offload dead --help)\n",
                npos == 0 ? "ls, retry or purge?" : "which queue?");
        return CLI_EXIT_USAGE;
    }
    const char *verb = pos[0], *queue = pos[1];
    bool ls = strcmp(verb, "ls") == 0, retry = strcmp(verb, "retry") == 0;
    if (!ls && !retry && strcmp(verb, "purge") != 0) {
        fprintf(stderr, "offload dead: unknown action \"%s\": ls, retry or purge\n", verb);
        return CLI_EXIT_USAGE;
    }
    if (!args_queue_ok("dead", queue))
        return CLI_EXIT_USAGE;
    if (ls && npos > 2) {
        fprintf(stderr, "offload dead ls: unexpected argument \"%s\"\n", pos[2]);
        return CLI_EXIT_USAGE;
    }
    return ls ? dead_ls(c, queue, limit) : dead_act(c, retry, queue, pos + 2, npos - 2);
}
