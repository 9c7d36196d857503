/* memprof: holding a process's threads at their exit stops until all of
 * them are there (see exit_gate.h). */
#define _GNU_SOURCE
#include "exit_gate.h"
#include "supervisor_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GATE_TIMEOUT_S 5.0
#define EXEC_CHECK_S 0.01

static int push(pid_t **list, size_t *n, size_t *cap, pid_t tid)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        pid_t *g = realloc(*list, c * sizeof *g);
        if (!g)
            return -1;
        *list = g;
        *cap = c;
    }
    (*list)[(*n)++] = tid;
    return 0;
}

static int drop(pid_t *list, size_t *n, pid_t tid)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i] == tid) {
            list[i] = list[--*n];
            return 1;
        }
    return 0;
}

static int contains(const pid_t *list, size_t n, pid_t tid)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == tid)
            return 1;
    return 0;
}

/* Threads of the process that are neither held nor past their exit. */
static size_t threads_elsewhere(const struct mp_tracees *t, pid_t except)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_threads; i++) {
        pid_t tid = t->threads[i];
        if (tid && tid != except && !contains(t->held, t->n_held, tid) && !contains(t->past, t->n_past, tid))
            n++;
    }
    return n;
}

/* Resumes the held threads; they go on to die. */
static void release(struct mp_tracees *t)
{
    for (size_t i = 0; i < t->n_held; i++) {
        ptrace(PTRACE_CONT, t->held[i], 0, 0);
        if (push(&t->past, &t->n_past, &t->cap_past, t->held[i]) != 0)
            break; /* only the bookkeeping of a dying thread is lost */
    }
    t->n_held = 0;
}

static void fire_when_complete(struct mp_tracees *t, pid_t main_pid, const struct mp_supervisor_hooks *hooks)
{
    if (!t->n_held || threads_elsewhere(t, 0))
        return;
    hooks->on_exit_all(hooks->ctx, main_pid, t->held, t->n_held);
    release(t);
}

void mp_exit_gate_stop(struct mp_tracees *t, pid_t tid, pid_t main_pid, const struct mp_supervisor_hooks *hooks)
{
    if (!hooks || !hooks->on_exit_all) {
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
    errno = 0;
    long nr = ptrace(PTRACE_PEEKUSER, tid, offsetof(struct user, regs.orig_rax), 0);
    int alone = errno == 0 && nr == SYS_exit && !t->ending && threads_elsewhere(t, tid) > 0;
    if (alone || push(&t->held, &t->n_held, &t->cap_held, tid) != 0) {
        /* pthread_exit: the others live on (or no memory to hold it) */
        ptrace(PTRACE_CONT, tid, 0, 0);
        push(&t->past, &t->n_past, &t->cap_past, tid);
        return;
    }
    if (t->n_held == 1)
        t->held_since = mp_now_seconds();
    t->ending = 1;
    fire_when_complete(t, main_pid, hooks);
}

void mp_exit_gate_gone(struct mp_tracees *t, pid_t tid, pid_t main_pid, const struct mp_supervisor_hooks *hooks)
{
    drop(t->past, &t->n_past, tid);
    if (drop(t->held, &t->n_held, tid)) /* killed while held (SIGKILL from elsewhere) */
        return;
    if (hooks && hooks->on_exit_all)
        fire_when_complete(t, main_pid, hooks);
}

int mp_exit_gate_holding(const struct mp_tracees *t)
{
    return t->n_held > 0;
}

/* Some thread not yet held is inside execve: it waits for the others to be
 * gone, so they must not be held. */
static int exec_under_way(const struct mp_tracees *t, pid_t main_pid)
{
    for (size_t i = 0; i < t->n_threads; i++) {
        pid_t tid = t->threads[i];
        if (!tid || contains(t->held, t->n_held, tid) || contains(t->past, t->n_past, tid))
            continue;
        char path[64], buf[32] = "";
        snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)main_pid, (int)tid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
        long nr = strtol(buf, NULL, 10);
        if (buf[0] >= '0' && buf[0] <= '9' && (nr == SYS_execve || nr == SYS_execveat))
            return 1;
    }
    return 0;
}

pid_t mp_exit_gate_wait(struct mp_tracees *t, int *status, pid_t main_pid, const struct mp_supervisor_hooks *hooks)
{
    (void)hooks;
    double next_check = mp_now_seconds() + EXEC_CHECK_S;
    for (;;) {
        pid_t tid = waitpid(-1, status, __WALL | WNOHANG);
        if (tid != 0)
            return tid;
        double now = mp_now_seconds();
        if (now - t->held_since > GATE_TIMEOUT_S || (now >= next_check && exec_under_way(t, main_pid))) {
            release(t);
            t->ending = 0;
            return 0;
        }
        if (now >= next_check)
            next_check = now + EXEC_CHECK_S;
        struct timespec ts = { 0, 200 * 1000 };
        nanosleep(&ts, NULL);
    }
}
