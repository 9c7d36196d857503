/* memprof: live-block table (see blocktab.h). */
#define _GNU_SOURCE
#include "blocktab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ADDR_BITS 47
#define ADDR_MASK ((UINT64_C(1) << ADDR_BITS) - 1)
#define THREAD_SHIFT 48
#define MAX_THREADS 0xffffu                  /* thread indexes 0 .. MAX_THREADS - 1 */
#define NO_THREAD UINT32_MAX
#define FIRST_CAPACITY 1024
#define MAPPED_FROM (2u << 20)               /* tables this big live in their own mapping */

void mp_blocktab_init(struct mp_blocktab *t)
{
    memset(t, 0, sizeof *t);
}

static void release_slots(struct mp_blocktab *t)
{
    if (t->mapped_bytes)
        munmap(t->slots, t->mapped_bytes);
    else
        free(t->slots);
}

void mp_blocktab_free(struct mp_blocktab *t)
{
    release_slots(t);
    free(t->tids);
    free(t->thread_blocks);
    free(t->free_threads);
    mp_hashidx_free(&t->tid_index);
    mp_widetab_free(&t->wide);
    memset(t, 0, sizeof *t);
}

/* ---- threads ------------------------------------------------------------- */

struct tid_key {
    const struct mp_blocktab *t;
    uint32_t tid;
};

static int same_tid(const void *ctx, uint32_t id)
{
    const struct tid_key *k = ctx;
    return k->t->tids[id] == k->tid;
}

/* Gives back the indexes of threads that hold no block (their blocks were
 * all freed: the thread may be gone), when all are taken. */
static void reclaim_threads(struct mp_blocktab *t)
{
    if (!t->free_threads && !(t->free_threads = malloc(MAX_THREADS * sizeof *t->free_threads)))
        return;
    for (uint32_t id = 0; id < t->n_tids; id++) {
        if (t->thread_blocks[id] != 0)
            continue;   /* holds blocks, or already free */
        mp_hashidx_remove(&t->tid_index, mp_hash_u64(t->tids[id]), id);
        t->thread_blocks[id] = UINT32_MAX;
        t->free_threads[t->n_free_threads++] = id;
    }
    t->last_valid = 0;
}

/* A fresh index, or NO_THREAD. */
static uint32_t new_thread(struct mp_blocktab *t)
{
    if (t->n_free_threads == 0 && t->n_tids == MAX_THREADS)
        reclaim_threads(t);
    if (t->n_free_threads > 0)
        return t->free_threads[--t->n_free_threads];
    if (t->n_tids == MAX_THREADS)
        return NO_THREAD;
    if (t->n_tids == t->cap_tids) {
        uint32_t cap = t->cap_tids ? t->cap_tids * 2 : 16;
        uint32_t *g = realloc(t->tids, cap * sizeof *g);
        if (!g)
            return NO_THREAD;
        t->tids = g;
        g = realloc(t->thread_blocks, cap * sizeof *g);
        if (!g)
            return NO_THREAD;
        t->thread_blocks = g;
        t->cap_tids = cap;
    }
    return t->n_tids++;
}

/* The thread's index, given on first sight; NO_THREAD when more than
 * MAX_THREADS threads hold blocks, or on ENOMEM (its blocks then go to the
 * side table). */
static uint32_t thread_of(struct mp_blocktab *t, uint32_t tid)
{
    if (t->last_valid && t->last_tid == tid)
        return t->last_thread;
    struct tid_key k = { t, tid };
    uint64_t hash = mp_hash_u64(tid);
    uint32_t id = mp_hashidx_find(&t->tid_index, hash, same_tid, &k);
    if (id == UINT32_MAX) {
        if ((id = new_thread(t)) == NO_THREAD)
            return NO_THREAD;
        t->tids[id] = tid;
        t->thread_blocks[id] = 0;
        if (mp_hashidx_insert(&t->tid_index, hash, id) != 0)
            return NO_THREAD;   /* the index holds no block: the next reclaim takes it */
    }
    t->last_tid = tid;
    t->last_thread = id;
    t->last_valid = 1;
    return id;
}

/* ---- packed slots ---------------------------------------------------------- */

/* Fibonacci hashing: the top bits of addr times 2^64 / golden ratio (one
 * multiply; backward-shift deletion computes it for every slot it passes).
 * Blocks a few bytes apart land far apart; the capacity is a power of two,
 * so mask = capacity - 1 has as many leading zeros as the shift. */
static size_t home_of(const struct mp_blocktab *t, uint64_t addr)
{
    return (size_t)((addr * UINT64_C(0x9E3779B97F4A7C15)) >> __builtin_clzll(t->mask));
}

static uint32_t thread_index(const struct mp_packed_block *s)
{
    return (uint32_t)(s->key >> THREAD_SHIFT);
}

static struct mp_block unpack(const struct mp_blocktab *t, const struct mp_packed_block *s)
{
    return (struct mp_block){ s->key & ADDR_MASK, s->size, s->stack, t->tids[s->key >> THREAD_SHIFT] };
}

