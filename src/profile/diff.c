/* memprof: the diff of two profiles (tracemalloc's compare_to): the model.
 * Its text is written by report/report_diff.c.
 *
 * Items are lines, files, functions or stacks (enum mp_diff_group), made
 * by diff_items.c, each with a key; equal keys are the same item.  Keys are
 * interned, so the model owns them (and the frames of a traceback); it
 * still points into the profiles for what it shows. */
#include "diff_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matching ---- */

static void match_exact(struct entry *a, size_t na, struct entry *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        int c = strcmp(a[i].key, b[j].key);
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

/* By file key and function, then line (the groups the moved-line rule looks at). */
static int cmp_entry_function(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    int c = cmp_str(x->file_key, y->file_key);
    if (!c)
        c = cmp_str(x->function, y->function);
    if (!c)
        c = cmp_int(x->line, y->line);
    return c;
}

/* Entries with line info, by file and function. */
static struct entry **by_function(struct entry *e, size_t n, size_t *n_out)
{
    struct entry **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].file_key && e[i].function)
            v[m++] = &e[i];
    qsort(v, m, sizeof *v, cmp_entry_function);
    *n_out = m;
    return v;
}

static size_t group_end(struct entry **v, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && cmp_str(v[j]->file_key, v[i]->file_key) == 0 && cmp_str(v[j]->function, v[i]->function) == 0)
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
        int c = cmp_str(va[i]->file_key, vb[j]->file_key);
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

/* ---- the model ---- */

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

static int cmp_place(const struct mp_diff_line *x, const struct mp_diff_line *y)
{
    int c = cmp_str(x->file, y->file);
    if (!c)
        c = cmp_int(x->line, y->line);
    if (!c)
        c = cmp_str(x->function, y->function);
    if (!c && !x->file)
        c = cmp_str(x->module, y->module);
    for (size_t i = 0; !c && i < x->n_callers && i < y->n_callers; i++) {
        const struct mp_diff_frame *f = &x->callers[i], *g = &y->callers[i];
        c = cmp_str(f->file, g->file);
        if (!c)
            c = cmp_int(f->line, g->line);
        if (!c)
            c = cmp_str(f->function, g->function);
    }
    return c ? c : (x->n_callers > y->n_callers) - (x->n_callers < y->n_callers);
}

static int cmp_diff_line(const void *a, const void *b)
{
    const struct mp_diff_line *x = a, *y = b;
    int c = cmp_u64_desc(absdiff(x->old_size, x->new_size), absdiff(y->old_size, y->new_size));
    if (!c)
        c = cmp_u64_desc(absdiff(x->old_count, x->new_count), absdiff(y->old_count, y->new_count));
    if (!c)
        c = cmp_place(x, y);
    if (!c)
        c = cmp_int((int)x->kind, (int)y->kind);
    if (!c)
        c = cmp_int(x->old_line, y->old_line);
    return c;
}

/* Adds the item for (o, n) (either may be NULL) unless its numbers did not change. */
static void add_line(struct mp_diff *d, const struct owned *own, const struct entry *o, const struct entry *n)
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
    l.callers = place->n_frames ? &own->frames[place->frames_at] : NULL;
    l.n_callers = place->n_frames;
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

static int cmp_renamed(const void *a, const void *b)
{
    return strcmp(((const struct mp_diff_renamed *)a)->old_path, ((const struct mp_diff_renamed *)b)->old_path);
}

