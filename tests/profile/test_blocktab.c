/* memprof: tests of the live-block table (src/profile/blocktab.c).
 *
 * Random puts, takes and gets against a plain array indexed by address
 * (the reference), across the table's growth (into a new table walked in
 * order, the old one's pages given back as it goes), its move to a
 * huge-page mapping, and the side table for blocks that do not
 * pack (addresses at or above 2^47, sizes of 4 GiB or more, more than
 * 65,535 threads holding blocks, moving between the two as a block at one
 * address changes), thread indexes reused once their threads hold nothing;
 * the sorted list of live blocks the reachability scan reads (packed, wide
 * and address 0 alike, in address order); and the memory bound: at most 40
 * bytes per live block at any moment, and no more than the doubled table
 * while the table grows. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/blocktab.h"

#define UNIVERSE 500000u

struct ref_block {
    int live;
    struct mp_block b;
};

static uint64_t rng_state;

static uint64_t next_random(void)
{
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return rng_state = x;
}

/* Slot k of the universe: address 0 for k == 0, a few above 2^47, the
 * rest 16-byte aligned like malloc's. */
static uint64_t address_of(uint32_t k)
{
    if (k == 0)
        return 0;
    if (k % 97 == 0)
        return (UINT64_C(1) << 47) + (uint64_t)k * 16;
    return 0x555500000000ull + (uint64_t)k * 16;
}

static struct mp_block random_block(uint32_t k)
{
    uint64_t r = next_random();
    struct mp_block b = { address_of(k), 1 + (r >> 40) % 4096, (uint32_t)(r % 1000), 100 + (uint32_t)(r >> 20) % 8 };
    if (r % 501 == 0)
        b.size = (UINT64_C(5) << 30) + r % 1000;       /* 5 GiB: does not pack */
    if (r % 89 == 0)
        b.tid = 1000 + (uint32_t)(next_random() % 70000); /* > 65,535 threads in all */
    return b;
}

/* Check records every passing ck_assert; the hot loops below only call
 * into it on a failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static void assert_same(const struct mp_block *x, const struct mp_block *y)
{
    REQUIRE(x->addr == y->addr && x->size == y->size && x->stack == y->stack && x->tid == y->tid,
            "block 0x%llx size %llu stack %u tid %u, expected 0x%llx size %llu stack %u tid %u",
            (unsigned long long)x->addr, (unsigned long long)x->size, x->stack, x->tid,
            (unsigned long long)y->addr, (unsigned long long)y->size, y->stack, y->tid);
}

struct visit {
    const struct ref_block *ref;
    size_t seen;
};

static void visit_block(void *ctx, const struct mp_block *b)
{
    struct visit *v = ctx;
    uint32_t k = b->addr == 0 ? 0
                 : b->addr >= (UINT64_C(1) << 47) ? (uint32_t)((b->addr - (UINT64_C(1) << 47)) / 16)
                                                  : (uint32_t)((b->addr - 0x555500000000ull) / 16);
    REQUIRE(k < UNIVERSE, "each() visited an address never put: 0x%llx", (unsigned long long)b->addr);
    REQUIRE(v->ref[k].live, "each() visited a block that is not live: 0x%llx", (unsigned long long)b->addr);
    assert_same(b, &v->ref[k].b);
    v->seen++;
}

static int by_address(const void *a, const void *b)
{
    const struct mp_block *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* mp_blocktab_sorted gives exactly the reference's live blocks, in the
 * order qsort puts them. */
static void assert_sorted_matches(const struct mp_blocktab *t, const struct ref_block *ref, size_t live)
{
    struct mp_block *want = malloc((live ? live : 1) * sizeof *want);
    ck_assert_ptr_nonnull(want);
    size_t n_want = 0;
    for (uint32_t k = 0; k < UNIVERSE; k++)
        if (ref[k].live)
            want[n_want++] = ref[k].b;
    ck_assert_uint_eq(n_want, live);
    qsort(want, n_want, sizeof *want, by_address);
    size_t n;
    int failed;
    struct mp_block *got = mp_blocktab_sorted(t, &n, &failed);
    ck_assert_int_eq(failed, 0);
    ck_assert_uint_eq(n, live);
    for (size_t i = 0; i < n; i++)
        assert_same(&got[i], &want[i]);
    free(got);
    free(want);
}

