#ifndef OFFLOAD_TESTS_UNIT_H
#define OFFLOAD_TESTS_UNIT_H
/* Helpers shared by the unit test programs (header-only: each test_*.c is
 * its own program and links nothing from this folder). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one suite; returns the process exit status. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Redirects fd (1 or 2) into a fresh O_APPEND temp file until capture_end. */
struct capture {
    int fd;    /* the redirected descriptor */
    int saved; /* its original, restored by capture_end */
    int file;
    char path[64];
};

static inline void capture_begin(struct capture *c, int fd)
{
    strcpy(c->path, "/tmp/offload-unit.XXXXXX");
    c->fd = fd;
    c->file = mkstemp(c->path);
    ck_assert_int_ge(c->file, 0);
    ck_assert_int_eq(fcntl(c->file, F_SETFL, O_APPEND), 0);
    fflush(fd == STDOUT_FILENO ? stdout : stderr);
    c->saved = dup(fd);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_ge(dup2(c->file, fd), 0);
}

/* Restores the descriptor; returns everything written meanwhile
 * (malloc'd, NUL-terminated, caller frees). */
static inline char *capture_end(struct capture *c)
{
    fflush(c->fd == STDOUT_FILENO ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    off_t size = lseek(c->file, 0, SEEK_END);
    ck_assert_int_ge(size, 0);
    char *buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(c->file, buf, (size_t)size, 0), size);
    buf[size] = '\0';
    close(c->file);
    unlink(c->path);
    return buf;
}

#endif
