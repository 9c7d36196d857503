/* memprof: what the supervisor does at each ptrace stop and death of a
 * traced task, for the target and for the processes it follows: threads
 * come and go, child processes are followed or let go, execve starts a new
 * image, and a process whose last thread reached its exit stop is offered
 * to the hooks (and may be held there) while its memory still exists.
 * Signals that are not memprof's are delivered as if it were not there;
 * group-stops are answered with PTRACE_LISTEN. */
#define _GNU_SOURCE
#include "supervisor_internal.h"
#include "exit_gate.h"
#include "procfs.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HOLD_SECONDS 10.0

/* set by supervisor.c's handlers */
extern volatile sig_atomic_t mp_job_stop_seen;
extern volatile sig_atomic_t mp_top_exiting;
void mp_stop_like_the_target(int sig);

double mp_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

pid_t mp_tgid_of(pid_t tid)
{
    return (pid_t)mp_proc_status_number(tid, "Tgid");
}

void mp_sup_init(struct mp_sup *sup, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result)
{
    memset(sup, 0, sizeof *sup);
    sup->hooks = hooks;
    sup->result = result;
    sup->main_pid = main_pid;
    sup->follow = hooks && hooks->on_new_process;
    mp_tracees_init(&sup->tracees, main_pid);
}

void mp_sup_free(struct mp_sup *sup)
{
    mp_tracees_free(&sup->tracees);
}

static int is_stop_signal(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A new child process, stopped before running anything: clean a forked
 * copy, then follow it, keep it until its exec (it runs in memory with our
 * breakpoints), or let it go. */
static void child_ready(struct mp_sup *sup, pid_t parent, pid_t child, int kind, uint64_t order)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    struct mp_tproc *pp = mp_tracees_proc(&sup->tracees, parent);
    pid_t owner = pp ? pp->mm_owner : parent;
    int shares = kind == MP_CHILD_SHARED_MM;
    if (!shares && h && h->on_fork)
        h->on_fork(h->ctx, parent, child);
    int verdict = sup->follow && pp && pp->followed ? h->on_new_process(h->ctx, parent, child, shares, order) : 0;
    int followed = verdict > 0;
    int keep = followed || (shares && verdict == 0 && h && h->on_trap); /* it runs our breakpoints until it execs */
    if (keep && mp_tracees_add_process(&sup->tracees, child, shares ? owner : child, followed) == 0) {
        ptrace(PTRACE_CONT, child, 0, 0);
        return;
    }
    ptrace(PTRACE_DETACH, child, 0, 0);
}

/* Waits up to a second for a new child's first stop: 1 stopped, 0 it
 * ended first (killed), -1 not yet. */
static int first_stop_of(pid_t child)
{
    for (int round = 0; round < 2000; round++) {
        int status;
        pid_t w = waitpid(child, &status, __WALL | WNOHANG);
        if (w == child)
            return WIFSTOPPED(status) ? 1 : 0;
        if (w < 0 && errno != EINTR)
            return 0;
        if (round >= 20) { /* it has not run yet: let it */
            struct timespec nap = { 0, 500 * 1000 };
            nanosleep(&nap, NULL);
        }
    }
    return -1;
}

static void on_new_task(struct mp_sup *sup, pid_t parent, pid_t child, int event)
{
    if (event == PTRACE_EVENT_CLONE && mp_tgid_of(child) == parent) {
        mp_tracees_add_thread(&sup->tracees, child, parent);
        return;
    }
    /* fork copies the memory; vfork and clone(CLONE_VM) share it, and
     * breakpoints must then stay in place for the parent */
    int kind = event == PTRACE_EVENT_FORK ? MP_CHILD_FORK : MP_CHILD_SHARED_MM;
    uint64_t order = ++sup->order;
    if (mp_tracees_announce(&sup->tracees, child, parent, kind, order)) {
        child_ready(sup, parent, child, kind, order);
        return;
    }
    /* Its first stop is due at once: take it now, while the parent waits at
     * its event, since the parent may end right after (a double fork) and
     * whether and how the child is followed depends on the parent. */
    int first = first_stop_of(child);
    if (first < 0)
        return; /* late: handled when it comes (mp_handle_stop) */
    pid_t p;
    if (mp_tracees_child_stopped(&sup->tracees, child, &p, &kind, &order) && first > 0)
        child_ready(sup, parent, child, kind, order);
}

