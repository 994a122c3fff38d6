#ifndef OFFLOAD_LOADGEN_URLCMD_H
#define OFFLOAD_LOADGEN_URLCMD_H
/* `loadgen [flags] URL`: the HTTP benchmark command, wrk-like: one request
 * template sent to one URL, closed or open loop (run.h), summary or JSON
 * (report.h). */

/* Runs the command; returns the exit code (0 ran, 1 fatal, 2 bad flag). */
int urlcmd_main(int argc, char **argv);

#endif
