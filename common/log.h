#ifndef OFFLOAD_LOG_H
#define OFFLOAD_LOG_H
/* logfmt logging on stderr: `ts=... level=info comp=api msg="..." k=v`.
 * Thread-safe: each line is formatted in a local buffer and written with one
 * write(2), so lines from threads and processes never interleave. */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below `level` are dropped. Default: LOG_INFO, or LOG_LEVEL from the
 * environment when log_init is called. */
void log_set_level(enum log_level level);
/* "debug", "info", "warn"/"warning", "error" → 0; anything else → -1. */
int log_level_parse(const char *s, enum log_level *out);
/* Names the component (`comp=api`); `name` must outlive all logging. Reads
 * LOG_LEVEL from the environment. */
void log_init(const char *name);
/* Writes one line. `kvfmt` is a printf format for the key=value tail (may be
 * NULL); the caller quotes values that can hold spaces (see log_quote). */
void log_msg(enum log_level level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes `s` into buf as a logfmt value: bare when safe, else "quoted" with
 * \" and \\ escaped and control bytes as \xNN; always NUL-terminates and
 * truncates to fit. Returns buf. */
const char *log_quote(const char *s, char *buf, unsigned long len);

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

#endif
