/* memprof: running one system call inside a stopped tracee (as gdb's
 * `call` does for functions): the breakpoint engine maps its code and call
 * slots into the target this way. */
#ifndef MEMPROF_INJECT_H
#define MEMPROF_INJECT_H

#include <stdint.h>
#include <sys/types.h>

/* Thread tid is in a ptrace-stop and the only thread that can run (the
 * others are stopped or do not exist).  Writes `syscall; int3` over the
 * three bytes at `scratch` (executable text memprof owns for the moment),
 * runs the call with up to six arguments, then restores the bytes and every
 * register.  Returns 0 and the kernel's result in *ret (-errno on failure
 * of the call itself), or -1 when the injection could not be done. */
int mp_inject_syscall(pid_t tid, int mem_fd, uint64_t scratch, long nr, const uint64_t args[6], int64_t *ret);
/* The same for a thread stopped at its PTRACE_EVENT_EXEC: the execve it
 * is stopped in still writes its result into rax when it goes on, so the
 * call's number is loaded by the injected code (8 bytes at scratch:
 * mov eax, nr; syscall; int3). */
int mp_inject_syscall_at_exec(pid_t tid, int mem_fd, uint64_t scratch, long nr, const uint64_t args[6],
                              int64_t *ret);

/* Why an injection failed since mp_inject_clear_failure in a way that
 * means memprof cannot go on with that thread (a call did not finish
 * within its bound, or the thread is ending), as a phrase for a one-line
 * message; NULL when none did. */
const char *mp_inject_failure(void);
void mp_inject_clear_failure(void);

#endif
