/* memprof: attaching to a running process (memprof -p PID) and leaving it.
 *
 * Attach: PTRACE_SEIZE every thread listed in /proc/PID/task (again until a
 * pass finds no new one: threads made meanwhile are followed through
 * TRACECLONE), PTRACE_INTERRUPT each, wait until every one has stopped, let
 * the hooks arm, resume each as it was (a signal it stopped with is
 * delivered).  Then the supervisor's usual loop, until the process exits,
 * memprof gets SIGINT/SIGTERM/SIGHUP, or the --duration timer fires.
 *
 * Detach: interrupt every thread again.  A thread can report its interrupt
 * while a SIGTRAP of ours is still queued for it (the kernel reports the
 * interrupt first): it is resumed so the trap is reported and handled, and
 * interrupted again.  Once all are stopped with nothing of ours pending,
 * the hooks restore the process and every thread is detached. */
#define _GNU_SOURCE
#include "supervisor_internal.h"
#include "exit_gate.h"
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t attached_pid;

/* The flag alone could be set just before the loop blocks in waitpid, and
 * an idle process would never wake it: interrupting the process makes it
 * report a stop, so waitpid returns whenever the signal came. */
static void request_stop(int sig)
{
    (void)sig;
    int saved = errno;
    stop_requested = 1;
    if (attached_pid > 0)
        ptrace(PTRACE_INTERRUPT, (pid_t)attached_pid, 0, 0);
    errno = saved;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGALRM };

/* No SA_RESTART: waitpid returns EINTR and the loop sees the request.
 * Installed before memprof seizes anything: a Ctrl-C during the setup lets
 * it finish, then memprof detaches at once; and they stay until every
 * thread is detached, so a second Ctrl-C (or a timeout's SIGTERM) cannot
 * kill memprof half-way through putting the process back. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
        sigaction(stop_signals[i], &sa, NULL);
}

static void start_duration_timer(double duration_s)
{
    if (duration_s > 0) {
        struct itimerval it;
        memset(&it, 0, sizeof it);
        it.it_value.tv_sec = (time_t)duration_s;
        it.it_value.tv_usec = (suseconds_t)((duration_s - (double)it.it_value.tv_sec) * 1e6);
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
            it.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

static void remove_stop_handlers(void)
{
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
        signal(stop_signals[i], SIG_DFL);
}

/* Why PTRACE_SEIZE was refused, as one line with the way out. */
static void explain_refusal(pid_t pid, int e, char *err, size_t errlen)
{
    uint64_t tracer = mp_proc_status_number(pid, "TracerPid");
    if (tracer) {
        char comm[64] = "?", path[64];
        snprintf(path, sizeof path, "/proc/%llu/comm", (unsigned long long)tracer);
        FILE *f = fopen(path, "re");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        snprintf(err, errlen, "memprof: process %d is already traced by process %llu (%s): detach that "
                 "debugger or tracer first", (int)pid, (unsigned long long)tracer, comm);
        return;
    }
    uint64_t uid = mp_proc_status_number(pid, "Uid");
    if (geteuid() != 0 && uid != (uint64_t)geteuid()) {
        snprintf(err, errlen, "memprof: process %d belongs to user %llu: run memprof as that user or as root",
                 (int)pid, (unsigned long long)uid);
        return;
    }
    int scope = -1;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (f) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = -1;
        fclose(f);
    }
    if (scope == 1)
        snprintf(err, errlen, "memprof: not permitted to attach to process %d: kernel.yama.ptrace_scope is 1 "
                 "(only a parent may trace): run memprof as root, or set the sysctl to 0", (int)pid);
    else if (scope == 2)
        snprintf(err, errlen, "memprof: not permitted to attach to process %d: kernel.yama.ptrace_scope is 2 "
                 "(administrators only): run memprof as root (CAP_SYS_PTRACE)", (int)pid);
    else if (scope == 3)
        snprintf(err, errlen, "memprof: not permitted to attach to process %d: kernel.yama.ptrace_scope is 3 "
                 "(no attaching until reboot)", (int)pid);
    else
        snprintf(err, errlen, "memprof: not permitted to attach to process %d (%s): run memprof as root or with "
                 "CAP_SYS_PTRACE (a setuid or non-dumpable process needs that)", (int)pid, strerror(e));
}

static const long attach_options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT |
                                   PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;

/* A process whose main thread has ended (a zombie thread-group leader:
 * pthread_exit in main, or the whole process exited and not yet reaped)
 * cannot be traced through its pid: ptrace refuses the leader, and its
 * memory is no longer reachable through /proc/PID.  1 with the reason. */
static int leader_has_ended(pid_t pid, char *err, size_t errlen)
{
    char *status = mp_proc_read(pid, "status");
    if (!status)
        return 0; /* seize_all says what is wrong */
    const char *state = strstr(status, "\nState:");
    if (state)
        state += strlen("\nState:") + strspn(state + strlen("\nState:"), " \t");
    int zombie = state && *state == 'Z'; /* "State:\tZ (zombie)" */
    free(status);
    if (!zombie)
        return 0;
    if (mp_proc_status_number(pid, "Threads") > 1)
        snprintf(err, errlen, "memprof: the main thread of process %d has ended (pthread_exit) while its other "
                 "threads run on: memprof cannot attach to it; profile the program from its start "
                 "(memprof PROGRAM)", (int)pid);
    else
        snprintf(err, errlen, "memprof: process %d has exited (a zombie its parent has not reaped): nothing to "
                 "attach to", (int)pid);
    return 1;
}

