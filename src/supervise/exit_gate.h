/* memprof: the moment a process ends with all its threads stopped.
 *
 * exit_group (or a fatal signal) kills every thread; each one stops at its
 * PTRACE_EVENT_EXIT, in any order, and the address space goes away once
 * the last one is let go.  The gate holds each exit stop until every
 * thread of the process is held or already past its own exit, then calls
 * hooks->on_exit_all and resumes them.  A thread that leaves alone
 * (SYS_exit while others live on, pthread_exit) is not held.  Another
 * thread's execve kills the rest too but waits for them to be gone: when
 * a thread not yet held is seen inside execve, or after 5 seconds, the
 * held threads are let go without the hook. */
#ifndef MEMPROF_EXIT_GATE_H
#define MEMPROF_EXIT_GATE_H

#include <sys/types.h>
#include "supervisor.h"
#include "tracees.h"

/* Thread tid of main_pid's process stopped at PTRACE_EVENT_EXIT: hold it,
 * or resume it. */
void mp_exit_gate_stop(struct mp_tracees *t, pid_t tid, pid_t main_pid, const struct mp_supervisor_hooks *hooks);
/* Thread tid ended (it was already removed from t's threads). */
void mp_exit_gate_gone(struct mp_tracees *t, pid_t tid, pid_t main_pid, const struct mp_supervisor_hooks *hooks);
/* Threads are being held. */
int mp_exit_gate_holding(const struct mp_tracees *t);
/* Waits for the next stop while threads are held, polling so that an
 * execve elsewhere or the timeout releases them: the tid (status set),
 * 0 when nothing came but the held threads were let go, or -1 (errno)
 * as waitpid. */
pid_t mp_exit_gate_wait(struct mp_tracees *t, int *status, pid_t main_pid,
                        const struct mp_supervisor_hooks *hooks);

#endif
