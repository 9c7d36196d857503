/* memprof tests: the profile on its own, fed with hand-made events and a fake
 * resolver: attribution (self / inclusive), valgrind-style counting, live
 * blocks, totals, per-line high-water marks, reset, and a long random run
 * checked against a shadow model. */
#define _GNU_SOURCE
#include "memprof/profile.h"

#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The fake resolver                                                          */
/* ------------------------------------------------------------------------ */

#define APP "/src/app.c"
#define LIBC "/lib/libc.so.6"
#define EXE "/usr/bin/app"

struct fake_pc {
    uint64_t pc;
    int n;
    struct mp_frame_info f[3];
};

static const struct fake_pc fake_table[] = {
    /* a plain user frame */
    { 0x1000, 1, { { "leaf", APP, 10, EXE, 0, APP, 8, 14 } } },
    /* an inline chain: helper (inlined, innermost) inside caller */
    { 0x2000, 2, { { "helper", APP, 20, EXE, 0, APP, 18, 22 },
                   { "caller", APP, 31, EXE, 0, APP, 29, 35 } } },
    /* a runtime frame with a name, no line info */
    { 0x3000, 1, { { "xmalloc_internal", NULL, 0, LIBC, 1, NULL, 0, 0 } } },
    /* a runtime frame without a name */
    { 0x3100, 1, { { "libc.so.6+0x1234", NULL, 0, LIBC, 1, NULL, 0, 0 } } },
    /* a runtime frame in a system header (has a file, so it has a name) */
    { 0x3200, 1, { { "std::vector<int>::push_back", "/usr/include/c++/12/bits/stl_vector.h", 1287,
                     EXE, 1, "/usr/include/c++/12/bits/stl_vector.h", 1280, 1300 } } },
    /* a user frame without debug info */
    { 0x4000, 1, { { "mod+0x40", NULL, 0, EXE, 0, NULL, 0, 0 } } },
    /* main, two lines */
    { 0x5000, 1, { { "main", APP, 50, EXE, 0, APP, 45, 60 } } },
    { 0x5001, 1, { { "main", APP, 52, EXE, 0, APP, 45, 60 } } },
    /* a recursive function */
    { 0x6000, 1, { { "rec", APP, 70, EXE, 0, APP, 68, 75 } } },
};

/* PCs in [GEN_BASE, GEN_BASE + 0x100000) resolve to /src/gen.c, function "gen",
 * line (pc - GEN_BASE) % GEN_LINES + 1: lots of distinct stacks sharing lines. */
#define GEN_BASE 0x100000u
#define GEN_LINES 500

#define MAX_PCS 4096
static struct {
    unsigned calls;             /* resolver calls since the last reset_counts() */
    unsigned bad_flag;          /* calls with is_return_address == 0 */
    uint64_t pcs[MAX_PCS];      /* PCs asked, in order (first MAX_PCS) */
} rs;

static void reset_counts(void)
{
    memset(&rs, 0, sizeof rs);
}

static int fake_resolve(void *ctx, uint64_t pc, int is_return_address, struct mp_frame_info *out, int max)
{
    (void)ctx;
    if (rs.calls < MAX_PCS)
        rs.pcs[rs.calls] = pc;
    rs.calls++;
    if (!is_return_address)
        rs.bad_flag++;
    ck_assert_int_ge(max, 1);
    for (size_t i = 0; i < sizeof fake_table / sizeof *fake_table; i++) {
        if (fake_table[i].pc != pc)
            continue;
        int n = fake_table[i].n < max ? fake_table[i].n : max;
        memcpy(out, fake_table[i].f, (size_t)n * sizeof *out);
        return n;
    }
    if (pc >= GEN_BASE && pc < GEN_BASE + 0x100000u) {
        out[0] = (struct mp_frame_info){ "gen", "/src/gen.c", (int)((pc - GEN_BASE) % GEN_LINES) + 1, EXE, 0,
                                          "/src/gen.c", 1, GEN_LINES };
        return 1;
    }
    /* Unknown PC: what a real symbolizer gives without a module. */
    static char name[64];
    snprintf(name, sizeof name, "[unknown]+0x%llx", (unsigned long long)pc);
    out[0] = (struct mp_frame_info){ name, NULL, 0, "[unknown]", 0, NULL, 0, 0 };
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */
/* ------------------------------------------------------------------------ */

static struct mp_profile *new_profile(void)
{
    reset_counts();
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void alloc_ev(struct mp_profile *p, uint32_t tid, uint64_t addr, uint64_t size, const uint64_t *frames,
                     uint32_t n, int truncated)
{
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = tid, .addr = addr, .size = size, .nframes = n,
                           .truncated = (uint32_t)truncated, .frames = frames };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

static void free_ev(struct mp_profile *p, uint32_t tid, uint64_t addr)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = tid, .addr = addr };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

#define ALLOC(p, addr, size, ...)                                                                   \
    do {                                                                                           \
        static const uint64_t fr_[] = { __VA_ARGS__ };                                            \
        alloc_ev((p), 1, (addr), (size), fr_, (uint32_t)(sizeof fr_ / sizeof *fr_), 0);            \
    } while (0)
#define ALLOC_T(p, tid, addr, size, ...)                                                           \
    do {                                                                                           \
        static const uint64_t fr_[] = { __VA_ARGS__ };                                            \
        alloc_ev((p), (tid), (addr), (size), fr_, (uint32_t)(sizeof fr_ / sizeof *fr_), 0);        \
    } while (0)

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The line record for (file, line, function), or NULL. */
static const struct mp_line_stats *find_line(const struct mp_profile *p, const char *file, int line,
                                             const char *function)
{
    const struct mp_line_stats *found = NULL;
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (str_eq(l->file, file) && l->line == line && str_eq(l->function, function)) {
            ck_assert_msg(found == NULL, "two records for %s:%d %s", file ? file : "-", line, function);
            found = l;
        }
    }
    return found;
}

static const struct mp_line_stats *must_line(const struct mp_profile *p, const char *file, int line,
                                             const char *function)
{
    const struct mp_line_stats *l = find_line(p, file, line, function);
    ck_assert_msg(l != NULL, "no line record for %s:%d %s", file ? file : "-", line, function);
    return l;
}

/* Self counters of a line: alloc_calls, allocated_bytes, free_calls, freed_bytes. */
#define CK_SELF(l, ac, ab, fc, fb)                                                                 \
    do {                                                                                           \
        const struct mp_line_stats *l_ = (l);                                                      \
        ck_assert_uint_eq(l_->alloc_calls, (ac));                                                  \
        ck_assert_uint_eq(l_->allocated_bytes, (ab));                                              \
        ck_assert_uint_eq(l_->free_calls, (fc));                                                   \
        ck_assert_uint_eq(l_->freed_bytes, (fb));                                                  \
    } while (0)
/* Inclusive counters: calls, bytes, freed bytes, live bytes, max live bytes.
 * Read through mp_profile_line (the profile `p`'s line records are brought
 * up to date when they are read after events, not at each event). */
#define CK_INCL(l, c, b, fb, live, maxlive)                                                        \
    do {                                                                                           \
        const struct mp_line_stats *l_ = mp_profile_line(p, mp_profile_line_index(p, (l)));        \
        ck_assert_uint_eq(l_->incl_calls, (c));                                                    \
        ck_assert_uint_eq(l_->incl_bytes, (b));                                                    \
        ck_assert_uint_eq(l_->incl_freed_bytes, (fb));                                             \
        ck_assert_uint_eq(l_->incl_live_bytes, (live));                                            \
        ck_assert_uint_eq(l_->incl_max_live_bytes, (maxlive));                                     \
    } while (0)

struct exp_totals {
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes, live_bytes, live_blocks, peak_heap_bytes,
        unknown_frees, reused_live_blocks, truncated_stacks;
};

static void check_totals(const struct mp_profile *p, struct exp_totals e)
{
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->alloc_calls, e.alloc_calls);
    ck_assert_uint_eq(t->allocated_bytes, e.allocated_bytes);
    ck_assert_uint_eq(t->free_calls, e.free_calls);
    ck_assert_uint_eq(t->freed_bytes, e.freed_bytes);
    ck_assert_uint_eq(t->live_bytes, e.live_bytes);
    ck_assert_uint_eq(t->live_blocks, e.live_blocks);
    ck_assert_uint_eq(t->peak_heap_bytes, e.peak_heap_bytes);
    ck_assert_uint_eq(t->unknown_frees, e.unknown_frees);
    ck_assert_uint_eq(t->reused_live_blocks, e.reused_live_blocks);
    ck_assert_uint_eq(t->truncated_stacks, e.truncated_stacks);
}

/* Self counters of all lines add up to the totals (profile.h's promise). */
static void check_self_sums(const struct mp_profile *p)
{
    uint64_t ac = 0, ab = 0, fc = 0, fb = 0;
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        ac += l->alloc_calls;
        ab += l->allocated_bytes;
        fc += l->free_calls;
        fb += l->freed_bytes;
    }
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(ac, t->alloc_calls);
    ck_assert_uint_eq(ab, t->allocated_bytes);
    ck_assert_uint_eq(fc, t->free_calls);
    ck_assert_uint_eq(fb, t->freed_bytes);
}

/* ------------------------------------------------------------------------ */
/* Attribution                                                                */
/* ------------------------------------------------------------------------ */

