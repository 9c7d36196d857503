/* memprof: the ptrace supervisor.  Launches the target with PTRACE_SEIZE,
 * follows its threads, execve and (when asked) its child processes, passes
 * signals through as if memprof were not there (job control included), and
 * reports how each process ended. */
#ifndef MEMPROF_SUPERVISOR_H
#define MEMPROF_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the supervisor tells the rest of memprof.  Thread-level hooks get
 * `pid`, the process whose memory the thread runs in (a vfork child runs in
 * its parent's until it execs), and the thread `tid`. */
struct mp_supervisor_hooks {
    void *ctx;
    /* The target is forked and seized, not yet exec'd. */
    void (*on_start)(void *ctx, pid_t pid);
    /* Process pid (the target, or a followed child) replaced its image with
     * execve; called while it is stopped.  Return 1 to go on following it,
     * 0 to let it go: it is detached and runs on without memprof (the
     * target itself is always followed).  `order` counts the fork and exec
     * events in the order they happened (see on_new_process).  NULL: follow. */
    int (*on_exec)(void *ctx, pid_t pid, uint64_t order);
    /* Process pid is exiting: its last thread is stopped at its exit stop,
     * the address space still exists and no thread of it runs any more.
     * Return 0 to let it go on, 1 to hold it there until exit_release
     * returns 1 (asked while memprof waits for other events; a hold ends
     * after 10 s whatever it says).  NULL: none. */
    int (*on_exit)(void *ctx, pid_t pid);
    int (*exit_release)(void *ctx, pid_t pid);
    /* Followed process pid is ending (exit_group, or a fatal signal):
     * every thread still alive is stopped at its PTRACE_EVENT_EXIT (tids[],
     * n >= 1), so registers can be read and the whole address space is
     * intact; they are resumed after the call (after on_exit).  Not called
     * when a thread never got there (another thread's execve killed them,
     * or one stayed away for 5 s).  NULL: threads are not held at exit. */
    void (*on_exit_all)(void *ctx, pid_t pid, const pid_t *tids, size_t n);
    /* A thread stopped with SIGTRAP (a breakpoint of ours, or the program's
     * own).  Return 1 when it was ours: the hook has resumed the thread.
     * Return 0 and the supervisor delivers the SIGTRAP as usual.  NULL: none. */
    int (*on_trap)(void *ctx, pid_t pid, pid_t tid);
    /* A child process made by fork (its own copy of the memory), stopped
     * before running anything: take breakpoints out of its copy.  NULL: none. */
    void (*on_fork)(void *ctx, pid_t parent, pid_t child);
    /* Following the tree: a new child process of a followed process (fork,
     * vfork, clone without CLONE_THREAD, posix_spawn), stopped before it ran
     * anything (after on_fork).  shares_memory: it runs in the parent's
     * memory until it execs (vfork, CLONE_VM).  `order`: when its parent
     * made it, among all fork and exec events (children are offered when
     * their first stop is seen, which need not be in that order).  Return 1
     * to follow it, 0 to let it go (it runs as it would without memprof;
     * sharing memory, it is kept until its exec while breakpoints may be
     * there), -1 to let it go at once whatever it shares.  NULL: children
     * are not followed. */
    int (*on_new_process)(void *ctx, pid_t parent, pid_t child, int shares_memory, uint64_t order);
    /* A followed process other than the target ended (reaped); status as
     * waitpid gives it.  NULL: none. */
    void (*on_process_end)(void *ctx, pid_t pid, int status);
    /* The target ended and `remaining` followed processes still run (a
     * daemon, a double fork).  Return 1 to go on until they end, 0 to let
     * them go now (on_detach is called for each first).  NULL: wait. */
    int (*on_top_end)(void *ctx, size_t remaining);
    /* A thread's PTRACE_EVENT_STOP that is not a group-stop (a new thread's
     * first stop, an interrupt), before it is resumed.  NULL: none. */
    void (*on_thread_stop)(void *ctx, pid_t pid, pid_t tid);
    /* A thread of a traced process exited.  NULL: none. */
    void (*on_thread_gone)(void *ctx, pid_t pid, pid_t tid);
    /* mp_supervise_attach: memprof seized the process; every thread in
     * tids[] is stopped.  NULL: none. */
    void (*on_attach)(void *ctx, pid_t pid, const pid_t *tids, size_t n);
    /* mp_supervise_attach: the detach begins (threads are stopped one by
     * one from now on).  NULL: none. */
    void (*on_leaving)(void *ctx, pid_t pid);
    /* Memprof is about to detach process pid (mp_supervise_attach, or a
     * followed process let go when the target ended): every thread in
     * tids[] stopped and none with a SIGTRAP pending.  NULL: none. */
    void (*on_detach)(void *ctx, pid_t pid, const pid_t *tids, size_t n);
    /* Poll this many microseconds for the next stop before sleeping in
     * waitpid (only with more than one CPU): waking a sleeping tracer costs
     * more than a breakpoint trap itself.  0: always sleep. */
    unsigned spin_us;
};

struct mp_launch {
    const char *path;   /* resolved program path */
    char *const *argv;  /* argv[0] is what the user typed */
    char *const *envp;  /* environment for the target */
    int no_aslr;        /* run it without address-space randomisation (--stable) */
};

struct mp_run_result {
    pid_t pid;
    int exited;             /* 1: exited normally with exit_code */
    int exit_code;
    int signal;             /* nonzero: killed by this signal */
    int core_dumped;
    uint64_t peak_rss_bytes;/* VmHWM at PTRACE_EVENT_EXIT */
    double wall_seconds;
    unsigned execs;         /* successful execve calls seen (the first launch included) */
    int detached;           /* mp_supervise_attach: memprof left the process running */
    int threads_at_attach;  /* mp_supervise_attach: threads seized */
};

/* Run the target to completion (and the followed processes it left
 * running, unless on_top_end lets them go).  SIGINT, SIGTERM or SIGHUP sent
 * to memprof after the target ended lets the rest go too.  Returns 0 when
 * the target ran (whatever its status), or the status memprof must exit with
 * after writing one line to err (1: ptrace refused; 126/127: exec failed). */
int mp_supervise(const struct mp_launch *launch, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result, char *err, size_t errlen);

/* Attach to the running process pid and all its threads (PTRACE_SEIZE, no
 * kill on memprof's exit), follow it until it exits, memprof gets SIGINT,
 * SIGTERM or SIGHUP, or duration_s seconds passed (0: no limit); then detach
 * and leave it running.  Same return convention as mp_supervise; a process
 * that does not exist or cannot be traced gives 1 and a one-line reason. */
int mp_supervise_attach(pid_t pid, double duration_s, const struct mp_supervisor_hooks *hooks,
                        struct mp_run_result *result, char *err, size_t errlen);

#endif
