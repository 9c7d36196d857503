/* memprof tests: report files are written whole or not at all
 * (cli/out_file.h).  A run, `memprof report` or `memprof diff` that fails
 * before or while writing leaves the previous report at the path as it was,
 * creates no empty file and leaves no temporary file; a run that succeeds
 * replaces the report, keeping the file's permissions and a symbolic link
 * pointing at it. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[4096];

/* A fresh empty directory for one test. */
static void fresh_dir(const char *name)
{
    snprintf(dir, sizeof dir, "%s/outfile_%s", test_tmp_dir(), name);
    char *rm[] = { "rm", "-rf", dir, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(rm, NULL, NULL, 30, &o), 0);
    run_output_free(&o);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
}

static const char *in_dir(const char *name)
{
    static char paths[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(paths[k], sizeof paths[k], "%s/%s", dir, name);
    return paths[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The names in the directory, sorted, space-separated. */
static void listing(char *out, size_t size)
{
    char *ls[] = { "ls", "-A", dir, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(ls, NULL, NULL, 30, &o), 0);
    snprintf(out, size, "%s", o.out);
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
    run_output_free(&o);
}

static const char *demo(void)
{
    static const char *path;
    if (!path)
        path = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "outfile_demo");
    ck_assert_ptr_nonnull(path);
    return path;
}

static int run(char **argv, const char *shell_prefix)
{
    struct run_output o;
    int status;
    if (shell_prefix) {
        char cmd[8192];
        size_t n = (size_t)snprintf(cmd, sizeof cmd, "%s", shell_prefix);
        for (char **a = argv; *a; a++)
            n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", *a);
        char *sh[] = { "/bin/sh", "-c", cmd, NULL };
        ck_assert_int_eq(run_cmd(sh, NULL, NULL, 120, &o), 0);
    } else {
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    }
    status = o.status;
    run_output_free(&o);
    return status;
}

START_TEST(failed_runs_leave_old_reports_and_no_new_files)
{
    fresh_dir("failed");
    put(in_dir("old.txt"), "OLD TEXT\n");
    put(in_dir("old.json"), "{\"old\": 1}\n");
    /* a program that does not exist, a process that does not exist */
    char *missing[] = { (char *)memprof_path(), "-o", (char *)in_dir("old.txt"), "--json", (char *)in_dir("old.json"),
                        (char *)in_dir("no-such-program"), NULL };
    ck_assert_int_eq(run(missing, NULL), 127);
    char *no_pid[] = { (char *)memprof_path(), "-o", (char *)in_dir("new.txt"), "--json", (char *)in_dir("new.json"),
                       "-p", "999999999", NULL };
    ck_assert_int_eq(run(no_pid, NULL), 1);
    char *bad_json[] = { (char *)memprof_path(), "report", (char *)in_dir("old.json"), "-o", (char *)in_dir("old.txt"),
                         NULL };
    ck_assert_int_eq(run(bad_json, NULL), 1);
    char *bad_diff[] = { (char *)memprof_path(), "diff", (char *)in_dir("old.json"), (char *)in_dir("old.json"), "-o",
                         (char *)in_dir("new.txt"), NULL };
    ck_assert_int_eq(run(bad_diff, NULL), 1);
    char *text = read_file(in_dir("old.txt"), NULL), *json = read_file(in_dir("old.json"), NULL);
    ck_assert_str_eq(text, "OLD TEXT\n");
    ck_assert_str_eq(json, "{\"old\": 1}\n");
    free(text);
    free(json);
    char names[4096];
    listing(names, sizeof names);
    ck_assert_str_eq(names, "old.json old.txt ");
}
END_TEST

/* A write that fails half-way (the file size limit: EFBIG) must not
 * replace the report with a cut one. */
START_TEST(write_error_keeps_the_old_report)
{
    fresh_dir("efbig");
    put(in_dir("r.json"), "{\"old\": 1}\n");
    char *argv[] = { (char *)memprof_path(), "-o", "/dev/null", "--json", (char *)in_dir("r.json"), (char *)demo(),
                     NULL };
    /* 1 block of 512 bytes: the JSON report is bigger; SIGXFSZ ignored so
     * that write fails with EFBIG instead of killing memprof */
    int status = run(argv, "ulimit -f 1; trap '' XFSZ; exec");
    ck_assert_int_eq(status, 1);
    char *json = read_file(in_dir("r.json"), NULL);
    ck_assert_str_eq(json, "{\"old\": 1}\n");
    free(json);
    char names[4096];
    listing(names, sizeof names);
    ck_assert_str_eq(names, "r.json ");
}
END_TEST

/* memprof killed while the program runs: no report file appears at all. */
START_TEST(killed_run_makes_no_file)
{
    fresh_dir("killed");
    char *argv[] = { (char *)memprof_path(), "-o", (char *)in_dir("r.txt"), "--json", (char *)in_dir("r.json"),
                     "/bin/sleep", "30", NULL };
    pid_t m = fork();
    if (m == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    usleep(500 * 1000);
    kill(m, SIGKILL);
    int st;
    waitpid(m, &st, 0);
    char names[4096];
    listing(names, sizeof names);
    ck_assert_str_eq(names, "");
}
END_TEST

START_TEST(success_replaces_keeps_mode_and_symlink)
{
    fresh_dir("success");
    put(in_dir("real.txt"), "OLD\n");
    ck_assert_int_eq(chmod(in_dir("real.txt"), 0640), 0);
    ck_assert_int_eq(symlink("real.txt", in_dir("link.txt")), 0);
    char *argv[] = { (char *)memprof_path(), "-o", (char *)in_dir("link.txt"), "--json", (char *)in_dir("new.json"),
                     (char *)demo(), NULL };
    ck_assert_int_eq(run(argv, NULL), 0);
    struct stat st;
    ck_assert_int_eq(lstat(in_dir("link.txt"), &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the symbolic link was replaced by a file");
    ck_assert_int_eq(stat(in_dir("real.txt"), &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    char *text = read_file(in_dir("real.txt"), NULL);
    ck_assert_msg(strncmp(text, "memprof: ", 9) == 0, "real.txt does not hold the report: %.80s", text);
    free(text);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(stat(in_dir("new.json"), &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0666 & ~mask);
    char names[4096];
    listing(names, sizeof names);
    ck_assert_str_eq(names, "link.txt new.json real.txt ");
}
END_TEST

START_TEST(unwritable_paths_fail_before_the_run)
{
    fresh_dir("unwritable");
    char *argv[] = { (char *)memprof_path(), "--json", (char *)in_dir("no-such-dir/r.json"), (char *)demo(), NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 1);
    ck_assert_msg(strstr(o.err, "cannot write") && strstr(o.err, "No such file or directory") &&
                      count_lines(o.err) == 1 && !strstr(o.out, "demo"),
                  "expected one line before the run, got:\n%s%s", o.out, o.err);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("out_file");
    TCase *tc = tcase_create("out_file");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, failed_runs_leave_old_reports_and_no_new_files);
    tcase_add_test(tc, write_error_keeps_the_old_report);
    tcase_add_test(tc, killed_run_makes_no_file);
    tcase_add_test(tc, success_replaces_keeps_mode_and_symlink);
    tcase_add_test(tc, unwritable_paths_fail_before_the_run);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
