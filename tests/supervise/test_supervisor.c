/* memprof tests: the supervisor end to end: exit statuses, signals, output
 * passthrough, threads, exec, peak RSS against the kernel's own figure, and
 * every bad-input case. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *exitcode_fixture(void)
{
    static const char *path;
    if (!path)
        path = build_fixture("tests/fixtures/exitcode.c", "gcc", "-O0 -g", "sup_exitcode");
    ck_assert_ptr_nonnull(path);
    return path;
}

START_TEST(exit_status_is_the_targets)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "sh", "-c", "exit 7", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 7);
    ck_assert_ptr_nonnull(strstr(o.err, "exit status 7"));
    run_output_free(&o);
}
END_TEST

START_TEST(signal_death_is_128_plus_n)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "sh", "-c", "kill -SEGV $$", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 139);
    ck_assert_ptr_nonnull(strstr(o.err, "killed by signal 11"));
    run_output_free(&o);

    char *argv2[] = { (char *)memprof_path(), (char *)exitcode_fixture(), "-s", "6", NULL };
    ck_assert_int_eq(run_cmd(argv2, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 134);
    run_output_free(&o);
}
END_TEST

START_TEST(stdout_and_stdin_pass_through)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "printf", "a\\nb\\n", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_uint_eq(o.out_len, 4);
    ck_assert_str_eq(o.out, "a\nb\n");
    ck_assert_ptr_nonnull(strstr(o.err, "Summary"));
    run_output_free(&o);

    char *cat[] = { (char *)memprof_path(), "cat", NULL };
    ck_assert_int_eq(run_cmd(cat, "line one\nline two\n", NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.out, "line one\nline two\n");
    run_output_free(&o);
}
END_TEST

START_TEST(report_to_file_leaves_stderr_to_the_target)
{
    char report[4096];
    snprintf(report, sizeof report, "%s/sup_report.txt", test_tmp_dir());
    unlink(report);
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "-o", report, "sh", "-c", "echo err >&2", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.err, "err\n");
    char *text = read_file(report, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "Summary"));
    free(text);
    run_output_free(&o);
}
END_TEST

START_TEST(threads_are_followed)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), (char *)exitcode_fixture(), "-t", "32", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_int_eq(o.status, 0);
    run_output_free(&o);
}
END_TEST

START_TEST(exec_is_followed)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/sup_exec.json", test_tmp_dir());
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "--json", json, (char *)exitcode_fixture(), "-e",
                     (char *)exitcode_fixture(), "42", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 42);
    char *text = read_file(json, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "\"exit\": {\"code\": 42}"));
    free(text);
    run_output_free(&o);
}
END_TEST

/* env execs another program: the new image is the one profiled (demo.c's
 * @total: 203 allocation calls), and memprof survives dropping the old
 * image's modules (it once freed libdwfl's own memory there). */
START_TEST(exec_of_another_program_is_profiled)
{
    const char *demo = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "sup_demo");
    ck_assert_ptr_nonnull(demo);
    char json[4096];
    snprintf(json, sizeof json, "%s/sup_env.json", test_tmp_dir());
    for (int i = 0; i < 5; i++) {
        struct run_output o;
        char *argv[] = { (char *)memprof_path(), "--json", json, "env", "FOO=1", (char *)demo, NULL };
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
        ck_assert_msg(o.status == 0, "status %d\n%s", o.status, o.err);
        run_output_free(&o);
        char *text = read_file(json, NULL);
        ck_assert_ptr_nonnull(text);
        ck_assert_ptr_nonnull(strstr(text, "\"alloc_calls\": 203,"));
        free(text);
    }
}
END_TEST

START_TEST(children_run_as_without_memprof)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "sh", "-c",
                     "printf 'x\\ny\\nz\\n' | sort -r | tr a-z A-Z; (exit 3) & wait $!; echo $?", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_str_eq(o.out, "Z\nY\nX\n3\n");
    run_output_free(&o);
}
END_TEST

