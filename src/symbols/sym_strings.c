/* memprof symbolizer: the string pool (arena + open-addressing hash set),
 * source path normalisation and C++ demangling (libstdc++'s __cxa_demangle). */
#define _GNU_SOURCE
#include "sym_strings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From libstdc++ (<cxxabi.h> is C++ only). */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

#define ARENA_CHUNK_SIZE 65536

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    char data[];
};

struct sym_string_pool {
    struct arena_chunk *chunks;
    const char **slots;     /* open addressing, NULL = empty */
    size_t nslots, count;
};

static uint64_t hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ull;      /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static char *arena_copy(struct sym_string_pool *pool, const char *s, size_t len)
{
    struct arena_chunk *c = pool->chunks;
    if (c == NULL || c->size - c->used < len + 1) {
        size_t size = len + 1 > ARENA_CHUNK_SIZE ? len + 1 : ARENA_CHUNK_SIZE;
        c = malloc(sizeof *c + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = pool->chunks;
        pool->chunks = c;
    }
    char *dst = c->data + c->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->used += len + 1;
    return dst;
}

static int grow_slots(struct sym_string_pool *pool)
{
    size_t nslots = pool->nslots ? pool->nslots * 2 : 1024;
    const char **slots = calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < pool->nslots; i++) {
        const char *s = pool->slots[i];
        if (s == NULL)
            continue;
        size_t j = hash_string(s) & (nslots - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (nslots - 1);
        slots[j] = s;
    }
    free(pool->slots);
    pool->slots = slots;
    pool->nslots = nslots;
    return 0;
}

struct sym_string_pool *sym_strings_create(void)
{
    struct sym_string_pool *pool = calloc(1, sizeof *pool);
    if (pool != NULL && grow_slots(pool) != 0) {
        free(pool);
        return NULL;
    }
    return pool;
}

void sym_strings_destroy(struct sym_string_pool *pool)
{
    if (pool == NULL)
        return;
    for (struct arena_chunk *c = pool->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(pool->slots);
    free(pool);
}

const char *sym_strings_intern(struct sym_string_pool *pool, const char *s)
{
    if (s == NULL)
        return NULL;
    if ((pool->count + 1) * 2 > pool->nslots && grow_slots(pool) != 0)
        return NULL;
    size_t mask = pool->nslots - 1;
    size_t i = hash_string(s) & mask;
    for (; pool->slots[i] != NULL; i = (i + 1) & mask)
        if (strcmp(pool->slots[i], s) == 0)
            return pool->slots[i];
    char *copy = arena_copy(pool, s, strlen(s));
    if (copy == NULL)
        return NULL;
    pool->slots[i] = copy;
    pool->count++;
    return copy;
}

/* Normalise an absolute path in place: collapse "//", drop "/./", fold
 * "dir/../" (".." above the root stays at the root). */
static void normalise_path(char *path)
{
    char *out = path;          /* path[0] == '/' */
    const char *in = path;
    while (*in != '\0') {
        while (*in == '/')
            in++;
        if (*in == '\0')
            break;
        const char *end = strchrnul(in, '/');
        size_t len = (size_t)(end - in);
        if (len == 1 && in[0] == '.') {
            /* skip */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > path && *--out != '/')
                ;
        } else {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in = end;
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
}

const char *sym_strings_intern_path(struct sym_string_pool *pool,
                                    const char *dir, const char *name)
{
    if (name == NULL)
        return NULL;
    if (name[0] != '/' && (dir == NULL || dir[0] != '/'))
        return sym_strings_intern(pool, name);    /* cannot be made absolute */
    char *joined;
    int n = name[0] == '/' ? asprintf(&joined, "%s", name)
                           : asprintf(&joined, "%s/%s", dir, name);
    if (n < 0)
        return NULL;
    normalise_path(joined);
    const char *pooled = sym_strings_intern(pool, joined);
    free(joined);
    return pooled;
}

const char *sym_strings_intern_demangled(struct sym_string_pool *pool,
                                         const char *name)
{
    if (name == NULL)
        return NULL;
    if (name[0] != '_' || name[1] != 'Z')
        return sym_strings_intern(pool, name);
    int status = 0;
    char *demangled = __cxa_demangle(name, NULL, NULL, &status);
    const char *pooled = sym_strings_intern(pool, status == 0 && demangled ? demangled : name);
    free(demangled);
    return pooled;
}
