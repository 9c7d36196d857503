/* memprof tests: what the profile keeps for the report's views, fed with
 * hand-made events and a fake resolver: the size histogram, the largest
 * allocations, per-thread counters and who held the peak, each stack's
 * bytes at the peak, free sites, the call trees (top-down and callers),
 * reset, and the restore API.  Every expected number is derived in the
 * comments from the events fed in. */
#define _GNU_SOURCE
#include "memprof/profile.h"
#include "profile/calltree.h"

#include "harness.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define APP "/src/app.c"
#define LIBC "/lib/libc.so.6"
#define EXE "/usr/bin/app"

struct fake_pc {
    uint64_t pc;
    int n;
    struct mp_frame_info f[2];
};

static const struct fake_pc fakes[] = {
    { 0x100, 1, { { "malloc", NULL, 0, LIBC, 1, NULL, 0, 0 } } },
    { 0x200, 1, { { "make_record", APP, 24, EXE, 0, APP, 22, 27 } } },
    { 0x300, 1, { { "small_loop", APP, 31, EXE, 0, APP, 29, 33 } } },
    { 0x400, 1, { { "main", APP, 40, EXE, 0, APP, 38, 50 } } },
    { 0x401, 1, { { "main", APP, 41, EXE, 0, APP, 38, 50 } } },
    { 0x500, 1, { { "__libc_start_call_main", NULL, 0, LIBC, 1, NULL, 0, 0 } } },
    /* free sites: a user line, runtime code, an inline chain whose innermost frame is a system header */
    { 0x600, 1, { { "main", APP, 45, EXE, 0, APP, 38, 50 } } },
    { 0x700, 1, { { "operator delete(void*)", NULL, 0, "/lib/libstdc++.so.6", 1, NULL, 0, 0 } } },
    { 0x800, 2, { { "std::allocator<int>::deallocate", "/usr/include/c++/12/bits/new_allocator.h", 158, EXE, 1,
                    "/usr/include/c++/12/bits/new_allocator.h", 150, 160 },
                  { "small_loop", APP, 32, EXE, 0, APP, 29, 33 } } },
};

static unsigned resolver_calls;

static int fake_resolve(void *ctx, uint64_t pc, int is_return_address, struct mp_frame_info *out, int max)
{
    (void)ctx;
    ck_assert_int_eq(is_return_address, 1);
    resolver_calls++;
    for (size_t i = 0; i < sizeof fakes / sizeof *fakes; i++)
        if (fakes[i].pc == pc) {
            ck_assert_int_ge(max, fakes[i].n);
            memcpy(out, fakes[i].f, (size_t)fakes[i].n * sizeof *out);
            return fakes[i].n;
        }
    ck_abort_msg("unexpected pc %#llx", (unsigned long long)pc);
    return 0;
}

/* stacks, innermost first */
static const uint64_t st_loop[] = { 0x100, 0x200, 0x300, 0x400, 0x500 };  /* make_record <- small_loop <- main:40 */
static const uint64_t st_direct[] = { 0x100, 0x200, 0x401, 0x500 };       /* make_record <- main:41 */
static const uint64_t st_main[] = { 0x100, 0x401, 0x500 };                /* main:41 itself */

static void alloc_ev(struct mp_profile *p, uint32_t tid, uint64_t addr, uint64_t size, const uint64_t *frames,
                     uint32_t n)
{
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = tid, .addr = addr, .size = size, .nframes = n,
                           .frames = frames };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

/* A free called from `site` (0: the engine gave none). */
static void free_ev(struct mp_profile *p, uint32_t tid, uint64_t addr, uint64_t site)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = tid, .addr = addr, .nframes = site ? 1 : 0, .frames = &site };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

#define ALLOC(p, tid, addr, size, st) alloc_ev(p, tid, addr, size, st, sizeof st / sizeof *st)

static struct mp_profile *new_profile(void)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ------------------------------------------------------------------------ */

