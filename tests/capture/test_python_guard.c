/* memprof: Check tests for Python programs that damage what the agent reads
 * at every allocation (issue 12's fault guard, in a Python process).
 *
 *  - A C library called through ctypes whose unwind tables (.eh_frame) are
 *    random bytes (tests/fixtures/python/py_wrapped_lib.c, damaged after
 *    it is built, as test_eh_frame.c damages a program): it runs natively
 *    (nothing reads the tables); under memprof it must run the same, its 20
 *    blocks of N bytes on the Python line that asks for them, the damaged
 *    stacks counted in a note (at most one per malloc the library makes).
 *  - A program that points its own Python frame's `previous` at memory
 *    that is not there while it allocates (py_frame_chain.py): the two
 *    blocks of its bytearray stay on its line, exactly, and the note says
 *    two Python stacks were cut short.
 * Before the agent read both under its fault guard, each killed Python
 * with SIGSEGV under memprof. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "py_harness.h"

#define N 100000        /* py_wrapped.py: make_buffer(N), 20 times */

/* The count that starts the warning holding `text`, or 0 if none does. */
static unsigned long long warning_count(json_t *root, const char *text)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(root, "warnings"), i, w)
    {
        const char *s = json_string_value(w);
        if (s && strstr(s, text)) {
            unsigned long long n = 0;
            for (; *s; s++)
                if (*s >= '0' && *s <= '9')
                    n = n * 10 + (unsigned long long)(*s - '0');
                else if (*s != ',')
                    break;
            return n;
        }
    }
    return 0;
}

START_TEST(damaged_library_unwind_tables)
{
    const char *built = build_fixture("tests/fixtures/python/py_wrapped_lib.c", "gcc", "-g -O0 -shared -fPIC",
                                      "libpy_wrapped_damaged.so");
    ck_assert_ptr_nonnull(built);
    char lib[4096];
    snprintf(lib, sizeof lib, "%s", built);
    damage_eh_frame(lib, 3);
    char env_lib[4200];
    snprintf(env_lib, sizeof env_lib, "PY_WRAPPED_LIB=%s", lib);
    char *env[] = { env_lib, NULL };
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_wrapped.py", &f);

    struct run_output native;
    char *nargv[] = { PYTHON, f.path, NULL };
    ck_assert_int_eq(run_cmd(nargv, NULL, env, 120, &native), 0);
    ck_assert_msg(native.status == 0, "natively: status %d: %s", native.status, native.err);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, env, &o);
    ck_assert_str_eq(o.out, native.out);

    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    /* the 20 blocks of N bytes: one stack of the line calling make_buffer */
    int line = fixture_line_of(f.path, "= lib.make_buffer(N)");
    size_t i;
    json_t *s;
    int found = 0;
    json_t *frames = json_object_get(root, "frames");
    json_array_foreach(json_object_get(root, "stacks"), i, s)
    {
        json_t *user = json_array_get(frames, (size_t)json_integer_value(json_object_get(s, "user_line")));
        const char *file = json_string_value(json_object_get(user, "file"));
        if (file && is_fixture_file(file, f.path) && obj_u64(user, "line") == (uint64_t)line &&
            obj_u64(s, "alloc_calls") == 20 && obj_u64(s, "allocated_bytes") == 20ull * N)
            found = 1;
    }
    if (!found)
        problem(&p, "no stack of line %d holds make_buffer's 20 blocks of %d bytes", line, N);
    unsigned long long cut = warning_count(root, "call stacks were cut short: the program's unwind tables");
    /* each of the library's 20 mallocs unwinds through the same damaged
     * FDE (xmalloc's): all of them are cut short or none, once each */
    if (cut != 0 && cut != 20)
        problem(&p, "%llu stacks cut short: 20 expected (the library's mallocs), or none", cut);
    char warnings[4096];
    ck_assert_msg(p.n == 0, "%s\nwarnings:\n%s", p.text, warnings_text(root, warnings, sizeof warnings));
    json_decref(root);
    run_output_free(&o);
    run_output_free(&native);
}
END_TEST

START_TEST(overwritten_frame_chain)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_frame_chain.py", &f);
    struct run_output native;
    char *nargv[] = { PYTHON, f.path, NULL };
    ck_assert_int_eq(run_cmd(nargv, NULL, NULL, 120, &native), 0);
    if (native.status == 77) {
        printf("overwritten_frame_chain: skipped, %s", native.out); /* not CPython 3.11 or 3.12 */
        run_output_free(&native);
        return;
    }
    ck_assert_msg(native.status == 0, "natively: status %d: %s", native.status, native.err);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    ck_assert_str_eq(o.out, native.out);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    unsigned long long cut = warning_count(root, "Python call stacks were cut short");
    if (cut != 2)
        problem(&p, "%llu Python stacks cut short, 2 expected (the bytearray's blocks)", cut);
    char warnings[4096];
    ck_assert_msg(p.n == 0, "%s\nwarnings:\n%s", p.text, warnings_text(root, warnings, sizeof warnings));
    json_decref(root);
    run_output_free(&o);
    run_output_free(&native);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python_guard");
    TCase *tc = tcase_create("python_guard");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, damaged_library_unwind_tables);
    tcase_add_test(tc, overwritten_frame_chain);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
