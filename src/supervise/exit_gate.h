/* memprof: the moment a process ends with all its threads stopped.
 *
 * exit_group (or a fatal signal) kills every thread; each one stops at its
 * PTRACE_EVENT_EXIT, in any order, and the address space goes away once
 * the last one is let go.  The gate holds each exit stop of a followed
 * process until every thread of it is held or already past its own exit,
 * then calls hooks->on_exit_all and resumes them.  A thread that leaves
 * alone (SYS_exit while others live on, pthread_exit) is not held.
 * Another thread's execve kills the rest too but waits for them to be
 * gone: when a thread not held is seen inside execve, or after 5 seconds,
 * the held threads are let go without the hook.  Each process of a tree
 * has its own gate. */
#ifndef MEMPROF_EXIT_GATE_H
#define MEMPROF_EXIT_GATE_H

#include <sys/types.h>
#include "supervisor_internal.h"

/* Thread tid of p stopped at its exit stop and others of p have not got
 * there yet: 1 when it is held, 0 when the caller resumes it. */
int mp_exit_gate_hold(struct mp_sup *sup, struct mp_tproc *p, pid_t tid);
/* Every thread of p is at its exit stop or gone; `last` (0: none) is
 * stopped there too: on_exit_all with the held threads and `last`, then
 * the held ones are resumed (the caller resumes `last`). */
void mp_exit_gate_complete(struct mp_sup *sup, struct mp_tproc *p, pid_t last);
/* Thread tid of p ended (reaped). */
void mp_exit_gate_gone(struct mp_sup *sup, struct mp_tproc *p, pid_t tid);
/* From the wait loop while gates hold threads: lets a gate go (no hook)
 * when it waited too long or an execve is under way; `all`: every gate. */
void mp_exit_gate_poll(struct mp_sup *sup, struct mp_tproc *p, int all);
/* p exec'd or is forgotten: its gate is empty. */
void mp_exit_gate_clear(struct mp_sup *sup, struct mp_tproc *p);

#endif
