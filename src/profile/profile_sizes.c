/* memprof: the profile's size views: the histogram of requested sizes
 * (power-of-two buckets, calls and bytes) and the largest single
 * allocations (the MP_LARGEST_KEPT largest distinct (size, stack) pairs,
 * with how many calls made each and how many of those blocks are live).
 *
 * Both are O(1) memory.  The common case costs one compare: once the list
 * is full, an allocation smaller than its smallest entry is not looked at
 * again (and a free of such a block neither); the others find their entry
 * through a small hash index of the list (a scan of the list took 32
 * compares for each allocation and free of a size kept there). */
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

#define INDEX_SLOTS (sizeof ((struct mp_profile *)0)->largest_index)
_Static_assert(INDEX_SLOTS > MP_LARGEST_KEPT && (INDEX_SLOTS & (INDEX_SLOTS - 1)) == 0 && MP_LARGEST_KEPT < 255,
               "the index has a free slot, a power of two of them, and entry + 1 fits a byte");

/* Where (size, stack) starts its probe in the index. */
static unsigned index_home(uint32_t stack, uint64_t size)
{
    uint64_t h = (size ^ (uint64_t)stack << 40) * UINT64_C(0x9E3779B97F4A7C15);
    return (unsigned)(h >> (64 - __builtin_ctz(INDEX_SLOTS))); /* the top bits */
}

static void index_entries(struct mp_profile *p)
{
    memset(p->largest_index, 0, sizeof p->largest_index);
    for (uint32_t i = 0; i < p->n_largest; i++) {
        unsigned h = index_home(p->largest[i].stack, p->largest[i].size);
        while (p->largest_index[h])
            h = (h + 1) & (INDEX_SLOTS - 1);
        p->largest_index[h] = (uint8_t)(i + 1);
    }
}

static uint32_t find_entry(const struct mp_profile *p, uint32_t stack, uint64_t size)
{
    for (unsigned h = index_home(stack, size);; h = (h + 1) & (INDEX_SLOTS - 1)) {
        unsigned e = p->largest_index[h];
        if (e == 0)
            return UINT32_MAX;
        if (p->largest[e - 1].stack == stack && p->largest[e - 1].size == size)
            return e - 1;
    }
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
        index_entries(p);
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
    index_entries(p);
    if (p->n_largest == MP_LARGEST_KEPT)
        p->largest_min = find_min(p);
    return 0;
}
