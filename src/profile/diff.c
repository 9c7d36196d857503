/* memprof: the diff of two profiles (tracemalloc's compare_to): the model.
 * Its text is written by report/report_diff.c. */
#include "diff.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Keys and entries                                                           */
/* ------------------------------------------------------------------------ */

/* One allocating line of one profile (records with the same key summed). */
struct entry {
    const char *file, *function, *module;  /* module only matters when file is NULL */
    int line;
    uint64_t alloc_calls, allocated_bytes, peak_bytes, live_bytes, live_blocks;
    struct entry *match;                   /* its partner in the other profile */
    int moved;
};

/* NULL sorts after every string. */
static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a == NULL) - (b == NULL);
    return strcmp(a, b);
}

static int cmp_int(int a, int b)
{
    return (a > b) - (a < b);
}

static int cmp_place(const char *fa, int la, const char *fna, const char *ma, const char *fb, int lb,
                     const char *fnb, const char *mb)
{
    int c = cmp_str(fa, fb);
    if (!c)
        c = cmp_int(la, lb);
    if (!c)
        c = cmp_str(fna, fnb);
    if (!c && !fa)
        c = cmp_str(ma, mb);
    return c;
}

static int cmp_entry_key(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return cmp_place(x->file, x->line, x->function, x->module, y->file, y->line, y->function, y->module);
}

/* By file and function, then line (the groups the moved-line rule looks at). */
static int cmp_entry_function(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    int c = cmp_str(x->file, y->file);
    if (!c)
        c = cmp_str(x->function, y->function);
    if (!c)
        c = cmp_int(x->line, y->line);
    return c;
}

/* The allocating lines of p, sorted by key, duplicates merged. */
static struct entry *collect(const struct mp_profile *p, size_t *n_out)
{
    size_t n_lines = mp_profile_line_count(p), n = 0;
    struct entry *e = calloc(n_lines ? n_lines : 1, sizeof *e);
    if (!e)
        return NULL;
    for (size_t i = 0; i < n_lines; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (!l->alloc_calls)
            continue;
        e[n++] = (struct entry){ .file = l->file, .function = l->function, .module = l->module,
                                 .line = l->file ? l->line : 0, .alloc_calls = l->alloc_calls,
                                 .allocated_bytes = l->allocated_bytes, .peak_bytes = l->peak_bytes,
                                 .live_bytes = l->live_bytes, .live_blocks = l->live_blocks };
    }
    qsort(e, n, sizeof *e, cmp_entry_key);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && cmp_entry_key(&e[m - 1], &e[i]) == 0) {
            struct entry *d = &e[m - 1];
            d->alloc_calls += e[i].alloc_calls;
            d->allocated_bytes += e[i].allocated_bytes;
            d->peak_bytes += e[i].peak_bytes;
            d->live_bytes += e[i].live_bytes;
            d->live_blocks += e[i].live_blocks;
        } else {
            e[m++] = e[i];
        }
    }
    *n_out = m;
    return e;
}

static void match_exact(struct entry *a, size_t na, struct entry *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        int c = cmp_entry_key(&a[i], &b[j]);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            a[i].match = &b[j];
            b[j].match = &a[i];
            i++, j++;
        }
    }
}

/* Entries with line info, by file and function. */
static struct entry **by_function(struct entry *e, size_t n, size_t *n_out)
{
    struct entry **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].file && e[i].function)
            v[m++] = &e[i];
    qsort(v, m, sizeof *v, cmp_entry_function);
    *n_out = m;
    return v;
}

static size_t group_end(struct entry **v, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && cmp_str(v[j]->file, v[i]->file) == 0 && cmp_str(v[j]->function, v[i]->function) == 0)
        j++;
    return j;
}

/* A line that moved: its function has exactly one allocating line in each
 * profile, and neither was matched by place. */
static int match_moved(struct entry *a, size_t na, struct entry *b, size_t nb)
{
    size_t nva, nvb;
    struct entry **va = by_function(a, na, &nva), **vb = by_function(b, nb, &nvb);
    if (!va || !vb) {
        free(va);
        free(vb);
        return -1;
    }
    size_t i = 0, j = 0;
    while (i < nva && j < nvb) {
        size_t ie = group_end(va, nva, i), je = group_end(vb, nvb, j);
        int c = cmp_str(va[i]->file, vb[j]->file);
        if (!c)
            c = cmp_str(va[i]->function, vb[j]->function);
        if (c < 0) {
            i = ie;
        } else if (c > 0) {
            j = je;
        } else {
            if (ie - i == 1 && je - j == 1 && !va[i]->match && !vb[j]->match) {
                va[i]->match = vb[j];
                vb[j]->match = va[i];
                va[i]->moved = vb[j]->moved = 1;
            }
            i = ie;
            j = je;
        }
    }
    free(va);
    free(vb);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                  */
/* ------------------------------------------------------------------------ */

static void metric_of(const struct entry *e, enum mp_diff_metric m, uint64_t *size, uint64_t *count)
{
    if (!e) {
        *size = *count = 0;
        return;
    }
    switch (m) {
    case MP_DIFF_PEAK:
        *size = e->peak_bytes;
        *count = e->alloc_calls;
        break;
    case MP_DIFF_LEAKED:
        *size = e->live_bytes;
        *count = e->live_blocks;
        break;
    case MP_DIFF_ALLOCATED:
    default:
        *size = e->allocated_bytes;
        *count = e->alloc_calls;
        break;
    }
}

static uint64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return (a < b) - (a > b);
}

