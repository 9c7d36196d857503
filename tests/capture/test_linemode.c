/* memprof tests: line mode (--function) end to end.
 *
 * Fixtures: tests/fixtures/linemode.c (touch: 64 MiB malloc'd, written,
 * a counted loop, freed; small() called 3 times), linemode_edge.c
 * (recursion, longjmp, an inlined function, threads one after the other),
 * linemode_threads.c (4 threads at once plus a SIGALRM timer).  Lines are
 * found by their "@lm:NAME" markers; the expected numbers are derived in
 * each fixture's header comment.  Built with -O0 -g (and -O2 -g for the
 * memory numbers of linemode.c). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)

/* Line number of the fixture line carrying "@lm:<name> " or "@lm:<name> *". */
static int marker_line(const char *fixture, const char *name)
{
    char rel[256], pat[128];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", fixture);
    snprintf(pat, sizeof pat, "@lm:%s ", name);
    char *src = read_file(repo_path(rel), NULL);
    ck_assert_ptr_nonnull(src);
    int line = 1, found = 0;
    for (char *p = src; *p; p++) {
        if (strncmp(p, pat, strlen(pat)) == 0) {
            found = line;
            break;
        }
        if (*p == '\n')
            line++;
    }
    free(src);
    ck_assert_msg(found > 0, "marker @lm:%s not in %s", name, fixture);
    return found;
}

static void run_memprof(char **args, int expect_status, struct run_output *o)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)memprof_path();
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, o), 0);
    ck_assert_msg(o->status == expect_status, "status %d, expected %d\n%s", o->status, expect_status, o->err);
}

/* ---- the text tables ---- */

struct text_row {
    int seen, blank;
    double mem_mib, inc_mib;
    long occurrences;
};

/* Rows of the line table that starts after the line-mode heading and whose
 * rows contain `decl_text` on line `decl_line` (the function's first row). */
static void parse_text_table(const char *report, int decl_line, struct text_row *rows, int max_line,
                             int *precision_seen)
{
    const char *start = strstr(report, "\nLine by line (--function)");
    ck_assert_msg(start != NULL, "no line-mode section in:\n%s", report);
    char *copy = strdup(start);
    int in_table = 0, found = 0;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "Filename: ", 10) == 0) {
            if (found)
                break; /* the next table */
            in_table = 0;
            continue;
        }
        if (strcmp(line, "Line #    Mem usage    Increment  Occurrences   Line Contents") == 0) {
            in_table = 1;
            continue;
        }
        if (!in_table || line[0] == '=')
            continue;
        if (strlen(line) < 44)
            continue;
        int ln = atoi(line);
        if (ln == decl_line)
            found = 1;
        if (!found || ln <= 0 || ln >= max_line)
            continue;
        struct text_row *r = &rows[ln];
        r->seen = 1;
        char mem[16], inc[16], occ[16];
        snprintf(mem, sizeof mem, "%.12s", line + 7);
        snprintf(inc, sizeof inc, "%.12s", line + 20);
        snprintf(occ, sizeof occ, "%.10s", line + 34);
        r->blank = strspn(mem, " ") == strlen(mem);
        if (!r->blank) {
            ck_assert_msg(strstr(mem, " MiB") && strstr(inc, " MiB"), "bad row: %s", line);
            r->mem_mib = atof(mem);
            r->inc_mib = atof(inc);
            r->occurrences = atol(occ);
            const char *dot = strchr(inc, '.');
            if (dot && precision_seen)
                *precision_seen = (int)(strstr(inc, " MiB") - dot - 1);
        }
    }
    free(copy);
    ck_assert_msg(found, "no table with line %d", decl_line);
}

