/* offload job and offload cancel; see cmd_job.h. */
#include "cli/cmd_job.h"

#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/args.h"
#include "cli/fmt.h"
#include "cli/table.h"
#include "common/jobid.h"

/* A value in the job view (args, result, error) is cut past this. */
#define JOB_VIEW_CHARS 200

static const char *const history_headers[] = {"ATTEMPT", "WORKER", "STARTED", "ENDED", "OUTCOME", "ERROR"};
#define HISTORY_COLS (sizeof history_headers / sizeof history_headers[0])

/* One attempt of the job's history as a row of history_headers. */
static void job_history_row(const json_t *a, char cells[][FMT_CELL_BUF])
{
    fmt_value(json_object_get(a, "attempt"), 0, cells[0], FMT_CELL_BUF);
    fmt_value(json_object_get(a, "worker"), FMT_CELL_CHARS, cells[1], FMT_CELL_BUF);
    fmt_age(json_object_get(a, "started_at"), cells[2], FMT_CELL_BUF);
    fmt_age(json_object_get(a, "ended_at"), cells[3], FMT_CELL_BUF);
    fmt_value(json_object_get(a, "outcome"), FMT_CELL_CHARS, cells[4], FMT_CELL_BUF);
    fmt_value(json_object_get(a, "error"), FMT_CELL_CHARS, cells[5], FMT_CELL_BUF);
}

/* GET /jobs/{id} as "field  value" lines, then its history. 0 or -1 (OOM). */
static int job_print(const json_t *job)
{
    static const struct {
        const char *key, *label;
        bool time;
    } fields[] = {
        {"id", "id", false},          {"state", "state", false},         {"queue", "queue", false},
        {"task", "task", false},      {"args", "args", false},           {"key", "key", false},
        {"created_at", "created", true}, {"run_at", "run at", true},     {"started_at", "started", true},
        {"finished_at", "finished", true}, {"worker", "worker", false}, {"result", "result", false},
        {"error", "error", false},
    };
    char cell[FMT_CELL_BUF * 4];
    struct table *t = table_new(2, NULL);
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *v = json_object_get(job, fields[i].key);
        if (fields[i].time)
            fmt_time(v, cell, sizeof cell);
        else
            fmt_value(v, JOB_VIEW_CHARS, cell, sizeof cell);
        if (table_add(t, (const char *const[]){fields[i].label, cell}) != 0)
            goto err;
        if (strcmp(fields[i].key, "key") == 0) { /* attempts after the key */
            char used[FMT_CELL_BUF], max[FMT_CELL_BUF];
            fmt_value(json_object_get(job, "attempts"), 0, used, sizeof used);
            fmt_value(json_object_get(job, "max_attempts"), 0, max, sizeof max);
            snprintf(cell, sizeof cell, "%s of %s", used, max);
            if (table_add(t, (const char *const[]){"attempts", cell}) != 0)
                goto err;
        }
    }
    table_print(t, stdout);
    table_free(t);
    const json_t *history = json_object_get(job, "history");
    if (json_array_size(history) == 0)
        return 0;
    printf("\n");
    return table_print_list(history, HISTORY_COLS, history_headers, job_history_row, stdout);
err:
    table_free(t);
    return -1;
}

/* Parses `offload NAME ID` into *id. Returns -1 to go on, else the exit status. */
static int job_args(struct cli *c, int argc, char **argv, const char *usage, const char *about,
                    const char **id)
{
    struct opt opts[] = {CLI_OPTS_COMMON(c)};
    struct config_spec spec = {argv[0], usage, about, opts, CLI_NOPTS(opts), true};
    const char *pos[1];
    int npos, rc = args_parse(&spec, argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    if (npos == 0) {
        fprintf(stderr, "offload %s: which job? (see offload %s --help)\n", argv[0], argv[0]);
        return CLI_EXIT_USAGE;
    }
    if (!args_job_id_ok(argv[0], pos[0]))
        return CLI_EXIT_USAGE;
    *id = pos[0];
    return -1;
}

int cmd_job(struct cli *c, int argc, char **argv)
{
    const char *id;
    int rc = job_args(c, argc, argv, "offload job ID [--json]",
                      "The job: its state, args, result or error, and its attempts (GET /jobs/ID).\n"
                      CLI_EXIT_HELP, &id);
    if (rc >= 0)
        return rc;
    char path[sizeof "/jobs/" + JOBID_LEN];
    snprintf(path, sizeof path, "/jobs/%s", id);
    return api_show(c, path, job_print);
}

int cmd_cancel(struct cli *c, int argc, char **argv)
{
    const char *id;
    int rc = job_args(c, argc, argv, "offload cancel ID [--json]",
                      "Cancels a queued or scheduled job (DELETE /jobs/ID); a running or\n"
                      "finished one cannot be (the API answers 409: exit 4).\n" CLI_EXIT_HELP,
                      &id);
    if (rc >= 0)
        return rc;
    char path[sizeof "/jobs/" + JOBID_LEN];
    snprintf(path, sizeof path, "/jobs/%s", id);
    json_t *answer;
    if ((rc = api_call(c, "DELETE", path, NULL, 0, 0, &answer, NULL)) != CLI_EXIT_OK)
        return rc;
    if (c->json)
        api_print_json(answer);
    else
        printf("cancelled %s\n", id);
    json_decref(answer);
    return CLI_EXIT_OK;
}
