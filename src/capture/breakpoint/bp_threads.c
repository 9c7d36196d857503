/* memprof: the breakpoint engine's thread table (tid -> the allocator call
 * the thread is in) and the state of those calls: open, returned through a
 * stub, or abandoned.  A leaf of the engine: arming (bp_arm.c) and hits
 * (bpengine.c) use it; it uses neither. */
#define _GNU_SOURCE
#include "bpengine_internal.h"
#include "events/ring_reader.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ---- */

struct thread_key {
    const struct mp_bpengine *e;
    pid_t tid;
};

static int thread_eq(const void *ctx, uint32_t id)
{
    const struct thread_key *k = ctx;
    return k->e->threads[id].tid == k->tid;
}

struct bp_thread *bp_thread_find(struct mp_bpengine *e, pid_t tid)
{
    struct thread_key k = { e, tid };
    uint32_t id = mp_hashidx_find(&e->thread_index, mp_hash_u64((uint64_t)tid), thread_eq, &k);
    return id == UINT32_MAX ? NULL : &e->threads[id];
}

struct bp_thread *bp_thread_get(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread *t = bp_thread_find(e, tid);
    if (t)
        return t;
    uint32_t id;
    if (e->n_free_ids) {
        id = e->free_ids[--e->n_free_ids];
    } else {
        if (e->n_threads == e->cap_threads) {
            uint32_t cap = e->cap_threads ? e->cap_threads * 2 : 16;
            struct bp_thread *grown = realloc(e->threads, cap * sizeof *grown);
            uint32_t *ids = realloc(e->free_ids, cap * sizeof *ids);
            if (grown)
                e->threads = grown;
            if (ids)
                e->free_ids = ids;
            if (!grown || !ids)
                return NULL;
            e->cap_threads = cap;
        }
        id = e->n_threads++;
    }
    if (mp_hashidx_insert(&e->thread_index, mp_hash_u64((uint64_t)tid), id) != 0) {
        e->free_ids[e->n_free_ids++] = id;
        return NULL;
    }
    t = &e->threads[id];
    memset(t, 0, offsetof(struct bp_thread, frames));
    t->tid = tid;
    return t;
}

void bp_thread_forget(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread *t = bp_thread_find(e, tid);
    if (!t)
        return;
    if (bp_call_open(e, t)) {
        e->stats.abandoned++; /* it died inside an allocator call */
        bp_slot_abandon(e, t);
    }
    uint32_t id = (uint32_t)(t - e->threads);
    mp_hashidx_remove(&e->thread_index, mp_hash_u64((uint64_t)tid), id);
    t->tid = 0;
    e->free_ids[e->n_free_ids++] = id;
}

void bp_threads_clear(struct mp_bpengine *e)
{
    mp_hashidx_free(&e->thread_index);
    mp_hashidx_init(&e->thread_index);
    e->n_threads = e->n_free_ids = 0;
}

/* ---- calls ---- */

/* A realloc whose FREE position was reserved but whose stub will not run:
 * the block is taken as freed (realloc runs on without us). */
void bp_release_free_pos(struct mp_bpengine *e, uint64_t free_pos, pid_t tid, uint64_t block)
{
    if (!free_pos)
        return;
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = (uint32_t)tid, .pid = (uint32_t)e->pid, .addr = block };
    mp_ring_reader_commit_reserved(e->ring, free_pos - 1, &ev);
}

void bp_slot_abandon(struct mp_bpengine *e, struct bp_thread *t)
{
    if (t->map_pos) { /* a mapped-memory call's reserved position: nothing happened */
        mp_ring_reader_commit_reserved(e->ring, t->map_pos - 1, NULL);
        t->map_pos = 0;
    }
    if (t->slot < 0)
        return;
    struct mp_stub_slot *k = &e->inproc.slots[t->slot];
    bp_release_free_pos(e, k->free_pos, t->tid, k->free_addr);
    k->free_pos = 0;
    mp_bp_inproc_release_slot(&e->inproc, t->slot);
}

/* Is the thread still inside the allocator call we saw it enter? */
int bp_call_open(struct mp_bpengine *e, struct bp_thread *t)
{
    if (!t->pending)
        return 0;
    if (t->slot < 0)
        return 1; /* its return comes through a trap: pending until then */
    const struct mp_stub_slot *k = &e->inproc.slots[t->slot];
    if (__atomic_load_n(&k->busy, __ATOMIC_ACQUIRE) && k->entry_sp == t->entry_sp && k->tid == (uint32_t)t->tid &&
        k->ret == t->ret)
        return 1;
    /* the stub ran: the call is over (the slot may hold a later call of
     * the thread's that a fast entry recorded, at the same stack pointer
     * even, but then to another return address, or to the same one: the
     * same call as far as a detach is concerned) */
    t->pending = 0;
    return 0;
}