static void check_touch_text(const char *flags)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", flags, "linemode_text");
    ck_assert_ptr_nonnull(exe);
    struct run_output o;
    char *args[] = { "--precision", "2", "--function", "touch", "--function", "small", (char *)exe, NULL };
    run_memprof(args, 0, &o);
    struct text_row rows[128];
    memset(rows, 0, sizeof rows);
    int precision = -1;
    int malloc_line = marker_line("linemode.c", "malloc"), memset_line = marker_line("linemode.c", "memset");
    int free_line = marker_line("linemode.c", "free"), loop = marker_line("linemode.c", "loop");
    int body = marker_line("linemode.c", "body"), decl = marker_line("linemode.c", "decl");
    parse_text_table(o.err, decl, rows, 128, &precision);
    ck_assert_int_eq(precision, 2);
    ck_assert_msg(rows[memset_line].seen && !rows[memset_line].blank, "memset row missing");
    ck_assert_msg(rows[memset_line].inc_mib >= 63.0, "memset line: %+.2f MiB\n%s", rows[memset_line].inc_mib, o.err);
    ck_assert_msg(rows[free_line].inc_mib <= -63.0, "free line: %+.2f MiB\n%s", rows[free_line].inc_mib, o.err);
    ck_assert_msg(rows[memset_line].mem_mib >= 64.0, "memset line mem %.2f", rows[memset_line].mem_mib);
    ck_assert_int_eq(rows[malloc_line].occurrences, 1);
    ck_assert_int_eq(rows[memset_line].occurrences, 1);
    ck_assert_int_eq(rows[free_line].occurrences, 1);
    ck_assert_int_eq(rows[loop].occurrences, 17);
    ck_assert_int_eq(rows[body].occurrences, 16);
    ck_assert_msg(rows[decl].seen && rows[decl].blank, "the declaration line is a blank row");
    /* small: every line that ran, 3 times */
    struct text_row srows[128];
    memset(srows, 0, sizeof srows);
    int sdecl = marker_line("linemode.c", "small_decl"), sbody = marker_line("linemode.c", "small_body");
    parse_text_table(o.err, sdecl, srows, 128, NULL);
    ck_assert_int_eq(srows[sbody].occurrences, 3);
    for (int l = sdecl; l < 128; l++)
        if (srows[l].seen && !srows[l].blank)
            ck_assert_int_eq(srows[l].occurrences, 3);
    /* line tables come before the heap report's tables */
    const char *lines_at = strstr(o.err, "Line by line (--function)");
    const char *heap_table = strstr(lines_at, "\nFilename: ");
    ck_assert_ptr_nonnull(heap_table);
    run_output_free(&o);
}

START_TEST(touch_rss_text_O0) { check_touch_text("-O0 -g"); }
END_TEST

START_TEST(touch_rss_text_O2)
{
    /* -O2: the loop and the lines around it survive (volatile); only the
     * memory numbers and the loop counts are checked */
    check_touch_text("-O2 -g");
}
END_TEST

/* ---- JSON ---- */

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_msg(root != NULL, "%s: invalid JSON: %s (line %d)", path, e.text, e.line);
    return root;
}

static json_t *line_table(json_t *root, const char *function)
{
    json_t *tables = json_object_get(root, "line_tables");
    ck_assert_msg(json_is_array(tables), "no line_tables array");
    for (size_t i = 0; i < json_array_size(tables); i++) {
        json_t *t = json_array_get(tables, i);
        if (strcmp(json_string_value(json_object_get(t, "function")), function) == 0)
            return t;
    }
    ck_abort_msg("no line table for %s", function);
    return NULL;
}

static json_t *row_for(json_t *table, int line)
{
    json_t *rows = json_object_get(table, "rows");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (json_integer_value(json_object_get(r, "line")) == line)
            return r;
    }
    ck_abort_msg("no row for line %d", line);
    return NULL;
}

static json_int_t row_int(json_t *table, int line, const char *key)
{
    return json_integer_value(json_object_get(row_for(table, line), key));
}