START_TEST(self_and_inclusive_attribution)
{
    struct mp_profile *p = new_profile();
    /* leaf:10 <- main:50 */
    ALLOC(p, 0xa0, 100, 0x1000, 0x5000);
    /* runtime <- leaf:10 <- main:50: the runtime frame is skipped */
    ALLOC(p, 0xb0, 50, 0x3000, 0x1000, 0x5000);
    /* helper:20 (inlined in caller:31) <- main:52 */
    ALLOC(p, 0xc0, 30, 0x2000, 0x5001);
    /* no-debug user frame <- main:50 */
    ALLOC(p, 0xd0, 7, 0x4000, 0x5000);

    ck_assert_uint_eq(rs.calls, 2 + 3 + 2 + 2);
    ck_assert_uint_eq(rs.bad_flag, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 4);

    const struct mp_line_stats *leaf = must_line(p, APP, 10, "leaf");
    const struct mp_line_stats *main50 = must_line(p, APP, 50, "main");
    const struct mp_line_stats *main52 = must_line(p, APP, 52, "main");
    const struct mp_line_stats *helper = must_line(p, APP, 20, "helper");
    const struct mp_line_stats *caller = must_line(p, APP, 31, "caller");
    const struct mp_line_stats *nodbg = must_line(p, NULL, 0, "mod+0x40");

    CK_SELF(leaf, 2, 150, 0, 0);
    CK_INCL(leaf, 2, 150, 0, 150, 150);
    CK_SELF(main50, 0, 0, 0, 0);
    CK_INCL(main50, 3, 157, 0, 157, 157);
    CK_SELF(helper, 1, 30, 0, 0);
    CK_INCL(helper, 1, 30, 0, 30, 30);
    CK_SELF(caller, 0, 0, 0, 0);
    CK_INCL(caller, 1, 30, 0, 30, 30);
    CK_SELF(main52, 0, 0, 0, 0);
    CK_INCL(main52, 1, 30, 0, 30, 30);
    CK_SELF(nodbg, 1, 7, 0, 0);
    CK_INCL(nodbg, 1, 7, 0, 7, 7);
    ck_assert_str_eq(nodbg->module, EXE);

    /* The runtime frame never carries anything. */
    const struct mp_line_stats *rt = find_line(p, NULL, 0, "xmalloc_internal");
    if (rt) {
        CK_SELF(rt, 0, 0, 0, 0);
        CK_INCL(rt, 0, 0, 0, 0, 0);
    }

    /* What the tables need is copied from the frame. */
    ck_assert_str_eq(leaf->func_file, APP);
    ck_assert_int_eq(leaf->func_first_line, 8);
    ck_assert_int_eq(leaf->func_last_line, 14);
    ck_assert_str_eq(caller->func_file, APP);
    ck_assert_int_eq(caller->func_first_line, 29);
    ck_assert_int_eq(caller->func_last_line, 35);
    ck_assert_int_eq(helper->func_first_line, 18);
    ck_assert_int_eq(helper->func_last_line, 22);

    check_totals(p, (struct exp_totals){ .alloc_calls = 4, .allocated_bytes = 187, .live_bytes = 187,
                                         .live_blocks = 4, .peak_heap_bytes = 187 });
    check_self_sums(p);

    /* Frees: counted on the allocating line (self) and released from every inclusive line. */
    free_ev(p, 1, 0xb0);
    free_ev(p, 1, 0xc0);
    CK_SELF(leaf, 2, 150, 1, 50);
    CK_INCL(leaf, 2, 150, 50, 100, 150);
    CK_INCL(main50, 3, 157, 50, 107, 157);
    CK_SELF(helper, 1, 30, 1, 30);
    CK_INCL(helper, 1, 30, 30, 0, 30);
    CK_INCL(caller, 1, 30, 30, 0, 30);
    CK_INCL(main52, 1, 30, 30, 0, 30);
    check_totals(p, (struct exp_totals){ .alloc_calls = 4, .allocated_bytes = 187, .free_calls = 2,
                                         .freed_bytes = 80, .live_bytes = 107, .live_blocks = 2,
                                         .peak_heap_bytes = 187 });
    check_self_sums(p);
    ck_assert_uint_eq(rs.calls, 9); /* frees resolve nothing */
    mp_profile_free(p);
}
END_TEST

START_TEST(recursion_counts_a_line_once)
{
    struct mp_profile *p = new_profile();
    /* rec:70 <- rec:70 <- rec:70 <- main:50 */
    ALLOC(p, 0x10, 40, 0x6000, 0x6000, 0x6000, 0x5000);
    ALLOC(p, 0x20, 2, 0x6000, 0x6000, 0x6000, 0x5000);
    /* helper inlined in caller, with caller recursing through helper again */
    ALLOC(p, 0x30, 5, 0x2000, 0x2000, 0x5000);
    const struct mp_line_stats *rec = must_line(p, APP, 70, "rec");
    const struct mp_line_stats *main50 = must_line(p, APP, 50, "main");
    CK_SELF(rec, 2, 42, 0, 0);
    CK_INCL(rec, 2, 42, 0, 42, 42);
    CK_INCL(main50, 3, 47, 0, 47, 47);
    CK_SELF(must_line(p, APP, 20, "helper"), 1, 5, 0, 0);
    CK_INCL(must_line(p, APP, 20, "helper"), 1, 5, 0, 5, 5);
    CK_INCL(must_line(p, APP, 31, "caller"), 1, 5, 0, 5, 5);
    free_ev(p, 1, 0x10);
    CK_INCL(rec, 2, 42, 40, 2, 42);
    CK_INCL(main50, 3, 47, 40, 7, 47);
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

START_TEST(each_stack_resolved_once)
{
    struct mp_profile *p = new_profile();
    for (int i = 0; i < 1000; i++)
        ALLOC(p, 0x1000000 + (uint64_t)i * 16, 8, 0x1000, 0x5000);
    ck_assert_uint_eq(rs.calls, 2);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 1);
    /* A prefix of a known stack is a different stack. */
    ALLOC(p, 0x50, 8, 0x1000);
    ck_assert_uint_eq(rs.calls, 3);
    ck_assert_uint_eq(rs.pcs[2], 0x1000);
    /* So is a longer one, and the same PCs in another order. */
    ALLOC(p, 0x60, 8, 0x1000, 0x5000, 0x5001);
    ALLOC(p, 0x70, 8, 0x5000, 0x1000);
    ck_assert_uint_eq(rs.calls, 3 + 3 + 2);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 4);
    /* Seen again: nothing resolved. */
    ALLOC(p, 0x80, 8, 0x1000);
    ALLOC(p, 0x90, 8, 0x1000, 0x5000, 0x5001);
    ALLOC(p, 0xa0, 8, 0x5000, 0x1000);
    ck_assert_uint_eq(rs.calls, 8);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 4);
    /* leaf:10 is the self line of all of them except the reversed stack */
    CK_SELF(must_line(p, APP, 10, "leaf"), 1000 + 1 + 1 + 1 + 1, 8 * 1004, 0, 0);
    CK_SELF(must_line(p, APP, 50, "main"), 2, 16, 0, 0);
    ck_assert_uint_eq(rs.bad_flag, 0);
    mp_profile_free(p);
}
END_TEST

/* An engine that names stacks (the agent's stack ids) hands the profile a
 * word per name (mp_event.stack_memo): an allocation with a filled word is
 * not hashed again, and the word is trusted only by the profile that filled
 * it, and only until code is forgotten (dlclose: the same frames are a new
 * stack from then on). */
static void alloc_memo(struct mp_profile *p, uint64_t addr, const uint64_t *frames, uint32_t n, uint64_t *memo)
{
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = 1, .addr = addr, .size = 8, .nframes = n, .frames = frames,
                           .stack_memo = memo };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

START_TEST(stack_memo_names_a_stack_until_voided)
{
    static const uint64_t a[] = { 0x1000, 0x5000 }, b[] = { 0x5000, 0x1000 };
    uint64_t memo = 0;
    struct mp_profile *p1 = new_profile();
    alloc_memo(p1, 0x100, a, 2, &memo);
    ck_assert_uint_ne(memo, 0);
    alloc_memo(p1, 0x110, a, 2, &memo);
    ck_assert_uint_eq(mp_profile_totals(p1)->distinct_stacks, 1);
    ck_assert_uint_eq(mp_profile_stack(p1, 0)->alloc_calls, 2);
    ck_assert_uint_eq(rs.calls, 2);
    /* Another profile: its stack 0 is b; p1's word for a must not name it. */
    struct mp_profile *p2 = new_profile();
    alloc_memo(p2, 0x100, b, 2, NULL);
    alloc_memo(p2, 0x110, a, 2, &memo);
    ck_assert_uint_eq(mp_profile_totals(p2)->distinct_stacks, 2);
    ck_assert_uint_eq(mp_profile_stack(p2, 0)->alloc_calls, 1);
    ck_assert_uint_eq(mp_profile_stack(p2, 1)->alloc_calls, 1);
    /* p1 again, with the word p2 wrote: a is still its stack 0. */
    alloc_memo(p1, 0x120, a, 2, &memo);
    ck_assert_uint_eq(mp_profile_totals(p1)->distinct_stacks, 1);
    ck_assert_uint_eq(mp_profile_stack(p1, 0)->alloc_calls, 3);
    /* The code at 0x5000 is gone: the same frames are a new stack. */
    mp_profile_forget_code(p1, 0x4000, 0x6000);
    alloc_memo(p1, 0x130, a, 2, &memo);
    ck_assert_uint_eq(mp_profile_totals(p1)->distinct_stacks, 2);
    ck_assert_uint_eq(mp_profile_stack(p1, 0)->alloc_calls, 3);
    ck_assert_uint_eq(mp_profile_stack(p1, 1)->alloc_calls, 1);
    ck_assert_uint_eq(mp_profile_totals(p1)->live_blocks, 4);
    mp_profile_free(p1);
    mp_profile_free(p2);
}
END_TEST

/* A new stack resolves each distinct PC at most once, even when it repeats
 * (recursion): the resolver is the expensive part. */
START_TEST(repeated_pc_in_a_new_stack_resolved_once)
{
    struct mp_profile *p = new_profile();
    ALLOC(p, 0x10, 40, 0x6000, 0x6000, 0x6000, 0x6000, 0x5000);
    unsigned n6000 = 0;
    for (unsigned i = 0; i < rs.calls; i++)
        n6000 += rs.pcs[i] == 0x6000;
    ck_assert_msg(n6000 <= 1, "PC 0x6000 resolved %u times for one new stack", n6000);
    ck_assert_uint_eq(rs.calls, 2);
    mp_profile_free(p);
}
END_TEST

