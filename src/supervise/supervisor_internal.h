/* memprof: the supervisor's event handling, shared by the launch
 * (supervisor.c) and the attach (attach.c) front ends. */
#ifndef MEMPROF_SUPERVISOR_INTERNAL_H
#define MEMPROF_SUPERVISOR_INTERNAL_H

#include "supervisor.h"
#include "tracees.h"

double mp_now_seconds(void);
pid_t mp_tgid_of(pid_t tid);
/* waitpid(-1, __WALL), polling for hooks->spin_us first when there is more
 * than one CPU; while threads are held at their exit (exit_gate.h), its
 * wait, which may return 0 (nothing came, they were let go). */
pid_t mp_wait_any(int *status, const struct mp_supervisor_hooks *hooks, struct mp_tracees *tracees, pid_t main_pid);
/* One ptrace-stop of a traced task: handle it and resume the task. */
void mp_handle_stop(pid_t tid, int status, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                    struct mp_run_result *result, struct mp_tracees *tracees);
/* A task exited or was killed: forget it; for main_pid fill result and
 * return 1, else 0. */
int mp_handle_end(pid_t tid, int status, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                  struct mp_run_result *result, struct mp_tracees *tracees);

#endif
