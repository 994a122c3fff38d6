/* Unit tests for common/jobid.c: shape, uniqueness, randomness of ids, and
 * the validator. */
#include "common/jobid.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

START_TEST(new_id_shape)
{
    char id[JOBID_LEN + 2];
    memset(id, 'X', sizeof id);
    ck_assert_int_eq(jobid_new(id), 0);
    ck_assert_uint_eq(strlen(id), JOBID_LEN);
    ck_assert_uint_eq(strspn(id, "0123456789abcdef"), JOBID_LEN);
    ck_assert_int_eq(id[JOBID_LEN + 1], 'X'); /* nothing written past the NUL */
    ck_assert(jobid_valid(id));
}
END_TEST

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, JOBID_LEN);
}

#define MANY 20000

/* 20k ids: all distinct, and every hex digit in every position about equally
 * often (a constant, counter or half-filled id fails this). */
START_TEST(ids_are_unique_and_uniform)
{
    char(*ids)[JOBID_LEN + 1] = calloc(MANY, sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    static unsigned counts[JOBID_LEN][16];
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(jobid_new(ids[i]), 0);
        for (int k = 0; k < JOBID_LEN; k++) {
            char c = ids[i][k];
            counts[k][c <= '9' ? c - '0' : c - 'a' + 10]++;
        }
    }
    qsort(ids, MANY, sizeof *ids, cmp_id);
    for (int i = 1; i < MANY; i++)
        ck_assert_msg(memcmp(ids[i - 1], ids[i], JOBID_LEN) != 0, "duplicate id %s", ids[i]);
    /* expected 1250 per cell; sd ~34; 1000..1500 is over 7 sd either way */
    for (int k = 0; k < JOBID_LEN; k++)
        for (int d = 0; d < 16; d++)
            ck_assert_msg(counts[k][d] > 1000 && counts[k][d] < 1500,
                          "position %d digit %x seen %u times", k, d, counts[k][d]);
    free(ids);
}
END_TEST

START_TEST(valid_rejects)
{
    ck_assert(jobid_valid("0123456789abcdef0123456789abcdef"));
    ck_assert(!jobid_valid(NULL));
    ck_assert(!jobid_valid(""));
    ck_assert(!jobid_valid("0123456789abcdef0123456789abcde"));   /* 31 */
    ck_assert(!jobid_valid("0123456789abcdef0123456789abcdef0")); /* 33 */
    ck_assert(!jobid_valid("0123456789ABCDEF0123456789abcdef"));  /* upper case */
    ck_assert(!jobid_valid("0123456789abcdeg0123456789abcdef"));
    ck_assert(!jobid_valid("0123456789abcdef0123456789abcde\n"));
    ck_assert(!jobid_valid("../../etc/passwd"));
    ck_assert(!jobid_valid("0123456789abcdef 123456789abcdef"));
    /* a short string in an exact-size buffer: the validator stops at its NUL */
    char *shortid = malloc(5);
    ck_assert_ptr_nonnull(shortid);
    memcpy(shortid, "abcd", 5);
    ck_assert(!jobid_valid(shortid));
    free(shortid);
}
END_TEST

static Suite *jobid_suite(void)
{
    Suite *s = suite_create("jobid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, new_id_shape);
    tcase_add_test(tc, ids_are_unique_and_uniform);
    tcase_add_test(tc, valid_rejects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(jobid_suite());
}
