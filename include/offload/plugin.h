#ifndef OFFLOAD_PLUGIN_H
#define OFFLOAD_PLUGIN_H
/* offload plugin ABI, version 1: C tasks run inside a worker process.
 *
 * A plugin is a shared object named on the worker's command line:
 *
 *     worker --task resize=plugin:/path/libthumbs.so
 *
 * It defines one symbol, `offload_plugin`, of type `struct offload_plugin`
 * (OFFLOAD_PLUGIN_DEFINE below does it). The worker dlopen()s the file,
 * refuses it unless `abi == OFFLOAD_PLUGIN_ABI`, calls `init` once, and
 * calls `run` for every job of a task bound to the file, one job at a time,
 * on a thread of the worker's (never its main thread). `fini` runs when the
 * worker stops.
 *
 * A run succeeds when `run` returns 0: the bytes it wrote through
 * host->write become the job's result (a JSON value when they parse as JSON,
 * else a string; nothing written is a null result). Any other return value
 * fails the run, with the message given to host->fail (or "plugin returned
 * N"). Output over the worker's --max-result fails the run.
 *
 * A run past the job's timeout is asked to stop: host->cancelled() turns
 * true. A run that does not return within the worker's --kill-grace after
 * that is reported failed and the worker process exits, so that its
 * supervisor starts a fresh one (a thread cannot be killed safely). A plugin
 * that crashes takes its worker process down; the job is recovered as after
 * `kill -9` (attempt counted, dead after max_attempts).
 *
 * Only this header is public; it depends on nothing but the C library. */
#include <stddef.h>
#include <stdint.h>

#define OFFLOAD_PLUGIN_ABI 1

/* The job being run. Every pointer is valid until `run` returns. */
struct offload_job {
    const char *id;       /* the job id */
    const char *task;     /* the task name the job asked for (one plugin may serve several) */
    const char *queue;    /* the queue it came from */
    const char *args;     /* the job's args as JSON text, NUL-terminated ("null" when none) */
    size_t args_len;
    unsigned attempt;     /* 1 on the first run */
    int64_t timeout_ms;   /* this run's timeout */
};

/* Opaque: where a run's output and error go. */
struct offload_out;

/* What the worker offers a run. Later versions of ABI 1 may add functions
 * at the end only: a plugin that uses one checks `size` first. */
struct offload_host {
    size_t size; /* sizeof (struct offload_host) in the worker */
    /* Appends len bytes to the result. Returns 0, or -1 when the result would
     * pass --max-result (the run will fail: return soon). */
    int (*write)(struct offload_out *out, const void *buf, size_t len);
    /* Sets the error message of a failed run (copied; the last call wins). */
    void (*fail)(struct offload_out *out, const char *message);
    /* Non-zero once the run's timeout has passed or the worker is stopping
     * at once: a long task checks it now and then and returns. */
    int (*cancelled)(struct offload_out *out);
};

struct offload_plugin {
    unsigned abi;       /* OFFLOAD_PLUGIN_ABI */
    const char *name;   /* for logs, e.g. "thumbs" */
    /* Optional (NULL): once after loading. Non-zero refuses the plugin. */
    int (*init)(void);
    /* One run of one job: 0 done, anything else failed. */
    int (*run)(const struct offload_job *job, const struct offload_host *host,
               struct offload_out *out);
    /* Optional (NULL): once before the worker exits. */
    void (*fini)(void);
};

/* Defines the plugin's one exported symbol. */
#define OFFLOAD_PLUGIN_DEFINE(name_, init_, run_, fini_)                                    \
    __attribute__((visibility("default"))) const struct offload_plugin offload_plugin = {  \
        OFFLOAD_PLUGIN_ABI, (name_), (init_), (run_), (fini_)}

#endif
