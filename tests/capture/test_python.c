/* memprof: Check tests for Python programs (`memprof python3 app.py`), with
 * Debian's stock interpreter (/usr/bin/python3).
 *
 * The fixtures (tests/fixtures/python/py_*.py) carry their expected numbers
 * as annotations derived from their source (object sizes of CPython, checked
 * here against sys.getsizeof first):
 *   # @expect calls=C bytes=B      everything charged to the line
 *   # @peak bytes=B                what it holds at the peak heap
 *   # @temporary calls=T           blocks freed before their thread allocated again
 *   # @leak bytes=B blocks=K       what it holds when the process ends
 *   # @lines occurrences=O heap=H  line mode (--function ... --metric=heap)
 * and tracemalloc, run separately on the same fixture
 * (tests/fixtures/python/tm_oracle.py), is the oracle for the bytes each
 * Python line holds at the peak and for the peak itself. */
#define _GNU_SOURCE
#include <check.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PYTHON "/usr/bin/python3"

/* ---- the fixtures' annotations ---- */

struct py_expect {
    int line;
    int has_expect, has_peak, has_temporary, has_leak, has_lines, has_heap, has_freed;
    uint64_t calls, bytes, peak, temporary, leak_bytes, leak_blocks, occurrences, freed_calls, freed_bytes;
    int64_t heap;
};

struct py_fixture {
    char path[PATH_MAX];
    struct py_expect lines[64];
    int n;
};

static int64_t field(const char *text, const char *name)
{
    const char *at = strstr(text, name);
    ck_assert_msg(at != NULL, "annotation without %s: %s", name, text);
    return strtoll(at + strlen(name), NULL, 10);
}

