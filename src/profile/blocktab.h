/* memprof: the live-block table: block address -> (size, stack), the
 * profile's hottest structure (one probe per allocation and per free).
 * Open addressing with the entries inline, linear probing, backward-shift
 * deletion, growth at 50% load. */
#ifndef MEMPROF_BLOCKTAB_H
#define MEMPROF_BLOCKTAB_H

#include <stddef.h>
#include <stdint.h>

struct mp_block {
    uint64_t addr;   /* 0 marks an empty slot; a block at address 0 lives in `zero` */
    uint64_t size;
    uint32_t stack;
    uint32_t tid;
};

struct mp_blocktab {
    struct mp_block *slots;
    size_t mask;     /* capacity - 1 */
    size_t count;
    struct mp_block zero; /* the block at address 0, if has_zero (no allocator
                             returns it, but engines may report it) */
    int has_zero;
};

void mp_blocktab_init(struct mp_blocktab *t);
void mp_blocktab_free(struct mp_blocktab *t);
/* The block at addr, or NULL. */
struct mp_block *mp_blocktab_find(const struct mp_blocktab *t, uint64_t addr);
/* Inserts a block; if addr is already present, *replaced receives the old
 * entry and it is overwritten (returns 1).  0 when newly inserted, -1 on ENOMEM. */
int mp_blocktab_put(struct mp_blocktab *t, const struct mp_block *b, struct mp_block *replaced);
/* Removes addr; 1 and *out filled when it was there, else 0. */
int mp_blocktab_take(struct mp_blocktab *t, uint64_t addr, struct mp_block *out);

/* Starts loading addr's home slot into the cache (a hint, no effect on
 * the contents): the reader calls it a few records ahead. */
void mp_blocktab_prefetch(const struct mp_blocktab *t, uint64_t addr);

/* Calls fn for every live block (order unspecified). */
void mp_blocktab_each(const struct mp_blocktab *t, void (*fn)(void *ctx, const struct mp_block *b), void *ctx);

#endif