START_TEST(touch_heap_json)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", "-O0 -g", "linemode_json");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_heap.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--metric=heap", "--json", json, "--function", "touch", (char *)exe, NULL };
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    /* the heap report is all there too */
    ck_assert(json_is_array(json_object_get(root, "tables")));
    ck_assert(json_is_object(json_object_get(root, "summary")));
    json_t *t = line_table(root, "touch");
    ck_assert_str_eq(json_string_value(json_object_get(t, "metric")), "heap");
    const char *file = json_string_value(json_object_get(t, "file"));
    ck_assert_msg(strstr(file, "linemode.c") != NULL, "file %s", file);
    /* rows: the shape of the heap tables */
    json_t *rows = json_object_get(t, "rows");
    ck_assert_int_gt(json_array_size(rows), 8);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        ck_assert_int_eq(json_object_size(r), 5);
        ck_assert(json_is_integer(json_object_get(r, "line")));
        ck_assert(json_is_integer(json_object_get(r, "mem_usage_bytes")));
        ck_assert(json_is_integer(json_object_get(r, "increment_bytes")));
        ck_assert(json_is_integer(json_object_get(r, "occurrences")));
        ck_assert(json_is_string(json_object_get(r, "text")));
        if (i)
            ck_assert_int_eq(json_integer_value(json_object_get(r, "line")),
                             json_integer_value(json_object_get(json_array_get(rows, i - 1), "line")) + 1);
    }
    int m = marker_line("linemode.c", "malloc"), s = marker_line("linemode.c", "memset");
    int f = marker_line("linemode.c", "free"), loop = marker_line("linemode.c", "loop");
    int body = marker_line("linemode.c", "body"), decl = marker_line("linemode.c", "decl");
    ck_assert_int_eq(row_int(t, m, "increment_bytes"), 67108864);
    ck_assert_int_eq(row_int(t, m, "mem_usage_bytes"), 67108864);
    ck_assert_int_eq(row_int(t, s, "increment_bytes"), 0);
    ck_assert_int_eq(row_int(t, f, "increment_bytes"), -67108864);
    ck_assert_int_eq(row_int(t, f, "mem_usage_bytes"), 0);
    ck_assert_int_eq(row_int(t, loop, "occurrences"), 17);
    ck_assert_int_eq(row_int(t, body, "occurrences"), 16);
    ck_assert_int_eq(row_int(t, m, "occurrences"), 1);
    ck_assert_int_eq(row_int(t, decl, "occurrences"), 0);
    ck_assert_msg(strstr(json_string_value(json_object_get(row_for(t, m), "text")), "malloc(n)") != NULL,
                  "source text");
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* A forked child inherits the text with our INT3s in it: they must be
 * taken out of its copy, or it dies of SIGTRAP (exit 105 here). */
START_TEST(forked_child_runs_without_breakpoints)
{
    const char *exe = build_fixture("tests/fixtures/linemode_fork.c", "gcc", "-O0 -g", "linemode_fork");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_fork.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--metric=heap", "--json", json, "--function", "work", (char *)exe, NULL };
    run_memprof(args, 7, &o);
    json_t *tree = load_json(json);
    /* the child is followed: a tree whose first process is the parent, with
     * the line tables; the child's own image saw its 1 MiB block */
    json_t *procs = json_object_get(tree, "processes");
    ck_assert_msg(json_is_array(procs) && json_array_size(procs) == 2, "expected the parent and the child");
    json_t *root = json_array_get(procs, 0), *child = json_array_get(procs, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(child, "exit"), "code")), 7);
    json_t *cs = json_object_get(child, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(cs, "alloc_calls")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(cs, "allocated_bytes")), 1048576);
    ck_assert(json_object_get(child, "line_tables") == NULL); /* line mode is the parent's */
    json_t *t = line_table(root, "work");
    int m = marker_line("linemode_fork.c", "malloc"), f = marker_line("linemode_fork.c", "free");
    ck_assert_int_eq(row_int(t, m, "occurrences"), 2);
    ck_assert_int_eq(row_int(t, f, "occurrences"), 2);
    ck_assert_int_eq(row_int(t, m, "increment_bytes"), 2 * 1048576);
    ck_assert_int_eq(row_int(t, f, "increment_bytes"), -2 * 1048576);
    json_decref(tree);
    run_output_free(&o);
}
END_TEST

START_TEST(touch_rss_json)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", "-O0 -g", "linemode_json_rss");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_rss.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--json", json, "--function", "linemode.c:touch", (char *)exe, NULL };
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    json_t *t = line_table(root, "touch");
    ck_assert_str_eq(json_string_value(json_object_get(t, "metric")), "rss");
    int s = marker_line("linemode.c", "memset"), f = marker_line("linemode.c", "free");
    ck_assert_int_ge(row_int(t, s, "increment_bytes"), 63 << 20);
    ck_assert_int_le(row_int(t, f, "increment_bytes"), -(63 << 20));
    ck_assert_int_ge(row_int(t, s, "mem_usage_bytes"), 64 << 20);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* ---- errors ---- */

