/* memprof agent: the code objects a Python process ran, and their
 * descriptions to memprof.
 *
 * Each code object gets an id on first sight and is described once
 * (MP_REC_PYCODE chunks: the file name, the qualified name, co_firstlineno
 * and co_linetable, like perf's jitdump) before the first record that names
 * it, so memprof can turn (id, instruction) into file:line even after the
 * process is gone.  Everything is read straight from the objects with the
 * layout memprof gave: no Python call, no allocation (the table lives in
 * mmap'ed memory).
 *
 * The table (open addressing, keyed by the object's address) is shared by
 * all threads under a spin lock: most callers hold the GIL anyway, but
 * threads that released it (raw mallocs in C code) read their frames too.
 * A per-thread cache of the last codes seen avoids the lock; a generation
 * number invalidates the caches when a code object is freed (its address
 * can then hold another one: the object domain's free tells us, since it
 * can read the block's type before it goes). */
#define _GNU_SOURCE
#include "agent_python.h"
#include "events/py_read.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#define TOMBSTONE ((uintptr_t)1)
#define MAX_LINETABLE (MP_PYCODE_MAX_PAYLOAD - 8192)

struct code_slot {
    uintptr_t code;      /* 0 empty, TOMBSTONE deleted */
    uint32_t id;
    int16_t target;
    uint8_t described;
    uint8_t pad;
};

static struct code_slot *table;
static size_t table_cap, table_used; /* used: live + tombstones */
static uint32_t next_id = 1;
static atomic_flag table_lock = ATOMIC_FLAG_INIT;
static _Atomic uint32_t generation = 1;

#define CACHE_SLOTS 64
struct cache_entry {
    uintptr_t code;
    uint32_t id, gen;
    int32_t target;
};
static __thread struct cache_entry code_cache[CACHE_SLOTS] __attribute__((tls_model("initial-exec")));

static void lock_table(void)
{
    for (unsigned spins = 0; atomic_flag_test_and_set_explicit(&table_lock, memory_order_acquire); spins++)
        if (spins > 64)
            sched_yield();
}

static void unlock_table(void)
{
    atomic_flag_clear_explicit(&table_lock, memory_order_release);
}

static size_t hash_code(uintptr_t code, size_t mask)
{
    return (size_t)(((uint64_t)code >> 4) * 0x9E3779B97F4A7C15ull >> 20) & mask;
}

/* Rehash into a table twice as big (or the same size, to drop tombstones). */
static int grow_table(void)
{
    size_t cap = table_cap ? table_cap * 2 : 4096;
    struct code_slot *bigger = mmap(NULL, cap * sizeof *bigger, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bigger == MAP_FAILED)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < table_cap; i++) {
        if (table[i].code <= TOMBSTONE)
            continue;
        size_t j = hash_code(table[i].code, cap - 1);
        while (bigger[j].code)
            j = (j + 1) & (cap - 1);
        bigger[j] = table[i];
        used++;
    }
    if (table) {
        atomic_fetch_sub(&agent_ring->agent_bytes, table_cap * sizeof *table);
        munmap(table, table_cap * sizeof *table);
    }
    atomic_fetch_add(&agent_ring->agent_bytes, cap * sizeof *bigger);
    table = bigger;
    table_cap = cap;
    table_used = used;
    return 0;
}

static struct code_slot *find_slot(uintptr_t code)
{
    if (!table_cap)
        return NULL;
    for (size_t i = hash_code(code, table_cap - 1);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].code == code)
            return &table[i];
        if (table[i].code == 0)
            return NULL;
    }
}

/* ---- reading str objects (events/py_read.h) ---- */

static int read_own(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
    memcpy(dst, (const void *)(uintptr_t)addr, len);
    return 0;
}

long agent_py_str(uintptr_t str, char *buf, size_t cap)
{
    return mp_py_read_str(&agent_py.layout, str, buf, cap, read_own, NULL);
}

/* ---- describing ---- */

/* Streams a description into consecutive MP_REC_PYCODE chunks. */
struct chunk_writer {
    uint32_t id, total, chunk;
    struct mp_ring_record *slot;
    uint64_t pos;
    uint32_t fill;
    int dropped;       /* a slot was refused: the rest goes too (memprof counts it broken) */
};

static void chunk_flush(struct chunk_writer *w)
{
    if (!w->slot)
        return;
    w->slot->nframes = w->fill;
    agent_commit_slot(w->slot, w->pos);
    w->slot = NULL;
    w->chunk++;
}

static void chunk_put(struct chunk_writer *w, const void *bytes, size_t n)
{
    const char *p = bytes;
    while (n && !w->dropped) {
        if (!w->slot) {
            if (!(w->slot = agent_reserve_slot(&w->pos))) {
                w->dropped = 1;
                return;
            }
            w->slot->kind = MP_REC_PYCODE;
            w->slot->addr = w->id;
            w->slot->size = w->total;
            w->slot->truncated = w->chunk;
            w->fill = 0;
        }
        size_t room = sizeof w->slot->frames - w->fill, take = n < room ? n : room;
        memcpy((char *)w->slot->frames + w->fill, p, take);
        w->fill += (uint32_t)take;
        p += take;
        n -= take;
        if (w->fill == sizeof w->slot->frames)
            chunk_flush(w);
    }
}

