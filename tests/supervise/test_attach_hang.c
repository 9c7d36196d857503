/* memprof tests: memprof -p never hangs in its setup and never loses a
 * signal of the target while it runs code in it.
 *
 * - tests/fixtures/attach_signals.c counts the real-time signals it handles
 *   (queued: one delivery each).  A child of this test queues SIGNALS of
 *   them, 100 us apart, while memprof attaches (its setup runs system calls
 *   in the target's thread: mmap, open...); memprof is then stopped with
 *   SIGINT.  The target must have handled exactly the number the child
 *   queued (the old setup dropped a signal that came during such a call:
 *   8 or 9 of 3,000 in three runs).
 * - tests/fixtures/attach_leader_exit.c: its main thread has ended
 *   (pthread_exit) while its workers run.  memprof -p refuses with one
 *   line naming the problem, within the bound, and the target runs on: its
 *   "go" answers "done 1000" (ROUNDS in its source), "quit" exits 0.
 *
 * Every wait is bounded: a hang fails the test. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIGNALS 3000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct child {
    pid_t pid;
    int in, out; /* its stdin and stdout (or stderr), -1 if not piped */
    char log[8192];
    size_t log_len;
};

/* fork + exec argv; its stdin on a pipe if `in`, its stdout (to_err: its
 * stderr) on a pipe.  The child dies with the test. */
static void spawn(struct child *c, char *const argv[], int in, int to_err)
{
    memset(c, 0, sizeof *c);
    int pin[2] = { -1, -1 }, pout[2];
    ck_assert(!in || pipe2(pin, O_CLOEXEC) == 0);
    ck_assert(pipe2(pout, O_CLOEXEC) == 0);
    pid_t parent = getpid();
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (in)
            dup2(pin[0], 0);
        dup2(pout[1], to_err ? 2 : 1);
        execv(argv[0], argv);
        _exit(127);
    }
    if (in)
        close(pin[0]);
    close(pout[1]);
    c->in = in ? pin[1] : -1;
    c->out = pout[0];
}

/* The next line of c's output within timeout_s, without '\n': 1, or 0 at
 * end of output or on timeout. */
static int next_line(struct child *c, char *line, size_t size, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd p = { .fd = c->out, .events = POLLIN };
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        char ch;
        if (read(c->out, &ch, 1) != 1)
            break;
        if (c->log_len + 1 < sizeof c->log)
            c->log[c->log_len++] = ch;
        if (ch == '\n') {
            line[n] = '\0';
            return 1;
        }
        line[n++] = ch;
    }
    line[n] = '\0';
    return 0;
}

static void say(struct child *c, const char *text)
{
    ck_assert(write(c->in, text, strlen(text)) == (ssize_t)strlen(text));
}

/* Reaps c within timeout_s: 1 with *status, or 0 (then it is killed). */
static int reap(struct child *c, double timeout_s, int *status)
{
    double deadline = now_s() + timeout_s;
    while (now_s() < deadline) {
        if (waitpid(c->pid, status, WNOHANG) == c->pid)
            return 1;
        usleep(10 * 1000);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, status, 0);
    return 0;
}

/* Starts the fixture and checks its "ready <pid>". */
static void start_target(struct child *t, const char *exe)
{
    char *argv[] = { (char *)exe, NULL };
    spawn(t, argv, 1, 0);
    char line[128], want[64];
    ck_assert_msg(next_line(t, line, sizeof line, 30), "%s did not say ready", exe);
    snprintf(want, sizeof want, "ready %d", (int)t->pid);
    ck_assert_str_eq(line, want);
}

static void stop_target(struct child *t)
{
    say(t, "quit\n");
    int status;
    ck_assert_msg(reap(t, 30, &status), "the target did not exit within 30 s of \"quit\"");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the target ended with status %#x", status);
}