/* Pairs the files of the two profiles; the files paired under another path. */
static int pair_files(struct mp_diff *d, struct owned *own, const struct mp_diff_paths *paths, struct file_keys *fa,
                      struct file_keys *fb)
{
    struct mp_diff_files f = { &own->strings, calloc(fa->n ? fa->n : 1, sizeof *f.old_files),
                               calloc(fb->n ? fb->n : 1, sizeof *f.new_files), fa->n, fb->n };
    int rc = -1;
    d->renamed = malloc((fa->n ? fa->n : 1) * sizeof *d->renamed);
    if (!f.old_files || !f.new_files || !d->renamed)
        goto out;
    for (size_t i = 0; i < fa->n; i++)
        f.old_files[i].path = fa->paths[i];
    for (size_t j = 0; j < fb->n; j++)
        f.new_files[j].path = fb->paths[j];
    if (mp_diff_pair_files(&f, paths) != 0)
        goto out;
    for (size_t i = 0; i < fa->n; i++)
        fa->keys[i] = f.old_files[i].key;
    for (size_t j = 0; j < fb->n; j++) {
        fb->keys[j] = f.new_files[j].key;
        for (size_t i = 0; i < fa->n; i++)
            if (f.old_files[i].key == f.new_files[j].key && strcmp(f.old_files[i].path, f.new_files[j].path) != 0)
                d->renamed[d->n_renamed++] = (struct mp_diff_renamed){ f.old_files[i].path, f.new_files[j].path };
    }
    qsort(d->renamed, d->n_renamed, sizeof *d->renamed, cmp_renamed);
    rc = 0;
out:
    free(f.old_files);
    free(f.new_files);
    return rc;
}

int mp_diff_build_with(const struct mp_profile *old_p, const struct mp_report_run *old_run,
                       const struct mp_profile *new_p, const struct mp_report_run *new_run,
                       const struct mp_diff_config *cfg, struct mp_diff *out)
{
    memset(out, 0, sizeof *out);
    out->metric = cfg->metric;
    out->group = cfg->group;
    summary(out, old_p, old_run, new_p, new_run);
    struct owned *own = calloc(1, sizeof *own);
    struct file_keys fa = { 0 }, fb = { 0 };
    struct entry *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (!own)
        return -1;
    mp_strtab_init(&own->strings);
    out->owned = own;
    if (mp_diff_collect_files(old_p, &fa) != 0 || mp_diff_collect_files(new_p, &fb) != 0 ||
        pair_files(out, own, &cfg->paths, &fa, &fb) != 0)
        goto fail;
    a = mp_diff_collect(old_p, &fa, cfg->group, own, &na);
    b = mp_diff_collect(new_p, &fb, cfg->group, own, &nb);
    out->lines = malloc((na + nb ? na + nb : 1) * sizeof *out->lines);
    if (!a || !b || !out->lines)
        goto fail;
    match_exact(a, na, b, nb);
    if (cfg->group == MP_DIFF_BY_LINE && match_moved(a, na, b, nb) != 0)
        goto fail;
    for (size_t j = 0; j < nb; j++)
        add_line(out, own, b[j].match, &b[j]);
    for (size_t i = 0; i < na; i++)
        if (!a[i].match)
            add_line(out, own, &a[i], NULL);
    qsort(out->lines, out->n_lines, sizeof *out->lines, cmp_diff_line);
    free(a);
    free(b);
    free(fa.paths);
    free(fa.keys);
    free(fb.paths);
    free(fb.keys);
    return 0;
fail:
    free(a);
    free(b);
    free(fa.paths);
    free(fa.keys);
    free(fb.paths);
    free(fb.keys);
    mp_diff_free(out);
    return -1;
}

int mp_diff_build(const struct mp_profile *old_p, const struct mp_report_run *old_run,
                  const struct mp_profile *new_p, const struct mp_report_run *new_run, enum mp_diff_metric metric,
                  struct mp_diff *out)
{
    struct mp_diff_config cfg = { .metric = metric, .group = MP_DIFF_BY_LINE };
    return mp_diff_build_with(old_p, old_run, new_p, new_run, &cfg, out);
}

void mp_diff_free(struct mp_diff *d)
{
    struct owned *own = d->owned;
    if (own) {
        mp_strtab_free(&own->strings);
        free(own->frames);
        free(own);
    }
    free(d->lines);
    free(d->renamed);
    d->owned = NULL;
    d->lines = NULL;
    d->renamed = NULL;
    d->n_lines = d->n_renamed = 0;
}
