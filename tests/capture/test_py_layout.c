/* memprof: Check tests for the CPython layouts (capture/python/py_layout*):
 * the built-in tables for 3.11 and 3.12 against
 *  - the debug information of every interpreter on this machine that has
 *    some: Debian's /usr/bin/python3.11 with python3.11-dbg (its separate
 *    debug file, found by build-id), python3.11d from that package, and
 *    pyenv's libpython builds when present;
 *  - CPython's own headers (offsetof/sizeof compiled against the installed
 *    Include/internal, tests/fixtures/python/py_layout_probe.c) when
 *    installed;
 * and the DWARF reader's answers for files that are not CPython. */
#define _GNU_SOURCE
#include <check.h>
#include <glob.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/python/py_layout.h"
#include "harness.h"

struct named {
    const char *name;
    size_t offset;
    int is_bit;
};
#define N(f) { #f, offsetof(struct mp_py_layout, f), 0 }
#define B(f) { #f, offsetof(struct mp_py_layout, f), 1 }
static const struct named fields[] = {
    N(tstate_cframe), N(tstate_c_tracefunc), N(cframe_current_frame), N(frame_code), N(frame_previous),
    N(frame_prev_instr), N(frame_owner), N(frame_is_entry), N(owner_generator), N(owner_cstack),
    N(object_type), N(code_filename), N(code_name), N(code_qualname), N(code_firstlineno),
    N(code_linetable), N(code_firsttraceable), N(code_code_adaptive), N(str_length), N(str_state),
    N(str_ascii_size), N(str_compact_size), N(str_utf8_length), N(str_utf8), B(state_kind_bit),
    B(state_compact_bit), B(state_ascii_bit), N(bytes_size), N(bytes_sval), N(runtime_interpreters_head),
    N(interp_next), N(interp_threads_head), N(tstate_next), N(tstate_native_thread_id),
};

static long field_value(const struct mp_py_layout *l, const struct named *f)
{
    const char *base = (const char *)l + f->offset;
    return f->is_bit ? *(const uint8_t *)base : *(const int32_t *)base;
}

/* Every field of got equals the built-in table's for `version`. */
static void compare_with_builtin(const char *what, uint32_t version, const struct mp_py_layout *got)
{
    struct mp_py_layout want;
    ck_assert_msg(mp_py_layout_builtin(version, &want) == 0, "%s: no built-in layout for %x", what, version);
    struct problems p = { 0 };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (field_value(got, &fields[i]) != field_value(&want, &fields[i]))
            problem(&p, "%s: %s is %ld, the built-in table says %ld", what, fields[i].name,
                    field_value(got, &fields[i]), field_value(&want, &fields[i]));
    ck_assert_msg(p.n == 0, "%s", p.text);
}

