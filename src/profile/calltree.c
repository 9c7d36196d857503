/* memprof: call trees made of a profile's stacks (see calltree.h).  Each
 * stack gives one path of line records; paths are merged into a trie (a
 * node per distinct path prefix, found by (parent, line) in a hash index)
 * and every node on a path gets the stack's counters. */
#include "calltree.h"
#include "base/hashidx.h"

#include <stdlib.h>
#include <string.h>

struct builder {
    const struct mp_profile *p;
    struct mp_calltree *t;
    size_t cap;
    struct mp_hashidx index;
};

struct node_key {
    const struct mp_calltree *t;
    uint32_t parent, line;
};

static int same_node(const void *ctx, uint32_t id)
{
    const struct node_key *k = ctx;
    return k->t->nodes[id].parent == k->parent && k->t->nodes[id].line == k->line;
}

/* The child of `parent` for `line`, created on first use; UINT32_MAX on ENOMEM. */
static uint32_t child(struct builder *b, uint32_t parent, uint32_t line)
{
    struct node_key k = { b->t, parent, line };
    uint64_t hash = mp_hash_u64(((uint64_t)parent << 32 | line) ^ 0x9e3779b97f4a7c15ULL);
    uint32_t id = mp_hashidx_find(&b->index, hash, same_node, &k);
    if (id != UINT32_MAX)
        return id;
    if (b->t->n_nodes == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct mp_tree_node *g = realloc(b->t->nodes, cap * sizeof *g);
        if (!g)
            return UINT32_MAX;
        b->t->nodes = g;
        b->cap = cap;
    }
    id = (uint32_t)b->t->n_nodes;
    if (mp_hashidx_insert(&b->index, hash, id) != 0)
        return UINT32_MAX;
    b->t->nodes[b->t->n_nodes++] = (struct mp_tree_node){ .line = line, .parent = parent };
    return id;
}

static void add_counters(struct mp_tree_node *n, const struct mp_stack_info *s)
{
    n->calls += s->alloc_calls;
    n->bytes += s->allocated_bytes;
    n->peak_bytes += s->peak_bytes;
    n->leaked_bytes += s->live_bytes;
}

/* Adds the path of n lines from `lines`, `step` apart (1: outwards, -1:
 * inwards), under `parent` (UINT32_MAX: from the roots). */
static int add_path(struct builder *b, uint32_t parent, const uint32_t *lines, size_t n, int step,
                    const struct mp_stack_info *s)
{
    for (size_t i = 0; i < n; i++, lines += step) {
        uint32_t id = child(b, parent, *lines);
        if (id == UINT32_MAX)
            return -1;
        add_counters(&b->t->nodes[id], s);
        parent = id;
    }
    return 0;
}

static int is_main(const struct mp_profile *p, uint32_t line)
{
    return mp_line_is_c_main(mp_profile_line(p, line));
}

/* Where a path stops going outwards: main's frame at or beyond `from`, or
 * else (a thread, code run before main) the outermost frame that is not
 * runtime code (start_thread, clone), or else the outermost frame. */
static uint32_t outer_end(const struct mp_profile *p, const struct mp_stack_info *s, uint32_t from)
{
    for (uint32_t j = from; j < s->n_frames; j++)
        if (is_main(p, s->frame_lines[j]))
            return j;
    uint32_t end = s->n_frames - 1;
    while (end > from && mp_profile_line(p, s->frame_lines[end])->is_runtime)
        end--;
    return end;
}

/* ---- ordering ---- */

static const struct mp_profile *sort_profile;
static const struct mp_calltree *sort_tree;

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_nodes(const void *a, const void *b)
{
    const struct mp_tree_node *x = &sort_tree->nodes[*(const uint32_t *)a];
    const struct mp_tree_node *y = &sort_tree->nodes[*(const uint32_t *)b];
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    if (x->line == MP_TREE_TARGET || y->line == MP_TREE_TARGET)
        return (x->line == MP_TREE_TARGET) - (y->line == MP_TREE_TARGET);
    const struct mp_line_stats *l = mp_profile_line(sort_profile, x->line);
    const struct mp_line_stats *m = mp_profile_line(sort_profile, y->line);
    int c = strcmp_null(l->file, m->file);
    if (!c)
        c = (l->line > m->line) - (l->line < m->line);
    if (!c)
        c = strcmp(l->function, m->function);
    if (!c)
        c = strcmp(l->module, m->module);
    return c;
}

