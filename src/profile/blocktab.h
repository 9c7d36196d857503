/* memprof: the live-block table: block address -> (size, stack, thread), the
 * profile's hottest structure (one probe per allocation and per free) and
 * what memprof's own memory grows with.
 *
 * A block takes one 16-byte slot: its address (47 bits) and its thread's
 * index (16 bits) in one word, its size and stack id in the other.  Open
 * addressing, linear probing, backward-shift deletion; the table doubles at
 * 80% load into a new one, walked front to back (an entry's new home is
 * twice its old one), with the old one's pages given back as the walk
 * leaves them: it holds 20-40 bytes per live block, and never more than the
 * doubled table while it grows.  Tables of 2 MiB and more are mapped on
 * huge pages (MADV_HUGEPAGE): growing faults in 2 MiB at a time instead of
 * 4 KiB.
 * Thread indexes are reused once their threads hold no block, so only a
 * program with more than 65,535 threads holding blocks at once needs more.
 * Blocks that do not pack (an address at or above 2^47, a size of 4 GiB or
 * more, a thread beyond those 65,535) go to a side table (blocktab_wide.h). */
#ifndef MEMPROF_BLOCKTAB_H
#define MEMPROF_BLOCKTAB_H

#include <stddef.h>
#include <stdint.h>
#include "base/hashidx.h"
#include "blocktab_wide.h"

struct mp_block {
    uint64_t addr;
    uint64_t size;
    uint32_t stack;
    uint32_t tid;
};

struct mp_packed_block {
    uint64_t key;        /* address | thread index << 48; 0 marks an empty slot */
    uint32_t size;
    uint32_t stack;
};

/* All-zero is an empty table (mp_blocktab_init does just that). */
struct mp_blocktab {
    struct mp_packed_block *slots;
    size_t mask;         /* capacity - 1 */
    size_t count;        /* packed blocks */
    size_t mapped_bytes; /* slots come from mmap (0: from malloc) */
    uint32_t *tids;      /* thread index -> tid */
    uint32_t *thread_blocks; /* thread index -> its packed blocks (UINT32_MAX: index free) */
    uint32_t n_tids, cap_tids;
    uint32_t *free_threads;  /* indexes given back (their threads hold no block) */
    uint32_t n_free_threads;
    struct mp_hashidx tid_index;
    uint32_t last_tid, last_thread;  /* the thread seen last */
    int last_valid;
    struct mp_widetab wide;          /* blocks that do not pack */
    struct mp_block zero;            /* the block at address 0, if has_zero (no
                                        allocator returns it, but engines may report it) */
    int has_zero;
};

void mp_blocktab_init(struct mp_blocktab *t);
void mp_blocktab_free(struct mp_blocktab *t);
/* The block at addr: 1 and *out filled, or 0. */
int mp_blocktab_get(const struct mp_blocktab *t, uint64_t addr, struct mp_block *out);
/* Inserts a block; if addr is already present, *replaced receives the old
 * entry and it is overwritten (returns 1).  0 when newly inserted, -1 on ENOMEM. */
int mp_blocktab_put(struct mp_blocktab *t, const struct mp_block *b, struct mp_block *replaced);
/* Removes addr; 1 and *out filled when it was there, else 0. */
int mp_blocktab_take(struct mp_blocktab *t, uint64_t addr, struct mp_block *out);
/* Live blocks in the table. */
size_t mp_blocktab_count(const struct mp_blocktab *t);
/* Bytes of memory the table holds (slots, thread ids, side table). */
size_t mp_blocktab_bytes(const struct mp_blocktab *t);

/* Starts loading addr's home slot into the cache (a hint, no effect on
 * the contents): the reader calls it a few records ahead. */
void mp_blocktab_prefetch(const struct mp_blocktab *t, uint64_t addr);

/* Every live block (packed, wide and at address 0), sorted by address, in
 * an array the caller frees; NULL when there is none (*n 0) or on ENOMEM
 * (*failed 1).  The reachability scan's list of blocks. */
struct mp_block *mp_blocktab_sorted(const struct mp_blocktab *t, size_t *n, int *failed);

/* Calls fn for every live block (order unspecified). */
void mp_blocktab_each(const struct mp_blocktab *t, void (*fn)(void *ctx, const struct mp_block *b), void *ctx);

#endif
