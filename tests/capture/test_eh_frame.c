/* memprof tests: damaged unwind tables must not kill a healthy program
 * under the agent (issue 12 item 4).
 *
 * Builds tests/fixtures/eh_frame.c (gcc -O2 -g), then writes random bytes
 * (a fixed xorshift seed) over its .eh_frame after the first CIE, i.e.
 * over every FDE, with libelf finding the section's file offset.  The
 * damaged program runs natively ("sum 1000 handled 2", exit 0: nothing
 * reads the tables).  Under memprof it must run the same, with exactly
 * valgrind's allocation totals (valgrind does not unwind to count), the
 * stacks cut short counted in a note, and the program's own SIGSEGV
 * (sigaction) and SIGBUS (signal) handlers still called.  Before the fault
 * guard, libunwind's unw_backtrace killed it with SIGSEGV. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void check_damaged(uint64_t seed, const char *tag, const char *how)
{
    const char *built = build_fixture("tests/fixtures/eh_frame.c", "gcc", "-O2 -g", tag);
    ck_assert_ptr_nonnull(built);
    char exe[512];
    snprintf(exe, sizeof exe, "%s", built);
    damage_eh_frame(exe, seed);

    struct run_output native, o;
    char *nargv[] = {exe, (char *)how, NULL};
    ck_assert_int_eq(run_cmd(nargv, NULL, NULL, 60, &native), 0);
    ck_assert_int_eq(native.status, 0);
    ck_assert_str_eq(native.out, "sum 1000 handled 2\n");

    char json[600];
    snprintf(json, sizeof json, "%s.json", exe);
    char *argv[] = {(char *)memprof_path(), "--json", json, "-o", "/dev/null", exe, (char *)how, NULL};
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s: memprof exited %d\n%.3000s", how ? how : "sigaction", o.status, o.err);
    ck_assert_str_eq(o.out, native.out);

    uint64_t allocs, frees, bytes;
    valgrind_totals(exe, 1, &allocs, &frees, &bytes); /* no argument: the same calls */
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_uint_eq(summary_u64(root, "alloc_calls"), allocs);
    ck_assert_uint_eq(summary_u64(root, "allocated_bytes"), bytes);
    ck_assert_uint_eq(summary_u64(root, "free_calls"), frees);
    size_t len;
    char *text = read_file(json, &len);
    ck_assert_msg(strstr(text, "call stacks were cut short: the program's unwind tables (.eh_frame)") != NULL,
                  "no note about the damaged unwind tables:\n%.4000s", text);
    free(text);
    json_decref(root);
    run_output_free(&o);
    run_output_free(&native);
}

/* With `how`, the program sets its SIGSEGV and SIGBUS handlers with that
 * one of glibc's other calls (tests/fixtures/eh_frame.c): they must reach
 * the agent too, else the program's handler replaces the fault guard and
 * the first fault in the damaged tables goes to it (it cannot fix that
 * one: the program hung or died of SIGSEGV before they were interposed). */
START_TEST(handler_set_with_sigset) { check_damaged(77, "eh_frame_sigset", "sigset"); }
END_TEST
START_TEST(handler_set_with_sysv_signal) { check_damaged(77, "eh_frame_sysv", "sysv_signal"); }
END_TEST
/* signal() in a program built with a strict -std=c11 */
START_TEST(handler_set_with___sysv_signal) { check_damaged(77, "eh_frame___sysv", "__sysv_signal"); }
END_TEST
START_TEST(handler_set_with_bsd_signal) { check_damaged(77, "eh_frame_bsd", "bsd_signal"); }
END_TEST
START_TEST(handler_set_with_ssignal) { check_damaged(77, "eh_frame_ssignal", "ssignal"); }
END_TEST

START_TEST(random_fdes_seed_3) { check_damaged(3, "eh_frame_3", NULL); }
END_TEST
START_TEST(random_fdes_seed_77) { check_damaged(77, "eh_frame_77", NULL); }
END_TEST
START_TEST(random_fdes_seed_1234) { check_damaged(1234, "eh_frame_1234", NULL); }
END_TEST

int main(void)
{
    Suite *s = suite_create("eh_frame");
    TCase *tc = tcase_create("eh_frame");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, random_fdes_seed_3);
    tcase_add_test(tc, random_fdes_seed_77);
    tcase_add_test(tc, random_fdes_seed_1234);
    tcase_add_test(tc, handler_set_with_sigset);
    tcase_add_test(tc, handler_set_with_sysv_signal);
    tcase_add_test(tc, handler_set_with___sysv_signal);
    tcase_add_test(tc, handler_set_with_bsd_signal);
    tcase_add_test(tc, handler_set_with_ssignal);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
