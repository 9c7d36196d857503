/* memprof tests: the supervisor's exit gate: when a process ends, the
 * on_exit_all hook sees every thread still alive stopped at its exit (state
 * 't' in /proc, registers readable), whatever way the process ends; a
 * thread that leaves alone is not held; another thread's execve is not
 * deadlocked; the exit status is the target's. */
#define _GNU_SOURCE
#include "harness.h"
#include "supervise/supervisor.h"

#include <check.h>
#include <dirent.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

static const char *fixture(void)
{
    static const char *path;
    if (!path)
        path = build_fixture("tests/fixtures/exit_threads.c", "gcc", "-O0 -g -pthread", "gate_threads");
    ck_assert_ptr_nonnull(path);
    return path;
}

struct seen {
    int calls;
    size_t n;              /* threads given to the last call */
    int all_traced;        /* each was in a ptrace stop ('t') */
    int all_regs;          /* PTRACE_GETREGS worked on each */
    size_t live_tasks;     /* entries in /proc/PID/task then */
};

static char task_state(pid_t pid, pid_t tid)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : '?';
}

static size_t live_tasks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    size_t n = 0;
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void on_exit_all(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct seen *s = ctx;
    s->calls++;
    s->n = n;
    s->all_traced = s->all_regs = 1;
    for (size_t i = 0; i < n; i++) {
        if (task_state(pid, tids[i]) != 't')
            s->all_traced = 0;
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, tids[i], 0, &regs) != 0)
            s->all_regs = 0;
    }
    s->live_tasks = live_tasks(pid);
}

static void run(char **argv, struct seen *s, struct mp_run_result *r)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s", argv[0]);
    memset(s, 0, sizeof *s);
    struct mp_supervisor_hooks hooks = { .ctx = s, .on_exit_all = on_exit_all };
    extern char **environ;
    struct mp_launch launch = { path, argv, environ, 0 };
    alarm(60);
    ck_assert_int_eq(mp_supervise(&launch, &hooks, r, err, sizeof err), 0);
    alarm(0);
}

START_TEST(exit_with_blocked_threads_holds_them_all)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "exit", "6", NULL };
    run(argv, &s, &r);
    ck_assert_int_eq(r.exited, 1);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 7);
    ck_assert_uint_eq(s.live_tasks, 7);
    ck_assert(s.all_traced);
    ck_assert(s.all_regs);
}
END_TEST

START_TEST(exit_with_running_threads_holds_them_all)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "busy", "3", NULL };
    run(argv, &s, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 4);
    ck_assert(s.all_traced);
    ck_assert(s.all_regs);
}
END_TEST

START_TEST(leader_gone_first_is_not_waited_for)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "leader", "4", NULL };
    run(argv, &s, &r);
    ck_assert_int_eq(r.exited, 1);
    ck_assert_int_eq(r.exit_code, 5);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 4); /* the workers; main left before */
    ck_assert(s.all_traced);
    ck_assert(s.all_regs);
}
END_TEST

START_TEST(fatal_signal_holds_every_thread)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "signal", "3", NULL };
    run(argv, &s, &r);
    ck_assert_int_eq(r.signal, 11);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 4);
    ck_assert(s.all_traced);
}
END_TEST

START_TEST(joined_threads_are_not_waited_for)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "gone", "5", NULL };
    run(argv, &s, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 1);
}
END_TEST

/* execve in a thread kills the others and waits for them to be gone: they
 * must not be held; the hook then comes once, at the new program's end. */
START_TEST(exec_from_a_thread_is_not_deadlocked)
{
    struct seen s;
    struct mp_run_result r;
    char *argv[] = { (char *)fixture(), "exec", "3", (char *)fixture(), "exit", "2", NULL };
    double t0 = (double)time(NULL);
    run(argv, &s, &r);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_uint_eq(r.execs, 2);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 3); /* the new image's main and its two threads */
    ck_assert((double)time(NULL) - t0 < 4.0); /* released at once, not after the 5 s timeout */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exitgate");
    TCase *tc = tcase_create("exit gate");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exit_with_blocked_threads_holds_them_all);
    tcase_add_test(tc, exit_with_running_threads_holds_them_all);
    tcase_add_test(tc, leader_gone_first_is_not_waited_for);
    tcase_add_test(tc, fatal_signal_holds_every_thread);
    tcase_add_test(tc, joined_threads_are_not_waited_for);
    tcase_add_test(tc, exec_from_a_thread_is_not_deadlocked);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