START_TEST(no_user_frame_goes_to_innermost_named_frame)
{
    struct mp_profile *p = new_profile();
    /* unnamed runtime <- named runtime <- unnamed runtime */
    ALLOC(p, 0x10, 64, 0x3100, 0x3000, 0x3100);
    const struct mp_line_stats *named = must_line(p, NULL, 0, "xmalloc_internal");
    CK_SELF(named, 1, 64, 0, 0);
    CK_INCL(named, 1, 64, 0, 64, 64);
    const struct mp_line_stats *unnamed = find_line(p, NULL, 0, "libc.so.6+0x1234");
    if (unnamed) {
        CK_SELF(unnamed, 0, 0, 0, 0);
        CK_INCL(unnamed, 0, 0, 0, 0, 0);
    }
    /* a system-header frame has a file, hence a name */
    ALLOC(p, 0x20, 16, 0x3100, 0x3200, 0x3000);
    const struct mp_line_stats *hdr =
        must_line(p, "/usr/include/c++/12/bits/stl_vector.h", 1287, "std::vector<int>::push_back");
    CK_SELF(hdr, 1, 16, 0, 0);
    CK_INCL(hdr, 1, 16, 0, 16, 16);
    CK_SELF(named, 1, 64, 0, 0);
    /* only unnamed frames: the innermost one */
    ALLOC(p, 0x30, 8, 0x3100);
    unnamed = must_line(p, NULL, 0, "libc.so.6+0x1234");
    CK_SELF(unnamed, 1, 8, 0, 0);
    CK_INCL(unnamed, 1, 8, 0, 8, 8);
    free_ev(p, 1, 0x10);
    CK_SELF(named, 1, 64, 1, 64);
    CK_INCL(named, 1, 64, 64, 0, 64);
    check_totals(p, (struct exp_totals){ .alloc_calls = 3, .allocated_bytes = 88, .free_calls = 1,
                                         .freed_bytes = 64, .live_bytes = 24, .live_blocks = 2,
                                         .peak_heap_bytes = 88 });
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

START_TEST(empty_stack_is_unknown)
{
    struct mp_profile *p = new_profile();
    static const uint64_t none[1] = { 0 };
    alloc_ev(p, 1, 0x10, 100, none, 0, 0);
    alloc_ev(p, 2, 0x20, 20, none, 0, 1);
    ck_assert_uint_eq(rs.calls, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 1);
    ck_assert_uint_eq(mp_profile_line_count(p), 1);
    const struct mp_line_stats *u = must_line(p, NULL, 0, "[unknown]");
    CK_SELF(u, 2, 120, 0, 0);
    CK_INCL(u, 2, 120, 0, 120, 120);
    free_ev(p, 1, 0x20);
    CK_SELF(u, 2, 120, 1, 20);
    CK_INCL(u, 2, 120, 20, 100, 120);
    check_totals(p, (struct exp_totals){ .alloc_calls = 2, .allocated_bytes = 120, .free_calls = 1,
                                         .freed_bytes = 20, .live_bytes = 100, .live_blocks = 1,
                                         .peak_heap_bytes = 120, .truncated_stacks = 1 });
    mp_profile_free(p);
}
END_TEST

/* nframes 0 with frames == NULL is a valid empty stack too: no undefined
 * behaviour (memcpy/memcmp with a NULL pointer) allowed. */
START_TEST(empty_stack_with_null_frames)
{
    struct mp_profile *p = new_profile();
    alloc_ev(p, 1, 0x10, 100, NULL, 0, 0);
    alloc_ev(p, 1, 0x20, 20, NULL, 0, 0);
    ck_assert_uint_eq(rs.calls, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 1);
    CK_SELF(must_line(p, NULL, 0, "[unknown]"), 2, 120, 0, 0);
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Counting                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(valgrind_counting_and_realloc)
{
    struct mp_profile *p = new_profile();
    ALLOC(p, 0xA, 100, 0x1000, 0x5000); /* malloc(100) = A  (leaf:10) */
    free_ev(p, 1, 0xA);                  /* free(A) */
    ALLOC(p, 0xA, 200, 0x4000, 0x5000); /* malloc(200) = A again (mod+0x40) */
    /* realloc(A, 300) = B: FREE A + ALLOC B  (helper:20) */
    free_ev(p, 1, 0xA);
    ALLOC(p, 0xB, 300, 0x2000, 0x5001);
    /* realloc(B, 0): FREE B */
    free_ev(p, 1, 0xB);
    /* realloc(NULL, 40) = C (leaf:10) */
    ALLOC(p, 0xC, 40, 0x1000, 0x5000);
    check_totals(p, (struct exp_totals){ .alloc_calls = 4, .allocated_bytes = 640, .free_calls = 3,
                                         .freed_bytes = 600, .live_bytes = 40, .live_blocks = 1,
                                         .peak_heap_bytes = 300 });
    CK_SELF(must_line(p, APP, 10, "leaf"), 2, 140, 1, 100);
    CK_SELF(must_line(p, NULL, 0, "mod+0x40"), 1, 200, 1, 200);
    CK_SELF(must_line(p, APP, 20, "helper"), 1, 300, 1, 300);
    /* main:50 held 100, then 200, then 40: its high-water mark is 200 */
    CK_INCL(must_line(p, APP, 50, "main"), 3, 340, 300, 40, 200);
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

/* Thread 1: p = malloc(50) -> A; q = realloc(p, 200) -> B (FREE A, ALLOC B).
 * Thread 2: r = malloc(100) -> A (reusing A after thread 1 released it).
 * Both free at the end.  Order 1: the events arrive in real order. */
START_TEST(two_threads_reuse_an_address_in_order)
{
    struct mp_profile *p = new_profile();
    ALLOC_T(p, 1, 0xA, 50, 0x1000, 0x5000);  /* T1 malloc(50) = A  (leaf:10) */
    free_ev(p, 1, 0xA);                       /* T1 realloc part 1 */
    ALLOC_T(p, 2, 0xA, 100, 0x2000, 0x5001); /* T2 malloc(100) = A (helper:20) */
    ALLOC_T(p, 1, 0xB, 200, 0x1000, 0x5000); /* T1 realloc part 2 = B */
    free_ev(p, 2, 0xA);
    free_ev(p, 1, 0xB);
    /* live: 50, 0, 100, 300, 200, 0 */
    check_totals(p, (struct exp_totals){ .alloc_calls = 3, .allocated_bytes = 350, .free_calls = 3,
                                         .freed_bytes = 350, .live_bytes = 0, .live_blocks = 0,
                                         .peak_heap_bytes = 300 });
    CK_SELF(must_line(p, APP, 10, "leaf"), 2, 250, 2, 250);
    CK_SELF(must_line(p, APP, 20, "helper"), 1, 100, 1, 100);
    /* leaf:10 held 50, 0, 200, 0 */
    CK_INCL(must_line(p, APP, 10, "leaf"), 2, 250, 250, 0, 200);
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

/* Order 2: thread 2's ALLOC of A is delivered before thread 1's FREE of A.
 * The profile sees an allocation at a live address (the old block is dropped
 * without counting a free), then the FREE releases thread 2's block, and
 * thread 2's own FREE later is unknown. */
START_TEST(two_threads_reuse_an_address_out_of_order)
{
    struct mp_profile *p = new_profile();
    ALLOC_T(p, 1, 0xA, 50, 0x1000, 0x5000);  /* live 50 */
    ALLOC_T(p, 2, 0xA, 100, 0x2000, 0x5001); /* reused: live 100 */
    free_ev(p, 1, 0xA);                       /* frees the 100-byte block: live 0 */
    ALLOC_T(p, 1, 0xB, 200, 0x1000, 0x5000); /* live 200 */
    free_ev(p, 2, 0xA);                       /* unknown */
    free_ev(p, 1, 0xB);                       /* live 0 */
    check_totals(p, (struct exp_totals){ .alloc_calls = 3, .allocated_bytes = 350, .free_calls = 2,
                                         .freed_bytes = 300, .live_bytes = 0, .live_blocks = 0,
                                         .peak_heap_bytes = 200, .unknown_frees = 1,
                                         .reused_live_blocks = 1 });
    /* leaf:10 allocated 50 + 200; only the 200 was freed through a FREE */
    CK_SELF(must_line(p, APP, 10, "leaf"), 2, 250, 1, 200);
    CK_INCL(must_line(p, APP, 10, "leaf"), 2, 250, 200, 0, 200);
    CK_SELF(must_line(p, APP, 20, "helper"), 1, 100, 1, 100);
    CK_INCL(must_line(p, APP, 20, "helper"), 1, 100, 100, 0, 100);
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

START_TEST(unknown_free_changes_nothing_else)
{
    struct mp_profile *p = new_profile();
    free_ev(p, 1, 0x1234); /* on an empty profile */
    check_totals(p, (struct exp_totals){ .unknown_frees = 1 });
    ck_assert_uint_eq(mp_profile_line_count(p), 0);

    ALLOC(p, 0x10, 100, 0x1000, 0x5000);
    ALLOC(p, 0x20, 30, 0x2000, 0x5001);
    free_ev(p, 1, 0x20);

    struct mp_totals before = *mp_profile_totals(p);
    size_t n = mp_profile_line_count(p);
    struct mp_line_stats *lines = malloc(n * sizeof *lines);
    ck_assert_ptr_nonnull(lines);
    for (size_t i = 0; i < n; i++)
        lines[i] = *mp_profile_line(p, i);

    free_ev(p, 1, 0x20);      /* double free */
    free_ev(p, 1, 0x11);      /* inside a live block, not its start */
    free_ev(p, 1, 0xdead0);   /* never seen */
    free_ev(p, 3, 0);         /* NULL (engines drop it, but be safe) */

    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->unknown_frees, before.unknown_frees + 4);
    struct mp_totals after = *t;
    after.unknown_frees = before.unknown_frees;
    ck_assert(memcmp(&after, &before, sizeof before) == 0);
    ck_assert_uint_eq(mp_profile_line_count(p), n);
    for (size_t i = 0; i < n; i++)
        ck_assert(memcmp(mp_profile_line(p, i), &lines[i], sizeof lines[i]) == 0);
    free(lines);

    check_totals(p, (struct exp_totals){ .alloc_calls = 2, .allocated_bytes = 130, .free_calls = 1,
                                         .freed_bytes = 30, .live_bytes = 100, .live_blocks = 1,
                                         .peak_heap_bytes = 130, .unknown_frees = 5 });
    mp_profile_free(p);
}
END_TEST

START_TEST(alloc_at_live_address_releases_old_block)
{
    struct mp_profile *p = new_profile();
    ALLOC(p, 0xA, 100, 0x1000, 0x5000); /* leaf:10, main:50 */
    ALLOC(p, 0xA, 40, 0x2000, 0x5001);  /* a free memprof never saw */
    check_totals(p, (struct exp_totals){ .alloc_calls = 2, .allocated_bytes = 140, .live_bytes = 40,
                                         .live_blocks = 1, .peak_heap_bytes = 100,
                                         .reused_live_blocks = 1 });
    const struct mp_line_stats *leaf = must_line(p, APP, 10, "leaf");
    const struct mp_line_stats *main50 = must_line(p, APP, 50, "main");
    const struct mp_line_stats *helper = must_line(p, APP, 20, "helper");
    CK_SELF(leaf, 1, 100, 0, 0);
    CK_INCL(leaf, 1, 100, 0, 0, 100);
    CK_INCL(main50, 1, 100, 0, 0, 100);
    CK_SELF(helper, 1, 40, 0, 0);
    CK_INCL(helper, 1, 40, 0, 40, 40);
    /* The FREE now releases the new block, charged to helper. */
    free_ev(p, 1, 0xA);
    CK_SELF(leaf, 1, 100, 0, 0);
    CK_SELF(helper, 1, 40, 1, 40);
    CK_INCL(helper, 1, 40, 40, 0, 40);
    check_totals(p, (struct exp_totals){ .alloc_calls = 2, .allocated_bytes = 140, .free_calls = 1,
                                         .freed_bytes = 40, .live_bytes = 0, .live_blocks = 0,
                                         .peak_heap_bytes = 100, .reused_live_blocks = 1 });
    /* Same address, same stack, twice in a row. */
    ALLOC(p, 0xA, 10, 0x1000, 0x5000);
    ALLOC(p, 0xA, 20, 0x1000, 0x5000);
    CK_SELF(leaf, 3, 130, 0, 0);
    CK_INCL(leaf, 3, 130, 0, 20, 100);
    check_totals(p, (struct exp_totals){ .alloc_calls = 4, .allocated_bytes = 170, .free_calls = 1,
                                         .freed_bytes = 40, .live_bytes = 20, .live_blocks = 1,
                                         .peak_heap_bytes = 100, .reused_live_blocks = 2 });
    mp_profile_free(p);
}
END_TEST

START_TEST(totals_and_peak)
{
    struct mp_profile *p = new_profile();
    static const uint64_t s1[] = { 0x1000, 0x5000 };
    static const uint64_t s2[] = { 0x2000, 0x5001 };
    alloc_ev(p, 1, 0xa1, 100, s1, 2, 0); /* live 100 */
    alloc_ev(p, 1, 0xa2, 200, s2, 2, 1); /* live 300 (truncated) */
    free_ev(p, 1, 0xa1);                 /* live 200 */
    alloc_ev(p, 2, 0xa3, 500, s1, 2, 0); /* live 700 */
    alloc_ev(p, 2, 0xa4, 50, s2, 2, 1);  /* live 750 (truncated): the peak */
    free_ev(p, 2, 0xa3);                 /* live 250 */
    free_ev(p, 1, 0xa2);                 /* live 50 */
    alloc_ev(p, 1, 0xa5, 10, s1, 2, 0);  /* live 60 */
    check_totals(p, (struct exp_totals){ .alloc_calls = 5, .allocated_bytes = 860, .free_calls = 3,
                                         .freed_bytes = 800, .live_bytes = 60, .live_blocks = 2,
                                         .peak_heap_bytes = 750, .truncated_stacks = 2 });
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 2);
    /* A zero-byte allocation is a call and a block. */
    alloc_ev(p, 1, 0xa6, 0, s1, 2, 0);
    check_totals(p, (struct exp_totals){ .alloc_calls = 6, .allocated_bytes = 860, .free_calls = 3,
                                         .freed_bytes = 800, .live_bytes = 60, .live_blocks = 3,
                                         .peak_heap_bytes = 750, .truncated_stacks = 2 });
    free_ev(p, 1, 0xa6);
    free_ev(p, 1, 0xa4);
    free_ev(p, 1, 0xa5);
    check_totals(p, (struct exp_totals){ .alloc_calls = 6, .allocated_bytes = 860, .free_calls = 6,
                                         .freed_bytes = 860, .live_bytes = 0, .live_blocks = 0,
                                         .peak_heap_bytes = 750, .truncated_stacks = 2 });
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

START_TEST(per_line_high_water_mark)
{
    struct mp_profile *p = new_profile();
    const struct mp_line_stats *leaf, *main50, *nodbg;
    ALLOC(p, 0x1, 100, 0x1000, 0x5000); /* x: leaf, main50 */
    ALLOC(p, 0x2, 300, 0x4000, 0x5000); /* y: nodbg, main50 */
    leaf = must_line(p, APP, 10, "leaf");
    main50 = must_line(p, APP, 50, "main");
    nodbg = must_line(p, NULL, 0, "mod+0x40");
    CK_INCL(leaf, 1, 100, 0, 100, 100);
    CK_INCL(nodbg, 1, 300, 0, 300, 300);
    CK_INCL(main50, 2, 400, 0, 400, 400);
    free_ev(p, 1, 0x2);
    CK_INCL(nodbg, 1, 300, 300, 0, 300);
    CK_INCL(main50, 2, 400, 300, 100, 400);
    ALLOC(p, 0x3, 250, 0x1000, 0x5000); /* z */
    CK_INCL(leaf, 2, 350, 0, 350, 350);
    CK_INCL(main50, 3, 650, 300, 350, 400);
    ALLOC(p, 0x4, 100, 0x1000, 0x5000); /* w */
    CK_INCL(leaf, 3, 450, 0, 450, 450);
    CK_INCL(main50, 4, 750, 300, 450, 450);
    free_ev(p, 1, 0x1);
    CK_INCL(leaf, 3, 450, 100, 350, 450);
    CK_INCL(main50, 4, 750, 400, 350, 450);
    ALLOC(p, 0x5, 60, 0x4000, 0x5000);
    CK_INCL(nodbg, 2, 360, 300, 60, 300);
    CK_INCL(main50, 5, 810, 400, 410, 450);
    check_totals(p, (struct exp_totals){ .alloc_calls = 5, .allocated_bytes = 810, .free_calls = 2,
                                         .freed_bytes = 400, .live_bytes = 410, .live_blocks = 3,
                                         .peak_heap_bytes = 450 });
    mp_profile_free(p);
}
END_TEST

/* per_line_high_water_mark's events, on deeper stacks, with no look in
 * between: the lines' levels are brought down by frees only when an
 * allocation needs them (the profile's inclusive levels), and the maximum
 * is still exact: had the last allocation not brought them down, main:50
 * would show a maximum of 510 (450 + 60 on top of the 100 bytes of x not
 * yet taken off).  The values are the ones worked out step by step above. */
START_TEST(inclusive_max_exact_when_read_at_the_end)
{
    struct mp_profile *p = new_profile();
    /* four lines of gen.c between each allocating line and main: stacks
     * deeper than the ones whose lines come down at each free */
#define DEEP GEN_BASE + 1, GEN_BASE + 2, GEN_BASE + 3, GEN_BASE + 4
    ALLOC(p, 0x1, 100, 0x1000, DEEP, 0x5000);
    ALLOC(p, 0x2, 300, 0x4000, DEEP, 0x5000);
    free_ev(p, 1, 0x2);
    ALLOC(p, 0x3, 250, 0x1000, DEEP, 0x5000);
    ALLOC(p, 0x4, 100, 0x1000, DEEP, 0x5000);
    free_ev(p, 1, 0x1);
    ALLOC(p, 0x5, 60, 0x4000, DEEP, 0x5000);
    CK_INCL(must_line(p, APP, 10, "leaf"), 3, 450, 100, 350, 450);
    CK_INCL(must_line(p, NULL, 0, "mod+0x40"), 2, 360, 300, 60, 300);
    CK_INCL(must_line(p, APP, 50, "main"), 5, 810, 400, 410, 450);
    CK_INCL(must_line(p, "/src/gen.c", 3, "gen"), 5, 810, 400, 410, 450);
    /* and after a look, more events: counted on top */
    free_ev(p, 1, 0x5);
    free_ev(p, 1, 0x3);
    ALLOC(p, 0x6, 10, 0x4000, DEEP, 0x5000);
    CK_INCL(must_line(p, NULL, 0, "mod+0x40"), 3, 370, 360, 10, 300);
    CK_INCL(must_line(p, APP, 50, "main"), 6, 820, 710, 110, 450);
    mp_profile_free(p);
#undef DEEP
}
END_TEST

/* A line shared by a stack of two lines (its levels come down at each
 * free) and stacks of six (brought down only when an allocation needs
 * it), one of them through main's line twice (counted once): each line's
 * calls, bytes, freed bytes, live bytes and maximum worked out event by
 * event:
 *   L 0x1 100; E 0x2 50; free 0x1; E 0x3 80; free 0x2; L 0x4 60; E 0x5 20;
 *   L' 0x6 40 (L' = L with main's frame twice)
 *   main:50  live 100 150 50 130 80 140 160 200: max 200, 6 calls, 350 bytes, 150 freed
 *   leaf:10  live 0 50 50 130 80 80 100 100:      max 130, 3 calls, 150 bytes, 50 freed
 *   mod+0x40 live 100 100 0 0 0 60 60 100:        max 100, 3 calls, 200 bytes, 100 freed */
START_TEST(inclusive_lines_shared_by_short_and_deep_stacks)
{
    struct mp_profile *p = new_profile();
#define DEEP GEN_BASE + 1, GEN_BASE + 2, GEN_BASE + 3, GEN_BASE + 4
    ALLOC(p, 0x1, 100, 0x4000, DEEP, 0x5000);
    ALLOC(p, 0x2, 50, 0x1000, 0x5000);
    free_ev(p, 1, 0x1);
    ALLOC(p, 0x3, 80, 0x1000, 0x5000);
    free_ev(p, 1, 0x2);
    ALLOC(p, 0x4, 60, 0x4000, DEEP, 0x5000);
    ALLOC(p, 0x5, 20, 0x1000, 0x5000);
    ALLOC(p, 0x6, 40, 0x4000, DEEP, 0x5000, 0x5000);
    CK_INCL(must_line(p, APP, 50, "main"), 6, 350, 150, 200, 200);
    CK_INCL(must_line(p, APP, 10, "leaf"), 3, 150, 50, 100, 130);
    CK_INCL(must_line(p, NULL, 0, "mod+0x40"), 3, 200, 100, 100, 100);
    CK_INCL(must_line(p, "/src/gen.c", 3, "gen"), 3, 200, 100, 100, 100);
    mp_profile_free(p);
#undef DEEP
}
END_TEST

START_TEST(reset_forgets_everything)
{
    struct mp_profile *p = new_profile();
    static const uint64_t s1[] = { 0x1000, 0x5000 };
    alloc_ev(p, 1, 0x10, 100, s1, 2, 1);
    ALLOC(p, 0x20, 50, 0x2000, 0x5001);
    free_ev(p, 1, 0x20);
    free_ev(p, 1, 0x999);
    ALLOC(p, 0x30, 5, 0x1000, 0x5000);
    ALLOC(p, 0x30, 6, 0x1000, 0x5000);
    ck_assert_uint_eq(rs.calls, 4);

    mp_profile_reset(p);
    const struct mp_totals *t = mp_profile_totals(p);
    struct mp_totals zero;
    memset(&zero, 0, sizeof zero);
    zero.peak_stack = UINT32_MAX; /* "no peak yet" */
    zero.peak_total_stack = UINT32_MAX;
    ck_assert(memcmp(t, &zero, sizeof zero) == 0);
    ck_assert_uint_eq(mp_profile_line_count(p), 0);

    /* A block from before the reset is unknown now; stacks are resolved anew. */
    free_ev(p, 1, 0x10);
    ALLOC(p, 0x40, 7, 0x1000, 0x5000);
    ck_assert_uint_eq(rs.calls, 6);
    check_totals(p, (struct exp_totals){ .alloc_calls = 1, .allocated_bytes = 7, .live_bytes = 7,
                                         .live_blocks = 1, .peak_heap_bytes = 7, .unknown_frees = 1 });
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, 1);
    ck_assert_uint_eq(mp_profile_line_count(p), 2);
    CK_SELF(must_line(p, APP, 10, "leaf"), 1, 7, 0, 0);
    CK_INCL(must_line(p, APP, 50, "main"), 1, 7, 0, 7, 7);
    free_ev(p, 1, 0x40);
    check_totals(p, (struct exp_totals){ .alloc_calls = 1, .allocated_bytes = 7, .free_calls = 1,
                                         .freed_bytes = 7, .peak_heap_bytes = 7, .unknown_frees = 1 });
    /* Twice in a row, and free after reset. */
    mp_profile_reset(p);
    mp_profile_reset(p);
    ck_assert_uint_eq(mp_profile_line_count(p), 0);
    mp_profile_free(p);
}
END_TEST

START_TEST(free_of_null_profile_is_harmless)
{
    mp_profile_free(NULL);
    struct mp_profile *p = new_profile();
    ck_assert_uint_eq(mp_profile_line_count(p), 0);
    check_totals(p, (struct exp_totals){ 0 });
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Stress against a shadow model                                              */
/* ------------------------------------------------------------------------ */

#define N_EVENTS 200000
#define N_SLOTS 40000
#define N_STACKS 1000

struct shadow_line {
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes;
    uint64_t incl_live, incl_max;
};

static uint64_t lcg_state;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg_state >> 33);
}

START_TEST(stress_against_shadow_model)
{
    struct mp_profile *p = new_profile();
    uint64_t *slot_size = calloc(N_SLOTS, sizeof *slot_size);  /* 0: free */
    int *slot_live = calloc(N_SLOTS, sizeof *slot_live);
    int *slot_stack = calloc(N_SLOTS, sizeof *slot_stack);
    int *stack_used = calloc(N_STACKS, sizeof *stack_used);
    /* gen line k (1..GEN_LINES) -> shadow[k]; main:50 -> shadow[0] */
    struct shadow_line *sh = calloc(GEN_LINES + 1, sizeof *sh);
    ck_assert(slot_size && slot_live && slot_stack && stack_used && sh);
    struct exp_totals e = { 0 };
    uint64_t distinct = 0;
    lcg_state = 12345;

    for (int i = 0; i < N_EVENTS; i++) {
        uint32_t r = lcg();
        /* Phase 1 grows the live set; phase 2 shrinks it. */
        int alloc = (r % 100) < (i < N_EVENTS / 2 ? 70u : 35u);
        uint32_t slot = lcg() % N_SLOTS;
        uint64_t addr = 0x7f0000000000ULL + (uint64_t)slot * 48;
        if (alloc) {
            int st = (int)(lcg() % N_STACKS);
            uint64_t size = 1 + lcg() % 5000;
            uint64_t frames[2] = { GEN_BASE + (uint64_t)st, 0x5000 };
            int trunc = (lcg() % 97) == 0;
            if (!stack_used[st]) {
                stack_used[st] = 1;
                distinct++;
            }
            e.alloc_calls++;
            e.allocated_bytes += size;
            e.truncated_stacks += (uint64_t)trunc;
            if (slot_live[slot]) {
                e.reused_live_blocks++;
                int line = slot_stack[slot] % GEN_LINES + 1;
                sh[line].incl_live -= slot_size[slot];
                sh[0].incl_live -= slot_size[slot];
                e.live_bytes -= slot_size[slot];
                e.live_blocks--;
            }
            int line = st % GEN_LINES + 1;
            sh[line].alloc_calls++;
            sh[line].allocated_bytes += size;
            sh[line].incl_live += size;
            if (sh[line].incl_live > sh[line].incl_max)
                sh[line].incl_max = sh[line].incl_live;
            sh[0].incl_live += size;
            if (sh[0].incl_live > sh[0].incl_max)
                sh[0].incl_max = sh[0].incl_live;
            slot_live[slot] = 1;
            slot_size[slot] = size;
            slot_stack[slot] = st;
            e.live_bytes += size;
            e.live_blocks++;
            if (e.live_bytes > e.peak_heap_bytes)
                e.peak_heap_bytes = e.live_bytes;
            alloc_ev(p, 1 + (uint32_t)(r & 3), addr, size, frames, 2, trunc);
        } else {
            if (slot_live[slot]) {
                int line = slot_stack[slot] % GEN_LINES + 1;
                uint64_t size = slot_size[slot];
                sh[line].free_calls++;
                sh[line].freed_bytes += size;
                sh[line].incl_live -= size;
                sh[0].incl_live -= size;
                e.free_calls++;
                e.freed_bytes += size;
                e.live_bytes -= size;
                e.live_blocks--;
                slot_live[slot] = 0;
            } else {
                e.unknown_frees++;
            }
            free_ev(p, 1 + (uint32_t)(r & 3), addr);
        }
        if (i % 20000 == 19999)
            check_totals(p, e);
    }
    check_totals(p, e);
    ck_assert_uint_eq(mp_profile_totals(p)->distinct_stacks, distinct);
    ck_assert_uint_eq(rs.calls, 2 * distinct);
    ck_assert_uint_gt(e.reused_live_blocks, 0);
    ck_assert_uint_gt(e.unknown_frees, 0);
    ck_assert_uint_gt(e.peak_heap_bytes, 0);

    for (int k = 1; k <= GEN_LINES; k++) {
        const struct mp_line_stats *l = find_line(p, "/src/gen.c", k, "gen");
        if (!sh[k].alloc_calls) {
            ck_assert(l == NULL || l->alloc_calls == 0);
            continue;
        }
        ck_assert_ptr_nonnull(l);
        CK_SELF(l, sh[k].alloc_calls, sh[k].allocated_bytes, sh[k].free_calls, sh[k].freed_bytes);
        ck_assert_uint_eq(l->incl_calls, sh[k].alloc_calls);
        ck_assert_uint_eq(l->incl_live_bytes, sh[k].incl_live);
        ck_assert_uint_eq(l->incl_max_live_bytes, sh[k].incl_max);
    }
    const struct mp_line_stats *m = must_line(p, APP, 50, "main");
    ck_assert_uint_eq(m->incl_calls, e.alloc_calls);
    ck_assert_uint_eq(m->incl_bytes, e.allocated_bytes);
    ck_assert_uint_eq(m->incl_live_bytes, sh[0].incl_live);
    ck_assert_uint_eq(m->incl_max_live_bytes, sh[0].incl_max);
    ck_assert_uint_eq(m->incl_live_bytes, e.live_bytes);
    check_self_sums(p);

    /* Free everything still live, in slot order: every live counter drops to 0. */
    for (uint32_t s = 0; s < N_SLOTS; s++) {
        if (!slot_live[s])
            continue;
        free_ev(p, 1, 0x7f0000000000ULL + (uint64_t)s * 48);
        e.free_calls++;
        e.freed_bytes += slot_size[s];
        e.live_bytes -= slot_size[s];
        e.live_blocks--;
        slot_live[s] = 0;
    }
    check_totals(p, e);
    ck_assert_uint_eq(e.live_bytes, 0);
    for (size_t i = 0; i < mp_profile_line_count(p); i++)
        ck_assert_uint_eq(mp_profile_line(p, i)->incl_live_bytes, 0);
    /* The block table is empty: any free is unknown now. */
    free_ev(p, 1, 0x7f0000000000ULL);
    ck_assert_uint_eq(mp_profile_totals(p)->unknown_frees, e.unknown_frees + 1);

    free(slot_size);
    free(slot_live);
    free(slot_stack);
    free(stack_used);
    free(sh);
    mp_profile_free(p);
}
END_TEST

/* Rounds of many allocations and interleaved frees: the block index grows
 * and backward-shift deletion moves entries along probe chains; every block
 * must stay findable. */
START_TEST(block_table_churn)
{
    struct mp_profile *p = new_profile();
    static const uint64_t s1[] = { 0x1000, 0x5000 };
    enum { N = 5000 };
    uint64_t live = 0, blocks = 0, allocs = 0, frees = 0;
    for (int round = 0; round < 4; round++) {
        for (uint64_t i = 0; i < N; i++) {
            alloc_ev(p, 1, (i << 12) | (uint64_t)round, i + 1, s1, 2, 0);
            live += i + 1;
            blocks++;
            allocs++;
        }
        /* free every other block of this round, from the top down */
        for (uint64_t i = N; i-- > 0;)
            if (i % 2 == (uint64_t)(round % 2)) {
                free_ev(p, 1, (i << 12) | (uint64_t)round);
                live -= i + 1;
                blocks--;
                frees++;
            }
        const struct mp_totals *t = mp_profile_totals(p);
        ck_assert_uint_eq(t->live_bytes, live);
        ck_assert_uint_eq(t->live_blocks, blocks);
        ck_assert_uint_eq(t->unknown_frees, 0);
        ck_assert_uint_eq(t->reused_live_blocks, 0);
    }
    /* every remaining block is still findable */
    for (int round = 0; round < 4; round++)
        for (uint64_t i = 0; i < N; i++)
            if (i % 2 != (uint64_t)(round % 2)) {
                free_ev(p, 1, (i << 12) | (uint64_t)round);
                live -= i + 1;
                blocks--;
                frees++;
            }
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->live_bytes, 0);
    ck_assert_uint_eq(t->live_blocks, 0);
    ck_assert_uint_eq(t->alloc_calls, allocs);
    ck_assert_uint_eq(t->free_calls, frees);
    ck_assert_uint_eq(t->unknown_frees, 0);
    ck_assert_uint_eq(allocs, frees);
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Peak snapshot, peak stack, leaks per stack, temporaries, timeline          */
/* ------------------------------------------------------------------------ */

/* The stacks the tests below use, by their self line. */
static const uint64_t st_leaf[] = { 0x1000, 0x5000 };   /* leaf:10 <- main:50 */
static const uint64_t st_helper[] = { 0x2000, 0x5001 }; /* helper:20 (in caller:31) <- main:52 */
static const uint64_t st_main52[] = { 0x5001 };         /* main:52 */
static const uint64_t st_rec[] = { 0x6000, 0x5000 };    /* rec:70 <- main:50 */
static const uint64_t st_main50[] = { 0x3000, 0x5000 }; /* runtime <- main:50: self main:50 */
static const uint64_t st_gen7[] = { GEN_BASE + 6, 0x5000 }; /* gen.c:7 <- main:50 */

#define A1(p, tid, addr, size, st) alloc_ev((p), (tid), (addr), (size), (st), (uint32_t)(sizeof(st) / sizeof *(st)), 0)

static uint64_t peak_of(const struct mp_profile *p, const char *file, int line, const char *function)
{
    const struct mp_line_stats *l = find_line(p, file, line, function);
    return l ? l->peak_bytes : 0;
}

/* Per-line peak bytes of the lines above, in one assertion. */
#define CK_PEAK(p, leaf_, helper_, main52_, rec_, main50_, gen7_)                                   \
    do {                                                                                           \
        ck_assert_uint_eq(peak_of((p), APP, 10, "leaf"), (leaf_));                                 \
        ck_assert_uint_eq(peak_of((p), APP, 20, "helper"), (helper_));                             \
        ck_assert_uint_eq(peak_of((p), APP, 52, "main"), (main52_));                               \
        ck_assert_uint_eq(peak_of((p), APP, 70, "rec"), (rec_));                                   \
        ck_assert_uint_eq(peak_of((p), APP, 50, "main"), (main50_));                               \
        ck_assert_uint_eq(peak_of((p), "/src/gen.c", 7, "gen"), (gen7_));                          \
    } while (0)

/* The stacks' counters of one kind, summed over the stacks whose self line
 * is line i: what the line's own counter must be (every block has one stack
 * and one self line). */
static uint64_t stacks_sum(const struct mp_profile *p, size_t line, int temporary)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < mp_profile_stack_count(p); s++) {
        const struct mp_stack_info *st = mp_profile_stack(p, s);
        if (st->self_line == line)
            sum += temporary ? st->temporary_calls : st->peak_bytes;
    }
    return sum;
}

