#ifndef OFFLOAD_CLI_CMD_SCHEDULES_H
#define OFFLOAD_CLI_CMD_SCHEDULES_H
/* `offload schedules`: the periodic schedules and when each runs next.
 * argv[0] is "schedules"; returns the exit status. */
#include "cli/cli.h"

int cmd_schedules(struct cli *c, int argc, char **argv);

#endif