static void load_fixture(const char *name, struct py_fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", repo_path(name));
    char *text = read_file(f->path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", f->path);
    int line = 1;
    for (char *p = text; *p; line++) {
        char *end = strchr(p, '\n');
        if (end)
            *end = '\0';
        const char *hash = strstr(p, "# @");
        if (hash && !strstr(p, "Annotations") && f->n < 64) {
            struct py_expect *e = &f->lines[f->n++];
            e->line = line;
            const char *a;
            if ((a = strstr(hash, "@expect "))) {
                e->has_expect = 1;
                e->calls = (uint64_t)field(a, "calls=");
                e->bytes = (uint64_t)field(a, "bytes=");
            }
            if ((a = strstr(hash, "@peak "))) {
                e->has_peak = 1;
                e->peak = (uint64_t)field(a, "bytes=");
            }
            if ((a = strstr(hash, "@temporary "))) {
                e->has_temporary = 1;
                e->temporary = (uint64_t)field(a, "calls=");
            }
            if ((a = strstr(hash, "@leak "))) {
                e->has_leak = 1;
                e->leak_bytes = (uint64_t)field(a, "bytes=");
                e->leak_blocks = (uint64_t)field(a, "blocks=");
            }
            if ((a = strstr(hash, "@freed "))) {
                e->has_freed = 1;
                e->freed_calls = (uint64_t)field(a, "calls=");
                e->freed_bytes = (uint64_t)field(a, "bytes=");
            }
            if ((a = strstr(hash, "@lines "))) {
                e->has_lines = 1;
                e->occurrences = (uint64_t)field(a, "occurrences=");
                e->has_heap = strstr(a, "heap=") != NULL;
                if (e->has_heap)
                    e->heap = field(a, "heap=");
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    free(text);
    ck_assert_msg(f->n > 0, "%s has no annotations", name);
}

/* ---- running memprof ---- */

static char json_path[PATH_MAX];

/* memprof [args] --json FILE -o FILE.txt PYTHON fixture: the JSON report. */
static json_t *profile(const char *const *args, const char *fixture, char *const env[], struct run_output *o)
{
    static int runs;
    snprintf(json_path, sizeof json_path, "%s/python-%d.json", test_tmp_dir(), runs++);
    char text_path[PATH_MAX + 8];
    snprintf(text_path, sizeof text_path, "%s.txt", json_path);
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)memprof_path();
    for (int i = 0; args && args[i]; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = "--json";
    argv[n++] = json_path;
    argv[n++] = "-o";
    argv[n++] = text_path;
    argv[n++] = PYTHON;
    argv[n++] = (char *)fixture;
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 300, o), 0);
    ck_assert_msg(o->status == 0, "memprof %s: status %d: %s", fixture, o->status, o->err);
    json_error_t jerr;
    json_t *root = json_load_file(json_path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", json_path, jerr.text);
    return root;
}

static int is_fixture_file(const char *file, const char *fixture)
{
    const char *base = strrchr(fixture, '/');
    base = base ? base + 1 : fixture;
    size_t fl = file ? strlen(file) : 0, bl = strlen(base);
    return fl >= bl && strcmp(file + fl - bl, base) == 0 && (fl == bl || file[fl - bl - 1] == '/');
}

/* The "lines" entry of the fixture's line `line`, or NULL. */
static json_t *line_entry(json_t *root, const char *fixture, int line)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        if (file && is_fixture_file(file, fixture) && json_integer_value(json_object_get(l, "line")) == line)
            return l;
    }
    return NULL;
}

static const char *warnings_text(json_t *root, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *w;
    buf[0] = '\0';
    json_array_foreach(json_object_get(root, "warnings"), i, w)
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s\n", json_string_value(w));
    return buf;
}

/* The row of the fixture's line `line` in its function's table (the
 * <module> table spans the whole file, blank inside the functions: the row
 * that freed the most is the function's). */
static json_t *table_row(json_t *root, const char *fixture, int line)
{
    size_t t, k;
    json_t *table, *row, *best = NULL;
    json_array_foreach(json_object_get(root, "tables"), t, table)
    {
        const char *file = json_string_value(json_object_get(table, "file"));
        if (!file || !is_fixture_file(file, fixture))
            continue;
        json_array_foreach(json_object_get(table, "rows"), k, row)
        {
            if (json_integer_value(json_object_get(row, "line")) == line &&
                (!best || obj_u64(row, "site_freed_bytes") > obj_u64(best, "site_freed_bytes")))
                best = row;
        }
    }
    return best;
}

/* Every @expect/@peak/@temporary/@leak/@freed of the fixture against the report. */
static void check_annotations(json_t *root, const struct py_fixture *f, struct problems *p)
{
    for (int i = 0; i < f->n; i++) {
        const struct py_expect *e = &f->lines[i];
        if (e->has_freed) {
            json_t *row = table_row(root, f->path, e->line);
            uint64_t calls = row ? obj_u64(row, "site_free_calls") : 0, bytes = row ? obj_u64(row, "site_freed_bytes") : 0;
            if (calls != e->freed_calls || bytes != e->freed_bytes)
                problem(p, "line %d freed %llu blocks, %llu bytes; the source says %llu, %llu", e->line,
                        (unsigned long long)calls, (unsigned long long)bytes, (unsigned long long)e->freed_calls,
                        (unsigned long long)e->freed_bytes);
        }
        if (!e->has_expect && !e->has_peak && !e->has_temporary && !e->has_leak)
            continue;
        json_t *l = line_entry(root, f->path, e->line);
        if (!l) {
            problem(p, "line %d: not in the report", e->line);
            continue;
        }
        uint64_t calls = obj_u64(l, "alloc_calls"), bytes = obj_u64(l, "allocated_bytes");
        if (e->has_expect && (calls != e->calls || bytes != e->bytes))
            problem(p, "line %d: %llu calls, %llu bytes; the source says %llu calls, %llu bytes", e->line,
                    (unsigned long long)calls, (unsigned long long)bytes, (unsigned long long)e->calls,
                    (unsigned long long)e->bytes);
        if (e->has_peak && obj_u64(l, "peak_bytes") != e->peak)
            problem(p, "line %d: %llu bytes at the peak, the source says %llu", e->line,
                    (unsigned long long)obj_u64(l, "peak_bytes"), (unsigned long long)e->peak);
        if (e->has_temporary && obj_u64(l, "temporary_calls") != e->temporary)
            problem(p, "line %d: %llu temporaries, the source says %llu", e->line,
                    (unsigned long long)obj_u64(l, "temporary_calls"), (unsigned long long)e->temporary);
        if (e->has_leak && (obj_u64(l, "leaked_bytes") != e->leak_bytes || obj_u64(l, "leaked_blocks") != e->leak_blocks))
            problem(p, "line %d: %llu bytes in %llu blocks at exit, the source says %llu in %llu", e->line,
                    (unsigned long long)obj_u64(l, "leaked_bytes"), (unsigned long long)obj_u64(l, "leaked_blocks"),
                    (unsigned long long)e->leak_bytes, (unsigned long long)e->leak_blocks);
    }
}

/* The frames of every stack whose user line is (fixture, line): calls fn
 * with the frame list (innermost first). */
typedef void (*stack_fn)(void *ctx, json_t *frames_table, json_t *stack_frames);
static int for_stacks_of(json_t *root, const char *fixture, int line, stack_fn fn, void *ctx)
{
    json_t *frames = json_object_get(root, "frames");
    size_t i;
    json_t *s;
    int n = 0;
    json_array_foreach(json_object_get(root, "stacks"), i, s)
    {
        json_t *user = json_array_get(frames, (size_t)json_integer_value(json_object_get(s, "user_line")));
        const char *file = json_string_value(json_object_get(user, "file"));
        if (!file || !is_fixture_file(file, fixture) || json_integer_value(json_object_get(user, "line")) != line)
            continue;
        fn(ctx, frames, json_object_get(s, "frames"));
        n++;
    }
    return n;
}

static json_t *frame_at(json_t *table, json_t *stack_frames, size_t k)
{
    return json_array_get(table, (size_t)json_integer_value(json_array_get(stack_frames, k)));
}

static int frame_is_python(json_t *frame)
{
    const char *file = json_string_value(json_object_get(frame, "file"));
    size_t len = file ? strlen(file) : 0;
    return len > 3 && (strcmp(file + len - 3, ".py") == 0 || file[0] == '<');
}

/* ---- tests ---- */

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

static void check_alloc_fixture(char *const env[])
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    json_t *root = profile(NULL, f.path, env, &o);
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
    json_t *root = profile(NULL, f.path, NULL, &o);
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
    json_t *root = profile(NULL, f.path, NULL, &o);
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
    json_t *root = profile(NULL, f.path, NULL, &o);
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
    json_t *root = profile(NULL, f.path, NULL, &o);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
    run_output_free(&o);
}
END_TEST

