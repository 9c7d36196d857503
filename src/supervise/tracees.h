/* memprof: the traced tasks, grouped by process.
 *
 * Every thread memprof traces belongs to one process here.  A process is
 * the top one memprof launched or attached to, a child it follows (fork,
 * vfork, clone without CLONE_THREAD, posix_spawn), or a child that shares
 * its parent's memory (vfork, CLONE_VM) and is kept until it execs only
 * because breakpoints are in that memory.  Each process knows whose memory
 * it runs in (`mm_owner`: itself, or for a vfork child its parent until
 * the child execs) and how many of its threads have not reached their exit
 * stop yet, so the supervisor can tell when the last one is there: the
 * process is exiting, its address space is intact, no thread of it runs.
 *
 * A new child process stops once before it runs anything, and its parent
 * reports the fork event; the two arrive in either order, so each side
 * waits for the other here (announce / child_stopped). */
#ifndef MEMPROF_TRACEES_H
#define MEMPROF_TRACEES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/hashidx.h"

enum mp_child_kind { MP_CHILD_FORK, MP_CHILD_SHARED_MM };

struct mp_tproc {
    pid_t pid;             /* 0: a free slot */
    pid_t mm_owner;        /* the process whose memory it runs in */
    unsigned live_threads; /* threads not yet at their exit stop */
    uint8_t followed;      /* profiled; 0: kept only until its exec (shared memory, breakpoints) */
    pid_t held_tid;        /* the thread held at its exit stop, 0 when none */
    double held_since;
    /* exit_gate.h: threads held at their exit stop until all are there */
    pid_t *gate;
    size_t n_gate, cap_gate;
    double gate_since, gate_checked;
    uint8_t ending;        /* exit_group or a fatal signal is under way */
};

struct mp_tracees {
    struct mp_hashidx thread_index;   /* tid -> threads[] */
    struct tthread { pid_t tid; uint32_t proc; int at_exit; } *threads;
    size_t n_threads, cap_threads;
    uint32_t *free_threads;           /* reusable slots of threads[] */
    size_t n_free_threads, cap_free_threads;
    struct mp_hashidx proc_index;     /* pid -> procs[] */
    struct mp_tproc *procs;
    size_t n_procs, cap_procs;
    size_t live_procs;
    struct pending { pid_t pid, parent; int kind; uint64_t order; } *announced; /* parent's event seen, first stop not yet */
    size_t n_announced, cap_announced;
    pid_t *stopped;                   /* first stop seen, parent's event not yet */
    size_t n_stopped, cap_stopped;
};

/* The table with process main_pid (followed) and its thread main_pid. */
void mp_tracees_init(struct mp_tracees *t, pid_t main_pid);
void mp_tracees_free(struct mp_tracees *t);

/* A process: its record, or NULL.  Records move when processes are added:
 * do not keep the pointer across mp_tracees_add_process. */
struct mp_tproc *mp_tracees_proc(struct mp_tracees *t, pid_t pid);
/* The process of a traced thread, or NULL. */
struct mp_tproc *mp_tracees_proc_of_thread(struct mp_tracees *t, pid_t tid);
/* Records a process and its first thread (pid).  0, or -1 on ENOMEM. */
int mp_tracees_add_process(struct mp_tracees *t, pid_t pid, pid_t mm_owner, int followed);
void mp_tracees_remove_process(struct mp_tracees *t, pid_t pid);
/* Calls fn for each process still recorded. */
void mp_tracees_each_process(struct mp_tracees *t, void (*fn)(void *ctx, struct mp_tproc *p), void *ctx);

int mp_tracees_is_thread(const struct mp_tracees *t, pid_t tid);
/* A new thread of process pid (ignored when already known). */
void mp_tracees_add_thread(struct mp_tracees *t, pid_t tid, pid_t pid);
/* The thread is gone (reaped): forgotten; its process's count drops unless
 * it had reached its exit stop (or `quiet`: the process is going). */
void mp_tracees_remove_thread(struct mp_tracees *t, pid_t tid, int quiet);
/* Thread tid reached its exit stop: 1 when it is the last of its process. */
int mp_tracees_thread_exiting(struct mp_tracees *t, pid_t tid);
/* Process pid exec'd: its only thread is pid now (former: the thread that
 * called execve, when it was not the leader). */
void mp_tracees_exec(struct mp_tracees *t, pid_t pid, pid_t former);
/* The threads of process pid (at most max); their number. */
size_t mp_tracees_threads_of(const struct mp_tracees *t, pid_t pid, pid_t *out, size_t max);

/* The parent's event announced child `pid` (the order-th fork or exec
 * event): 1 when its first stop was already seen (handle it now), else 0
 * (remembered). */
int mp_tracees_announce(struct mp_tracees *t, pid_t pid, pid_t parent, int kind, uint64_t order);
/* A task that is no known thread stopped: 1 and *parent, *kind, *order set
 * when its parent's event was seen (handle it now), else 0 (remembered, left
 * stopped). */
int mp_tracees_child_stopped(struct mp_tracees *t, pid_t pid, pid_t *parent, int *kind, uint64_t *order);

#endif