/* The lines' peak bytes add up to the peak (every block has one self line),
 * and so do the stacks' (the flame graph's and massif's peak trees). */
static void check_peak_sum(const struct mp_profile *p)
{
    uint64_t sum = 0, blocks = 0;
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        sum += mp_profile_line(p, i)->peak_bytes;
        ck_assert_uint_eq(stacks_sum(p, i, 0), mp_profile_line(p, i)->peak_bytes);
    }
    ck_assert_uint_eq(sum, mp_profile_totals(p)->peak_heap_bytes);
    for (size_t s = 0; s < mp_profile_stack_count(p); s++) {
        blocks += mp_profile_stack(p, s)->peak_blocks;
        ck_assert_uint_le(mp_profile_stack(p, s)->peak_blocks, mp_profile_stack(p, s)->alloc_calls);
        ck_assert(mp_profile_stack(p, s)->peak_blocks > 0 || mp_profile_stack(p, s)->peak_bytes == 0);
    }
    ck_assert_uint_le(blocks, mp_profile_totals(p)->alloc_calls);
}

/* The self line of the stack that reached the peak. */
static const struct mp_line_stats *peak_line(const struct mp_profile *p)
{
    uint32_t s = mp_profile_totals(p)->peak_stack;
    ck_assert_uint_ne(s, UINT32_MAX);
    ck_assert_uint_lt(s, mp_profile_stack_count(p));
    return mp_profile_line(p, mp_profile_stack(p, s)->self_line);
}

