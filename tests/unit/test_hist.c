/* Unit tests for common/hist.c: percentiles against the exact nearest rank
 * over a million samples, merge, exact min/max/mean, clamping. */
#include "common/hist.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

#define HOUR_US 3600000000ull
#define SAMPLES 1000000

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Percentiles to check, in hundredths of a percent (integer, so the exact
 * rank below is computed without rounding). */
static const unsigned pcts_x100[] = {0, 1, 100, 1000, 2500, 5000, 7500,
                                     9000, 9500, 9900, 9990, 9999, 10000};

/* Nearest rank over sorted v: the value at rank ceil(p/100 * n), rank >= 1. */
static uint64_t exact_percentile(const uint64_t *sorted, uint64_t n, unsigned p_x100)
{
    uint64_t rank = (p_x100 * n + 9999) / 10000;
    return sorted[rank == 0 ? 0 : rank - 1];
}

/* 1M samples: log-uniform over 1 us .. 1 h (every bucket range), mixed with
 * a dense uniform cluster around typical latencies. */
static uint64_t *make_samples(void)
{
    uint64_t *v = malloc(SAMPLES * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < SAMPLES; i++) {
        if (i % 3 == 0)
            v[i] = (uint64_t)exp(rng_unit() * log((double)HOUR_US));
        else
            v[i] = 2000 + rng_next() % 500000;
    }
    return v;
}

START_TEST(percentiles_match_exact)
{
    uint64_t *v = make_samples();
    struct hist *h = hist_new();
    ck_assert_ptr_nonnull(h);
    long double sum = 0;
    for (size_t i = 0; i < SAMPLES; i++) {
        hist_record(h, v[i]);
        sum += v[i];
    }
    qsort(v, SAMPLES, sizeof *v, cmp_u64);
    ck_assert_uint_eq(hist_count(h), SAMPLES);
    ck_assert_uint_eq(hist_min(h), v[0]);
    ck_assert_uint_eq(hist_max(h), v[SAMPLES - 1]);
    ck_assert_double_eq_tol(hist_mean(h), (double)(sum / SAMPLES), 1e-6);
    for (size_t i = 0; i < sizeof pcts_x100 / sizeof pcts_x100[0]; i++) {
        double p = pcts_x100[i] / 100.0;
        uint64_t want = exact_percentile(v, SAMPLES, pcts_x100[i]);
        uint64_t got = hist_percentile(h, p);
        double err = fabs((double)got - (double)want);
        /* the header promises 1 %; the buckets give 0.2 %, so hold them to 0.5 % */
        ck_assert_msg(err <= 0.005 * (double)want, "p%.2f: got %llu, exact %llu", p,
                      (unsigned long long)got, (unsigned long long)want);
    }
    hist_free(h);
    free(v);
}
END_TEST

START_TEST(merge_equals_whole)
{
    uint64_t *v = make_samples();
    struct hist *whole = hist_new(), *a = hist_new(), *b = hist_new(), *m = hist_new();
    ck_assert(whole && a && b && m);
    for (size_t i = 0; i < SAMPLES; i++) {
        hist_record(whole, v[i]);
        hist_record(i < SAMPLES / 2 ? a : b, v[i]);
    }
    hist_merge(m, a); /* into an empty one */
    hist_merge(m, b);
    ck_assert_uint_eq(hist_count(m), hist_count(whole));
    ck_assert_uint_eq(hist_min(m), hist_min(whole));
    ck_assert_uint_eq(hist_max(m), hist_max(whole));
    ck_assert_double_eq(hist_mean(m), hist_mean(whole));
    for (size_t i = 0; i < sizeof pcts_x100 / sizeof pcts_x100[0]; i++) {
        double p = pcts_x100[i] / 100.0;
        ck_assert_uint_eq(hist_percentile(m, p), hist_percentile(whole, p));
    }
    /* each half holds half the samples */
    ck_assert_uint_eq(hist_count(a), SAMPLES / 2);
    /* merging an empty histogram changes nothing, min included */
    struct hist *empty = hist_new();
    ck_assert_ptr_nonnull(empty);
    hist_merge(m, empty);
    ck_assert_uint_eq(hist_count(m), SAMPLES);
    ck_assert_uint_eq(hist_min(m), hist_min(whole));
    hist_free(empty);
    hist_free(whole);
    hist_free(a);
    hist_free(b);
    hist_free(m);
    free(v);
}
END_TEST

