/* memprof tests: memprof diff.  Unit tests compare profiles built from
 * hand-made events (a fake resolver, as in test_profile.c) and check the
 * exact text; end-to-end tests profile two builds of
 * tests/fixtures/diff_app.c and run `memprof diff` on the saved reports. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "report/report_diff.h"
#include "harness.h"
#include "memprof/profile.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Profiles from events                                                       */
/* ------------------------------------------------------------------------ */

enum place {
    BUILD_42, OLD_ONLY_30, FRESH_60, MANY_50, PARSE_70, PARSE_72, STAY_80, T1_90, T2_91,
    TWO_100, TWO_101, TWO_102, TWO_103, TIE_A_5, TIE_B_5, NOFILE, N_PLACES
};

static const struct mp_frame_info places[N_PLACES] = {
    [BUILD_42] = { "build", "app.c", 42, "/usr/bin/app", 0, "app.c", 40, 48 },
    [OLD_ONLY_30] = { "old_only", "app.c", 30, "/usr/bin/app", 0, "app.c", 28, 32 },
    [FRESH_60] = { "fresh", "app.c", 60, "/usr/bin/app", 0, "app.c", 58, 62 },
    [MANY_50] = { "many", "app.c", 50, "/usr/bin/app", 0, "app.c", 49, 52 },
    [PARSE_70] = { "parse", "app.c", 70, "/usr/bin/app", 0, "app.c", 68, 76 },
    [PARSE_72] = { "parse", "app.c", 72, "/usr/bin/app", 0, "app.c", 68, 76 },
    [STAY_80] = { "stay", "app.c", 80, "/usr/bin/app", 0, "app.c", 78, 82 },
    [T1_90] = { "t1", "app.c", 90, "/usr/bin/app", 0, "app.c", 89, 90 },
    [T2_91] = { "t2", "app.c", 91, "/usr/bin/app", 0, "app.c", 91, 92 },
    [TWO_100] = { "two", "app.c", 100, "/usr/bin/app", 0, "app.c", 99, 104 },
    [TWO_101] = { "two", "app.c", 101, "/usr/bin/app", 0, "app.c", 99, 104 },
    [TWO_102] = { "two", "app.c", 102, "/usr/bin/app", 0, "app.c", 99, 104 },
    [TWO_103] = { "two", "app.c", 103, "/usr/bin/app", 0, "app.c", 99, 104 },
    [TIE_A_5] = { "tie_a", "a.c", 5, "/usr/bin/app", 0, "a.c", 4, 6 },
    [TIE_B_5] = { "tie_b", "b.c", 5, "/usr/bin/app", 0, "b.c", 4, 6 },
    [NOFILE] = { "mod+0x40", NULL, 0, "/usr/lib/libplug.so", 0, NULL, 0, 0 },
};

#define PC(place) (0x1000u + 0x10u * (uint64_t)(place))

static int fake_resolve(void *ctx, uint64_t pc, int is_return_address, struct mp_frame_info *out, int max)
{
    (void)ctx;
    (void)is_return_address;
    ck_assert_int_ge(max, 1);
    if (pc >= 0x1000 && (pc - 0x1000) % 0x10 == 0 && (pc - 0x1000) / 0x10 < N_PLACES) {
        out[0] = places[(pc - 0x1000) / 0x10];
        return 1;
    }
    out[0] = (struct mp_frame_info){ "[unknown]", NULL, 0, "[unknown]", 0, NULL, 0, 0 };
    return 1;
}

static uint64_t next_addr = 0x10000;

static struct mp_profile *new_profile(void)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Allocates `size` bytes on `place`; returns the block's address. */
static uint64_t alloc_at(struct mp_profile *p, enum place place, uint64_t size)
{
    uint64_t frames[1] = { PC(place) };
    uint64_t addr = next_addr;
    next_addr += 0x100000;
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = 1, .addr = addr, .size = size, .nframes = 1,
                           .frames = frames };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
    return addr;
}

static void alloc_n(struct mp_profile *p, enum place place, int n, uint64_t size)
{
    for (int i = 0; i < n; i++)
        alloc_at(p, place, size);
}

static void free_at(struct mp_profile *p, uint64_t addr)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = 1, .addr = addr };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

static char *diff_text(const struct mp_diff *d, const struct mp_diff_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mp_diff_write(f, d, opt), 0);
    fclose(f);
    return buf;
}

static char *limits_text(const struct mp_diff *d, double pct, int *broken)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *broken = mp_diff_check_limits(f, d, pct, 1);
    fclose(f);
    return buf;
}

