/* memprof: the text report's mapped memory and folded wrappers (see
 * report_text_mapped.h). */
#include "report_text_mapped.h"
#include "format.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static size_t limit(size_t n, size_t max)
{
    return max && max < n ? max : n;
}

/* The lines with the most bytes, --top of them, and how many more there were. */
static void more_lines(FILE *out, size_t n, size_t shown)
{
    if (shown < n)
        mp_text_more_lines(out, n - shown);
}

void mp_text_mapped_peak(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (!t->map_calls)
        return;
    char a[64], b[64];
    size_t n;
    size_t *idx = mp_lines_sorted(p, MP_BY_PEAK_TOTAL, &n);
    mp_format_size(a, sizeof a, (int64_t)t->peak_total_bytes, opt->precision);
    fprintf(out, "\nPeak heap + mapped %s", a);
    if (t->peak_total_stack != UINT32_MAX) {
        fprintf(out, ", reached at ");
        mp_text_line_name(out, mp_profile_line(p, mp_profile_stack(p, t->peak_total_stack)->self_line), opt);
    }
    fprintf(out, "\n%12s %12s %12s   %s\n", "held", "of it mapped", "share", "line");
    size_t shown = limit(n, opt->top_lines);
    for (size_t i = 0; i < shown; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        mp_format_size(a, sizeof a, (int64_t)l->peak_total_bytes, opt->precision);
        mp_format_size(b, sizeof b, (int64_t)l->peak_total_mapped_bytes, opt->precision);
        fprintf(out, "%12s %12s %11.1f%%   ", a, b, 100.0 * (double)l->peak_total_bytes / (double)t->peak_total_bytes);
        mp_text_line_name(out, l, opt);
        fputc('\n', out);
    }
    more_lines(out, n, shown);
    free(idx);
}

void mp_text_mapped_live(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (!t->map_calls)
        return;
    size_t n;
    size_t *idx = mp_lines_sorted(p, MP_BY_MAPPED_LIVE, &n);
    if (n) {
        char a[64];
        mp_format_size(a, sizeof a, (int64_t)t->mapped_live_bytes, opt->precision);
        fprintf(out, "\n%s %s\n%12s   %s\n", run->detached ? "Mapped at detach:" : "Still mapped at exit:", a, "mapped",
                "line");
        size_t shown = limit(n, opt->top_lines);
        for (size_t i = 0; i < shown; i++) {
            const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
            mp_format_size(a, sizeof a, (int64_t)l->mapped_live_bytes, opt->precision);
            fprintf(out, "%12s   ", a);
            mp_text_line_name(out, l, opt);
            fputc('\n', out);
        }
        more_lines(out, n, shown);
    }
    free(idx);
}

void mp_text_folded_note(FILE *out, const struct mp_profile *p, int *header, const struct mp_report_options *opt)
{
    const struct mp_folded *f;
    size_t n = mp_profile_folded(p, &f);
    if (!n)
        return;
    if (!(*header)++)
        fprintf(out, "\nNotes\n");
    int automatic = 0;
    fprintf(out, "  allocation wrappers charged to their callers:");
    for (size_t i = 0; i < n; i++) {
        char c[64];
        MP_COUNT_NOUN(c, f[i].calls, "call", "calls");
        fprintf(out, "%s %s (%s%s)", i ? "," : "", mp_display_function(f[i].function, opt->stable),
                f[i].automatic ? "found, " : "", c);
        automatic |= f[i].automatic;
    }
    fprintf(out, automatic ? "; --no-auto-alloc-fn keeps the ones found\n" : "\n");
}
