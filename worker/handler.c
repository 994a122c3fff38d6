/* The handlers' room: parsing --task, dispatching a job to its handler, and
 * what every kind shares (the words of a SPEC, the output → result rule). */
#include "worker/handler.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/defaults.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "worker/kinds.h"

#define WORDS_MAX 256 /* words in one SPEC */

const char *const handler_env_drop[] = {"REDIS_URL", "API_TOKEN", "WORKER_*", NULL};

bool handlers_abandon(void *hs)
{
    const struct handlers *h = hs;
    return *h->stops >= 2;
}

void outcome_fail(struct task_outcome *out, enum run_end end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    out->end = end;
}

void task_outcome_clear(struct task_outcome *out)
{
    free(out->result);
    memset(out, 0, sizeof *out);
}

void handler_take_output(struct task_outcome *out, char *buf, size_t len)
{
    free(out->result);
    out->result = NULL;
    out->result_len = 0;
    out->result_json = false;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (buf == NULL || len == 0) {
        free(buf);
        return;
    }
    buf[len] = '\0';
    json_t *j = json_loadb(buf, len, JSON_DECODE_ANY, NULL);
    out->result_json = j != NULL;
    json_decref(j);
    out->result = buf;
    out->result_len = len;
}

/* ---- SPEC words ---- */

void handler_words_free(char **words)
{
    if (!words)
        return;
    for (char **w = words; *w; w++)
        free(*w);
    free(words);
}

/* See handler.h. One pass: `cur` collects the bytes of the word being read. */
char **handler_words(const char *spec, char *err, size_t errlen)
{
    size_t n = 0, len = strlen(spec);
    char **words = calloc(WORDS_MAX + 1, sizeof *words);
    char *cur = malloc(len + 1);
    if (!words || !cur) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        goto err;
    }
    const char *p = spec;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        size_t o = 0;
        while (*p && *p != ' ' && *p != '\t') {
            char q = *p;
            if (q == '\'' || q == '"') {
                const char *end = p + 1;
                while (*end && *end != q) {
                    if (q == '"' && *end == '\\' && end[1] && strchr("\"\\$`", end[1]))
                        end++; /* what a shell unescapes inside "…" */
                    cur[o++] = *end++;
                }
                if (*end != q) {
                    errmsg_fail(err, errlen, "unclosed %c quote", q);
                    goto err;
                }
                p = end + 1;
            } else if (q == '\\' && p[1]) {
                cur[o++] = p[1];
                p += 2;
            } else {
                cur[o++] = *p++;
            }
        }
        if (n == WORDS_MAX) {
            errmsg_fail(err, errlen, "more than %d words", WORDS_MAX);
            goto err;
        }
        words[n] = strndup(cur, o);
        if (!words[n++]) {
            errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
            goto err;
        }
    }
    if (n == 0) {
        errmsg_fail(err, errlen, "no command");
        goto err;
    }
    free(cur);
    return words;
err:
    free(cur);
    handler_words_free(words);
    return NULL;
}

/* ---- building the set ---- */

static struct handler *handler_find(struct handlers *hs, const char *name)
{
    for (size_t i = 0; i < hs->n; i++)
        if (strcmp(hs->h[i].name, name) == 0)
            return &hs->h[i];
    return NULL;
}

/* The serve coprocess for spec, shared with an earlier name of the same spec. */
static struct serve_proc *serve_for(struct handlers *hs, const char *spec, char **words)
{
    for (size_t i = 0; i < hs->nserves; i++)
        if (strcmp(serve_proc_spec(hs->serves[i]), spec) == 0) {
            handler_words_free(words);
            return hs->serves[i];
        }
    struct serve_proc *sp = serve_proc_new(words, spec);
    if (sp)
        hs->serves[hs->nserves++] = sp;
    return sp;
}

static struct plugin_lib *plugin_for(struct handlers *hs, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < hs->nlibs; i++)
        if (strcmp(plugin_lib_path(hs->libs[i]), path) == 0)
            return hs->libs[i];
    struct plugin_lib *lib = plugin_lib_open(path, hs->init, err, errlen);
    if (lib)
        hs->libs[hs->nlibs++] = lib;
    return lib;
}

