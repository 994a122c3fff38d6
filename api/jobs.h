#ifndef OFFLOAD_JOBS_H
#define OFFLOAD_JOBS_H
/* The job routes: POST /jobs, GET and DELETE /jobs/{id}, GET /queues, and
 * the enqueue-and-wait path behind /cpu?mode=queue. They check the input
 * and answer what is wrong with it; api/jobreq.c carries a valid request
 * to its reply. */
#include <stdint.h>

struct api_req;

void jobs_handle_post(struct api_req *r);
void jobs_handle_get(struct api_req *r);
void jobs_handle_delete(struct api_req *r);
void jobs_handle_queues(struct api_req *r);
/* Enqueues one job of `ms` on the default queue and answers 200 with the
 * finished job, or 504 when it has not finished after timeout_ms. */
void jobs_run_and_wait(struct api_req *r, int ms, int64_t timeout_ms);

#endif
