/* memprof: the mapped-memory table (see regions.h).  A sorted array: binary
 * search, memmove to insert or delete.  Programs keep hundreds to a few
 * thousand mappings, so this stays cheap next to the system calls it
 * mirrors. */
#include "regions.h"
#include "base/bsearch_u64.h"

#include <stddef.h>

#include <stdlib.h>
#include <string.h>

void mp_regions_init(struct mp_regions *t)
{
    memset(t, 0, sizeof *t);
}

void mp_regions_free(struct mp_regions *t)
{
    free(t->r);
    memset(t, 0, sizeof *t);
}

/* The first region whose end is above addr. */
static size_t first_ending_after(const struct mp_regions *t, uint64_t addr)
{
    return mp_count_keys_at_or_below(t->r, t->n, sizeof *t->r, offsetof(struct mp_region, end), addr);
}

static int reserve(struct mp_regions *t, size_t more)
{
    if (t->n + more <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 64;
    while (cap < t->n + more)
        cap *= 2;
    struct mp_region *g = realloc(t->r, cap * sizeof *g);
    if (!g)
        return -1;
    t->r = g;
    t->cap = cap;
    return 0;
}

int mp_regions_add(struct mp_regions *t, uint64_t start, uint64_t len, uint32_t stack)
{
    if (len == 0)
        return 0;
    if (reserve(t, 1) != 0)
        return -1;
    size_t i = first_ending_after(t, start);
    memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof *t->r);
    t->r[i] = (struct mp_region){ start, start + len, stack };
    t->n++;
    return 0;
}

int mp_regions_remove(struct mp_regions *t, uint64_t start, uint64_t len,
                      void (*gone)(void *ctx, uint32_t stack, uint64_t bytes), void *ctx)
{
    uint64_t end = start + len < start ? UINT64_MAX : start + len;
    size_t i = first_ending_after(t, start);
    if (i < t->n && t->r[i].start < start && t->r[i].end > end) {
        /* a hole in the middle: one region becomes two */
        if (reserve(t, 1) != 0)
            return -1;
        memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof *t->r);
        t->n++;
        t->r[i].end = start;
        t->r[i + 1].start = end;
        gone(ctx, t->r[i].stack, end - start);
        return 0;
    }
    size_t first_dead = t->n, n_dead = 0;
    for (; i < t->n && t->r[i].start < end; i++) {
        struct mp_region *r = &t->r[i];
        uint64_t lo = r->start > start ? r->start : start, hi = r->end < end ? r->end : end;
        gone(ctx, r->stack, hi - lo);
        if (lo == r->start && hi == r->end) {
            if (!n_dead++)
                first_dead = i;
        } else if (lo == r->start) {
            r->start = hi;   /* its head went */
        } else {
            r->end = lo;     /* its tail went */
        }
    }
    if (n_dead) {
        memmove(&t->r[first_dead], &t->r[first_dead + n_dead], (t->n - first_dead - n_dead) * sizeof *t->r);
        t->n -= n_dead;
    }
    return 0;
}

uint64_t mp_regions_bytes_in(const struct mp_regions *t, uint64_t start, uint64_t len)
{
    uint64_t end = start + len < start ? UINT64_MAX : start + len, bytes = 0;
    for (size_t i = first_ending_after(t, start); i < t->n && t->r[i].start < end; i++) {
        uint64_t lo = t->r[i].start > start ? t->r[i].start : start;
        uint64_t hi = t->r[i].end < end ? t->r[i].end : end;
        bytes += hi - lo;
    }
    return bytes;
}
