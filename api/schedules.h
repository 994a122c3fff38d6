#ifndef OFFLOAD_SCHEDULES_H
#define OFFLOAD_SCHEDULES_H
/* Periodic jobs: POST /schedules makes or replaces a schedule (a name, a
 * cron expression in UTC, and the template of its jobs, in POST /jobs's
 * fields), GET /schedules lists them, GET and DELETE /schedules/{name}.
 * They live in Redis; every API's and worker's mover (common/mover.h)
 * makes each tick's job, exactly once, whoever runs. */

struct api_req;

#define SCHEDULES_MAX 10000 /* each costs a tick claim per fire: a bound on that work */

void schedules_handle_post(struct api_req *r);
void schedules_handle_list(struct api_req *r);
void schedules_handle_get(struct api_req *r);
void schedules_handle_delete(struct api_req *r);

#endif
