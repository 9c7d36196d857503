/* memprof tests: the command line's conventions, for every command (memprof,
 * memprof report, memprof plot, memprof diff): a value given to an option that takes none
 * is an error naming it, "-" is standard output for -o and --json, and every
 * line of --help fits 80 columns. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *demo(void)
{
    static const char *path;
    if (!path)
        path = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "cli_demo");
    ck_assert_ptr_nonnull(path);
    return path;
}

/* Runs memprof with the given arguments (NULL-terminated, at most 16). */
static void run_memprof(struct run_output *o, const char *const *args)
{
    char *argv[18] = { (char *)memprof_path() };
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, o), 0);
}

/* The first line of stderr. */
static void first_line_is(const struct run_output *o, const char *want)
{
    const char *nl = strchr(o->err, '\n');
    size_t len = nl ? (size_t)(nl - o->err) : strlen(o->err);
    ck_assert_msg(len == strlen(want) && strncmp(o->err, want, len) == 0, "stderr: %s\nwanted: %s", o->err, want);
}

START_TEST(values_given_to_flags_are_errors_that_name_the_option)
{
    static const struct {
        const char *args[5];
        const char *line;
    } cases[] = {
        { { "--help=foo", NULL }, "memprof: option --help takes no value: write --help, not --help=foo" },
        { { "--stable=yes", "true", NULL }, "memprof: option --stable takes no value: write --stable, not --stable=yes" },
        { { "--bogus=1", "true", NULL }, "memprof: unknown option --bogus" },
        { { "-x", "true", NULL }, "memprof: unknown option -x" },
        /* report's option tried on a run: the error names the run's way */
        { { "--format=html", "true", NULL },
          "memprof: unknown option --format: a run writes other formats with --export FORMAT=FILE (memprof report "
          "FILE.json --format=FORMAT renders a saved report)" },
        { { "--top", NULL }, "memprof: option --top needs a value" },
        { { "report", "--stable=1", "a.json", NULL },
          "memprof: option --stable takes no value: write --stable, not --stable=1" },
        { { "report", "--help=x", NULL }, "memprof: option --help takes no value: write --help, not --help=x" },
        { { "diff", "--help=x", "a", NULL }, "memprof: option --help takes no value: write --help, not --help=x" },
        { { "diff", "--nope", "a", NULL }, "memprof: unknown option --nope" },
        /* views and callers: checked before anything runs */
        { { "--show=tree,bogus", "true", NULL },
          "memprof: --show: unknown view 'bogus' (views: summary, top, calls, peak, leaks, temporary, largest, sizes, "
          "threads, rate, tree, callers, rss, tables; all; +VIEW or -VIEW changes the default)" },
        { { "--show", "", "true", NULL },
          "memprof: --show takes a list of views such as summary,tree (views: summary, top, calls, peak, leaks, "
          "temporary, largest, sizes, threads, rate, tree, callers, rss, tables, all)" },
        { { "--callers", "app.c:", "true", NULL },
          "memprof: --callers takes FILE:LINE (such as app.c:24) or a function name, not 'app.c:'" },
        { { "report", "--show=+tree,sizes", "a.json", NULL },
          "memprof: --show: 'sizes': give either a list of views or +VIEW/-VIEW changes to the default, not both" },
        { { "report", "--callers", "x.c:0", "a.json", NULL },
          "memprof: --callers takes FILE:LINE (such as app.c:24) or a function name, not 'x.c:0'" },
        { { "plot", "--help=x", NULL }, "memprof: option --help takes no value: write --help, not --help=x" },
        { { "plot", "--nope", "a", NULL }, "memprof: unknown option --nope" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct run_output o;
        run_memprof(&o, cases[i].args);
        ck_assert_msg(o.status == 2, "%s: exit %d", cases[i].args[0], o.status);
        first_line_is(&o, cases[i].line);
        ck_assert_str_eq(o.out, "");
        run_output_free(&o);
    }
}
END_TEST

START_TEST(dash_is_standard_output)
{
    /* -o -: the text report on stdout (the program's own output goes there too) */
    struct run_output o;
    const char *text_args[] = { "--stable", "-o", "-", demo(), NULL };
    run_memprof(&o, text_args);
    ck_assert_int_eq(o.status, 0);
    ck_assert_ptr_nonnull(strstr(o.out, "\nSummary\n"));
    ck_assert_ptr_null(strstr(o.err, "Summary"));
    ck_assert_int_eq(access("-", F_OK), -1); /* no file called "-" */
    char *text = strdup(strstr(o.out, "memprof: "));
    run_output_free(&o);

    /* --json -: the JSON on stdout, the text report on stderr as usual */
    const char *json_args[] = { "--stable", "--json", "-", demo(), NULL };
    run_memprof(&o, json_args);
    ck_assert_int_eq(o.status, 0);
    ck_assert_ptr_nonnull(strstr(o.out, "\"schema\""));
    ck_assert_ptr_nonnull(strstr(o.err, "\nSummary\n"));
    char path[4096];
    snprintf(path, sizeof path, "%s/cli_dash.json", test_tmp_dir());
    const char *json = strstr(o.out, "{\n");
    ck_assert_ptr_nonnull(json);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    run_output_free(&o);

    /* memprof report -o -: the same text report, from the saved JSON */
    const char *report_args[] = { "report", path, "-o", "-", NULL };
    run_memprof(&o, report_args);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.out, text);
    run_output_free(&o);

    /* memprof diff -o -: a report against itself changes nothing */
    const char *diff_args[] = { "diff", path, path, "-o", "-", NULL };
    run_memprof(&o, diff_args);
    ck_assert_int_eq(o.status, 0);
    ck_assert_ptr_nonnull(strstr(o.out, "no line changed"));
    run_output_free(&o);

    /* both on stdout would interleave: refused */
    const char *both_args[] = { "-o", "-", "--json", "-", demo(), NULL };
    run_memprof(&o, both_args);
    ck_assert_int_eq(o.status, 2);
    first_line_is(&o, "memprof: -o - and --json - would both write to standard output: send one to a file");
    run_output_free(&o);
    free(text);
}
END_TEST

START_TEST(help_fits_80_columns)
{
    static const char *const cmds[][3] = { { "--help", NULL }, { "report", "--help", NULL }, { "diff", "--help", NULL },
                                           { "plot", "--help", NULL } };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        struct run_output o;
        run_memprof(&o, cmds[i]);
        ck_assert_int_eq(o.status, 0);
        ck_assert_msg(count_lines(o.out) > 5, "%s: no help", cmds[i][0]);
        for (const char *line = o.out; *line;) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            ck_assert_msg(len <= 80, "%s %s: a line of %zu columns: %.*s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "",
                          len, (int)len, line);
            line += len + (nl != NULL);
        }
        run_output_free(&o);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("conventions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, values_given_to_flags_are_errors_that_name_the_option);
    tcase_add_test(tc, dash_is_standard_output);
    tcase_add_test(tc, help_fits_80_columns);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