/* The big scenario: nothing is freed, so leaked = allocated.
 *   OLD: build 2 x 512 KiB, old_only 100, parse@70 300, stay 64, two@100 10, two@101 20,
 *        t1 16, t2 16, mod+0x40 8                          10 calls, 1,049,110 bytes
 *   NEW: build 512 KiB, 512 KiB, 1 MiB; fresh 2 x 100; many 4 x 25; parse@72 2 x 300;
 *        stay 64; two@102 10, two@103 20; t1 2 x 16, t2 2 x 16; a.c 20, b.c 20;
 *        mod+0x40 2 x 8                                    22 calls, 2,098,266 bytes */
static void build_scenario(struct mp_profile **old_out, struct mp_profile **new_out)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    alloc_n(o, BUILD_42, 2, 512 * 1024);
    alloc_at(o, OLD_ONLY_30, 100);
    alloc_at(o, PARSE_70, 300);
    alloc_at(o, STAY_80, 64);
    alloc_at(o, TWO_100, 10);
    alloc_at(o, TWO_101, 20);
    alloc_at(o, T1_90, 16);
    alloc_at(o, T2_91, 16);
    alloc_at(o, NOFILE, 8);

    alloc_n(n, BUILD_42, 2, 512 * 1024);
    alloc_at(n, BUILD_42, 1024 * 1024);
    alloc_n(n, FRESH_60, 2, 100);
    alloc_n(n, MANY_50, 4, 25);
    alloc_n(n, PARSE_72, 2, 300);
    alloc_at(n, STAY_80, 64);
    alloc_at(n, TWO_102, 10);
    alloc_at(n, TWO_103, 20);
    alloc_n(n, T1_90, 2, 16);
    alloc_n(n, T2_91, 2, 16);
    alloc_at(n, TIE_A_5, 20);
    alloc_at(n, TIE_B_5, 20);
    alloc_n(n, NOFILE, 2, 8);
    *old_out = o;
    *new_out = n;
}

/* ------------------------------------------------------------------------ */
/* Unit tests                                                                 */
/* ------------------------------------------------------------------------ */

