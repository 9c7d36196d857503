/* memprof: one system call run inside a stopped tracee (see inject.h).
 * orig_rax is set to -1 while it runs, so a thread that was stopped inside
 * an interrupted system call does not have our registers "restarted"; the
 * saved registers put back afterwards restart its own call as before. */
#define _GNU_SOURCE
#include "inject.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `code` (ending in syscall; int3) at scratch with the call's
 * registers set. */
static int inject_code(pid_t tid, int mem_fd, uint64_t scratch, const uint8_t *code, size_t code_len, long nr,
                       const uint64_t args[6], int64_t *ret)
{
    uint8_t saved_text[16];
    struct user_regs_struct saved, regs;
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
    int rc = -1;
    if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0 && ptrace(PTRACE_CONT, tid, 0, 0) == 0) {
        for (;;) {
            int status;
            pid_t w = waitpid(tid, &status, __WALL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 || !WIFSTOPPED(status))
                return -1; /* gone: nothing left to restore */
            if (WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0) {
                struct user_regs_struct after;
                if (ptrace(PTRACE_GETREGS, tid, 0, &after) == 0 && after.rip == scratch + code_len) {
                    *ret = (int64_t)after.rax;
                    rc = 0;
                }
                break;
            }
            /* anything else (a signal for it, an event): let it through the
             * call; a signal is dropped here, the call takes microseconds */
            ptrace(PTRACE_CONT, tid, 0, 0);
        }
    }
    /* The scratch text must come back: a failure is the caller's failure. */
    if (pwrite(mem_fd, saved_text, code_len, (off_t)scratch) != (ssize_t)code_len)
        rc = -1;
    ptrace(PTRACE_SETREGS, tid, 0, &saved);
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
