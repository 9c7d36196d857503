/* memprof: string interning on top of mp_hashidx. */
#define _GNU_SOURCE
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

void mp_strtab_init(struct mp_strtab *t)
{
    memset(t, 0, sizeof *t);
    mp_hashidx_init(&t->index);
}

void mp_strtab_free(struct mp_strtab *t)
{
    for (uint32_t i = 0; i < t->count; i++)
        free(t->strings[i]);
    free(t->strings);
    mp_hashidx_free(&t->index);
    memset(t, 0, sizeof *t);
}

struct lookup { const struct mp_strtab *t; const char *s; };

static int same_string(const void *ctx, uint32_t id)
{
    const struct lookup *l = ctx;
    return strcmp(l->t->strings[id], l->s) == 0;
}

const char *mp_strtab_intern(struct mp_strtab *t, const char *s)
{
    if (!s)
        return NULL;
    uint64_t hash = mp_hash_bytes(s, strlen(s));
    struct lookup l = { t, s };
    uint32_t id = mp_hashidx_find(&t->index, hash, same_string, &l);
    if (id != UINT32_MAX)
        return t->strings[id];
    if (t->count == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        char **grown = realloc(t->strings, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->strings = grown;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy || mp_hashidx_insert(&t->index, hash, t->count) != 0) {
        free(copy);
        return NULL;
    }
    t->strings[t->count] = copy;
    return t->strings[t->count++];
}
