/* memprof tests: mapped memory in the profile on its own (profile_mapped.c,
 * regions.c), fed with hand-made events: holes, heads and tails cut off,
 * an unmap across two mappings, a mapping over a counted one, mremap of a
 * counted and of an uncounted range, MREMAP_DONTUNMAP, and the peak of
 * heap + mapped with what each line held then.  Every number below follows
 * from the events by hand (the comments show the arithmetic). */
#define _GNU_SOURCE
#include "memprof/profile.h"
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define APP "/src/app.c"

/* PC 0x1000 + n is app.c line n (function "f"). */
static int resolve(void *ctx, uint64_t pc, int is_return, struct mp_frame_info *out, int max)
{
    (void)ctx, (void)is_return, (void)max;
    memset(out, 0, sizeof *out);
    out->function = "f";
    out->file = APP;
    out->line = (int)(pc - 0x1000);
    out->module = "/bin/app";
    out->func_file = APP;
    out->func_first_line = 1;
    out->func_last_line = 100;
    return 1;
}

static void ev(struct mp_profile *p, enum mp_event_kind kind, uint64_t addr, uint64_t size, int line, uint32_t flags)
{
    uint64_t frame = 0x1000 + (uint64_t)line;
    struct mp_event e = { .kind = kind, .tid = 7, .addr = addr, .size = size, .flags = flags,
                          .nframes = line ? 1 : 0, .frames = line ? &frame : NULL };
    ck_assert_int_eq(mp_profile_add(p, &e), 0);
}

static const struct mp_line_stats *line_of(const struct mp_profile *p, int line)
{
    for (size_t i = 0; i < mp_profile_line_count(p); i++)
        if (mp_profile_line(p, i)->line == line)
            return mp_profile_line(p, i);
    ck_abort_msg("line %d not in the profile", line);
    return NULL;
}

#define K 0x1000u

START_TEST(ranges)
{
    struct mp_profile *p = mp_profile_new(resolve, NULL);
    ev(p, MP_EV_MAP, 0x100000, 4 * K, 1, 0);   /* A: [0x100000, 0x104000) line 1 */
    ev(p, MP_EV_MAP, 0x200000, 2 * K, 2, 0);   /* B: [0x200000, 0x202000) line 2 */
    ev(p, MP_EV_UNMAP, 0x101000, K, 0, 0);     /* a hole: A keeps 3 K in two pieces */
    ev(p, MP_EV_UNMAP, 0x100000, K, 0, 0);     /* A's head: 2 K left, [0x102000, 0x104000) */
    ev(p, MP_EV_UNMAP, 0x103000, 0xfe000, 0, 0); /* to 0x201000: A's last K and B's first */
    ev(p, MP_EV_UNMAP, 0x300000, K, 0, 0);     /* nothing counted there: not an unmap call */
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->map_calls, 2);
    ck_assert_uint_eq(t->mapped_bytes, 6 * K);
    ck_assert_uint_eq(t->unmap_calls, 3);
    ck_assert_uint_eq(t->unmapped_bytes, 4 * K);
    ck_assert_uint_eq(t->mapped_live_bytes, 2 * K);     /* A [0x102000, 0x103000), B [0x201000, 0x202000) */
    ck_assert_uint_eq(line_of(p, 1)->mapped_live_bytes, K);
    ck_assert_uint_eq(line_of(p, 1)->unmapped_bytes, 3 * K);
    ck_assert_uint_eq(line_of(p, 2)->mapped_live_bytes, K);
    ck_assert_uint_eq(t->peak_mapped_bytes, 6 * K);
    /* a MAP_FIXED-style mapping over A's piece: that piece goes (unmapped, no call) */
    ev(p, MP_EV_MAP, 0x102000, 2 * K, 3, 0);   /* line 3: [0x102000, 0x104000) */
    ck_assert_uint_eq(line_of(p, 1)->mapped_live_bytes, 0);
    ck_assert_uint_eq(t->unmap_calls, 3);
    ck_assert_uint_eq(t->mapped_live_bytes, 3 * K);
    /* mremap of an uncounted range (a file mapping): the new one is not counted */
    ev(p, MP_EV_REMAP_FROM, 0x400000, K, 0, 0);
    ev(p, MP_EV_REMAP_TO, 0x500000, 8 * K, 4, 0);
    ck_assert_uint_eq(t->mapped_live_bytes, 3 * K);
    ck_assert_uint_eq(t->map_calls, 3);
    /* mremap of B's remaining K to 5 K elsewhere: B's K unmapped, line 5 maps 5 K */
    ev(p, MP_EV_REMAP_FROM, 0x201000, K, 0, 0);
    ev(p, MP_EV_REMAP_TO, 0x600000, 5 * K, 5, 0);
    ck_assert_uint_eq(line_of(p, 2)->mapped_live_bytes, 0);
    ck_assert_uint_eq(line_of(p, 5)->mapped_bytes, 5 * K);
    ck_assert_uint_eq(t->mapped_live_bytes, 7 * K);     /* line 3's 2 K + line 5's 5 K */
    ck_assert_uint_eq(t->peak_mapped_bytes, 7 * K);
    /* MREMAP_DONTUNMAP: the old range stays, the new one counts too */
    ev(p, MP_EV_REMAP_FROM, 0x600000, 5 * K, 0, MP_EV_F_DONTUNMAP);
    ev(p, MP_EV_REMAP_TO, 0x700000, 5 * K, 6, 0);
    ck_assert_uint_eq(t->mapped_live_bytes, 12 * K);
    ck_assert_uint_eq(t->map_calls, 5);
    mp_profile_free(p);
}
END_TEST

