#ifndef OFFLOAD_FUZZ_H
#define OFFLOAD_FUZZ_H
/* Shared by the fuzz targets (fuzz/fuzz_*.c) and by the regression test
 * that replays their corpora (tests/unit/test_fuzz_regress.c), which
 * #includes the targets: every function here and in them is static or named
 * fuzz_<target>_*, so nothing clashes with the libraries the test links. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the code under test must keep. Under libFuzzer a violation
 * aborts, so it is saved as a crash input; the regression test defines
 * FUZZ_CHECK as a Check assertion before including the targets. */
#ifndef FUZZ_CHECK
#define FUZZ_CHECK(cond, ...)                                                              \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)
#endif

/* Defines libFuzzer's entry point around a target's fuzz_<target>_one, only
 * when building the fuzzer (FUZZ_MAIN): the regression test calls _one. */
#ifdef FUZZ_MAIN
#define FUZZ_ENTRY(one)                                                                    \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                           \
    {                                                                                      \
        (void)one(data, size);                                                             \
        return 0;                                                                          \
    }
#else
#define FUZZ_ENTRY(one)
#endif

/* The input as a malloc'd C string (an embedded NUL ends it early, as it
 * would for argv or getenv). Aborts on OOM: a fuzz run has no better option. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* True when buf[0..cap) holds a NUL: the field is a terminated string. */
static inline int fuzz_terminated(const char *buf, size_t cap)
{
    return memchr(buf, '\0', cap) != NULL;
}

#endif
