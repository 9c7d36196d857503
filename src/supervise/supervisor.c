/* memprof: the ptrace supervisor: launch, event loop, signals, job control.
 *
 * Launch: fork; the child waits on a pipe until the parent has seized it with
 * PTRACE_SEIZE, then execv's the program (exec errors come back through a
 * close-on-exec pipe).  Threads are followed (TRACECLONE); child processes
 * are attached only until breakpoints are out of their memory, then
 * detached, and run as they would without memprof (tracees.h).  Signals that are not
 * ours are re-injected; group-stops are answered with PTRACE_LISTEN, and a
 * job-control stop of the target stops memprof too, so the shell sees the job
 * stop and `fg` resumes both.  Signals sent to memprof by another process are
 * forwarded; those the terminal sends reach the target by themselves. */
#define _GNU_SOURCE
#include "supervisor_internal.h"
#include "exit_gate.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t target_pid_for_signals;

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                         SIGALRM, SIGWINCH };
static const int job_control_signals[] = { SIGTSTP, SIGTTIN, SIGTTOU };

static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    /* SI_KERNEL: the terminal sent it to the whole foreground group, the target
     * has it already.  Anything else came from a process aiming at memprof. */
    if (info->si_code != SI_KERNEL && target_pid_for_signals > 0)
        kill(target_pid_for_signals, sig);
}

/* memprof itself got a job-control signal: it came from the terminal or was
 * sent to the whole process group, so when the target stops for it the shell
 * expects the job (memprof) to stop too.  A signal sent to the target alone
 * leaves memprof running, as it would leave the shell's job running. */
static volatile sig_atomic_t job_stop_seen;

static void ignore_job_control(int sig)
{
    job_stop_seen = sig;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded_signals / sizeof *forwarded_signals; i++)
        sigaction(forwarded_signals[i], &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_job_control;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof job_control_signals / sizeof *job_control_signals; i++)
        sigaction(job_control_signals[i], &sa, NULL);
}

static void restore_default_signals(void)
{
    for (size_t i = 0; i < sizeof forwarded_signals / sizeof *forwarded_signals; i++)
        signal(forwarded_signals[i], SIG_DFL);
    for (size_t i = 0; i < sizeof job_control_signals / sizeof *job_control_signals; i++)
        signal(job_control_signals[i], SIG_DFL);
}

double mp_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child side of the launch: never returns. */
static void run_child(const struct mp_launch *launch, int go_fd, int err_fd)
{
    char go;
    restore_default_signals();
    while (read(go_fd, &go, 1) < 0 && errno == EINTR)
        ;
    close(go_fd);
    execve(launch->path, launch->argv, launch->envp);
    int e = errno;
    while (write(err_fd, &e, sizeof e) < 0 && errno == EINTR)
        ;
    _exit(e == ENOENT ? 127 : 126);
}

/* A job-control stop of the target: stop memprof with the same signal so the
 * shell sees the job stop the usual way; `fg` (SIGCONT) resumes both. */
static void stop_like_the_target(int sig)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &old);
    raise(sig); /* returns after SIGCONT */
    sigaction(sig, &old, NULL);
}

