/* loadgen: dispatches to the command named by the first argument. */
#include <signal.h>
#include <string.h>

#include "common/log.h"
#include "common/sys.h"
#include "loadgen/jobs.h"
#include "loadgen/suite.h"
#include "loadgen/urlcmd.h"

int main(int argc, char **argv)
{
    log_init("loadgen");
    signal(SIGPIPE, SIG_IGN);
    sys_raise_nofile();
    if (argc > 1 && strcmp(argv[1], "jobs") == 0)
        return jobs_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "suite") == 0)
        return suite_main(argc - 1, argv + 1);
    return urlcmd_main(argc, argv);
}
