#ifndef OFFLOAD_CLI_CMD_JOB_H
#define OFFLOAD_CLI_CMD_JOB_H
/* `offload job ID` (a job, its result and its attempts) and `offload cancel
 * ID`. argv[0] is the command's name; each returns the exit status. */
#include "cli/cli.h"

int cmd_job(struct cli *c, int argc, char **argv);
int cmd_cancel(struct cli *c, int argc, char **argv);

#endif
