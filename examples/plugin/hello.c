/* hello: an example offload plugin, C tasks run inside the worker process.
 *
 *     make                       # builds bin/plugins/hello.so
 *     worker --task upper=plugin:bin/plugins/hello.so \
 *            --task count=plugin:bin/plugins/hello.so
 *
 * One shared object serves several tasks, told apart by job->task:
 *   noop   writes nothing: a null result
 *   upper  args must be a JSON string; the same string with ASCII letters in
 *          upper case (escapes and UTF-8 bytes untouched): "héllo\n" → "HéLLO\n"
 *   count  {"bytes":N}, N the length of the args' JSON text
 * Any other task name fails the run.
 *
 * Against include/offload/plugin.h only: it links nothing of the worker's. */
#include <offload/plugin.h>

#include <stdio.h>
#include <string.h>

/* Output is written in pieces of this size (host->write copies them). */
#define HELLO_CHUNK 4096

static int run_noop(const struct offload_job *job, const struct offload_host *host,
                    struct offload_out *out)
{
    (void)job;
    (void)host;
    (void)out;
    return 0;
}

/* Returns the index just past the closing quote of the JSON string that
 * starts at s[0] == '"', or 0 when s holds no complete string. */
static size_t json_string_end(const char *s, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        if (s[i] == '\\')
            i++; /* the escaped character (for \uXXXX, the hex digits need no care) */
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

static int only_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

static int run_upper(const struct offload_job *job, const struct offload_host *host,
                     struct offload_out *out)
{
    const char *s = job->args;
    size_t len = job->args_len;
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    size_t end = len > 0 && s[0] == '"' ? json_string_end(s, len) : 0;
    if (end == 0 || !only_space(s + end, len - end)) {
        host->fail(out, "upper: args must be a JSON string");
        return 1;
    }

    char buf[HELLO_CHUNK];
    size_t n = 0;
    size_t keep = 0; /* characters still to copy as they are: an escape's */
    for (size_t i = 0; i < end; i++) {
        char c = s[i];
        if (keep > 0)
            keep = c == 'u' && keep == 1 && s[i - 1] == '\\' ? 4 : keep - 1;
        else if (c == '\\')
            keep = 1; /* \n stays \n; \u00e9 stays \u00e9 */
        else if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        buf[n++] = c;
        if (n == sizeof buf || i + 1 == end) {
            if (host->write(out, buf, n) != 0)
                return 1; /* over --max-result: the run fails */
            n = 0;
            if (host->cancelled(out))
                return 1; /* past the timeout: stop, the worker reports it */
        }
    }
    return 0;
}

static int run_count(const struct offload_job *job, const struct offload_host *host,
                     struct offload_out *out)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"bytes\":%zu}", job->args_len);
    return host->write(out, buf, (size_t)n) == 0 ? 0 : 1;
}

struct hello_task {
    const char *name;
    int (*run)(const struct offload_job *, const struct offload_host *, struct offload_out *);
};

static const struct hello_task hello_tasks[] = {
    {"noop", run_noop},
    {"upper", run_upper},
    {"count", run_count},
};

static int hello_run(const struct offload_job *job, const struct offload_host *host,
                     struct offload_out *out)
{
    for (size_t i = 0; i < sizeof hello_tasks / sizeof hello_tasks[0]; i++)
        if (strcmp(job->task, hello_tasks[i].name) == 0)
            return hello_tasks[i].run(job, host, out);
    char msg[256];
    snprintf(msg, sizeof msg, "hello: no task %.64s in this plugin (has: noop, upper, count)",
             job->task);
    host->fail(out, msg);
    return 1;
}

OFFLOAD_PLUGIN_DEFINE("hello", NULL, hello_run, NULL);
