#ifndef OFFLOAD_URL_H
#define OFFLOAD_URL_H
/* URL and address parsing into fixed-size structs (no allocation). Every
 * parser returns 0, or -1 with a message in err naming what is wrong. */
#include <stdbool.h>
#include <stddef.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 2048
#define URL_SECRET_MAX 256
#define URL_SENTINELS_MAX 8   /* a Sentinel deployment has 3 or 5; more is a typo */
#define URL_MASTER_MAX 128    /* a master name as Sentinel monitors it */

/* A host and port (IPv6 without brackets). */
struct redis_addr {
    char host[URL_HOST_MAX];
    int port;
};

struct redis_url {
    bool is_unix;                   /* unix:///path/to/redis.sock */
    bool is_sentinel;               /* redis+sentinel://: host and port are asked of the sentinels */
    char host[URL_HOST_MAX];        /* IPv6 without brackets; "" when is_sentinel */
    int port;                       /* default 6379; 0 when is_sentinel */
    char path[URL_PATH_MAX];        /* socket path when is_unix */
    char password[URL_SECRET_MAX];  /* the master's ("" when none); never log it */
    int db;                         /* default 0; also unix://...?db=N */
    struct redis_addr sentinels[URL_SENTINELS_MAX]; /* when is_sentinel: asked in this order */
    size_t nsentinels;
    char master[URL_MASTER_MAX];    /* when is_sentinel: the name the sentinels monitor */
    char sentinel_password[URL_SECRET_MAX]; /* the sentinels' own ("" when none); never log it */
};

/* redis://[:password@]host[:port][/db]  or  unix:///path[?db=N]  or
 * redis+sentinel://[:password@]host[:port][,host[:port]...]/MASTER[/db]
 * (sentinel port default 26379; query: db, password, sentinel_password) */
int redis_url_parse(const char *s, struct redis_url *out, char *err, size_t errlen);
/* The URL with any password replaced by "***", for logs. */
void redis_url_redact(const struct redis_url *u, char *buf, size_t len);

/* Judges a maxmemory-policy value (CONFIG GET's): a Redis that may evict
 * keys (any policy but noeviction) could drop an accepted job. Returns true
 * and writes into why what to tell the operator, or returns false. */
bool redis_policy_refused(const char *policy, char *why, size_t len);

struct http_url {
    char host[URL_HOST_MAX];  /* IPv6 without brackets */
    int port;                 /* default 80 */
    char path[URL_PATH_MAX];  /* path plus query, at least "/" */
    char hostport[URL_HOST_MAX + 8]; /* for the Host header: "h:p" or "[v6]:p" */
};

/* http://host[:port][/path[?query]]  (https is rejected: not supported) */
int http_url_parse(const char *s, struct http_url *out, char *err, size_t errlen);

/* Listen/connect address: "127.0.0.1:8080", "[::1]:8080", "localhost:80",
 * ":8080" (host 0.0.0.0? no: "" → 127.0.0.1), "8080" (port only → 127.0.0.1). Port 0 allowed. */
int addr_parse(const char *s, char *host, size_t hostlen, int *port, char *err, size_t errlen);

#endif