static int cmp_diff_line(const void *a, const void *b)
{
    const struct mp_diff_line *x = a, *y = b;
    int c = cmp_u64_desc(absdiff(x->old_size, x->new_size), absdiff(y->old_size, y->new_size));
    if (!c)
        c = cmp_u64_desc(absdiff(x->old_count, x->new_count), absdiff(y->old_count, y->new_count));
    if (!c)
        c = cmp_place(x->file, x->line, x->function, x->module, y->file, y->line, y->function, y->module);
    if (!c)
        c = cmp_int((int)x->kind, (int)y->kind);
    if (!c)
        c = cmp_int(x->old_line, y->old_line);
    return c;
}

/* Adds the line for (o, n) (either may be NULL) unless its numbers did not change. */
static void add_line(struct mp_diff *d, const struct entry *o, const struct entry *n)
{
    struct mp_diff_line l = { 0 };
    metric_of(o, d->metric, &l.old_size, &l.old_count);
    metric_of(n, d->metric, &l.new_size, &l.new_count);
    if (l.old_size == l.new_size && l.old_count == l.new_count) {
        d->n_unchanged++;
        return;
    }
    const struct entry *place = n ? n : o;
    l.kind = !o ? MP_DIFF_NEW : !n ? MP_DIFF_GONE : n->moved ? MP_DIFF_MOVED : MP_DIFF_SAME_PLACE;
    l.file = place->file;
    l.line = place->line;
    l.function = place->function;
    l.module = place->module;
    l.old_line = l.kind == MP_DIFF_MOVED ? o->line : 0;
    d->lines[d->n_lines++] = l;
}

static void summary(struct mp_diff *d, const struct mp_profile *old_p, const struct mp_report_run *old_run,
                    const struct mp_profile *new_p, const struct mp_report_run *new_run)
{
    const struct mp_totals *a = mp_profile_totals(old_p), *b = mp_profile_totals(new_p);
    uint64_t v[MP_DIFF_N_SUMMARY][2] = {
        [MP_DIFF_PEAK_HEAP] = { a->peak_heap_bytes, b->peak_heap_bytes },
        [MP_DIFF_LEAKED_BYTES] = { a->live_bytes, b->live_bytes },
        [MP_DIFF_LEAKED_BLOCKS] = { a->live_blocks, b->live_blocks },
        [MP_DIFF_ALLOC_CALLS] = { a->alloc_calls, b->alloc_calls },
        [MP_DIFF_ALLOCATED_BYTES] = { a->allocated_bytes, b->allocated_bytes },
        [MP_DIFF_TEMPORARY_CALLS] = { a->temporary_calls, b->temporary_calls },
        [MP_DIFF_PEAK_RSS] = { old_run ? old_run->peak_rss_bytes : 0, new_run ? new_run->peak_rss_bytes : 0 },
    };
    for (int i = 0; i < MP_DIFF_N_SUMMARY; i++) {
        struct mp_diff_value *s = &d->summary[i];
        s->old_value = v[i][0];
        s->new_value = v[i][1];
        /* Peak RSS 0 means the report does not have it. */
        s->old_known = i != MP_DIFF_PEAK_RSS || s->old_value != 0;
        s->new_known = i != MP_DIFF_PEAK_RSS || s->new_value != 0;
    }
    d->old_heap_note = old_run ? old_run->engine_note : NULL;
    d->new_heap_note = new_run ? new_run->engine_note : NULL;
}

int mp_diff_build(const struct mp_profile *old_p, const struct mp_report_run *old_run,
                  const struct mp_profile *new_p, const struct mp_report_run *new_run, enum mp_diff_metric metric,
                  struct mp_diff *out)
{
    memset(out, 0, sizeof *out);
    out->metric = metric;
    summary(out, old_p, old_run, new_p, new_run);

    size_t na = 0, nb = 0;
    struct entry *a = collect(old_p, &na), *b = collect(new_p, &nb);
    out->lines = malloc((na + nb ? na + nb : 1) * sizeof *out->lines);
    if (!a || !b || !out->lines)
        goto fail;
    match_exact(a, na, b, nb);
    if (match_moved(a, na, b, nb) != 0)
        goto fail;
    for (size_t j = 0; j < nb; j++)
        add_line(out, b[j].match, &b[j]);
    for (size_t i = 0; i < na; i++)
        if (!a[i].match)
            add_line(out, &a[i], NULL);
    qsort(out->lines, out->n_lines, sizeof *out->lines, cmp_diff_line);
    free(a);
    free(b);
    return 0;
fail:
    free(a);
    free(b);
    mp_diff_free(out);
    return -1;
}

void mp_diff_free(struct mp_diff *d)
{
    free(d->lines);
    d->lines = NULL;
    d->n_lines = 0;
}
