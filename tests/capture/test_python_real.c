/* memprof: Python code no one here wrote, from Debian's standard library,
 * under Debian's stock interpreter:
 *  - python3 -m json.tool on a 6 MiB JSON file (the C decoder under
 *    json/decoder.py), with tracemalloc's peak as a cross-check;
 *  - python3 -m pydoc -w argparse (writes argparse.html);
 *  - python3 -m tokenize on argparse.py (pure Python);
 * each time the top lines (by bytes allocated) point into the standard
 * library's .py files. */
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

#define TOP 5

static char stdlib_dir[PATH_MAX];

static void find_stdlib(void)
{
    char *argv[] = { PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 0);
    o.out[strcspn(o.out, "\n")] = '\0';
    snprintf(stdlib_dir, sizeof stdlib_dir, "%s/", o.out);
    run_output_free(&o);
}

/* memprof --json on `argv` (run in dir), returns the report. */
static json_t *profile(char *const *cmd, const char *dir, const char *tag)
{
    char json[PATH_MAX + 32];
    snprintf(json, sizeof json, "%s/real-%s.json", test_tmp_dir(), tag);
    char *argv[32];
    int n = 0;
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    char script[8192];
    int used = snprintf(script, sizeof script, "cd '%s' && exec '%s' --json '%s' -o /dev/null", dir, memprof_path(), json);
    for (int i = 0; cmd[i]; i++)
        used += snprintf(script + used, sizeof script - (size_t)used, " '%s'", cmd[i]);
    argv[n++] = script;
    argv[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 600, &o), 0);
    ck_assert_msg(o.status == 0, "%s: status %d: %s", tag, o.status, o.err);
    run_output_free(&o);
    json_error_t err;
    json_t *root = json_load_file(json, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", json, err.text);
    return root;
}

static int by_bytes(const void *a, const void *b)
{
    uint64_t x = obj_u64(*(json_t *const *)a, "allocated_bytes"), y = obj_u64(*(json_t *const *)b, "allocated_bytes");
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The TOP lines by bytes allocated are Python lines of the standard
 * library; at least one is in `expect` (a file under it). */
static void check_top_lines(json_t *root, const char *expect)
{
    json_t *lines = json_object_get(root, "lines");
    size_t n = json_array_size(lines);
    json_t **sorted = calloc(n, sizeof *sorted);
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(lines, i);
    qsort(sorted, n, sizeof *sorted, by_bytes);
    struct problems p = { 0 };
    int in_expect = 0;
    for (size_t i = 0; i < n && i < TOP; i++) {
        const char *file = json_string_value(json_object_get(sorted[i], "file"));
        const char *fn = json_string_value(json_object_get(sorted[i], "function"));
        printf("    %10llu  %s:%lld (%s)\n", (unsigned long long)obj_u64(sorted[i], "allocated_bytes"),
               file ? file : "?", (long long)json_integer_value(json_object_get(sorted[i], "line")), fn ? fn : "?");
        if (!file || strncmp(file, stdlib_dir, strlen(stdlib_dir)) != 0 || !strstr(file, ".py"))
            problem(&p, "top line %zu is not in the standard library: %s (%s)", i + 1, file ? file : "no file",
                    fn ? fn : "?");
        else if (strstr(file + strlen(stdlib_dir), expect))
            in_expect = 1;
    }
    if (!in_expect)
        problem(&p, "no top line in %s%s", stdlib_dir, expect);
    free(sorted);
    ck_assert_msg(p.n == 0, "%s", p.text);
}

START_TEST(json_tool)
{
    find_stdlib();
    char data[PATH_MAX + 16], gen[PATH_MAX + 512];
    snprintf(data, sizeof data, "%s/big.json", test_tmp_dir());
    snprintf(gen, sizeof gen,
             "import json\n"
             "rows = [{'id': i, 'name': 'item%%d' %% i, 'tags': ['t%%d' %% (i %% 7), 'x'], 'value': i * 1.5,\n"
             "         'nested': {'a': [1, 2, 3], 'b': None}} for i in range(60000)]\n"
             "json.dump(rows, open('%s', 'w'))\n", data);
    char *make[] = { PYTHON, "-c", gen, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(make, NULL, NULL, 120, &o), 0);
    ck_assert_int_eq(o.status, 0);
    run_output_free(&o);
    char *cmd[] = { PYTHON, "-m", "json.tool", data, "/dev/null", NULL };
    json_t *root = profile(cmd, test_tmp_dir(), "json_tool");
    printf("  python3 -m json.tool (6 MiB):\n");
    check_top_lines(root, "json/");
    /* The peak: where the decoded document is complete, in json/decoder.py. */
    json_t *at = json_object_get(json_object_get(root, "peak"), "reached_at");
    const char *file = json_string_value(json_object_get(at, "file"));
    ck_assert_msg(file && strstr(file, "json/decoder.py"), "peak reached at %s", file ? file : "?");
    /* tracemalloc's peak on the same command: memprof sees all of it, and
     * at most what tracemalloc cannot see more (the interpreter before
     * tracemalloc starts and mallocs outside Python's allocator: 2 MiB). */
    char *tm[] = { PYTHON, "-X", "tracemalloc=1", "-c",
                   "import sys, runpy, _tracemalloc\n"
                   "sys.argv = ['json.tool'] + sys.argv[1:]\n"
                   "try:\n    runpy.run_module('json.tool', run_name='__main__', alter_sys=True)\n"
                   "except SystemExit:\n    pass\n"
                   "print(_tracemalloc.get_traced_memory()[1])\n",
                   data, "/dev/null", NULL };
    ck_assert_int_eq(run_cmd(tm, NULL, NULL, 600, &o), 0);
    ck_assert_int_eq(o.status, 0);
    uint64_t tm_peak = strtoull(o.out, NULL, 10), peak = summary_u64(root, "peak_heap_bytes");
    run_output_free(&o);
    printf("  peak: memprof %llu, tracemalloc %llu\n", (unsigned long long)peak, (unsigned long long)tm_peak);
    ck_assert_msg(peak >= tm_peak && peak - tm_peak < (2u << 20), "memprof peak %llu, tracemalloc %llu",
                  (unsigned long long)peak, (unsigned long long)tm_peak);
    json_decref(root);
}
END_TEST

START_TEST(pydoc_html)
{
    find_stdlib();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/pydoc", test_tmp_dir());
    char mk[PATH_MAX + 16];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
    ck_assert_int_eq(system(mk), 0);
    char *cmd[] = { PYTHON, "-m", "pydoc", "-w", "argparse", NULL };
    json_t *root = profile(cmd, dir, "pydoc");
    char html[PATH_MAX + 32];
    snprintf(html, sizeof html, "%s/argparse.html", dir);
    ck_assert_msg(access(html, R_OK) == 0, "pydoc wrote no %s", html);
    printf("  python3 -m pydoc -w argparse:\n");
    check_top_lines(root, "pydoc.py");
    json_decref(root);
}
END_TEST

START_TEST(tokenize_pure_python)
{
    find_stdlib();
    char source[PATH_MAX + 16];
    snprintf(source, sizeof source, "%sargparse.py", stdlib_dir);
    char *cmd[] = { PYTHON, "-m", "tokenize", source, NULL };
    json_t *root = profile(cmd, test_tmp_dir(), "tokenize");
    printf("  python3 -m tokenize argparse.py:\n");
    check_top_lines(root, "tokenize.py");
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python_real");
    TCase *tc = tcase_create("stdlib");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, json_tool);
    tcase_add_test(tc, pydoc_html);
    tcase_add_test(tc, tokenize_pure_python);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
