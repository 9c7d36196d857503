/* memprof: the profile's leak kinds: the live blocks handed to the
 * reachability scan (sorted by address), the scan's verdict summed per
 * stack and in the totals, and the suppression matched by each stack. */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>

struct block_list {
    struct mp_live_block *v;
    size_t n;
};

static void collect_block(void *ctx, const struct mp_block *b)
{
    struct block_list *l = ctx;
    l->v[l->n++] = (struct mp_live_block){ b->addr, b->size, b->stack };
}

/* LSD radix sort by address, 11 bits a pass, passes where every address has
 * the same digit skipped: a million blocks in a few milliseconds (qsort
 * took 0.2 s). */
static int sort_by_address(struct mp_live_block *v, size_t n)
{
    struct mp_live_block *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return -1;
    struct mp_live_block *from = v, *to = tmp;
    for (unsigned shift = 0; shift < 64 && n; shift += 11) {
        size_t count[2048] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[(from[i].addr >> shift) & 2047]++;
        if (count[(from[0].addr >> shift) & 2047] == n)
            continue;
        size_t pos = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i].addr >> shift) & 2047]++] = from[i];
        struct mp_live_block *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof *v);
    free(tmp);
    return 0;
}

struct mp_live_block *mp_profile_live_blocks(const struct mp_profile *p, size_t *n, int *failed)
{
    *failed = 0;
    *n = 0;
    size_t count = mp_blocktab_count(&p->blocks);
    if (count == 0)
        return NULL;
    struct block_list l = { malloc(count * sizeof *l.v), 0 };
    if (!l.v) {
        *failed = 1;
        return NULL;
    }
    mp_blocktab_each(&p->blocks, collect_block, &l);
    if (sort_by_address(l.v, l.n) != 0) {
        free(l.v);
        *failed = 1;
        return NULL;
    }
    *n = l.n;
    return l.v;
}

void mp_profile_set_leak_kinds(struct mp_profile *p, const struct mp_live_block *blocks, const uint8_t *kinds,
                               size_t n)
{
    memset(p->totals.leak_bytes, 0, sizeof p->totals.leak_bytes);
    memset(p->totals.leak_blocks, 0, sizeof p->totals.leak_blocks);
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        memset(p->stacks[i].info.leak_bytes, 0, sizeof p->stacks[i].info.leak_bytes);
        memset(p->stacks[i].info.leak_blocks, 0, sizeof p->stacks[i].info.leak_blocks);
    }
    for (size_t i = 0; i < n; i++) {
        int k = kinds[i] < MP_LEAK_KINDS ? kinds[i] : MP_LEAK_REACHABLE;
        struct mp_stack_info *st = &p->stacks[blocks[i].stack].info;
        st->leak_bytes[k] += blocks[i].size;
        st->leak_blocks[k]++;
        p->totals.leak_bytes[k] += blocks[i].size;
        p->totals.leak_blocks[k]++;
    }
    p->totals.leaks_classified = 1;
}

void mp_profile_suppress_stack(struct mp_profile *p, size_t i, const char *rule)
{
    if (i < p->n_stacks)
        p->stacks[i].info.suppressed = mp_strtab_intern(&p->strings, rule);
}
