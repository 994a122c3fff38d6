/* A worker's settings helpers: its id, its Redis client name, its queues. */
#include "worker/settings.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/job.h"
#include "common/jobid.h"

bool worker_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > WORKER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.:-", id[i]))
            return false;
    return true;
}

int worker_id_default(char *buf, size_t len)
{
    char host[WORKER_ID_MAX + 1] = "worker";
    char rnd[JOBID_LEN + 1];
    if (jobid_new(rnd) != 0)
        return -1;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    host[WORKER_ID_MAX - 20] = '\0'; /* room for "-<pid>-<hex>" */
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
            *p = '-';
    int n = snprintf(buf, len, "%s-%ld-%.4s", host[0] ? host : "worker", (long)getpid(), rnd);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int worker_client_name(char *buf, size_t len, const char *prefix, const char *id)
{
    int n = snprintf(buf, len, "%sworker:%s", prefix, id);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int worker_queues_parse(struct worker_config *cfg, const char *list, char *err, size_t errlen)
{
    int n = snprintf(cfg->queue_buf, sizeof cfg->queue_buf, "%s", list);
    if (n < 0 || (size_t)n >= sizeof cfg->queue_buf) {
        snprintf(err, errlen, "--queues: list too long");
        return -1;
    }
    cfg->nqueues = 0;
    char *save = NULL;
    /* strtok_r would skip empty entries; walk the commas by hand to reject them. */
    for (char *q = cfg->queue_buf;; q = save + 1) {
        save = strchr(q, ',');
        if (save)
            *save = '\0';
        if (!job_queue_valid(q)) {
            snprintf(err, errlen,
                     "--queues: invalid queue name \"%s\" (want [A-Za-z0-9_.:-]{1,%d})", q,
                     JOB_QUEUE_MAX);
            return -1;
        }
        if (cfg->nqueues == WORKER_QUEUES_MAX) {
            snprintf(err, errlen, "--queues: more than %d queues", WORKER_QUEUES_MAX);
            return -1;
        }
        cfg->queues[cfg->nqueues++] = q;
        if (!save)
            break;
    }
    return 0;
}
