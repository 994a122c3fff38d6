#ifndef OFFLOAD_DEFAULTS_H
#define OFFLOAD_DEFAULTS_H
/* Values more than one binary or module must agree on, each with why. */

#define DEFAULTS_STR_(x) #x
#define DEFAULTS_STR(x) DEFAULTS_STR_(x) /* a numeric constant as a string literal */

/* A worker silent this long is dead and its jobs go back: ten heartbeats,
 * so a few lost ones or a slow Redis never cost a running job. The API
 * counts workers "alive" over the same window. */
#define DEFAULTS_LEASE_MS 10000
#define DEFAULTS_LEASE_TEXT "10s" /* DEFAULTS_LEASE_MS as --help prints it */

/* Seconds a client should wait after a 503: the overloads it answers
 * (Redis down, too many requests in flight) last about that long. */
#define DEFAULTS_RETRY_AFTER_S "1"

/* The one text of every allocation failure reported to a user or a log. */
#define MSG_OUT_OF_MEMORY "out of memory"

#endif
