/* Log-linear latency histogram, HdrHistogram-style: values below 256 get a
 * bucket each; above, every power-of-two range [2^k, 2^(k+1)) is cut into
 * 256 equal sub-buckets, so a bucket is at most 1/256 (0.39 %) of its value. */
#include "common/hist.h"

#include <stdlib.h>
#include <string.h>

#define HIST_SUB_BITS 8
#define HIST_SUB (1u << HIST_SUB_BITS)      /* sub-buckets per power of two */
#define HIST_MAX_US 3600000000ull           /* one hour: larger values are clamped */
#define HIST_TOP_BIT 31                     /* 2^31 <= HIST_MAX_US < 2^32 */
#define HIST_BUCKETS (HIST_SUB * (HIST_TOP_BIT - HIST_SUB_BITS + 2))

struct hist {
    uint64_t count;
    uint64_t sum; /* overflows only after ~5e9 one-hour samples */
    uint64_t min, max;
    uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* k >= HIST_SUB_BITS */
    unsigned shift = k - HIST_SUB_BITS;
    return HIST_SUB * (shift + 1) + (unsigned)((v >> shift) - HIST_SUB);
}

/* The smallest value that lands in bucket i, and the bucket's width. */
static uint64_t hist_bucket_low(unsigned i, uint64_t *width)
{
    if (i < HIST_SUB) {
        *width = 1;
        return i;
    }
    unsigned shift = i / HIST_SUB - 1;
    *width = 1ull << shift;
    return (uint64_t)(HIST_SUB + i % HIST_SUB) << shift;
}

/* Returns a zeroed histogram, or NULL; the caller frees it with hist_free. */
struct hist *hist_new(void)
{
    struct hist *h = malloc(sizeof *h);
    if (h != NULL)
        hist_reset(h);
    return h;
}

void hist_free(struct hist *h)
{
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t us)
{
    if (us > HIST_MAX_US)
        us = HIST_MAX_US;
    h->buckets[hist_index(us)]++;
    h->count++;
    h->sum += us;
    if (us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_count(const struct hist *h)
{
    return h->count;
}

/* Nearest rank: the smallest recorded value v with at least ceil(p% of
 * count) samples <= v, reported as the middle of v's bucket (clamped to the
 * exact min and max), which is within half a bucket (0.2 %) of v. */
uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0)) /* also NaN */
        return h->min;
    if (p >= 100)
        return h->max;
    /* the tiny slack keeps 99.9 % of 1000 at rank 999, not 1000 after rounding */
    double exact = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact - 1e-9 * exact)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t width, low = hist_bucket_low(i, &width);
            uint64_t mid = low + (width - 1) / 2;
            if (mid < h->min)
                return h->min;
            return mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}

uint64_t hist_min(const struct hist *h)
{
    return h->count ? h->min : 0;
}

uint64_t hist_max(const struct hist *h)
{
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