/* The slot holding addr (never 0), or NULL. */
static struct mp_packed_block *find_packed(const struct mp_blocktab *t, uint64_t addr)
{
    if (!t->slots || addr > ADDR_MASK)
        return NULL;
    for (size_t i = home_of(t, addr);; i = (i + 1) & t->mask) {
        uint64_t key = t->slots[i].key;
        if ((key & ADDR_MASK) == addr)
            return &t->slots[i];
        if (key == 0)
            return NULL;
    }
}

/* Zeroed room for `cap` slots: malloc'd, or mapped (on huge pages) from
 * MAPPED_FROM bytes on.  NULL on ENOMEM. */
static struct mp_packed_block *new_slots(size_t cap)
{
    size_t bytes = cap * sizeof(struct mp_packed_block);
    if (bytes < MAPPED_FROM)
        return calloc(cap, sizeof(struct mp_packed_block));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: fine if THP is off */
    return p;
}

/* Doubles the table.  The home of an address is the top bits of its hash,
 * so an entry's new home is twice its old one (or one more): walking the
 * old slots in order from an empty one (so no probe chain is cut) puts the
 * entries into the new table in near order of their new homes.  Both
 * tables are read and written front to back, no cache miss per entry (the
 * rehash in place this replaces swapped entries across the whole table);
 * the old table's pages are given back as the walk leaves them, so the two
 * together never hold more than the new one will. */
static int grow(struct mp_blocktab *t)
{
    size_t old_cap = t->slots ? t->mask + 1 : 0, cap = old_cap ? old_cap * 2 : FIRST_CAPACITY;
    struct mp_packed_block *old = t->slots, *s = new_slots(cap);
    if (!s)
        return -1;
    size_t old_mask = t->mask, old_mapped = t->mapped_bytes;
    t->slots = s;
    t->mask = cap - 1;
    t->mapped_bytes = cap * sizeof *s >= MAPPED_FROM ? cap * sizeof *s : 0;
    if (!old)
        return 0;
    size_t first = 0;
    while (old[first].key != 0)   /* one is empty: the load stays under 80% */
        first++;
    const size_t chunk = MAPPED_FROM / sizeof *old; /* slots given back at a time */
    for (size_t k = 1; k <= old_cap; k++) {
        size_t i = (first + k) & old_mask;
        if (old[i].key) {
            size_t j = home_of(t, old[i].key & ADDR_MASK);
            while (s[j].key)
                j = (j + 1) & t->mask;
            s[j] = old[i];
        }
        if (old_mapped && (i + 1) % chunk == 0 && i + 1 - chunk > first)
            madvise(old + i + 1 - chunk, MAPPED_FROM, MADV_DONTNEED); /* walked through, whole */
    }
    if (old_mapped)
        munmap(old, old_mapped);
    else
        free(old);
    return 0;
}

