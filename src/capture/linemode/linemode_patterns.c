/* memprof: line mode, the --function patterns (NAME or FILE:NAME, fnmatch
 * globs) and how they match a definition, and the small helpers every part
 * of the resolution uses (growable arrays, basenames).  A leaf: it calls no
 * other part of line mode. */
#define _GNU_SOURCE
#include "linemode_resolve_internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable arrays, paths ---- */

void *lm_vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *grown = realloc(v->items, cap * v->size);
        if (!grown)
            return NULL;
        v->items = grown;
        v->cap = cap;
    }
    void *slot = (char *)v->items + v->n * v->size;
    memset(slot, 0, v->size);
    v->n++;
    return slot;
}
const char *lm_basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- patterns ---- */

int lm_parse_patterns(struct resolver *r, const char *const *texts, size_t n)
{
    r->pats = calloc(n ? n : 1, sizeof *r->pats);
    if (!r->pats)
        return -1;
    r->n_pats = n;
    for (size_t i = 0; i < n; i++) {
        struct pattern *p = &r->pats[i];
        p->text = texts[i];
        /* FILE:NAME splits at the first ':' that is not part of "::" */
        const char *colon = NULL;
        for (const char *c = texts[i]; *c; c++) {
            if (c[0] == ':' && c[1] == ':') {
                c++;
                continue;
            }
            if (c[0] == ':') {
                colon = c;
                break;
            }
        }
        if (colon) {
            p->file = strndup(texts[i], (size_t)(colon - texts[i]));
            p->name = strdup(colon + 1);
        } else {
            p->name = strdup(texts[i]);
        }
        if (!p->name || (colon && !p->file))
            return -1;
    }
    return 0;
}

int lm_name_matches(const struct pattern *p, const char *name, const char *linkage)
{
    return (name && fnmatch(p->name, name, 0) == 0) || (linkage && fnmatch(p->name, linkage, 0) == 0);
}

int lm_file_matches(const struct pattern *p, const char *file)
{
    if (!p->file)
        return 1;
    if (!file)
        return 0;
    if (strchr(p->file, '/')) {
        size_t n = strlen(p->file), m = strlen(file);
        /* a path suffix at a '/' boundary, or a glob on the whole path */
        if (m >= n && strcmp(file + m - n, p->file) == 0 && (m == n || file[m - n - 1] == '/'))
            return 1;
        return fnmatch(p->file, file, 0) == 0;
    }
    return fnmatch(p->file, lm_basename_of(file), 0) == 0;
}

/* A pattern's matches in table order (by file, line and name): indices
 * into sort_cands. */