START_TEST(full_report_text)
{
    struct mp_profile *o, *n;
    build_scenario(&o, &n);
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    struct mp_diff_options opt = { .old_name = "old.json", .new_name = "new.json", .precision = 1, .top_lines = 0 };
    char *got = diff_text(&d, &opt);
    ck_assert_str_eq(got,
        "memprof diff: old.json -> new.json\n"
        "\n"
        "Summary\n"
        "  peak heap: 2.0 MiB (+1.0 MiB, +100.0%)\n"
        "  leaked bytes: 2.0 MiB (+1.0 MiB, +100.0%)\n"
        "  leaked blocks: 22 (+12, +120.0%)\n"
        "  allocation calls: 22 (+12, +120.0%)\n"
        "  allocated bytes: 2.0 MiB (+1.0 MiB, +100.0%)\n"
        "  temporary calls: 0 (+0, +0.0%)\n"
        "  peak RSS: not compared (not in either report)\n"
        "\n"
        "Lines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
        /* the doubled line first, with its exact change; average: size / count (2 MiB / 3 =
         * 699,051 B), tracemalloc's, left out where the count is 0 */
        "  app.c:42: size=2.0 MiB (+1.0 MiB), count=3 (+1), average=682.7 KiB\n"
        /* parse has one allocating line in each: matched although it moved */
        "  app.c:72 (was :70): size=600 B (+300 B), count=2 (+1), average=300 B\n"
        "  app.c:60 (new): size=200 B (+200 B), count=2 (+2), average=100 B\n"
        /* same size change: the bigger count change first */
        "  app.c:50 (new): size=100 B (+100 B), count=4 (+4), average=25 B\n"
        "  app.c:30 (gone): size=0 B (-100 B), count=0 (-1)\n"
        /* full ties: by file, then line */
        "  a.c:5 (new): size=20 B (+20 B), count=1 (+1), average=20 B\n"
        "  app.c:101 (gone): size=0 B (-20 B), count=0 (-1)\n"
        "  app.c:103 (new): size=20 B (+20 B), count=1 (+1), average=20 B\n"
        "  b.c:5 (new): size=20 B (+20 B), count=1 (+1), average=20 B\n"
        "  app.c:90: size=32 B (+16 B), count=2 (+1), average=16 B\n"
        "  app.c:91: size=32 B (+16 B), count=2 (+1), average=16 B\n"
        /* two has two allocating lines: no moved-line matching */
        "  app.c:100 (gone): size=0 B (-10 B), count=0 (-1)\n"
        "  app.c:102 (new): size=10 B (+10 B), count=1 (+1), average=10 B\n"
        /* no line info: function and module */
        "  mod+0x40 (/usr/lib/libplug.so): size=16 B (+8 B), count=2 (+1), average=8 B\n"
        "  1 allocating line unchanged\n");
    free(got);

    /* The model itself. */
    ck_assert_uint_eq(d.n_lines, 14);
    ck_assert_uint_eq(d.n_unchanged, 1);
    ck_assert_int_eq(d.lines[0].kind, MP_DIFF_SAME_PLACE);
    ck_assert_uint_eq(d.lines[0].old_size, 1024 * 1024);
    ck_assert_uint_eq(d.lines[0].new_size, 2 * 1024 * 1024);
    ck_assert_int_eq(d.lines[1].kind, MP_DIFF_MOVED);
    ck_assert_int_eq(d.lines[1].old_line, 70);
    ck_assert_int_eq(d.lines[1].line, 72);
    ck_assert_str_eq(d.lines[1].function, "parse");
    ck_assert_uint_eq(d.summary[MP_DIFF_ALLOCATED_BYTES].old_value, 1049110);
    ck_assert_uint_eq(d.summary[MP_DIFF_ALLOCATED_BYTES].new_value, 2098266);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

START_TEST(top_limits_the_lines)
{
    struct mp_profile *o, *n;
    build_scenario(&o, &n);
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    struct mp_diff_options opt = { .precision = 1, .top_lines = 2 };
    char *got = diff_text(&d, &opt);
    const char *lines = strstr(got, "\nLines by");
    ck_assert_ptr_nonnull(lines);
    ck_assert_str_eq(lines,
        "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
        "  app.c:42: size=2.0 MiB (+1.0 MiB), count=3 (+1), average=682.7 KiB\n"
        "  app.c:72 (was :70): size=600 B (+300 B), count=2 (+1), average=300 B\n"
        "  (12 more changed lines; --top 0 shows all)\n"
        "  1 allocating line unchanged\n");
    /* No names: no title line. */
    ck_assert_msg(strncmp(got, "Summary\n", 8) == 0, "%s", got);
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

START_TEST(same_profile_has_no_changes)
{
    struct mp_profile *o, *n;
    build_scenario(&o, &n);
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(n, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    char *got = diff_text(&d, NULL);
    ck_assert_str_eq(got,
        "Summary\n"
        "  peak heap: 2.0 MiB (+0 B, +0.0%)\n"
        "  leaked bytes: 2.0 MiB (+0 B, +0.0%)\n"
        "  leaked blocks: 22 (+0, +0.0%)\n"
        "  allocation calls: 22 (+0, +0.0%)\n"
        "  allocated bytes: 2.0 MiB (+0 B, +0.0%)\n"
        "  temporary calls: 0 (+0, +0.0%)\n"
        "  peak RSS: not compared (not in either report)\n"
        "\n"
        "Lines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
        "  no line changed\n"
        "  12 allocating lines unchanged\n");
    free(got);
    int broken;
    got = limits_text(&d, 0, &broken);
    ck_assert_int_eq(broken, 0);
    ck_assert_str_eq(got, "");
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* The metrics scenario (all sizes under 1 KiB):
 *   OLD: a1 = build 300; old_only 100; free a1       peak 400 (build 300, old_only 100)
 *        leaked: old_only 100 in 1 block
 *   NEW: a1 = build 300; a2 = build 300; free a1; old_only 100
 *        peak 600 (build 600, old_only 0); leaked: build 300 (a2), old_only 100 */
static void metric_scenario(struct mp_profile **old_out, struct mp_profile **new_out)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    uint64_t a1 = alloc_at(o, BUILD_42, 300);
    alloc_at(o, OLD_ONLY_30, 100);
    free_at(o, a1);

    a1 = alloc_at(n, BUILD_42, 300);
    alloc_at(n, BUILD_42, 300);
    free_at(n, a1);
    alloc_at(n, OLD_ONLY_30, 100);
    *old_out = o;
    *new_out = n;
}

static char *metric_text(enum mp_diff_metric m)
{
    struct mp_profile *o, *n;
    metric_scenario(&o, &n);
    struct mp_report_run old_run = { .peak_rss_bytes = 100 * 1024 * 1024 };
    struct mp_report_run new_run = { .peak_rss_bytes = 150 * 1024 * 1024 };
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, &old_run, n, &new_run, m, &d), 0);
    struct mp_diff_options opt = { .precision = 1, .top_lines = 10 };
    char *got = diff_text(&d, &opt);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
    return got;
}

#define METRIC_SUMMARY                                                                             \
    "Summary\n"                                                                                    \
    "  peak heap: 600 B (+200 B, +50.0%)\n"                                                        \
    "  leaked bytes: 400 B (+300 B, +300.0%)\n"                                                    \
    "  leaked blocks: 2 (+1, +100.0%)\n"                                                           \
    "  allocation calls: 3 (+1, +50.0%)\n"                                                         \
    "  allocated bytes: 700 B (+300 B, +75.0%)\n"                                                  \
    "  temporary calls: 0 (+0, +0.0%)\n"                                                           \
    "  peak RSS: 150.0 MiB (+50.0 MiB, +50.0%)\n"                                                  \
    "\n"

START_TEST(metric_allocated)
{
    char *got = metric_text(MP_DIFF_ALLOCATED);
    ck_assert_str_eq(got, METRIC_SUMMARY
        "Lines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
        "  app.c:42: size=600 B (+300 B), count=2 (+1), average=300 B\n"
        "  1 allocating line unchanged\n");
    free(got);
}
END_TEST

START_TEST(metric_peak)
{
    char *got = metric_text(MP_DIFF_PEAK);
    ck_assert_str_eq(got, METRIC_SUMMARY
        "Lines by bytes held at peak (size: bytes held at the heap's peak, count: allocation calls), "
        "biggest change first\n"
        "  app.c:42: size=600 B (+300 B), count=2 (+1), average=300 B\n"
        "  app.c:30: size=0 B (-100 B), count=1 (+0), average=0 B\n"
        "  0 allocating lines unchanged\n");
    free(got);
}
END_TEST

START_TEST(metric_leaked)
{
    char *got = metric_text(MP_DIFF_LEAKED);
    ck_assert_str_eq(got, METRIC_SUMMARY
        "Lines by bytes leaked (size: bytes leaked at exit, count: leaked blocks), biggest change first\n"
        "  app.c:42: size=300 B (+300 B), count=1 (+1), average=300 B\n"
        "  1 allocating line unchanged\n");
    free(got);
}
END_TEST

START_TEST(peak_rss_missing_from_one_report)
{
    struct mp_profile *o, *n;
    metric_scenario(&o, &n);
    struct mp_report_run known = { .peak_rss_bytes = 1 << 20 }, stable = { .peak_rss_bytes = 0 };
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, &stable, n, &known, MP_DIFF_ALLOCATED, &d), 0);
    char *got = diff_text(&d, NULL);
    ck_assert_ptr_nonnull(strstr(got, "\n  peak RSS: not compared (not in the old report)\n"));
    free(got);
    mp_diff_free(&d);
    ck_assert_int_eq(mp_diff_build(o, &known, n, &stable, MP_DIFF_ALLOCATED, &d), 0);
    got = diff_text(&d, NULL);
    ck_assert_ptr_nonnull(strstr(got, "\n  peak RSS: not compared (not in the new report)\n"));
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* The gate scenario:
 *   OLD: build 100 MiB, freed                    peak 100 MiB, leaked 0, allocated 100 MiB
 *   NEW: build 122,893,926 (117.2 MiB), freed; then old_only 10 leaked
 *        peak 117.2 MiB (+17.2%), leaked 10 B (from 0), allocated 122,893,936 (+17.2%) */
