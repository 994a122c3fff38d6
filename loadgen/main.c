/* loadgen: dispatches to the command named by the first argument. */
#include <signal.h>
#include <string.h>

#include "common/log.h"
#include "loadgen/cli.h"
#include "loadgen/sys.h"

int main(int argc, char **argv)
{
    log_init("loadgen");
    signal(SIGPIPE, SIG_IGN);
    sys_raise_nofile();
    return cli_main(argc, argv);
}
