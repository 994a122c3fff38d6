#ifndef OFFLOAD_CLI_FMT_H
#define OFFLOAD_CLI_FMT_H
/* JSON values as short text for a table cell: numbers, times as ages,
 * long values cut. Each writes a NUL-terminated string into buf. */
#include <jansson.h>
#include <stddef.h>

/* A cell longer than this many characters is cut, ending in "...". */
#define FMT_CELL_CHARS 60
/* A buffer that holds any cell. */
#define FMT_CELL_BUF 256

/* Characters (UTF-8 code points) in s, for column widths. */
size_t fmt_width(const char *s);
/* v as one line: "-" for missing or null, a string as is, a number, or
 * compact JSON; control characters become spaces; cut to `chars`
 * characters (0: no cut, as far as buf holds). */
void fmt_value(const json_t *v, size_t chars, char *buf, size_t len);
/* v as a comma-separated list when it is an array of strings or numbers
 * ("default,emails"), else as fmt_value. */
void fmt_list(const json_t *v, size_t chars, char *buf, size_t len);
/* A time in Unix seconds relative to now: "12s ago", "in 3m", "-" when v is
 * not a number. */
void fmt_age(const json_t *v, char *buf, size_t len);
/* A time in Unix seconds as "2025-01-31 14:05:09 (12s ago)", local time. */
void fmt_time(const json_t *v, char *buf, size_t len);
/* Seconds as "850ms", "12s", "3m04s", "2h05m", "3d04h". */
void fmt_duration(double s, char *buf, size_t len);
/* The current Unix time in seconds. */
double fmt_now(void);

#endif