static void gate_scenario(struct mp_diff *d, struct mp_profile **o_out, struct mp_profile **n_out)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    free_at(o, alloc_at(o, BUILD_42, 100 * 1024 * 1024));
    free_at(n, alloc_at(n, BUILD_42, 122893926));
    alloc_at(n, OLD_ONLY_30, 10);
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, d), 0);
    *o_out = o;
    *n_out = n;
}

START_TEST(limit_gate)
{
    struct mp_profile *o, *n;
    struct mp_diff d;
    gate_scenario(&d, &o, &n);
    char *got = diff_text(&d, NULL);
    ck_assert_ptr_nonnull(strstr(got, "\n  peak heap: 117.2 MiB (+17.2 MiB, +17.2%)\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n  leaked bytes: 10 B (+10 B, was 0)\n"));
    free(got);

    int broken;
    got = limits_text(&d, 10, &broken);
    ck_assert_int_eq(broken, 3);
    ck_assert_str_eq(got,
        "memprof: peak heap grew 17.2% (100.0 MiB -> 117.2 MiB), over --limit-increase 10%\n"
        "memprof: leaked bytes grew from 0 (0 B -> 10 B), over --limit-increase 10%\n"
        "memprof: allocated bytes grew 17.2% (100.0 MiB -> 117.2 MiB), over --limit-increase 10%\n");
    free(got);

    /* 17.2008% against a 17.2% limit: still over, with the digits to show it. */
    got = limits_text(&d, 17.2, &broken);
    ck_assert_int_eq(broken, 3);
    ck_assert_str_eq(got,
        "memprof: peak heap grew 17.201% (100.0 MiB -> 117.2 MiB), over --limit-increase 17.2%\n"
        "memprof: leaked bytes grew from 0 (0 B -> 10 B), over --limit-increase 17.2%\n"
        "memprof: allocated bytes grew 17.201% (100.0 MiB -> 117.2 MiB), over --limit-increase 17.2%\n");
    free(got);

    /* Under the limit: only growth from zero breaks it. */
    got = limits_text(&d, 20, &broken);
    ck_assert_int_eq(broken, 1);
    ck_assert_str_eq(got, "memprof: leaked bytes grew from 0 (0 B -> 10 B), over --limit-increase 20%\n");
    free(got);
    mp_diff_free(&d);

    /* Shrinking never breaks a limit, even 0%. */
    ck_assert_int_eq(mp_diff_build(n, NULL, o, NULL, MP_DIFF_ALLOCATED, &d), 0);
    got = limits_text(&d, 0, &broken);
    ck_assert_int_eq(broken, 0);
    ck_assert_str_eq(got, "");
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

START_TEST(limit_exactly_at_the_limit_passes)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    alloc_at(o, BUILD_42, 1000);
    alloc_at(n, BUILD_42, 1100);  /* +10.0% exactly */
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    int broken;
    char *got = limits_text(&d, 10, &broken);
    ck_assert_int_eq(broken, 0);
    ck_assert_str_eq(got, "");
    free(got);
    got = limits_text(&d, 9.99, &broken);
    ck_assert_int_eq(broken, 3);
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* A moved line needs its function to have exactly one allocating line in
 * EACH report: with two in NEW, the old line is gone and both new ones new. */
START_TEST(moved_needs_one_line_in_each)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    alloc_at(o, TWO_100, 10);
    alloc_at(n, TWO_101, 10);
    alloc_at(n, TWO_102, 10);
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    char *got = diff_text(&d, NULL);
    const char *lines = strstr(got, "biggest change first\n");
    ck_assert_ptr_nonnull(lines);
    ck_assert_str_eq(lines, "biggest change first\n"
                            "  app.c:100 (gone): size=0 B (-10 B), count=0 (-1)\n"
                            "  app.c:101 (new): size=10 B (+10 B), count=1 (+1), average=10 B\n"
                            "  app.c:102 (new): size=10 B (+10 B), count=1 (+1), average=10 B\n"
                            "  0 allocating lines unchanged\n");
    free(got);
    mp_diff_free(&d);

    /* One in each: matched even with unchanged numbers (then not listed). */
    mp_profile_free(n);
    n = new_profile();
    alloc_at(n, TWO_103, 10);
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_ALLOCATED, &d), 0);
    ck_assert_uint_eq(d.n_lines, 0);
    ck_assert_uint_eq(d.n_unchanged, 1);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* The order does not depend on the order lines were first seen. */