static unsigned long long json_number(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in JSON", key);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* The kernel's own maximum RSS of a native run (what /usr/bin/time reports). */
static unsigned long long native_maxrss_bytes(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return (unsigned long long)ru.ru_maxrss * 1024;
}

START_TEST(peak_rss_matches_the_kernel)
{
    const char *touch = build_fixture("tests/fixtures/touch.c", "gcc", "-O2 -g", "sup_touch");
    ck_assert_ptr_nonnull(touch);
    const char *sizes[] = { "64", "16" };
    for (int i = 0; i < 2; i++) {
        char json[4096];
        snprintf(json, sizeof json, "%s/sup_touch.json", test_tmp_dir());
        struct run_output o;
        char *argv[] = { (char *)memprof_path(), "--json", json, (char *)touch, (char *)sizes[i], NULL };
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
        ck_assert_int_eq(o.status, 0);
        run_output_free(&o);
        char *text = read_file(json, NULL);
        unsigned long long ours = json_number(text, "peak_rss_bytes");
        free(text);
        char *native[] = { (char *)touch, (char *)sizes[i], NULL };
        unsigned long long kernel = native_maxrss_bytes(native);
        unsigned long long diff = ours > kernel ? ours - kernel : kernel - ours;
        unsigned long long tolerance = kernel * 3 / 100;
        if (tolerance < 2ULL << 20)
            tolerance = 2ULL << 20;
        ck_assert_msg(diff <= tolerance, "peak RSS %llu vs kernel %llu", ours, kernel);
        unsigned long long touched = strtoull(sizes[i], NULL, 10) << 20;
        ck_assert_msg(ours >= touched, "peak RSS %llu below the %llu bytes touched", ours, touched);
    }
}
END_TEST

START_TEST(missing_program_is_127)
{
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "/nonexistent/prog", NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 127);
    ck_assert_int_eq(count_lines(o.err), 1);
    ck_assert_ptr_nonnull(strstr(o.err, "/nonexistent/prog"));
    run_output_free(&o);

    char *argv2[] = { (char *)memprof_path(), "no-such-command-memprof", NULL };
    ck_assert_int_eq(run_cmd(argv2, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 127);
    ck_assert_int_eq(count_lines(o.err), 1);
    ck_assert_ptr_nonnull(strstr(o.err, "command not found"));
    run_output_free(&o);
}
END_TEST

START_TEST(not_executable_is_126)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sup_not_exec", test_tmp_dir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(path, 0644);
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), path, NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 126);
    ck_assert_int_eq(count_lines(o.err), 1);
    ck_assert_ptr_nonnull(strstr(o.err, "not executable"));
    run_output_free(&o);

    char *dir[] = { (char *)memprof_path(), "/tmp", NULL };
    ck_assert_int_eq(run_cmd(dir, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 126);
    run_output_free(&o);
}
END_TEST

START_TEST(bad_options_are_usage_errors)
{
    const char *cases[][3] = { { "--no-such-option", "true", NULL },
                               { "--top", "many", "true" },
                               { "--engine", "magic", "true" },
                               { "--json", NULL, NULL },
                               { NULL, NULL, NULL } };
    for (int i = 0; i < 5; i++) {
        char *argv[5] = { (char *)memprof_path() };
        for (int j = 0; j < 3 && cases[i][j]; j++)
            argv[j + 1] = (char *)cases[i][j];
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 30, &o), 0);
        ck_assert_msg(o.status == 2, "case %d: status %d", i, o.status);
        ck_assert_ptr_nonnull(strstr(o.err, "usage: memprof"));
        ck_assert_int_eq(count_lines(o.err), 2);
        run_output_free(&o);
    }
}
END_TEST

START_TEST(help_and_version)
{
    struct run_output o;
    char *help[] = { (char *)memprof_path(), "--help", NULL };
    ck_assert_int_eq(run_cmd(help, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_ptr_nonnull(strstr(o.out, "usage: memprof"));
    ck_assert_ptr_nonnull(strstr(o.out, "--json"));
    run_output_free(&o);
    char *version[] = { (char *)memprof_path(), "--version", NULL };
    ck_assert_int_eq(run_cmd(version, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_ptr_nonnull(strstr(o.out, "memprof "));
    run_output_free(&o);
}
END_TEST

/* A seccomp filter that makes ptrace fail with EPERM, as in a container
 * without CAP_SYS_PTRACE. */
static void deny_ptrace(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof filter / sizeof *filter, filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        _exit(99);
}

START_TEST(ptrace_refused_is_explained)
{
    int err[2];
    ck_assert_int_eq(pipe(err), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        /* LeakSanitizer (SANITIZE=1 builds) needs ptrace itself at exit. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        deny_ptrace();
        execl(memprof_path(), memprof_path(), "true", (char *)NULL);
        _exit(98);
    }
    close(err[1]);
    char buf[4096];
    ssize_t n, total = 0;
    while ((n = read(err[0], buf + total, sizeof buf - 1 - (size_t)total)) > 0)
        total += n;
    buf[total] = '\0';
    close(err[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    ck_assert_int_eq(count_lines(buf), 1);
    ck_assert_ptr_nonnull(strstr(buf, "ptrace is not permitted"));
    ck_assert_ptr_nonnull(strstr(buf, "CAP_SYS_PTRACE"));
}
END_TEST

START_TEST(sigterm_to_memprof_reaches_the_target)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(memprof_path(), memprof_path(), "sleep", "30", (char *)NULL);
        _exit(98);
    }
    struct timespec ts = { 0, 500 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    kill(pid, SIGTERM);
    int status;
    time_t start = time(NULL);
    waitpid(pid, &status, 0);
    ck_assert(time(NULL) - start < 10);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGTERM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("supervisor");
    TCase *tc = tcase_create("end to end");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, exit_status_is_the_targets);
    tcase_add_test(tc, signal_death_is_128_plus_n);
    tcase_add_test(tc, stdout_and_stdin_pass_through);
    tcase_add_test(tc, report_to_file_leaves_stderr_to_the_target);
    tcase_add_test(tc, threads_are_followed);
    tcase_add_test(tc, exec_is_followed);
    tcase_add_test(tc, exec_of_another_program_is_profiled);
    tcase_add_test(tc, children_run_as_without_memprof);
    tcase_add_test(tc, peak_rss_matches_the_kernel);
    tcase_add_test(tc, missing_program_is_127);
    tcase_add_test(tc, not_executable_is_126);
    tcase_add_test(tc, bad_options_are_usage_errors);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, ptrace_refused_is_explained);
    tcase_add_test(tc, sigterm_to_memprof_reaches_the_target);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
