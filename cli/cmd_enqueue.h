#ifndef OFFLOAD_CLI_CMD_ENQUEUE_H
#define OFFLOAD_CLI_CMD_ENQUEUE_H
/* `offload enqueue TASK [ARGS-JSON]`: submits a job, prints its id, or with
 * --wait its result. argv[0] is "enqueue"; returns the exit status, which
 * says how the job ended (cli.h). */
#include "cli/cli.h"

int cmd_enqueue(struct cli *c, int argc, char **argv);

#endif
