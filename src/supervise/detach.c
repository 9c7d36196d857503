/* memprof: stopping every thread of some traced processes and letting them
 * go, leaving them as they were: for memprof -p (attach.c) and for the
 * processes a launched target left running (--wait-children=no, or Ctrl-C
 * while memprof waits for them).
 *
 * A thread can report its interrupt while a SIGTRAP of ours is still queued
 * for it (the kernel reports the interrupt first): it is resumed so the
 * trap is reported and handled, and interrupted again.  Once all are
 * stopped with nothing of ours pending, the hooks restore each process and
 * every thread is detached with the signal it stopped with. */
#define _GNU_SOURCE
#include "supervisor_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

long mp_thread_set_find(const struct mp_thread_set *ts, pid_t tid)
{
    for (size_t i = 0; i < ts->n; i++)
        if (ts->tids[i] == tid)
            return (long)i;
    return -1;
}

int mp_thread_set_add(struct mp_thread_set *ts, pid_t tid)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        pid_t *t = realloc(ts->tids, cap * sizeof *t);
        if (t)
            ts->tids = t;
        int *s = realloc(ts->stopped, cap * sizeof *s);
        if (s)
            ts->stopped = s;
        int *r = realloc(ts->resume_sig, cap * sizeof *r);
        if (r)
            ts->resume_sig = r;
        if (!t || !s || !r)
            return -1;
        ts->cap = cap;
    }
    ts->tids[ts->n] = tid;
    ts->stopped[ts->n] = 0;
    ts->resume_sig[ts->n] = 0;
    ts->n++;
    return 0;
}

void mp_thread_set_drop(struct mp_thread_set *ts, pid_t tid)
{
    long i = mp_thread_set_find(ts, tid);
    if (i < 0)
        return;
    ts->n--;
    ts->tids[i] = ts->tids[ts->n];
    ts->stopped[i] = ts->stopped[ts->n];
    ts->resume_sig[i] = ts->resume_sig[ts->n];
}

void mp_thread_set_free(struct mp_thread_set *ts)
{
    free(ts->tids);
    free(ts->stopped);
    free(ts->resume_sig);
    memset(ts, 0, sizeof *ts);
}

static int all_stopped(const struct mp_thread_set *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        if (!ts->stopped[i])
            return 0;
    return 1;
}

/* A SIGTRAP pending for tid: 1 when it is the thread's own (our INT3s
 * raise it for the thread alone), 2 when only the process has one (sent
 * by kill: any thread may take it), 0 when none. */
static int sigtrap_pending(pid_t tid)
{
    char path[96], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int pending = 0, blocked = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long mask;
        if (sscanf(line, "SigPnd: %llx", &mask) == 1 && (mask & (1ull << (SIGTRAP - 1))))
            pending = 1;
        else if (!pending && sscanf(line, "ShdPnd: %llx", &mask) == 1 && (mask & (1ull << (SIGTRAP - 1))))
            pending = 2;
        else if (sscanf(line, "SigBlk: %llx", &mask) == 1 && (mask & (1ull << (SIGTRAP - 1))))
            blocked = 1;
    }
    fclose(f);
    /* A SIGTRAP this thread blocks (one the program sent itself: ours are
     * forced, never blocked) is not taken while it stays blocked: no
     * signal-delivery stop would come back, and waiting for one would wait
     * for good.  The thread is stopped: that is all the detach needs. */
    return blocked ? 0 : pending;
}

static int in_pids(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return 1;
    return 0;
}

