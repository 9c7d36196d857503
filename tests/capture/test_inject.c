/* memprof tests: system calls run inside a stopped tracee
 * (capture/breakpoint/inject.c), as memprof -p does at attach.
 *
 * A child of this test (its code and data at the same addresses as ours)
 * is seized and stopped.  A getpid run in it returns its pid.  A read of a
 * pipe nobody writes blocks for good: the injection must give up within
 * its bound, put the child's registers and the borrowed text back, and keep
 * the SIGUSR2 sent to the child while the read blocked (the old wait
 * dropped it).  Detached, the child goes on: it sleeps ROUNDS times and
 * exits with 40 + the SIGUSR2 it handled, so 41 (one signal sent).
 * A process killed while its thread runs such a call ends the wait, and a
 * main thread stopped at its exit while another lives is not used (the old
 * wait stayed for good in both). */
#define _GNU_SOURCE
#include "harness.h"
#include "capture/breakpoint/inject.h"

#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20

static volatile sig_atomic_t handled;
static char read_buffer[64];

static void on_usr2(int sig)
{
    (void)sig;
    handled++;
}

/* Borrowed as scratch text: never run by the child. */
__attribute__((noinline, used)) void inject_scratch_never_run(void)
{
    __asm__ volatile("nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop");
}

struct later_signal { pid_t pid; };

static void *send_later(void *arg)
{
    struct later_signal *l = arg;
    struct timespec nap = { 0, 500 * 1000 * 1000 };
    nanosleep(&nap, NULL);
    union sigval value = { .sival_int = 7 };
    sigqueue(l->pid, SIGUSR2, value);
    return NULL;
}

START_TEST(blocked_call_is_bounded_and_signal_kept)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
    int never[2];
    ck_assert_int_eq(pipe(never), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(never[1]); /* the test keeps the only write end open: a read blocks */
        for (int i = 0; i < ROUNDS; i++) {
            struct timespec nap = { 0, 20 * 1000 * 1000 };
            nanosleep(&nap, NULL);
        }
        _exit(40 + (int)handled);
    }
    close(never[0]);
    ck_assert_int_eq(ptrace(PTRACE_SEIZE, child, 0, 0), 0);
    ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, child, 0, 0), 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, __WALL), child);
    ck_assert(WIFSTOPPED(status));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int mem = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(mem, 0);
    uint64_t scratch = (uint64_t)(uintptr_t)&inject_scratch_never_run;
    uint8_t text_before[16], text_after[16];
    ck_assert_int_eq(pread(mem, text_before, sizeof text_before, (off_t)scratch), (ssize_t)sizeof text_before);
    struct user_regs_struct before, after;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &before), 0);

    uint64_t none[6] = { 0 };
    int64_t ret = 0;
    mp_inject_clear_failure();
    ck_assert_int_eq(mp_inject_syscall(child, mem, scratch, SYS_getpid, none, &ret), 0);
    ck_assert_int_eq(ret, child);
    ck_assert_ptr_null(mp_inject_failure());

    pthread_t sender;
    struct later_signal later = { child };
    ck_assert_int_eq(pthread_create(&sender, NULL, send_later, &later), 0);
    /* read(never[0] in the child, read_buffer, 1): nobody ever writes */
    uint64_t args[6] = { (uint64_t)never[0], (uint64_t)(uintptr_t)read_buffer, 1, 0, 0, 0 };
    ck_assert_int_eq(mp_inject_syscall(child, mem, scratch, SYS_read, args, &ret), -1);
    pthread_join(sender, NULL);
    char want[160];
    snprintf(want, sizeof want,
             "a system call memprof ran in thread %d did not finish within 3 s (or the thread ended)", (int)child);
    ck_assert_ptr_nonnull(mp_inject_failure());
    ck_assert_str_eq(mp_inject_failure(), want);

    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &after), 0);
    ck_assert_uint_eq(after.rip, before.rip);
    ck_assert_uint_eq(after.rsp, before.rsp);
    ck_assert_uint_eq(after.rax, before.rax);
    ck_assert_uint_eq(after.orig_rax, before.orig_rax);
    ck_assert_int_eq(pread(mem, text_after, sizeof text_after, (off_t)scratch), (ssize_t)sizeof text_after);
    ck_assert(memcmp(text_before, text_after, sizeof text_before) == 0);
    close(mem);

    ck_assert_int_eq(ptrace(PTRACE_DETACH, child, 0, 0), 0);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 41, "the child ended with status %#x", status);
    close(never[1]);
    signal(SIGUSR2, SIG_DFL);
}
END_TEST

