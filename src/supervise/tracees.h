/* memprof: which traced tasks are the target's threads and which are new
 * child processes on their way out.  Child processes (fork, vfork, clone
 * without CLONE_THREAD) are attached automatically by PTRACE_O_TRACEFORK
 * and friends only so that breakpoints can be taken out of their copy of
 * the text; then they are detached and run as they would without memprof.
 * The child's first stop and its parent's fork event arrive in either
 * order, so each side waits for the other here. */
#ifndef MEMPROF_TRACEES_H
#define MEMPROF_TRACEES_H

#include <stddef.h>
#include <sys/types.h>
#include "base/hashidx.h"

enum mp_child_kind { MP_CHILD_FORK, MP_CHILD_SHARED_MM };

struct mp_tracees {
    struct mp_hashidx thread_index; /* the target's threads */
    pid_t *threads;
    size_t n_threads, cap_threads;
    struct pending { pid_t pid; int kind; } *announced; /* parent's event seen, first stop not yet */
    size_t n_announced, cap_announced;
    pid_t *stopped;                 /* first stop seen, parent's event not yet */
    size_t n_stopped, cap_stopped;
    pid_t *shared;                  /* vfork/CLONE_VM children kept until exec or exit */
    size_t n_shared, cap_shared;
    /* The process's end (exit_gate.h): threads held at PTRACE_EVENT_EXIT
     * until every one is there, and threads already past their exit stop. */
    pid_t *held, *past;
    size_t n_held, cap_held, n_past, cap_past;
    int ending;                     /* exit_group or a fatal signal is under way */
    double held_since;              /* when the first thread was held */
};

void mp_tracees_init(struct mp_tracees *t, pid_t main_pid);
void mp_tracees_free(struct mp_tracees *t);
int mp_tracees_is_thread(const struct mp_tracees *t, pid_t tid);
void mp_tracees_add_thread(struct mp_tracees *t, pid_t tid);
void mp_tracees_remove_thread(struct mp_tracees *t, pid_t tid);
/* execve succeeded: the process has one thread again, main_pid (the thread
 * that exec'd took its id; the others are gone, reported or not). */
void mp_tracees_exec(struct mp_tracees *t, pid_t main_pid);

/* The parent's event announced child `pid`: 1 and *kind set when its first
 * stop was already seen (handle it now), else 0 (remembered). */
int mp_tracees_announce(struct mp_tracees *t, pid_t pid, int kind);
/* A task that is not a thread stopped: 1 and *kind set when its parent's
 * event was seen (handle it now), else 0 (remembered, left stopped). */
int mp_tracees_child_stopped(struct mp_tracees *t, pid_t pid, int *kind);

/* A child that shares the target's memory (vfork, clone(CLONE_VM)) runs
 * the target's code, breakpoints included, until it execs: with
 * breakpoints in place it stays traced until then (its traps are handled
 * like a thread's).  keep: 0, or -1 on ENOMEM (the caller detaches it). */
int mp_tracees_keep_shared(struct mp_tracees *t, pid_t pid);
int mp_tracees_is_shared(const struct mp_tracees *t, pid_t pid);
void mp_tracees_drop_shared(struct mp_tracees *t, pid_t pid);

#endif
