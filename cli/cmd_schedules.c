/* offload schedules; see cmd_schedules.h. */
#include "cli/cmd_schedules.h"

#include <stdio.h>

#include "cli/api.h"
#include "cli/args.h"
#include "cli/fmt.h"
#include "cli/table.h"

static const char *const sched_headers[] = {"NAME", "CRON", "TASK", "QUEUE", "NEXT", "LAST", "LAST JOB"};
#define SCHED_COLS (sizeof sched_headers / sizeof sched_headers[0])

/* One schedule as a row of sched_headers. */
static void schedules_row(const json_t *s, char cells[][FMT_CELL_BUF])
{
    fmt_value(json_object_get(s, "name"), FMT_CELL_CHARS, cells[0], FMT_CELL_BUF);
    fmt_value(json_object_get(s, "cron"), FMT_CELL_CHARS, cells[1], FMT_CELL_BUF);
    fmt_value(json_object_get(s, "task"), FMT_CELL_CHARS, cells[2], FMT_CELL_BUF);
    fmt_value(json_object_get(s, "queue"), FMT_CELL_CHARS, cells[3], FMT_CELL_BUF);
    fmt_age(json_object_get(s, "next_run_at"), cells[4], FMT_CELL_BUF);
    fmt_age(json_object_get(s, "last_run_at"), cells[5], FMT_CELL_BUF);
    fmt_value(json_object_get(s, "last_job"), 0, cells[6], FMT_CELL_BUF);
}

/* GET /schedules's {"schedules":[…]} as a table. 0 or -1 (OOM). */
static int schedules_print(const json_t *answer)
{
    const json_t *list = json_object_get(answer, "schedules");
    if (json_array_size(list) == 0) {
        printf("no schedules\n");
        return 0;
    }
    return table_print_list(list, SCHED_COLS, sched_headers, schedules_row, stdout);
}

int cmd_schedules(struct cli *c, int argc, char **argv)
{
    struct opt opts[] = {CLI_OPTS_COMMON(c)};
    struct config_spec spec = {"schedules", "offload schedules [--json]",
                               "The periodic schedules (GET /schedules): cron, task, queue, when each\n"
                               "runs next and last, and the last job it made.\n" CLI_EXIT_HELP,
                               opts, CLI_NOPTS(opts), true};
    const char *pos[1];
    int npos, rc = args_parse(&spec, argc, argv, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    return api_show(c, "/schedules", schedules_print);
}
