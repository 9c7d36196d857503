/* memprof: Check tests for Python programs (`memprof python3 app.py`), with
 * Debian's stock interpreter (/usr/bin/python3): attribution to Python
 * lines, exact numbers from the fixtures' annotations (tests/py_harness.h;
 * object sizes of CPython, checked here against sys.getsizeof first), and
 * tracemalloc, run separately on the same fixture
 * (tests/fixtures/python/tm_oracle.py), as the oracle for the bytes each
 * Python line holds at the peak and for the peak itself; Unicode names and
 * names that are not UTF-8, an
 * interpreter without a layout, --stable, memprof diff, report and limits. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "py_harness.h"

START_TEST(object_sizes_are_cpythons)
{
    /* The sizes the fixtures' annotations use, from the interpreter. */
    char *argv[] = { PYTHON, "-c",
                     "import sys; print(sys.getsizeof(bytearray(0)), sys.getsizeof(b''), "
                     "sys.getsizeof([None] * 10) - sys.getsizeof([]), sys.version_info[:2] >= (3, 11))",
                     NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.out, "56 33 80 True\n"); /* bytearray object, bytes header + 1, 8 per item */
    run_output_free(&o);
}
END_TEST

/* The interpreter's allocator API is never a line allocations are charged
 * to, as malloc is not: what the interpreter allocates for itself before any
 * Python frame goes to its caller (Debian's python3.11 calls through
 * PyObject_Malloc where other builds jump: 7,202 calls of its start-up were
 * charged to obmalloc.c's PyObject_Malloc). */
static void check_no_allocator_lines(json_t *root, struct problems *p)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *fn = json_string_value(json_object_get(l, "function"));
        if (fn && (strncmp(fn, "PyObject_", 9) == 0 || strncmp(fn, "PyMem_", 6) == 0) &&
            strcmp(fn + strlen(fn) - 5, "alloc") == 0 && obj_u64(l, "alloc_calls") > 0)
            problem(p, "%llu allocations charged to %s itself", (unsigned long long)obj_u64(l, "alloc_calls"), fn);
    }
}

static void check_alloc_fixture(char *const env[])
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, env, &o);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    /* the peak is reached on make_list's line */
    json_t *at = json_object_get(json_object_get(root, "peak"), "reached_at");
    const char *file = json_string_value(json_object_get(at, "file"));
    if (!file || !is_fixture_file(file, f.path) || strcmp(json_string_value(json_object_get(at, "function")), "make_list"))
        problem(&p, "the peak is not reached in make_list");
    char w[2048];
    warnings_text(root, w, sizeof w);
    if (strstr(w, "Python") || strstr(w, "python") || strstr(w, "free"))
        problem(&p, "warnings: %s", w);
    if (summary_u64(root, "unknown_frees") != 0)
        problem(&p, "%llu frees of blocks never seen", (unsigned long long)summary_u64(root, "unknown_frees"));
    check_no_allocator_lines(root, &p);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}

START_TEST(lines_exact)
{
    check_alloc_fixture(NULL);
}
END_TEST

/* Without python3.11-dbg memprof uses its built-in layout: the same numbers. */
START_TEST(lines_exact_builtin_layout)
{
    char *env[] = { "MEMPROF_PYTHON_LAYOUT=builtin", NULL };
    check_alloc_fixture(env);
}
END_TEST

struct native_check {
    int native_before_python; /* stacks whose innermost frame is native, with a Python frame after */
    int libz;                 /* stacks with a frame of libz */
    int stacks;
};

static void inspect_stack(void *ctx, json_t *table, json_t *stack_frames)
{
    struct native_check *c = ctx;
    c->stacks++;
    size_t n = json_array_size(stack_frames);
    int seen_python = 0, native_first = n > 0 && !frame_is_python(frame_at(table, stack_frames, 0));
    for (size_t k = 0; k < n; k++) {
        json_t *fr = frame_at(table, stack_frames, k);
        seen_python |= frame_is_python(fr);
        const char *fn = json_string_value(json_object_get(fr, "function"));
        const char *mod = json_string_value(json_object_get(fr, "module"));
        if ((fn && strncmp(fn, "deflate", 7) == 0) || (mod && strstr(mod, "libz.so")))
            c->libz = 1;
    }
    c->native_before_python += native_first && seen_python;
}

