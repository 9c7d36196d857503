/* memprof: Check tests for line mode on Python code (--function
 * FILE.py:NAME, memory_profiler's table without the @profile decorator),
 * with Debian's stock interpreter: occurrences and heap increments from the
 * fixtures' annotations (tests/py_harness.h), threads, generators, a thread
 * with a trace function of its own, the text table, names that match
 * nothing. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "py_harness.h"

/* memory_profiler's table for a Python function, without the decorator. */
START_TEST(line_mode_heap)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_linemode.py", &f);
    const char *args[] = { "--function", "py_linemode.py:build", "--metric=heap", NULL };
    struct run_output o;
    json_t *root = py_profile(args, f.path, NULL, &o);
    json_t *tables = json_object_get(root, "line_tables");
    ck_assert_uint_eq(json_array_size(tables), 1);
    json_t *table = json_array_get(tables, 0);
    ck_assert_str_eq(json_string_value(json_object_get(table, "function")), "build");
    ck_assert_msg(is_fixture_file(json_string_value(json_object_get(table, "file")), f.path), "table of another file");
    struct problems p = { 0 };
    json_t *rows = json_object_get(table, "rows");
    for (int i = 0; i < f.n; i++) {
        const struct py_expect *e = &f.lines[i];
        if (!e->has_lines)
            continue;
        json_t *row = NULL, *r;
        size_t k;
        json_array_foreach(rows, k, r) if (json_integer_value(json_object_get(r, "line")) == e->line) row = r;
        if (!row) {
            problem(&p, "line %d: no row", e->line);
            continue;
        }
        uint64_t occ = (uint64_t)json_integer_value(json_object_get(row, "occurrences"));
        int64_t inc = json_integer_value(json_object_get(row, "increment_bytes"));
        if (occ != e->occurrences || (e->has_heap && inc != e->heap))
            problem(&p, "line %d: %llu occurrences, increment %lld; the source says %llu, %lld", e->line,
                    (unsigned long long)occ, (long long)inc, (unsigned long long)e->occurrences, (long long)e->heap);
    }
    /* the timeline's spans: build's two calls, one after the other */
    json_t *spans = json_array_get(json_object_get(root, "function_spans"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(spans, "function")), "build");
    ck_assert_int_eq(json_integer_value(json_object_get(spans, "calls")), 2);
    json_t *list = json_object_get(spans, "spans");
    double last_end = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        double start = json_number_value(json_array_get(json_array_get(list, i), 0)),
               end = json_number_value(json_array_get(json_array_get(list, i), 1));
        if (!(start > 0 && end >= start && start >= last_end))
            problem(&p, "span %zu: %f..%f after %f", i, start, end, last_end);
        last_end = end;
    }
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* Threads, a generator, and a thread with its own trace function: the
 * occurrences are exact per thread; the untraced call gets a note. */
START_TEST(line_mode_threads)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_linemode_threads.py", &f);
    const char *args[] = { "--function", "py_linemode_threads.py:work", "--function", "py_linemode_threads.py:chunks",
                           NULL };
    struct run_output o;
    json_t *root = py_profile(args, f.path, NULL, &o);
    json_t *tables = json_object_get(root, "line_tables");
    ck_assert_uint_eq(json_array_size(tables), 2);
    struct problems p = { 0 };
    for (int i = 0; i < f.n; i++) {
        const struct py_expect *e = &f.lines[i];
        json_t *row = NULL, *table, *r;
        size_t t, k;
        json_array_foreach(tables, t, table) json_array_foreach(json_object_get(table, "rows"), k, r)
            if (json_integer_value(json_object_get(r, "line")) == e->line) row = r;
        if (!row || (uint64_t)json_integer_value(json_object_get(row, "occurrences")) != e->occurrences)
            problem(&p, "line %d: %lld occurrences, the source says %llu", e->line,
                    row ? (long long)json_integer_value(json_object_get(row, "occurrences")) : -1LL,
                    (unsigned long long)e->occurrences);
    }
    char w[2048];
    if (!strstr(warnings_text(root, w, sizeof w), "calls of the --function targets were not traced"))
        problem(&p, "no note on the untraced call: %s", w);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* The RSS table: the same rows and occurrences, and a text table in
 * memory_profiler's format with the .py source. */
START_TEST(line_mode_rss_text)
{
    const char *fixture = repo_path("tests/fixtures/python/py_linemode.py");
    char *argv[] = { (char *)memprof_path(), "--function", "build", "-o", "-", PYTHON, (char *)fixture, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s", o.err);
    ck_assert_msg(strstr(o.out, "Line #    Mem usage    Increment  Occurrences   Line Contents") != NULL, "%s", o.out);
    ck_assert_msg(strstr(o.out, "    a = bytearray(n)") != NULL, "no source text:\n%s", o.out);
    ck_assert_msg(strstr(o.out, "Mem usage is the RSS after the line") != NULL, "%s", o.out);
    run_output_free(&o);
}
END_TEST

START_TEST(line_mode_bad_names)
{
    const char *fixture = repo_path("tests/fixtures/python/py_linemode.py");
    char pattern[PATH_MAX + 16];
    snprintf(pattern, sizeof pattern, "%s:biuld", fixture);
    char *argv[] = { (char *)memprof_path(), "--function", pattern, PYTHON, (char *)fixture, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 2);
    ck_assert_msg(strstr(o.err, "has no def biuld") && strstr(o.err, "build"), "%s", o.err);
    ck_assert_int_eq(count_lines(o.err), 1);
    run_output_free(&o);
    /* a module found at run time that never runs such a function */
    char *argv2[] = { (char *)memprof_path(), "--function", "elsewhere.py:build", "-o", "-", PYTHON, (char *)fixture, NULL };
    ck_assert_int_eq(run_cmd(argv2, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_msg(strstr(o.out, "--function elsewhere.py:build: no Python function of that name ran"), "%s", o.out);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python_linemode");
    TCase *tc = tcase_create("linemode");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, line_mode_heap);
    tcase_add_test(tc, line_mode_threads);
    tcase_add_test(tc, line_mode_rss_text);
    tcase_add_test(tc, line_mode_bad_names);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
