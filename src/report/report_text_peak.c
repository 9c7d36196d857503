/* memprof: the text report's sections on where the memory was held: the
 * peak (with its stack), the lines at the peak, temporary allocations, and
 * the RSS at exit by kind of mapping (the leaks: report_text_leaks.c). */
#include "format.h"
#include "report_text_views.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static size_t limit(size_t n, size_t max)
{
    return max && max < n ? max : n;
}

void mp_text_peak(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (t->peak_stack == UINT32_MAX)
        return;
    const struct mp_stack_info *st = mp_profile_stack(p, t->peak_stack);
    char a[64];
    mp_format_size(a, sizeof a, (int64_t)t->peak_heap_bytes, opt->precision);
    fprintf(out, "\nPeak heap %s, reached at ", a);
    mp_text_line_name(out, mp_profile_line(p, st->self_line), opt);
    fprintf(out, "\n");
    mp_text_stack(out, p, st, opt);

    size_t n;
    size_t *idx = mp_lines_sorted(p, MP_BY_PEAK, &n);
    size_t shown = limit(n, opt->top_lines);
    if (shown) {
        fprintf(out, "\nLines holding the peak\n%12s %12s   %s\n", "held", "share", "line");
        for (size_t i = 0; i < shown; i++) {
            const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
            mp_format_size(a, sizeof a, (int64_t)l->peak_bytes, opt->precision);
            fprintf(out, "%12s %11.1f%%   ", a, 100.0 * (double)l->peak_bytes / (double)t->peak_heap_bytes);
            mp_text_line_name(out, l, opt);
            fputc('\n', out);
        }
        if (shown < n)
            mp_text_more_lines(out, n - shown);
    }
    free(idx);
}

void mp_text_temporaries(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n;
    size_t *idx = mp_lines_sorted(p, MP_BY_TEMPORARY, &n);
    size_t shown = limit(n, opt->top_lines);
    if (shown) {
        fprintf(out, "\nTemporary allocations (freed before their thread allocated again)\n%12s %12s   %s\n",
                "temporary", "of calls", "line");
        for (size_t i = 0; i < shown; i++) {
            const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
            char a[64], b[64];
            mp_format_count(a, sizeof a, l->temporary_calls);
            mp_format_count(b, sizeof b, l->alloc_calls);
            fprintf(out, "%12s %12s   ", a, b);
            mp_text_line_name(out, l, opt);
            fputc('\n', out);
        }
        if (shown < n)
            mp_text_more_lines(out, n - shown);
    }
    free(idx);
}

void mp_text_rss(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                                const struct mp_report_options *opt)
{
    const struct mp_rss_breakdown *b = &run->rss_at_exit;
    if (!b->valid || opt->stable)
        return;
    const struct mp_totals *t = mp_profile_totals(p);
    char a[64], c[64];
    mp_format_size(a, sizeof a, (int64_t)b->total, opt->precision);
    fprintf(out, run->detached ? "\nRSS at detach: %s\n" : "\nRSS at exit: %s\n", a);
    mp_format_size(a, sizeof a, (int64_t)b->heap, opt->precision);
    mp_format_size(c, sizeof c, (int64_t)t->live_bytes, opt->precision);
    fprintf(out, "%12s   malloc heap and anonymous memory (%s of it live blocks; the rest is allocator\n"
                 "%12s   overhead and free memory the allocator keeps)\n", a, c, "");
    const struct { uint64_t v; const char *what; } rows[] = {
        { b->stacks, "stacks (main and threads)" },
        { b->code, "code (executable mappings)" },
        { b->file_data, "other file-backed mappings (data, read-only data, mapped files)" },
        { b->shared, "shared memory (memprof's event ring is one)" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        mp_format_size(a, sizeof a, (int64_t)rows[i].v, opt->precision);
        fprintf(out, "%12s   %s\n", a, rows[i].what);
    }
}
