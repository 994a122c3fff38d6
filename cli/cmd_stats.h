#ifndef OFFLOAD_CLI_CMD_STATS_H
#define OFFLOAD_CLI_CMD_STATS_H
/* `offload stats` (queues and workers at a glance) and `offload top` (the
 * same, refreshed every second). argv[0] is the command's name; each
 * returns the exit status. */
#include "cli/cli.h"

int cmd_stats(struct cli *c, int argc, char **argv);
int cmd_top(struct cli *c, int argc, char **argv);

#endif