/* memory_profiler's table for a Python function, without the decorator. */
START_TEST(line_mode_heap)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_linemode.py", &f);
    const char *args[] = { "--function", "py_linemode.py:build", "--metric=heap", NULL };
    struct run_output o;
    json_t *root = profile(args, f.path, NULL, &o);
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
    json_t *root = profile(args, f.path, NULL, &o);
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
    json_t *root = profile(NULL, path, NULL, &o);
    json_t *l = line_entry(root, path, 2);
    ck_assert_msg(l != NULL, "no line 2 of the Unicode file");
    ck_assert_str_eq(json_string_value(json_object_get(l, "function")), "gr\xc3\xb6\xc3\x9f" "e");
    ck_assert_uint_eq(obj_u64(l, "allocated_bytes"), 56 + 4096 + 1);
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

/* An interpreter memprof has no layout for: native frames, a note, the
 * numbers still whole (pymalloc is wrapped all the same). */
START_TEST(unknown_version)
{
    char *env[] = { "MEMPROF_PYTHON_LAYOUT=none", NULL };
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    struct run_output o;
    json_t *root = profile(NULL, f.path, env, &o);
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

/* memprof -p on a running Python program: its Python lines, the note on
 * what the breakpoint engine cannot see, and the program runs on. */
START_TEST(attach_running)
{
    const char *fixture = repo_path("tests/fixtures/python/py_attach.py");
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(PYTHON, PYTHON, fixture, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char ready[16] = "";
    ck_assert_int_gt(read(out[0], ready, sizeof ready - 1), 0);
    ck_assert_msg(strncmp(ready, "ready", 5) == 0, "fixture said %s", ready);
    char pidtext[16], json[PATH_MAX + 16];
    snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
    snprintf(json, sizeof json, "%s/attach.json", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "-p", pidtext, "--duration", "2s", "--json", json, "-o", "/dev/null", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    int alive = kill(pid, 0) == 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out[0]);
    ck_assert_msg(o.status == 0, "memprof -p: %d: %s", o.status, o.err);
    run_output_free(&o);
    ck_assert_msg(alive, "the program did not survive the detach");
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_attach.py", &f);
    json_t *l = line_entry(root, f.path, f.lines[0].line);
    ck_assert_msg(l != NULL, "no %s:%d in the report", f.path, f.lines[0].line);
    uint64_t calls = obj_u64(l, "alloc_calls"), bytes = obj_u64(l, "allocated_bytes");
    /* one buffer a turn, about a millisecond each: some hundreds in 2 s */
    ck_assert_msg(calls >= 50 && bytes >= calls * 100001 && bytes <= calls * 200000,
                  "%llu calls, %llu bytes: not buffers of 100001..200000 bytes", (unsigned long long)calls,
                  (unsigned long long)bytes);
    char w[2048];
    ck_assert_msg(strstr(warnings_text(root, w, sizeof w), "not the small objects of its own allocator"), "%s", w);
    json_decref(root);
}
END_TEST

/* Other interpreters when this machine has some (pyenv builds: libpython
 * shared, with debug information): 3.11 and 3.12 give the same exact lines;
 * any other version a note, native frames and no crash. */
START_TEST(other_interpreters)
{
    glob_t g;
    if (glob("/root/.pyenv/versions/3.*/bin/python3.[0-9]*", 0, NULL, &g) != 0) {
        printf("  no other interpreter here: skipped\n");
        return;
    }
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *python = g.gl_pathv[i];
        const char *base = strrchr(python, '/') + 1; /* python3.N or python3.NN only */
        if (strspn(base + 8, "0123456789") != strlen(base + 8) || access(python, X_OK) != 0)
            continue;
        char json[PATH_MAX + 32];
        snprintf(json, sizeof json, "%s/other-%zu.json", test_tmp_dir(), i);
        char *argv[] = { (char *)memprof_path(), "--json", json, "-o", "/dev/null", (char *)python, f.path, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
        ck_assert_msg(o.status == 0, "%s: status %d: %s", python, o.status, o.err);
        run_output_free(&o);
        json_error_t jerr;
        json_t *root = json_load_file(json, 0, &jerr);
        ck_assert_ptr_nonnull(root);
        char w[4096];
        warnings_text(root, w, sizeof w);
        const char *minor = strstr(strrchr(python, '/'), "python3.");
        int known = minor && (strncmp(minor, "python3.11", 10) == 0 || strncmp(minor, "python3.12", 10) == 0);
        if (known) {
            struct problems p = { 0 };
            check_annotations(root, &f, &p);
            ck_assert_msg(p.n == 0, "%s:\n%s", python, p.text);
        } else {
            ck_assert_msg(strstr(w, "memprof reads the Python frames of 3.11 and 3.12 only") != NULL, "%s: %s", python, w);
        }
        printf("  %s: %s\n", python, known ? "exact lines" : "native frames and a note");
        json_decref(root);
    }
    globfree(&g);
}
END_TEST

int main(void)
{
    if (access(PYTHON, X_OK) != 0) {
        printf("no %s: scripts/install-deps installs it\n", PYTHON);
        return 1;
    }
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
    tcase_add_test(tc, line_mode_heap);
    tcase_add_test(tc, line_mode_rss_text);
    tcase_add_test(tc, line_mode_threads);
    tcase_add_test(tc, unicode_names);
    tcase_add_test(tc, line_mode_bad_names);
    tcase_add_test(tc, unknown_version);
    tcase_add_test(tc, stable_runs_identical);
    tcase_add_test(tc, diff_limits_report);
    tcase_add_test(tc, attach_running);
    tcase_add_test(tc, other_interpreters);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