START_TEST(peak_snapshot_exact_through_humps)
{
    struct mp_profile *p = new_profile();
    ck_assert_uint_eq(mp_profile_totals(p)->peak_stack, UINT32_MAX);

    /* A first peak made of two lines. */
    A1(p, 1, 0xa1, 100, st_leaf);   /* live 100: a new peak */
    CK_PEAK(p, 100, 0, 0, 0, 0, 0);
    A1(p, 1, 0xa2, 200, st_helper); /* live 300: a new peak */
    CK_PEAK(p, 100, 200, 0, 0, 0, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 300);
    ck_assert_int_eq(peak_line(p)->line, 20);
    check_peak_sum(p);

    /* Down to 0, then other lines below the peak: the snapshot stays. */
    free_ev(p, 1, 0xa1);
    free_ev(p, 1, 0xa2);
    A1(p, 1, 0xa3, 250, st_main52); /* live 250 */
    A1(p, 1, 0xa4, 40, st_leaf);    /* live 290 */
    CK_PEAK(p, 100, 200, 0, 0, 0, 0);
    ck_assert_int_eq(peak_line(p)->line, 20);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 300);

    /* A higher peak with different lines: every line that changed since
     * the first one is re-read (leaf 100 -> 40, helper 200 -> 0). */
    A1(p, 1, 0xa5, 60, st_rec);     /* live 350: a new peak */
    CK_PEAK(p, 40, 0, 250, 60, 0, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 350);
    ck_assert_int_eq(peak_line(p)->line, 70);
    check_peak_sum(p);

    /* A lower second hump through lines that held something at the peak,
     * plus a line first seen after it: nothing changes. */
    free_ev(p, 1, 0xa3);             /* live 100 */
    A1(p, 1, 0xb1, 200, st_helper);  /* live 300 */
    A1(p, 1, 0xb2, 10, st_gen7);     /* live 310, gen.c:7 is new */
    A1(p, 1, 0xb3, 30, st_rec);      /* live 340: rec now holds 90 */
    CK_PEAK(p, 40, 0, 250, 60, 0, 0);
    free_ev(p, 1, 0xb3);             /* live 310 */
    /* Back up to exactly the peak level: equal is not a new peak. */
    A1(p, 1, 0xb4, 40, st_main50);   /* live 350 */
    CK_PEAK(p, 40, 0, 250, 60, 0, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 350);
    ck_assert_int_eq(peak_line(p)->line, 70);
    free_ev(p, 1, 0xb1);
    free_ev(p, 1, 0xb2);
    free_ev(p, 1, 0xb4);             /* live 100: leaf 40, rec 60 */

    /* A line that went down and back up to the same value between two
     * peaks, and a third, higher peak. */
    free_ev(p, 1, 0xa4);             /* leaf 0, live 60 */
    A1(p, 1, 0xa6, 40, st_leaf);     /* leaf 40, live 100 */
    A1(p, 1, 0xa7, 300, st_main50);  /* live 400: a new peak */
    CK_PEAK(p, 40, 0, 0, 60, 300, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 400);
    ck_assert_int_eq(peak_line(p)->line, 50);
    check_peak_sum(p);

    /* A new peak reached by an allocation at a live address (the old block
     * is dropped first): 400 - 40 + 500 = 860. */
    A1(p, 1, 0xa6, 500, st_gen7);
    CK_PEAK(p, 0, 0, 0, 60, 300, 500);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 860);
    ck_assert_int_eq(peak_line(p)->line, 7);
    check_peak_sum(p);
    check_self_sums(p);
    mp_profile_free(p);
}
END_TEST

