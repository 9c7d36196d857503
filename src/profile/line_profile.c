/* memprof: line mode, aggregation (see line_profile.h). */
#include "line_profile.h"

#include <stdlib.h>
#include <string.h>

struct open_line {
    uint32_t depth;
    uint32_t func;
    uint32_t point;          /* the latest point reached on the line */
    uint64_t rss0, heap0;    /* levels when the line started */
};

struct thread_state {
    uint32_t tid;            /* 0: empty slot */
    struct open_line *open;
    size_t n, cap;
};

struct mp_line_profile {
    const struct mp_lm_map *map;
    struct mp_lp_row **rows;     /* per function */
    size_t *n_rows;
    struct thread_state *threads;
    size_t n_slots, n_threads;
    uint64_t last_rss;
    uint64_t bad_events;
};

static void free_threads(struct mp_line_profile *lp)
{
    for (size_t i = 0; i < lp->n_slots; i++)
        free(lp->threads[i].open);
    free(lp->threads);
    lp->threads = NULL;
    lp->n_slots = lp->n_threads = 0;
}

static void clear_rows(struct mp_line_profile *lp)
{
    for (size_t f = 0; f < lp->map->n_funcs; f++)
        for (size_t r = 0; r < lp->n_rows[f]; r++) {
            int line = lp->rows[f][r].line;
            memset(&lp->rows[f][r], 0, sizeof lp->rows[f][r]);
            lp->rows[f][r].line = line;
        }
}

struct mp_line_profile *mp_line_profile_new(const struct mp_lm_map *map)
{
    struct mp_line_profile *lp = calloc(1, sizeof *lp);
    if (!lp)
        return NULL;
    lp->map = map;
    size_t n = map->n_funcs ? map->n_funcs : 1;
    lp->rows = calloc(n, sizeof *lp->rows);
    lp->n_rows = calloc(n, sizeof *lp->n_rows);
    if (!lp->rows || !lp->n_rows) {
        mp_line_profile_free(lp);
        return NULL;
    }
    for (size_t f = 0; f < map->n_funcs; f++) {
        const struct mp_lm_func *fn = &map->funcs[f];
        if (fn->first_line <= 0 || fn->last_line < fn->first_line)
            continue;
        lp->n_rows[f] = (size_t)(fn->last_line - fn->first_line + 1);
        lp->rows[f] = calloc(lp->n_rows[f], sizeof **lp->rows);
        if (!lp->rows[f]) {
            mp_line_profile_free(lp);
            return NULL;
        }
        for (size_t r = 0; r < lp->n_rows[f]; r++)
            lp->rows[f][r].line = fn->first_line + (int)r;
    }
    return lp;
}

void mp_line_profile_free(struct mp_line_profile *lp)
{
    if (!lp)
        return;
    free_threads(lp);
    if (lp->rows)
        for (size_t f = 0; f < lp->map->n_funcs; f++)
            free(lp->rows[f]);
    free(lp->rows);
    free(lp->n_rows);
    free(lp);
}

void mp_line_profile_reset(struct mp_line_profile *lp)
{
    free_threads(lp);
    clear_rows(lp);
    lp->last_rss = 0;
    lp->bad_events = 0;
}