static void on_exec_event(struct mp_sup *sup, struct mp_tproc *p, pid_t tid)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    pid_t pid = p->pid;
    unsigned long former = (unsigned long)tid;
    ptrace(PTRACE_GETEVENTMSG, tid, 0, &former);
    mp_tracees_exec(&sup->tracees, pid, (pid_t)former);
    mp_exit_gate_clear(sup, p);
    if (p->mm_owner != pid) {
        /* it leaves its parent's memory: for the parent's engine, a thread gone */
        if (h && h->on_thread_gone)
            h->on_thread_gone(h->ctx, p->mm_owner, (pid_t)former);
        p->mm_owner = pid;
    }
    if (!p->followed) {
        mp_tracees_remove_process(&sup->tracees, pid);
        ptrace(PTRACE_DETACH, tid, 0, 0);
        return;
    }
    if (pid == sup->main_pid) {
        sup->result->execs++;
        sup->result->peak_rss_bytes = 0; /* the new image is the one profiled: VmHWM restarts too */
    }
    int keep = !(h && h->on_exec) || h->on_exec(h->ctx, pid, ++sup->order) || pid == sup->main_pid;
    if (!keep) {
        mp_tracees_remove_process(&sup->tracees, pid);
        ptrace(PTRACE_DETACH, tid, 0, 0);
        return;
    }
    ptrace(PTRACE_CONT, tid, 0, 0);
}

static void on_exit_stop(struct mp_sup *sup, struct mp_tproc *p, pid_t tid)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    if (p->pid == sup->main_pid) {
        /* read at every thread's exit: the leader may leave before the others */
        uint64_t hwm = mp_proc_vmhwm(tid);
        if (hwm > sup->result->peak_rss_bytes)
            sup->result->peak_rss_bytes = hwm;
    }
    if (!mp_tracees_thread_exiting(&sup->tracees, tid)) {
        if (!mp_exit_gate_hold(sup, p, tid)) /* held until the others are there too */
            ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
    if (p->pid == sup->main_pid)
        mp_top_exiting = 1; /* signals to memprof can no longer reach it */
    int hold = !p->held_tid && p->followed && h && h->on_exit && h->on_exit(h->ctx, p->pid) && h->exit_release;
    mp_exit_gate_complete(sup, p, tid); /* on_exit_all, with every thread stopped */
    if (hold) {
        p->held_tid = tid;
        p->held_since = mp_now_seconds();
        sup->held++;
        return; /* stays stopped until released */
    }
    ptrace(PTRACE_CONT, tid, 0, 0);
}

static void release_one(void *ctx, struct mp_tproc *p)
{
    struct mp_sup *sup = ctx;
    if (!p->held_tid)
        return;
    const struct mp_supervisor_hooks *h = sup->hooks;
    if (sup->main_done == 2 || h->exit_release(h->ctx, p->pid) ||
        mp_now_seconds() - p->held_since > MAX_HOLD_SECONDS) {
        ptrace(PTRACE_CONT, p->held_tid, 0, 0);
        p->held_tid = 0;
        sup->held--;
    }
}

struct gate_round { struct mp_sup *sup; int all; size_t open; };

static void poll_gate(void *ctx, struct mp_tproc *p)
{
    struct gate_round *g = ctx;
    mp_exit_gate_poll(g->sup, p, g->all);
    g->open += p->n_gate != 0;
}

void mp_release_exits(struct mp_sup *sup, int all)
{
    if (sup->gated) {
        struct gate_round g = { sup, all, 0 };
        mp_tracees_each_process(&sup->tracees, poll_gate, &g);
        sup->gated = g.open;
    }
    if (!sup->held)
        return;
    int saved = sup->main_done;
    if (all)
        sup->main_done = 2; /* release_one: every one */
    mp_tracees_each_process(&sup->tracees, release_one, sup);
    sup->main_done = saved;
}