/* The peak stack is the stack of the allocation that reached it, with its
 * frames; a zero-byte allocation never reaches a peak. */
START_TEST(peak_stack_is_the_reaching_allocation)
{
    struct mp_profile *p = new_profile();
    A1(p, 1, 0x10, 0, st_leaf);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_stack, UINT32_MAX);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 0);
    A1(p, 1, 0x20, 8, st_leaf);
    A1(p, 2, 0x30, 16, st_helper); /* the peak: 24 */
    A1(p, 1, 0x40, 0, st_rec);     /* 24 again: not a new peak */
    free_ev(p, 1, 0x20);
    A1(p, 1, 0x50, 8, st_leaf);    /* 24: not a new peak */
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->peak_heap_bytes, 24);
    const struct mp_stack_info *s = mp_profile_stack(p, t->peak_stack);
    /* helper:20, caller:31 (the inline chain), main:52 */
    ck_assert_uint_eq(s->n_frames, 3);
    ck_assert_int_eq(mp_profile_line(p, s->frame_lines[0])->line, 20);
    ck_assert_str_eq(mp_profile_line(p, s->frame_lines[1])->function, "caller");
    ck_assert_int_eq(mp_profile_line(p, s->frame_lines[2])->line, 52);
    ck_assert_uint_eq(s->self_line, s->frame_lines[0]);
    ck_assert_uint_eq(s->alloc_calls, 1);
    ck_assert_uint_eq(s->allocated_bytes, 16);
    /* A runtime innermost frame is part of the stack, not its self line. */
    A1(p, 1, 0x60, 100, st_main50);
    s = mp_profile_stack(p, mp_profile_totals(p)->peak_stack);
    ck_assert_uint_eq(s->n_frames, 2);
    ck_assert_str_eq(mp_profile_line(p, s->frame_lines[0])->function, "xmalloc_internal");
    ck_assert_uint_eq(s->self_line, s->frame_lines[1]);
    ck_assert_int_eq(mp_profile_line(p, s->self_line)->line, 50);
    /* Reset forgets the peak. */
    mp_profile_reset(p);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_stack, UINT32_MAX);
    A1(p, 1, 0x70, 5, st_rec);
    ck_assert_int_eq(peak_line(p)->line, 70);
    ck_assert_uint_eq(peak_of(p, APP, 70, "rec"), 5);
    mp_profile_free(p);
}
END_TEST

static size_t stack_with_self(const struct mp_profile *p, const char *function, int line)
{
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, mp_profile_stack(p, i)->self_line);
        if (l->line == line && strcmp(l->function, function) == 0) {
            ck_assert_msg(found == SIZE_MAX, "two stacks charged to %s:%d", function, line);
            found = i;
        }
    }
    ck_assert_msg(found != SIZE_MAX, "no stack charged to %s:%d", function, line);
    return found;
}

#define CK_STACK(p, function, line, calls, bytes, live, blocks)                                    \
    do {                                                                                           \
        const struct mp_stack_info *s_ = mp_profile_stack((p), stack_with_self((p), (function), (line))); \
        ck_assert_uint_eq(s_->alloc_calls, (calls));                                               \
        ck_assert_uint_eq(s_->allocated_bytes, (bytes));                                           \
        ck_assert_uint_eq(s_->live_bytes, (live));                                                 \
        ck_assert_uint_eq(s_->live_blocks, (blocks));                                              \
    } while (0)

START_TEST(stack_live_bytes)
{
    struct mp_profile *p = new_profile();
    /* Two stacks share the self line leaf:10 (different callers). */
    static const uint64_t st_leaf2[] = { 0x1000, 0x5001 };
    A1(p, 1, 0x10, 100, st_leaf);
    A1(p, 2, 0x20, 50, st_leaf);
    A1(p, 1, 0x30, 7, st_leaf2);
    A1(p, 1, 0x40, 30, st_rec);
    A1(p, 1, 0x50, 1, st_rec);
    free_ev(p, 2, 0x10);      /* freed by another thread */
    free_ev(p, 1, 0x999);     /* unknown: changes nothing */
    A1(p, 1, 0x50, 4, st_helper); /* at rec's live block: rec's block is dropped */
    ck_assert_uint_eq(mp_profile_stack_count(p), 4);
    /* leaf:10 has two stacks: tell them apart by their outer frame */
    uint64_t live_main50 = 0, live_main52 = 0, blocks_main50 = 0, blocks_main52 = 0;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *s = mp_profile_stack(p, i);
        const struct mp_line_stats *self = mp_profile_line(p, s->self_line);
        if (strcmp(self->function, "leaf") != 0)
            continue;
        ck_assert_uint_eq(s->n_frames, 2);
        int outer = mp_profile_line(p, s->frame_lines[1])->line;
        if (outer == 50) {
            live_main50 = s->live_bytes;
            blocks_main50 = s->live_blocks;
            ck_assert_uint_eq(s->alloc_calls, 2);
            ck_assert_uint_eq(s->allocated_bytes, 150);
        } else {
            ck_assert_int_eq(outer, 52);
            live_main52 = s->live_bytes;
            blocks_main52 = s->live_blocks;
        }
    }
    ck_assert_uint_eq(live_main50, 50);
    ck_assert_uint_eq(blocks_main50, 1);
    ck_assert_uint_eq(live_main52, 7);
    ck_assert_uint_eq(blocks_main52, 1);
    CK_STACK(p, "rec", 70, 2, 31, 30, 1);
    CK_STACK(p, "helper", 20, 1, 4, 4, 1);
    /* The stacks' live bytes add up to the totals and to the lines'. */
    uint64_t live = 0, blocks = 0;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        live += mp_profile_stack(p, i)->live_bytes;
        blocks += mp_profile_stack(p, i)->live_blocks;
    }
    ck_assert_uint_eq(live, mp_profile_totals(p)->live_bytes);
    ck_assert_uint_eq(blocks, mp_profile_totals(p)->live_blocks);
    ck_assert_uint_eq(live, 50 + 7 + 30 + 4);
    ck_assert_uint_eq(must_line(p, APP, 10, "leaf")->live_bytes, 57);
    ck_assert_uint_eq(must_line(p, APP, 10, "leaf")->live_blocks, 2);
    /* Everything freed: no stack holds anything. */
    free_ev(p, 1, 0x20);
    free_ev(p, 1, 0x30);
    free_ev(p, 1, 0x40);
    free_ev(p, 1, 0x50);
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        ck_assert_uint_eq(mp_profile_stack(p, i)->live_bytes, 0);
        ck_assert_uint_eq(mp_profile_stack(p, i)->live_blocks, 0);
    }
    mp_profile_free(p);
}
END_TEST

static uint64_t temp_of(const struct mp_profile *p, const char *file, int line, const char *function)
{
    const struct mp_line_stats *l = find_line(p, file, line, function);
    return l ? l->temporary_calls : 0;
}