START_TEST(size_buckets)
{
    ck_assert_uint_eq(mp_size_bucket_of(0), 0);
    ck_assert_uint_eq(mp_size_bucket_of(1), 1);
    ck_assert_uint_eq(mp_size_bucket_of(2), 2);
    ck_assert_uint_eq(mp_size_bucket_of(3), 2);
    ck_assert_uint_eq(mp_size_bucket_of(4), 3);
    ck_assert_uint_eq(mp_size_bucket_of(1023), 10);
    ck_assert_uint_eq(mp_size_bucket_of(1024), 11);
    ck_assert_uint_eq(mp_size_bucket_of(UINT64_MAX), 64);
    ck_assert_uint_eq(mp_size_bucket_of((uint64_t)1 << 63), 64);

    struct mp_profile *p = new_profile();
    static const uint64_t sizes[] = { 0, 1, 2, 3, 4, 7, 8, 1023, 1024, 4096, (uint64_t)1 << 40, 3 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        ALLOC(p, 1, 0x1000 + 16 * i, sizes[i], st_main);
    /* bucket: calls, bytes */
    const struct { unsigned k; uint64_t calls, bytes; } want[] = {
        { 0, 1, 0 },    { 1, 1, 1 },      { 2, 3, 2 + 3 + 3 }, { 3, 2, 4 + 7 }, { 4, 1, 8 },
        { 10, 1, 1023 }, { 11, 1, 1024 }, { 13, 1, 4096 },    { 41, 1, (uint64_t)1 << 40 },
    };
    const struct mp_size_bucket *h = mp_profile_size_histogram(p);
    size_t w = 0;
    for (unsigned k = 0; k < MP_SIZE_BUCKETS; k++) {
        if (w < sizeof want / sizeof *want && want[w].k == k) {
            ck_assert_msg(h[k].calls == want[w].calls && h[k].bytes == want[w].bytes, "bucket %u: %llu calls %llu bytes",
                          k, (unsigned long long)h[k].calls, (unsigned long long)h[k].bytes);
            w++;
        } else {
            ck_assert_msg(h[k].calls == 0 && h[k].bytes == 0, "bucket %u should be empty", k);
        }
    }
    /* frees do not change the histogram (it counts allocation calls) */
    free_ev(p, 1, 0x1000, 0);
    ck_assert_uint_eq(mp_profile_size_histogram(p)[0].calls, 1);
    mp_profile_free(p);
}
END_TEST

static const struct mp_largest *find_largest(const struct mp_profile *p, uint64_t size, uint32_t stack)
{
    const struct mp_largest *v;
    size_t n = mp_profile_largest(p, &v);
    for (size_t i = 0; i < n; i++)
        if (v[i].size == size && v[i].stack == stack)
            return &v[i];
    return NULL;
}

START_TEST(largest_kept_exactly)
{
    struct mp_profile *p = new_profile();
    /* sizes 1..100 from st_loop (stack 0) once each: the 32 largest, 69..100, are kept */
    for (uint64_t s = 1; s <= 100; s++)
        ALLOC(p, 1, 0x10000 + 256 * s, s, st_loop);
    const struct mp_largest *v;
    ck_assert_uint_eq(mp_profile_largest(p, &v), MP_LARGEST_KEPT);
    for (uint64_t s = 1; s <= 100; s++) {
        const struct mp_largest *e = find_largest(p, s, 0);
        if (s < 69) {
            ck_assert_msg(e == NULL, "size %llu is kept", (unsigned long long)s);
        } else {
            ck_assert_msg(e != NULL, "size %llu is not kept", (unsigned long long)s);
            ck_assert_uint_eq(e->calls, 1);
            ck_assert_uint_eq(e->live_blocks, 1);
        }
    }
    /* 69 again from another stack (stack 1): as big as the smallest kept, it stays out */
    ALLOC(p, 1, 0x900000, 69, st_direct);
    ck_assert_ptr_null(find_largest(p, 69, 1));
    /* 100 again from stack 0: one entry, 2 calls; freeing one leaves 1 live */
    ALLOC(p, 1, 0x900100, 100, st_loop);
    ck_assert_uint_eq(find_largest(p, 100, 0)->calls, 2);
    free_ev(p, 1, 0x900100, 0);
    ck_assert_uint_eq(find_largest(p, 100, 0)->live_blocks, 1);
    ck_assert_uint_eq(find_largest(p, 100, 0)->calls, 2);
    /* 5000 from stack 1 pushes out 69 (stack 0); 69 from stack 0 again does not come back */
    ALLOC(p, 1, 0x900200, 5000, st_direct);
    ck_assert_ptr_nonnull(find_largest(p, 5000, 1));
    ck_assert_ptr_null(find_largest(p, 69, 0));
    ALLOC(p, 1, 0x900300, 69, st_loop);
    ck_assert_ptr_null(find_largest(p, 69, 0));
    ck_assert_uint_eq(mp_profile_largest(p, &v), MP_LARGEST_KEPT);
    /* a free of a block of a pushed-out entry touches nothing */
    free_ev(p, 1, 0x10000 + 256 * 69, 0);
    for (size_t i = 0; i < MP_LARGEST_KEPT; i++)
        ck_assert_uint_eq(v[i].live_blocks, 1); /* 70..99 and 5000 once, 100 twice but one freed */
    /* a block freed by reuse of its address (a free memprof never saw) is not live any more */
    ALLOC(p, 1, 0x10000 + 256 * 70, 1, st_main);
    ck_assert_uint_eq(find_largest(p, 70, 0)->live_blocks, 0);
    mp_profile_free(p);
}
END_TEST

/*  t1 ALLOC a 100          live 100  (peak 100: t1 100)
 *  t2 ALLOC b 200          live 300  (peak 300: t1 100, t2 200)
 *  t1 FREE  a              live 200
 *  t2 ALLOC c 150          live 350  (peak 350: t1 0, t2 350)
 *  t2 FREE  b              live 150
 *  t1 ALLOC d 100          live 250
 *  t1 FREE  c (t2's)       live 100: t1 called it, t2's block
 * t1: 2 calls 200 bytes, 2 frees 250 bytes, live 100 in 1, at peak 0, most 100.
 * t2: 2 calls 350 bytes, 1 free 200 bytes, live 0, at peak 350, most 350. */
START_TEST(threads_and_the_peak)
{
    struct mp_profile *p = new_profile();
    ALLOC(p, 1, 0xa, 100, st_loop);
    ALLOC(p, 2, 0xb, 200, st_direct);
    free_ev(p, 1, 0xa, 0);
    ALLOC(p, 2, 0xc, 150, st_direct);
    free_ev(p, 2, 0xb, 0);
    ALLOC(p, 1, 0xd, 100, st_main);
    free_ev(p, 1, 0xc, 0);
    ck_assert_uint_eq(mp_profile_totals(p)->peak_heap_bytes, 350);
    ck_assert_uint_eq(mp_profile_thread_count(p), 2);
    const struct mp_thread_stats *t1 = mp_profile_thread(p, 0), *t2 = mp_profile_thread(p, 1);
    ck_assert_uint_eq(t1->tid, 1);
    ck_assert_uint_eq(t1->alloc_calls, 2);
    ck_assert_uint_eq(t1->allocated_bytes, 200);
    ck_assert_uint_eq(t1->free_calls, 2);
    ck_assert_uint_eq(t1->freed_bytes, 250);
    ck_assert_uint_eq(t1->live_bytes, 100);
    ck_assert_uint_eq(t1->live_blocks, 1);
    ck_assert_uint_eq(t1->peak_bytes, 0);
    ck_assert_uint_eq(t1->max_live_bytes, 100);
    ck_assert_uint_eq(t2->tid, 2);
    ck_assert_uint_eq(t2->alloc_calls, 2);
    ck_assert_uint_eq(t2->allocated_bytes, 350);
    ck_assert_uint_eq(t2->free_calls, 1);
    ck_assert_uint_eq(t2->freed_bytes, 200);
    ck_assert_uint_eq(t2->live_bytes, 0);
    ck_assert_uint_eq(t2->peak_bytes, 350);
    ck_assert_uint_eq(t2->max_live_bytes, 350);
    /* stacks at the peak: st_loop 0 (a freed), st_direct 350 (b and c), st_main not yet allocated */
    ck_assert_uint_eq(mp_profile_stack_count(p), 3);
    ck_assert_uint_eq(mp_profile_stack(p, 0)->peak_bytes, 0);
    ck_assert_uint_eq(mp_profile_stack(p, 1)->peak_bytes, 350);
    ck_assert_uint_eq(mp_profile_stack(p, 2)->peak_bytes, 0);
    /* a free whose thread the engine does not know (tid 0: the breakpoint engine's stub) is
     * the owner's block released, and nobody's free call */
    free_ev(p, 0, 0xd, 0);
    ck_assert_uint_eq(mp_profile_thread_count(p), 2);
    ck_assert_uint_eq(t1->live_bytes, 0);
    ck_assert_uint_eq(t1->free_calls, 2);
    ck_assert_uint_eq(t2->free_calls, 1);
    /* reset forgets threads, histogram, largest */
    mp_profile_reset(p);
    const struct mp_largest *v;
    ck_assert_uint_eq(mp_profile_thread_count(p), 0);
    ck_assert_uint_eq(mp_profile_largest(p, &v), 0);
    ck_assert_uint_eq(mp_profile_size_histogram(p)[mp_size_bucket_of(100)].calls, 0);
    ALLOC(p, 7, 0xa, 10, st_main);
    ck_assert_uint_eq(mp_profile_thread(p, 0)->tid, 7);
    mp_profile_free(p);
}
END_TEST

static const struct mp_line_stats *line_at(const struct mp_profile *p, int line)
{
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (l->file && strcmp(l->file, APP) == 0 && l->line == line)
            return l;
    }
    return NULL;
}