START_TEST(random_operations_match_reference)
{
    struct ref_block *ref = calloc(UNIVERSE, sizeof *ref);
    ck_assert_ptr_nonnull(ref);
    struct mp_blocktab t;
    mp_blocktab_init(&t);
    rng_state = 0x9E3779B97F4A7C15ull;
    size_t live = 0, max_live = 0;
    for (long op = 0; op < 3000000; op++) {
        uint64_t r = next_random();
        uint32_t k = (uint32_t)(r % UNIVERSE);
        int phase_grows = op < 1500000;          /* first fill, then churn */
        unsigned kind = (unsigned)(r >> 32) % 10;
        struct mp_block got;
        if (kind < (phase_grows ? 7u : 4u)) {
            struct mp_block b = random_block(k), old;
            int rc = mp_blocktab_put(&t, &b, &old);
            REQUIRE(rc == ref[k].live, "put 0x%llx returned %d", (unsigned long long)b.addr, rc);
            if (rc == 1)
                assert_same(&old, &ref[k].b);
            live += !ref[k].live;
            ref[k].live = 1;
            ref[k].b = b;
        } else if (kind < 9) {
            int rc = mp_blocktab_take(&t, address_of(k), &got);
            REQUIRE(rc == ref[k].live, "take 0x%llx returned %d", (unsigned long long)address_of(k), rc);
            if (rc)
                assert_same(&got, &ref[k].b);
            live -= ref[k].live;
            ref[k].live = 0;
        } else {
            int rc = mp_blocktab_get(&t, address_of(k), &got);
            REQUIRE(rc == ref[k].live, "get 0x%llx returned %d", (unsigned long long)address_of(k), rc);
            if (rc)
                assert_same(&got, &ref[k].b);
        }
        if (live > max_live)
            max_live = live;
    }
    ck_assert_uint_gt(max_live, 250000);   /* grown through the mapped sizes */
    ck_assert_uint_gt(t.wide.count, 0);    /* the side table was used */
    ck_assert_uint_gt(t.mapped_bytes, 4u << 20);
    ck_assert_uint_eq(mp_blocktab_count(&t), live);
    struct visit v = { ref, 0 };
    mp_blocktab_each(&t, visit_block, &v);
    ck_assert_uint_eq(v.seen, live);
    if (!ref[0].live) {   /* address 0 goes first in the sorted list */
        struct mp_block zero = random_block(0), old;
        ck_assert_int_eq(mp_blocktab_put(&t, &zero, &old), 0);
        ref[0].live = 1;
        ref[0].b = zero;
        live++;
    }
    assert_sorted_matches(&t, ref, live);
    mp_blocktab_free(&t);
    size_t n;
    int failed;
    ck_assert_ptr_null(mp_blocktab_sorted(&t, &n, &failed));   /* an empty table: no list, no failure */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(failed, 0);
    free(ref);
}
END_TEST

/* A block whose size crosses 4 GiB at the same address moves between the
 * packed slots and the side table, and back. */
START_TEST(block_moves_between_packed_and_wide)
{
    struct mp_blocktab t;
    mp_blocktab_init(&t);
    struct mp_block small = { 0x1000, 64, 7, 42 }, big = { 0x1000, UINT64_C(1) << 33, 8, 42 }, old, got;
    ck_assert_int_eq(mp_blocktab_put(&t, &small, &old), 0);
    ck_assert_int_eq(mp_blocktab_put(&t, &big, &old), 1);
    assert_same(&old, &small);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_uint_eq(t.wide.count, 1);
    ck_assert_int_eq(mp_blocktab_put(&t, &small, &old), 1);
    assert_same(&old, &big);
    ck_assert_uint_eq(t.count, 1);
    ck_assert_uint_eq(t.wide.count, 0);
    ck_assert_int_eq(mp_blocktab_get(&t, 0x1000, &got), 1);
    assert_same(&got, &small);
    struct mp_block zero = { 0, 5, 1, 2 };
    ck_assert_int_eq(mp_blocktab_put(&t, &zero, &old), 0);
    ck_assert_int_eq(mp_blocktab_take(&t, 0, &got), 1);
    assert_same(&got, &zero);
    ck_assert_int_eq(mp_blocktab_take(&t, 0, &got), 0);
    ck_assert_uint_eq(mp_blocktab_count(&t), 1);
    mp_blocktab_free(&t);
}
END_TEST

/* Thread indexes come back when their threads hold no block: 200,000
 * threads one after the other never need the side table; 70,000 holding
 * blocks at once need it for those beyond 65,535, and once they are freed,
 * new threads pack again. */
