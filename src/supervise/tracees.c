/* memprof: the traced threads and processes (see tracees.h). */
#include "tracees.h"

#include <stdlib.h>
#include <string.h>

static void *grow(void *array, size_t *cap, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(array, n * elem);
    if (p)
        *cap = n;
    return p;
}

/* ---- processes ---- */

struct pid_key { const struct mp_tracees *t; pid_t pid; };

static int same_proc(const void *ctx, uint32_t id)
{
    const struct pid_key *k = ctx;
    return k->t->procs[id].pid == k->pid;
}

static uint32_t find_proc(const struct mp_tracees *t, pid_t pid)
{
    struct pid_key k = { t, pid };
    return mp_hashidx_find(&t->proc_index, mp_hash_u64((uint64_t)pid), same_proc, &k);
}

struct mp_tproc *mp_tracees_proc(struct mp_tracees *t, pid_t pid)
{
    uint32_t id = find_proc(t, pid);
    return id == UINT32_MAX ? NULL : &t->procs[id];
}

int mp_tracees_add_process(struct mp_tracees *t, pid_t pid, pid_t mm_owner, int followed)
{
    if (find_proc(t, pid) != UINT32_MAX)
        return 0;
    size_t slot = t->n_procs;
    for (size_t i = 0; i < t->n_procs; i++)
        if (t->procs[i].pid == 0) {
            slot = i;
            break;
        }
    if (slot == t->n_procs) {
        if (t->n_procs == t->cap_procs) {
            struct mp_tproc *g = grow(t->procs, &t->cap_procs, sizeof *g);
            if (!g)
                return -1;
            t->procs = g;
        }
        t->n_procs++;
    }
    if (mp_hashidx_insert(&t->proc_index, mp_hash_u64((uint64_t)pid), (uint32_t)slot) != 0) {
        if (slot == t->n_procs - 1)
            t->n_procs--;
        return -1;
    }
    t->procs[slot] = (struct mp_tproc){ .pid = pid, .mm_owner = mm_owner, .followed = (uint8_t)followed };
    t->live_procs++;
    mp_tracees_add_thread(t, pid, pid);
    return 0;
}

void mp_tracees_remove_process(struct mp_tracees *t, pid_t pid)
{
    uint32_t id = find_proc(t, pid);
    if (id == UINT32_MAX)
        return;
    for (size_t i = 0; i < t->n_threads; i++)
        if (t->threads[i].tid && t->threads[i].proc == id)
            mp_tracees_remove_thread(t, t->threads[i].tid, 1);
    mp_hashidx_remove(&t->proc_index, mp_hash_u64((uint64_t)pid), id);
    free(t->procs[id].gate);
    memset(&t->procs[id], 0, sizeof t->procs[id]);
    t->live_procs--;
}

void mp_tracees_each_process(struct mp_tracees *t, void (*fn)(void *ctx, struct mp_tproc *p), void *ctx)
{
    for (size_t i = 0; i < t->n_procs; i++)
        if (t->procs[i].pid)
            fn(ctx, &t->procs[i]);
}

/* ---- threads ---- */

struct tid_key { const struct mp_tracees *t; pid_t tid; };

static int same_tid(const void *ctx, uint32_t id)
{
    const struct tid_key *k = ctx;
    return k->t->threads[id].tid == k->tid;
}

static uint32_t find_thread(const struct mp_tracees *t, pid_t tid)
{
    struct tid_key k = { t, tid };
    return mp_hashidx_find(&t->thread_index, mp_hash_u64((uint64_t)tid), same_tid, &k);
}

int mp_tracees_is_thread(const struct mp_tracees *t, pid_t tid)
{
    return find_thread(t, tid) != UINT32_MAX;
}

struct mp_tproc *mp_tracees_proc_of_thread(struct mp_tracees *t, pid_t tid)
{
    uint32_t id = find_thread(t, tid);
    return id == UINT32_MAX ? NULL : &t->procs[t->threads[id].proc];
}

void mp_tracees_add_thread(struct mp_tracees *t, pid_t tid, pid_t pid)
{
    uint32_t proc = find_proc(t, pid);
    if (proc == UINT32_MAX || find_thread(t, tid) != UINT32_MAX)
        return;
    size_t slot;
    if (t->n_free_threads) {
        slot = t->free_threads[--t->n_free_threads];
    } else {
        if (t->n_threads == t->cap_threads) {
            struct tthread *g = grow(t->threads, &t->cap_threads, sizeof *g);
            if (!g)
                return;
            t->threads = g;
        }
        slot = t->n_threads++;
    }
    if (mp_hashidx_insert(&t->thread_index, mp_hash_u64((uint64_t)tid), (uint32_t)slot) != 0) {
        t->threads[slot].tid = 0;
        return;
    }
    t->threads[slot] = (struct tthread){ tid, proc, 0 };
    t->procs[proc].live_threads++;
}

