/* memprof: the profile's size views: the histogram of requested sizes
 * (power-of-two buckets, calls and bytes) and the largest single
 * allocations (the MP_LARGEST_KEPT largest distinct (size, stack) pairs,
 * with how many calls made each and how many of those blocks are live).
 *
 * Both are O(1) memory.  The common case costs one compare: once the list
 * is full, an allocation smaller than its smallest entry is not looked at
 * again (and a free of such a block neither); a stack remembers where its
 * last entry is, so a loop of same-sized big blocks finds it at once. */
#include "profile_internal.h"

#include <string.h>

/* The smallest entry of a full list (the first one of the smallest size). */
static uint32_t find_min(const struct mp_profile *p)
{
    uint32_t m = 0;
    for (uint32_t i = 1; i < p->n_largest; i++)
        if (p->largest[i].size < p->largest[m].size)
            m = i;
    return m;
}

static int below_list(const struct mp_profile *p, uint64_t size)
{
    return p->n_largest == MP_LARGEST_KEPT && size < p->largest[p->largest_min].size;
}

static uint32_t find_entry(struct mp_profile *p, uint32_t stack, uint64_t size)
{
    uint32_t h = p->stacks[stack].largest_hint;
    if (h < p->n_largest && p->largest[h].stack == stack && p->largest[h].size == size)
        return h;
    for (uint32_t i = 0; i < p->n_largest; i++)
        if (p->largest[i].stack == stack && p->largest[i].size == size) {
            p->stacks[stack].largest_hint = i;
            return i;
        }
    return UINT32_MAX;
}

void mp_profile_sizes_alloc(struct mp_profile *p, uint32_t stack, uint64_t size)
{
    struct mp_size_bucket *b = &p->sizes[mp_size_bucket_of(size)];
    b->calls++;
    b->bytes += size;
    if (below_list(p, size))
        return;
    uint32_t i = find_entry(p, stack, size);
    if (i == UINT32_MAX) {
        if (p->n_largest < MP_LARGEST_KEPT)
            i = p->n_largest++;
        else if (size > p->largest[p->largest_min].size)
            i = p->largest_min; /* pushed out: it can never come back (the smallest only grows) */
        else
            return; /* as big as the smallest kept: that one stays */
        p->largest[i] = (struct mp_largest){ size, stack, 0, 0 };
        p->stacks[stack].largest_hint = i;
        if (p->n_largest == MP_LARGEST_KEPT)
            p->largest_min = find_min(p);
    }
    p->largest[i].calls++;
    p->largest[i].live_blocks++;
}

void mp_profile_sizes_release(struct mp_profile *p, uint32_t stack, uint64_t size)
{
    if (below_list(p, size))
        return;
    uint32_t i = find_entry(p, stack, size);
    if (i != UINT32_MAX && p->largest[i].live_blocks)
        p->largest[i].live_blocks--;
}

struct mp_size_bucket *mp_profile_restore_histogram(struct mp_profile *p)
{
    return p->sizes;
}

int mp_profile_restore_largest(struct mp_profile *p, const struct mp_largest *e)
{
    if (p->n_largest == MP_LARGEST_KEPT || e->stack >= p->n_stacks)
        return -1;
    p->largest[p->n_largest++] = *e;
    if (p->n_largest == MP_LARGEST_KEPT)
        p->largest_min = find_min(p);
    return 0;
}
