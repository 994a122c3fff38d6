/* POST /jobs bodies; see jobbody.h. */
#include "loadgen/jobbody.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/errmsg.h"
#include "common/job.h"

int jobbody_args_check(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        return errmsg_fail(err, errlen, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    json_decref(v);
    return 0;
}

/* Writes ms as the shortest exact duration the API reads: "2m", "30s", "250ms". */
static void duration_text(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
}

char *jobbody_object(const struct jobbody *b, size_t *len)
{
    bool burn = b->task == NULL || strcmp(b->task, JOB_TASK_DEFAULT) == 0;
    char timeout[64] = "";
    if (b->timeout_ms > 0)
        duration_text(b->timeout_ms, timeout, sizeof timeout);
    /* The keys, quotes, commas, braces and ms fit in 128 bytes beside the
     * values copied in. */
    size_t cap = 128 + sizeof timeout + (b->task ? strlen(b->task) : 0) + (b->args ? strlen(b->args) : 0) +
                 (b->queue ? strlen(b->queue) : 0);
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    /* Each field is written with a leading comma; the first comma becomes
     * the opening brace. */
    size_t n = 0;
    if (b->task != NULL)
        n += (size_t)snprintf(out + n, cap - n, ",\"task\":\"%s\"", b->task);
    if (b->ms >= 0 && burn)
        n += (size_t)snprintf(out + n, cap - n, ",\"ms\":%ld", b->ms);
    if (b->args != NULL)
        n += (size_t)snprintf(out + n, cap - n, ",\"args\":%s", b->args);
    if (timeout[0] != '\0')
        n += (size_t)snprintf(out + n, cap - n, ",\"timeout\":\"%s\"", timeout);
    if (b->queue != NULL)
        n += (size_t)snprintf(out + n, cap - n, ",\"queue\":\"%s\"", b->queue);
    if (n == 0)
        out[n++] = ','; /* no field: {} */
    out[0] = '{';
    out[n++] = '}';
    out[n] = '\0';
    *len = n;
    return out;
}

char *jobbody_batch(const char *one, size_t len, size_t count, size_t *out_len)
{
    size_t cap = count * (len + 1) + 3;
    char *body = malloc(cap);
    if (body == NULL)
        return NULL;
    size_t n = 0;
    if (count > 1)
        body[n++] = '[';
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            body[n++] = ',';
        memcpy(body + n, one, len);
        n += len;
    }
    if (count > 1)
        body[n++] = ']';
    body[n] = '\0';
    *out_len = n;
    return body;
}
