/* memprof: the items a diff compares (see diff.c): each item of a profile
 * (a line, a file, a function or a stack) with its key, a string that
 * names it the same way in both profiles: its file's key (diff_paths.c
 * pairs the files of two checkouts), its line, its function, or its module
 * when it has no line info. */
#include "diff_internal.h"
#include "calltree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(const char *const *)a, y = (uintptr_t)*(const char *const *)b;
    return (x > y) - (x < y);
}

/* The distinct files of p's line records, sorted by address. */
int mp_diff_collect_files(const struct mp_profile *p, struct file_keys *fk)
{
    size_t n = mp_profile_line_count(p), m = 0;
    fk->paths = malloc((n ? n : 1) * sizeof *fk->paths);
    fk->keys = calloc(n ? n : 1, sizeof *fk->keys);
    if (!fk->paths || !fk->keys)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (mp_profile_line(p, i)->file)
            fk->paths[m++] = mp_profile_line(p, i)->file;
    qsort(fk->paths, m, sizeof *fk->paths, cmp_ptr);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (!u || fk->paths[u - 1] != fk->paths[i])
            fk->paths[u++] = fk->paths[i];
    fk->n = u;
    return 0;
}

static const char *file_key(const struct file_keys *fk, const char *path)
{
    const char **at = bsearch(&path, fk->paths, fk->n, sizeof *fk->paths, cmp_ptr);
    return at ? fk->keys[at - fk->paths] : path;
}

/* Text appended to a growing key; -1 on ENOMEM. */
struct keybuf {
    char *s;
    size_t len, cap;
};

static int key_add(struct keybuf *k, const char *part, size_t n)
{
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 256;
        while (cap < k->len + n + 1)
            cap *= 2;
        char *g = realloc(k->s, cap);
        if (!g)
            return -1;
        k->s = g;
        k->cap = cap;
    }
    memcpy(k->s + k->len, part, n);
    k->len += n;
    k->s[k->len] = '\0';
    return 0;
}

/* A line's identity: file key, line, function; without line info module and function.
 * The separators are control characters no path or name holds. */
static int key_line(struct keybuf *k, const struct file_keys *fk, const struct mp_line_stats *l, enum mp_diff_group g)
{
    char num[32];
    int rc = 0;
    if (l->file) {
        const char *f = file_key(fk, l->file);
        rc |= key_add(k, "F", 1) | key_add(k, f, strlen(f));
        if (g == MP_DIFF_BY_LINE || g == MP_DIFF_BY_TRACEBACK) {
            int n = snprintf(num, sizeof num, "\x1f%d", l->line);
            rc |= key_add(k, num, (size_t)n);
        }
    } else {
        rc |= key_add(k, "M", 1) | key_add(k, l->module, strlen(l->module));
    }
    if (g != MP_DIFF_BY_FILE || !l->file)
        rc |= key_add(k, "\x1f", 1) | key_add(k, l->function, strlen(l->function));
    return rc ? -1 : 0;
}

/* ---- items ---- */

struct collector {
    const struct mp_profile *p;
    const struct file_keys *fk;
    enum mp_diff_group group;
    struct owned *own;
    struct entry *e;
    size_t n, cap;
    struct keybuf key;
};

static struct entry *new_entry(struct collector *c, const struct mp_line_stats *l)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct entry *g = realloc(c->e, cap * sizeof *g);
        if (!g)
            return NULL;
        c->e = g;
        c->cap = cap;
    }
    c->key.len = 0;
    if (key_line(&c->key, c->fk, l, c->group) != 0)
        return NULL;
    struct entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->file = l->file;
    e->module = l->module;
    e->line = l->file && c->group != MP_DIFF_BY_FILE && c->group != MP_DIFF_BY_FUNCTION ? l->line : 0;
    e->function = c->group == MP_DIFF_BY_FILE && l->file ? NULL : l->function;
    e->file_key = l->file ? file_key(c->fk, l->file) : NULL;
    return e;
}

