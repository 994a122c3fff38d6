#ifndef OFFLOAD_ERRMSG_H
#define OFFLOAD_ERRMSG_H
/* The `char *err, size_t errlen` convention of the parsers in common/. */
#include <stddef.h>

/* Formats a message into err (truncated, NUL-terminated; nothing when err is
 * NULL or errlen is 0) and returns -1, so a parser can `return errmsg_fail(...)`. */
int errmsg_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