START_TEST(free_sites)
{
    struct mp_profile *p = new_profile();
    ALLOC(p, 1, 0xa, 100, st_loop);
    ALLOC(p, 1, 0xb, 200, st_loop);
    ALLOC(p, 1, 0xc, 300, st_loop);
    ALLOC(p, 1, 0xd, 400, st_loop);
    ALLOC(p, 1, 0xe, 500, st_loop);
    resolver_calls = 0;
    free_ev(p, 1, 0xa, 0x600); /* main:45 */
    free_ev(p, 1, 0xb, 0x600); /* main:45 again: resolved once */
    free_ev(p, 1, 0xc, 0x700); /* operator delete: no user line */
    free_ev(p, 1, 0xd, 0x800); /* inlined deallocate in small_loop:32: the innermost user frame */
    free_ev(p, 1, 0xe, 0);     /* no site */
    free_ev(p, 1, 0xf, 0x600); /* a block never seen: counted nowhere but unknown_frees */
    ck_assert_uint_eq(resolver_calls, 3);
    const struct mp_line_stats *l45 = line_at(p, 45), *l32 = line_at(p, 32);
    ck_assert_ptr_nonnull(l45);
    ck_assert_uint_eq(l45->site_free_calls, 2);
    ck_assert_uint_eq(l45->site_freed_bytes, 300);
    ck_assert_uint_eq(l45->alloc_calls, 0);
    ck_assert_ptr_nonnull(l32);
    ck_assert_uint_eq(l32->site_free_calls, 1);
    ck_assert_uint_eq(l32->site_freed_bytes, 400);
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert_uint_eq(t->unsited_free_calls, 2);
    ck_assert_uint_eq(t->unsited_freed_bytes, 300 + 500);
    ck_assert_uint_eq(t->unknown_frees, 1);
    ck_assert_uint_eq(t->free_calls, 5);
    /* the line that allocated keeps its own frees count (of its blocks, wherever freed) */
    ck_assert_uint_eq(line_at(p, 24)->free_calls, 5);
    ck_assert_uint_eq(line_at(p, 24)->site_free_calls, 0);
    mp_profile_free(p);
}
END_TEST

