/* memprof tests: `memprof report` of a big report needs memory of the
 * order of the file, not ten times it (json_load_lazy.c reads the big
 * arrays one element at a time).  tests/fixtures/many_stacks.c with 2^16
 * distinct stacks gives a report of about 16 MB, mostly "stacks"; memprof
 * report of it must stay within 3 times the file's size (its peak RSS, from
 * wait4; jansson's whole document took 12 times) and print byte for byte
 * the text report written while recording.  (scripts/torture does the
 * same on a 100 MB report.)  Under AddressSanitizer the memory bound is not
 * checked: the sanitizer's shadow memory is most of the RSS there. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

START_TEST(big_report_in_three_times_its_size)
{
    const char *exe = build_fixture("tests/fixtures/many_stacks.c", "gcc", "-O1 -g -fno-optimize-sibling-calls",
                                    "many_stacks");
    ck_assert_ptr_nonnull(exe);
    char json[4096], text[4096], again[4096];
    snprintf(json, sizeof json, "%s/many_stacks.json", test_tmp_dir());
    snprintf(text, sizeof text, "%s/many_stacks.txt", test_tmp_dir());
    snprintf(again, sizeof again, "%s/many_stacks_again.txt", test_tmp_dir());
    char *run[] = { (char *)memprof_path(), "-o", text, "--json", json, (char *)exe, "16", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(run, NULL, NULL, 600, &o), 0);
    ck_assert_msg(o.status == 0, "memprof: %s", o.err);
    run_output_free(&o);
    struct stat st;
    ck_assert_int_eq(stat(json, &st), 0);
    ck_assert_msg(st.st_size > 10 * 1000 * 1000, "the report is only %lld bytes", (long long)st.st_size);

    pid_t child = fork();
    if (child == 0) {
        execl(memprof_path(), memprof_path(), "report", json, "-o", again, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    ck_assert_int_eq(wait4(child, &status, 0, &ru), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "memprof report ended with %#x", status);
    long long peak = (long long)ru.ru_maxrss * 1024;
    if (!SANITIZED)
        ck_assert_msg(peak <= 3 * (long long)st.st_size, "memprof report of %lld bytes peaked at %lld bytes (%.1fx)",
                      (long long)st.st_size, peak, (double)peak / (double)st.st_size);
    size_t a_len, b_len;
    char *a = read_file(text, &a_len), *b = read_file(again, &b_len);
    ck_assert_msg(a && b && a_len == b_len && memcmp(a, b, a_len) == 0,
                  "memprof report does not give back the text report of the run");
    free(a);
    free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_memory");
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, big_report_in_three_times_its_size);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
