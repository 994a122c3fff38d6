#ifndef OFFLOAD_HIST_H
#define OFFLOAD_HIST_H
/* Latency histogram of microsecond values (0 .. ~1 hour; larger values are
 * clamped), log-linear buckets with relative error below 0.5 %, so every
 * percentile is within 1 % of the exact one. Mergeable; not thread-safe:
 * keep one per thread and merge. */
#include <stdint.h>

struct hist;

/* Returns a new empty histogram, or NULL on allocation failure. Free with hist_free. */
struct hist *hist_new(void);
void hist_free(struct hist *h);
void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
/* Adds every sample of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_count(const struct hist *h);
/* p in [0,100]; 0 when empty. Returns a value within 1 % of the exact
 * percentile (nearest-rank definition). */
uint64_t hist_percentile(const struct hist *h, double p);
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h); /* exact */
double hist_mean(const struct hist *h);  /* exact */

#endif
