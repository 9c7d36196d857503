/* memprof: the ptrace supervisor: launch, the event loop, signals, job
 * control.
 *
 * Launch: fork; the child waits on a pipe until the parent has seized it with
 * PTRACE_SEIZE, then execv's the program (exec errors come back through a
 * close-on-exec pipe).  Threads are followed (TRACECLONE); child processes
 * are followed when the hooks ask for it, else attached only until
 * breakpoints are out of their memory and detached, and run as they would
 * without memprof (sup_events.c).  Signals that are not ours are
 * re-injected; group-stops are answered with PTRACE_LISTEN, and a
 * job-control stop of the target stops memprof too, so the shell sees the
 * job stop and `fg` resumes both.  Signals sent to memprof by another
 * process are forwarded to the target; those the terminal sends reach the
 * target by themselves.  Once the target has ended, SIGINT, SIGTERM or
 * SIGHUP to memprof lets the processes it still follows go. */
#define _GNU_SOURCE
#include "supervisor_internal.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t target_pid_for_signals;
static volatile sig_atomic_t stop_waiting; /* after the target ended: let the rest go */
volatile sig_atomic_t mp_top_exiting;        /* its last thread reached its exit stop (sup_events.c) */

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
    /* The target ended, or is ending: its last thread stopped at its exit,
     * where memprof may hold it a while (its records drained, its leaks
     * scanned) before it is reaped; a signal forwarded then is lost in its
     * exit, and was meant for memprof's wait for the rest of the tree. */
    if ((target_pid_for_signals == 0 || mp_top_exiting) && (sig == SIGINT || sig == SIGTERM || sig == SIGHUP))
        stop_waiting = 1;
}

/* memprof itself got a job-control signal: it came from the terminal or was
 * sent to the whole process group, so when the target stops for it the shell
 * expects the job (memprof) to stop too.  A signal sent to the target alone
 * leaves memprof running, as it would leave the shell's job running. */
volatile sig_atomic_t mp_job_stop_seen;

static void ignore_job_control(int sig)
{
    mp_job_stop_seen = sig;
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

/* The child side of the launch: never returns. */
static void run_child(const struct mp_launch *launch, int go_fd, int err_fd)
{
    char go;
    restore_default_signals();
    while (read(go_fd, &go, 1) < 0 && errno == EINTR)
        ;
    close(go_fd);
    if (launch->no_aslr) {
        /* as gdb does: a program whose memory use depends on addresses
         * (Python hashes objects by address) then repeats exactly */
        int persona = personality(0xffffffff);
        if (persona != -1)
            personality((unsigned long)persona | ADDR_NO_RANDOMIZE);
    }
    execve(launch->path, launch->argv, launch->envp);
    int e = errno;
    while (write(err_fd, &e, sizeof e) < 0 && errno == EINTR)
        ;
    _exit(e == ENOENT ? 127 : 126);
}

/* A job-control stop of the target: stop memprof with the same signal so the
 * shell sees the job stop the usual way; `fg` (SIGCONT) resumes both. */
void mp_stop_like_the_target(int sig);
void mp_stop_like_the_target(int sig)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &old);
    raise(sig); /* returns after SIGCONT */
    sigaction(sig, &old, NULL);
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

/* Followed processes still there, and children made just before the
 * target ended that are not offered yet. */
static size_t count_followed(struct mp_sup *sup)
{
    size_t n = sup->tracees.n_announced + sup->tracees.n_stopped;
    for (size_t i = 0; i < sup->tracees.n_procs; i++)
        if (sup->tracees.procs[i].pid && sup->tracees.procs[i].followed)
            n++;
    return n;
}

int mp_supervise(const struct mp_launch *launch, const struct mp_supervisor_hooks *hooks,
                 struct mp_run_result *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    stop_waiting = 0;
    mp_top_exiting = 0;
    install_signal_handlers();
    double start = mp_now_seconds();
    pid_t pid;
    int rc = launch_target(launch, hooks, &pid, err, errlen);
    if (rc != 0)
        return rc;
    result->pid = pid;
    struct mp_sup sup;
    mp_sup_init(&sup, pid, hooks, result);
    int letting_go = 0;
    for (;;) {
        if (sup.main_done && !letting_go && stop_waiting) {
            letting_go = 1;
            mp_release_exits(&sup, 1);
            mp_detach_all(&sup);
            continue;
        }
        int status;
        pid_t tid = mp_wait_any(&sup, &status, sup.main_done);
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: nothing left to wait for */
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (mp_handle_end(&sup, tid, status)) {
                result->wall_seconds = mp_now_seconds() - start;
                target_pid_for_signals = 0;
                size_t remaining = count_followed(&sup);
                if (remaining && hooks && hooks->on_top_end && !hooks->on_top_end(hooks->ctx, remaining))
                    stop_waiting = 1;
            }
            continue;
        }
        if (WIFSTOPPED(status))
            mp_handle_stop(&sup, tid, status);
    }
    int main_done = sup.main_done;
    mp_sup_free(&sup);
    if (!main_done) {
        snprintf(err, errlen, "memprof: lost track of the target (pid %d)", (int)pid);
        return 1;
    }
    return 0;
}
