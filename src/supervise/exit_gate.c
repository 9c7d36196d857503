/* memprof: holding a process's threads at their exit stops until all of
 * them are there (see exit_gate.h). */
#define _GNU_SOURCE
#include "exit_gate.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>

#define GATE_TIMEOUT_S 5.0
#define EXEC_CHECK_S 0.01

static int held(const struct mp_tproc *p, pid_t tid)
{
    for (size_t i = 0; i < p->n_gate; i++)
        if (p->gate[i] == tid)
            return 1;
    return 0;
}

/* Resumes the held threads; they go on to die. */
static void release(struct mp_sup *sup, struct mp_tproc *p)
{
    for (size_t i = 0; i < p->n_gate; i++)
        ptrace(PTRACE_CONT, p->gate[i], 0, 0);
    if (p->n_gate)
        sup->gated--;
    p->n_gate = 0;
}

int mp_exit_gate_hold(struct mp_sup *sup, struct mp_tproc *p, pid_t tid)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    if (!h || !h->on_exit_all || !p->followed)
        return 0;
    errno = 0;
    long nr = ptrace(PTRACE_PEEKUSER, tid, offsetof(struct user, regs.orig_rax), 0);
    if (errno == 0 && nr == SYS_exit && !p->ending)
        return 0; /* pthread_exit: the others live on */
    if (p->n_gate == p->cap_gate) {
        size_t cap = p->cap_gate ? 2 * p->cap_gate : 16;
        pid_t *g = realloc(p->gate, cap * sizeof *g);
        if (!g)
            return 0; /* not held: only its registers are missed */
        p->gate = g;
        p->cap_gate = cap;
    }
    if (p->n_gate == 0) {
        sup->gated++;
        p->gate_since = p->gate_checked = mp_now_seconds();
    }
    p->gate[p->n_gate++] = tid;
    p->ending = 1;
    return 1;
}

void mp_exit_gate_complete(struct mp_sup *sup, struct mp_tproc *p, pid_t last)
{
    const struct mp_supervisor_hooks *h = sup->hooks;
    if (h && h->on_exit_all && p->followed && (last || p->n_gate)) {
        size_t n = p->n_gate + (last != 0);
        pid_t *tids = malloc(n * sizeof *tids);
        if (tids) {
            if (p->n_gate)
                memcpy(tids, p->gate, p->n_gate * sizeof *tids);
            if (last)
                tids[p->n_gate] = last;
            h->on_exit_all(h->ctx, p->pid, tids, n);
            free(tids);
        }
    }
    release(sup, p);
    p->ending = 0;
}

void mp_exit_gate_gone(struct mp_sup *sup, struct mp_tproc *p, pid_t tid)
{
    for (size_t i = 0; i < p->n_gate; i++)
        if (p->gate[i] == tid) { /* killed while held (SIGKILL from elsewhere) */
            p->gate[i] = p->gate[--p->n_gate];
            if (!p->n_gate)
                sup->gated--;
            return;
        }
    if (p->n_gate && p->live_threads == 0)
        mp_exit_gate_complete(sup, p, 0); /* the one that was missing died without its exit stop */
}

/* Some thread of p not held is inside execve: it waits for the others to
 * be gone, so they must not be held. */
static int exec_under_way(struct mp_sup *sup, const struct mp_tproc *p)
{
    pid_t tids[256];
    size_t n = mp_tracees_threads_of(&sup->tracees, p->pid, tids, sizeof tids / sizeof *tids);
    for (size_t i = 0; i < n; i++) {
        if (held(p, tids[i]))
            continue;
        char path[64], buf[32] = "";
        snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)p->pid, (int)tids[i]);
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

void mp_exit_gate_poll(struct mp_sup *sup, struct mp_tproc *p, int all)
{
    if (!p->n_gate)
        return;
    double now = mp_now_seconds();
    int check = now - p->gate_checked >= EXEC_CHECK_S;
    if (check)
        p->gate_checked = now;
    if (all || now - p->gate_since > GATE_TIMEOUT_S || (check && exec_under_way(sup, p))) {
        release(sup, p);
        p->ending = 0;
    }
}

void mp_exit_gate_clear(struct mp_sup *sup, struct mp_tproc *p)
{
    if (p->n_gate)
        sup->gated--;
    p->n_gate = 0;
    p->ending = 0;
}
