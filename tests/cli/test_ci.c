/* memprof tests: what CI scripts and diff users rely on: size parsing, the
 * limit gates (exit status, one line naming the culprit, report still
 * written) and byte-identical --stable reports. */
#define _GNU_SOURCE
#include "harness.h"
#include "cli/ci_limits.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(sizes_parse_with_binary_and_decimal_units)
{
    static const struct { const char *text; uint64_t bytes; } ok[] = {
        { "4096", 4096 },          { "1B", 1 },
        { "512KiB", 512 * 1024 },  { "24MiB", 24ULL << 20 },   { "24 MiB", 24ULL << 20 },
        { "24MB", 24000000 },      { "24mb", 24000000 },       { "1G", 1ULL << 30 },
        { "1.5GiB", 3ULL << 29 },  { "2T", 2ULL << 40 },       { "1kb", 1000 },
        { "100k", 102400 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        uint64_t v = 0;
        ck_assert_msg(mp_parse_size(ok[i].text, &v) == 0, "%s rejected", ok[i].text);
        ck_assert_msg(v == ok[i].bytes, "%s gave %llu", ok[i].text, (unsigned long long)v);
    }
    static const char *const bad[] = { "", "MiB", "-1MiB", "12 parsecs", "1e400", "0x10", "10MiBs", "nan" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t v;
        ck_assert_msg(mp_parse_size(bad[i], &v) != 0, "'%s' accepted", bad[i]);
    }
}
END_TEST

static const char *demo(void)
{
    static const char *path;
    if (!path)
        path = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "ci_demo");
    ck_assert_ptr_nonnull(path);
    return path;
}

/* demo.c's numbers, from its annotations (tests/fixtures/demo.c): the peak
 * is all 15,984 bytes it allocates (every block is live at once just before
 * report() frees its line buffer), the biggest line at the peak is line 41
 * (100 x 128 bytes = 12,800), and 6 bytes leak from line 29. */
START_TEST(limit_heap_breaks_with_status_3_and_names_the_line)
{
    char report[4096];
    snprintf(report, sizeof report, "%s/ci_limit.txt", test_tmp_dir());
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "-o", report, "--limit-heap", "10KiB", (char *)demo(), NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 3);
    ck_assert_int_eq(count_lines(o.err), 1);
    ck_assert_str_eq(o.err, "memprof: peak heap 15.6 KiB exceeds --limit-heap 10.0 KiB "
                            "(tests/fixtures/demo.c:41 held 12.5 KiB)\n");
    char *text = read_file(report, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "Summary"));
    free(text);
    run_output_free(&o);
}
END_TEST

START_TEST(limits_not_broken_keep_the_targets_status)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "-o", "/dev/null", "--limit-heap", "16KB", "--limit-leaks", "6B",
                     "--limit-rss", "1G", (char *)demo(), NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.err, "");
    run_output_free(&o);
}
END_TEST

START_TEST(every_broken_limit_gets_its_line_and_the_chosen_status)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "-o", "/dev/null", "--limit-leaks", "0B", "--limit-rss", "64KiB",
                     "--limit-status", "42", (char *)demo(), NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 42);
    ck_assert_int_eq(count_lines(o.err), 2);
    /* memcheck calls demo's 6 bytes definitely lost (the old name of record 7, dropped) */
    ck_assert_ptr_nonnull(strstr(o.err, "memprof: leaked memory (definite, indirect) 6 B exceeds --limit-leaks 0 B "
                                        "(tests/fixtures/demo.c:29 leaked 6 B)\n"));
    ck_assert_ptr_nonnull(strstr(o.err, "memprof: peak RSS "));
    ck_assert_ptr_nonnull(strstr(o.err, " exceeds --limit-rss 64.0 KiB ("));
    run_output_free(&o);
}
END_TEST

START_TEST(heap_limit_without_heap_data_fails_safe)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "-o", "/dev/null", "--engine", "none", "--limit-heap", "1MiB",
                     (char *)demo(), NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 3);
    ck_assert_int_eq(count_lines(o.err), 1);
    ck_assert_ptr_nonnull(strstr(o.err, "--limit-heap cannot be checked"));
    run_output_free(&o);
}
END_TEST

START_TEST(bad_limit_sizes_are_usage_errors)
{
    static const char *const bad[] = { "lots", "-5MiB", "5 parsecs", "1e3" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct run_output o;
        char *argv[] = { (char *)memprof_path(), "--limit-heap", (char *)bad[i], "true", NULL };
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
        ck_assert_int_eq(o.status, 2);
        ck_assert_ptr_nonnull(strstr(o.err, "--limit-heap takes a size"));
        run_output_free(&o);
    }
}
END_TEST

static void run_stable(const char *exe, const char *tag, int i, char **text, char **json)
{
    char t[4096], j[4096];
    snprintf(t, sizeof t, "%s/ci_%s_%d.txt", test_tmp_dir(), tag, i);
    snprintf(j, sizeof j, "%s/ci_%s_%d.json", test_tmp_dir(), tag, i);
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", t, "--json", j, (char *)exe, NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    run_output_free(&o);
    *text = read_file(t, NULL);
    *json = read_file(j, NULL);
    ck_assert_ptr_nonnull(*text);
    ck_assert_ptr_nonnull(*json);
}

START_TEST(stable_reports_are_byte_identical)
{
    static const char *const builds[][4] = {
        { "tests/fixtures/demo.c", "gcc", "-O2 -g", "st_demo" },
        { "tests/fixtures/basic.c", "gcc", "-O0 -g", "st_basic" },
        { "tests/fixtures/cxx.cpp", "g++", "-O2 -g", "st_cxx" },
        { "tests/fixtures/nodebug.c", "gcc", "-O0", "st_nodebug" },
    };
    for (size_t b = 0; b < sizeof builds / sizeof *builds; b++) {
        const char *exe = build_fixture(builds[b][0], builds[b][1], builds[b][2], builds[b][3]);
        ck_assert_ptr_nonnull(exe);
        char *t1, *j1, *t2, *j2;
        run_stable(exe, builds[b][3], 1, &t1, &j1);
        run_stable(exe, builds[b][3], 2, &t2, &j2);
        ck_assert_msg(strcmp(t1, t2) == 0, "%s: text reports differ", builds[b][3]);
        ck_assert_msg(strcmp(j1, j2) == 0, "%s: JSON reports differ", builds[b][3]);
        ck_assert_ptr_null(strstr(t1, "peak RSS"));
        ck_assert_ptr_null(strstr(t1, "RSS at exit"));
        ck_assert_ptr_nonnull(strstr(j1, "\"stable\": true"));
        ck_assert_ptr_nonnull(strstr(j1, "\"peak_rss_bytes\": null"));
        ck_assert_ptr_nonnull(strstr(j1, "\"timeline\": []"));
        free(t1), free(j1), free(t2), free(j2);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ci");
    TCase *tc = tcase_create("gates and stable output");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, sizes_parse_with_binary_and_decimal_units);
    tcase_add_test(tc, limit_heap_breaks_with_status_3_and_names_the_line);
    tcase_add_test(tc, limits_not_broken_keep_the_targets_status);
    tcase_add_test(tc, every_broken_limit_gets_its_line_and_the_chosen_status);
    tcase_add_test(tc, heap_limit_without_heap_data_fails_safe);
    tcase_add_test(tc, bad_limit_sizes_are_usage_errors);
    tcase_add_test(tc, stable_reports_are_byte_identical);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