static int finish_entry(struct collector *c, struct entry *e)
{
    if (!(e->key = mp_strtab_intern(&c->own->strings, c->key.s)))
        return -1;
    c->n++;
    return 0;
}

/* By line, file or function: the allocating line records. */
static int collect_lines(struct collector *c)
{
    for (size_t i = 0; i < mp_profile_line_count(c->p); i++) {
        const struct mp_line_stats *l = mp_profile_line(c->p, i);
        if (!l->alloc_calls)
            continue;
        struct entry *e = new_entry(c, l);
        if (!e)
            return -1;
        e->alloc_calls = l->alloc_calls;
        e->allocated_bytes = l->allocated_bytes;
        e->peak_bytes = l->peak_bytes;
        e->live_bytes = l->live_bytes;
        e->live_blocks = l->live_blocks;
        if (finish_entry(c, e) != 0)
            return -1;
    }
    return 0;
}

static int push_frame(struct owned *own, const struct mp_line_stats *l)
{
    if (own->n_frames == own->cap_frames) {
        size_t cap = own->cap_frames ? 2 * own->cap_frames : 64;
        struct mp_diff_frame *g = realloc(own->frames, cap * sizeof *g);
        if (!g)
            return -1;
        own->frames = g;
        own->cap_frames = cap;
    }
    own->frames[own->n_frames++] = (struct mp_diff_frame){ l->file, l->file ? l->line : 0, l->function, l->module };
    return 0;
}

/* By traceback: each stack from its user line out (as the call tree cuts it). */
static int collect_stacks(struct collector *c)
{
    for (size_t i = 0; i < mp_profile_stack_count(c->p); i++) {
        const struct mp_stack_info *s = mp_profile_stack(c->p, i);
        if (!s->alloc_calls)
            continue;
        uint32_t self, end;
        if (mp_calltree_span(c->p, s, &self, &end) != 0)
            self = end = UINT32_MAX; /* no user frame: the user line alone */
        const struct mp_line_stats *user = mp_profile_line(c->p, s->self_line);
        struct entry *e = new_entry(c, user);
        if (!e)
            return -1;
        e->frames_at = c->own->n_frames;
        for (uint32_t j = self + 1; self != UINT32_MAX && j <= end; j++) {
            const struct mp_line_stats *l = mp_profile_line(c->p, s->frame_lines[j]);
            if (key_add(&c->key, "\x1d", 1) != 0 || key_line(&c->key, c->fk, l, c->group) != 0 ||
                push_frame(c->own, l) != 0)
                return -1;
            e->n_frames++;
        }
        e->alloc_calls = s->alloc_calls;
        e->allocated_bytes = s->allocated_bytes;
        e->peak_bytes = s->peak_bytes;
        e->live_bytes = s->live_bytes;
        e->live_blocks = s->live_blocks;
        if (finish_entry(c, e) != 0)
            return -1;
    }
    return 0;
}

static int cmp_entry_key(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

struct entry *mp_diff_collect(const struct mp_profile *p, const struct file_keys *fk, enum mp_diff_group group,
                             struct owned *own, size_t *n_out)
{
    struct collector c = { .p = p, .fk = fk, .group = group, .own = own };
    int rc = group == MP_DIFF_BY_TRACEBACK ? collect_stacks(&c) : collect_lines(&c);
    free(c.key.s);
    if (rc != 0) {
        free(c.e);
        return NULL;
    }
    if (!c.e && !(c.e = malloc(sizeof *c.e)))
        return NULL;
    qsort(c.e, c.n, sizeof *c.e, cmp_entry_key);
    size_t m = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (m && c.e[m - 1].key == c.e[i].key) {
            struct entry *d = &c.e[m - 1];
            d->alloc_calls += c.e[i].alloc_calls;
            d->allocated_bytes += c.e[i].allocated_bytes;
            d->peak_bytes += c.e[i].peak_bytes;
            d->live_bytes += c.e[i].live_bytes;
            d->live_blocks += c.e[i].live_blocks;
        } else {
            c.e[m++] = c.e[i];
        }
    }
    *n_out = m;
    return c.e;
}

