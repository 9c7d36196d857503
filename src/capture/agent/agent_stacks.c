/* memprof agent: the process's table of stacks it already named to memprof.
 *
 * Most allocations come from a few thousand distinct stacks.  The first
 * time a stack is seen, the agent gives it an id and names it to memprof
 * in an MP_REC_STACK record (ring.h); every allocation from it afterwards
 * is an MP_REC_ALLOC_ID record: one cache line, no frames copied by the
 * program or hashed again by memprof.
 *
 * Shared by the process's threads, without locks: open addressing with
 * linear probing, insert only.  A thread that finds a free entry claims it
 * (compare-and-swap 0 -> 1), fills it, reserves its STACK record in the
 * ring and only then publishes the entry (its key, with release order).
 * So any thread that finds the stack reserves its ALLOC_ID record after
 * the STACK record's position: memprof, reading in position order, always
 * knows the id first.  A thread that meets an entry being filled passes
 * it by (at worst the stack gets a second id).  When the probes, the ids
 * or the pool of return addresses run out, stacks travel whole, as before.
 *
 * The table is the program's memory: a program that writes over it can
 * make its own stacks wrong, never make the agent read outside the table
 * (the frame count and the pool index are checked before use).
 *
 * fork: the mapping is MADV_WIPEONFORK, so a child (a new process for
 * memprof, whose records start with its HELLO) starts with an empty
 * table and ids from 1. */
#define _GNU_SOURCE
#include "agent_stacks.h"

#include <string.h>
#include <sys/mman.h>

#define KEY_FREE 0
#define KEY_FILLING 1
#define KEY_ABANDONED 2
#define KEY_SET (1ull << 63)

size_t agent_stacks_bytes(void)
{
    return (sizeof(struct agent_stack_table) + 4095) & ~(size_t)4095;
}

struct agent_stack_table *agent_stacks_create(void)
{
    size_t bytes = agent_stacks_bytes();
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (madvise(map, bytes, MADV_WIPEONFORK) != 0) {
        munmap(map, bytes);
        return NULL;
    }
    return map;
}

uint64_t agent_stack_hash(const uint64_t *frames, uint32_t n, uint32_t truncated)
{
    uint64_t h = AGENT_STACK_HASH_SEED;
    for (uint32_t i = n; i-- > 0;)
        h = agent_stack_hash_step(h, frames[i]);
    return agent_stack_hash_end(h, n, truncated);
}

static int entry_holds(const struct agent_stack_table *t, const struct agent_stack_entry *e, const uint64_t *frames,
                       uint32_t n, uint32_t truncated)
{
    uint32_t first = e->first;
    if (e->nframes != n || e->truncated != truncated || first > AGENT_STACK_POOL - n)
        return 0;
    /* word by word: a few dozen frames at most, mostly equal (a call to
     * memcmp cost more than the comparison) */
    const uint64_t *kept = &t->pool[first];
    uint64_t differ = 0;
    for (uint32_t i = 0; i < n; i++)
        differ |= kept[i] ^ frames[i];
    return differ == 0;
}

/* This thread holds entry e (FILLING): fill it.  0 when no id or no room
 * in the pool is left (the entry is given up). */
static int fill(struct agent_stack_table *t, struct agent_stack_entry *e, const uint64_t *frames, uint32_t n,
                uint32_t truncated)
{
    uint32_t id = atomic_load_explicit(&t->ids_given, memory_order_relaxed);
    uint32_t first = atomic_load_explicit(&t->pool_used, memory_order_relaxed);
    if (id + 1 >= AGENT_STACK_IDS || first > AGENT_STACK_POOL - n)
        return 0; /* full: checked first, so the counters never run far past the end */
    id = atomic_fetch_add_explicit(&t->ids_given, 1, memory_order_relaxed) + 1;
    first = atomic_fetch_add_explicit(&t->pool_used, n, memory_order_relaxed);
    if (id >= AGENT_STACK_IDS || first > AGENT_STACK_POOL - n)
        return 0;
    memcpy(&t->pool[first], frames, n * sizeof *frames);
    e->id = id;
    e->nframes = (uint16_t)n;
    e->truncated = (uint16_t)truncated;
    e->first = first;
    return 1;
}

uint32_t agent_stacks_find(struct agent_stack_table *t, const uint64_t *frames, uint32_t n, uint32_t truncated,
                           uint64_t hash, struct agent_stack_claim *claim)
{
    claim->entry = NULL;
    if (n > AGENT_STACK_MAX_FRAMES)
        return 0;
    uint64_t key = hash | KEY_SET;
    for (uint32_t probe = 0; probe < AGENT_STACK_PROBES; probe++) {
        struct agent_stack_entry *e = &t->entries[(hash + probe) & (AGENT_STACK_SLOTS - 1)];
        uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
        if (k == KEY_FREE) {
            if (!atomic_compare_exchange_strong_explicit(&e->key, &k, KEY_FILLING, memory_order_acquire,
                                                         memory_order_acquire)) {
                /* another thread took it meanwhile: maybe for this stack */
                if (k == key && entry_holds(t, e, frames, n, truncated))
                    return e->id;
                continue;
            }
            if (!fill(t, e, frames, n, truncated)) {
                atomic_store_explicit(&e->key, KEY_ABANDONED, memory_order_release);
                return 0;
            }
            claim->entry = e;
            claim->key = key;
            return 0;
        }
        if (k == key && entry_holds(t, e, frames, n, truncated))
            return e->id;
    }
    return 0;
}

void agent_stacks_publish(struct agent_stack_claim *claim)
{
    atomic_store_explicit(&claim->entry->key, claim->key, memory_order_release);
}

void agent_stacks_abandon(struct agent_stack_claim *claim)
{
    atomic_store_explicit(&claim->entry->key, KEY_ABANDONED, memory_order_release);
}