/* A Python line's stacks keep the native frames below it: the interpreter's
 * allocator calls, and a C library's (zlib's deflate state). */
START_TEST(native_frames_below_python)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    struct native_check c = { 0 };
    int zline = 0;
    char *text = read_file(f.path, NULL);
    int line = 1;
    for (char *q = text; *q; q++) {
        if (strncmp(q, "zlib.compress", 13) == 0 && !zline)
            zline = line;
        line += *q == '\n';
    }
    free(text);
    ck_assert_int_gt(zline, 0);
    for_stacks_of(root, f.path, f.lines[0].line, inspect_stack, &c);
    ck_assert_msg(c.stacks > 0 && c.native_before_python == c.stacks, "bytearray line: %d stacks, %d with native frames first",
                  c.stacks, c.native_before_python);
    memset(&c, 0, sizeof c);
    for_stacks_of(root, f.path, zline, inspect_stack, &c);
    ck_assert_msg(c.libz, "no zlib frame under the zlib.compress line (%d stacks)", c.stacks);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* tracemalloc, run separately on the same fixture, is the oracle: per Python
 * line of the fixture holding at least 64 KiB in either tool, the bytes live
 * at the peak agree within 1%, and so do the peaks.  memprof counts what
 * tracemalloc cannot see (the interpreter's allocations before tracemalloc
 * starts, about 1 MiB: importlib's bootstrap; mallocs outside Python's
 * allocator): the fixture's 100 MiB peak keeps that under 1%. */
START_TEST(tracemalloc_agrees)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    char *argv[] = { PYTHON, "-X", "tracemalloc=1", (char *)repo_path("tests/fixtures/python/tm_oracle.py"), f.path, NULL };
    struct run_output t;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &t), 0);
    ck_assert_msg(t.status == 0, "tm_oracle.py: %s", t.err);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    struct problems p = { 0 };
    unsigned long long tm_peak = 0;
    int compared = 0;
    uint64_t tm_line_bytes[4096] = { 0 };
    char *save = NULL;
    for (char *l = strtok_r(t.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int line;
        unsigned long long bytes, blocks;
        if (sscanf(l, "PEAK %llu", &tm_peak) == 1)
            continue;
        if (sscanf(l, "LINE %d %llu %llu", &line, &bytes, &blocks) == 3 && line > 0 && line < 4096)
            tm_line_bytes[line] = bytes;
    }
    ck_assert_uint_gt(tm_peak, 0);
    for (int line = 1; line < 4096; line++) {
        json_t *l = line_entry(root, f.path, line);
        uint64_t mp = l ? obj_u64(l, "peak_bytes") : 0, tm = tm_line_bytes[line];
        if (mp < 65536 && tm < 65536)
            continue;
        compared++;
        double rel = tm ? ((double)mp - (double)tm) / (double)tm : 1.0;
        if (rel > 0.01 || rel < -0.01)
            problem(&p, "line %d: memprof %llu bytes at the peak, tracemalloc %llu (%.2f%%)", line,
                    (unsigned long long)mp, (unsigned long long)tm, rel * 100);
    }
    uint64_t peak = summary_u64(root, "peak_heap_bytes");
    double rel = ((double)peak - (double)tm_peak) / (double)tm_peak;
    if (rel > 0.01 || rel < -0.01)
        problem(&p, "peak: memprof %llu, tracemalloc %llu (%.2f%%)", (unsigned long long)peak, tm_peak, rel * 100);
    ck_assert_msg(compared == 3, "%d lines compared (the fixture has 3 big ones)", compared);
    ck_assert_msg(p.n == 0, "%s", p.text);
    printf("  tracemalloc peak %llu, memprof %llu (%+.2f%%)\n", tm_peak, (unsigned long long)peak, rel * 100);
    json_decref(root);
    run_output_free(&o);
    run_output_free(&t);
}
END_TEST

