/* memprof: builds memprof's per-function tables and line orderings from a profile. */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

int mp_line_tabulable(const struct mp_line_stats *l)
{
    return l->file && l->line > 0 && l->func_file && strcmp(l->file, l->func_file) == 0 &&
           mp_line_has_table_data(l) && (l->func_first_line <= 0 || l->line >= l->func_first_line) &&
           (l->func_last_line <= 0 || l->line <= l->func_last_line);
}

static const struct mp_profile *sort_profile;

static int cmp_by_function(const void *a, const void *b)
{
    const struct mp_line_stats *x = mp_profile_line(sort_profile, *(const size_t *)a);
    const struct mp_line_stats *y = mp_profile_line(sort_profile, *(const size_t *)b);
    int c = strcmp_null(x->func_file, y->func_file);
    if (!c)
        c = strcmp(x->function, y->function);
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    return c;
}

static int cmp_tables(const void *a, const void *b)
{
    const struct mp_table *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->function, y->function);
}

static int fill_table(const struct mp_profile *p, const size_t *idx, size_t n, struct mp_table *t)
{
    const struct mp_line_stats *first = mp_profile_line(p, idx[0]);
    int lo = first->func_first_line, hi = first->func_last_line;
    for (size_t i = 0; i < n; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        if (lo <= 0 || l->line < lo)
            lo = l->line;
        if (l->line > hi)
            hi = l->line;
    }
    t->file = first->func_file;
    t->function = first->function;
    t->first_line = lo;
    t->last_line = hi;
    t->n_rows = (size_t)(hi - lo + 1);
    t->rows = calloc(t->n_rows, sizeof *t->rows);
    if (!t->rows)
        return -1;
    for (size_t r = 0; r < t->n_rows; r++)
        t->rows[r].line = lo + (int)r;
    t->bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        struct mp_table_row *row = &t->rows[l->line - lo];
        row->has_data = 1;
        row->mem_usage_bytes = l->incl_max_live_bytes;
        row->increment_bytes = (int64_t)l->incl_live_bytes;
        row->occurrences = l->incl_calls;
        row->allocated_bytes = l->incl_bytes;
        row->site_free_calls = l->site_free_calls;
        row->site_freed_bytes = l->site_freed_bytes;
        row->net_bytes = (int64_t)(l->incl_bytes - l->site_freed_bytes);
        row->mapped_usage_bytes = l->incl_max_mapped_bytes;
        row->mapped_increment_bytes = (int64_t)l->incl_mapped_live_bytes;
        row->mapped_bytes = l->incl_mapped_bytes;
        if (l->incl_bytes + l->incl_mapped_bytes > t->bytes)
            t->bytes = l->incl_bytes + l->incl_mapped_bytes;
    }
    return 0;
}

int mp_tables_build(const struct mp_profile *p, struct mp_tables *out)
{
    memset(out, 0, sizeof *out);
    size_t n_lines = mp_profile_line_count(p), n = 0;
    size_t *idx = malloc((n_lines ? n_lines : 1) * sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < n_lines; i++)
        if (mp_line_tabulable(mp_profile_line(p, i)))
            idx[n++] = i;
    sort_profile = p;
    qsort(idx, n, sizeof *idx, cmp_by_function);
    out->tables = calloc(n ? n : 1, sizeof *out->tables);
    if (!out->tables) {
        free(idx);
        return -1;
    }
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        const struct mp_line_stats *a = mp_profile_line(p, idx[start]);
        while (end < n) {
            const struct mp_line_stats *b = mp_profile_line(p, idx[end]);
            if (strcmp(a->func_file, b->func_file) || strcmp(a->function, b->function))
                break;
            end++;
        }
        if (fill_table(p, idx + start, end - start, &out->tables[out->n]) != 0) {
            free(idx);
            mp_tables_free(out);
            return -1;
        }
        out->n++;
        start = end;
    }
    free(idx);
    qsort(out->tables, out->n, sizeof *out->tables, cmp_tables);
    return 0;
}

void mp_tables_free(struct mp_tables *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->tables[i].rows);
    free(t->tables);
    memset(t, 0, sizeof *t);
}

static enum mp_line_order sort_order;

