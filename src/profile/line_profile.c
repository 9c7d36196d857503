/* memprof: line mode, aggregation (see line_profile.h). */
#include "line_profile.h"

#include <stdlib.h>
#include <string.h>

/* Spans kept per function: past twice this many, spans closer than a
 * growing gap merge (a function called a million times stays a few hundred
 * brackets, which is all a picture can show). */
#define MAX_SPANS 512

struct open_line {
    uint32_t depth;
    uint32_t func;
    uint32_t point;          /* the latest point reached on the line */
    uint64_t rss0, heap0;    /* levels when the line started */
    uint64_t call_start_ns;  /* when the function's frame (this entry) opened */
};

struct func_spans {
    struct mp_span *spans;
    size_t n, cap;
    uint64_t calls;
    uint64_t merge_gap_ns;   /* spans closer than this are one */
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
    size_t n_funcs;              /* functions that have rows and spans (the map may grow) */
    struct thread_state *threads;
    size_t n_slots, n_threads;
    uint64_t last_rss;
    uint64_t last_time_ns;
    uint64_t bad_events;
    struct func_spans *spans;    /* per function */
    int saved_metric;            /* -1: recorded; else the one metric a saved report holds */
};

static void free_threads(struct mp_line_profile *lp)
{
    for (size_t i = 0; i < lp->n_slots; i++)
        free(lp->threads[i].open);
    free(lp->threads);
    lp->threads = NULL;
    lp->n_slots = lp->n_threads = 0;
}

static void clear_spans(struct mp_line_profile *lp)
{
    for (size_t f = 0; f < lp->n_funcs; f++) {
        free(lp->spans[f].spans);
        memset(&lp->spans[f], 0, sizeof lp->spans[f]);
    }
}

static void clear_rows(struct mp_line_profile *lp)
{
    for (size_t f = 0; f < lp->n_funcs; f++)
        for (size_t r = 0; r < lp->n_rows[f]; r++) {
            int line = lp->rows[f][r].line;
            memset(&lp->rows[f][r], 0, sizeof lp->rows[f][r]);
            lp->rows[f][r].line = line;
        }
}

int mp_line_profile_refresh(struct mp_line_profile *lp)
{
    const struct mp_lm_map *map = lp->map;
    if (map->n_funcs <= lp->n_funcs)
        return 0;
    struct mp_lp_row **rows = realloc(lp->rows, map->n_funcs * sizeof *rows);
    if (rows)
        lp->rows = rows;
    size_t *n_rows = realloc(lp->n_rows, map->n_funcs * sizeof *n_rows);
    if (n_rows)
        lp->n_rows = n_rows;
    struct func_spans *spans = realloc(lp->spans, map->n_funcs * sizeof *spans);
    if (spans)
        lp->spans = spans;
    if (!rows || !n_rows || !spans)
        return -1;
    for (size_t f = lp->n_funcs; f < map->n_funcs; f++) {
        const struct mp_lm_func *fn = &map->funcs[f];
        lp->rows[f] = NULL;
        lp->n_rows[f] = 0;
        memset(&lp->spans[f], 0, sizeof lp->spans[f]);
        lp->n_funcs = f + 1;
        if (fn->first_line <= 0 || fn->last_line < fn->first_line)
            continue;
        lp->n_rows[f] = (size_t)(fn->last_line - fn->first_line + 1);
        lp->rows[f] = calloc(lp->n_rows[f], sizeof **lp->rows);
        if (!lp->rows[f]) {
            lp->n_rows[f] = 0;
            return -1;
        }
        for (size_t r = 0; r < lp->n_rows[f]; r++)
            lp->rows[f][r].line = fn->first_line + (int)r;
    }
    return 0;
}

struct mp_line_profile *mp_line_profile_new(const struct mp_lm_map *map)
{
    struct mp_line_profile *lp = calloc(1, sizeof *lp);
    if (!lp)
        return NULL;
    lp->map = map;
    lp->saved_metric = -1;
    if (mp_line_profile_refresh(lp) != 0) {
        mp_line_profile_free(lp);
        return NULL;
    }
    return lp;
}