struct thread_check {
    int stacks, with_threading;
};

static void inspect_thread_stack(void *ctx, json_t *table, json_t *stack_frames)
{
    struct thread_check *c = ctx;
    c->stacks++;
    for (size_t k = 0; k < json_array_size(stack_frames); k++) {
        const char *file = json_string_value(json_object_get(frame_at(table, stack_frames, k), "file"));
        if (file && strstr(file, "threading.py")) {
            c->with_threading++;
            return;
        }
    }
}

START_TEST(threads)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_threads.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    struct thread_check c = { 0 };
    for_stacks_of(root, f.path, f.lines[0].line, inspect_thread_stack, &c);
    if (c.stacks == 0 || c.with_threading != c.stacks)
        problem(&p, "%d of %d stacks show threading's frames (Thread.run)", c.with_threading, c.stacks);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

START_TEST(leaks_at_exit)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_exit.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* Non-ASCII names: a function and a class named in Unicode, in a directory
 * and file named so too. */
START_TEST(unicode_names)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/dossier-\xc3\xa9", test_tmp_dir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/\xd0\xbf\xd1\x80\xd0\xbe\xd0\xb1\xd0\xb0.py", dir); /* проба.py */
    FILE *s = fopen(path, "w");
    ck_assert_ptr_nonnull(s);
    fputs("def gr\xc3\xb6\xc3\x9f" "e(n):\n    return bytearray(n)\n\n\n"   /* größe */
          "class \xc3\x9cn:\n    def \xe6\x96\xb9(self):\n        return gr\xc3\xb6\xc3\x9f" "e(4096)\n\n\n"
          "x = \xc3\x9cn().\xe6\x96\xb9()\n", s);
    fclose(s);
    struct run_output o;
    json_t *root = py_profile(NULL, path, NULL, &o);
    json_t *l = line_entry(root, path, 2);
    ck_assert_msg(l != NULL, "no line 2 of the Unicode file");
    ck_assert_str_eq(json_string_value(json_object_get(l, "function")), "gr\xc3\xb6\xc3\x9f" "e");
    ck_assert_uint_eq(obj_u64(l, "allocated_bytes"), 56 + 4096 + 1);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* A script whose directory and file names are not UTF-8 (Latin-1 "le\xe7on"
 * and a lone 0xff byte): Python keeps those bytes as surrogates
 * (surrogateescape) and the agent turns them back into the bytes.  The text
 * report names the file by its bytes and shows its source line; the JSON is
 * strict UTF-8 with each such byte as U+EF80-U+EFFF (0xe7 is U+EFE7, 0xff
 * U+EFFF); `memprof report` of it prints the text report again, byte for
 * byte.  Sizes: bytearray(n) is the object (56) and its buffer (n + 1), the
 * biggest line of the run (its table is the first shown). */
