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

static int by_address(const void *a, const void *b)
{
    const struct mp_live_block *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
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
    qsort(l.v, l.n, sizeof *l.v, by_address);
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
