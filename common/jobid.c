/* Job ids: 16 bytes from getrandom(2), as 32 lowercase hex characters. */
#include "common/jobid.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/types.h>

#define JOBID_BYTES (JOBID_LEN / 2)

/* Fills out with a fresh id. Blocks only before the kernel's pool is
 * initialised at boot; a failing source is an error, never a weaker id. */
int jobid_new(char out[JOBID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[JOBID_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0x0f];
    }
    out[JOBID_LEN] = '\0';
    return 0;
}

bool jobid_valid(const char *s)
{
    if (s == NULL)
        return false;
    for (int i = 0; i < JOBID_LEN; i++) {
        char c = s[i]; /* stops at a NUL before 32: '\0' is not hex */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[JOBID_LEN] == '\0';
}