START_TEST(non_utf8_file_name)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], json[PATH_MAX + 32], text[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/le\xe7on", test_tmp_dir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/bad\xff.py", dir);
    snprintf(json, sizeof json, "%s/bad.json", dir);
    snprintf(text, sizeof text, "%s/bad.txt", dir);
    FILE *s = fopen(path, "w");
    ck_assert_ptr_nonnull(s);
    fputs("def build(n):\n    return bytearray(n)\n\n\nkeep = build(8 << 20)\n", s);
    fclose(s);
    char *argv[] = { (char *)memprof_path(), "-o", text, "--json", json, PYTHON, path, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof: status %d: %s", o.status, o.err);
    run_output_free(&o);

    json_error_t je;
    json_t *root = json_load_file(json, 0, &je); /* strict: valid UTF-8 only */
    ck_assert_msg(root != NULL, "%s is not valid JSON: %d:%d: %s", json, je.line, je.column, je.text);
    const char *in_json = "le\xee\xbf\xa7on/bad\xee\xbf\xbf.py";
    json_t *line2 = NULL, *l;
    size_t i;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        size_t fl = file ? strlen(file) : 0, wl = strlen(in_json);
        if (fl >= wl && strcmp(file + fl - wl, in_json) == 0 && obj_u64(l, "line") == 2)
            line2 = l;
    }
    ck_assert_msg(line2 != NULL, "no line 2 of %s in the JSON", in_json);
    ck_assert_str_eq(json_string_value(json_object_get(line2, "function")), "build");
    ck_assert_uint_eq(obj_u64(line2, "alloc_calls"), 2);
    ck_assert_uint_eq(obj_u64(line2, "allocated_bytes"), 56 + (8u << 20) + 1);
    json_decref(root);

    size_t want_len;
    char *want = read_file(text, &want_len);
    ck_assert_ptr_nonnull(want);
    ck_assert_msg(memmem(want, want_len, "le\xe7on/bad\xff.py:2 (build)", 23) != NULL,
                  "the text report does not name the file by its bytes:\n%.3000s", want);
    ck_assert_msg(memmem(want, want_len, "    return bytearray(n)", 23) != NULL, "no source line:\n%.3000s", want);
    char *rep[] = { (char *)memprof_path(), "report", json, NULL };
    ck_assert_int_eq(run_cmd(rep, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "memprof report: %s", o.err);
    ck_assert_msg(o.out_len == want_len && memcmp(o.out, want, want_len) == 0,
                  "memprof report differs from the report written while recording:\n--- recorded\n%s\n--- "
                  "report\n%s",
                  want, o.out);
    free(want);
    run_output_free(&o);
}
END_TEST

/* An interpreter memprof has no layout for: native frames, a note, the
 * numbers still whole (pymalloc is wrapped all the same). */
START_TEST(unknown_version)
{
    char *env[] = { "MEMPROF_PYTHON_LAYOUT=none", NULL };
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, env, &o);
    char w[2048];
    ck_assert_msg(strstr(warnings_text(root, w, sizeof w), "memprof reads the Python frames of 3.11 and 3.12 only"),
                  "warnings: %s", w);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        ck_assert_msg(!file || !strstr(file, ".py"), "a Python line without frames: %s", file);
    }
    /* 3 bytearrays + the bytes + the list's items are all still counted */
    ck_assert_uint_ge(summary_u64(root, "peak_heap_bytes"), 25165995 + 12582945 + 67108864);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* PYTHONMALLOC=malloc (every domain on malloc, which the agent sees
 * anyway) keeps every number exact, and the report says the allocator was
 * replaced; Python's debug allocator (PYTHONDEVMODE, -X dev) keeps the big
 * lines exact and says the rest is not. */
START_TEST(allocator_replaced)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    char *env_malloc[] = { "PYTHONMALLOC=malloc", NULL };
    json_t *root = py_profile(NULL, f.path, env_malloc, &o);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    char w[4096];
    if (!strstr(warnings_text(root, w, sizeof w), "Python replaced its allocator while starting (PYTHONMALLOC)"))
        problem(&p, "PYTHONMALLOC=malloc: no note: %s", w);
    json_decref(root);
    run_output_free(&o);
    char *env_dev[] = { "PYTHONDEVMODE=1", NULL };
    root = py_profile(NULL, f.path, env_dev, &o);
    for (int i = 0; i < f.n; i++) {
        const struct py_expect *e = &f.lines[i];
        json_t *l = line_entry(root, f.path, e->line);
        if (e->has_expect && e->bytes > (1u << 20) &&
            (!l || obj_u64(l, "allocated_bytes") != e->bytes || obj_u64(l, "alloc_calls") != e->calls))
            problem(&p, "PYTHONDEVMODE=1: line %d: %llu calls, %llu bytes; the source says %llu, %llu", e->line,
                    l ? (unsigned long long)obj_u64(l, "alloc_calls") : 0ULL,
                    l ? (unsigned long long)obj_u64(l, "allocated_bytes") : 0ULL, (unsigned long long)e->calls,
                    (unsigned long long)e->bytes);
    }
    if (!strstr(warnings_text(root, w, sizeof w), "Python's debug allocator (-X dev, PYTHONMALLOC=debug) replaced"))
        problem(&p, "PYTHONDEVMODE=1: no note: %s", w);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* --stable: two runs give the same bytes (memprof runs the program without
 * address-space randomisation: CPython hashes some objects by address). */
