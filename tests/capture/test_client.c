/* memprof tests: the annotation header include/memprof/memprof.h by
 * itself: it compiles cleanly as C89, C99, C11 and C++ (98 and 17) with
 * -Wall -Wextra -Werror -pedantic, needs no library, does nothing natively
 * (the hook stays null), and each build's annotations reach both engines
 * (tests/fixtures/client_header.c: 3 allocations of 224 bytes, 2 frees, 32
 * bytes left).  The pool fixture (tests/profile/test_mapped.c) checks a
 * real pool line by line. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const standards[][3] = {
    { "gcc", "-std=c89", "c89" },
    { "gcc", "-std=c99", "c99" },
    { "gcc", "-std=c11", "c11" },
    { "g++", "-x c++ -std=c++98", "cxx98" },
    { "g++", "-x c++ -std=c++17", "cxx17" },
};

START_TEST(header_compiles_and_reaches_both_engines)
{
    for (size_t i = 0; i < sizeof standards / sizeof *standards; i++) {
        char flags[128], tag[64], json[4096];
        snprintf(flags, sizeof flags, "%s -O2 -g -Wall -Wextra -Werror -pedantic", standards[i][1]);
        snprintf(tag, sizeof tag, "client_%s", standards[i][2]);
        const char *exe = build_fixture("tests/fixtures/client_header.c", standards[i][0], flags, tag);
        ck_assert_msg(exe != NULL, "memprof.h does not compile with %s %s", standards[i][0], flags);
        char *native[] = { (char *)exe, "native", NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(native, NULL, NULL, 30, &o), 0);
        ck_assert_msg(o.status == 0, "%s natively: status %d (the hook is not null?)", tag, o.status);
        run_output_free(&o);
        for (int e = 0; e < 2; e++) {
            snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
            char *argv[] = { (char *)memprof_path(), e ? "--engine=breakpoint" : "--engine=agent", "-o", "/dev/null",
                             "--json", json, (char *)exe, NULL };
            ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
            ck_assert_msg(o.status == 0, "%s: status %d\n%s", tag, o.status, o.err);
            run_output_free(&o);
            json_error_t err;
            json_t *root = json_load_file(json, 0, &err);
            ck_assert_msg(root != NULL, "%s", err.text);
            ck_assert_msg(summary_u64(root, "alloc_calls") == 3 && summary_u64(root, "allocated_bytes") == 224 &&
                              summary_u64(root, "free_calls") == 2 && summary_u64(root, "leaked_bytes") == 32 &&
                              summary_u64(root, "leaked_blocks") == 1 && summary_u64(root, "unknown_frees") == 0,
                          "%s (%s): %llu calls %llu bytes %llu frees %llu leaked", tag, argv[1],
                          (unsigned long long)summary_u64(root, "alloc_calls"),
                          (unsigned long long)summary_u64(root, "allocated_bytes"),
                          (unsigned long long)summary_u64(root, "free_calls"),
                          (unsigned long long)summary_u64(root, "leaked_bytes"));
            json_decref(root);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, header_compiles_and_reaches_both_engines);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