/* Backward-shift deletion: keep every probe chain unbroken. */
static void remove_packed(struct mp_blocktab *t, struct mp_packed_block *hit)
{
    t->thread_blocks[thread_index(hit)]--;
    size_t hole = (size_t)(hit - t->slots);
    for (size_t j = (hole + 1) & t->mask; t->slots[j].key != 0; j = (j + 1) & t->mask) {
        size_t home = home_of(t, t->slots[j].key & ADDR_MASK);
        if (mp_probe_may_fill(hole, j, home)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].key = 0;
    t->count--;
}

/* The packed form of b: 1 and *out filled, or 0 when it does not pack. */
static int pack(struct mp_blocktab *t, const struct mp_block *b, struct mp_packed_block *out)
{
    if (b->addr > ADDR_MASK || b->size > UINT32_MAX)
        return 0;
    uint32_t thread = thread_of(t, b->tid);
    if (thread == NO_THREAD)
        return 0;
    *out = (struct mp_packed_block){ b->addr | (uint64_t)thread << THREAD_SHIFT, (uint32_t)b->size, b->stack };
    return 1;
}

/* ---- the table ------------------------------------------------------------- */

int mp_blocktab_get(const struct mp_blocktab *t, uint64_t addr, struct mp_block *out)
{
    if (addr == 0) {
        if (t->has_zero)
            *out = t->zero;
        return t->has_zero;
    }
    const struct mp_packed_block *s = find_packed(t, addr);
    if (s) {
        *out = unpack(t, s);
        return 1;
    }
    const struct mp_block *w = t->wide.count ? mp_widetab_find(&t->wide, addr) : NULL;
    if (w)
        *out = *w;
    return w != NULL;
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
    struct mp_packed_block packed;
    int packs = pack(t, b, &packed);
    if (packs && (!t->slots || (t->count + 1) * 5 > (t->mask + 1) * 4) && grow(t) != 0)
        return -1;
    if (t->slots && b->addr <= ADDR_MASK) {
        /* One probe finds the address or the empty slot where it belongs. */
        size_t i = home_of(t, b->addr);
        for (; t->slots[i].key != 0; i = (i + 1) & t->mask) {
            if ((t->slots[i].key & ADDR_MASK) != b->addr)
                continue;
            *replaced = unpack(t, &t->slots[i]);
            if (packs) {
                t->thread_blocks[thread_index(&t->slots[i])]--;
                t->thread_blocks[thread_index(&packed)]++;
                t->slots[i] = packed;
            } else {
                remove_packed(t, &t->slots[i]);
                if (mp_widetab_insert(&t->wide, b) != 0)
                    return -1;
            }
            return 1;
        }
        if (packs && t->wide.count == 0) {
            t->slots[i] = packed;
            t->thread_blocks[thread_index(&packed)]++;
            t->count++;
            return 0;
        }
    }
    struct mp_block *w = t->wide.count ? mp_widetab_find(&t->wide, b->addr) : NULL;
    int had = w != NULL;
    if (had) {
        *replaced = *w;
        if (!packs) {
            *w = *b;
            return 1;
        }
        mp_widetab_remove(&t->wide, w);
    }
    if (!packs)
        return mp_widetab_insert(&t->wide, b) != 0 ? -1 : had;
    size_t i = home_of(t, b->addr);
    while (t->slots[i].key != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = packed;
    t->thread_blocks[thread_index(&packed)]++;
    t->count++;
    return had;
}

int mp_blocktab_take(struct mp_blocktab *t, uint64_t addr, struct mp_block *out)
{
    if (addr == 0) {
        int had = t->has_zero;
        if (had)
            *out = t->zero;
        t->has_zero = 0;
        return had;
    }
    struct mp_packed_block *s = find_packed(t, addr);
    if (s) {
        *out = unpack(t, s);
        remove_packed(t, s);
        return 1;
    }
    struct mp_block *w = t->wide.count ? mp_widetab_find(&t->wide, addr) : NULL;
    if (!w)
        return 0;
    *out = *w;
    mp_widetab_remove(&t->wide, w);
    return 1;
}

size_t mp_blocktab_count(const struct mp_blocktab *t)
{
    return t->count + t->wide.count + (t->has_zero ? 1 : 0);
}

size_t mp_blocktab_bytes(const struct mp_blocktab *t)
{
    size_t slots = t->mapped_bytes ? t->mapped_bytes : t->slots ? (t->mask + 1) * sizeof *t->slots : 0;
    return slots + t->cap_tids * (sizeof *t->tids + sizeof *t->thread_blocks) +
           (t->free_threads ? MAX_THREADS * sizeof *t->free_threads : 0) +
           (t->tid_index.ids ? (t->tid_index.mask + 1) * 12 : 0) + mp_widetab_bytes(&t->wide);
}

void mp_blocktab_each(const struct mp_blocktab *t, void (*fn)(void *ctx, const struct mp_block *b), void *ctx)
{
    if (t->has_zero)
        fn(ctx, &t->zero);
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (t->slots[i].key != 0) {
            struct mp_block b = unpack(t, &t->slots[i]);
            fn(ctx, &b);
        }
    }
    for (size_t i = 0; t->wide.slots && i <= t->wide.mask; i++)
        if (t->wide.slots[i].addr != 0)
            fn(ctx, &t->wide.slots[i]);
}

void mp_blocktab_prefetch(const struct mp_blocktab *t, uint64_t addr)
{
    if (!t->slots)
        return;
    /* its home's cache line and the next: a free's backward shift walks on
     * past it (a probe chain at 80% load is ~3 lines long) */
    size_t home = home_of(t, addr);
    __builtin_prefetch(&t->slots[home], 1);
    __builtin_prefetch(&t->slots[(home | 3) + 1 <= t->mask ? (home | 3) + 1 : 0], 1);
}

/* LSD radix sort by address, 11 bits a pass, passes where every address has
 * the same digit skipped: a million blocks in a few milliseconds (qsort
 * took 0.2 s). */
static int sort_by_address(struct mp_block *v, size_t n)
{
    struct mp_block *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return -1;
    struct mp_block *from = v, *to = tmp;
    for (unsigned shift = 0; shift < 64 && n; shift += 11) {
        size_t count[2048] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[(from[i].addr >> shift) & 2047]++;
        if (count[(from[0].addr >> shift) & 2047] == n)
            continue;
        size_t pos = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i].addr >> shift) & 2047]++] = from[i];
        struct mp_block *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof *v);
    free(tmp);
    return 0;
}

struct mp_block *mp_blocktab_sorted(const struct mp_blocktab *t, size_t *n, int *failed)
{
    *failed = 0;
    *n = 0;
    size_t count = mp_blocktab_count(t);
    if (count == 0)
        return NULL;
    struct mp_block *v = malloc(count * sizeof *v);
    if (!v) {
        *failed = 1;
        return NULL;
    }
    size_t k = 0;
    if (t->has_zero)
        v[k++] = t->zero;
    for (size_t i = 0; t->slots && i <= t->mask; i++)
        if (t->slots[i].key != 0)
            v[k++] = unpack(t, &t->slots[i]);
    for (size_t i = 0; t->wide.slots && i <= t->wide.mask; i++)
        if (t->wide.slots[i].addr != 0)
            v[k++] = t->wide.slots[i];
    if (sort_by_address(v, k) != 0) {
        free(v);
        *failed = 1;
        return NULL;
    }
    *n = k;
    return v;
}
