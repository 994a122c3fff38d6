#ifndef OFFLOAD_SERVER_H
#define OFFLOAD_SERVER_H
/* The API server process: listening socket, evhttp, routing, Redis
 * connections, and graceful shutdown. */
#include "api/app.h"

/* Opens the API's TCP socket on host:port ("": every address) with
 * SO_REUSEADDR, SO_REUSEPORT and TCP_NODELAY (common/sys.h sys_listen),
 * listening when `listen_now`. Returns the fd, or -1 with err filled. */
int server_socket(const char *host, int port, int listen_now, char *err, size_t errlen);
/* Runs one API process on the already-bound listening socket `fd` until
 * SIGTERM/SIGINT and the drain that follows. `cfg` must have been validated.
 * Returns 0 on a clean exit, -1 on a startup failure. */
int server_run(const struct api_config *cfg, int fd);

#endif