/* ---- call trees: make_record's 11,000 calls, 10,000 from small_loop, 1,000 from main ---- */

static struct mp_profile *record_profile(void)
{
    struct mp_profile *p = new_profile();
    uint64_t addr = 0x100000;
    for (int i = 0; i < 10000; i++)
        ALLOC(p, 1, addr += 64, 64, st_loop);
    for (int i = 0; i < 1000; i++)
        ALLOC(p, 1, addr += 64, 32, st_direct);
    ALLOC(p, 1, addr += 64, 5000, st_main);
    return p;
}

static int node_is(const struct mp_profile *p, const struct mp_tree_node *n, int line)
{
    return n->line != MP_TREE_TARGET && mp_profile_line(p, n->line)->line == line;
}

START_TEST(call_tree_top_down)
{
    struct mp_profile *p = record_profile();
    struct mp_calltree t;
    ck_assert_int_eq(mp_calltree_top_down(p, &t), 0);
    /* roots: main:40 (640,000 in 10,000), main:41 (32,000 + 5,000 in 1,001); the tree stops at
     * main: __libc_start_call_main is no root */
    ck_assert_uint_eq(t.n_roots, 2);
    const struct mp_tree_node *r0 = &t.nodes[t.roots[0]], *r1 = &t.nodes[t.roots[1]];
    ck_assert(node_is(p, r0, 40));
    ck_assert_uint_eq(r0->bytes, 640000);
    ck_assert_uint_eq(r0->calls, 10000);
    ck_assert(node_is(p, r1, 41));
    ck_assert_uint_eq(r1->bytes, 37000);
    ck_assert_uint_eq(r1->calls, 1001);
    /* main:40 -> small_loop:31 -> make_record:24 */
    ck_assert_uint_eq(r0->n_children, 1);
    const struct mp_tree_node *c = &t.nodes[t.child_ids[r0->first_child]];
    ck_assert(node_is(p, c, 31));
    ck_assert_uint_eq(c->n_children, 1);
    c = &t.nodes[t.child_ids[c->first_child]];
    ck_assert(node_is(p, c, 24));
    ck_assert_uint_eq(c->calls, 10000);
    ck_assert_uint_eq(c->n_children, 0);
    /* main:41 -> make_record:24 (32,000); its own 5,000 stays on main:41 */
    ck_assert_uint_eq(r1->n_children, 1);
    c = &t.nodes[t.child_ids[r1->first_child]];
    ck_assert(node_is(p, c, 24));
    ck_assert_uint_eq(c->bytes, 32000);
    ck_assert_uint_eq(c->calls, 1000);
    /* held at the peak (the end: nothing freed): all of it */
    ck_assert_uint_eq(r0->peak_bytes, 640000);
    mp_calltree_free(&t);
    mp_profile_free(p);
}
END_TEST

