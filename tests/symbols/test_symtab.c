/* memprof: tests of the symbol index (src/symbols/sym_symtab.c).
 *
 * The index must name exactly the symbol libdwfl's dwfl_module_addrinfo
 * names (its linear search is the oracle): at every address of a fixture
 * built with the tricky shapes (tests/fixtures/sym_symbols.c: aliases with
 * different bindings, a symbol nested in another, labels without size, an
 * absolute symbol, locals), as a program, as a shared library and stripped;
 * and around every symbol plus at pseudo-random addresses of big system
 * libraries (libstdc++, libc, libLLVM when installed: the stripped library
 * that made per-address searching slow). */
#define _GNU_SOURCE
#include <check.h>
#include <elfutils/libdwfl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "symbols/sym_symtab.h"

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

struct opened {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    struct sym_symtab *table;
    GElf_Addr low, high;
};

static void open_offline(const char *path, struct opened *o)
{
    o->dwfl = dwfl_begin(&offline_callbacks);
    ck_assert_ptr_nonnull(o->dwfl);
    dwfl_report_begin(o->dwfl);
    o->mod = dwfl_report_offline(o->dwfl, path, path, -1);
    ck_assert_msg(o->mod != NULL, "cannot open %s: %s", path, dwfl_errmsg(-1));
    dwfl_report_end(o->dwfl, NULL, NULL);
    dwfl_module_info(o->mod, NULL, &o->low, &o->high, NULL, NULL, NULL, NULL);
    o->table = sym_symtab_build(o->mod);
    ck_assert_msg(o->table != NULL, "no symbol index for %s", path);
}

static void close_offline(struct opened *o)
{
    sym_symtab_destroy(o->table);
    dwfl_end(o->dwfl);
}

/* 1 when the index and libdwfl name the same symbol at addr (the same
 * string of the same table, or both none). */
static int agrees(const struct opened *o, GElf_Addr addr, const char *what)
{
    GElf_Off offset;
    GElf_Sym sym;
    const char *want = dwfl_module_addrinfo(o->mod, addr, &offset, &sym, NULL, NULL, NULL);
    const char *got = sym_symtab_lookup(o->table, o->mod, addr);
    if (want == got)
        return 1;
    fprintf(stderr, "test_symtab: %s at 0x%" PRIx64 ": libdwfl says %s, the index %s\n", what, (uint64_t)addr,
            want ? want : "(none)", got ? got : "(none)");
    return 0;
}

/* Every address of the module, and every symbol's own address. */
static void check_every_address(const char *path)
{
    struct opened o;
    open_offline(path, &o);
    ck_assert_uint_gt(sym_symtab_count(o.table), 5);
    ck_assert_uint_lt(o.high - o.low, 4u << 20);
    size_t bad = 0, named = 0;
    for (GElf_Addr a = o.low > 64 ? o.low - 64 : 0; a < o.high + 64; a++) {
        bad += !agrees(&o, a, path);
        named += sym_symtab_lookup(o.table, o.mod, a) != NULL;
    }
    int n = dwfl_module_getsymtab(o.mod);
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        if (dwfl_module_getsym_info(o.mod, i, &sym, &value, NULL, NULL, NULL) == NULL)
            continue;
        for (GElf_Addr d = 0; d < 3; d++)
            bad += !agrees(&o, value + d, path);
    }
    ck_assert_msg(bad == 0, "%zu addresses of %s differ from libdwfl", bad, path);
    ck_assert_uint_gt(named, 100);   /* the walk really met symbols */
    close_offline(&o);
}

/* Around a sample of the symbols (start - 1, start, middle, last byte, end)
 * and at pseudo-random addresses of the module. */
static void check_sampled(const char *path, int lookups)
{
    struct opened o;
    open_offline(path, &o);
    int n = dwfl_module_getsymtab(o.mod);
    ck_assert_int_gt(n, 1000);
    int stride = n / (lookups / 10) + 1;
    size_t bad = 0, checked = 0;
    for (int i = 1; i < n; i += stride) {
        GElf_Sym sym;
        GElf_Addr value;
        if (dwfl_module_getsym_info(o.mod, i, &sym, &value, NULL, NULL, NULL) == NULL)
            continue;
        GElf_Addr probes[5] = { value - 1, value, value + sym.st_size / 2,
                                value + (sym.st_size ? sym.st_size - 1 : 1), value + sym.st_size };
        for (int k = 0; k < 5; k++, checked++)
            bad += !agrees(&o, probes[k], path);
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < lookups / 2; i++, checked++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bad += !agrees(&o, o.low + x % (o.high - o.low), path);
    }
    ck_assert_msg(bad == 0, "%zu of %zu addresses of %s differ from libdwfl", bad, checked, path);
    close_offline(&o);
}

static const char *fixture(const char *flags, const char *out)
{
    const char *path = build_fixture("tests/fixtures/sym_symbols.c", "gcc", flags, out);
    ck_assert_msg(path != NULL, "cannot build sym_symbols.c with %s", flags);
    return path;
}

START_TEST(test_program_with_locals_and_labels)
{
    check_every_address(fixture("-O2 -g", "symtab_prog"));
}
END_TEST

START_TEST(test_shared_library)
{
    check_every_address(fixture("-O2 -g -shared -fPIC", "symtab_lib.so"));
}
END_TEST

START_TEST(test_stripped_library_dynsym_only)
{
    check_every_address(fixture("-O2 -shared -fPIC -s", "symtab_stripped.so"));
}
END_TEST

START_TEST(test_stripped_program)
{
    check_every_address(fixture("-O2 -s -rdynamic", "symtab_stripped_prog"));
}
END_TEST

/* The first file matching pattern, or NULL. */
static char *first_match(const char *pattern)
{
    glob_t g;
    char *path = NULL;
    if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
        path = strdup(g.gl_pathv[0]);
    globfree(&g);
    return path;
}

START_TEST(test_system_libraries)
{
    const char *patterns[] = { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                               "/lib/x86_64-linux-gnu/libc.so.6" };
    int done = 0;
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns && done < 2; i++) {
        char *path = first_match(patterns[i]);
        if (path != NULL) {
            check_sampled(path, 6000);
            done++;
        }
        free(path);
    }
    ck_assert_int_eq(done, 2);
}
END_TEST

START_TEST(test_big_stripped_library)
{
    char *path = first_match("/usr/lib/x86_64-linux-gnu/libLLVM-*.so.1");
    if (path == NULL) {
        fprintf(stderr, "test_symtab: no libLLVM installed, the big-library case is skipped\n");
        return;
    }
    check_sampled(path, 1500);
    free(path);
}
END_TEST

static Suite *symtab_suite(void)
{
    Suite *suite = suite_create("symtab");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_program_with_locals_and_labels);
    tcase_add_test(tc, test_shared_library);
    tcase_add_test(tc, test_stripped_library_dynsym_only);
    tcase_add_test(tc, test_stripped_program);
    tcase_add_test(tc, test_system_libraries);
    tcase_add_test(tc, test_big_stripped_library);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    unsetenv("DEBUGINFOD_URLS");    /* hermetic: no debug info downloads */
    SRunner *runner = srunner_create(symtab_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