START_TEST(small_values_are_exact)
{
    struct hist *h = hist_new();
    ck_assert_ptr_nonnull(h);
    for (uint64_t i = 1; i <= 100; i++)
        hist_record(h, i);
    ck_assert_uint_eq(hist_percentile(h, 50), 50);
    ck_assert_uint_eq(hist_percentile(h, 99), 99);
    ck_assert_uint_eq(hist_percentile(h, 99.5), 100);
    ck_assert_uint_eq(hist_percentile(h, 100), 100);
    ck_assert_uint_eq(hist_percentile(h, 0), 1);
    ck_assert_uint_eq(hist_percentile(h, 1), 1);
    ck_assert_uint_eq(hist_percentile(h, 1.01), 2);
    ck_assert_double_eq(hist_mean(h), 50.5);
    hist_record(h, 0);
    ck_assert_uint_eq(hist_min(h), 0);
    ck_assert_uint_eq(hist_percentile(h, 0), 0);
    hist_free(h);
}
END_TEST

/* Around every bucket boundary, the median of {0, v, 1 h} (which is v's
 * bucket, not clamped by min or max) stays within 0.5 % of v. */
START_TEST(bucket_boundaries)
{
    uint64_t vals[2000];
    size_t n = 0;
    for (uint64_t v = 0; v < 1100; v++)
        vals[n++] = v;
    for (int k = 9; k < 32; k++) {
        uint64_t p2 = 1ull << k;
        uint64_t around[] = {p2 - 1, p2, p2 + 1, p2 + p2 / 2, p2 + p2 / 256, p2 + p2 / 256 - 1};
        for (size_t j = 0; j < sizeof around / sizeof around[0]; j++)
            vals[n++] = around[j];
    }
    vals[n++] = HOUR_US - 1;
    struct hist *h = hist_new();
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < n; i++) {
        hist_reset(h);
        hist_record(h, 0);
        hist_record(h, vals[i]);
        hist_record(h, HOUR_US);
        uint64_t got = hist_percentile(h, 50);
        double err = fabs((double)got - (double)vals[i]);
        ck_assert_msg(err <= 0.005 * (double)vals[i], "value %llu reported as %llu",
                      (unsigned long long)vals[i], (unsigned long long)got);
    }
    hist_free(h);
}
END_TEST

START_TEST(empty_clamp_and_reset)
{
    struct hist *h = hist_new();
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(hist_count(h), 0);
    ck_assert_uint_eq(hist_percentile(h, 50), 0);
    ck_assert_uint_eq(hist_percentile(h, 100), 0);
    ck_assert_uint_eq(hist_min(h), 0);
    ck_assert_uint_eq(hist_max(h), 0);
    ck_assert_double_eq(hist_mean(h), 0);

    hist_record(h, 10000000000ull); /* ~2.8 h */
    hist_record(h, UINT64_MAX);
    ck_assert_uint_eq(hist_max(h), HOUR_US);
    ck_assert_uint_eq(hist_min(h), HOUR_US);
    ck_assert_uint_eq(hist_percentile(h, 50), HOUR_US);
    ck_assert_double_eq(hist_mean(h), (double)HOUR_US);

    hist_reset(h);
    ck_assert_uint_eq(hist_count(h), 0);
    ck_assert_uint_eq(hist_min(h), 0);
    ck_assert_uint_eq(hist_max(h), 0);
    hist_record(h, 7);
    ck_assert_uint_eq(hist_min(h), 7);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 7);
    /* out-of-range p clamps to the ends */
    hist_record(h, 9);
    ck_assert_uint_eq(hist_percentile(h, -5), 7);
    ck_assert_uint_eq(hist_percentile(h, 250), 9);
    ck_assert_uint_eq(hist_percentile(h, NAN), 7);
    hist_free(h);
    hist_free(NULL);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, percentiles_match_exact);
    tcase_add_test(tc, merge_equals_whole);
    tcase_add_test(tc, small_values_are_exact);
    tcase_add_test(tc, bucket_boundaries);
    tcase_add_test(tc, empty_clamp_and_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(hist_suite());
}
