#ifndef OFFLOAD_CLI_CMD_DEAD_H
#define OFFLOAD_CLI_CMD_DEAD_H
/* `offload dead ls|retry|purge QUEUE [IDS...]`: a queue's dead jobs, listed,
 * put back on the queue, or deleted. argv[0] is "dead"; returns the exit
 * status. */
#include "cli/cli.h"

int cmd_dead(struct cli *c, int argc, char **argv);

#endif