/* Children lists (each node's children together, biggest first) and roots. */
static int link_children(const struct mp_profile *p, struct mp_calltree *t)
{
    size_t n = t->n_nodes;
    t->child_ids = malloc((n ? n : 1) * sizeof *t->child_ids);
    t->roots = malloc((n ? n : 1) * sizeof *t->roots);
    uint32_t *fill = calloc(n ? n : 1, sizeof *fill);
    if (!t->child_ids || !t->roots || !fill) {
        free(fill);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        t->nodes[i].n_children = 0;
        if (t->nodes[i].parent != UINT32_MAX)
            t->nodes[t->nodes[i].parent].n_children++;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        t->nodes[i].first_child = next;
        next += t->nodes[i].n_children;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t parent = t->nodes[i].parent;
        if (parent == UINT32_MAX)
            t->roots[t->n_roots++] = (uint32_t)i;
        else
            t->child_ids[t->nodes[parent].first_child + fill[parent]++] = (uint32_t)i;
    }
    free(fill);
    sort_profile = p;
    sort_tree = t;
    for (size_t i = 0; i < n; i++)
        qsort(t->child_ids + t->nodes[i].first_child, t->nodes[i].n_children, sizeof *t->child_ids, cmp_nodes);
    qsort(t->roots, t->n_roots, sizeof *t->roots, cmp_nodes);
    return 0;
}

static int finish(struct builder *b, int failed)
{
    mp_hashidx_free(&b->index);
    if (failed || link_children(b->p, b->t) != 0) {
        mp_calltree_free(b->t);
        return -1;
    }
    return 0;
}

/* ---- the trees ---- */

int mp_calltree_span(const struct mp_profile *p, const struct mp_stack_info *s, uint32_t *self, uint32_t *end)
{
    uint32_t i = 0;
    while (i < s->n_frames && s->frame_lines[i] != s->self_line)
        i++;
    if (i == s->n_frames)
        return -1;
    *self = i;
    *end = outer_end(p, s, i);
    return 0;
}

int mp_calltree_top_down(const struct mp_profile *p, struct mp_calltree *t)
{
    memset(t, 0, sizeof *t);
    struct builder b = { .p = p, .t = t };
    mp_hashidx_init(&b.index);
    int failed = 0;
    for (size_t i = 0; i < mp_profile_stack_count(p) && !failed; i++) {
        const struct mp_stack_info *s = mp_profile_stack(p, i);
        uint32_t self, end;
        if (!s->alloc_calls)
            continue;
        if (mp_calltree_span(p, s, &self, &end) != 0) /* the user line is no frame of its own */
            failed = add_path(&b, UINT32_MAX, &s->self_line, 1, 1, s) != 0;
        else
            failed = add_path(&b, UINT32_MAX, &s->frame_lines[end], end - self + 1, -1, s) != 0;
    }
    return finish(&b, failed);
}

int mp_calltree_callers(const struct mp_profile *p, const uint8_t *target, struct mp_calltree *t)
{
    memset(t, 0, sizeof *t);
    struct builder b = { .p = p, .t = t };
    mp_hashidx_init(&b.index);
    int failed = child(&b, UINT32_MAX, MP_TREE_TARGET) != 0;
    for (size_t i = 0; i < mp_profile_stack_count(p) && !failed; i++) {
        const struct mp_stack_info *s = mp_profile_stack(p, i);
        uint32_t at = s->n_frames;
        while (at > 0 && !target[s->frame_lines[at - 1]])
            at--;
        if (at == 0 || !s->alloc_calls)
            continue;
        at--; /* the outermost target frame */
        add_counters(&t->nodes[0], s);
        uint32_t end = outer_end(p, s, at);
        if (end == at)
            continue; /* no caller inside the program (main, a thread's start routine) */
        failed = add_path(&b, 0, &s->frame_lines[at + 1], end - at, 1, s) != 0;
    }
    return finish(&b, failed);
}

void mp_calltree_free(struct mp_calltree *t)
{
    free(t->nodes);
    free(t->child_ids);
    free(t->roots);
    memset(t, 0, sizeof *t);
}