START_TEST(order_is_deterministic)
{
    struct mp_profile *o1, *n1;
    build_scenario(&o1, &n1);
    /* The same allocations, lines created in the reverse order. */
    struct mp_profile *o2 = new_profile(), *n2 = new_profile();
    alloc_at(o2, NOFILE, 8);
    alloc_at(o2, T2_91, 16);
    alloc_at(o2, T1_90, 16);
    alloc_at(o2, TWO_101, 20);
    alloc_at(o2, TWO_100, 10);
    alloc_at(o2, STAY_80, 64);
    alloc_at(o2, PARSE_70, 300);
    alloc_at(o2, OLD_ONLY_30, 100);
    alloc_n(o2, BUILD_42, 2, 512 * 1024);
    alloc_n(n2, NOFILE, 2, 8);
    alloc_at(n2, TIE_B_5, 20);
    alloc_at(n2, TIE_A_5, 20);
    alloc_n(n2, T2_91, 2, 16);
    alloc_n(n2, T1_90, 2, 16);
    alloc_at(n2, TWO_103, 20);
    alloc_at(n2, TWO_102, 10);
    alloc_at(n2, STAY_80, 64);
    alloc_n(n2, PARSE_72, 2, 300);
    alloc_n(n2, MANY_50, 4, 25);
    alloc_n(n2, FRESH_60, 2, 100);
    alloc_at(n2, BUILD_42, 1024 * 1024);
    alloc_n(n2, BUILD_42, 2, 512 * 1024);
    struct mp_diff d1, d2;
    ck_assert_int_eq(mp_diff_build(o1, NULL, n1, NULL, MP_DIFF_ALLOCATED, &d1), 0);
    ck_assert_int_eq(mp_diff_build(o2, NULL, n2, NULL, MP_DIFF_ALLOCATED, &d2), 0);
    char *t1 = diff_text(&d1, NULL), *t2 = diff_text(&d2, NULL);
    ck_assert_str_eq(t1, t2);
    free(t1);
    free(t2);
    mp_diff_free(&d1);
    mp_diff_free(&d2);
    mp_profile_free(o1);
    mp_profile_free(n1);
    mp_profile_free(o2);
    mp_profile_free(n2);
}
END_TEST

