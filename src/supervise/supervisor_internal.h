/* memprof: the supervisor's event handling, shared by the launch
 * (supervisor.c), the attach (attach.c) front ends and the detach of
 * several processes (detach.c). */
#ifndef MEMPROF_SUPERVISOR_INTERNAL_H
#define MEMPROF_SUPERVISOR_INTERNAL_H

#include "supervisor.h"
#include "tracees.h"

/* One supervision: the hooks, the traced tasks, how the target went. */
struct mp_sup {
    const struct mp_supervisor_hooks *hooks;
    struct mp_run_result *result;
    struct mp_tracees tracees;
    pid_t main_pid;         /* the target */
    int follow;             /* children are offered to hooks->on_new_process */
    int main_done;          /* the target ended */
    size_t held;            /* processes held at their exit stop */
    size_t gated;           /* processes whose exit gate holds threads (exit_gate.h) */
    uint64_t order;         /* fork and exec events seen */
};

void mp_sup_init(struct mp_sup *sup, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result);
void mp_sup_free(struct mp_sup *sup);

double mp_now_seconds(void);
pid_t mp_tgid_of(pid_t tid);
/* waitpid(-1, __WALL), polling for hooks->spin_us first when there is more
 * than one CPU.  While processes are held at their exit stop (or `poll`),
 * it polls instead of sleeping and resumes each hold its hook releases. */
pid_t mp_wait_any(struct mp_sup *sup, int *status, int poll);
/* One ptrace-stop of a traced task: handle it and resume the task. */
void mp_handle_stop(struct mp_sup *sup, pid_t tid, int status);
/* A task exited or was killed: forget it; for the target fill result and
 * return 1, else 0. */
int mp_handle_end(struct mp_sup *sup, pid_t tid, int status);
/* Resumes the processes held at their exit stop whose hook released them
 * (or that waited too long); `all`: every one. */
void mp_release_exits(struct mp_sup *sup, int all);

/* ---- detach.c: stopping every thread of some processes and letting go ---- */

struct mp_thread_set {
    pid_t *tids;
    int *stopped;       /* 1: in a ptrace-stop memprof has not resumed yet */
    int *resume_sig;    /* the signal to deliver when resuming it */
    size_t n, cap;
};

long mp_thread_set_find(const struct mp_thread_set *ts, pid_t tid);
int mp_thread_set_add(struct mp_thread_set *ts, pid_t tid);
void mp_thread_set_drop(struct mp_thread_set *ts, pid_t tid);
void mp_thread_set_free(struct mp_thread_set *ts);
/* Waits until every thread of ts is stopped.  Threads that appear in a
 * process of `pids` join the set.  While `leaving`, stops that are not
 * interrupts go to the usual handler and the thread is interrupted again
 * (a queued SIGTRAP of ours is let through first).  Returns 1 when the
 * target is gone. */
int mp_wait_all_stopped(struct mp_sup *sup, struct mp_thread_set *ts, const pid_t *pids, size_t n_pids,
                        int leaving);
/* Lets every process still traced go: each thread interrupted, the hooks'
 * on_detach called per process with all its threads stopped, then
 * detached.  New children made meanwhile are not followed. */
void mp_detach_all(struct mp_sup *sup);

#endif
