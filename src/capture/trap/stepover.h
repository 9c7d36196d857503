/* memprof: stepping one thread over an INT3 of ours (line mode, breakpoint
 * engine): put the original byte back, single-step that thread alone, put
 * the INT3 back, resume it.  Other threads keep running meanwhile. */
#ifndef MEMPROF_STEPOVER_H
#define MEMPROF_STEPOVER_H

#include <stdint.h>
#include <sys/types.h>

enum mp_step_result {
    MP_STEP_DONE = 0,   /* stepped and resumed */
    MP_STEP_GONE,       /* the thread died during the step: the supervisor reaps it */
    MP_STEP_EXITING,    /* it reached PTRACE_EVENT_EXIT instead; resumed towards its end */
};

/* The thread is stopped with rip == addr (already rewound to the INT3's
 * address, registers set).  A signal arriving during the step is held and
 * delivered with the final PTRACE_CONT (siginfo kept); a group-stop or exit
 * met during the step adds one to *lost_stops.  pid: the thread group. */
enum mp_step_result mp_step_over(pid_t pid, pid_t tid, int mem_fd, uint64_t addr, uint8_t orig,
                                 uint64_t *lost_stops);

#endif
