/* memprof: Check tests for Python programs and what memprof does for every
 * program's memory: mapped memory and allocation wrappers.
 *
 *  - pymalloc's arenas: CPython maps them itself, from inside its allocator
 *    (the domains the agent wraps), so under Python profiling they are not
 *    mapped memory; the objects inside are heap blocks at their exact sizes.
 *    The fixture prints the bytes its strings hold (sys.getsizeof), and
 *    tracemalloc, run separately, gives the line's bytes at the peak: the
 *    heap holds them, the mapped figures do not (less than one 1 MiB arena).
 *  - Wrapper folding never moves a stack off its Python line: a C library
 *    called through ctypes allocates through its xmalloc (a wrapper memprof
 *    finds and folds), by default and with --alloc-fn naming both of its
 *    functions; an --alloc-fn naming a Python function hands its blocks to
 *    the Python line that called it.  Sizes from the fixtures' source. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "py_harness.h"

#define ARENA_BYTES (1u << 20) /* pymalloc's arena in 3.11 and 3.12 (ARENA_BITS 20) */

/* The fixture line's counter, summed over its functions' entries (a list
 * comprehension's line is also its enclosing function's). */
static uint64_t line_sum(json_t *root, const char *fixture, int line, const char *key)
{
    uint64_t sum = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        if (file && is_fixture_file(file, fixture) && obj_u64(l, "line") == (uint64_t)line)
            sum += obj_u64(l, key);
    }
    return sum;
}

START_TEST(pymalloc_arenas_are_not_mapped)
{
    const char *fixture = repo_path("tests/fixtures/python/py_strings.py");
    int strings_line = fixture_line_of(fixture, "# the strings' line");
    /* tracemalloc: the line's bytes at the peak */
    char *tm_argv[] = { PYTHON, "-X", "tracemalloc=1", (char *)repo_path("tests/fixtures/python/tm_oracle.py"),
                        (char *)fixture, NULL };
    struct run_output t;
    ck_assert_int_eq(run_cmd(tm_argv, NULL, NULL, 120, &t), 0);
    ck_assert_msg(t.status == 0, "tm_oracle.py: %s", t.err);
    unsigned long long tm_line = 0, printed_tm = strtoull(t.out, NULL, 10);
    char *save = NULL;
    for (char *l = strtok_r(t.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int line;
        unsigned long long bytes, blocks;
        if (sscanf(l, "LINE %d %llu %llu", &line, &bytes, &blocks) == 3 && line == strings_line)
            tm_line = bytes;
    }
    run_output_free(&t);

    struct run_output o;
    json_t *root = py_profile(NULL, fixture, NULL, &o);
    unsigned long long printed = strtoull(o.out, NULL, 10);
    run_output_free(&o);
    ck_assert_uint_gt(printed, 200000ull * 49); /* 200,000 strings of 49 bytes or more */
    ck_assert_uint_eq(printed, printed_tm);
    ck_assert_uint_ge(tm_line, printed);

    struct problems p = { 0 };
    /* the heap holds the strings, as tracemalloc says */
    uint64_t peak = line_sum(root, fixture, strings_line, "peak_bytes");
    if (peak < printed)
        problem(&p, "the strings' line holds %llu bytes at the peak, fewer than its objects' %llu",
                (unsigned long long)peak, printed);
    double rel = ((double)peak - (double)tm_line) / (double)tm_line;
    if (rel > 0.01 || rel < -0.01)
        problem(&p, "the strings' line: %llu bytes at the peak, tracemalloc %llu", (unsigned long long)peak, tm_line);
    if (summary_u64(root, "peak_heap_bytes") < printed)
        problem(&p, "peak heap %llu < the strings' %llu", (unsigned long long)summary_u64(root, "peak_heap_bytes"),
                printed);
    /* and the mapped figures do not: the line maps nothing, and all that is
     * mapped is less than one arena */
    if (line_sum(root, fixture, strings_line, "map_calls") || line_sum(root, fixture, strings_line, "mapped_bytes"))
        problem(&p, "the strings' line mapped %llu bytes",
                (unsigned long long)line_sum(root, fixture, strings_line, "mapped_bytes"));
    if (summary_u64(root, "peak_mapped_bytes") >= ARENA_BYTES)
        problem(&p, "mapped peak %llu: pymalloc's arenas counted as mapped",
                (unsigned long long)summary_u64(root, "peak_mapped_bytes"));
    uint64_t total = summary_u64(root, "peak_total_bytes"), total_mapped = summary_u64(root, "peak_total_mapped_bytes");
    if (total - total_mapped < printed || total_mapped >= ARENA_BYTES)
        problem(&p, "peak heap + mapped %llu (%llu mapped): the strings' bytes are not on the heap side",
                (unsigned long long)total, (unsigned long long)total_mapped);
    if (total < summary_u64(root, "peak_heap_bytes") || total < summary_u64(root, "peak_mapped_bytes"))
        problem(&p, "peak heap + mapped %llu below one of its parts", (unsigned long long)total);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
}
END_TEST

struct buffer_stacks {
    const char *fixture;
    int line;          /* the Python line calling make_buffer */
    uint64_t calls, bytes, elsewhere;
};

static void count_buffer_stacks(json_t *root, struct buffer_stacks *b)
{
    json_t *frames = json_object_get(root, "frames");
    size_t i, k;
    json_t *s, *f;
    json_array_foreach(json_object_get(root, "stacks"), i, s)
    {
        int through = 0;
        json_array_foreach(json_object_get(s, "frames"), k, f)
        {
            const char *fn = json_string_value(json_object_get(json_array_get(frames, json_integer_value(f)), "function"));
            through |= fn && strcmp(fn, "make_buffer") == 0;
        }
        if (!through)
            continue;
        json_t *user = json_array_get(frames, (size_t)json_integer_value(json_object_get(s, "user_line")));
        const char *file = json_string_value(json_object_get(user, "file"));
        if (file && is_fixture_file(file, b->fixture) && obj_u64(user, "line") == (uint64_t)b->line) {
            b->calls += obj_u64(s, "alloc_calls");
            b->bytes += obj_u64(s, "allocated_bytes");
        } else {
            b->elsewhere += obj_u64(s, "alloc_calls");
        }
    }
}

static uint64_t calls_of_function(json_t *root, const char *function)
{
    uint64_t n = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *fn = json_string_value(json_object_get(l, "function"));
        if (fn && strcmp(fn, function) == 0)
            n += obj_u64(l, "alloc_calls");
    }
    return n;
}

