/* memprof: where frees were called.  An engine may give a FREE event one
 * frame: the return address of the free (or realloc) call.  Each distinct
 * address is resolved once, like a stack's frames, to the innermost user
 * frame of its inline chain: the line that called free.  Frees called from
 * runtime code (operator delete in libstdc++, a libc function) have no
 * such line. */
#include "profile_internal.h"

#include <stdlib.h>

#define MAX_INLINE_DEPTH 16

struct site_key {
    const struct mp_profile *p;
    uint64_t pc;
};

static int same_pc(const void *ctx, uint32_t id)
{
    const struct site_key *k = ctx;
    return k->p->free_sites[id].pc == k->pc;
}

static uint32_t resolve_site(struct mp_profile *p, uint64_t pc)
{
    struct mp_frame_info info[MAX_INLINE_DEPTH];
    if (!p->resolve)
        return UINT32_MAX;
    int n = p->resolve(p->resolve_ctx, pc, 1, info, MAX_INLINE_DEPTH);
    for (int i = 0; i < n; i++)
        if (!info[i].is_runtime)
            return mp_profile_line_for_frame(p, &info[i]);
    return UINT32_MAX;
}

uint32_t mp_profile_free_site_line(struct mp_profile *p, uint64_t pc)
{
    /* frees come in runs from one place (a loop that frees): the last one first */
    if (p->n_free_sites && p->free_sites[p->last_free_site].pc == pc)
        return p->free_sites[p->last_free_site].line;
    struct site_key k = { p, pc };
    uint64_t hash = mp_hash_u64(pc);
    uint32_t id = mp_hashidx_find(&p->free_site_index, hash, same_pc, &k);
    if (id != UINT32_MAX) {
        p->last_free_site = id;
        return p->free_sites[id].line;
    }
    if (p->n_free_sites == p->cap_free_sites) {
        void *g = mp_profile_grow(p->free_sites, &p->cap_free_sites, sizeof *p->free_sites);
        if (!g)
            return UINT32_MAX;
        p->free_sites = g;
    }
    uint32_t line = resolve_site(p, pc);
    if (mp_hashidx_insert(&p->free_site_index, hash, p->n_free_sites) != 0)
        return line;
    p->last_free_site = p->n_free_sites;
    p->free_sites[p->n_free_sites++] = (struct free_site){ pc, line };
    return line;
}

void mp_profile_free_sites_free(struct mp_profile *p)
{
    free(p->free_sites);
    mp_hashidx_free(&p->free_site_index);
}

void mp_profile_free_sites_forget(struct mp_profile *p, uint64_t lo, uint64_t hi)
{
    for (uint32_t i = 0; i < p->n_free_sites; i++) {
        struct free_site *f = &p->free_sites[i];
        if (f->pc > lo && f->pc <= hi) { /* a return address: the call is at pc - 1 */
            mp_hashidx_remove(&p->free_site_index, mp_hash_u64(f->pc), i);
            f->pc = 0; /* found by no address any more */
        }
    }
}