START_TEST(thread_indexes_are_reused)
{
    struct mp_blocktab t;
    mp_blocktab_init(&t);
    struct mp_block got, old;
    for (uint32_t tid = 1; tid <= 200000; tid++) {
        struct mp_block b = { 0x10000 + (uint64_t)(tid % 7) * 64, 32, tid % 100, tid };
        REQUIRE(mp_blocktab_put(&t, &b, &old) == 0, "put for thread %u", tid);
        REQUIRE(t.wide.count == 0, "thread %u went to the side table", tid);
        REQUIRE(mp_blocktab_take(&t, b.addr, &got) == 1, "take for thread %u", tid);
        assert_same(&got, &b);
    }
    for (uint32_t k = 0; k < 70000; k++) {
        struct mp_block b = { 0x20000000 + (uint64_t)k * 16, 48, k % 100, 300000 + k };
        REQUIRE(mp_blocktab_put(&t, &b, &old) == 0, "put for thread %u", b.tid);
    }
    ck_assert_uint_eq(t.wide.count, 70000 - 65535);
    ck_assert_uint_eq(mp_blocktab_count(&t), 70000);
    for (uint32_t k = 0; k < 70000; k++) {
        REQUIRE(mp_blocktab_take(&t, 0x20000000 + (uint64_t)k * 16, &got) == 1, "take %u", k);
        REQUIRE(got.tid == 300000 + k && got.size == 48, "block %u came back as tid %u size %llu", k, got.tid,
                (unsigned long long)got.size);
    }
    struct mp_block b = { 0x30000000, 8, 1, 999999 };
    ck_assert_int_eq(mp_blocktab_put(&t, &b, &old), 0);
    ck_assert_uint_eq(t.wide.count, 0);
    ck_assert_uint_eq(t.count, 1);
    ck_assert_int_eq(mp_blocktab_get(&t, 0x30000000, &got), 1);
    assert_same(&got, &b);
    mp_blocktab_free(&t);
}
END_TEST

/* At every moment while 3 million blocks are added (threads included),
 * the table holds at most 40 bytes per live block, beyond its first 64 KiB. */
START_TEST(at_most_40_bytes_per_live_block)
{
    struct mp_blocktab t;
    mp_blocktab_init(&t);
    size_t worst_at = 0;
    double worst = 0;
    for (uint32_t i = 1; i <= 3000000; i++) {
        struct mp_block b = { 0x7f0000000000ull + (uint64_t)i * 32, 16, i % 5000, 1000 + i % 64 }, old;
        REQUIRE(mp_blocktab_put(&t, &b, &old) == 0, "put %u failed", i);
        size_t bytes = mp_blocktab_bytes(&t);
        REQUIRE(bytes <= 40 * (size_t)i + (64u << 10), "%zu bytes for %u live blocks", bytes, i);
        if (i >= 100000 && (double)bytes / i > worst) {
            worst = (double)bytes / i;
            worst_at = i;
        }
    }
    ck_assert_msg(worst > 30, "the worst moment (%.1f bytes per block at %zu) should be just after a doubling",
                  worst, worst_at);
    mp_blocktab_free(&t);
}
END_TEST

/* VmHWM or VmRSS of this process, in bytes. */
static size_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    size_t kib = 0, len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kib = strtoull(line + len + 1, NULL, 10);
    fclose(f);
    return kib << 10;
}

/* While the table doubles, memory peaks at the new table (plus a few 2 MiB
 * chunks), not at old + new: the old one's pages are given back as the
 * growth walks them.  The peak is read as VmHWM after resetting it
 * (clear_refs 5) just before the put that grows the table. */
START_TEST(growing_holds_at_most_the_new_table)
{
    struct mp_blocktab t;
    mp_blocktab_init(&t);
    struct mp_block old;
    uint32_t i = 1;
    size_t grows_at = (size_t)(1u << 22) * 4 / 5; /* 4M slots hold this many at 80% */
    for (; mp_blocktab_count(&t) < grows_at; i++) {
        struct mp_block b = { 0x7f0000000000ull + (uint64_t)i * 32, 16, 1, 1000 }; /* 64 MiB of slots */
        REQUIRE(mp_blocktab_put(&t, &b, &old) == 0, "put %u failed", i);
    }
    ck_assert_uint_eq(t.mask + 1, 1u << 22);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs("5", f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    size_t before = status_bytes("VmRSS");
    struct mp_block b = { 0x7f0000000000ull + (uint64_t)i * 32, 16, 1, 1000 };
    ck_assert_int_eq(mp_blocktab_put(&t, &b, &old), 0);
    ck_assert_uint_eq(t.mask + 1, 1u << 23);
    size_t old_bytes = (size_t)16 << 22, new_bytes = (size_t)16 << 23, peak = status_bytes("VmHWM");
    ck_assert_msg(peak - before <= new_bytes - old_bytes + (8u << 20),
                  "growing from %zu to %zu bytes raised the peak by %zu bytes", old_bytes, new_bytes, peak - before);
    mp_blocktab_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blocktab");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_operations_match_reference);
    tcase_add_test(tc, block_moves_between_packed_and_wide);
    tcase_add_test(tc, thread_indexes_are_reused);
    tcase_add_test(tc, at_most_40_bytes_per_live_block);
    tcase_add_test(tc, growing_holds_at_most_the_new_table);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
