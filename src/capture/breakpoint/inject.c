/* memprof: one system call run inside a stopped tracee (see inject.h).
 * orig_rax is set to -1 while it runs, so a thread that was stopped inside
 * an interrupted system call does not have our registers "restarted"; the
 * saved registers put back afterwards restart its own call as before.
 *
 * The wait for the call is bounded (INJECT_TIMEOUT_MS): a call that blocks,
 * or a thread that never stops again (its process is exiting or exec'ing
 * from another thread, which waits for this one), does not hold memprof
 * forever; the thread is interrupted, its registers and the text put back,
 * and the injection fails; a thread already ending (stopped at its exit)
 * is not used at all.  A signal the thread receives meanwhile is kept:
 * queued again to it once its registers are back (it is delivered when
 * the thread goes on), never dropped. */
#define _GNU_SOURCE
#include "inject.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INJECT_TIMEOUT_MS 3000
#define INTERRUPT_TIMEOUT_MS 1000
/* signals arriving during one call (it takes microseconds) */
#define MAX_KEPT_SIGNALS 64

struct kept_signals {
    int n;
    siginfo_t info[MAX_KEPT_SIGNALS];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* waitpid for tid until deadline (ms, CLOCK_MONOTONIC): its pid, 0 on
 * timeout, -1 when it cannot be waited for. */
static pid_t wait_until(pid_t tid, int *status, uint64_t deadline)
{
    long nap_us = 20;
    for (;;) {
        pid_t w = waitpid(tid, status, __WALL | WNOHANG);
        if (w != 0 && !(w < 0 && errno == EINTR))
            return w;
        if (now_ms() >= deadline)
            return 0;
        struct timespec ts = { 0, nap_us * 1000 };
        nanosleep(&ts, NULL);
        if (nap_us < 2000)
            nap_us *= 2;
    }
}

/* The thread group tid belongs to (/proc/TID/status), or tid. */
static pid_t tgid_of(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return tid;
    pid_t tgid = tid;
    while (fgets(buf, sizeof buf, f))
        if (strncmp(buf, "Tgid:", 5) == 0) {
            tgid = (pid_t)atoi(buf + 5);
            break;
        }
    fclose(f);
    return tgid > 0 ? tgid : tid;
}

/* The thread's signals, queued to it again in the order they came, with
 * their siginfo where the kernel allows it (a code < 0, as sigqueue's);
 * else as a plain tgkill. */
static void requeue_signals(pid_t tid, const struct kept_signals *kept)
{
    if (kept->n == 0)
        return;
    pid_t tgid = tgid_of(tid);
    for (int i = 0; i < kept->n; i++) {
        siginfo_t info = kept->info[i];
        if (info.si_code < 0 && syscall(SYS_rt_tgsigqueueinfo, tgid, tid, info.si_signo, &info) == 0)
            continue;
        syscall(SYS_tgkill, tgid, tid, info.si_signo);
    }
}

/* A signal-delivery-stop for sig: remembered; 0 when that took the last
 * room left. */
static int keep_signal(pid_t tid, int sig, struct kept_signals *kept)
{
    siginfo_t *info = &kept->info[kept->n];
    if (ptrace(PTRACE_GETSIGINFO, tid, 0, info) != 0) {
        memset(info, 0, sizeof *info);
        info->si_code = SI_USER;
    }
    info->si_signo = sig;
    kept->n++;
    return kept->n < MAX_KEPT_SIGNALS;
}

enum wait_end { CALL_DONE, CALL_FAILED, THREAD_STOPPED, THREAD_GONE, THREAD_CHANGED };

/* -ERESTARTSYS .. -ERESTART_RESTARTBLOCK: a call interrupted, to be
 * restarted (never a call's result). */
static int interrupted_call(long rax)
{
    return rax <= -512 && rax >= -516;
}

/* The thread stopped at our interrupt, its registers read into now: the
 * call may have finished just before.  At the int3 with a result: done.
 * Past the int3: done, and its SIGTRAP is still pending: taken here
 * (synchronous, it is the first signal the thread meets when it goes on:
 * no instruction of its runs before), with the saved registers already
 * back, so the thread stays stopped and the program never sees it. */
static enum wait_end finish_after_interrupt(pid_t tid, uint64_t end_rip, const struct user_regs_struct *now,
                                            const struct user_regs_struct *saved, int64_t *ret)
{
    if (now->rip == end_rip - 1 && !interrupted_call((long)now->rax)) {
        *ret = (int64_t)now->rax;
        return CALL_DONE;
    }
    if (now->rip != end_rip)
        return THREAD_STOPPED;
    *ret = (int64_t)now->rax;
    int status;
    if (ptrace(PTRACE_SETREGS, tid, 0, saved) != 0 || ptrace(PTRACE_CONT, tid, 0, 0) != 0 ||
        wait_until(tid, &status, now_ms() + INTERRUPT_TIMEOUT_MS) <= 0 || !WIFSTOPPED(status))
        return THREAD_GONE;
    return WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0 ? CALL_DONE : THREAD_STOPPED;
}

/* Runs the thread until it reaches the int3 after the call.  CALL_DONE
 * (*ret set), CALL_FAILED (it stopped elsewhere: registers can be put
 * back), THREAD_STOPPED (timed out or out of room, now stopped again),
 * THREAD_GONE (exited, or never stopped again: registers cannot be put
 * back), THREAD_CHANGED (it exec'd: nothing of the old image to restore). */
static enum wait_end run_call(pid_t tid, uint64_t end_rip, const struct user_regs_struct *saved,
                              struct kept_signals *kept, int64_t *ret)
{
    uint64_t deadline = now_ms() + INJECT_TIMEOUT_MS;
    int interrupted = 0;
    for (;;) {
        int status;
        pid_t w = wait_until(tid, &status, deadline);
        if (w == 0) {
            if (interrupted)
                return THREAD_GONE; /* never stopped again (a zombie, or stuck in its exit) */
            interrupted = 1;
            deadline = now_ms() + INTERRUPT_TIMEOUT_MS;
            if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
                return THREAD_GONE;
            continue;
        }
        if (w < 0 || !WIFSTOPPED(status))
            return THREAD_GONE; /* gone: nothing left to restore */
        int sig = WSTOPSIG(status), event = status >> 16;
        if (event == PTRACE_EVENT_EXIT) {
            ptrace(PTRACE_CONT, tid, 0, 0); /* its process is ending: let it */
            return THREAD_GONE;
        }
        if (event == PTRACE_EVENT_EXEC)
            return THREAD_CHANGED;
        if (sig == SIGTRAP && event == 0) {
            struct user_regs_struct after;
            if (ptrace(PTRACE_GETREGS, tid, 0, &after) != 0)
                return THREAD_GONE;
            if (after.rip != end_rip)
                return CALL_FAILED;
            *ret = (int64_t)after.rax;
            return CALL_DONE;
        }
        if (interrupted && event == PTRACE_EVENT_STOP) { /* our interrupt: stopped */
            struct user_regs_struct now;
            if (ptrace(PTRACE_GETREGS, tid, 0, &now) != 0)
                return THREAD_STOPPED;
            return finish_after_interrupt(tid, end_rip, &now, saved, ret);
        }
        if (event == 0 && !keep_signal(tid, sig, kept))
            return THREAD_STOPPED; /* no room for another: stop here (it is stopped) */
        /* a group-stop or an event: let it through the call; a signal is
         * kept and queued again afterwards */
        if (ptrace(PTRACE_CONT, tid, 0, 0) != 0)
            return THREAD_GONE;
    }
}

static char failure[160];
static int failed;

const char *mp_inject_failure(void)
{
    return failed ? failure : NULL;
}

void mp_inject_clear_failure(void)
{
    failed = 0;
}

/* Task flags PF_EXITING and PF_POSTCOREDUMP (/proc/TID/stat): the thread
 * is ending (at its PTRACE_EVENT_EXIT stop, or past it). */
#define TASK_FLAGS_ENDING 0xcul

/* 1 when thread tid is ending: let go, it would exit, not run the call
 * (and a main thread that ends while others live is never reported by
 * waitpid until they are gone). */
static int thread_ending(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long flags = 0; /* after ")": state ppid pgrp session tty_nr tpgid flags */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
        return 0;
    return (flags & TASK_FLAGS_ENDING) != 0;
}

/* Runs `code` (ending in syscall; int3) at scratch with the call's
 * registers set. */
static int inject_code(pid_t tid, int mem_fd, uint64_t scratch, const uint8_t *code, size_t code_len, long nr,
                       const uint64_t args[6], int64_t *ret)
{
    uint8_t saved_text[16];
    struct user_regs_struct saved, regs;
    if (thread_ending(tid)) {
        snprintf(failure, sizeof failure, "thread %d of the process is ending (its process exits)", (int)tid);
        failed = 1;
        return -1;
    }
    if (ptrace(PTRACE_GETREGS, tid, 0, &saved) != 0 ||
        pread(mem_fd, saved_text, code_len, (off_t)scratch) != (ssize_t)code_len ||
        pwrite(mem_fd, code, code_len, (off_t)scratch) != (ssize_t)code_len)
        return -1;
    regs = saved;
    regs.rip = scratch;
    regs.rax = (unsigned long long)nr;
    regs.orig_rax = (unsigned long long)-1;
    regs.rdi = args[0];
    regs.rsi = args[1];
    regs.rdx = args[2];
    regs.r10 = args[3];
    regs.r8 = args[4];
    regs.r9 = args[5];
    static struct kept_signals kept; /* one injection at a time: memprof's supervisor thread */
    kept.n = 0;
    enum wait_end end = CALL_FAILED;
    if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0 && ptrace(PTRACE_CONT, tid, 0, 0) == 0)
        end = run_call(tid, scratch + code_len, &saved, &kept, ret);
    else if (ptrace(PTRACE_SETREGS, tid, 0, &saved) != 0)
        end = THREAD_GONE;
    if (end == THREAD_STOPPED || end == THREAD_GONE) {
        snprintf(failure, sizeof failure,
                 "a system call memprof ran in thread %d did not finish within %d s (or the thread ended)", (int)tid,
                 INJECT_TIMEOUT_MS / 1000);
        failed = 1;
    }
    if (end == THREAD_CHANGED)
        return -1; /* a new program: the old text and registers are no more */
    /* The scratch text must come back (the process's other threads may
     * still run it): a failure is the caller's failure. */
    int rc = end == CALL_DONE ? 0 : -1;
    if (pwrite(mem_fd, saved_text, code_len, (off_t)scratch) != (ssize_t)code_len)
        rc = -1;
    if (end == THREAD_GONE)
        return -1;
    if (ptrace(PTRACE_SETREGS, tid, 0, &saved) != 0)
        rc = -1;
    requeue_signals(tid, &kept);
    return rc;
}

int mp_inject_syscall(pid_t tid, int mem_fd, uint64_t scratch, long nr, const uint64_t args[6], int64_t *ret)
{
    static const uint8_t code[3] = { 0x0f, 0x05, 0xcc }; /* syscall; int3 */
    return inject_code(tid, mem_fd, scratch, code, sizeof code, nr, args, ret);
}

int mp_inject_syscall_at_exec(pid_t tid, int mem_fd, uint64_t scratch, long nr, const uint64_t args[6],
                              int64_t *ret)
{
    /* mov eax, nr; syscall; int3: the execve the thread is stopped in
     * still returns, and its result lands in rax on the way out */
    uint8_t code[8] = { 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xcc };
    uint32_t nr32 = (uint32_t)nr;
    memcpy(code + 1, &nr32, sizeof nr32);
    return inject_code(tid, mem_fd, scratch, code, sizeof code, nr, args, ret);
}
