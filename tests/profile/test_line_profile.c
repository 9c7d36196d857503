/* memprof tests: line mode's aggregation (profile/line_profile.c), its
 * spans: when each chosen function ran, from line events and their times
 * (the timeline's lanes, mprof's brackets).  Events are made by hand here,
 * as the line-mode engine would post them; the expected spans follow from
 * the event sequence. */
#define _GNU_SOURCE
#include "harness.h"
#include "profile/line_profile.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

/* Two functions: a (lines 1-5, entry at point 0) and b (lines 10-12). */
static const struct mp_lm_func funcs[] = { { "a", "/src/x.c", 1, 5, 5 }, { "b", "/src/x.c", 10, 12, 12 } };
static const struct mp_lm_point points[] = {
    { 0x10, 0, 1, 1, 0 }, /* a's entry */
    { 0x20, 0, 2, 0, 0 }, /* a:2 */
    { 0x30, 1, 10, 1, 0 }, /* b's entry */
    { 0x40, 1, 11, 0, 0 }, /* b:11 */
};
static const struct mp_lm_map map = { funcs, 2, points, 4, NULL, 0, 0 };

static void ev(struct mp_line_profile *lp, uint32_t tid, enum mp_lm_event_kind kind, uint32_t depth, uint32_t index,
               uint64_t time_ns)
{
    struct mp_event e = { .kind = MP_EV_LINE, .tid = tid, .addr = mp_lm_event_id(kind, depth, index),
                          .rss_bytes = 4096, .time_ns = time_ns };
    mp_line_profile_add(lp, &e, 0);
}

static void entry(struct mp_line_profile *lp, uint32_t tid, uint32_t depth, uint32_t point, uint64_t t)
{
    ev(lp, tid, MP_LM_EV_ENTRY, depth, point, t);
}
static void line(struct mp_line_profile *lp, uint32_t tid, uint32_t depth, uint32_t point, uint64_t t)
{
    ev(lp, tid, MP_LM_EV_LINE, depth, point, t);
}
/* The frames above `depth` returned. */
static void leave(struct mp_line_profile *lp, uint32_t tid, uint32_t depth, uint64_t t)
{
    ev(lp, tid, MP_LM_EV_EXIT, depth, MP_LM_NO_FUNC, t);
}

static void expect_spans(const struct mp_line_profile *lp, size_t func, uint64_t calls, const uint64_t *want,
                         size_t n)
{
    size_t got;
    uint64_t got_calls;
    const struct mp_span *s = mp_line_profile_spans(lp, func, &got, &got_calls);
    ck_assert_uint_eq(got_calls, calls);
    ck_assert_uint_eq(got, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(s[i].start_ns, want[2 * i]);
        ck_assert_uint_eq(s[i].end_ns, want[2 * i + 1]);
    }
}

START_TEST(calls_one_after_another)
{
    struct mp_line_profile *lp = mp_line_profile_new(&map);
    ck_assert_ptr_nonnull(lp);
    /* a runs from 100 to 300, then again from 1000 to 1500; b from 400 to 450 */
    entry(lp, 1, 1, 0, 100);
    line(lp, 1, 1, 1, 200);
    leave(lp, 1, 0, 300);
    entry(lp, 1, 1, 2, 400);
    line(lp, 1, 1, 3, 420);
    leave(lp, 1, 0, 450);
    entry(lp, 1, 1, 0, 1000);
    line(lp, 1, 1, 1, 1200);
    leave(lp, 1, 0, 1500);
    mp_line_profile_finish(lp, 0);
    const uint64_t a[] = { 100, 300, 1000, 1500 }, b[] = { 400, 450 };
    expect_spans(lp, 0, 2, a, 2);
    expect_spans(lp, 1, 1, b, 1);
    size_t n;
    struct mp_function_spans *all = mp_line_profile_function_spans(lp, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(all[0].function, "a");
    ck_assert_str_eq(all[1].function, "b");
    ck_assert_uint_eq(all[0].n_spans, 2);
    free(all);
    mp_line_profile_free(lp);
}
END_TEST

START_TEST(nested_calls_threads_and_unfinished)
{
    struct mp_line_profile *lp = mp_line_profile_new(&map);
    /* recursion: a (depth 1) calls a (depth 2) from 200 to 500; a returns at 900 */
    entry(lp, 1, 1, 0, 100);
    line(lp, 1, 1, 1, 150);
    entry(lp, 1, 2, 0, 200);
    leave(lp, 1, 1, 500);
    line(lp, 1, 1, 1, 600);
    leave(lp, 1, 0, 900);
    /* another thread runs a from 800 to 1200: overlapping, one span */
    entry(lp, 2, 1, 0, 800);
    leave(lp, 2, 0, 1200);
    /* b entered at 2000 and never left (exit() inside it): open until the last event */
    entry(lp, 1, 1, 2, 2000);
    line(lp, 1, 1, 3, 2500);
    mp_line_profile_finish(lp, 0);
    const uint64_t a[] = { 100, 1200 }, b[] = { 2000, 2500 };
    expect_spans(lp, 0, 3, a, 1);
    expect_spans(lp, 1, 1, b, 1);
    /* a reset forgets them */
    mp_line_profile_reset(lp);
    expect_spans(lp, 0, 0, NULL, 0);
    mp_line_profile_free(lp);
}
END_TEST

START_TEST(many_calls_stay_a_few_hundred_spans)
{
    struct mp_line_profile *lp = mp_line_profile_new(&map);
    /* 100,000 calls of b, each 2 us long, 10 us apart, then one late call */
    const uint64_t n = 100000;
    for (uint64_t i = 0; i < n; i++) {
        entry(lp, 1, 1, 2, 10000 * i);
        leave(lp, 1, 0, 10000 * i + 2000);
    }
    entry(lp, 1, 1, 2, 10000 * n + 5000000000ull);
    leave(lp, 1, 0, 10000 * n + 5000001000ull);
    mp_line_profile_finish(lp, 0);
    size_t got;
    uint64_t calls;
    const struct mp_span *s = mp_line_profile_spans(lp, 1, &got, &calls);
    ck_assert_uint_eq(calls, n + 1);
    ck_assert_uint_le(got, 512);
    ck_assert_uint_ge(got, 2);
    /* still covering the calls: from the first start to the last end, in
     * order, and the late call is its own span (5 s later) */
    ck_assert_uint_eq(s[0].start_ns, 0);
    ck_assert_uint_eq(s[got - 1].start_ns, 10000 * n + 5000000000ull);
    ck_assert_uint_eq(s[got - 1].end_ns, 10000 * n + 5000001000ull);
    ck_assert_uint_eq(s[got - 2].end_ns, 10000 * (n - 1) + 2000);
    for (size_t i = 1; i < got; i++)
        ck_assert_uint_gt(s[i].start_ns, s[i - 1].end_ns);
    mp_line_profile_free(lp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("line_profile");
    TCase *tc = tcase_create("spans");
    tcase_add_test(tc, calls_one_after_another);
    tcase_add_test(tc, nested_calls_threads_and_unfinished);
    tcase_add_test(tc, many_calls_stay_a_few_hundred_spans);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
