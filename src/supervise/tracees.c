/* memprof: bookkeeping of the target's threads and of new child processes
 * (see tracees.h). */
#include "tracees.h"

#include <stdlib.h>
#include <string.h>

struct tid_key { const struct mp_tracees *t; pid_t tid; };

static int same_tid(const void *ctx, uint32_t id)
{
    const struct tid_key *k = ctx;
    return k->t->threads[id] == k->tid;
}

static void *grow(void *array, size_t *cap, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(array, n * elem);
    if (p)
        *cap = n;
    return p;
}

void mp_tracees_init(struct mp_tracees *t, pid_t main_pid)
{
    memset(t, 0, sizeof *t);
    mp_hashidx_init(&t->thread_index);
    mp_tracees_add_thread(t, main_pid);
}

void mp_tracees_free(struct mp_tracees *t)
{
    mp_hashidx_free(&t->thread_index);
    free(t->threads);
    free(t->announced);
    free(t->stopped);
    free(t->shared);
    free(t->held);
    free(t->past);
    memset(t, 0, sizeof *t);
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

void mp_tracees_add_thread(struct mp_tracees *t, pid_t tid)
{
    if (mp_tracees_is_thread(t, tid))
        return;
    /* Slots of removed threads are reused: threads[] holds 0 there. */
    size_t slot = t->n_threads;
    for (size_t i = 0; i < t->n_threads; i++)
        if (t->threads[i] == 0) {
            slot = i;
            break;
        }
    if (slot == t->n_threads) {
        if (t->n_threads == t->cap_threads) {
            pid_t *g = grow(t->threads, &t->cap_threads, sizeof *g);
            if (!g)
                return;
            t->threads = g;
        }
        t->n_threads++;
    }
    t->threads[slot] = tid;
    mp_hashidx_insert(&t->thread_index, mp_hash_u64((uint64_t)tid), (uint32_t)slot);
}

void mp_tracees_remove_thread(struct mp_tracees *t, pid_t tid)
{
    uint32_t id = find_thread(t, tid);
    if (id == UINT32_MAX)
        return;
    mp_hashidx_remove(&t->thread_index, mp_hash_u64((uint64_t)tid), id);
    t->threads[id] = 0;
}

void mp_tracees_exec(struct mp_tracees *t, pid_t main_pid)
{
    for (size_t i = 0; i < t->n_threads; i++)
        if (t->threads[i] && t->threads[i] != main_pid)
            mp_tracees_remove_thread(t, t->threads[i]);
    mp_tracees_add_thread(t, main_pid);
    t->n_held = t->n_past = 0;
    t->ending = 0;
}

int mp_tracees_announce(struct mp_tracees *t, pid_t pid, int kind)
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
    t->announced[t->n_announced++] = (struct pending){ pid, kind };
    return 0;
}

int mp_tracees_child_stopped(struct mp_tracees *t, pid_t pid, int *kind)
{
    for (size_t i = 0; i < t->n_announced; i++)
        if (t->announced[i].pid == pid) {
            *kind = t->announced[i].kind;
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

int mp_tracees_keep_shared(struct mp_tracees *t, pid_t pid)
{
    if (t->n_shared == t->cap_shared) {
        pid_t *g = grow(t->shared, &t->cap_shared, sizeof *g);
        if (!g)
            return -1;
        t->shared = g;
    }
    t->shared[t->n_shared++] = pid;
    return 0;
}

int mp_tracees_is_shared(const struct mp_tracees *t, pid_t pid)
{
    for (size_t i = 0; i < t->n_shared; i++)
        if (t->shared[i] == pid)
            return 1;
    return 0;
}

void mp_tracees_drop_shared(struct mp_tracees *t, pid_t pid)
{
    for (size_t i = 0; i < t->n_shared; i++)
        if (t->shared[i] == pid) {
            t->shared[i] = t->shared[--t->n_shared];
            return;
        }
}