void mp_line_profile_free(struct mp_line_profile *lp)
{
    if (!lp)
        return;
    free_threads(lp);
    if (lp->rows)
        for (size_t f = 0; f < lp->n_funcs; f++)
            free(lp->rows[f]);
    if (lp->spans)
        clear_spans(lp);
    free(lp->spans);
    free(lp->rows);
    free(lp->n_rows);
    free(lp);
}

void mp_line_profile_reset(struct mp_line_profile *lp)
{
    free_threads(lp);
    clear_rows(lp);
    clear_spans(lp);
    lp->last_rss = 0;
    lp->last_time_ns = 0;
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
    if (p->func >= lp->n_funcs || p->line < f->first_line || p->line > f->last_line || !lp->rows[p->func])
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

static int cmp_span(const void *a, const void *b)
{
    const struct mp_span *x = a, *y = b;
    return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns ? 1 : x->end_ns < y->end_ns ? -1
                                                                                    : x->end_ns > y->end_ns;
}

/* Sorts the spans and merges those that overlap or lie closer than the
 * gap; doubles the gap until at most MAX_SPANS are left. */
static void compact_spans(struct func_spans *fs)
{
    if (fs->n == 0)
        return;
    qsort(fs->spans, fs->n, sizeof *fs->spans, cmp_span);
    for (;;) {
        size_t o = 0;
        for (size_t i = 0; i < fs->n; i++) {
            if (o && fs->spans[i].start_ns <= fs->spans[o - 1].end_ns + fs->merge_gap_ns) {
                if (fs->spans[i].end_ns > fs->spans[o - 1].end_ns)
                    fs->spans[o - 1].end_ns = fs->spans[i].end_ns;
            } else {
                fs->spans[o++] = fs->spans[i];
            }
        }
        fs->n = o;
        if (fs->n <= MAX_SPANS)
            return;
        fs->merge_gap_ns = fs->merge_gap_ns ? fs->merge_gap_ns * 2 : 1000;
    }
}

static void add_span(struct mp_line_profile *lp, uint32_t func, uint64_t start, uint64_t end)
{
    if (func >= lp->n_funcs)
        return;
    struct func_spans *fs = &lp->spans[func];
    if (end < start)
        end = start;
    if (fs->n && start >= fs->spans[fs->n - 1].start_ns && start <= fs->spans[fs->n - 1].end_ns + fs->merge_gap_ns) {
        if (end > fs->spans[fs->n - 1].end_ns)
            fs->spans[fs->n - 1].end_ns = end; /* the usual case: calls one after another */
        return;
    }
    if (fs->n == fs->cap) {
        if (fs->cap >= 2 * MAX_SPANS) {
            compact_spans(fs);
        } else {
            size_t cap = fs->cap ? fs->cap * 2 : 16;
            struct mp_span *g = realloc(fs->spans, cap * sizeof *g);
            if (!g) {
                lp->bad_events++;
                return;
            }
            fs->spans = g;
            fs->cap = cap;
        }
    }
    fs->spans[fs->n++] = (struct mp_span){ start, end };
}

/* Drops the innermost open line of t: its function's frame is over. */
static void pop_line(struct mp_line_profile *lp, struct thread_state *t, uint64_t rss, uint64_t heap)
{
    struct open_line *o = &t->open[--t->n];
    close_line(lp, o, rss, heap);
    add_span(lp, o->func, o->call_start_ns, lp->last_time_ns);
}

/* Close and drop the open lines of frames deeper than `depth`. */
static void close_deeper(struct mp_line_profile *lp, struct thread_state *t, uint32_t depth, uint64_t rss,
                         uint64_t heap)
{
    while (t->n && t->open[t->n - 1].depth > depth)
        pop_line(lp, t, rss, heap);
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
    if (ev->time_ns > lp->last_time_ns)
        lp->last_time_ns = ev->time_ns;
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
    if (p->leave) {
        /* the thread left the inlined copies open in this frame: their
         * lines end; what follows is no profiled line's */
        while (t->n && t->open[t->n - 1].depth >= depth)
            close_line(lp, &t->open[--t->n], rss, heap);
        return;
    }
    if (kind == MP_LM_EV_ENTRY) {
        /* a new frame at `depth`: whatever was open there is over */
        while (t->n && t->open[t->n - 1].depth >= depth)
            pop_line(lp, t, rss, heap);
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
        o->call_start_ns = lp->last_time_ns;
        if (p->func < lp->n_funcs)
            lp->spans[p->func].calls++;
        start_line(lp, o, index, rss, heap);
        return;
    }
    while (t->n > k + 1)
        pop_line(lp, t, rss, heap);
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
            pop_line(lp, t, lp->last_rss, heap);
    }
    for (size_t f = 0; f < lp->n_funcs; f++)
        compact_spans(&lp->spans[f]);
}

