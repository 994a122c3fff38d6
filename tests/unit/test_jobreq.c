/* The order of events in a waiting job request (api/jobreq.h): its
 * command's reply, its waiter (the finished job or its time), and the
 * client leaving can come in any order. Every order must end in exactly one
 * answer, the right one, and nothing may act after it. */
#include <check.h>
#include <string.h>

#include "api/jobreq.h"
#include "tests/unit/unit.h"

/* How a request ended. */
enum outcome {
    OUT_NONE,     /* never answered: a hung client */
    OUT_FINISHED, /* 200 with the finished job */
    OUT_EXPIRED,  /* 504, or the job as it stands */
    OUT_ABANDONED /* 499: the client left while waiting */
};

/* Plays `events` through the table as api/jobreq.c does, and says how the
 * request ended; *answers counts the answers given (must be 1). */
static enum outcome play(const enum jobreq_event *events, int n, int *answers)
{
    enum jobreq_state st = JOBREQ_SENT;
    enum outcome out = OUT_NONE;
    int gone = 0;
    *answers = 0;
    for (int i = 0; i < n; i++) {
        enum jobreq_event ev = events[i];
        if (ev == JOBREQ_GONE)
            gone = 1;
        for (int again = 1; again;) {
            enum jobreq_action a = jobreq_next(&st, ev);
            again = 0;
            switch (a) {
            case JOBREQ_NOTHING:
                break;
            case JOBREQ_WAIT:
                if (gone) { /* the request checks whether the client has left */
                    ev = JOBREQ_GONE;
                    again = 1;
                }
                break;
            case JOBREQ_REPLY_FINISHED:
                out = OUT_FINISHED;
                (*answers)++;
                break;
            case JOBREQ_EXPIRE:
                out = OUT_EXPIRED; /* answered now (504) or by the read it starts */
                (*answers)++;
                break;
            case JOBREQ_ABANDON:
                out = OUT_ABANDONED;
                (*answers)++;
                break;
            }
        }
    }
    return out;
}

/* What a user expects of an order: the waiter's news (the finished job, or
 * the time passing) decides, unless the client left after the command's
 * reply and before that news, while nothing but the waiter was in flight. */
static enum outcome expected(const enum jobreq_event *events, int n)
{
    int answered = n, news = n, gone = n;
    enum outcome said = OUT_NONE;
    for (int i = 0; i < n; i++) {
        if (events[i] == JOBREQ_ANSWERED)
            answered = i;
        else if (events[i] == JOBREQ_GONE)
            gone = i;
        else {
            news = i;
            said = events[i] == JOBREQ_ENDS ? OUT_FINISHED : OUT_EXPIRED;
        }
    }
    if (news < answered)
        return said;
    return gone < news ? OUT_ABANDONED : said;
}

static const char *ev_name(enum jobreq_event e)
{
    static const char *names[] = {"answered", "ends", "times_out", "gone"};
    return names[e];
}

/* Every permutation of `set` (n <= 4) played and checked. */
static void check_all_orders(const enum jobreq_event *set, int n)
{
    int idx[4] = {0, 1, 2, 3};
    int count = 0;
    for (;;) {
        enum jobreq_event order[4];
        int answers;
        char desc[128] = "";
        for (int i = 0; i < n; i++) {
            order[i] = set[idx[i]];
            strcat(desc, ev_name(order[i]));
            strcat(desc, " ");
        }
        enum outcome got = play(order, n, &answers);
        ck_assert_msg(answers == 1, "order [%s]: %d answers, want exactly 1", desc, answers);
        ck_assert_msg(got == expected(order, n), "order [%s]: outcome %d, want %d", desc, got,
                      expected(order, n));
        count++;
        /* next permutation (lexicographic on idx) */
        int k = n - 2;
        while (k >= 0 && idx[k] > idx[k + 1])
            k--;
        if (k < 0)
            break;
        int l = n - 1;
        while (idx[l] < idx[k])
            l--;
        int t = idx[k];
        idx[k] = idx[l];
        idx[l] = t;
        for (int a = k + 1, b = n - 1; a < b; a++, b--) {
            t = idx[a];
            idx[a] = idx[b];
            idx[b] = t;
        }
    }
    ck_assert_int_gt(count, 1);
}

START_TEST(finished_job_and_reply_in_either_order)
{
    const enum jobreq_event set[] = {JOBREQ_ANSWERED, JOBREQ_ENDS};
    check_all_orders(set, 2);
    /* and the answer is the finished job both ways */
    int answers;
    const enum jobreq_event early[] = {JOBREQ_ENDS, JOBREQ_ANSWERED};
    ck_assert_int_eq(play(early, 2, &answers), OUT_FINISHED);
}
END_TEST

START_TEST(timeout_and_reply_in_either_order)
{
    const enum jobreq_event set[] = {JOBREQ_ANSWERED, JOBREQ_TIMES_OUT};
    check_all_orders(set, 2);
    int answers;
    const enum jobreq_event early[] = {JOBREQ_TIMES_OUT, JOBREQ_ANSWERED};
    ck_assert_int_eq(play(early, 2, &answers), OUT_EXPIRED);
}
END_TEST

START_TEST(client_leaving_in_every_position)
{
    const enum jobreq_event ends[] = {JOBREQ_ANSWERED, JOBREQ_ENDS, JOBREQ_GONE};
    const enum jobreq_event times[] = {JOBREQ_ANSWERED, JOBREQ_TIMES_OUT, JOBREQ_GONE};
    check_all_orders(ends, 3);
    check_all_orders(times, 3);
}
END_TEST

START_TEST(left_before_the_reply_is_abandoned_when_it_comes)
{
    int answers;
    const enum jobreq_event order[] = {JOBREQ_GONE, JOBREQ_ANSWERED, JOBREQ_ENDS};
    ck_assert_int_eq(play(order, 3, &answers), OUT_ABANDONED);
    ck_assert_int_eq(answers, 1);
}
END_TEST

START_TEST(reading_the_job_ignores_everything_else)
{
    /* once expired, a read of the job is in flight: only its reply ends the
     * request, so neither the client leaving nor a late waiter may act */
    enum jobreq_state st = JOBREQ_WAITING;
    ck_assert_int_eq(jobreq_next(&st, JOBREQ_TIMES_OUT), JOBREQ_EXPIRE);
    ck_assert_int_eq(st, JOBREQ_FETCHING);
    for (int ev = 0; ev < JOBREQ_EVENTS; ev++) {
        ck_assert_int_eq(jobreq_next(&st, (enum jobreq_event)ev), JOBREQ_NOTHING);
        ck_assert_int_eq(st, JOBREQ_FETCHING);
    }
}
END_TEST

START_TEST(nothing_acts_after_the_answer)
{
    for (int ev = 0; ev < JOBREQ_EVENTS; ev++) {
        enum jobreq_state st = JOBREQ_ENDED;
        ck_assert_int_eq(jobreq_next(&st, (enum jobreq_event)ev), JOBREQ_NOTHING);
        ck_assert_int_eq(st, JOBREQ_ENDED);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jobreq");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, finished_job_and_reply_in_either_order);
    tcase_add_test(tc, timeout_and_reply_in_either_order);
    tcase_add_test(tc, client_leaving_in_every_position);
    tcase_add_test(tc, left_before_the_reply_is_abandoned_when_it_comes);
    tcase_add_test(tc, reading_the_job_ignores_everything_else);
    tcase_add_test(tc, nothing_acts_after_the_answer);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
