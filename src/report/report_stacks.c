/* memprof: the call stacks as the pictures and exports see them (see
 * report_stacks.h): weights, frame names, the call tree. */
#define _GNU_SOURCE
#include "report_stacks.h"
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const weight_names[MP_WEIGHT_COUNT] = { "bytes", "calls", "peak", "leaked", "temporary" };
static const char *const weight_titles[MP_WEIGHT_COUNT] = { "bytes allocated", "allocation calls",
                                                            "bytes at the heap peak", "bytes leaked",
                                                            "temporary allocations" };

int mp_weight_parse(const char *name)
{
    for (int w = 0; w < MP_WEIGHT_COUNT; w++)
        if (strcmp(name, weight_names[w]) == 0)
            return w;
    return -1;
}

const char *mp_weight_name(enum mp_weight w)
{
    return (unsigned)w < MP_WEIGHT_COUNT ? weight_names[w] : "bytes";
}

const char *mp_weight_title(enum mp_weight w)
{
    return (unsigned)w < MP_WEIGHT_COUNT ? weight_titles[w] : weight_titles[0];
}

int mp_weight_is_bytes(enum mp_weight w)
{
    return w != MP_WEIGHT_CALLS && w != MP_WEIGHT_TEMPORARY;
}

uint64_t mp_stack_weight(const struct mp_stack_info *st, enum mp_weight w)
{
    switch (w) {
    case MP_WEIGHT_CALLS: return st->alloc_calls;
    case MP_WEIGHT_PEAK: return st->peak_bytes;
    case MP_WEIGHT_LEAKED: return st->live_bytes;
    case MP_WEIGHT_TEMPORARY: return st->temporary_calls;
    default: return st->allocated_bytes;
    }
}

uint64_t mp_weight_total(const struct mp_profile *p, enum mp_weight w)
{
    const struct mp_totals *t = mp_profile_totals(p);
    switch (w) {
    case MP_WEIGHT_CALLS: return t->alloc_calls;
    case MP_WEIGHT_PEAK: return t->peak_heap_bytes;
    case MP_WEIGHT_LEAKED: return t->live_bytes;
    case MP_WEIGHT_TEMPORARY: return t->temporary_calls;
    default: return t->allocated_bytes;
    }
}

uint32_t mp_stack_shown_frames(const struct mp_profile *p, const struct mp_stack_info *st)
{
    for (uint32_t i = 0; i < st->n_frames; i++)
        if (mp_line_is_c_main(mp_profile_line(p, st->frame_lines[i])))
            return i + 1;
    return st->n_frames;
}

const char *mp_frame_label(struct mp_strtab *t, const struct mp_line_stats *l, const struct mp_report_options *opt)
{
    const char *fn = mp_display_function(l->function, opt->stable);
    if (opt->frames == MP_FRAMES_FUNCTION || !l->file)
        return mp_strtab_intern(t, fn);
    char *s = NULL;
    if (asprintf(&s, "%s (%s:%d)", fn, mp_display_path(l->file, opt->cwd), l->line) < 0)
        return NULL;
    const char *r = mp_strtab_intern(t, s);
    free(s);
    return r;
}

/* ---- the tree ---- */

struct child_key {
    const struct mp_tree *t;
    uint32_t parent;
    const char *label;
};

static int same_child(const void *ctx, uint32_t id)
{
    const struct child_key *k = ctx;
    return k->t->nodes[id].parent == k->parent && k->t->nodes[id].label == k->label;
}

static uint64_t child_hash(uint32_t parent, const char *label)
{
    return mp_hash_u64(((uint64_t)parent << 32) ^ (uint64_t)(uintptr_t)label);
}