START_TEST(unknown_function)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", "-O0 -g", "linemode_err");
    ck_assert_ptr_nonnull(exe);
    struct run_output o;
    char *args[] = { "--function", "tuch", (char *)exe, NULL };
    run_memprof(args, 2, &o);
    ck_assert_msg(strstr(o.err, "no function 'tuch' in ") && strstr(o.err, "did you mean: touch, touch_all?"),
                  "%s", o.err);
    ck_assert_msg(strstr(o.err, "Summary") == NULL, "nothing ran");
    run_output_free(&o);

    char *args2[] = { "--function", "other.c:touch", (char *)exe, NULL };
    run_memprof(args2, 2, &o);
    ck_assert_msg(strstr(o.err, "it is defined in: linemode.c"), "%s", o.err);
    run_output_free(&o);

    char *args3[] = { "--function", "malloc", (char *)exe, NULL };
    run_memprof(args3, 2, &o);
    ck_assert_msg(strstr(o.err, "shared library"), "%s", o.err);
    run_output_free(&o);

    char *args4[] = { "--metric", "pss", "--function", "touch", (char *)exe, NULL };
    run_memprof(args4, 2, &o);
    ck_assert_msg(strstr(o.err, "unknown metric 'pss'"), "%s", o.err);
    run_output_free(&o);
}
END_TEST

START_TEST(no_line_info)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", "-O0", "linemode_nog");
    ck_assert_ptr_nonnull(exe);
    struct run_output o;
    char *args[] = { "--function", "touch", (char *)exe, NULL };
    run_memprof(args, 2, &o);
    ck_assert_msg(strstr(o.err, "function 'touch' in ") && strstr(o.err, "has no line information"), "%s", o.err);
    ck_assert_msg(strstr(o.err, "-g"), "%s", o.err);
    run_output_free(&o);
}
END_TEST

/* ---- frames: recursion, longjmp, inlined copies, threads ---- */

START_TEST(edge_frames)
{
    const char *exe = build_fixture("tests/fixtures/linemode_edge.c", "gcc", "-O0 -g", "linemode_edge");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_edge.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--metric=heap", "--json", json, "--function", "rec", "--function", "jumper",
                     "--function", "helper", "--function", "work", (char *)exe, NULL };
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    const char *fx = "linemode_edge.c";
    json_t *rec = line_table(root, "rec");
    int rm = marker_line(fx, "rec_malloc"), rc = marker_line(fx, "rec_call"), rf = marker_line(fx, "rec_free");
    int rr = marker_line(fx, "rec_return");
    ck_assert_int_eq(row_int(rec, rm, "occurrences"), 4);
    ck_assert_int_eq(row_int(rec, rc, "occurrences"), 4);
    ck_assert_int_eq(row_int(rec, rf, "occurrences"), 4);
    ck_assert_int_eq(row_int(rec, rr, "occurrences"), 4);
    ck_assert_int_eq(row_int(rec, rm, "increment_bytes"), 4 << 20);
    ck_assert_int_eq(row_int(rec, rc, "increment_bytes"), 0);
    ck_assert_int_eq(row_int(rec, rf, "increment_bytes"), -(4 << 20));
    ck_assert_int_eq(row_int(rec, rm, "mem_usage_bytes"), 4 << 20); /* all four levels' blocks at once */
    json_t *jmp = line_table(root, "jumper");
    ck_assert_int_eq(row_int(jmp, marker_line(fx, "jump_first"), "occurrences"), 2);
    ck_assert_int_eq(row_int(jmp, marker_line(fx, "jump_if"), "occurrences"), 2);
    ck_assert_int_eq(row_int(jmp, marker_line(fx, "jump_longjmp"), "occurrences"), 1);
    ck_assert_int_eq(row_int(jmp, marker_line(fx, "jump_after"), "occurrences"), 1);
    json_t *helper = line_table(root, "helper");
    ck_assert_int_eq(row_int(helper, marker_line(fx, "helper_1"), "occurrences"), 4);
    ck_assert_int_eq(row_int(helper, marker_line(fx, "helper_2"), "occurrences"), 4);
    json_t *work = line_table(root, "work");
    ck_assert_int_eq(row_int(work, marker_line(fx, "work_body"), "occurrences"), 200);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* Sum of a table's increments, and the lines it spans. */
static json_int_t table_sum(json_t *table, int *first, int *last)
{
    json_t *rows = json_object_get(table, "rows");
    json_int_t sum = 0;
    *first = *last = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        int line = (int)json_integer_value(json_object_get(r, "line"));
        sum += json_integer_value(json_object_get(r, "increment_bytes"));
        if (!*first)
            *first = line;
        *last = line;
    }
    return sum;
}

