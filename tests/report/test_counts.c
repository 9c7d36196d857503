/* memprof tests: the words after a count, in the text report and the HTML
 * page alike: "1 call", "1 block" for one, "2 calls", "2 blocks" for two.
 * The fixture (tests/fixtures/counts.c) loses N blocks of 24 bytes through
 * xmalloc and allocates nothing else (valgrind agrees: its header), so
 * every number below is N, N x 24 or 0, and the line is the fixture's own
 * "the lost blocks' line". */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *counts_exe(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *p = build_fixture("tests/fixtures/counts.c", "gcc", "-O0 -g", "counts");
        ck_assert_ptr_nonnull(p);
        snprintf(path, sizeof path, "%s", p);
    }
    return path;
}

/* memprof --stable --show all [extra] counts N: its report (stderr) */
static char *report_of(int n, const char *extra)
{
    char arg[4];
    snprintf(arg, sizeof arg, "%d", n);
    char *argv[] = { (char *)memprof_path(), "--stable", "--show", "all", (char *)(extra ? extra : "--top=10"),
                     (char *)counts_exe(), arg, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof exited %d: %s", o.status, o.err);
    char *err = strdup(o.err);
    run_output_free(&o);
    return err;
}

static void expect_line(const char *text, const char *line)
{
    char *want = NULL;
    ck_assert_int_ge(asprintf(&want, "\n%s\n", line), 0);
    ck_assert_msg(strstr(text, want) != NULL, "missing line [%s] in:\n%s", line, text);
    free(want);
}

/* The exact lines that carry a count and a noun, for N blocks. */
static void expect_count_lines(const char *text, int n)
{
    int line = fixture_source_line("counts.c", "the lost blocks' line");
    ck_assert_int_gt(line, 0);
    const char *calls = n == 1 ? "call" : "calls", *blocks = n == 1 ? "block" : "blocks";
    char buf[512];
    snprintf(buf, sizeof buf, "  allocations        %d %s, %d B", n, calls, 24 * n);
    expect_line(text, buf);
    expect_line(text, "  frees              0 calls, 0 B");
    expect_line(text, "  temporary          0 calls");
    snprintf(buf, sizeof buf,
             "  leaked at exit     %d B in %d %s: %d B definitely lost, 0 B indirectly, 0 B possibly, 0 B still "
             "reachable", 24 * n, n, blocks, 24 * n);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "Leaks: %d B in %d %s never freed, by memcheck's kinds", 24 * n, n, blocks);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "  definitely lost    %d B in %d %s", 24 * n, n, blocks);
    expect_line(text, buf);
    expect_line(text, "  indirectly lost    0 B in 0 blocks");
    snprintf(buf, sizeof buf, "Definitely lost: %d B in %d %s", 24 * n, n, blocks);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "  %d B in %d %s allocated from:", 24 * n, n, blocks);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "  %d %s of 24 B (%d live at exit) from:", n, calls, n);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "Callers of tests/fixtures/counts.c:%d (main): %d B in %d %s", line, 24 * n, n, calls);
    expect_line(text, buf);
    snprintf(buf, sizeof buf, "  allocation wrappers charged to their callers: xmalloc (found, %d %s); "
             "--no-auto-alloc-fn keeps the ones found", n, calls);
    expect_line(text, buf);
    /* no count anywhere is followed by the wrong number of its noun */
    ck_assert_ptr_null(strstr(text, " 1 calls"));
    ck_assert_ptr_null(strstr(text, " 1 blocks"));
    ck_assert_ptr_null(strstr(text, " 2 call "));
    ck_assert_ptr_null(strstr(text, " 2 block "));
}

START_TEST(text_one_and_two)
{
    for (int n = 1; n <= 2; n++) {
        char *text = report_of(n, NULL);
        expect_count_lines(text, n);
        free(text);
    }
}
END_TEST

START_TEST(html_one_and_two)
{
    for (int n = 1; n <= 2; n++) {
        char *html_path = NULL;
        ck_assert_int_ge(asprintf(&html_path, "--export=html=%s/counts_%d.html", test_tmp_dir(), n), 0);
        free(report_of(n, html_path));
        char *html = read_file(html_path + strlen("--export=html="), NULL);
        ck_assert_ptr_nonnull(html);
        const char *calls = n == 1 ? "call" : "calls";
        char buf[512];
        snprintf(buf, sizeof buf, "<tr><td>allocations</td><td class=\"l\">%d %s, %d B</td></tr>", n, calls, 24 * n);
        ck_assert_msg(strstr(html, buf) != NULL, "missing [%s]", buf);
        snprintf(buf, sizeof buf, "xmalloc (found, %d %s)", n, calls);
        ck_assert_msg(strstr(html, buf) != NULL, "missing [%s]", buf);
        ck_assert_ptr_null(strstr(html, ">1 calls"));
        ck_assert_ptr_null(strstr(html, " 1 calls"));
        ck_assert_ptr_null(strstr(html, " 1 blocks"));
        free(html);
        free(html_path);
    }
}
END_TEST

/* scripts/torture prints its rows' counts through scripts/count.sh's
 * count_noun, the rule of the report (src/base/count): thousands
 * separators, the noun singular for exactly 1 (its RLIMIT_AS row printed
 * "1 calls").  Its rows name no count with a fixed plural any more. */
START_TEST(torture_counts_as_the_report)
{
    static const struct {
        const char *n, *want;
    } cases[] = { { "0", "0 calls" },         { "1", "1 call" },           { "2", "2 calls" },
                  { "999", "999 calls" },     { "1000", "1,000 calls" },   { "1002", "1,002 calls" },
                  { "12800000", "12,800,000 calls" }, { "", "? calls" } };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *script = NULL;
        ck_assert_int_ge(asprintf(&script, ". '%s' && count_noun '%s' call calls", repo_path("scripts/count.sh"),
                                  cases[i].n), 0);
        char *argv[] = { "bash", "-c", script, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
        ck_assert_msg(o.status == 0, "count_noun %s: status %d: %s", cases[i].n, o.status, o.err);
        ck_assert_str_eq(o.out, cases[i].want);
        run_output_free(&o);
        free(script);
    }
    /* no row of torture's prints a count before a fixed "calls" */
    char *torture = read_file(repo_path("scripts/torture"), NULL);
    ck_assert_ptr_nonnull(torture);
    ck_assert_msg(strstr(torture, "} calls") == NULL, "scripts/torture still prints \"${N} calls\"");
    free(torture);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("counts");
    TCase *tc = tcase_create("counts");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, text_one_and_two);
    tcase_add_test(tc, html_one_and_two);
    tcase_add_test(tc, torture_counts_as_the_report);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
