/* memprof: the live-block table's fallback for blocks that do not pack
 * (blocktab_wide.h). */
#include "blocktab_wide.h"
#include "blocktab.h"
#include "base/hashidx.h"

#include <stdlib.h>

static size_t home_of(const struct mp_widetab *t, uint64_t addr)
{
    return mp_hash_u64(addr) & t->mask;
}

void mp_widetab_free(struct mp_widetab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->count = 0;
}

struct mp_block *mp_widetab_find(const struct mp_widetab *t, uint64_t addr)
{
    if (!t->slots)
        return NULL;
    for (size_t i = home_of(t, addr);; i = (i + 1) & t->mask) {
        if (t->slots[i].addr == addr)
            return &t->slots[i];
        if (t->slots[i].addr == 0)
            return NULL;
    }
}

static int grow(struct mp_widetab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 64, mask = cap - 1;
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

int mp_widetab_insert(struct mp_widetab *t, const struct mp_block *b)
{
    if ((!t->slots || (t->count + 1) * 2 > t->mask + 1) && grow(t) != 0)
        return -1;
    size_t i = home_of(t, b->addr);
    while (t->slots[i].addr != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = *b;
    t->count++;
    return 0;
}

void mp_widetab_remove(struct mp_widetab *t, struct mp_block *hit)
{
    size_t hole = (size_t)(hit - t->slots);
    /* Backward-shift deletion: keep every probe chain unbroken. */
    for (size_t j = (hole + 1) & t->mask; t->slots[j].addr != 0; j = (j + 1) & t->mask) {
        size_t home = home_of(t, t->slots[j].addr);
        if (mp_probe_may_fill(hole, j, home)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].addr = 0;
    t->count--;
}

size_t mp_widetab_bytes(const struct mp_widetab *t)
{
    return t->slots ? (t->mask + 1) * sizeof *t->slots : 0;
}