static void *sleep_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

struct later_kill { pid_t pid; };

static void *kill_later(void *arg)
{
    struct later_kill *l = arg;
    struct timespec nap = { 0, 300 * 1000 * 1000 };
    nanosleep(&nap, NULL);
    kill(l->pid, SIGKILL);
    return NULL;
}

/* The process is killed while its main thread runs an injected call and
 * its other thread is held in a ptrace stop (as at attach): the main
 * thread reports its exit stop, and once let go it becomes a zombie that
 * waitpid does not report while the other thread waits at its own exit
 * stop for the tracer.  The old wait followed it there for good; the
 * injection must end (failed) and leave the rest to the caller. */
START_TEST(process_killed_during_call)
{
    int never[2], ready[2];
    ck_assert_int_eq(pipe(never), 0);
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(never[1]);
        pthread_t t;
        if (pthread_create(&t, NULL, sleep_forever, NULL) != 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        sleep_forever(NULL);
    }
    close(never[0]);
    char b;
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)child);
    pid_t other = 0;
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (atoi(de->d_name) > 0 && atoi(de->d_name) != child)
            other = (pid_t)atoi(de->d_name);
    closedir(d);
    ck_assert_int_gt(other, 0);
    pid_t tids[2] = { child, other };
    int status;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ptrace(PTRACE_SEIZE, tids[i], 0, PTRACE_O_TRACEEXIT), 0);
        ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, tids[i], 0, 0), 0);
        ck_assert_int_eq(waitpid(tids[i], &status, __WALL), tids[i]);
        ck_assert(WIFSTOPPED(status));
    }
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int mem = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(mem, 0);
    pthread_t killer;
    struct later_kill later = { child };
    ck_assert_int_eq(pthread_create(&killer, NULL, kill_later, &later), 0);
    uint64_t args[6] = { (uint64_t)never[0], (uint64_t)(uintptr_t)read_buffer, 1, 0, 0, 0 };
    int64_t ret = 0;
    ck_assert_int_eq(mp_inject_syscall(child, mem, (uint64_t)(uintptr_t)&inject_scratch_never_run, SYS_read, args,
                                       &ret),
                     -1);
    pthread_join(killer, NULL);
    close(mem);
    /* the rest, as the supervisor does: every exit stop let go, all reaped */
    for (int reaped = 0; reaped < 2;) {
        pid_t w = waitpid(-1, &status, __WALL);
        ck_assert_int_gt(w, 0);
        if (WIFSTOPPED(status))
            ptrace(PTRACE_CONT, w, 0, 0);
        else
            reaped++;
    }
    close(never[1]);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

static void *leader_exits(void *arg)
{
    (void)arg;
    return NULL;
}

/* The main thread stopped at its exit (pthread_exit) while another thread
 * lives: let go, it would not run the call but end, and waitpid never
 * reports it while the other runs.  The old wait stayed for good; the
 * injection must refuse at once and leave the thread where it was. */
START_TEST(thread_at_exit_stop_is_not_used)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleep_forever, NULL) != 0)
            _exit(1);
        char b;
        if (read(ready[0], &b, 1) != 1) /* seized by now */
            _exit(1);
        pthread_exit(leader_exits(NULL));
    }
    ck_assert_int_eq(ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACEEXIT), 0);
    ck_assert_int_eq(write(ready[1], "g", 1), 1);
    int status;
    ck_assert_int_eq(waitpid(child, &status, __WALL), child);
    ck_assert(WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXIT);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int mem = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(mem, 0);
    uint64_t none[6] = { 0 };
    int64_t ret = 0;
    mp_inject_clear_failure();
    ck_assert_int_eq(mp_inject_syscall(child, mem, (uint64_t)(uintptr_t)&inject_scratch_never_run, SYS_getpid,
                                       none, &ret),
                     -1);
    close(mem);
    char want[160];
    snprintf(want, sizeof want, "thread %d of the process is ending (its process exits)", (int)child);
    ck_assert_ptr_nonnull(mp_inject_failure());
    ck_assert_str_eq(mp_inject_failure(), want);
    /* still at its exit stop, untouched: it goes on ending */
    ck_assert_int_eq(ptrace(PTRACE_CONT, child, 0, 0), 0);
    kill(child, SIGKILL);
    ck_assert_int_eq(waitpid(child, &status, __WALL), child);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inject");
    TCase *tc = tcase_create("inject");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, blocked_call_is_bounded_and_signal_kept);
    tcase_add_test(tc, process_killed_during_call);
    tcase_add_test(tc, thread_at_exit_stop_is_not_used);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