static json_t *run_wrapped(const char *const *args, const struct py_fixture *f, struct problems *p, const char *what)
{
    const char *lib = build_fixture("tests/fixtures/python/py_wrapped_lib.c", "gcc", "-g -O0 -shared -fPIC",
                                    "libpy_wrapped.so");
    ck_assert_ptr_nonnull(lib);
    char env_lib[4200];
    snprintf(env_lib, sizeof env_lib, "PY_WRAPPED_LIB=%s", lib);
    char *env[] = { env_lib, NULL };
    struct run_output o;
    json_t *root = py_profile(args, f->path, env, &o);
    run_output_free(&o);
    struct buffer_stacks b = { .fixture = f->path, .line = fixture_line_of(f->path, "= lib.make_buffer(N)") };
    count_buffer_stacks(root, &b);
    if (b.calls != 20 || b.bytes != 2000000 || b.elsewhere)
        problem(p, "%s: make_buffer's blocks: %llu calls, %llu bytes on the Python line that calls it (20 and "
                   "2,000,000 expected), %llu calls charged elsewhere",
                what, (unsigned long long)b.calls, (unsigned long long)b.bytes, (unsigned long long)b.elsewhere);
    if (calls_of_function(root, "xmalloc") || calls_of_function(root, "make_buffer"))
        problem(p, "%s: C lines charged under a Python line: xmalloc %llu calls, make_buffer %llu", what,
                (unsigned long long)calls_of_function(root, "xmalloc"),
                (unsigned long long)calls_of_function(root, "make_buffer"));
    return root;
}

START_TEST(folding_keeps_the_python_line)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_wrapped.py", &f);
    struct problems p = { 0 };
    /* automatic folding (xmalloc is a wrapper by its rules) */
    json_t *root = run_wrapped(NULL, &f, &p, "default");
    check_annotations(root, &f, &p);
    json_decref(root);
    /* both C functions named */
    const char *both[] = { "--alloc-fn", "xmalloc", "--alloc-fn", "make_buffer", NULL };
    root = run_wrapped(both, &f, &p, "--alloc-fn xmalloc --alloc-fn make_buffer");
    check_annotations(root, &f, &p);
    json_decref(root);
    /* a Python function named: its blocks go to the Python line calling it */
    const char *python_fn[] = { "--alloc-fn", "alloc_block", NULL };
    root = run_wrapped(python_fn, &f, &p, "--alloc-fn alloc_block");
    int inner = f.lines[0].line, caller = fixture_line_of(f.path, "    blocks[i] = alloc_block(N)");
    uint64_t calls = line_sum(root, f.path, caller, "alloc_calls"), bytes = line_sum(root, f.path, caller, "allocated_bytes");
    if (calls != f.lines[0].calls || bytes != f.lines[0].bytes || line_sum(root, f.path, inner, "alloc_calls"))
        problem(&p, "--alloc-fn alloc_block: its caller's line has %llu calls, %llu bytes (%llu and %llu expected), "
                    "its own %llu calls",
                (unsigned long long)calls, (unsigned long long)bytes, (unsigned long long)f.lines[0].calls,
                (unsigned long long)f.lines[0].bytes, (unsigned long long)line_sum(root, f.path, inner, "alloc_calls"));
    json_decref(root);
    ck_assert_msg(p.n == 0, "%s", p.text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python_alloc");
    TCase *tc = tcase_create("python_alloc");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pymalloc_arenas_are_not_mapped);
    tcase_add_test(tc, folding_keeps_the_python_line);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
