/* Flags anywhere among a command's positional arguments; see args.h. */
#include "cli/args.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/job.h"
#include "common/jobid.h"

/* Room for config_parse's messages. */
#define ARGS_ERR_MAX 512

/* See args.h. Each round parses flags up to the next positional, then goes
 * on from there with that positional in argv[0]'s place, so the loop ends
 * within argc rounds. */
int args_parse(const struct config_spec *spec, int argc, char **argv, const char **pos,
               int maxpos, int *npos)
{
    char err[ARGS_ERR_MAX];
    int base = 0;
    *npos = 0;
    while (base < argc) {
        int first;
        enum config_result r = config_parse(spec, argc - base, argv + base, &first, err, sizeof err);
        if (r == CONFIG_EXIT)
            return CLI_EXIT_OK;
        if (r == CONFIG_ERROR) {
            fprintf(stderr, "offload %s: %s\n", spec->prog, err);
            return CLI_EXIT_USAGE;
        }
        int at = base + first;
        bool rest = first >= 2 && strcmp(argv[at - 1], "--") == 0;
        for (int i = at; i < argc && (rest || i == at); i++) {
            if (*npos == maxpos) {
                fprintf(stderr, "offload %s: unexpected argument \"%s\" (see --help)\n",
                        spec->prog, argv[i]);
                return CLI_EXIT_USAGE;
            }
            pos[(*npos)++] = argv[i];
        }
        if (rest)
            break;
        base = at;
    }
    return -1;
}

bool args_job_id_ok(const char *prog, const char *id)
{
    if (jobid_valid(id))
        return true;
    fprintf(stderr, "offload %s: \"%s\" is not a job id (%d hex digits, as enqueue prints)\n", prog,
            id, JOBID_LEN);
    return false;
}

bool args_queue_ok(const char *prog, const char *q)
{
    if (job_queue_valid(q))
        return true;
    fprintf(stderr, "offload %s: \"%s\" is not a queue name ([A-Za-z0-9_.:-]{1,%d})\n", prog, q,
            JOB_QUEUE_MAX);
    return false;
}