/* Seizes and interrupts every thread.  0, or 1 with the reason. */
static int seize_all(pid_t pid, struct mp_thread_set *ts, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    for (int added = 1; added;) {
        added = 0;
        DIR *d = opendir(path);
        if (!d) {
            snprintf(err, errlen, "memprof: process %d went away while memprof attached", (int)pid);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            pid_t tid = (pid_t)atoi(de->d_name);
            if (tid <= 0 || mp_thread_set_find(ts, tid) >= 0)
                continue;
            if (ptrace(PTRACE_SEIZE, tid, 0, attach_options) != 0) {
                if (errno == ESRCH)
                    continue; /* the thread just exited */
                int e = errno;
                closedir(d);
                if (ts->n == 0) {
                    if (!leader_has_ended(pid, err, errlen)) /* it may have ended just now */
                        explain_refusal(pid, e, err, errlen);
                    return 1;
                }
                snprintf(err, errlen, "memprof: cannot trace thread %d of process %d: %s", (int)tid, (int)pid,
                         strerror(e));
                return 1;
            }
            ptrace(PTRACE_INTERRUPT, tid, 0, 0);
            if (mp_thread_set_add(ts, tid) != 0) {
                closedir(d);
                snprintf(err, errlen, "memprof: out of memory");
                return 1;
            }
            added = 1;
        }
        closedir(d);
    }
    return 0;
}

int mp_supervise_attach(pid_t pid, double duration_s, const struct mp_supervisor_hooks *hooks,
                        struct mp_run_result *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    result->pid = pid;
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) {
        snprintf(err, errlen, "memprof: no process with pid %d: check the number (ps -e)", (int)pid);
        return 1;
    }
    if (pid == getpid() || mp_tgid_of(pid) != pid) {
        snprintf(err, errlen, "memprof: %d is not a process memprof can attach to: give the pid of a "
                 "process (its main thread), not memprof's own", (int)pid);
        return 1;
    }
    if (leader_has_ended(pid, err, errlen))
        return 1;
    double start = mp_now_seconds();
    struct mp_thread_set ts = { 0 };
    struct mp_sup sup;
    mp_sup_init(&sup, pid, hooks, result);
    sup.follow = 0; /* the children of an attached process are not followed */
    const pid_t pids[1] = { pid };
    stop_requested = 0;
    attached_pid = 0;
    install_stop_handlers();
    int rc = seize_all(pid, &ts, err, errlen);
    int gone = 0;
    if (rc == 0) {
        for (size_t i = 0; i < ts.n; i++)
            mp_tracees_add_thread(&sup.tracees, ts.tids[i], pid);
        gone = mp_wait_all_stopped(&sup, &ts, pids, 1, 0);
    }
    if (rc == 0 && !gone) {
        result->threads_at_attach = (int)ts.n;
        if (hooks && hooks->on_attach)
            hooks->on_attach(hooks->ctx, pid, ts.tids, ts.n);
        /* a stop asked for during the setup: straight to the detach, every
         * thread still stopped */
        int resumed = !stop_requested;
        if (resumed) {
            attached_pid = pid;
            start_duration_timer(duration_s);
            for (size_t i = 0; i < ts.n; i++) {
                ts.stopped[i] = 0;
                ptrace(PTRACE_CONT, ts.tids[i], 0, ts.resume_sig[i]);
            }
        }
        /* a process ending with its threads held at exit is let finish first */
        while (resumed && !gone && (!stop_requested || sup.gated)) {
            int status;
            pid_t tid = mp_wait_any(&sup, &status, 0);
            if (tid < 0) {
                if (errno == EINTR)
                    continue;
                gone = 1;
                break;
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                mp_thread_set_drop(&ts, tid);
                gone = mp_handle_end(&sup, tid, status);
                continue;
            }
            if (mp_thread_set_find(&ts, tid) < 0 && mp_tgid_of(tid) == pid)
                mp_thread_set_add(&ts, tid);
            mp_handle_stop(&sup, tid, status);
        }
        attached_pid = 0;
        if (!gone && hooks && hooks->on_leaving)
            hooks->on_leaving(hooks->ctx, pid);
        if (!gone && resumed) {
            for (size_t i = 0; i < ts.n; i++) {
                ts.stopped[i] = 0;
                ptrace(PTRACE_INTERRUPT, ts.tids[i], 0, 0);
            }
            gone = mp_wait_all_stopped(&sup, &ts, pids, 1, 1);
        }
        if (!gone) {
            if (hooks && hooks->on_detach)
                hooks->on_detach(hooks->ctx, pid, ts.tids, ts.n);
            for (size_t i = 0; i < ts.n; i++)
                ptrace(PTRACE_DETACH, ts.tids[i], 0, ts.resume_sig[i]);
            result->detached = 1;
        }
        result->wall_seconds = mp_now_seconds() - start;
    }
    if (rc != 0) /* refused half-way: let go of what was seized */
        for (size_t i = 0; i < ts.n; i++)
            ptrace(PTRACE_DETACH, ts.tids[i], 0, 0);
    remove_stop_handlers();
    mp_sup_free(&sup);
    mp_thread_set_free(&ts);
    return rc;
}
