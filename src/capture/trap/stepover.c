/* memprof: stepping a thread over one of our INT3s (see stepover.h).
 * An exit seen during the step is not reaped (waitid with WNOWAIT): the
 * supervisor's loop still gets it. */
#define _GNU_SOURCE
#include "stepover.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define INT3 0xcc
#define MAX_HELD_SIGNALS 8

static int write_byte(int mem_fd, uint64_t addr, uint8_t b)
{
    return pwrite(mem_fd, &b, 1, (off_t)addr) == 1 ? 0 : -1;
}

enum mp_step_result mp_step_over(pid_t pid, pid_t tid, int mem_fd, uint64_t addr, uint8_t orig,
                                 uint64_t *lost_stops)
{
    if (write_byte(mem_fd, addr, orig) != 0) {
        ptrace(PTRACE_CONT, tid, 0, 0);
        return MP_STEP_DONE;
    }
    int held[MAX_HELD_SIGNALS], n_held = 0, gone = 0, exiting = 0, have_info = 0;
    siginfo_t held_info;
    for (;;) {
        if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0) {
            gone = 1;
            break;
        }
        siginfo_t wi;
        memset(&wi, 0, sizeof wi);
        int rc;
        while ((rc = waitid(P_PID, (id_t)tid, &wi, WEXITED | WSTOPPED | WNOWAIT | __WALL)) != 0 && errno == EINTR)
            ;
        if (rc != 0 || (wi.si_code != CLD_TRAPPED && wi.si_code != CLD_STOPPED)) {
            gone = 1; /* it died: leave its status to the supervisor's waitpid */
            break;
        }
        int status;
        while (waitpid(tid, &status, __WALL) < 0 && errno == EINTR)
            ;
        int sig = WSTOPSIG(status), event = status >> 16;
        if (event == 0 && sig == SIGTRAP)
            break; /* stepped */
        if (event == 0) { /* a signal for the thread: hold it until the step is done */
            if (n_held == 0)
                have_info = ptrace(PTRACE_GETSIGINFO, tid, 0, &held_info) == 0;
            if (n_held < MAX_HELD_SIGNALS)
                held[n_held++] = sig;
            continue;
        }
        if (event == PTRACE_EVENT_EXIT) {
            (*lost_stops)++;
            exiting = 1;
            break;
        }
        if (event == PTRACE_EVENT_STOP)
            (*lost_stops)++; /* a group-stop this thread will not take part in */
        /* other events (a syscall instruction stepped): carry on */
    }
    write_byte(mem_fd, addr, INT3);
    if (gone)
        return MP_STEP_GONE;
    if (exiting) {
        ptrace(PTRACE_CONT, tid, 0, 0);
        return MP_STEP_EXITING;
    }
    if (n_held && have_info)
        ptrace(PTRACE_SETSIGINFO, tid, 0, &held_info);
    ptrace(PTRACE_CONT, tid, 0, n_held ? held[0] : 0);
    for (int i = 1; i < n_held; i++)
        syscall(SYS_tgkill, pid, tid, held[i]);
    return MP_STEP_DONE;
}