START_TEST(callers_of_make_record)
{
    struct mp_profile *p = record_profile();
    size_t n = mp_profile_line_count(p);
    uint8_t *target = calloc(n, 1);
    ck_assert_ptr_nonnull(target);
    for (size_t i = 0; i < n; i++)
        target[i] = strcmp(mp_profile_line(p, i)->function, "make_record") == 0;
    struct mp_calltree t;
    ck_assert_int_eq(mp_calltree_callers(p, target, &t), 0);
    const struct mp_tree_node *root = &t.nodes[0];
    ck_assert_uint_eq(root->line, MP_TREE_TARGET);
    ck_assert_uint_eq(root->calls, 11000);
    ck_assert_uint_eq(root->bytes, 672000);
    ck_assert_uint_eq(root->n_children, 2);
    const struct mp_tree_node *a = &t.nodes[t.child_ids[root->first_child]];
    const struct mp_tree_node *b = &t.nodes[t.child_ids[root->first_child + 1]];
    ck_assert(node_is(p, a, 31)); /* small_loop: 10,000 calls */
    ck_assert_uint_eq(a->calls, 10000);
    ck_assert_uint_eq(a->bytes, 640000);
    ck_assert(node_is(p, b, 41)); /* main: 1,000 */
    ck_assert_uint_eq(b->calls, 1000);
    ck_assert_uint_eq(b->bytes, 32000);
    ck_assert_uint_eq(b->n_children, 0); /* main ends the chain */
    /* small_loop's caller: main:40, all 10,000 */
    ck_assert_uint_eq(a->n_children, 1);
    const struct mp_tree_node *c = &t.nodes[t.child_ids[a->first_child]];
    ck_assert(node_is(p, c, 40));
    ck_assert_uint_eq(c->calls, 10000);
    mp_calltree_free(&t);
    /* main itself has no caller inside the program */
    for (size_t i = 0; i < n; i++)
        target[i] = strcmp(mp_profile_line(p, i)->function, "main") == 0;
    ck_assert_int_eq(mp_calltree_callers(p, target, &t), 0);
    ck_assert_uint_eq(t.nodes[0].calls, 11001);
    ck_assert_uint_eq(t.nodes[0].n_children, 0);
    mp_calltree_free(&t);
    free(target);
    mp_profile_free(p);
}
END_TEST