START_TEST(stable_runs_identical)
{
    const char *fixture = repo_path("tests/fixtures/python/py_alloc.py");
    char *texts[2];
    for (int r = 0; r < 2; r++) {
        char *argv[] = { (char *)memprof_path(), "--stable", "--json", "-", "-o", "/dev/null", PYTHON, (char *)fixture, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
        ck_assert_int_eq(o.status, 0);
        texts[r] = strdup(o.out);
        run_output_free(&o);
    }
    ck_assert_msg(strcmp(texts[0], texts[1]) == 0, "two --stable JSON reports differ");
    ck_assert_msg(strstr(texts[0], "py_alloc.py") != NULL, "no Python line");
    free(texts[0]);
    free(texts[1]);
}
END_TEST

static void write_script(const char *path, long size)
{
    FILE *s = fopen(path, "w");
    ck_assert_ptr_nonnull(s);
    fprintf(s, "def grow():\n    return bytearray(%ld)\n\n\nkept = grow()\n", size);
    fclose(s);
}

/* memprof diff, the CI limits and memprof report on Python lines: the same
 * script, before and after a change. */
START_TEST(diff_limits_report)
{
    char py[PATH_MAX], json[2][PATH_MAX + 16];
    snprintf(py, sizeof py, "%s/app.py", test_tmp_dir());
    for (int v = 0; v < 2; v++) {
        write_script(py, v ? 3 << 20 : 1 << 20);
        snprintf(json[v], sizeof json[v], "%s/app-%d.json", test_tmp_dir(), v);
        char *argv[] = { (char *)memprof_path(), "--json", json[v], "-o", "/dev/null", PYTHON, py, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
        ck_assert_int_eq(o.status, 0);
        run_output_free(&o);
    }
    char *diff[] = { (char *)memprof_path(), "diff", json[0], json[1], NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(diff, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "%s", o.err);
    ck_assert_msg(strstr(o.out, "app.py:2") && strstr(o.out, "+2.0 MiB"), "diff:\n%s", o.out);
    run_output_free(&o);
    char *report[] = { (char *)memprof_path(), "report", json[1], NULL };
    ck_assert_int_eq(run_cmd(report, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0 && strstr(o.out, "app.py:2 (grow)"), "%s%s", o.out, o.err);
    run_output_free(&o);
    char *limit[] = { (char *)memprof_path(), "--limit-heap", "2MiB", "-o", "/dev/null", PYTHON, py, NULL };
    ck_assert_int_eq(run_cmd(limit, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 3);
    ck_assert_msg(strstr(o.err, "app.py:2 held 3.0 MiB"), "%s", o.err);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python");
    TCase *tc = tcase_create("python");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, object_sizes_are_cpythons);
    tcase_add_test(tc, lines_exact);
    tcase_add_test(tc, lines_exact_builtin_layout);
    tcase_add_test(tc, native_frames_below_python);
    tcase_add_test(tc, tracemalloc_agrees);
    tcase_add_test(tc, threads);
    tcase_add_test(tc, leaks_at_exit);
    tcase_add_test(tc, unicode_names);
    tcase_add_test(tc, non_utf8_file_name);
    tcase_add_test(tc, unknown_version);
    tcase_add_test(tc, allocator_replaced);
    tcase_add_test(tc, stable_runs_identical);
    tcase_add_test(tc, diff_limits_report);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