/* Inlined into main at -O2, main's code interleaved with theirs (see the
 * fixture): the functions get their own allocations, exactly, and nothing
 * of main's 48 MiB; their tables hold only their own lines. */
START_TEST(inlined_at_O2_heap)
{
    const char *exe = build_fixture("tests/fixtures/linemode_inlined.c", "gcc", "-O2 -g", "linemode_inlined");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_inlined_heap.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--metric=heap", "--json", json, "--function", "make_ints", "--function", "count_words",
                     (char *)exe, NULL };
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    const char *fx = "linemode_inlined.c";
    int first, last;
    json_t *ints = line_table(root, "make_ints");
    ck_assert_int_eq(row_int(ints, marker_line(fx, "ints_malloc"), "increment_bytes"), 6000000);
    ck_assert_int_eq(row_int(ints, marker_line(fx, "ints_fill"), "increment_bytes"), 0);
    ck_assert_int_eq(table_sum(ints, &first, &last), 6000000);
    ck_assert_int_ge(first, marker_line(fx, "ints_malloc") - 2); /* static int *make_ints(int n) */
    ck_assert_int_le(last, marker_line(fx, "ints_fill") + 2);
    json_t *words = line_table(root, "count_words");
    ck_assert_int_eq(row_int(words, marker_line(fx, "words_strdup"), "increment_bytes"), 14);
    ck_assert_int_eq(row_int(words, marker_line(fx, "words_free"), "increment_bytes"), -14);
    ck_assert_int_eq(row_int(words, marker_line(fx, "words_for"), "increment_bytes"), 0);
    ck_assert_int_eq(row_int(words, marker_line(fx, "words_count"), "occurrences"), 7);
    ck_assert_int_eq(table_sum(words, &first, &last), 0);
    ck_assert_int_ge(first, marker_line(fx, "words_strdup") - 3);
    ck_assert_int_le(last, marker_line(fx, "words_free") + 2);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

START_TEST(inlined_at_O2_rss)
{
    const char *exe = build_fixture("tests/fixtures/linemode_inlined.c", "gcc", "-O2 -g", "linemode_inlined");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_inlined_rss.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--json", json, "--function", "make_ints", (char *)exe, NULL };
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    int first, last;
    json_int_t sum = table_sum(line_table(root, "make_ints"), &first, &last);
    /* 6,000,000 bytes touched = 1465 pages; RSS also moves with what the
     * process touches meanwhile (stack, libraries, malloc's own pages): 64
     * pages of slack.  Before, main's 48 MiB (allocated, touched and freed
     * after the inlined code) landed on these lines. */
    ck_assert_msg(sum >= 5 * 1000 * 1000 && sum <= (1465 + 64) * 4096, "make_ints's lines add %lld bytes of RSS",
                  (long long)sum);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

START_TEST(concurrent_threads_and_signals)
{
    const char *exe = build_fixture("tests/fixtures/linemode_threads.c", "gcc", "-O0 -g", "linemode_threads");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/linemode_threads.json", test_tmp_dir());
    struct run_output o;
    char *args[] = { "--json", json, "--function", "work", (char *)exe, NULL };
    /* the fixture exits 0 only if every thread computed the right sum and
     * the timer's signals reached it */
    run_memprof(args, 0, &o);
    json_t *root = load_json(json);
    json_t *work = line_table(root, "work");
    json_int_t occ = row_int(work, marker_line("linemode_threads.c", "work_body"), "occurrences");
    long stepped = 0;
    const char *note = strstr(o.err, "line mode stepped over ");
    if (note)
        stepped = atol(note + strlen("line mode stepped over "));
    ck_assert_int_le(occ, 20000);
    ck_assert_msg(occ + stepped >= 20000, "occurrences %lld, stepped %ld", (long long)occ, stepped);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("linemode");
    TCase *tc = tcase_create("linemode");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, touch_rss_text_O0);
    tcase_add_test(tc, touch_rss_text_O2);
    tcase_add_test(tc, touch_heap_json);
    tcase_add_test(tc, touch_rss_json);
    tcase_add_test(tc, forked_child_runs_without_breakpoints);
    tcase_add_test(tc, unknown_function);
    tcase_add_test(tc, no_line_info);
    tcase_add_test(tc, edge_frames);
    tcase_add_test(tc, inlined_at_O2_heap);
    tcase_add_test(tc, inlined_at_O2_rss);
    tcase_add_test(tc, concurrent_threads_and_signals);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
