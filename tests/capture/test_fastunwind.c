/* memprof tests: the agent's fast stack walk (agent_fastunwind.c,
 * agent_cfi.c) gives the very stacks libunwind gives.  The fixture
 * tests/fixtures/unwind_shapes.c allocates under frames of many shapes (CFA
 * on rbp, recursion past 48 frames, libc callbacks, a signal handler, a
 * thread), built at -O0, -O2 and -O2 -fno-omit-frame-pointer; each build
 * is profiled with the default agent and with
 * MEMPROF_AGENT_UNWINDER=libunwind, and the two --stable JSON reports
 * (every stack's frames, every count) must be the same bytes (both run
 * without address randomization, setarch -R).  The shapes that the
 * walk's reuse of a thread's last walk must tell apart also have their
 * counts checked against the fixture's source.  Real
 * programs too: the same comparison on python3 -c (CPython's own
 * frames, its libraries: /usr/bin/python3, not a wrapper script). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the --stable JSON report of a run is. */
static void report_path(char *path, size_t size, int libunwind, const char *tag)
{
    snprintf(path, size, "%s/%s_%s.json", test_tmp_dir(), tag, libunwind ? "libunwind" : "fast");
}

/* The --stable JSON report of argv under the agent (libunwind: 1 to walk
 * every stack with libunwind). */
static char *report_of(char *const *argv, int argc, int libunwind, const char *tag)
{
    char json[512];
    report_path(json, sizeof json, libunwind, tag);
    /* without address randomization: where mappings fall changes what some
     * allocators do (pymalloc's arenas lose a pool when not aligned) */
    char *full[18];
    int n = 0;
    full[n++] = "setarch";
    full[n++] = "-R";
    full[n++] = (char *)memprof_path();
    full[n++] = "--stable";
    full[n++] = "-o";
    full[n++] = "/dev/null";
    full[n++] = "--json";
    full[n++] = json;
    for (int i = 0; i < argc && n < 17; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    /* values of one length: the program's environment is the same size (a
     * program may copy it: allocations of the same sizes) */
    char *env[] = { libunwind ? "MEMPROF_AGENT_UNWINDER=libunwind" : "MEMPROF_AGENT_UNWINDER=fast-walk", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(full, NULL, env, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s: status %d\n%.2000s", tag, o.status, o.err);
    run_output_free(&o);
    size_t len;
    char *text = read_file(json, &len);
    ck_assert_msg(text != NULL, "%s: no report", tag);
    return text;
}

static void same_reports(char *const *argv, int argc, const char *tag)
{
    char *fast = report_of(argv, argc, 0, tag);
    char *slow = report_of(argv, argc, 1, tag);
    ck_assert_msg(strstr(fast, "\"stacks\"") != NULL, "%s: no stacks in the report", tag);
    if (strcmp(fast, slow) != 0) {
        size_t i = 0;
        while (fast[i] && fast[i] == slow[i])
            i++;
        size_t from = i > 300 ? i - 300 : 0;
        ck_abort_msg("%s: the fast walk's report differs from libunwind's at byte %zu:\nfast: %.600s\nlibunwind: %.600s",
                     tag, i, fast + from, slow + from);
    }
    free(fast);
    free(slow);
}

static const char *const builds[][2] = {
    { "-O0 -g -pthread", "shapes_O0" },
    { "-O2 -g -pthread", "shapes_O2" },
    { "-O2 -g -fno-omit-frame-pointer -pthread", "shapes_fp" },
};

/* The line table row of the fixture's line marked `marker`: its
 * allocations (calls and bytes under it, inclusive). */
static void line_counts(json_t *root, const char *marker, json_int_t *calls, json_int_t *bytes)
{
    int line = fixture_source_line("unwind_shapes.c", marker);
    ck_assert_msg(line > 0, "no %s in the fixture", marker);
    json_t *tables = json_object_get(root, "tables");
    for (size_t i = 0; i < json_array_size(tables); i++) {
        json_t *rows = json_object_get(json_array_get(tables, i), "rows");
        for (size_t j = 0; j < json_array_size(rows); j++) {
            json_t *r = json_array_get(rows, j);
            if (json_integer_value(json_object_get(r, "line")) == line) {
                *calls = json_integer_value(json_object_get(r, "occurrences"));
                *bytes = json_integer_value(json_object_get(r, "allocated_bytes"));
                return;
            }
        }
    }
    ck_abort_msg("%s (line %d) is not in the report", marker, line);
}

/* Counts from the fixture's source, for the shapes the reuse of the last
 * walk must tell apart. */
static void check_reuse_shapes(const char *tag)
{
    char path[512];
    report_path(path, sizeof path, 0, tag);
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_msg(root != NULL, "%s: %s", path, e.text);
    json_int_t calls, bytes;
    /* outer_small and outer_big take turns, 4 calls each, from one call
     * site; level_leaf(8) allocates 8, 3*8 + 5*8 + 7*8 = 120 (malloc's
     * pointer is even) and (3*8)*(5*8) + 7*8 = 1016 bytes */
    line_counts(root, "@uw:small", &calls, &bytes);
    ck_assert_int_eq(calls, 4 * 3);
    ck_assert_int_eq(bytes, 4 * (8 + 120 + 1016));
    line_counts(root, "@uw:big", &calls, &bytes);
    ck_assert_int_eq(calls, 4 * 3);
    ck_assert_int_eq(bytes, 4 * (8 + 120 + 1016));
    /* dive_and_jump runs 8 times: leaf(32) at the bottom of each dive,
     * leaf(48) after each longjmp */
    line_counts(root, "@uw:jumped", &calls, &bytes);
    ck_assert_int_eq(calls, 8);
    ck_assert_int_eq(bytes, 8 * 32);
    line_counts(root, "@uw:after", &calls, &bytes);
    ck_assert_int_eq(calls, 8);
    ck_assert_int_eq(bytes, 8 * 48);
    json_decref(root);
}

START_TEST(fixture_stacks_match_libunwind)
{
    for (size_t i = 0; i < sizeof builds / sizeof *builds; i++) {
        const char *exe = build_fixture("tests/fixtures/unwind_shapes.c", "gcc", builds[i][0], builds[i][1]);
        ck_assert_ptr_nonnull(exe);
        char *argv[] = { (char *)exe };
        same_reports(argv, 1, builds[i][1]);
        check_reuse_shapes(builds[i][1]);
    }
}
END_TEST

START_TEST(python_stacks_match_libunwind)
{
    need_program("/usr/bin/python3", "python3");
    char *argv[] = { "/usr/bin/python3", "-c", "import json; d = [json.dumps({'k': list(range(i))}) for i in range(300)]" };
    same_reports(argv, 3, "python3");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fastunwind");
    TCase *tc = tcase_create("fastunwind");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fixture_stacks_match_libunwind);
    tcase_add_test(tc, python_stacks_match_libunwind);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
