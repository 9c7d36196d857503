/* memprof tests: which images of a process tree get a section.  An image
 * whose peak heap is under 1% of the tree's highest (a wrapper) is folded
 * out of the table and gets no section; one killed by a signal is never
 * hidden: it keeps its row and gets its section, in the text and the HTML
 * alike.  tests/fixtures/tree.c "smallkilled 1048576": the parent holds
 * 1 MiB, its child allocates 40 bytes and kills itself with SIGKILL
 * (40 * 100 < 1 MiB: negligible by the 1% rule). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t section_ids(const char *text, int *ids, size_t max)
{
    size_t n = 0;
    for (const char *h = text; n < max && (h = strstr(h, "\n=== Process #")); h++)
        ids[n++] = atoi(h + strlen("\n=== Process #"));
    return n;
}

START_TEST(small_killed_child_keeps_its_section)
{
    const char *exe = build_fixture("tests/fixtures/tree.c", "gcc", "-O0 -g", "tree_sections");
    ck_assert_ptr_nonnull(exe);
    char *report = NULL, *html = NULL, *exp = NULL;
    ck_assert_int_ge(asprintf(&report, "%s/tree_sections.txt", test_tmp_dir()), 0);
    ck_assert_int_ge(asprintf(&html, "%s/tree_sections.html", test_tmp_dir()), 0);
    ck_assert_int_ge(asprintf(&exp, "html=%s", html), 0);
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", report, "--export", exp, (char *)exe, "smallkilled",
                     "1048576", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof exited %d: %s", o.status, o.err);
    run_output_free(&o);
    char *text = read_file(report, NULL);
    ck_assert_ptr_nonnull(text);
    /* the child's row, and its section after the parent's (1 MiB before 40 B) */
    ck_assert_msg(strstr(text, "\n    2  fork #1 ") != NULL, "no row for the killed child:\n%.3000s", text);
    int ids[8];
    ck_assert_msg(section_ids(text, ids, 8) == 2, "sections:\n%.3000s", text);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 2);
    const char *child = strstr(text, "\n=== Process #2: ");
    ck_assert_ptr_nonnull(child);
    ck_assert_msg(strstr(child, "killed by signal 9") != NULL, "%.400s", child);
    ck_assert_ptr_nonnull(strstr(child, "\n  allocations        1 call, 40 B\n"));
    ck_assert_ptr_null(strstr(text, "without a section"));
    char *page = read_file(html, NULL);
    ck_assert_ptr_nonnull(page);
    ck_assert_ptr_nonnull(strstr(page, "<section class=\"process\" id=\"process-1\">"));
    ck_assert_ptr_nonnull(strstr(page, "<section class=\"process\" id=\"process-2\">"));
    ck_assert_ptr_null(strstr(page, "without a section"));
    free(page);
    free(text);
    free(report);
    free(html);
    free(exp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tree_sections");
    TCase *tc = tcase_create("tree_sections");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, small_killed_child_keeps_its_section);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
