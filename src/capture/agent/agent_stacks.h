/* memprof agent: the process's table of stacks it already named to memprof
 * (see agent_stacks.c).  Self-contained (no ring, no libunwind): the tests
 * build it on its own. */
#ifndef MEMPROF_AGENT_STACKS_H
#define MEMPROF_AGENT_STACKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_STACK_IDS (1u << 15)         /* ids given stay below it (ring.h: MP_RING_STACK_IDS) */
#define AGENT_STACK_SLOTS (1u << 16)       /* entries: a power of two, at most half of them used */
#define AGENT_STACK_POOL (1u << 20)        /* return addresses kept, all stacks together (8 MiB) */
#define AGENT_STACK_PROBES 32              /* entries looked at for one stack */
#define AGENT_STACK_MAX_FRAMES 48          /* MP_MAX_FRAMES */

struct agent_stack_entry {
    _Atomic uint64_t key;  /* 0 free, 1 being filled, 2 given up, else the stack's hash with the top bit set */
    uint32_t id;
    uint16_t nframes;
    uint16_t truncated;
    uint32_t first;        /* its first return address in the pool */
    uint32_t unused;
};

struct agent_stack_table {
    _Atomic uint32_t ids_given;   /* the last id given (ids start at 1) */
    _Atomic uint32_t pool_used;   /* return addresses of the pool handed out */
    struct agent_stack_entry entries[AGENT_STACK_SLOTS];
    uint64_t pool[AGENT_STACK_POOL];
};

/* A new stack's entry, claimed by the calling thread and filled, not yet
 * visible to the others (agent_stacks_publish / _abandon). */
struct agent_stack_claim {
    struct agent_stack_entry *entry;
    uint64_t key;
};

/* The table in its own private mapping (MAP_NORESERVE: pages are touched
 * as stacks arrive) that a child made by fork or clone() without CLONE_VM
 * gets zeroed (MADV_WIPEONFORK): empty, ids from 1 again (all of it is in
 * the mapping: all zero is an empty table).  NULL when the kernel cannot
 * (then stacks travel whole). */
struct agent_stack_table *agent_stacks_create(void);
size_t agent_stacks_bytes(void);

/* A stack's hash: its frames folded from the outermost in (so a walk that
 * keeps the fold of each frame and the frames above it has the hash of
 * any inner part at hand: agent_stack_hash_step, then _end), then the
 * frame count and truncation mixed in. */
#define AGENT_STACK_HASH_SEED 0x9e3779b97f4a7c15ull
static inline uint64_t agent_stack_hash_step(uint64_t h, uint64_t frame)
{
    h = (h ^ frame) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 31);
}
static inline uint64_t agent_stack_hash_end(uint64_t h, uint32_t n, uint32_t truncated)
{
    h ^= ((uint64_t)n << 1 | truncated) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
uint64_t agent_stack_hash(const uint64_t *frames, uint32_t n, uint32_t truncated);

/* The id of this stack (hash: agent_stack_hash of it) when it was named
 * before.  Else 0: and if claim->entry is set, this thread holds a new
 * entry with id claim->entry->id for it, which it must name to memprof
 * first and then publish (or abandon); when claim->entry is NULL the table
 * has no room (or no id) left for it: send it whole. */
uint32_t agent_stacks_find(struct agent_stack_table *t, const uint64_t *frames, uint32_t n, uint32_t truncated,
                           uint64_t hash, struct agent_stack_claim *claim);
/* Other threads find the claimed stack from now on. */
void agent_stacks_publish(struct agent_stack_claim *claim);
/* The stack could not be named (the ring took no record): the entry is
 * never found. */
void agent_stacks_abandon(struct agent_stack_claim *claim);

#endif
