/* memprof: open-addressing (hash -> id) index with linear probing. */
#include "hashidx.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY UINT32_MAX

static int alloc_slots(struct mp_hashidx *h, size_t cap)
{
    h->hashes = malloc(cap * sizeof *h->hashes);
    h->ids = malloc(cap * sizeof *h->ids);
    if (!h->hashes || !h->ids) {
        free(h->hashes);
        free(h->ids);
        h->hashes = NULL;
        h->ids = NULL;
        return -1;
    }
    memset(h->ids, 0xff, cap * sizeof *h->ids);
    h->mask = cap - 1;
    return 0;
}

void mp_hashidx_init(struct mp_hashidx *h)
{
    memset(h, 0, sizeof *h);
}

void mp_hashidx_free(struct mp_hashidx *h)
{
    free(h->hashes);
    free(h->ids);
    memset(h, 0, sizeof *h);
}

uint32_t mp_hashidx_find(const struct mp_hashidx *h, uint64_t hash, mp_hashidx_eq eq, const void *ctx)
{
    if (!h->ids)
        return EMPTY;
    for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        if (h->ids[i] == EMPTY)
            return EMPTY;
        if (h->hashes[i] == hash && (!eq || eq(ctx, h->ids[i])))
            return h->ids[i];
    }
}

static void put(struct mp_hashidx *h, uint64_t hash, uint32_t id)
{
    size_t i = hash & h->mask;
    while (h->ids[i] != EMPTY)
        i = (i + 1) & h->mask;
    h->hashes[i] = hash;
    h->ids[i] = id;
}

int mp_hashidx_insert(struct mp_hashidx *h, uint64_t hash, uint32_t id)
{
    if (!h->ids || (h->count + 1) * 2 > h->mask + 1) {
        struct mp_hashidx old = *h;
        size_t cap = old.ids ? (old.mask + 1) * 2 : 64;
        if (alloc_slots(h, cap) != 0) {
            *h = old;
            return -1;
        }
        if (old.ids)
            for (size_t i = 0; i <= old.mask; i++)
                if (old.ids[i] != EMPTY)
                    put(h, old.hashes[i], old.ids[i]);
        free(old.hashes);
        free(old.ids);
    }
    put(h, hash, id);
    h->count++;
    return 0;
}

void mp_hashidx_remove(struct mp_hashidx *h, uint64_t hash, uint32_t id)
{
    if (!h->ids)
        return;
    size_t i = hash & h->mask;
    for (;; i = (i + 1) & h->mask) {
        if (h->ids[i] == EMPTY)
            return;
        if (h->hashes[i] == hash && h->ids[i] == id)
            break;
    }
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t hole = i;
    for (size_t j = (hole + 1) & h->mask; h->ids[j] != EMPTY; j = (j + 1) & h->mask) {
        size_t home = h->hashes[j] & h->mask;
        if (mp_probe_may_fill(hole, j, home)) {
            h->hashes[hole] = h->hashes[j];
            h->ids[hole] = h->ids[j];
            hole = j;
        }
    }
    h->ids[hole] = EMPTY;
    h->count--;
}

uint64_t mp_hash_bytes(const void *data, size_t len)
{
    /* FNV-1a over 8-byte words, then a final mix. */
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    while (len--)
        h = (h ^ *p++) * 0x100000001b3ULL;
    return mp_hash_u64(h);
}