const struct mp_span *mp_line_profile_spans(const struct mp_line_profile *lp, size_t func, size_t *n_spans,
                                            uint64_t *calls)
{
    if (func >= lp->n_funcs) {
        *n_spans = 0;
        *calls = 0;
        return NULL;
    }
    *n_spans = lp->spans[func].n;
    *calls = lp->spans[func].calls;
    return lp->spans[func].spans;
}

const struct mp_lm_map *mp_line_profile_map(const struct mp_line_profile *lp)
{
    return lp->map;
}

const struct mp_lp_row *mp_line_profile_rows(const struct mp_line_profile *lp, size_t func, size_t *n_rows)
{
    if (func >= lp->n_funcs) {
        *n_rows = 0;
        return NULL;
    }
    *n_rows = lp->n_rows[func];
    return lp->rows[func];
}

struct mp_function_spans *mp_line_profile_function_spans(const struct mp_line_profile *lp, size_t *n)
{
    *n = 0;
    size_t called = 0;
    for (size_t f = 0; f < lp->n_funcs; f++)
        called += lp->spans[f].calls != 0;
    struct mp_function_spans *out = called ? calloc(called, sizeof *out) : NULL;
    if (!out)
        return NULL;
    for (size_t f = 0; f < lp->n_funcs; f++) {
        const struct func_spans *fs = &lp->spans[f];
        if (fs->calls)
            out[(*n)++] = (struct mp_function_spans){ lp->map->funcs[f].name, lp->map->funcs[f].file, fs->spans, fs->n,
                                                      fs->calls };
    }
    return out;
}

uint64_t mp_line_profile_bad_events(const struct mp_line_profile *lp)
{
    return lp->bad_events;
}

/* ---- tables read back from a saved report ---- */

struct mp_line_profile *mp_line_profile_restored(const struct mp_lm_map *map, enum mp_lm_metric metric)
{
    struct mp_line_profile *lp = mp_line_profile_new(map);
    if (lp)
        lp->saved_metric = (int)metric;
    return lp;
}

int mp_line_profile_set_row(struct mp_line_profile *lp, size_t func, int line, uint64_t occurrences, uint64_t mem,
                            int64_t increment)
{
    if (func >= lp->n_funcs || !lp->rows[func] || line < lp->rows[func][0].line ||
        (size_t)(line - lp->rows[func][0].line) >= lp->n_rows[func])
        return -1;
    struct mp_lp_row *row = &lp->rows[func][line - lp->rows[func][0].line];
    row->has_data = occurrences > 0;
    row->occurrences = occurrences;
    row->mem_rss = row->mem_heap = mem;
    row->increment_rss = row->increment_heap = increment;
    return 0;
}

int mp_line_profile_saved_metric(const struct mp_line_profile *lp)
{
    return lp->saved_metric;
}
