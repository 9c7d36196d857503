/* memprof: the JSON report's sections for the views beyond lines and
 * stacks: where frees were called ("free_sites"), the size histogram, the
 * largest allocations, the threads, and the allocations at each timeline
 * sample.  Written in a fixed order so `memprof report --format=json` gives
 * the file back byte for byte; the loader (json_load_views.c) reads them
 * back and takes their absence (an older report) as "not recorded". */
#include "format.h"
#include "report_json_views.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct mp_profile *sort_profile;

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* By bytes freed there, then calls, then place. */
static int cmp_free_sites(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct mp_line_stats *x = mp_profile_line(sort_profile, i), *y = mp_profile_line(sort_profile, j);
    if (x->site_freed_bytes != y->site_freed_bytes)
        return x->site_freed_bytes < y->site_freed_bytes ? 1 : -1;
    if (x->site_free_calls != y->site_free_calls)
        return x->site_free_calls < y->site_free_calls ? 1 : -1;
    int c = strcmp_null(x->file, y->file);
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    if (!c)
        c = strcmp(x->function, y->function);
    return c ? c : (i > j) - (i < j);
}

static void write_free_sites(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n_lines = mp_profile_line_count(p), n = 0;
    size_t *idx = malloc((n_lines ? n_lines : 1) * sizeof *idx);
    fprintf(out, "  \"free_sites\": [");
    for (size_t i = 0; idx && i < n_lines; i++)
        if (mp_profile_line(p, i)->site_free_calls)
            idx[n++] = i;
    sort_profile = p;
    if (idx)
        qsort(idx, n, sizeof *idx, cmp_free_sites);
    for (size_t k = 0; k < n; k++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[k]);
        fprintf(out, "%s\n    {\"frame\": %zu, ", k ? "," : "", idx[k]);
        mp_json_place_fields(out, l, opt);
        fprintf(out, ", \"free_calls\": %" PRIu64 ", \"freed_bytes\": %" PRIu64 "}", l->site_free_calls,
                l->site_freed_bytes);
    }
    fprintf(out, "%s]", n ? "\n  " : "");
    free(idx);
}

static void write_histogram(FILE *out, const struct mp_profile *p)
{
    const struct mp_size_bucket *h = mp_profile_size_histogram(p);
    int any = 0;
    fprintf(out, "  \"size_histogram\": [");
    for (unsigned k = 0; k < MP_SIZE_BUCKETS; k++) {
        if (!h[k].calls)
            continue;
        fprintf(out, "%s\n    {\"bits\": %u, \"from\": ", any++ ? "," : "", k);
        /* JSON readers take integers up to 2^63 - 1 */
        if (k <= 63)
            fprintf(out, "%" PRIu64, k ? (uint64_t)1 << (k - 1) : 0);
        else
            fprintf(out, "null");
        if (k <= 62)
            fprintf(out, ", \"below\": %" PRIu64, (uint64_t)1 << k);
        else
            fprintf(out, ", \"below\": null");
        fprintf(out, ", \"calls\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", h[k].calls, h[k].bytes);
    }
    fprintf(out, "%s]", any ? "\n  " : "");
}

static void write_largest(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    struct mp_largest v[MP_LARGEST_KEPT];
    size_t n = mp_largest_sorted(p, v);
    fprintf(out, "  \"largest\": [");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s\n    {\"size\": %" PRIu64 ", \"calls\": %" PRIu64 ", \"leaked_blocks\": %" PRIu64
                     ", \"stack_index\": %" PRIu32 ", \"user_line\": {",
                i ? "," : "", v[i].size, v[i].calls, v[i].live_blocks, v[i].stack);
        mp_json_place_fields(out, mp_profile_line(p, mp_profile_stack(p, v[i].stack)->self_line), opt);
        fprintf(out, "}}");
    }
    fprintf(out, "%s]", n ? "\n  " : "");
}

static void write_threads(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n = mp_profile_thread_count(p);
    fprintf(out, "  \"threads\": [");
    for (size_t i = 0; i < n; i++) {
        const struct mp_thread_stats *t = mp_profile_thread(p, i);
        fprintf(out, "%s\n    {\"thread\": %zu, \"tid\": ", i ? "," : "", i + 1);
        if (opt->stable)
            fprintf(out, "null");
        else
            fprintf(out, "%" PRIu32, t->tid);
        fprintf(out, ", \"alloc_calls\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"free_calls\": %" PRIu64
                     ", \"freed_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"max_live_bytes\": %" PRIu64
                     ", \"leaked_bytes\": %" PRIu64 ", \"leaked_blocks\": %" PRIu64 "}",
                t->alloc_calls, t->allocated_bytes, t->free_calls, t->freed_bytes, t->peak_bytes, t->max_live_bytes,
                t->live_bytes, t->live_blocks);
    }
    fprintf(out, "%s]", n ? "\n  " : "");
}

void mp_json_timeline_allocations(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_sample *s;
    size_t n = opt->stable ? 0 : mp_profile_timeline(p, &s);
    fprintf(out, "  \"timeline_allocations\": [");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s[%" PRIu64 ", %" PRIu64 "]", i ? (i % 4 ? ", " : ",\n    ") : "\n    ", s[i].alloc_calls,
                s[i].allocated_bytes);
    fprintf(out, "%s]", n ? "\n  " : "");
}

void mp_json_views(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    write_free_sites(out, p, opt);
    fprintf(out, ",\n");
    write_histogram(out, p);
    fprintf(out, ",\n");
    write_largest(out, p, opt);
    fprintf(out, ",\n");
    write_threads(out, p, opt);
}
