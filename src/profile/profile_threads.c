/* memprof: the profile's per-thread counters: what each thread allocated
 * and freed, what its blocks hold, and what they held at the heap's peak.
 * Threads are kept in the order they were first seen, found by their
 * kernel thread id (a hash index, with the last one looked up cached:
 * consecutive events mostly come from one thread). */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>

struct tid_key {
    const struct mp_profile *p;
    uint32_t tid;
};

static int same_tid(const void *ctx, uint32_t id)
{
    const struct tid_key *k = ctx;
    return k->p->threads[id].s.tid == k->tid;
}

struct thread *mp_profile_thread_find(struct mp_profile *p, uint32_t tid)
{
    struct tid_key k = { p, tid };
    uint64_t hash = mp_hash_u64(tid);
    uint32_t id = mp_hashidx_find(&p->thread_index, hash, same_tid, &k);
    if (id == UINT32_MAX) {
        if (p->n_threads == p->cap_threads) {
            uint32_t cap = p->cap_threads;
            void *g = mp_profile_grow(p->threads, &cap, sizeof *p->threads);
            if (!g)
                return NULL;
            p->threads = g;
            if (mp_dirty_reserve(&p->dirty_threads, cap) != 0)
                return NULL;
            p->cap_threads = cap;
        }
        if (mp_hashidx_insert(&p->thread_index, hash, p->n_threads) != 0)
            return NULL;
        memset(&p->threads[p->n_threads], 0, sizeof *p->threads);
        p->threads[p->n_threads].s.tid = tid;
        id = p->n_threads++;
    }
    p->last_thread = id;
    return &p->threads[id];
}

void mp_profile_threads_free(struct mp_profile *p)
{
    free(p->threads);
    mp_hashidx_free(&p->thread_index);
}

size_t mp_profile_thread_count(const struct mp_profile *p)
{
    return p->n_threads;
}

const struct mp_thread_stats *mp_profile_thread(const struct mp_profile *p, size_t i)
{
    return &p->threads[i].s;
}

int mp_profile_restore_thread(struct mp_profile *p, const struct mp_thread_stats *t)
{
    if (p->n_threads == p->cap_threads) {
        uint32_t cap = p->cap_threads;
        void *g = mp_profile_grow(p->threads, &cap, sizeof *p->threads);
        if (!g)
            return -1;
        p->threads = g;
        p->cap_threads = cap;
    }
    memset(&p->threads[p->n_threads], 0, sizeof *p->threads);
    p->threads[p->n_threads++].s = *t;
    return 0;
}
