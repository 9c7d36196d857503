/* memprof: the profile's leak kinds: the live blocks handed to the
 * reachability scan (sorted by address, by the block table), the scan's
 * verdict summed per stack and in the totals, and the suppression matched
 * by each stack. */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct mp_live_block) <= sizeof(struct mp_block), "narrowed in place");

struct mp_live_block *mp_profile_live_blocks(const struct mp_profile *p, size_t *n, int *failed)
{
    struct mp_block *sorted = mp_blocktab_sorted(&p->blocks, n, failed);
    if (!sorted)
        return NULL;
    /* the same memory, narrowed in place: an mp_live_block is no bigger */
    struct mp_live_block *live = (struct mp_live_block *)sorted;
    for (size_t i = 0; i < *n; i++) {
        struct mp_block b = sorted[i];
        live[i] = (struct mp_live_block){ b.addr, b.size, b.stack };
    }
    return live;
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
