/* memprof tests: what an image's timeline gets of its RSS readings
 * (cli/session_timeline.c): the sampler thread's samples and line mode's
 * reads at each trap.  Readings are made by hand, in the order the reader
 * thread could get them; the expected timelines follow from the rules
 * (--interval between a trap's sample and the last one unless it is a new
 * high; a sampler sample older than the last trap's reading, or than the
 * timeline's last sample, is dropped unless it is the run's new high). */
#define _GNU_SOURCE
#include "harness.h"
#include "cli/session.h"
#include "cli/session_timeline.h"
#include "memprof/profile.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#define MS 1000000ull
#define US 1000ull

static struct mp_image *image(void)
{
    struct mp_image *img = calloc(1, sizeof *img);
    ck_assert_ptr_nonnull(img);
    img->profile = mp_profile_new(NULL, NULL);
    ck_assert_ptr_nonnull(img->profile);
    return img;
}

static void image_free(struct mp_image *img)
{
    mp_profile_free(img->profile);
    free(img);
}

static int reading(struct mp_image *img, enum mp_event_kind kind, uint64_t time_ns, uint64_t rss, uint64_t interval)
{
    struct mp_event ev = { .kind = kind, .pid = 42, .tid = 42, .time_ns = time_ns, .rss_bytes = rss };
    return mp_session_timeline_reading(img, &ev, interval);
}

#define SAMPLER(t, r) reading(img, MP_EV_SAMPLE, (t), (r), 10 * MS)
#define TRAP(t, r) reading(img, MP_EV_LINE, (t), (r), 10 * MS)

START_TEST(thinned_stale_dropped_highs_kept)
{
    struct mp_image *img = image();
    ck_assert_int_eq(SAMPLER(0, 100), 1);           /* the first: kept */
    ck_assert_int_eq(TRAP(1 * MS, 100), 1);         /* 1 ms later, no high: thinned */
    ck_assert_int_eq(TRAP(2 * MS, 300), 1);         /* a new high: kept */
    ck_assert_int_eq(TRAP(3 * MS, 150), 1);         /* thinned */
    ck_assert_int_eq(SAMPLER(2500 * US, 300), 0);   /* older than the 3 ms trap: stale */
    ck_assert_int_eq(SAMPLER(12 * MS, 150), 1);     /* kept */
    ck_assert_int_eq(TRAP(13 * MS, 150), 1);        /* thinned */
    ck_assert_int_eq(TRAP(22 * MS, 90), 1);         /* 10 ms after the last sample: kept */
    ck_assert_int_eq(TRAP(23 * MS, 300), 1);        /* as high as the high, not above: thinned */
    ck_assert_int_eq(TRAP(24 * MS, 301), 1);        /* a new high: kept */
    ck_assert_int_eq(SAMPLER(24 * MS, 250), 1);     /* as old as the last trap, not older: kept */
    ck_assert_int_eq(SAMPLER(30 * MS, 200), 1);     /* kept */
    ck_assert_int_eq(TRAP(29 * MS, 100), 1);        /* behind the sampler's sample, no high: thinned */
    ck_assert_int_eq(TRAP(29500 * US, 400), 1);     /* behind it but a new high: kept, at 30 ms */
    ck_assert_int_eq(SAMPLER(29800 * US, 400), 0);  /* older than the timeline's last sample: stale */
    ck_assert_int_eq(SAMPLER(29900 * US, 500), 0);  /* stale, but the run's new high: on the timeline at
                                                       30 ms, not to the line profile */
    static const struct { uint64_t t, rss; } want[] = {
        { 0, 100 }, { 2 * MS, 300 }, { 12 * MS, 150 }, { 22 * MS, 90 }, { 24 * MS, 301 }, { 24 * MS, 250 },
        { 30 * MS, 200 }, { 30 * MS, 400 }, { 30 * MS, 500 },
    };
    const struct mp_sample *tl;
    size_t n = mp_profile_timeline(img->profile, &tl);
    ck_assert_uint_eq(n, sizeof want / sizeof *want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(tl[i].time_ns == want[i].t && tl[i].rss_bytes == want[i].rss,
                      "sample %zu: %llu ns, %llu B; want %llu ns, %llu B", i, (unsigned long long)tl[i].time_ns,
                      (unsigned long long)tl[i].rss_bytes, (unsigned long long)want[i].t,
                      (unsigned long long)want[i].rss);
        if (i)
            ck_assert_uint_ge(tl[i].time_ns, tl[i - 1].time_ns); /* time order */
    }
    image_free(img);
}
END_TEST

/* A million traps 1 us apart over one second, RSS flat at 100 B but for one
 * reading of 500 B at 500.5 ms: the samples are the first trap's, one every
 * 10 ms after it up to 500 ms (50), the high at 500.5 ms, then one every
 * 10 ms after that up to 990.5 ms (49): 101, all unmerged (the timeline
 * halves itself past 2 * MP_TIMELINE_MAX). */
START_TEST(dense_traps_follow_the_interval)
{
    struct mp_image *img = image();
    for (uint64_t i = 0; i < 1000000; i++)
        ck_assert_int_eq(TRAP(i * US, i == 500500 ? 500 : 100), 1);
    const struct mp_sample *tl;
    size_t n = mp_profile_timeline(img->profile, &tl);
    ck_assert_uint_eq(n, 101);
    for (size_t i = 0; i <= 50; i++)
        ck_assert_uint_eq(tl[i].time_ns, i * 10 * MS);
    ck_assert_uint_eq(tl[51].time_ns, 500500 * US);
    ck_assert_uint_eq(tl[51].rss_bytes, 500);
    for (size_t i = 52; i < n; i++) {
        ck_assert_uint_eq(tl[i].time_ns, 500500 * US + (i - 51) * 10 * MS);
        ck_assert_uint_eq(tl[i].rss_bytes, 100);
    }
    image_free(img);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("readings");
    tcase_add_test(tc, thinned_stale_dropped_highs_kept);
    tcase_add_test(tc, dense_traps_follow_the_interval);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