int mp_wait_all_stopped(struct mp_sup *sup, struct mp_thread_set *ts, const pid_t *pids, size_t n_pids,
                        int leaving)
{
    while (!all_stopped(ts)) {
        int status;
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            mp_thread_set_drop(ts, tid);
            if (mp_handle_end(sup, tid, status))
                return 1;
            continue;
        }
        long i = mp_thread_set_find(ts, tid);
        if (i < 0) {
            struct mp_tproc *p = mp_tracees_proc_of_thread(&sup->tracees, tid);
            pid_t tgid = p ? p->pid : mp_tgid_of(tid);
            if (tgid != tid && in_pids(pids, n_pids, tgid)) {
                /* a thread made meanwhile: it stops on its own */
                mp_tracees_add_thread(&sup->tracees, tid, tgid);
                if (mp_thread_set_add(ts, tid) != 0)
                    return 1;
                i = (long)ts->n - 1;
            }
        }
        int event = status >> 16, sig = WSTOPSIG(status);
        if (i < 0 || (leaving && event != PTRACE_EVENT_STOP)) {
            mp_handle_stop(sup, tid, status); /* resumes it */
            if (i >= 0 && mp_tracees_is_thread(&sup->tracees, tid))
                ptrace(PTRACE_INTERRUPT, tid, 0, 0);
            else if (i >= 0)
                mp_thread_set_drop(ts, tid); /* let go meanwhile (exec of a process not followed) */
            continue;
        }
        int trap = leaving ? sigtrap_pending(tid) : 0;
        if (trap) {
            /* let the trap be reported and handled: its signal-delivery
             * stop comes back here (above), which interrupts the thread
             * again.  Not interrupted at once: the kernel reports an
             * interrupt before it takes a pending signal, so an interrupt
             * sent before the thread ran again was reported again with the
             * trap still pending, round after round (memprof spun forever
             * in the detach, seen once in the attach + SIGINT storm). */
            ptrace(PTRACE_CONT, tid, 0, 0);
            if (trap == 2) /* the process's: another thread may take it */
                ptrace(PTRACE_INTERRUPT, tid, 0, 0);
            continue;
        }
        ts->stopped[i] = 1;
        ts->resume_sig[i] = event == 0 ? sig : 0; /* a signal-delivery-stop keeps its signal */
        if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
            /* a child made just now: let the usual handler deal with it */
            mp_handle_stop(sup, tid, status);
            ts->stopped[i] = 0;
            ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        }
    }
    return 0;
}

struct collect { struct mp_sup *sup; pid_t *pids; size_t n, cap; struct mp_thread_set *ts; int failed; };

static void collect_process(void *ctx, struct mp_tproc *p)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        pid_t *g = realloc(c->pids, cap * sizeof *g);
        if (!g) {
            c->failed = 1;
            return;
        }
        c->pids = g;
        c->cap = cap;
    }
    c->pids[c->n++] = p->pid;
    pid_t tids[4096];
    size_t n = mp_tracees_threads_of(&c->sup->tracees, p->pid, tids, sizeof tids / sizeof *tids);
    for (size_t i = 0; i < n; i++) {
        if (mp_thread_set_add(c->ts, tids[i]) != 0)
            c->failed = 1;
        ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
    }
}

void mp_detach_all(struct mp_sup *sup)
{
    sup->follow = 0; /* children made from now on are let go at once */
    struct mp_thread_set ts = { 0 };
    struct collect c = { .sup = sup, .ts = &ts };
    mp_tracees_each_process(&sup->tracees, collect_process, &c);
    mp_wait_all_stopped(sup, &ts, c.pids, c.n, 1);
    const struct mp_supervisor_hooks *h = sup->hooks;
    for (size_t k = 0; k < c.n; k++) {
        if (!mp_tracees_proc(&sup->tracees, c.pids[k]))
            continue; /* ended meanwhile */
        pid_t tids[4096];
        int sigs[4096];
        size_t n = 0;
        for (size_t i = 0; i < ts.n && n < sizeof tids / sizeof *tids; i++) {
            struct mp_tproc *p = mp_tracees_proc_of_thread(&sup->tracees, ts.tids[i]);
            if (p && p->pid == c.pids[k] && ts.stopped[i]) {
                tids[n] = ts.tids[i];
                sigs[n++] = ts.resume_sig[i];
            }
        }
        struct mp_tproc *p = mp_tracees_proc(&sup->tracees, c.pids[k]);
        if (p->mm_owner == p->pid && h && h->on_detach)
            h->on_detach(h->ctx, c.pids[k], tids, n);
        for (size_t i = 0; i < n; i++)
            ptrace(PTRACE_DETACH, tids[i], 0, sigs[i]);
        mp_tracees_remove_process(&sup->tracees, c.pids[k]);
    }
    free(c.pids);
    mp_thread_set_free(&ts);
}
