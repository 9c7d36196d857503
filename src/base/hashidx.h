/* memprof: an open-addressing index from 64-bit hashes to 32-bit item ids.
 * The caller owns the items and decides equality; the index only stores
 * (hash, id) pairs, grows at 50% load and deletes by backward shift. */
#ifndef MEMPROF_HASHIDX_H
#define MEMPROF_HASHIDX_H

#include <stddef.h>
#include <stdint.h>

struct mp_hashidx {
    uint64_t *hashes;
    uint32_t *ids;     /* UINT32_MAX: empty */
    size_t mask;       /* capacity - 1 */
    size_t count;
};

typedef int (*mp_hashidx_eq)(const void *ctx, uint32_t id);

void mp_hashidx_init(struct mp_hashidx *h);
void mp_hashidx_free(struct mp_hashidx *h);
/* The id whose hash matches and eq(ctx, id) accepts, or UINT32_MAX. */
uint32_t mp_hashidx_find(const struct mp_hashidx *h, uint64_t hash, mp_hashidx_eq eq, const void *ctx);
/* Adds (hash, id); the caller made sure it is not there yet.  -1 on ENOMEM. */
int mp_hashidx_insert(struct mp_hashidx *h, uint64_t hash, uint32_t id);
/* Removes the entry (hash, id) if present. */
void mp_hashidx_remove(struct mp_hashidx *h, uint64_t hash, uint32_t id);

uint64_t mp_hash_bytes(const void *data, size_t len);

/* Backward-shift deletion in a linear-probing table: may the entry at slot
 * j, whose home slot is `home`, move back into the hole at `hole` (indexes
 * wrapping at the table's end)? */
static inline int mp_probe_may_fill(size_t hole, size_t j, size_t home)
{
    return hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
}
static inline uint64_t mp_hash_u64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
