/* memprof: tests of the source-line reader (src/symbols/sources.c).
 *
 * Files are written by the test, so every expected line is known: ranges
 * asked for are there, lines outside them are not, across the reader's
 * 64 KiB buffer (lines longer than it, CRLF split between two reads), a
 * last line without a newline, a file asked for again after a read, missing
 * files in the order first asked for, and the lines of a saved report. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "symbols/sources.h"

#define NLINES 40000

static char path[4096];
static char *expected[NLINES + 1];   /* expected[i]: line i (1-based) */

/* Line i's text: lengths vary from 0 to beyond 64 KiB, some lines end in
 * CRLF (the CR is not part of the line), one holds a lone CR inside. */
static char *make_line(int i)
{
    size_t len = (size_t)((i * 7919) % 97);
    if (i % 5000 == 17)
        len = 70000 + (size_t)i;         /* longer than the reader's buffer */
    char *s = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
        s[k] = (char)('a' + (i + (int)k) % 26);
    s[len] = '\0';
    if (i == 123 && len > 2)
        s[1] = '\r';                     /* a CR that does not end the line stays */
    return s;
}

static void write_fixture(int final_newline)
{
    snprintf(path, sizeof path, "%s/sources-test-%d.c", test_tmp_dir(), (int)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 1; i <= NLINES; i++) {
        free(expected[i]);
        expected[i] = make_line(i);
        fputs(expected[i], f);
        if (i < NLINES || final_newline)
            fputs(i % 3 == 0 ? "\r\n" : "\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void check_line(const struct mp_sources *s, int line, int asked)
{
    const char *got = mp_sources_line(s, path, line);
    if (!asked || line > NLINES) {
        if (got != NULL)
            ck_abort_msg("line %d was not asked for but reads \"%.20s\"", line, got);
        return;
    }
    if (got == NULL || strcmp(got, expected[line]) != 0)
        ck_abort_msg("line %d: got \"%.20s\" (%zu bytes), expected \"%.20s\" (%zu bytes)", line, got ? got : "(null)",
                     got ? strlen(got) : 0, expected[line], strlen(expected[line]));
}

START_TEST(only_the_ranges_asked_for)
{
    write_fixture(1);
    struct mp_sources *s = mp_sources_new();
    mp_sources_want(s, path, 10, 12);
    mp_sources_want(s, path, 5015, 5020);    /* holds a line longer than the buffer */
    mp_sources_want(s, path, 5018, 5030);    /* overlaps */
    mp_sources_want(s, path, 39990, 50000);  /* runs past the end */
    mp_sources_read(s);
    for (int i = 1; i <= NLINES + 5; i++) {
        int asked = (i >= 10 && i <= 12) || (i >= 5015 && i <= 5030) || i >= 39990;
        check_line(s, i, asked);
    }
    /* Asked again after the read: the file is read again with both. */
    mp_sources_want(s, path, 100, 130);
    ck_assert_ptr_null(mp_sources_line(s, path, 100));
    mp_sources_read(s);
    for (int i = 1; i <= NLINES; i++) {
        int asked = (i >= 10 && i <= 12) || (i >= 100 && i <= 130) || (i >= 5015 && i <= 5030) || i >= 39990;
        check_line(s, i, asked);
    }
    const char *const *missing;
    ck_assert_uint_eq(mp_sources_missing(s, &missing), 0);
    mp_sources_free(s);
    unlink(path);
}
END_TEST

START_TEST(whole_file_without_final_newline)
{
    write_fixture(0);
    struct mp_sources *s = mp_sources_new();
    mp_sources_load(s, path);
    for (int i = 1; i <= NLINES + 1; i++)
        check_line(s, i, 1);
    mp_sources_free(s);
    unlink(path);
}
END_TEST

START_TEST(missing_files_in_the_order_asked)
{
    write_fixture(1);
    struct mp_sources *s = mp_sources_new();
    mp_sources_want(s, "/nonexistent/b.c", 1, 0);
    mp_sources_want(s, path, 1, 0);          /* only checked, no line kept */
    mp_sources_want(s, "/nonexistent/a.c", 3, 9);
    mp_sources_want(s, "/nonexistent/b.c", 1, 5);
    mp_sources_read(s);
    const char *const *missing;
    ck_assert_uint_eq(mp_sources_missing(s, &missing), 2);
    ck_assert_str_eq(missing[0], "/nonexistent/b.c");
    ck_assert_str_eq(missing[1], "/nonexistent/a.c");
    ck_assert_ptr_null(mp_sources_line(s, path, 1));
    ck_assert_ptr_null(mp_sources_line(s, "/nonexistent/a.c", 3));
    mp_sources_free(s);
    unlink(path);
}
END_TEST

START_TEST(saved_report_lines)
{
    struct mp_sources *s = mp_sources_new();
    ck_assert_int_eq(mp_sources_set_line(s, "/saved/x.c", 7, "int x;"), 0);
    ck_assert_int_eq(mp_sources_set_line(s, "/saved/x.c", 3, "int y;"), 0);
    mp_sources_want(s, "/saved/x.c", 1, 10);  /* never read from disk */
    mp_sources_read(s);
    ck_assert_str_eq(mp_sources_line(s, "/saved/x.c", 7), "int x;");
    ck_assert_str_eq(mp_sources_line(s, "/saved/x.c", 3), "int y;");
    ck_assert_ptr_null(mp_sources_line(s, "/saved/x.c", 4));
    ck_assert_ptr_null(mp_sources_line(s, "/saved/x.c", 8));
    const char *const *missing;
    ck_assert_uint_eq(mp_sources_missing(s, &missing), 0);
    mp_sources_free(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sources");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, only_the_ranges_asked_for);
    tcase_add_test(tc, whole_file_without_final_newline);
    tcase_add_test(tc, missing_files_in_the_order_asked);
    tcase_add_test(tc, saved_report_lines);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