START_TEST(empty_profiles)
{
    struct mp_profile *o = new_profile(), *n = new_profile();
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build(o, NULL, n, NULL, MP_DIFF_LEAKED, &d), 0);
    char *got = diff_text(&d, NULL);
    ck_assert_ptr_nonnull(strstr(got, "  no line changed\n  0 allocating lines unchanged\n"));
    free(got);
    int broken;
    got = limits_text(&d, 0, &broken);
    ck_assert_int_eq(broken, 0);
    free(got);
    mp_diff_free(&d);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The command                                                                */
/* ------------------------------------------------------------------------ */

/* mp_cmd_diff("diff", args...) */
static int cmd(char **args)
{
    char *argv[16] = { "diff" };
    int argc = 1;
    while (args[argc - 1])
        argv[argc] = args[argc - 1], argc++;
    argv[argc] = NULL;
    return mp_cmd_diff(argc, argv);
}

START_TEST(cmd_usage_errors)
{
    ck_assert_int_eq(cmd((char *[]){ NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", "b.json", "c.json", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "--metric", "bogus", "a.json", "b.json", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", "b.json", "--limit-increase", "ten", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", "b.json", "--limit-increase", "-5", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", "b.json", "--top", "x", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "a.json", "b.json", "--top", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "--frobnicate", "a.json", "b.json", NULL }), 2);
    ck_assert_int_eq(cmd((char *[]){ "-x", "a.json", "b.json", NULL }), 2);
}
END_TEST

START_TEST(cmd_missing_file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/diff-does-not-exist.json", test_tmp_dir());
    ck_assert_int_eq(cmd((char *[]){ path, path, NULL }), 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* End to end                                                                 */
/* ------------------------------------------------------------------------ */

/* $MEMPROF must have `memprof diff`: it answers a bare `diff` with its usage. */
static void require_diff_command(void)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "diff", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_msg(o.status == 2 && strstr(o.err, "usage: memprof diff") != NULL,
                  "'%s diff' is not memprof's diff command (exit %d): %s", memprof_path(), o.status, o.err);
    run_output_free(&o);
}

/* 1-based number of the first line of `src` containing `marker`. */
static int line_of(const char *src, const char *marker)
{
    const char *m = strstr(src, marker);
    ck_assert_ptr_nonnull(m);
    int line = 1;
    for (const char *p = src; p < m; p++)
        line += *p == '\n';
    return line;
}

static void profile_to(const char *exe, const char *json)
{
    struct run_output o;
    char *stable_argv[] = { (char *)memprof_path(), "--stable", "--json", (char *)json, (char *)exe, NULL };
    ck_assert_int_eq(run_cmd(stable_argv, NULL, NULL, 60, &o), 0);
    if (o.status == 2 && strstr(o.err, "--stable")) {
        /* --stable not there yet: the same without it. */
        run_output_free(&o);
        char *argv[] = { (char *)memprof_path(), "--json", (char *)json, (char *)exe, NULL };
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    }
    ck_assert_msg(o.status == 0, "memprof %s: exit %d\n%s", exe, o.status, o.err);
    run_output_free(&o);
}

static int run_diff(char **args, struct run_output *o)
{
    char *argv[16] = { (char *)memprof_path(), "diff" };
    int n = 2;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, o), 0);
    return o->status;
}

