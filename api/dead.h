#ifndef OFFLOAD_DEAD_H
#define OFFLOAD_DEAD_H
/* Operators' hands on a queue's dead jobs (those that used up their
 * attempts): GET /queues/{queue}/dead?limit=N lists the newest N (default
 * DEAD_LIST_DEFAULT, at most DEAD_LIST_MAX) as GET /jobs/{id} shows them, POST /queues/{queue}/dead/retry puts them back on the queue
 * with a fresh set of attempts, DELETE /queues/{queue}/dead deletes them.
 * Both take every dead job of the queue, or the ones a JSON body names:
 * {"ids": ["...", ...]} (1..JOB_BATCH_MAX ids). A long list is worked
 * through in batches of DEAD_BATCH, one Redis script each, so Redis never
 * stalls on it. */

struct api_req;

#define DEAD_BATCH 1000
#define DEAD_LIST_DEFAULT 50
#define DEAD_LIST_MAX 1000 /* jobs one listing reads: one script stays short */

void dead_handle_list(struct api_req *r);
void dead_handle_retry(struct api_req *r);
void dead_handle_purge(struct api_req *r);

#endif
