#ifndef OFFLOAD_LOADGEN_SYS_H
#define OFFLOAD_LOADGEN_SYS_H
/* Process setup shared by loadgen and slowsvc (clocks: common/clock.h). */
#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard limit, so thousands of
 * connections fit. Returns the new soft limit, or -1 if it could not be read
 * or raised (the old limit then stays). */
long sys_raise_nofile(void);

/* Online CPUs, at least 1. */
int sys_cpu_count(void);

#endif