START_TEST(restore_views)
{
    struct mp_profile *p = mp_profile_new(NULL, NULL);
    ck_assert_ptr_nonnull(p);
    struct mp_line_stats *l = mp_profile_restore_line(p, mp_profile_intern(p, APP), 24,
                                                      mp_profile_intern(p, "make_record"), NULL);
    ck_assert_ptr_nonnull(l);
    uint32_t frames[] = { mp_profile_line_index(p, l) };
    struct mp_stack_info info = { .alloc_calls = 3, .allocated_bytes = 300, .peak_bytes = 200 };
    ck_assert_uint_eq(mp_profile_restore_stack(p, frames, 1, &info), 0);
    ck_assert_uint_eq(mp_profile_stack(p, 0)->peak_bytes, 200);
    struct mp_thread_stats t = { .tid = 9, .alloc_calls = 3 };
    ck_assert_int_eq(mp_profile_restore_thread(p, &t), 0);
    ck_assert_uint_eq(mp_profile_thread(p, 0)->tid, 9);
    mp_profile_restore_histogram(p)[7] = (struct mp_size_bucket){ 3, 300 };
    ck_assert_uint_eq(mp_profile_size_histogram(p)[7].bytes, 300);
    struct mp_largest e = { 100, 0, 3, 1 };
    ck_assert_int_eq(mp_profile_restore_largest(p, &e), 0);
    e.stack = 5; /* no such stack */
    ck_assert_int_eq(mp_profile_restore_largest(p, &e), -1);
    e.stack = 0;
    for (int i = 1; i < MP_LARGEST_KEPT; i++) {
        e.size = 100 + (uint64_t)i;
        ck_assert_int_eq(mp_profile_restore_largest(p, &e), 0);
    }
    ck_assert_int_eq(mp_profile_restore_largest(p, &e), -1); /* full */
    struct mp_sample s = { 1000, 4096, 100, 3, 300, 150 };
    ck_assert_int_eq(mp_profile_restore_sample(p, &s), 0);
    const struct mp_sample *got;
    ck_assert_uint_eq(mp_profile_timeline(p, &got), 1);
    ck_assert_uint_eq(got[0].alloc_calls, 3);
    ck_assert_uint_eq(got[0].heap_bytes, 100);
    ck_assert_uint_eq(got[0].heap_max_bytes, 150);
    mp_profile_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile views");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, size_buckets);
    tcase_add_test(tc, largest_kept_exactly);
    tcase_add_test(tc, threads_and_the_peak);
    tcase_add_test(tc, free_sites);
    tcase_add_test(tc, call_tree_top_down);
    tcase_add_test(tc, callers_of_make_record);
    tcase_add_test(tc, restore_views);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