static char name_file[4096], name_qual[1024]; /* under the table lock */

/* Reads a code object's names (into name_file/name_qual); -1 if unreadable. */
static int read_names(uintptr_t code, long *file_len, long *qual_len)
{
    const struct mp_py_layout *L = &agent_py.layout;
    *file_len = agent_py_str(*(const uintptr_t *)(code + (uintptr_t)L->code_filename), name_file, sizeof name_file);
    uintptr_t qual = *(const uintptr_t *)(code + (uintptr_t)(L->code_qualname >= 0 ? L->code_qualname : L->code_name));
    *qual_len = agent_py_str(qual, name_qual, sizeof name_qual);
    if (*file_len < 0 || *qual_len < 0) {
        atomic_fetch_add(&agent_py.channel->unreadable_names, 1);
        if (*file_len < 0) {
            memcpy(name_file, "<unknown>", 9);
            *file_len = 9;
        }
        if (*qual_len < 0) {
            memcpy(name_qual, "<unknown>", 9);
            *qual_len = 9;
        }
        return -1;
    }
    return 0;
}

static void describe(uintptr_t code, const struct code_slot *s, long file_len, long qual_len)
{
    const struct mp_py_layout *L = &agent_py.layout;
    uintptr_t table_obj = *(const uintptr_t *)(code + (uintptr_t)L->code_linetable);
    int64_t lt_len = table_obj ? *(const int64_t *)(table_obj + (uintptr_t)L->bytes_size) : 0;
    if (lt_len < 0)
        lt_len = 0;
    if (lt_len > MAX_LINETABLE)
        lt_len = MAX_LINETABLE; /* lines past the cut read as unknown */
    struct mp_py_code_head head = {
        .id = s->id,
        .first_line = *(const int32_t *)(code + (uintptr_t)L->code_firstlineno),
        .flags = s->target >= 0 ? MP_PYCODE_TARGET | ((uint32_t)s->target << 8) : 0,
        .filename_len = (uint32_t)file_len,
        .qualname_len = (uint32_t)qual_len,
        .linetable_len = (uint32_t)lt_len,
    };
    struct chunk_writer w = { .id = s->id, .total = (uint32_t)(sizeof head + file_len + qual_len + lt_len) };
    chunk_put(&w, &head, sizeof head);
    chunk_put(&w, name_file, (size_t)file_len);
    chunk_put(&w, name_qual, (size_t)qual_len);
    if (lt_len)
        chunk_put(&w, (const void *)(table_obj + (uintptr_t)L->bytes_sval), (size_t)lt_len);
    chunk_flush(&w);
    atomic_fetch_add(&agent_py.channel->codes_described, 1);
}

/* ---- the table ---- */

int agent_code_get(uintptr_t code, int want_description, struct agent_code *out)
{
    uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    struct cache_entry *c = &code_cache[(code >> 4) & (CACHE_SLOTS - 1)];
    if (c->code == code && c->gen == gen && (c->id || !want_description)) {
        out->id = c->id;
        out->target = c->target;
        return 0;
    }
    int was_busy = agent_busy;
    agent_busy = 1;
    lock_table();
    struct code_slot *s = find_slot(code);
    long file_len = 0, qual_len = 0;
    int names_read = 0;
    if (!s) {
        if ((table_used + 1) * 4 > table_cap * 3 && grow_table() != 0) {
            unlock_table();
            agent_busy = was_busy;
            return -1;
        }
        size_t i = hash_code(code, table_cap - 1);
        while (table[i].code > TOMBSTONE)
            i = (i + 1) & (table_cap - 1);
        if (table[i].code == 0)
            table_used++;
        s = &table[i];
        s->code = code;
        s->described = 0;
        s->target = -1;
        if (next_id <= MP_PYFRAME_MAX_CODE_ID) {
            s->id = next_id++;
        } else {
            s->id = 0;
            atomic_fetch_add(&agent_py.channel->codes_over_limit, 1);
        }
        if (agent_py.line_mode) {
            read_names(code, &file_len, &qual_len);
            names_read = 1;
            s->target = (int16_t)agent_pytrace_match(name_file, (size_t)file_len, name_qual, (size_t)qual_len);
        }
    }
    /* A line-mode target is described at once: memprof needs its lines
     * before the first line event. */
    if (s->id && !s->described && (want_description || s->target >= 0)) {
        if (!names_read)
            read_names(code, &file_len, &qual_len);
        describe(code, s, file_len, qual_len);
        s->described = 1;
    }
    out->id = s->id;
    out->target = s->target;
    if (s->described || !s->id) {
        c->code = code;
        c->gen = gen;
        c->id = s->id;
        c->target = s->target;
    }
    unlock_table();
    agent_busy = was_busy;
    return 0;
}

void agent_code_freed(uintptr_t block)
{
    /* Every block the object domain returns is at least 16 bytes: reading
     * ob_type is safe; only code objects have PyCode_Type there. */
    if (*(const uintptr_t *)(block + (uintptr_t)agent_py.layout.object_type) != agent_py.code_type)
        return;
    lock_table();
    struct code_slot *s = find_slot(block);
    if (s) {
        s->code = TOMBSTONE;
        atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    }
    unlock_table();
}