static int is_stop_signal(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static const long seize_options = PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
                                  PTRACE_O_TRACEEXIT | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;

static int launch_target(const struct mp_launch *launch, const struct mp_supervisor_hooks *hooks,
                         pid_t *pid_out, char *err, size_t errlen)
{
    int go[2], exec_err[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(exec_err, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "memprof: cannot create a pipe: %s", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "memprof: cannot fork: %s", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(go[1]);
        close(exec_err[0]);
        run_child(launch, go[0], exec_err[1]);
    }
    close(go[0]);
    close(exec_err[1]);
    if (ptrace(PTRACE_SEIZE, pid, 0, seize_options) != 0) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(go[1]);
        close(exec_err[0]);
        if (e == EPERM || e == EACCES)
            snprintf(err, errlen,
                     "memprof: ptrace is not permitted here (%s): run as root or with CAP_SYS_PTRACE "
                     "(containers: --cap-add=SYS_PTRACE), or set kernel.yama.ptrace_scope to 0 or 1",
                     strerror(e));
        else
            snprintf(err, errlen, "memprof: cannot trace the target: ptrace(PTRACE_SEIZE): %s", strerror(e));
        return 1;
    }
    target_pid_for_signals = pid;
    if (hooks && hooks->on_start)
        hooks->on_start(hooks->ctx, pid);
    if (write(go[1], "g", 1) != 1) {
        snprintf(err, errlen, "memprof: cannot start the target: %s", strerror(errno));
        close(go[1]);
        close(exec_err[0]);
        return 1;
    }
    close(go[1]);
    /* The exec-error pipe closes on a successful execve; a traced exec stops
     * the child after the pipe closed, so this read cannot deadlock. */
    int e = 0;
    ssize_t n;
    while ((n = read(exec_err[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(exec_err[0]);
    if (n == (ssize_t)sizeof e) {
        int status;
        for (;;) { /* let it reach its end: it stops at PTRACE_EVENT_EXIT on the way */
            pid_t w = waitpid(pid, &status, __WALL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 || !WIFSTOPPED(status))
                break;
            ptrace(PTRACE_CONT, pid, 0, 0);
        }
        snprintf(err, errlen, "memprof: cannot execute %s: %s", launch->path, strerror(e));
        return e == ENOENT ? 127 : 126;
    }
    *pid_out = pid;
    return 0;
}

pid_t mp_tgid_of(pid_t tid)
{
    return (pid_t)mp_proc_status_number(tid, "Tgid");
}

/* A new child process, stopped before running anything: take our
 * breakpoints out of its own copy of the text, then let it go. */
static void release_child(pid_t child, int kind, const struct mp_supervisor_hooks *hooks,
                          struct mp_tracees *tracees)
{
    if (kind == MP_CHILD_FORK && hooks && hooks->on_fork)
        hooks->on_fork(hooks->ctx, child);
    if (kind == MP_CHILD_SHARED_MM && hooks && hooks->on_trap && mp_tracees_keep_shared(tracees, child) == 0) {
        ptrace(PTRACE_CONT, child, 0, 0); /* it runs our breakpoints until it execs */
        return;
    }
    ptrace(PTRACE_DETACH, child, 0, 0);
}

void mp_handle_stop(pid_t tid, int status, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                        struct mp_run_result *result, struct mp_tracees *tracees)
{
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (mp_tracees_is_shared(tracees, tid)) {
        /* a vfork child in the target's memory: handled like a thread, until
         * its own execve leaves our breakpoints behind */
        if (event == PTRACE_EVENT_EXEC) {
            mp_tracees_drop_shared(tracees, tid);
            if (hooks && hooks->on_thread_gone)
                hooks->on_thread_gone(hooks->ctx, tid);
            ptrace(PTRACE_DETACH, tid, 0, 0);
            return;
        }
        if (event == PTRACE_EVENT_EXIT) {
            ptrace(PTRACE_CONT, tid, 0, 0);
            return;
        }
    } else if (!mp_tracees_is_thread(tracees, tid)) {
        if (mp_tgid_of(tid) == main_pid) {
            mp_tracees_add_thread(tracees, tid); /* a new thread, seen before its clone event */
        } else {
            int kind;
            if (mp_tracees_child_stopped(tracees, tid, &kind))
                release_child(tid, kind, hooks, tracees);
            return; /* else it waits, stopped, for its parent's fork event */
        }
    }
    switch (event) {
    case PTRACE_EVENT_STOP:
        if (is_stop_signal(sig)) {
            /* Group-stop: stay stopped but keep reporting (PTRACE_LISTEN). */
            ptrace(PTRACE_LISTEN, tid, 0, 0);
            if (tid == main_pid && sig != SIGSTOP && job_stop_seen) {
                job_stop_seen = 0;
                stop_like_the_target(sig);
            }
        } else {
            if (hooks && hooks->on_thread_stop) /* new thread's first stop, or an interrupt */
                hooks->on_thread_stop(hooks->ctx, tid);
            ptrace(PTRACE_CONT, tid, 0, 0);
        }
        return;
    case PTRACE_EVENT_EXEC:
        result->execs++;
        mp_tracees_exec(tracees, main_pid);
        result->peak_rss_bytes = 0; /* the new image is the one profiled: VmHWM restarts too */
        if (hooks && hooks->on_exec)
            hooks->on_exec(hooks->ctx, main_pid);
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    case PTRACE_EVENT_EXIT: {
        /* Read at every thread's exit: the leader may leave before the others. */
        uint64_t hwm = mp_proc_vmhwm(tid);
        if (hwm > result->peak_rss_bytes)
            result->peak_rss_bytes = hwm;
        if (tid == main_pid) {
            if (hooks && hooks->on_exit)
                hooks->on_exit(hooks->ctx, tid);
        }
        mp_exit_gate_stop(tracees, tid, main_pid, hooks); /* resumes it, or holds it until all are there */
        return;
    }
    case PTRACE_EVENT_CLONE:
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK: {
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
        pid_t child = (pid_t)msg;
        if (child > 0) {
            if (event == PTRACE_EVENT_CLONE && mp_tgid_of(child) == main_pid) {
                mp_tracees_add_thread(tracees, child);
            } else {
                /* fork copies the memory; vfork and clone(CLONE_VM) share it, and
                 * breakpoints must then stay in place for the parent. */
                int kind = event == PTRACE_EVENT_FORK ? MP_CHILD_FORK : MP_CHILD_SHARED_MM;
                if (mp_tracees_announce(tracees, child, kind))
                    release_child(child, kind, hooks, tracees);
            }
        }
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
    case 0:
        if (sig == SIGTRAP && hooks && hooks->on_trap && hooks->on_trap(hooks->ctx, tid))
            return; /* one of our breakpoints: the hook resumed the thread */
        /* Signal-delivery-stop: deliver the signal as if we were not here. */
        ptrace(PTRACE_CONT, tid, 0, sig);
        return;
    default:
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
}

pid_t mp_wait_any(int *status, const struct mp_supervisor_hooks *hooks, struct mp_tracees *tracees, pid_t main_pid)
{
    if (mp_exit_gate_holding(tracees))
        return mp_exit_gate_wait(tracees, status, main_pid, hooks);
    static int cpus;
    if (!cpus)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (hooks && hooks->spin_us && cpus > 1) {
        double until = mp_now_seconds() + hooks->spin_us * 1e-6;
        do {
            pid_t tid = waitpid(-1, status, __WALL | WNOHANG);
            if (tid != 0)
                return tid;
        } while (mp_now_seconds() < until);
    }
    return waitpid(-1, status, __WALL);
}

int mp_handle_end(pid_t tid, int status, pid_t main_pid, const struct mp_supervisor_hooks *hooks,
                  struct mp_run_result *result, struct mp_tracees *tracees)
{
    int was_thread = mp_tracees_is_thread(tracees, tid) || mp_tracees_is_shared(tracees, tid);
    mp_tracees_remove_thread(tracees, tid);
    mp_tracees_drop_shared(tracees, tid);
    if (was_thread && hooks && hooks->on_thread_gone)
        hooks->on_thread_gone(hooks->ctx, tid);
    mp_exit_gate_gone(tracees, tid, main_pid, hooks);
    if (tid != main_pid)
        return 0;
    if (WIFEXITED(status)) {
        result->exited = 1;
        result->exit_code = WEXITSTATUS(status);
    } else {
        result->signal = WTERMSIG(status);
        result->core_dumped = WCOREDUMP(status) ? 1 : 0;
    }
    return 1;
}

int mp_supervise(const struct mp_launch *launch, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    install_signal_handlers();
    double start = mp_now_seconds();
    pid_t pid;
    int rc = launch_target(launch, hooks, &pid, err, errlen);
    if (rc != 0)
        return rc;
    result->pid = pid;
    int main_done = 0;
    struct mp_tracees tracees;
    mp_tracees_init(&tracees, pid);
    for (;;) {
        int status;
        pid_t tid = mp_wait_any(&status, hooks, &tracees, pid);
        if (tid == 0)
            continue; /* held threads were let go */
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: nothing left to wait for */
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (mp_handle_end(tid, status, pid, hooks, result, &tracees)) {
                result->wall_seconds = mp_now_seconds() - start;
                main_done = 1;
                target_pid_for_signals = 0;
            }
            continue;
        }
        if (WIFSTOPPED(status))
            mp_handle_stop(tid, status, pid, hooks, result, &tracees);
    }
    mp_tracees_free(&tracees);
    if (!main_done) {
        snprintf(err, errlen, "memprof: lost track of the target (pid %d)", (int)pid);
        return 1;
    }
    return 0;
}