static uint64_t primary(const struct mp_line_stats *l)
{
    switch (sort_order) {
    case MP_BY_PEAK: return l->peak_bytes;
    case MP_BY_LEAKED: return l->live_bytes;
    case MP_BY_TEMPORARY: return l->temporary_calls;
    case MP_BY_PEAK_TOTAL: return l->peak_total_bytes;
    case MP_BY_MAPPED_LIVE: return l->mapped_live_bytes;
    case MP_BY_ALLOCATED: break;
    }
    return l->allocated_bytes + l->mapped_bytes;
}

static uint64_t secondary(const struct mp_line_stats *l)
{
    return sort_order == MP_BY_LEAKED ? l->live_blocks : l->alloc_calls + l->map_calls;
}

int mp_line_cmp_place(const struct mp_line_stats *x, const struct mp_line_stats *y)
{
    int c = strcmp_null(x->file, y->file);
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    if (!c)
        c = strcmp(x->function, y->function);
    if (!c)
        c = strcmp(x->module, y->module);
    return c;
}

static int cmp_lines(const void *a, const void *b)
{
    const struct mp_line_stats *x = mp_profile_line(sort_profile, *(const size_t *)a);
    const struct mp_line_stats *y = mp_profile_line(sort_profile, *(const size_t *)b);
    if (primary(x) != primary(y))
        return primary(x) < primary(y) ? 1 : -1;
    if (secondary(x) != secondary(y))
        return secondary(x) < secondary(y) ? 1 : -1;
    return mp_line_cmp_place(x, y);
}

size_t *mp_lines_sorted(const struct mp_profile *p, enum mp_line_order order, size_t *n_out)
{
    size_t n_lines = mp_profile_line_count(p), n = 0;
    size_t *idx = malloc((n_lines ? n_lines : 1) * sizeof *idx);
    if (!idx) {
        *n_out = 0;
        return NULL;
    }
    sort_profile = p;
    sort_order = order;
    for (size_t i = 0; i < n_lines; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (order == MP_BY_ALLOCATED ? l->alloc_calls > 0 || l->map_calls > 0
            : order == MP_BY_LEAKED  ? l->live_blocks > 0
                                     : primary(l) > 0)
            idx[n++] = i;
    }
    qsort(idx, n, sizeof *idx, cmp_lines);
    *n_out = n;
    return idx;
}

static int cmp_stacks(const void *a, const void *b)
{
    const struct mp_stack_info *x = mp_profile_stack(sort_profile, *(const size_t *)a);
    const struct mp_stack_info *y = mp_profile_stack(sort_profile, *(const size_t *)b);
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes < y->live_bytes ? 1 : -1;
    if (x->live_blocks != y->live_blocks)
        return x->live_blocks < y->live_blocks ? 1 : -1;
    return mp_stack_cmp_frames(sort_profile, x, y);
}

int mp_stack_cmp_frames(const struct mp_profile *p, const struct mp_stack_info *x, const struct mp_stack_info *y)
{
    for (uint32_t i = 0; i < x->n_frames && i < y->n_frames; i++) {
        int c = mp_line_cmp_place(mp_profile_line(p, x->frame_lines[i]), mp_profile_line(p, y->frame_lines[i]));
        if (c)
            return c;
    }
    return (x->n_frames > y->n_frames) - (x->n_frames < y->n_frames);
}

size_t *mp_stacks_by_live(const struct mp_profile *p, size_t *n_out)
{
    size_t n_stacks = mp_profile_stack_count(p), n = 0;
    size_t *idx = malloc((n_stacks ? n_stacks : 1) * sizeof *idx);
    if (!idx) {
        *n_out = 0;
        return NULL;
    }
    for (size_t i = 0; i < n_stacks; i++)
        if (mp_profile_stack(p, i)->live_blocks > 0)
            idx[n++] = i;
    sort_profile = p;
    qsort(idx, n, sizeof *idx, cmp_stacks);
    *n_out = n;
    return idx;
}

static int cmp_largest(const void *a, const void *b)
{
    const struct mp_largest *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    return (x->stack > y->stack) - (x->stack < y->stack);
}

size_t mp_largest_sorted(const struct mp_profile *p, struct mp_largest out[MP_LARGEST_KEPT])
{
    const struct mp_largest *kept;
    size_t n = mp_profile_largest(p, &kept);
    if (n)
        memcpy(out, kept, n * sizeof *out);
    qsort(out, n, sizeof *out, cmp_largest);
    return n;
}