/* sys.hexversion of an interpreter (or of the one using the library). */
static uint32_t hexversion(const char *python)
{
    char *argv[] = { (char *)python, "-c", "import sys; print(sys.hexversion)", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_msg(o.status == 0, "%s -c failed: %s", python, o.err);
    uint32_t v = (uint32_t)strtoul(o.out, NULL, 10);
    run_output_free(&o);
    return v;
}

/* The DWARF layout of `file` (interpreter `python`) equals the table. */
static int check_dwarf(const char *file, const char *python)
{
    if (access(file, R_OK) != 0 || access(python, X_OK) != 0)
        return 0;
    uint32_t version = hexversion(python);
    struct mp_py_layout got;
    char err[256];
    int rc = mp_py_layout_dwarf(file, version, &got, err, sizeof err);
    if (rc == -1)
        return 0; /* no debug information for it here */
    ck_assert_msg(rc == 0, "%s: %s", file, err);
    ck_assert_uint_eq(got.version, version);
    compare_with_builtin(file, version, &got);
    printf("  layout of %s (%x) from its debug information = built-in table\n", file, version);
    return 1;
}

START_TEST(builtin_versions)
{
    struct mp_py_layout l;
    ck_assert_int_eq(mp_py_layout_builtin(0x030b02f0, &l), 0);
    ck_assert_int_eq(l.frame_is_entry >= 0 && l.owner_cstack < 0, 1); /* 3.11 marks entry frames */
    ck_assert_int_eq(mp_py_layout_builtin(0x030c01f0, &l), 0);
    ck_assert_int_eq(l.frame_is_entry < 0 && l.owner_cstack >= 0, 1); /* 3.12: shim frames */
    ck_assert_int_eq(mp_py_layout_builtin(0x030a0df0, &l), -1);
    ck_assert_int_eq(mp_py_layout_builtin(0x030d00f0, &l), -1);
    char text[32];
    mp_py_version_text(0x030b02f0, text, sizeof text);
    ck_assert_str_eq(text, "3.11.2");
}
END_TEST

START_TEST(dwarf_matches_builtin)
{
    int checked = 0;
    /* Debian's stock interpreter: its debug file comes from python3.11-dbg
     * (scripts/install-deps installs it; without it the check is skipped
     * and memprof uses the table, which the header check below covers). */
    checked += check_dwarf("/usr/bin/python3.11", "/usr/bin/python3.11");
    checked += check_dwarf("/usr/bin/python3.11d", "/usr/bin/python3.11d");
    glob_t g;
    if (glob("/root/.pyenv/versions/3.1[12].*/lib/libpython3.1[12].so.1.0", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char python[PATH_MAX];
            snprintf(python, sizeof python, "%s", g.gl_pathv[i]);
            char *lib = strstr(python, "/lib/libpython");
            const char *minor = strstr(lib, "python3.1");
            char version[16];
            snprintf(version, sizeof version, "%.10s", minor); /* "python3.1X" */
            snprintf(lib, sizeof python - (size_t)(lib - python), "/bin/%s", version);
            checked += check_dwarf(g.gl_pathv[i], python);
        }
        globfree(&g);
    }
    if (!checked)
        printf("  no interpreter with debug information here: skipped\n");
}
END_TEST

START_TEST(headers_match_builtin)
{
    const char *include = "/usr/include/python3.11";
    char header[PATH_MAX];
    snprintf(header, sizeof header, "%s/internal/pycore_frame.h", include);
    if (access(header, R_OK) != 0) {
        printf("  no CPython headers in %s: skipped\n", include);
        return;
    }
    char flags[PATH_MAX + 8];
    snprintf(flags, sizeof flags, "-I%s", include);
    const char *probe = build_fixture("tests/fixtures/python/py_layout_probe.c", "gcc", flags, "py_layout_probe");
    ck_assert_msg(probe != NULL, "the probe does not compile against %s", include);
    char *argv[] = { (char *)probe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 0);
    struct mp_py_layout got;
    memset(&got, 0, sizeof got);
    uint32_t version = 0;
    size_t seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(o.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        long value;
        if (sscanf(line, "%63s %ld", name, &value) != 2)
            continue;
        if (strcmp(name, "version") == 0)
            version = (uint32_t)value;
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
            if (strcmp(fields[i].name, name) != 0)
                continue;
            char *at = (char *)&got + fields[i].offset;
            if (fields[i].is_bit)
                *(uint8_t *)at = (uint8_t)value;
            else
                *(int32_t *)at = (int32_t)value;
            seen++;
        }
    }
    run_output_free(&o);
    ck_assert_uint_eq(seen, sizeof fields / sizeof *fields);
    compare_with_builtin(include, version, &got);
}
END_TEST

START_TEST(dwarf_of_other_files)
{
    struct mp_py_layout l;
    char err[256];
    /* A C program with debug information: no CPython types in it. */
    const char *c = build_fixture("tests/fixtures/basic.c", "gcc", "-g -O0", "py_layout_basic");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(mp_py_layout_dwarf(c, 0x030b02f0, &l, err, sizeof err), -2);
    ck_assert_msg(strstr(err, "PyThreadState") != NULL, "message: %s", err);
    /* No debug information at all. */
    const char *stripped = build_fixture("tests/fixtures/basic.c", "gcc", "-O0 -s", "py_layout_stripped");
    ck_assert_ptr_nonnull(stripped);
    ck_assert_int_eq(mp_py_layout_dwarf(stripped, 0x030b02f0, &l, err, sizeof err), -1);
    ck_assert_int_eq(mp_py_layout_dwarf("/nonexistent/python", 0x030b02f0, &l, err, sizeof err), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("py_layout");
    TCase *tc = tcase_create("layout");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, builtin_versions);
    tcase_add_test(tc, dwarf_matches_builtin);
    tcase_add_test(tc, headers_match_builtin);
    tcase_add_test(tc, dwarf_of_other_files);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
