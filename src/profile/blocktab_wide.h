/* memprof: the live-block table's fallback for the blocks its packed slots
 * cannot hold (an address above 2^47, a size of 4 GiB or more, a thread
 * beyond the 65,535th): whole struct mp_block entries, open addressing,
 * linear probing, backward-shift deletion, growth at 50% load.  Rarely
 * holds anything. */
#ifndef MEMPROF_BLOCKTAB_WIDE_H
#define MEMPROF_BLOCKTAB_WIDE_H

#include <stddef.h>
#include <stdint.h>

struct mp_block;

struct mp_widetab {
    struct mp_block *slots;  /* addr 0 marks an empty slot (the caller keeps address 0) */
    size_t mask;             /* capacity - 1 */
    size_t count;
};

/* All-zero is an empty table. */
void mp_widetab_free(struct mp_widetab *t);
/* The entry for addr (never 0), or NULL. */
struct mp_block *mp_widetab_find(const struct mp_widetab *t, uint64_t addr);
/* Inserts b (b->addr not in the table yet).  0, or -1 on ENOMEM. */
int mp_widetab_insert(struct mp_widetab *t, const struct mp_block *b);
/* Removes the entry `hit` points at (from mp_widetab_find). */
void mp_widetab_remove(struct mp_widetab *t, struct mp_block *hit);
/* Bytes of memory the table holds. */
size_t mp_widetab_bytes(const struct mp_widetab *t);

#endif