START_TEST(peak_of_heap_and_mapped)
{
    struct mp_profile *p = mp_profile_new(resolve, NULL);
    ev(p, MP_EV_ALLOC, 0x10, 5000, 10, 0);     /* heap 5000 */
    ev(p, MP_EV_FREE, 0x10, 0, 0, 0);          /* heap 0: its peak stays 5000 */
    ev(p, MP_EV_MAP, 0x100000, 2 * K, 11, 0);  /* mapped 8192 */
    ev(p, MP_EV_ALLOC, 0x20, 1000, 12, 0);     /* 1000 + 8192 = 9192: the peak of both */
    ev(p, MP_EV_UNMAP, 0x100000, 2 * K, 0, 0); /* 1000 */
    ev(p, MP_EV_ALLOC, 0x30, 6000, 13, 0);     /* heap 7000: a new heap peak, both 7000 */
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->peak_heap_bytes, 7000);
    ck_assert_uint_eq(t->peak_total_bytes, 9192);
    ck_assert_uint_eq(t->peak_total_mapped_bytes, 8192);
    ck_assert_uint_eq(t->peak_mapped_bytes, 8192);
    /* what each line held at the peak of both, and at the heap's peak */
    ck_assert_uint_eq(line_of(p, 10)->peak_total_bytes, 0);
    ck_assert_uint_eq(line_of(p, 11)->peak_total_bytes, 8192);
    ck_assert_uint_eq(line_of(p, 11)->peak_total_mapped_bytes, 8192);
    ck_assert_uint_eq(line_of(p, 12)->peak_total_bytes, 1000);
    ck_assert_uint_eq(line_of(p, 13)->peak_total_bytes, 0);
    ck_assert_uint_eq(line_of(p, 12)->peak_bytes, 1000);
    ck_assert_uint_eq(line_of(p, 13)->peak_bytes, 6000);
    ck_assert_uint_eq(line_of(p, 10)->peak_bytes, 0);
    /* the stack that reached it: line 12's allocation */
    ck_assert_uint_ne(t->peak_total_stack, UINT32_MAX);
    ck_assert_int_eq(mp_profile_line(p, mp_profile_stack(p, t->peak_total_stack)->self_line)->line, 12);
    mp_profile_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regions");
    TCase *tc = tcase_create("regions");
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, peak_of_heap_and_mapped);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
