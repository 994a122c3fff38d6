#ifndef OFFLOAD_WORKERS_H
#define OFFLOAD_WORKERS_H
/* GET /workers: the workers as Redis knows them, in one script
 * (SCRIPT_WORKERS): every registered one with its record — host, pid,
 * queues, tasks, started, heartbeat, jobs done and failed, the job it runs —
 * and those that ended within the hour, with when and why. */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

struct api_req;

#define WORKERS_LIST_MAX 1000 /* workers of each kind one answer lists: one script stays short */

/* The JSON body of SCRIPT_WORKERS's reply: {"workers": [...], "dead": [...]};
 * a registered worker is alive when it beat within lease_ms of now_us.
 * Returns a new reference, or NULL when the reply is malformed or memory
 * ran out. */
json_t *workers_json(const redisReply *reply, int64_t now_us, int64_t lease_ms);
/* Answers GET /workers. */
void workers_handle_get(struct api_req *r);

#endif