/* Binds one "NAME=KIND:SPEC" (or "NAME=burn"). Returns 0 or -1 with err. */
static int handler_add(struct handlers *hs, const char *entry, char *err, size_t errlen)
{
    char e[HANDLER_ERROR_MAX];
    const char *eq = strchr(entry, '=');
    size_t nlen = eq ? (size_t)(eq - entry) : 0;
    char name[JOB_TASK_MAX + 2];
    if (!eq || nlen == 0 || nlen > JOB_TASK_MAX)
        return errmsg_fail(err, errlen, "--task \"%s\": want NAME=KIND:SPEC (kinds: exec, serve, plugin, burn)", entry);
    memcpy(name, entry, nlen);
    name[nlen] = '\0';
    if (!job_task_valid(name))
        return errmsg_fail(err, errlen, "--task %s: the name must match [a-z0-9_.:-]{1,%d}", name, JOB_TASK_MAX);
    if (handler_find(hs, name))
        return errmsg_fail(err, errlen, "--task %s: given twice", name);
    if (hs->n == HANDLER_MAX)
        return errmsg_fail(err, errlen, "--task: at most %d tasks", HANDLER_MAX - 1);
    const char *kind = eq + 1, *colon = strchr(kind, ':');
    size_t klen = colon ? (size_t)(colon - kind) : strlen(kind);
    const char *spec = colon ? colon + 1 : "";
    struct handler *h = &hs->h[hs->n];
    memset(h, 0, sizeof *h);
    memcpy(h->name, name, nlen + 1);
    if (strcmp(name, JOB_TASK_DEFAULT) == 0 && !(klen == 4 && memcmp(kind, "burn", 4) == 0))
        return errmsg_fail(err, errlen, "--task burn: the built-in task keeps its name; bind yours to another");
    if (klen == 4 && memcmp(kind, "burn", 4) == 0) {
        h->kind = HANDLER_BURN;
    } else if (klen == 6 && memcmp(kind, "plugin", 6) == 0) {
        h->kind = HANDLER_PLUGIN;
        if (*spec == '\0' || !(h->lib = plugin_for(hs, spec, e, sizeof e)))
            return errmsg_fail(err, errlen, "--task %s: %s", name, *spec ? e : "plugin: needs a FILE.so");
    } else if ((klen == 4 && memcmp(kind, "exec", 4) == 0) ||
               (klen == 5 && memcmp(kind, "serve", 5) == 0)) {
        h->kind = klen == 4 ? HANDLER_EXEC : HANDLER_SERVE;
        char **words = handler_words(spec, e, sizeof e);
        if (!words || proc_resolve(words[0], e, sizeof e) != 0) {
            handler_words_free(words);
            return errmsg_fail(err, errlen, "--task %s: %.*s: %s", name, (int)klen, kind, e);
        }
        if (h->kind == HANDLER_EXEC)
            h->argv = words;
        else if (!(h->serve = serve_for(hs, spec, words)))
            return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    } else {
        return errmsg_fail(err, errlen, "--task %s: unknown kind \"%.*s\" (want exec, serve, plugin or burn)",
                           name, (int)klen, kind);
    }
    hs->n++;
    return 0;
}

/* Each entry may hold several, one per line (the WORKER_TASKS form). */
static int handlers_add_entry(struct handlers *hs, const char *entry, char *err, size_t errlen)
{
    char *copy = strdup(entry);
    if (!copy)
        return errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    int rv = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rv == 0; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (*line)
            rv = handler_add(hs, line, err, errlen);
    }
    free(copy);
    return rv;
}

static void handlers_names_build(struct handlers *hs)
{
    size_t o = 0;
    for (size_t i = 0; i < hs->n; i++) {
        int w = snprintf(hs->names + o, sizeof hs->names - o, "%s%s", i ? "," : "", hs->h[i].name);
        if (w < 0 || (size_t)w >= sizeof hs->names - o)
            break;
        o += (size_t)w;
    }
}

struct handlers *handlers_new(const struct worker_config *cfg, volatile sig_atomic_t *stops,
                              bool init, char *err, size_t errlen)
{
    struct handlers *hs = calloc(1, sizeof *hs);
    if (!hs) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        return NULL;
    }
    hs->cfg = cfg;
    hs->stops = stops;
    hs->init = init;
    if (init)
        hs->runner = tthread_runner_new(cfg->task_nice); /* NULL: a thread per run, slower but fine */
    for (size_t i = 0; i < cfg->tasks.n; i++)
        if (handlers_add_entry(hs, cfg->tasks.items[i], err, errlen) != 0)
            goto err;
    if (!handler_find(hs, JOB_TASK_DEFAULT) && handler_add(hs, "burn=burn", err, errlen) != 0)
        goto err;
    handlers_names_build(hs);
    return hs;
err:
    handlers_free(hs);
    return NULL;
}

void handlers_start(struct handlers *hs)
{
    char err[HANDLER_ERROR_MAX];
    for (size_t i = 0; i < hs->nserves; i++)
        if (serve_proc_start(hs, hs->serves[i], err, sizeof err) != 0)
            log_warn("cannot start a coprocess; will retry when a job needs it", "spec=\"%s\" err=\"%s\"",
                     serve_proc_spec(hs->serves[i]), err);
}

void handlers_free(struct handlers *hs)
{
    if (!hs)
        return;
    for (size_t i = 0; i < hs->n; i++)
        handler_words_free(hs->h[i].argv);
    for (size_t i = 0; i < hs->nserves; i++)
        serve_proc_free(hs->serves[i], hs->cfg->kill_grace_ms);
    tthread_runner_free(hs->runner);
    for (size_t i = 0; i < hs->nlibs && !hs->thread_left; i++)
        plugin_lib_close(hs->libs[i]);
    free(hs);
}

const char *handlers_names(const struct handlers *hs)
{
    return hs->names;
}

bool handlers_have_plugin(const struct handlers *hs)
{
    return hs->nlibs > 0;
}

bool handlers_thread_left(const struct handlers *hs)
{
    return hs->thread_left;
}

void handlers_run(struct handlers *hs, const struct task_call *call, struct task_outcome *out)
{
    task_outcome_clear(out);
    struct handler *h = handler_find(hs, call->task);
    if (!h) {
        outcome_fail(out, RUN_RETRY, "no handler for task \"%s\" on worker %s (it serves: %s)",
                     call->task, hs->cfg->id, hs->names);
        out->no_handler = true;
        return;
    }
    switch (h->kind) {
    case HANDLER_BURN:
        burn_run(hs, call, out);
        return;
    case HANDLER_EXEC:
        exec_run(hs, h, call, out);
        return;
    case HANDLER_SERVE:
        serve_run(hs, h->serve, call, out);
        return;
    case HANDLER_PLUGIN:
        plugin_run(hs, h->lib, call, out);
        return;
    }
}
