#ifndef OFFLOAD_JOBID_H
#define OFFLOAD_JOBID_H
/* 128-bit job ids as 32 lowercase hex characters, from getrandom(2). */
#include <stdbool.h>

#define JOBID_LEN 32

/* Fills out[0..32] (NUL-terminated). Returns 0, or -1 if the kernel's random
 * source failed (never falls back to a weaker source). */
int jobid_new(char out[JOBID_LEN + 1]);
/* Exactly 32 chars of [0-9a-f]. */
bool jobid_valid(const char *s);

#endif