static size_t hash_tid(uint32_t tid, size_t mask)
{
    return (size_t)((tid * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static struct thread_state *thread_state(struct mp_line_profile *lp, uint32_t tid)
{
    if ((lp->n_threads + 1) * 2 > lp->n_slots) {
        size_t n = lp->n_slots ? lp->n_slots * 2 : 16;
        struct thread_state *grown = calloc(n, sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = 0; i < lp->n_slots; i++) {
            if (!lp->threads[i].tid)
                continue;
            size_t j = hash_tid(lp->threads[i].tid, n - 1);
            while (grown[j].tid)
                j = (j + 1) & (n - 1);
            grown[j] = lp->threads[i];
        }
        free(lp->threads);
        lp->threads = grown;
        lp->n_slots = n;
    }
    size_t mask = lp->n_slots - 1;
    for (size_t i = hash_tid(tid, mask);; i = (i + 1) & mask) {
        if (lp->threads[i].tid == tid)
            return &lp->threads[i];
        if (!lp->threads[i].tid) {
            lp->threads[i].tid = tid;
            lp->n_threads++;
            return &lp->threads[i];
        }
    }
}

static struct mp_lp_row *row_of(struct mp_line_profile *lp, uint32_t point)
{
    const struct mp_lm_point *p = &lp->map->points[point];
    const struct mp_lm_func *f = &lp->map->funcs[p->func];
    if (p->line < f->first_line || p->line > f->last_line || !lp->rows[p->func])
        return NULL;
    return &lp->rows[p->func][p->line - f->first_line];
}

static void close_line(struct mp_line_profile *lp, const struct open_line *o, uint64_t rss, uint64_t heap)
{
    struct mp_lp_row *row = row_of(lp, o->point);
    if (!row)
        return;
    row->has_data = 1;
    row->increment_rss += (int64_t)(rss - o->rss0);
    row->increment_heap += (int64_t)(heap - o->heap0);
    if (rss > row->mem_rss)
        row->mem_rss = rss;
    if (heap > row->mem_heap)
        row->mem_heap = heap;
}

static void start_line(struct mp_line_profile *lp, struct open_line *o, uint32_t point, uint64_t rss, uint64_t heap)
{
    o->point = point;
    o->rss0 = rss;
    o->heap0 = heap;
    struct mp_lp_row *row = row_of(lp, point);
    if (row) {
        row->has_data = 1;
        row->occurrences++;
    }
}

/* Close and drop the open lines of frames deeper than `depth`. */
static void close_deeper(struct mp_line_profile *lp, struct thread_state *t, uint32_t depth, uint64_t rss,
                         uint64_t heap)
{
    while (t->n && t->open[t->n - 1].depth > depth)
        close_line(lp, &t->open[--t->n], rss, heap);
}

static struct open_line *push_line(struct thread_state *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct open_line *grown = realloc(t->open, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->open = grown;
        t->cap = cap;
    }
    return &t->open[t->n++];
}

void mp_line_profile_add(struct mp_line_profile *lp, const struct mp_event *ev, uint64_t heap)
{
    if (ev->kind == MP_EV_SAMPLE) {
        lp->last_rss = ev->rss_bytes;
        return;
    }
    if (ev->kind != MP_EV_LINE)
        return;
    uint64_t rss = ev->rss_bytes;
    lp->last_rss = rss;
    enum mp_lm_event_kind kind = mp_lm_event_kind(ev->addr);
    uint32_t depth = mp_lm_event_depth(ev->addr), index = mp_lm_event_index(ev->addr);
    struct thread_state *t = thread_state(lp, ev->tid);
    if (!t) {
        lp->bad_events++;
        return;
    }
    if (kind == MP_LM_EV_EXIT) {
        close_deeper(lp, t, depth, rss, heap);
        return;
    }
    if ((kind != MP_LM_EV_LINE && kind != MP_LM_EV_ENTRY) || index >= lp->map->n_points) {
        lp->bad_events++;
        return;
    }
    const struct mp_lm_point *p = &lp->map->points[index];
    if (kind == MP_LM_EV_ENTRY) {
        /* a new frame at `depth`: whatever was open there is over */
        while (t->n && t->open[t->n - 1].depth >= depth)
            close_line(lp, &t->open[--t->n], rss, heap);
    } else {
        close_deeper(lp, t, depth, rss, heap);
    }
    /* the open line of this function in this frame, if any (inlined copies
     * of other functions opened after it in the same frame are over) */
    size_t k = t->n;
    if (kind == MP_LM_EV_LINE)
        for (size_t i = t->n; i-- > 0 && t->open[i].depth == depth;)
            if (t->open[i].func == p->func) {
                k = i;
                break;
            }
    if (k == t->n) {
        struct open_line *o = push_line(t);
        if (!o) {
            lp->bad_events++;
            return;
        }
        o->depth = depth;
        o->func = p->func;
        start_line(lp, o, index, rss, heap);
        return;
    }
    while (t->n > k + 1)
        close_line(lp, &t->open[--t->n], rss, heap);
    struct open_line *o = &t->open[k];
    const struct mp_lm_point *cur = &lp->map->points[o->point];
    if (cur->line != p->line || p->addr <= cur->addr) {
        close_line(lp, o, rss, heap);
        start_line(lp, o, index, rss, heap);
    } else {
        o->point = index; /* further along the same line: the same occurrence */
    }
}

void mp_line_profile_finish(struct mp_line_profile *lp, uint64_t heap)
{
    for (size_t i = 0; i < lp->n_slots; i++) {
        struct thread_state *t = &lp->threads[i];
        while (t->tid && t->n)
            close_line(lp, &t->open[--t->n], lp->last_rss, heap);
    }
}

const struct mp_lm_map *mp_line_profile_map(const struct mp_line_profile *lp)
{
    return lp->map;
}

const struct mp_lp_row *mp_line_profile_rows(const struct mp_line_profile *lp, size_t func, size_t *n_rows)
{
    if (func >= lp->map->n_funcs) {
        *n_rows = 0;
        return NULL;
    }
    *n_rows = lp->n_rows[func];
    return lp->rows[func];
}

uint64_t mp_line_profile_bad_events(const struct mp_line_profile *lp)
{
    return lp->bad_events;
}