void mp_tracees_remove_thread(struct mp_tracees *t, pid_t tid, int quiet)
{
    uint32_t id = find_thread(t, tid);
    if (id == UINT32_MAX)
        return;
    struct mp_tproc *p = &t->procs[t->threads[id].proc];
    if (!quiet && !t->threads[id].at_exit && p->live_threads)
        p->live_threads--; /* it died without an exit stop (SIGKILL) */
    mp_hashidx_remove(&t->thread_index, mp_hash_u64((uint64_t)tid), id);
    t->threads[id].tid = 0;
    if (t->n_free_threads == t->cap_free_threads) {
        uint32_t *g = grow(t->free_threads, &t->cap_free_threads, sizeof *g);
        if (!g)
            return; /* the slot is lost, nothing else */
        t->free_threads = g;
    }
    t->free_threads[t->n_free_threads++] = id;
}

int mp_tracees_thread_exiting(struct mp_tracees *t, pid_t tid)
{
    uint32_t id = find_thread(t, tid);
    if (id == UINT32_MAX || t->threads[id].at_exit)
        return 0;
    struct mp_tproc *p = &t->procs[t->threads[id].proc];
    t->threads[id].at_exit = 1;
    if (p->live_threads)
        p->live_threads--;
    return p->live_threads == 0;
}

void mp_tracees_exec(struct mp_tracees *t, pid_t pid, pid_t former)
{
    uint32_t proc = find_proc(t, pid);
    if (proc == UINT32_MAX)
        return;
    /* every other thread is gone (they report their deaths, or, the former
     * leader, not at all); the exec'ing thread took the pid */
    if (former != pid)
        mp_tracees_remove_thread(t, former, 1);
    for (size_t i = 0; i < t->n_threads; i++)
        if (t->threads[i].tid && t->threads[i].proc == proc && t->threads[i].tid != pid)
            mp_tracees_remove_thread(t, t->threads[i].tid, 1);
    uint32_t id = find_thread(t, pid);
    if (id == UINT32_MAX)
        mp_tracees_add_thread(t, pid, pid);
    else
        t->threads[id].at_exit = 0; /* the old leader's exit stop (execve killed it) is not the new one's */
    t->procs[proc].live_threads = 1;
}

size_t mp_tracees_threads_of(const struct mp_tracees *t, pid_t pid, pid_t *out, size_t max)
{
    uint32_t proc = find_proc(t, pid);
    size_t n = 0;
    for (size_t i = 0; proc != UINT32_MAX && i < t->n_threads && n < max; i++)
        if (t->threads[i].tid && t->threads[i].proc == proc)
            out[n++] = t->threads[i].tid;
    return n;
}

/* ---- new child processes ---- */

void mp_tracees_init(struct mp_tracees *t, pid_t main_pid)
{
    memset(t, 0, sizeof *t);
    mp_hashidx_init(&t->thread_index);
    mp_hashidx_init(&t->proc_index);
    mp_tracees_add_process(t, main_pid, main_pid, 1);
}

void mp_tracees_free(struct mp_tracees *t)
{
    mp_hashidx_free(&t->thread_index);
    mp_hashidx_free(&t->proc_index);
    free(t->threads);
    free(t->free_threads);
    for (size_t i = 0; i < t->n_procs; i++)
        free(t->procs[i].gate);
    free(t->procs);
    free(t->announced);
    free(t->stopped);
    memset(t, 0, sizeof *t);
}

int mp_tracees_announce(struct mp_tracees *t, pid_t pid, pid_t parent, int kind, uint64_t order)
{
    for (size_t i = 0; i < t->n_stopped; i++)
        if (t->stopped[i] == pid) {
            t->stopped[i] = t->stopped[--t->n_stopped];
            return 1;
        }
    if (t->n_announced == t->cap_announced) {
        struct pending *g = grow(t->announced, &t->cap_announced, sizeof *g);
        if (!g)
            return 0;
        t->announced = g;
    }
    t->announced[t->n_announced++] = (struct pending){ pid, parent, kind, order };
    return 0;
}

int mp_tracees_child_stopped(struct mp_tracees *t, pid_t pid, pid_t *parent, int *kind, uint64_t *order)
{
    for (size_t i = 0; i < t->n_announced; i++)
        if (t->announced[i].pid == pid) {
            *kind = t->announced[i].kind;
            *parent = t->announced[i].parent;
            *order = t->announced[i].order;
            t->announced[i] = t->announced[--t->n_announced];
            return 1;
        }
    if (t->n_stopped == t->cap_stopped) {
        pid_t *g = grow(t->stopped, &t->cap_stopped, sizeof *g);
        if (!g)
            return 0;
        t->stopped = g;
    }
    t->stopped[t->n_stopped++] = pid;
    return 0;
}