START_TEST(temporaries_two_threads_realloc_cross_thread_free)
{
    struct mp_profile *p = new_profile();
    /* Interleaved threads: another thread's allocation does not matter. */
    A1(p, 1, 0x10, 8, st_leaf);     /* T1: A */
    A1(p, 2, 0x20, 8, st_helper);   /* T2: B */
    free_ev(p, 1, 0x10);            /* A: T1 did not allocate since: temporary (leaf 1) */
    A1(p, 2, 0x30, 8, st_helper);   /* T2: C */
    free_ev(p, 2, 0x20);            /* B: T2 allocated C since: not temporary */
    ck_assert_uint_eq(temp_of(p, APP, 10, "leaf"), 1);
    ck_assert_uint_eq(temp_of(p, APP, 20, "helper"), 0);
    ck_assert_uint_eq(mp_profile_totals(p)->temporary_calls, 1);

    /* A block freed by another thread before its own thread allocated again. */
    A1(p, 1, 0x40, 8, st_rec);      /* T1: D */
    free_ev(p, 2, 0x40);            /* T2 frees D: temporary (rec 1) */
    free_ev(p, 2, 0x30);            /* C: T2 did not allocate since: temporary (helper 1) */
    ck_assert_uint_eq(temp_of(p, APP, 70, "rec"), 1);
    ck_assert_uint_eq(temp_of(p, APP, 20, "helper"), 1);

    /* ... and one freed by another thread after its thread allocated again. */
    A1(p, 1, 0x50, 8, st_rec);      /* T1: H */
    A1(p, 1, 0x60, 8, st_main52);   /* T1: I */
    free_ev(p, 2, 0x50);            /* H: not temporary */
    ck_assert_uint_eq(temp_of(p, APP, 70, "rec"), 1);

    /* A realloc arrives as FREE(old) then ALLOC(new): p = malloc(); p =
     * realloc(p, ...) makes the malloc temporary; in place (same address)
     * or moved. */
    A1(p, 3, 0x70, 10, st_main50);  /* T3: malloc */
    free_ev(p, 3, 0x70);            /* realloc: temporary (main50 1) */
    A1(p, 3, 0x70, 20, st_gen7);    /* ... in place */
    free_ev(p, 3, 0x70);            /* realloc again: temporary (gen7 1) */
    A1(p, 3, 0x80, 40, st_gen7);    /* ... moved */
    A1(p, 3, 0x90, 1, st_leaf);     /* T3 allocates something else */
    free_ev(p, 3, 0x80);            /* not temporary */
    ck_assert_uint_eq(temp_of(p, APP, 50, "main"), 1);
    ck_assert_uint_eq(temp_of(p, "/src/gen.c", 7, "gen"), 1);

    /* An address freed and reused by another thread: each block by its own thread. */
    A1(p, 4, 0xa0, 8, st_leaf);     /* T4 */
    free_ev(p, 4, 0xa0);            /* temporary (leaf 2) */
    A1(p, 5, 0xa0, 8, st_leaf);     /* T5 at the same address */
    A1(p, 4, 0xb0, 8, st_helper);   /* T4 allocates again */
    free_ev(p, 4, 0xa0);            /* T5's block, T5 did not allocate since: temporary (leaf 3) */
    free_ev(p, 4, 0xb0);            /* temporary (helper 2) */
    ck_assert_uint_eq(temp_of(p, APP, 10, "leaf"), 3);
    ck_assert_uint_eq(temp_of(p, APP, 20, "helper"), 2);

    /* The last allocation freed twice (second is unknown), a block dropped
     * by an allocation at its live address, zero-byte blocks: only real
     * frees of the last block count. */
    A1(p, 6, 0xc0, 0, st_rec);      /* T6 */
    free_ev(p, 6, 0xc0);            /* temporary (rec 2) */
    free_ev(p, 6, 0xc0);            /* unknown: nothing */
    A1(p, 6, 0xd0, 5, st_rec);      /* T6 */
    A1(p, 7, 0xd0, 6, st_main52);   /* T7 at T6's live address: T6's block dropped, not freed */
    free_ev(p, 7, 0xd0);            /* T7's block: temporary (main52 1) */
    ck_assert_uint_eq(temp_of(p, APP, 70, "rec"), 2);
    ck_assert_uint_eq(temp_of(p, APP, 52, "main"), 1);
    ck_assert_uint_eq(mp_profile_totals(p)->unknown_frees, 1);

    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->temporary_calls, 3 + 2 + 2 + 1 + 1 + 1);
    uint64_t sum = 0;
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        ck_assert_uint_le(l->temporary_calls, l->free_calls);
        ck_assert_uint_eq(stacks_sum(p, i, 1), l->temporary_calls);
        sum += l->temporary_calls;
    }
    ck_assert_uint_eq(sum, t->temporary_calls);
    /* Reset forgets the threads' last allocations. */
    A1(p, 8, 0xe0, 8, st_leaf);
    mp_profile_reset(p);
    A1(p, 9, 0xf0, 8, st_leaf);
    free_ev(p, 8, 0xe0);            /* unknown now */
    ck_assert_uint_eq(mp_profile_totals(p)->temporary_calls, 0);
    free_ev(p, 9, 0xf0);
    ck_assert_uint_eq(mp_profile_totals(p)->temporary_calls, 1);
    ck_assert_uint_eq(temp_of(p, APP, 10, "leaf"), 1);
    mp_profile_free(p);
}
END_TEST

static void sample_ev(struct mp_profile *p, uint64_t time_ns, uint64_t rss)
{
    struct mp_event ev = { .kind = MP_EV_SAMPLE, .time_ns = time_ns, .rss_bytes = rss };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

START_TEST(timeline_heap_levels)
{
    struct mp_profile *p = new_profile();
    const struct mp_sample *s;
    ck_assert_uint_eq(mp_profile_timeline(p, &s), 0);
    sample_ev(p, 1000, 4096);          /* before any event: heap 0 */
    A1(p, 1, 0x10, 100, st_leaf);
    A1(p, 1, 0x20, 50, st_rec);
    sample_ev(p, 2000, 8192);          /* 150 */
    free_ev(p, 1, 0x10);
    free_ev(p, 1, 0x999);              /* unknown */
    sample_ev(p, 3000, 8192);          /* 50 */
    A1(p, 1, 0x20, 70, st_rec);        /* reuse of a live address: 70 */
    sample_ev(p, 3000, 12288);         /* same time */
    free_ev(p, 1, 0x20);
    sample_ev(p, 5000, 4096);          /* 0 */
    /* Samples change no counter. */
    check_totals(p, (struct exp_totals){ .alloc_calls = 3, .allocated_bytes = 220, .free_calls = 2,
                                         .freed_bytes = 170, .peak_heap_bytes = 150, .unknown_frees = 1,
                                         .reused_live_blocks = 1 });
    size_t n = mp_profile_timeline(p, &s);
    ck_assert_uint_eq(n, 5);
    /* with the allocations made so far: 0, then 2 (150 bytes), then 3 (220);
     * heap_max_bytes: the most held after the previous sample, up to this
     * one (the reuse at 0x20 goes 50 -> 0 -> 70) */
    const struct mp_sample want[] = { { 1000, 4096, 0, 0, 0, 0 }, { 2000, 8192, 150, 2, 150, 150 },
                                      { 3000, 8192, 50, 2, 150, 50 }, { 3000, 12288, 70, 3, 220, 70 },
                                      { 5000, 4096, 0, 3, 220, 0 } };
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(s[i].time_ns, want[i].time_ns);
        ck_assert_uint_eq(s[i].rss_bytes, want[i].rss_bytes);
        ck_assert_uint_eq(s[i].heap_bytes, want[i].heap_bytes);
        ck_assert_uint_eq(s[i].alloc_calls, want[i].alloc_calls);
        ck_assert_uint_eq(s[i].allocated_bytes, want[i].allocated_bytes);
        ck_assert_uint_eq(s[i].heap_max_bytes, want[i].heap_max_bytes);
    }
    mp_profile_reset(p);
    ck_assert_uint_eq(mp_profile_timeline(p, &s), 0);
    sample_ev(p, 7, 1);
    ck_assert_uint_eq(mp_profile_timeline(p, &s), 1);
    ck_assert_uint_eq(s[0].heap_bytes, 0);
    mp_profile_free(p);
}
END_TEST

/* Sample i of the decimation test: an RSS that goes up and down, and a heap
 * level made by allocating before even samples and freeing after odd ones. */
#define DEC_N (2 * MP_TIMELINE_MAX)
static uint64_t dec_rss(size_t i)
{
    return 4096 * (1 + (i * 7919) % 1009);
}

START_TEST(timeline_decimation)
{
    struct mp_profile *p = new_profile();
    const size_t total = DEC_N + MP_TIMELINE_MAX + 1; /* two merges: at samples DEC_N and DEC_N + MAX */
    uint64_t *heap = calloc(total, sizeof *heap);
    ck_assert_ptr_nonnull(heap);
    uint64_t live = 0;
    for (size_t i = 0; i < total; i++) {
        if (i % 2 == 0) {
            uint64_t size = 1 + (i * 31) % 997;
            alloc_ev(p, 1, 0x100000 + i, size, st_leaf, 2, 0);
            live += size;
        }
        heap[i] = live;
        sample_ev(p, 1000 * (uint64_t)(i + 1), dec_rss(i));
        if (i % 2 == 1) {
            struct mp_event ev = { .kind = MP_EV_FREE, .tid = 1, .addr = 0x100000 + i - 1 };
            ck_assert_int_eq(mp_profile_add(p, &ev), 0);
            live -= 1 + ((i - 1) * 31) % 997;
        }
        const struct mp_sample *s;
        size_t n = mp_profile_timeline(p, &s);
        if (i + 1 == DEC_N) {
            /* 2 * MP_TIMELINE_MAX samples are all kept as they came */
            ck_assert_uint_eq(n, DEC_N);
            for (size_t k = 0; k < n; k++) {
                ck_assert_uint_eq(s[k].time_ns, 1000 * (k + 1));
                ck_assert_uint_eq(s[k].rss_bytes, dec_rss(k));
                ck_assert_uint_eq(s[k].heap_bytes, heap[k]);
                /* a free, then the allocation that made heap[k]: the most since */
                ck_assert_uint_eq(s[k].heap_max_bytes, heap[k]);
            }
        }
        if (i == DEC_N) {
            /* one more: neighbours merged pairwise (the larger values), then the new one */
            ck_assert_uint_eq(n, MP_TIMELINE_MAX + 1);
            for (size_t k = 0; k < MP_TIMELINE_MAX; k++) {
                uint64_t r = dec_rss(2 * k) > dec_rss(2 * k + 1) ? dec_rss(2 * k) : dec_rss(2 * k + 1);
                uint64_t h = heap[2 * k] > heap[2 * k + 1] ? heap[2 * k] : heap[2 * k + 1];
                ck_assert_uint_eq(s[k].rss_bytes, r);
                ck_assert_uint_eq(s[k].heap_bytes, h);
                ck_assert_uint_eq(s[k].heap_max_bytes, h);
                ck_assert(s[k].time_ns == 1000 * (2 * k + 1) || s[k].time_ns == 1000 * (2 * k + 2));
            }
            ck_assert_uint_eq(s[MP_TIMELINE_MAX].time_ns, 1000 * (uint64_t)(i + 1));
            ck_assert_uint_eq(s[MP_TIMELINE_MAX].rss_bytes, dec_rss(i));
            ck_assert_uint_eq(s[MP_TIMELINE_MAX].heap_bytes, heap[i]);
        }
        ck_assert_uint_le(n, DEC_N);
    }
    /* After the second merge: still bounded, in time order, the newest
     * sample exact, nothing larger than what came and the overall maxima kept. */
    const struct mp_sample *s;
    size_t n = mp_profile_timeline(p, &s);
    ck_assert_uint_eq(n, MP_TIMELINE_MAX + 1);
    uint64_t max_rss = 0, max_heap = 0, got_rss = 0, got_heap = 0, got_max = 0;
    for (size_t i = 0; i < total; i++) {
        max_rss = dec_rss(i) > max_rss ? dec_rss(i) : max_rss;
        max_heap = heap[i] > max_heap ? heap[i] : max_heap;
    }
    for (size_t k = 0; k < n; k++) {
        if (k)
            ck_assert_uint_ge(s[k].time_ns, s[k - 1].time_ns);
        got_rss = s[k].rss_bytes > got_rss ? s[k].rss_bytes : got_rss;
        got_heap = s[k].heap_bytes > got_heap ? s[k].heap_bytes : got_heap;
        got_max = s[k].heap_max_bytes > got_max ? s[k].heap_max_bytes : got_max;
    }
    ck_assert_uint_eq(got_rss, max_rss);
    ck_assert_uint_eq(got_heap, max_heap);
    ck_assert_uint_eq(got_max, mp_profile_totals(p)->peak_heap_bytes); /* never dropped */
    /* the first merged sample covers originals 0..3 */
    uint64_t r4 = 0, h4 = 0;
    for (size_t i = 0; i < 4; i++) {
        r4 = dec_rss(i) > r4 ? dec_rss(i) : r4;
        h4 = heap[i] > h4 ? heap[i] : h4;
    }
    ck_assert_uint_eq(s[0].rss_bytes, r4);
    ck_assert_uint_eq(s[0].heap_bytes, h4);
    ck_assert_uint_eq(s[n - 1].time_ns, 1000 * (uint64_t)total);
    ck_assert_uint_eq(s[n - 1].heap_bytes, heap[total - 1]);
    free(heap);
    mp_profile_free(p);
}
END_TEST

