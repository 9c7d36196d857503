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
    /* A thread stopped with SIGTRAP (a breakpoint of ours, or the program's
     * own).  Return 1 when it was ours: the hook has resumed the thread.
     * Return 0 and the supervisor delivers the SIGTRAP as usual.  NULL: none. */
    int (*on_trap)(void *ctx, pid_t tid);
    /* A child process made by fork (its own copy of the memory), stopped
     * before running anything; it is detached right after.  NULL: none. */
    void (*on_fork)(void *ctx, pid_t child);
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
};

/* Run the target to completion.  Returns 0 when the target ran (whatever its
 * status), or the status memprof must exit with after writing one line to err
 * (1: ptrace refused; 126/127: exec failed). */
int mp_supervise(const struct mp_launch *launch, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result, char *err, size_t errlen);

#endif