static uint32_t add_node(struct mp_tree *t, uint32_t parent, const char *label, uint32_t line)
{
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        struct mp_tree_node *g = realloc(t->nodes, cap * sizeof *g);
        if (!g)
            return UINT32_MAX;
        t->nodes = g;
        t->cap = cap;
    }
    uint32_t id = t->n++;
    struct mp_tree_node *n = &t->nodes[id];
    memset(n, 0, sizeof *n);
    n->label = label;
    n->line = line;
    n->parent = parent;
    n->first_child = n->next_sibling = UINT32_MAX;
    if (parent != UINT32_MAX) {
        struct mp_tree_node *up = &t->nodes[parent];
        n->depth = up->depth + 1;
        n->next_sibling = up->first_child;
        up->first_child = id;
        if (n->depth > t->max_depth)
            t->max_depth = n->depth;
    }
    return id;
}

/* The child of `parent` with this label, created when new. */
static uint32_t child(struct mp_tree *t, uint32_t parent, const char *label, uint32_t line)
{
    struct child_key k = { t, parent, label };
    uint64_t h = child_hash(parent, label);
    uint32_t id = mp_hashidx_find(&t->index, h, same_child, &k);
    if (id != UINT32_MAX)
        return id;
    id = add_node(t, parent, label, line);
    if (id == UINT32_MAX || mp_hashidx_insert(&t->index, h, id) != 0)
        return UINT32_MAX;
    return id;
}

int mp_tree_build(struct mp_tree *t, const struct mp_profile *p, enum mp_weight w, int outermost_first,
                  const struct mp_report_options *opt)
{
    memset(t, 0, sizeof *t);
    mp_hashidx_init(&t->index);
    mp_strtab_init(&t->labels);
    const char *all = mp_strtab_intern(&t->labels, "all");
    if (!all || add_node(t, UINT32_MAX, all, UINT32_MAX) != 0)
        return -1;
    for (size_t s = 0; s < mp_profile_stack_count(p); s++) {
        const struct mp_stack_info *st = mp_profile_stack(p, s);
        uint64_t v = mp_stack_weight(st, w);
        if (v == 0)
            continue;
        uint32_t shown = mp_stack_shown_frames(p, st), node = 0;
        t->nodes[0].value += v;
        for (uint32_t k = 0; k < shown; k++) {
            uint32_t line = st->frame_lines[outermost_first ? shown - 1 - k : k];
            const char *label = mp_frame_label(&t->labels, mp_profile_line(p, line), opt);
            if (!label || (node = child(t, node, label, line)) == UINT32_MAX)
                return -1;
            t->nodes[node].value += v;
        }
        t->nodes[node].self += v;
    }
    return 0;
}

static const struct mp_tree *sort_tree;
static int sort_by_value;

static int cmp_nodes(const void *a, const void *b)
{
    const struct mp_tree_node *x = &sort_tree->nodes[*(const uint32_t *)a];
    const struct mp_tree_node *y = &sort_tree->nodes[*(const uint32_t *)b];
    if (sort_by_value && x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return strcmp(x->label, y->label);
}

int mp_tree_sort(struct mp_tree *t, int by_value)
{
    uint32_t *kids = malloc((t->n ? t->n : 1) * sizeof *kids);
    if (!kids)
        return -1;
    sort_tree = t;
    sort_by_value = by_value;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t n = 0;
        for (uint32_t c = t->nodes[i].first_child; c != UINT32_MAX; c = t->nodes[c].next_sibling)
            kids[n++] = c;
        if (n < 2)
            continue;
        qsort(kids, n, sizeof *kids, cmp_nodes);
        t->nodes[i].first_child = kids[0];
        for (uint32_t k = 0; k < n; k++)
            t->nodes[kids[k]].next_sibling = k + 1 < n ? kids[k + 1] : UINT32_MAX;
    }
    sort_tree = NULL;
    free(kids);
    return 0;
}

void mp_tree_free(struct mp_tree *t)
{
    free(t->nodes);
    mp_hashidx_free(&t->index);
    mp_strtab_free(&t->labels);
    memset(t, 0, sizeof *t);
}
