#ifndef OFFLOAD_LOADGEN_JOBS_H
#define OFFLOAD_LOADGEN_JOBS_H
/* `loadgen jobs`: end-to-end job throughput and latency through the API.
 *
 * Jobs are submitted with POST /jobs (one object, or arrays of --batch) by
 * -c connections, as fast as they are accepted or, with -R, on a steady
 * schedule of one job every 1/rate s. Another -c connections long-poll
 * GET /jobs/{id}?wait=S for each accepted id until it is terminal. Submitting
 * and waiting are decoupled on purpose (rather than POST /jobs?wait=S): the
 * submission rate must not be bounded by how fast jobs finish, or the queue
 * would never fill and worker throughput would not be measured.
 *
 * Every job is the same: by default {"ms":M,"queue":Q}, today's burn job;
 * with --task it names a task and carries --args and --job-timeout as
 * given, and ms only for burn. The bodies are built once per run (a full
 * batch's request once, the last short batch's when it is sent).
 *
 * Figures come from the jobs' own timestamps, whatever the task:
 * throughput = finished jobs / (last finished_at - first created_at);
 * enqueue->start = started_at - created_at; enqueue->done = finished_at -
 * created_at. */

/* Runs the command; returns the exit code (0 ran, 1 nothing could be
 * submitted or fatal, 2 bad flag). */
int jobs_main(int argc, char **argv);

#endif