START_TEST(signals_during_attach_are_kept)
{
    const char *exe = build_fixture("tests/fixtures/attach_signals.c", "gcc", "-O2 -g", "attach_signals");
    ck_assert_ptr_nonnull(exe);
    for (int run = 0; run < 3; run++) {
        struct child t;
        start_target(&t, exe);
        int counted[2];
        ck_assert_int_eq(pipe(counted), 0);
        pid_t sender = fork();
        ck_assert_int_ge(sender, 0);
        if (sender == 0) {
            int sent = 0;
            union sigval value = { .sival_int = 0 };
            for (int i = 0; i < SIGNALS; i++) {
                sent += sigqueue(t.pid, SIGRTMIN, value) == 0;
                usleep(100);
            }
            _exit(write(counted[1], &sent, sizeof sent) == (ssize_t)sizeof sent ? 0 : 1);
        }
        close(counted[1]);
        char pid[32], text[256];
        snprintf(pid, sizeof pid, "%d", (int)t.pid);
        snprintf(text, sizeof text, "%s/attach_signals.txt", test_tmp_dir());
        char *argv[] = { (char *)memprof_path(), "-p", pid, "-o", text, NULL };
        struct child m;
        spawn(&m, argv, 0, 1);
        char line[1024];
        int attached = 0;
        while (!attached && next_line(&m, line, sizeof line, 60))
            attached = strstr(line, "attached to process") != NULL;
        ck_assert_msg(attached, "memprof -p %s never said it attached; its stderr:\n%s", pid, m.log);
        int sent = -1, status;
        ck_assert_int_eq(read(counted[0], &sent, sizeof sent), (ssize_t)sizeof sent);
        close(counted[0]);
        ck_assert_int_eq(waitpid(sender, &status, 0), sender);
        ck_assert_int_eq(sent, SIGNALS);
        kill(m.pid, SIGINT);
        ck_assert_msg(reap(&m, 60, &status), "memprof did not exit within 60 s of SIGINT");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "memprof ended with status %#x:\n%s", status,
                      m.log);
        say(&t, "count\n");
        char want[64];
        snprintf(want, sizeof want, "count %d", SIGNALS);
        ck_assert_msg(next_line(&t, line, sizeof line, 30), "no answer to \"count\"");
        ck_assert_msg(strcmp(line, want) == 0, "run %d: the target said \"%s\", expected \"%s\"", run, line, want);
        stop_target(&t);
        close(m.out);
        close(t.in);
        close(t.out);
    }
}
END_TEST

START_TEST(main_thread_ended)
{
    const char *exe =
        build_fixture("tests/fixtures/attach_leader_exit.c", "gcc", "-O2 -g -pthread", "attach_leader_exit");
    ck_assert_ptr_nonnull(exe);
    struct child t;
    start_target(&t, exe);
    char pid[32], text[256];
    snprintf(pid, sizeof pid, "%d", (int)t.pid);
    snprintf(text, sizeof text, "%s/attach_leader_exit.txt", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "-p", pid, "--duration", "2", "-o", text, NULL };
    struct child m;
    spawn(&m, argv, 0, 1);
    int status;
    ck_assert_msg(reap(&m, 30, &status), "memprof -p on a process whose main thread ended did not exit within 30 s");
    char line[1024], want[256];
    while (next_line(&m, line, sizeof line, 5))
        ;
    snprintf(want, sizeof want,
             "memprof: the main thread of process %d has ended (pthread_exit) while its other threads run on: "
             "memprof cannot attach to it; profile the program from its start (memprof PROGRAM)\n",
             (int)t.pid);
    ck_assert_msg(strcmp(m.log, want) == 0, "memprof said:\n%s\nexpected:\n%s", m.log, want);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "memprof ended with status %#x", status);
    say(&t, "go\n");
    ck_assert_msg(next_line(&t, line, sizeof line, 30), "no answer to \"go\"");
    ck_assert_str_eq(line, "done 1000");
    stop_target(&t);
    close(m.out);
    close(t.in);
    close(t.out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attach_hang");
    TCase *tc = tcase_create("attach_hang");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, signals_during_attach_are_kept);
    tcase_add_test(tc, main_thread_ended);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
