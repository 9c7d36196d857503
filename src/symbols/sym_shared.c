/* memprof symbolizer: the frames a process tree's symbolizers share
 * (sym_shared.h): an open-addressing table keyed by (build-id, offset,
 * is_return), each entry a run of frames in one array, strings pooled. */
#define _GNU_SOURCE
#include "sym_shared.h"
#include "base/hashidx.h"
#include "sym_strings.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ID 64

struct entry {
    unsigned char id[MAX_ID];
    int id_len;
    uint64_t offset;
    int is_return;
    size_t first;        /* in frames[] */
    int n;
    const char *warning;
};

struct mp_sym_cache {
    struct mp_hashidx index;
    struct entry *entries;
    size_t n_entries, cap_entries;
    struct mp_frame_info *frames;
    size_t n_frames, cap_frames;
    struct sym_string_pool *strings;
};

struct key { const struct mp_sym_cache *c; const unsigned char *id; int id_len; uint64_t offset; int is_return; };

static uint64_t hash_key(const unsigned char *id, int id_len, uint64_t offset, int is_return)
{
    return mp_hash_bytes(id, (size_t)id_len) ^ mp_hash_u64(offset << 1 | (uint64_t)(is_return != 0));
}

static int same(const void *ctx, uint32_t i)
{
    const struct key *k = ctx;
    const struct entry *e = &k->c->entries[i];
    return e->offset == k->offset && e->is_return == k->is_return && e->id_len == k->id_len &&
           memcmp(e->id, k->id, (size_t)k->id_len) == 0;
}

struct mp_sym_cache *mp_sym_cache_new(void)
{
    struct mp_sym_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    mp_hashidx_init(&c->index);
    if (!(c->strings = sym_strings_create())) {
        free(c);
        return NULL;
    }
    return c;
}

void mp_sym_cache_free(struct mp_sym_cache *c)
{
    if (!c)
        return;
    mp_hashidx_free(&c->index);
    free(c->entries);
    free(c->frames);
    sym_strings_destroy(c->strings);
    free(c);
}

const struct mp_frame_info *mp_sym_cache_find(struct mp_sym_cache *c, const unsigned char *build_id, int id_len,
                                              uint64_t offset, int is_return, int *n, const char **warning)
{
    if (!c || id_len <= 0 || id_len > MAX_ID)
        return NULL;
    struct key k = { c, build_id, id_len, offset, is_return != 0 };
    uint32_t i = mp_hashidx_find(&c->index, hash_key(build_id, id_len, offset, is_return), same, &k);
    if (i == UINT32_MAX)
        return NULL;
    *n = c->entries[i].n;
    *warning = c->entries[i].warning;
    return &c->frames[c->entries[i].first];
}

static const char *pool(struct mp_sym_cache *c, const char *s)
{
    return s ? sym_strings_intern(c->strings, s) : NULL;
}

void mp_sym_cache_insert(struct mp_sym_cache *c, const unsigned char *build_id, int id_len, uint64_t offset,
                         int is_return, const struct mp_frame_info *frames, int n, const char *warning)
{
    if (!c || id_len <= 0 || id_len > MAX_ID || n <= 0)
        return;
    if (c->n_entries == c->cap_entries) {
        size_t cap = c->cap_entries ? c->cap_entries * 2 : 1024;
        struct entry *g = realloc(c->entries, cap * sizeof *g);
        if (!g)
            return;
        c->entries = g;
        c->cap_entries = cap;
    }
    if (c->n_frames + (size_t)n > c->cap_frames) {
        size_t cap = c->cap_frames ? c->cap_frames * 2 : 4096;
        while (cap < c->n_frames + (size_t)n)
            cap *= 2;
        struct mp_frame_info *g = realloc(c->frames, cap * sizeof *g);
        if (!g)
            return;
        c->frames = g;
        c->cap_frames = cap;
    }
    struct mp_frame_info *f = &c->frames[c->n_frames];
    for (int i = 0; i < n; i++) {
        f[i] = frames[i];
        f[i].function = pool(c, frames[i].function);
        f[i].file = pool(c, frames[i].file);
        f[i].module = pool(c, frames[i].module);
        f[i].func_file = pool(c, frames[i].func_file);
        if ((frames[i].function && !f[i].function) || (frames[i].module && !f[i].module))
            return; /* out of memory: not kept */
    }
    struct entry *e = &c->entries[c->n_entries];
    memset(e, 0, sizeof *e);
    memcpy(e->id, build_id, (size_t)id_len);
    e->id_len = id_len;
    e->offset = offset;
    e->is_return = is_return != 0;
    e->first = c->n_frames;
    e->n = n;
    e->warning = pool(c, warning);
    if (mp_hashidx_insert(&c->index, hash_key(build_id, id_len, offset, is_return), (uint32_t)c->n_entries) != 0)
        return;
    c->n_entries++;
    c->n_frames += (size_t)n;
}
