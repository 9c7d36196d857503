/* memprof: the ptrace supervisor.  Launches the target with PTRACE_SEIZE,
 * follows its threads and execve, passes signals through as if memprof were
 * not there (job control included), and reports how it ended. */
#ifndef MEMPROF_SUPERVISOR_H
#define MEMPROF_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_supervisor_hooks {
    void *ctx;
    /* The target is forked and seized, not yet exec'd. */
    void (*on_start)(void *ctx, pid_t pid);
    /* The target (pid) replaced its image with execve; called while it is stopped. */
    void (*on_exec)(void *ctx, pid_t pid);
    /* The target's main thread is exiting: the address space still exists. */
    void (*on_exit)(void *ctx, pid_t pid);
    /* The process is ending (exit_group, or a fatal signal): every thread
     * still alive is stopped at its PTRACE_EVENT_EXIT (tids[], n >= 1), so
     * registers can be read and the whole address space is intact; they
     * are resumed after the call.  Not called when a thread never got
     * there (another thread's execve killed them, or one stayed away for
     * 5 s).  NULL: threads are not held at exit. */
    void (*on_exit_all)(void *ctx, pid_t pid, const pid_t *tids, size_t n);
    /* A thread stopped with SIGTRAP (a breakpoint of ours, or the program's
     * own).  Return 1 when it was ours: the hook has resumed the thread.
     * Return 0 and the supervisor delivers the SIGTRAP as usual.  NULL: none. */
    int (*on_trap)(void *ctx, pid_t tid);
    /* A child process made by fork (its own copy of the memory), stopped
     * before running anything; it is detached right after.  NULL: none. */
    void (*on_fork)(void *ctx, pid_t child);
    /* A thread's PTRACE_EVENT_STOP that is not a group-stop (a new thread's
     * first stop, an interrupt), before it is resumed.  NULL: none. */
    void (*on_thread_stop)(void *ctx, pid_t tid);
    /* A thread of the target exited.  NULL: none. */
    void (*on_thread_gone)(void *ctx, pid_t tid);
    /* mp_supervise_attach: memprof seized the process; every thread in
     * tids[] is stopped.  NULL: none. */
    void (*on_attach)(void *ctx, pid_t pid, const pid_t *tids, size_t n);
    /* mp_supervise_attach: about to detach; every thread stopped and none
     * with a SIGTRAP pending.  NULL: none. */
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

/* Run the target to completion.  Returns 0 when the target ran (whatever its
 * status), or the status memprof must exit with after writing one line to err
 * (1: ptrace refused; 126/127: exec failed). */
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
