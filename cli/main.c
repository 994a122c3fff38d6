/* offload: the command-line client of the offload API. Dispatches to the
 * command named after the global flags; each command lives in cli/cmd_*.c. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/cmd_dead.h"
#include "cli/cmd_enqueue.h"
#include "cli/cmd_job.h"
#include "cli/cmd_schedules.h"
#include "cli/cmd_stats.h"

static const struct command {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
} commands[] = {
    {"stats", cmd_stats}, {"top", cmd_top},       {"enqueue", cmd_enqueue},     {"job", cmd_job},
    {"cancel", cmd_cancel}, {"dead", cmd_dead}, {"schedules", cmd_schedules},
};

#define MAIN_ABOUT                                                                                \
    "The offload API from a terminal or a script: tables by default, the API's JSON with --json,\n" \
    "errors on stderr. `offload COMMAND --help` says more about each.\n\n"                        \
    "commands:\n"                                                                                 \
    "  stats                         queues and workers at a glance\n"                            \
    "  top [--count N]               the same, refreshed every second until Ctrl-C\n"             \
    "  enqueue TASK [ARGS-JSON] [-q QUEUE] [--wait S] [--delay D] [--key K]\n"                    \
    "                                submit a job: prints its id, or with --wait its result\n"    \
    "  job ID                        a job: state, result or error, attempts\n"                   \
    "  cancel ID                     cancel a queued or scheduled job\n"                          \
    "  dead ls|retry|purge QUEUE [IDS...]\n"                                                      \
    "                                a queue's dead jobs: list, retry, delete\n"                  \
    "  schedules                     the periodic schedules\n\n" CLI_EXIT_HELP

int main(int argc, char **argv)
{
    struct cli c = {.api = CLI_API_DEFAULT, .token = ""};
    const struct opt opts[] = {
        {"api", 0, "OFFLOAD_API", OPT_STR, &c.api, 0, 0, "the API's base URL (" CLI_API_DEFAULT ")"},
        {"token", 0, "OFFLOAD_TOKEN", OPT_STR, &c.token, 0, 0,
         "the API's bearer token (none); prefer the environment, which ps does not show"},
        {"json", 0, NULL, OPT_BOOL, &c.json, 0, 0, "print the API's JSON, not tables"},
    };
    const struct config_spec spec = {"offload", "offload [--api URL] [--token T] [--json] COMMAND ...",
                                     MAIN_ABOUT, opts, sizeof opts / sizeof opts[0], true};
    char err[512];
    int first;
    enum config_result cr = config_parse(&spec, argc, argv, &first, err, sizeof err);
    if (cr == CONFIG_EXIT)
        return CLI_EXIT_OK;
    if (cr == CONFIG_ERROR) {
        fprintf(stderr, "offload: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (first >= argc) {
        fprintf(stderr, "offload: which command? (offload --help lists them)\n");
        return CLI_EXIT_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[first], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "offload: unknown command \"%s\" (offload --help lists them)\n", argv[first]);
        return CLI_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN); /* `offload job X | head -1`: a closed pipe is no crash */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "offload: cannot start libcurl\n");
        return CLI_EXIT_API;
    }
    int rc = cmd->run(&c, argc - first, argv + first);
    api_close(&c);
    curl_global_cleanup();
    fflush(stdout);
    return rc;
}
