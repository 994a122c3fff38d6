#ifndef OFFLOAD_SYS_H
#define OFFLOAD_SYS_H
/* Process and socket setup every binary needs (clocks: common/clock.h). */
#include <stddef.h>

/* Options of sys_listen, or-ed together. */
enum sys_listen_flags {
    SYS_LISTEN_REUSEPORT = 1 << 0, /* SO_REUSEPORT: several processes share the port */
    SYS_LISTEN_NODELAY = 1 << 1,   /* TCP_NODELAY, which accepted sockets inherit (Linux) */
    SYS_LISTEN_BIND_ONLY = 1 << 2, /* bind without listen: reserves the port, takes no connections */
};

/* Opens a nonblocking, close-on-exec TCP socket on host:port (host NULL: every
 * address) with SO_REUSEADDR and the options in `flags`, listening with
 * `backlog` unless SYS_LISTEN_BIND_ONLY. The fd is the caller's to close.
 * When bound_port is not NULL it gets the port actually bound (port 0: the
 * kernel's choice). Returns the fd, or -1 with the reason in err. */
int sys_listen(const char *host, int port, int flags, int backlog, int *bound_port, char *err, size_t errlen);

/* Raises the soft RLIMIT_NOFILE to the hard limit, so thousands of
 * connections fit. Returns the new soft limit, or -1 if it could not be read
 * or raised (the old limit then stays). */
long sys_raise_nofile(void);

/* Online CPUs, at least 1. */
int sys_cpu_count(void);

#endif
