/* memprof: tests of the binary search over arrays sorted by a 64-bit key
 * (src/base/bsearch_u64.c), against a linear count: empty arrays, one
 * element, runs of equal keys, keys at 0 and UINT64_MAX, and random arrays
 * of structs with the key at an offset other than 0. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/bsearch_u64.h"

struct item {
    uint32_t tag;
    uint64_t key;
    char pad[5];
};

static size_t linear(const struct item *a, size_t n, uint64_t key)
{
    size_t c = 0;
    while (c < n && a[c].key <= key)
        c++;
    return c;
}

static int by_key(const void *x, const void *y)
{
    uint64_t a = ((const struct item *)x)->key, b = ((const struct item *)y)->key;
    return a < b ? -1 : a > b;
}

START_TEST(edges)
{
    struct item one[1] = { { 7, 100, "" } };
    ck_assert_uint_eq(mp_count_keys_at_or_below(one, 0, sizeof *one, offsetof(struct item, key), 5), 0);
    ck_assert_uint_eq(mp_count_keys_at_or_below(one, 1, sizeof *one, offsetof(struct item, key), 99), 0);
    ck_assert_uint_eq(mp_count_keys_at_or_below(one, 1, sizeof *one, offsetof(struct item, key), 100), 1);
    ck_assert_uint_eq(mp_count_keys_at_or_below(one, 1, sizeof *one, offsetof(struct item, key), UINT64_MAX), 1);
    struct item ends[3] = { { 0, 0, "" }, { 0, 5, "" }, { 0, UINT64_MAX, "" } };
    ck_assert_uint_eq(mp_count_keys_at_or_below(ends, 3, sizeof *ends, offsetof(struct item, key), 0), 1);
    ck_assert_uint_eq(mp_count_keys_at_or_below(ends, 3, sizeof *ends, offsetof(struct item, key), UINT64_MAX - 1), 2);
    ck_assert_uint_eq(mp_count_keys_at_or_below(ends, 3, sizeof *ends, offsetof(struct item, key), UINT64_MAX), 3);
}
END_TEST

START_TEST(random_arrays)
{
    srand(12345);
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rand() % 300);
        struct item *a = calloc(n ? n : 1, sizeof *a);
        for (size_t i = 0; i < n; i++)
            a[i].key = (uint64_t)(rand() % 64) * 1000; /* runs of equal keys */
        qsort(a, n, sizeof *a, by_key);
        for (uint64_t key = 0; key < 66000; key += 250)
            ck_assert_uint_eq(mp_count_keys_at_or_below(a, n, sizeof *a, offsetof(struct item, key), key),
                              linear(a, n, key));
        free(a);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bsearch_u64");
    TCase *tc = tcase_create("bsearch_u64");
    tcase_add_test(tc, edges);
    tcase_add_test(tc, random_arrays);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