void mp_handle_stop(struct mp_sup *sup, pid_t tid, int status)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    struct mp_tproc *p = mp_tracees_proc_of_thread(&sup->tracees, tid);
    if (!p) {
        pid_t tgid = mp_tgid_of(tid);
        if (tgid != tid && mp_tracees_proc(&sup->tracees, tgid)) {
            mp_tracees_add_thread(&sup->tracees, tid, tgid); /* a new thread, seen before its clone event */
            p = mp_tracees_proc_of_thread(&sup->tracees, tid);
        } else {
            pid_t parent;
            int kind;
            uint64_t order;
            if (mp_tracees_child_stopped(&sup->tracees, tid, &parent, &kind, &order))
                child_ready(sup, parent, tid, kind, order);
            return; /* else it waits, stopped, for its parent's fork event */
        }
        if (!p) {
            ptrace(PTRACE_CONT, tid, 0, 0);
            return;
        }
    }
    pid_t owner = p->mm_owner;
    switch (event) {
    case PTRACE_EVENT_STOP:
        if (is_stop_signal(sig)) {
            /* Group-stop: stay stopped but keep reporting (PTRACE_LISTEN). */
            ptrace(PTRACE_LISTEN, tid, 0, 0);
            if (tid == sup->main_pid && sig != SIGSTOP && mp_job_stop_seen) {
                mp_job_stop_seen = 0;
                mp_stop_like_the_target(sig);
            }
        } else {
            if (h && h->on_thread_stop) /* new thread's first stop, or an interrupt */
                h->on_thread_stop(h->ctx, owner, tid);
            ptrace(PTRACE_CONT, tid, 0, 0);
        }
        return;
    case PTRACE_EVENT_EXEC:
        on_exec_event(sup, p, tid);
        return;
    case PTRACE_EVENT_EXIT:
        on_exit_stop(sup, p, tid);
        return;
    case PTRACE_EVENT_CLONE:
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK: {
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
        pid_t parent = p->pid;
        if ((pid_t)msg > 0)
            on_new_task(sup, parent, (pid_t)msg, event);
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
    case 0:
        if (sig == SIGTRAP && h && h->on_trap && h->on_trap(h->ctx, owner, tid))
            return; /* one of our breakpoints: the hook resumed the thread */
        /* Signal-delivery-stop: deliver the signal as if we were not here. */
        ptrace(PTRACE_CONT, tid, 0, sig);
        return;
    default:
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
}

int mp_handle_end(struct mp_sup *sup, pid_t tid, int status)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    struct mp_tproc *p = mp_tracees_proc_of_thread(&sup->tracees, tid);
    if (!p)
        return 0;
    pid_t pid = p->pid, owner = p->mm_owner;
    int followed = p->followed;
    if (p->held_tid == tid) { /* killed while held */
        p->held_tid = 0;
        sup->held--;
    }
    mp_tracees_remove_thread(&sup->tracees, tid, 0);
    mp_exit_gate_gone(sup, p, tid);
    if (h && h->on_thread_gone)
        h->on_thread_gone(h->ctx, owner, tid);
    if (tid != pid)
        return 0;
    mp_tracees_remove_process(&sup->tracees, pid);
    if (pid != sup->main_pid) {
        if (followed && h && h->on_process_end)
            h->on_process_end(h->ctx, pid, status);
        return 0;
    }
    struct mp_run_result *result = sup->result;
    if (WIFEXITED(status)) {
        result->exited = 1;
        result->exit_code = WEXITSTATUS(status);
    } else {
        result->signal = WTERMSIG(status);
        result->core_dumped = WCOREDUMP(status) ? 1 : 0;
    }
    sup->main_done = 1;
    return 1;
}

pid_t mp_wait_any(struct mp_sup *sup, int *status, int poll)
{
    static int cpus;
    if (!cpus)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    const struct mp_supervisor_hooks *h = sup->hooks;
    if (h && h->spin_us && cpus > 1) {
        double until = mp_now_seconds() + h->spin_us * 1e-6;
        do {
            pid_t tid = waitpid(-1, status, __WALL | WNOHANG);
            if (tid != 0)
                return tid;
        } while (mp_now_seconds() < until);
    }
    if (!sup->held && !sup->gated && !poll)
        return waitpid(-1, status, __WALL);
    /* poll: holds are released from here, and a request to stop waiting is
     * seen within a few milliseconds */
    for (unsigned round = 0;; round++) {
        pid_t tid = waitpid(-1, status, __WALL | WNOHANG);
        if (tid != 0)
            return tid;
        mp_release_exits(sup, 0);
        if (!sup->held && !sup->gated && !poll)
            return waitpid(-1, status, __WALL);
        if (poll && round > 0) {
            errno = EINTR; /* let the caller look at its flags */
            return -1;
        }
        struct timespec nap = { 0, sup->held || sup->gated ? 200 * 1000 : 5 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
}