START_TEST(end_to_end)
{
    require_diff_command();
    const char *app1 = build_fixture("tests/fixtures/diff_app.c", "gcc", "-O0 -g -DSCALE=1", "diff_app1");
    const char *app2 = build_fixture("tests/fixtures/diff_app.c", "gcc", "-O0 -g -DSCALE=2", "diff_app2");
    ck_assert_ptr_nonnull(app1);
    ck_assert_ptr_nonnull(app2);
    char old_json[4096], new_json[4096];
    snprintf(old_json, sizeof old_json, "%s/diff_old.json", test_tmp_dir());
    snprintf(new_json, sizeof new_json, "%s/diff_new.json", test_tmp_dir());
    profile_to(app1, old_json);
    profile_to(app2, new_json);

    /* The doubled line, derived from the fixture: 4 calls of SCALE * 64 KiB; both reports were
     * saved with --stable, so sizes are exact bytes. */
    size_t len;
    char *src = read_file(repo_path("tests/fixtures/diff_app.c"), &len);
    ck_assert_ptr_nonnull(src);
    char want[256];
    snprintf(want, sizeof want, "diff_app.c:%d: size=524,288 B (+262,144 B), count=4 (+0), average=131,072 B\n",
             line_of(src, "/* DIFF-DOUBLES */"));
    free(src);

    struct run_output o;
    ck_assert_int_eq(run_diff((char *[]){ old_json, new_json, NULL }, &o), 0);
    ck_assert_msg(o.err_len == 0, "stderr: %s", o.err);
    const char *first = strstr(o.out, "biggest change first\n");
    ck_assert_msg(first != NULL, "%s", o.out);
    first += strlen("biggest change first\n");
    const char *eol = strchr(first, '\n');
    ck_assert_ptr_nonnull(eol);
    /* The first line, whatever directory the path is shown relative to. */
    size_t first_len = (size_t)(eol - first) + 1, want_len = strlen(want);
    ck_assert_msg(first_len >= want_len && memcmp(eol + 1 - want_len, want, want_len) == 0 &&
                      (first_len == want_len + 2 || first[first_len - want_len - 1] == '/'),
                  "first changed line is not the doubled one:\nwant ...%s\n%s", want, o.out);
    /* The two DIFF-SAME lines are unchanged; nothing else changed. */
    ck_assert_msg(strstr(o.out, "  2 allocating lines unchanged\n") != NULL, "%s", o.out);
    /* the fixture's totals: peak 262,244 -> 524,388, allocated 262,276 -> 524,420 */
    ck_assert_msg(strstr(o.out, "  peak heap: 524,388 B (+262,144 B, +100.0%)\n") != NULL, "%s", o.out);
    ck_assert_msg(strstr(o.out, "  leaked bytes: 32 B (+0 B, +0.0%)\n") != NULL, "%s", o.out);
    ck_assert_msg(strstr(o.out, "  allocated bytes: 524,420 B (+262,144 B, +99.9%)\n") != NULL, "%s", o.out);

    /* Deterministic: the same again, and with -o. */
    char *first_out = strdup(o.out);
    run_output_free(&o);
    char out_file[4096];
    snprintf(out_file, sizeof out_file, "%s/diff_out.txt", test_tmp_dir());
    ck_assert_int_eq(run_diff((char *[]){ old_json, new_json, "-o", out_file, NULL }, &o), 0);
    ck_assert_uint_eq(o.out_len, 0);
    char *saved = read_file(out_file, &len);
    ck_assert_ptr_nonnull(saved);
    ck_assert_str_eq(saved, first_out);
    free(saved);
    free(first_out);
    run_output_free(&o);

    /* The gate: peak heap and allocated bytes doubled, leaks did not change. */
    ck_assert_int_eq(run_diff((char *[]){ old_json, new_json, "--limit-increase", "10", NULL }, &o), 3);
    ck_assert_msg(count_lines(o.err) == 2, "%s", o.err);
    ck_assert_msg(strstr(o.err, "memprof: peak heap grew 100.0% (262,244 B -> 524,388 B), "
                                "over --limit-increase 10%\n") == o.err, "%s", o.err);
    ck_assert_msg(strstr(o.err, "\nmemprof: allocated bytes grew 99.9% (262,276 B -> 524,420 B), "
                                "over --limit-increase 10%\n") != NULL, "%s", o.err);
    run_output_free(&o);
    /* Within the limit (and the other way round: shrinking passes). */
    ck_assert_int_eq(run_diff((char *[]){ "--limit-increase", "100", old_json, new_json, NULL }, &o), 0);
    ck_assert_uint_eq(o.err_len, 0);
    run_output_free(&o);
    ck_assert_int_eq(run_diff((char *[]){ new_json, old_json, "--limit-increase", "0", NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "size=262,144 B (-262,144 B), count=4 (+0), average=65,536 B\n") != NULL, "%s", o.out);
    run_output_free(&o);

    /* Metrics: the doubled line was freed, so it leaked nothing. */
    ck_assert_int_eq(run_diff((char *[]){ "--metric", "leaked", old_json, new_json, NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "  no line changed\n  3 allocating lines unchanged\n") != NULL, "%s", o.out);
    run_output_free(&o);
    ck_assert_int_eq(run_diff((char *[]){ "--metric=peak", old_json, new_json, NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "size=524,288 B (+262,144 B), count=4 (+0), average=131,072 B\n") != NULL, "%s",
                  o.out);
    run_output_free(&o);
    /* --precision with --stable reports: exact all the same (--stable wins) */
    ck_assert_int_eq(run_diff((char *[]){ "--precision", "3", old_json, new_json, NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "  peak heap: 524,388 B (+262,144 B, +100.0%)\n") != NULL, "%s", o.out);
    run_output_free(&o);
}
END_TEST

START_TEST(end_to_end_errors)
{
    require_diff_command();
    char bad[4096], good[4096];
    snprintf(bad, sizeof bad, "%s/diff_bad.json", test_tmp_dir());
    snprintf(good, sizeof good, "%s/diff_good.json", test_tmp_dir());
    FILE *f = fopen(bad, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\n  \"schema\": 1,\n  \"summary\": [oops\n", f);
    fclose(f);
    const char *app1 = build_fixture("tests/fixtures/diff_app.c", "gcc", "-O0 -g -DSCALE=1", "diff_app1");
    ck_assert_ptr_nonnull(app1);
    profile_to(app1, good);

    struct run_output o;
    ck_assert_int_eq(run_diff((char *[]){ good, bad, NULL }, &o), 1);
    ck_assert_msg(count_lines(o.err) == 1 && strncmp(o.err, "memprof: ", 9) == 0 && strstr(o.err, "diff_bad.json"),
                  "want one error line naming the file: %s", o.err);
    ck_assert_uint_eq(o.out_len, 0);
    run_output_free(&o);

    ck_assert_int_eq(run_diff((char *[]){ bad, good, "--limit-increase", "10", NULL }, &o), 1);
    ck_assert_msg(count_lines(o.err) == 1, "%s", o.err);
    run_output_free(&o);

    /* Usage: exit 2 with the usage line. */
    ck_assert_int_eq(run_diff((char *[]){ good, NULL }, &o), 2);
    ck_assert_msg(strstr(o.err, "usage: memprof diff OLD.json NEW.json") != NULL, "%s", o.err);
    run_output_free(&o);
    ck_assert_int_eq(run_diff((char *[]){ good, good, "--metric", "rss", NULL }, &o), 2);
    ck_assert_msg(strstr(o.err, "usage: memprof diff OLD.json NEW.json") != NULL, "%s", o.err);
    run_output_free(&o);
    ck_assert_int_eq(run_diff((char *[]){ "--help", NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "usage: memprof diff") != NULL, "%s", o.out);
    run_output_free(&o);

    /* A report against itself: nothing changed, no gate broken. */
    ck_assert_int_eq(run_diff((char *[]){ good, good, "--limit-increase", "0", NULL }, &o), 0);
    ck_assert_msg(strstr(o.out, "  no line changed\n  3 allocating lines unchanged\n") != NULL, "%s", o.out);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diff");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, full_report_text);
    tcase_add_test(tc, top_limits_the_lines);
    tcase_add_test(tc, same_profile_has_no_changes);
    tcase_add_test(tc, metric_allocated);
    tcase_add_test(tc, metric_peak);
    tcase_add_test(tc, metric_leaked);
    tcase_add_test(tc, peak_rss_missing_from_one_report);
    tcase_add_test(tc, moved_needs_one_line_in_each);
    tcase_add_test(tc, order_is_deterministic);
    tcase_add_test(tc, empty_profiles);
    suite_add_tcase(s, tc);
    tc = tcase_create("gate");
    tcase_add_test(tc, limit_gate);
    tcase_add_test(tc, limit_exactly_at_the_limit_passes);
    suite_add_tcase(s, tc);
    tc = tcase_create("command");
    tcase_add_test(tc, cmd_usage_errors);
    tcase_add_test(tc, cmd_missing_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("end_to_end");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, end_to_end);
    tcase_add_test(tc, end_to_end_errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
