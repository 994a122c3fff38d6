/* Programs run with their output captured; see cmdrun.h. */
#include "tests/harness/cmdrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/harness.h"

/* A file's whole content (malloc'd, NUL-terminated), or NULL. */
static char *cmdrun_slurp(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = n < 0 ? NULL : malloc((size_t)n + 1);
    if (buf == NULL || pread(fd, buf, (size_t)n, 0) != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* A fresh unlinked temporary file, or -1. */
static int cmdrun_tmpfile(void)
{
    char path[] = "/tmp/offload-cmdrun.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* See cmdrun.h. The child inherits the test's stdout and stderr, so they
 * point at the capture files while it is forked, and back afterwards. */
int cmdrun_exec(const char *const argv[], const char *const env_extra[], int timeout_ms,
                struct cmdrun *r)
{
    int out = cmdrun_tmpfile(), err = cmdrun_tmpfile(), saved_out = -1, saved_err = -1;
    pid_t pid = -1;
    memset(r, 0, sizeof *r);
    if (out < 0 || err < 0)
        goto err;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    if (saved_out < 0 || saved_err < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
        goto err;
    pid = harness_spawn(argv, env_extra);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    if (pid < 0)
        goto err;
    int status;
    if (harness_wait_exit(pid, timeout_ms, &status) != 0) {
        harness_stop(pid);
        r->status = -1;
    } else {
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    r->out = cmdrun_slurp(out);
    r->err = cmdrun_slurp(err);
    if (r->out == NULL || r->err == NULL) {
        cmdrun_free(r);
        goto err;
    }
    r->json = json_loads(r->out, JSON_DECODE_ANY, NULL);
    close(saved_out);
    close(saved_err);
    close(out);
    close(err);
    return 0;
err:
    if (saved_out >= 0) {
        dup2(saved_out, STDOUT_FILENO);
        close(saved_out);
    }
    if (saved_err >= 0) {
        dup2(saved_err, STDERR_FILENO);
        close(saved_err);
    }
    if (out >= 0)
        close(out);
    if (err >= 0)
        close(err);
    return -1;
}

void cmdrun_free(struct cmdrun *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}
