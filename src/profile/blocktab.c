/* memprof: live-block table (see blocktab.h). */
#include "blocktab.h"
#include "base/hashidx.h"

#include <stdlib.h>
#include <string.h>

void mp_blocktab_init(struct mp_blocktab *t)
{
    memset(t, 0, sizeof *t);
}

void mp_blocktab_free(struct mp_blocktab *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static size_t home_of(const struct mp_blocktab *t, uint64_t addr)
{
    return mp_hash_u64(addr) & t->mask;
}

struct mp_block *mp_blocktab_find(const struct mp_blocktab *t, uint64_t addr)
{
    if (addr == 0)
        return t->has_zero ? (struct mp_block *)&t->zero : NULL;
    if (!t->slots)
        return NULL;
    for (size_t i = home_of(t, addr);; i = (i + 1) & t->mask) {
        if (t->slots[i].addr == addr)
            return &t->slots[i];
        if (t->slots[i].addr == 0)
            return NULL;
    }
}

static int grow(struct mp_blocktab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 1024, mask = cap - 1;
    struct mp_block *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (t->slots[i].addr == 0)
            continue;
        size_t j = mp_hash_u64(t->slots[i].addr) & mask;
        while (slots[j].addr != 0)
            j = (j + 1) & mask;
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = mask;
    return 0;
}

int mp_blocktab_put(struct mp_blocktab *t, const struct mp_block *b, struct mp_block *replaced)
{
    if (b->addr == 0) {
        int had = t->has_zero;
        if (had)
            *replaced = t->zero;
        t->zero = *b;
        t->has_zero = 1;
        return had;
    }
    if ((!t->slots || (t->count + 1) * 2 > t->mask + 1) && grow(t) != 0)
        return -1;
    size_t i = home_of(t, b->addr);
    for (; t->slots[i].addr != 0; i = (i + 1) & t->mask) {
        if (t->slots[i].addr == b->addr) {
            *replaced = t->slots[i];
            t->slots[i] = *b;
            return 1;
        }
    }
    t->slots[i] = *b;
    t->count++;
    return 0;
}

int mp_blocktab_take(struct mp_blocktab *t, uint64_t addr, struct mp_block *out)
{
    struct mp_block *hit = mp_blocktab_find(t, addr);
    if (!hit)
        return 0;
    *out = *hit;
    if (addr == 0) {
        t->has_zero = 0;
        return 1;
    }
    size_t hole = (size_t)(hit - t->slots);
    /* Backward-shift deletion: keep every probe chain unbroken. */
    for (size_t j = (hole + 1) & t->mask; t->slots[j].addr != 0; j = (j + 1) & t->mask) {
        size_t home = home_of(t, t->slots[j].addr);
        int movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].addr = 0;
    t->count--;
    return 1;
}

void mp_blocktab_each(const struct mp_blocktab *t, void (*fn)(void *ctx, const struct mp_block *b), void *ctx)
{
    if (t->has_zero)
        fn(ctx, &t->zero);
    for (size_t i = 0; t->slots && i <= t->mask; i++)
        if (t->slots[i].addr != 0)
            fn(ctx, &t->slots[i]);
}

void mp_blocktab_prefetch(const struct mp_blocktab *t, uint64_t addr)
{
    if (t->slots)
        __builtin_prefetch(&t->slots[home_of(t, addr)]);
}