/* A long random run with several threads, checked against a model that
 * snapshots every line when the heap reaches a new peak, counts a
 * temporary when a block is freed while it is still its thread's newest
 * allocation (by allocation sequence numbers, not addresses), and sums live
 * bytes per stack. */
static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

#define PK_EVENTS 100000
#define PK_SLOTS 3000
#define PK_STACKS 700
#define PK_THREADS 5

START_TEST(peak_temporaries_stacks_against_model)
{
    struct mp_profile *p = new_profile();
    uint64_t *slot_size = calloc(PK_SLOTS, sizeof *slot_size);
    int *slot_live = calloc(PK_SLOTS, sizeof *slot_live);
    int *slot_stack = calloc(PK_SLOTS, sizeof *slot_stack);
    uint32_t *slot_tid = calloc(PK_SLOTS, sizeof *slot_tid);
    uint64_t *slot_seq = calloc(PK_SLOTS, sizeof *slot_seq);
    uint64_t *line_live = calloc(GEN_LINES + 1, sizeof *line_live);
    uint64_t *line_peak = calloc(GEN_LINES + 1, sizeof *line_peak);
    uint64_t *line_temp = calloc(GEN_LINES + 1, sizeof *line_temp);
    uint64_t *stack_live = calloc(PK_STACKS, sizeof *stack_live);
    uint64_t *stack_blocks = calloc(PK_STACKS, sizeof *stack_blocks);
    uint64_t thread_seq[PK_THREADS + 1] = { 0 };
    ck_assert(slot_size && slot_live && slot_stack && slot_tid && slot_seq && line_live && line_peak && line_temp &&
              stack_live && stack_blocks);
    uint64_t live = 0, peak = 0, temps = 0, peaks_reached = 0;
    int peak_line_no = 0;
    lcg_state = 987654321;
    for (int i = 0; i < PK_EVENTS; i++) {
        uint32_t r = lcg();
        /* waves: grow, shrink, grow higher, shrink... */
        int phase = (i / 10000) % 2;
        int alloc = (r % 100) < (phase == 0 ? 62u : 40u);
        uint32_t slot = lcg() % PK_SLOTS;
        uint32_t tid = 1 + lcg() % PK_THREADS;
        uint64_t addr = 0x500000000ULL + (uint64_t)slot * 64;
        if (alloc) {
            int st = (int)(lcg() % PK_STACKS);
            int line = st % GEN_LINES + 1;
            uint64_t size = lcg() % 3000; /* zero-byte blocks too */
            if (slot_live[slot]) {
                /* an allocation at a live address: the old block goes, not freed */
                int ol = slot_stack[slot] % GEN_LINES + 1;
                line_live[ol] -= slot_size[slot];
                stack_live[slot_stack[slot]] -= slot_size[slot];
                stack_blocks[slot_stack[slot]]--;
                live -= slot_size[slot];
            }
            slot_live[slot] = 1;
            slot_size[slot] = size;
            slot_stack[slot] = st;
            slot_tid[slot] = tid;
            slot_seq[slot] = ++thread_seq[tid];
            line_live[line] += size;
            stack_live[st] += size;
            stack_blocks[st]++;
            live += size;
            if (live > peak) {
                peak = live;
                peaks_reached++;
                peak_line_no = line;
                memcpy(line_peak, line_live, (GEN_LINES + 1) * sizeof *line_peak);
            }
            uint64_t frames[2] = { GEN_BASE + (uint64_t)st, 0x5000 };
            alloc_ev(p, tid, addr, size, frames, 2, 0);
        } else {
            if (slot_live[slot]) {
                int line = slot_stack[slot] % GEN_LINES + 1;
                if (slot_seq[slot] == thread_seq[slot_tid[slot]]) {
                    line_temp[line]++;
                    temps++;
                }
                line_live[line] -= slot_size[slot];
                stack_live[slot_stack[slot]] -= slot_size[slot];
                stack_blocks[slot_stack[slot]]--;
                live -= slot_size[slot];
                slot_live[slot] = 0;
            }
            free_ev(p, tid, addr); /* any thread may free */
        }
        if (i % 5000 == 4999 || i == PK_EVENTS - 1) {
            const struct mp_totals *t = mp_profile_totals(p);
            ck_assert_uint_eq(t->live_bytes, live);
            ck_assert_uint_eq(t->peak_heap_bytes, peak);
            ck_assert_uint_eq(t->temporary_calls, temps);
            ck_assert_int_eq(peak_line(p)->line, peak_line_no);
            for (int k = 1; k <= GEN_LINES; k++) {
                const struct mp_line_stats *l = find_line(p, "/src/gen.c", k, "gen");
                ck_assert_msg(l != NULL || (line_peak[k] == 0 && line_temp[k] == 0 && line_live[k] == 0),
                              "gen.c:%d missing", k);
                if (!l)
                    continue;
                ck_assert_msg(l->peak_bytes == line_peak[k], "event %d: gen.c:%d peak %" PRIu64 ", model %" PRIu64,
                              i, k, l->peak_bytes, line_peak[k]);
                ck_assert_uint_eq(l->temporary_calls, line_temp[k]);
                ck_assert_uint_eq(l->live_bytes, line_live[k]);
            }
            check_peak_sum(p);
        }
    }
    ck_assert_uint_gt(peaks_reached, 100);
    ck_assert_uint_gt(temps, 20);
    /* Stacks: the two PCs of a gen line resolve to the same frames, and a
     * stack's PCs are not exposed: compare the sorted (live bytes, live
     * blocks) pairs of all stacks with the model's. */
    size_t ns = mp_profile_stack_count(p);
    uint64_t *got = calloc(ns ? ns : 1, 2 * sizeof *got);
    uint64_t *want = calloc(PK_STACKS, 2 * sizeof *want);
    size_t nw = 0;
    ck_assert(got && want);
    for (size_t i = 0; i < ns; i++) {
        got[2 * i] = mp_profile_stack(p, i)->live_bytes;
        got[2 * i + 1] = mp_profile_stack(p, i)->live_blocks;
    }
    for (int st = 0; st < PK_STACKS; st++) {
        want[2 * nw] = stack_live[st];
        want[2 * nw + 1] = stack_blocks[st];
        nw++;
    }
    ck_assert_uint_eq(ns, nw);
    qsort(got, ns, 2 * sizeof *got, cmp_pair);
    qsort(want, nw, 2 * sizeof *want, cmp_pair);
    ck_assert(memcmp(got, want, ns * 2 * sizeof *got) == 0);
    free(got);
    free(want);
    free(slot_size);
    free(slot_live);
    free(slot_stack);
    free(slot_tid);
    free(slot_seq);
    free(line_live);
    free(line_peak);
    free(line_temp);
    free(stack_live);
    free(stack_blocks);
    mp_profile_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("attribution");
    tcase_add_test(tc, self_and_inclusive_attribution);
    tcase_add_test(tc, recursion_counts_a_line_once);
    tcase_add_test(tc, each_stack_resolved_once);
    tcase_add_test(tc, stack_memo_names_a_stack_until_voided);
    tcase_add_test(tc, repeated_pc_in_a_new_stack_resolved_once);
    tcase_add_test(tc, no_user_frame_goes_to_innermost_named_frame);
    tcase_add_test(tc, empty_stack_is_unknown);
    tcase_add_test(tc, empty_stack_with_null_frames);
    suite_add_tcase(s, tc);
    tc = tcase_create("counting");
    tcase_add_test(tc, valgrind_counting_and_realloc);
    tcase_add_test(tc, two_threads_reuse_an_address_in_order);
    tcase_add_test(tc, two_threads_reuse_an_address_out_of_order);
    tcase_add_test(tc, unknown_free_changes_nothing_else);
    tcase_add_test(tc, alloc_at_live_address_releases_old_block);
    tcase_add_test(tc, totals_and_peak);
    tcase_add_test(tc, per_line_high_water_mark);
    tcase_add_test(tc, inclusive_max_exact_when_read_at_the_end);
    tcase_add_test(tc, inclusive_lines_shared_by_short_and_deep_stacks);
    tcase_add_test(tc, reset_forgets_everything);
    tcase_add_test(tc, free_of_null_profile_is_harmless);
    suite_add_tcase(s, tc);
    tc = tcase_create("stress");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stress_against_shadow_model);
    tcase_add_test(tc, block_table_churn);
    suite_add_tcase(s, tc);
    tc = tcase_create("peak");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, peak_snapshot_exact_through_humps);
    tcase_add_test(tc, peak_stack_is_the_reaching_allocation);
    tcase_add_test(tc, stack_live_bytes);
    tcase_add_test(tc, temporaries_two_threads_realloc_cross_thread_free);
    tcase_add_test(tc, timeline_heap_levels);
    tcase_add_test(tc, timeline_decimation);
    tcase_add_test(tc, peak_temporaries_stacks_against_model);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
