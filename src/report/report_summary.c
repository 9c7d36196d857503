/* memprof: the summary's rows (report_summary.h): the run's totals, its
 * mapped memory (mmap, mremap, brk: nothing for a profile without any),
 * memprof's own bytes in the program and the breakpoint engine's stops.
 * The text report prints them as "  label              value", the HTML
 * page as a table: the same rows from the same numbers. */
#define _GNU_SOURCE
#include "report_summary.h"
#include "format.h"

#include <stdlib.h>
#include <string.h>

struct rows {
    mp_summary_row_fn row;
    void *ctx;
    char *buf;
    size_t len;
    FILE *f;
};

/* A value is written into r->f, then given with its label by end_row. */
static FILE *begin_row(struct rows *r)
{
    r->buf = NULL;
    r->len = 0;
    r->f = open_memstream(&r->buf, &r->len);
    return r->f;
}

static int end_row(struct rows *r, const char *label, const char *hint)
{
    int rc = fclose(r->f);
    if (rc == 0)
        r->row(r->ctx, label, r->buf, hint);
    free(r->buf);
    return rc ? -1 : 0;
}

#define ROW(r, label, hint, ...)                                                                   \
    do {                                                                                           \
        FILE *f_ = begin_row(r);                                                                   \
        if (!f_)                                                                                   \
            return -1;                                                                             \
        fprintf(f_, __VA_ARGS__);                                                                  \
        if (end_row(r, label, hint))                                                               \
            return -1;                                                                             \
    } while (0)

/* "SIZE, reached at file:line (function)" */
static int row_reached(struct rows *r, const char *label, const char *size, const struct mp_profile *p,
                       uint32_t stack, const char *suffix, const struct mp_report_options *opt)
{
    FILE *f = begin_row(r);
    if (!f)
        return -1;
    fputs(size, f);
    fputs(suffix, f);
    if (stack != UINT32_MAX) {
        fprintf(f, ", reached at ");
        mp_text_line_name(f, mp_profile_line(p, mp_profile_stack(p, stack)->self_line), opt);
    }
    return end_row(r, label, NULL);
}

static int mapped_rows(struct rows *r, const struct mp_profile *p, const struct mp_report_run *run,
                       const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (!t->map_calls)
        return 0;
    char a[64], b[64], c[64], d[96];
    MP_COUNT_NOUN(a, t->map_calls, "call", "calls");
    mp_format_size(b, sizeof b, (int64_t)t->mapped_bytes, opt->precision);
    mp_format_size(c, sizeof c, (int64_t)t->unmapped_bytes, opt->precision);
    ROW(r, "mapped", NULL, "%s, %s (mmap, mremap, brk); %s unmapped", a, b, c);
    mp_format_size(a, sizeof a, (int64_t)t->peak_mapped_bytes, opt->precision);
    ROW(r, "peak mapped", NULL, "%s", a);
    mp_format_size(a, sizeof a, (int64_t)t->peak_total_bytes, opt->precision);
    mp_format_size(b, sizeof b, (int64_t)t->peak_total_mapped_bytes, opt->precision);
    snprintf(d, sizeof d, " (%s mapped)", b);
    if (row_reached(r, "peak heap + mapped", a, p, t->peak_total_stack, d, opt))
        return -1;
    mp_format_size(a, sizeof a, (int64_t)t->mapped_live_bytes, opt->precision);
    ROW(r, run->detached ? "mapped at detach" : "mapped at exit", NULL, "%s", a);
    return 0;
}

int mp_summary_rows(const struct mp_profile *p, const struct mp_report_run *run, const struct mp_report_options *opt,
                    mp_summary_row_fn row, void *ctx)
{
    struct rows rs = { row, ctx, NULL, 0, NULL }, *r = &rs;
    const struct mp_totals *t = mp_profile_totals(p);
    char a[64], b[64], c[64];
    if (!opt->stable) {
        mp_format_size(a, sizeof a, (int64_t)run->peak_rss_bytes, opt->precision);
        ROW(r, "peak RSS", "the kernel's VmHWM", "%s", a);
    }
    if (run->engine_note) {
        ROW(r, "heap", NULL, "not profiled: %s", run->engine_note);
        return 0;
    }
    MP_COUNT_NOUN(a, t->alloc_calls, "call", "calls");
    mp_format_size(b, sizeof b, (int64_t)t->allocated_bytes, opt->precision);
    ROW(r, "allocations", NULL, "%s, %s", a, b);
    double wall = mp_saved_seconds(run->wall_seconds);
    if (!opt->stable && wall >= 0.001 && t->alloc_calls) { /* heaptrack's "calls to allocation functions: N (N/s)" */
        uint64_t bytes = mp_per_second(t->allocated_bytes, wall);
        mp_format_count(a, sizeof a, mp_per_second(t->alloc_calls, wall));
        mp_format_size(b, sizeof b, bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, opt->precision);
        ROW(r, "allocation rate", NULL, "%s calls/s, %s/s over %.3f s", a, b, wall);
    }
    MP_COUNT_NOUN(a, t->free_calls, "call", "calls");
    mp_format_size(b, sizeof b, (int64_t)t->freed_bytes, opt->precision);
    ROW(r, "frees", NULL, "%s, %s", a, b);
    mp_format_size(a, sizeof a, (int64_t)t->peak_heap_bytes, opt->precision);
    if (row_reached(r, "peak heap", a, p, t->peak_stack, "", opt))
        return -1;
    ROW(r, "temporary", "freed before their thread allocated again", "%s",
        MP_COUNT_NOUN(a, t->temporary_calls, "call", "calls"));
    FILE *f = begin_row(r);
    if (!f)
        return -1;
    mp_format_size(a, sizeof a, (int64_t)t->live_bytes, opt->precision);
    fprintf(f, "%s in %s", a, MP_COUNT_NOUN(c, t->live_blocks, "block", "blocks"));
    for (int k = 0; t->leaks_classified && t->live_blocks && k < MP_LEAK_KINDS; k++) {
        static const char *const words[MP_LEAK_KINDS] = { "definitely lost", "indirectly", "possibly",
                                                          "still reachable" };
        mp_format_size(a, sizeof a, (int64_t)t->leak_bytes[k], opt->precision);
        fprintf(f, "%s%s %s", k ? ", " : ": ", a, words[k]);
    }
    if (end_row(r, run->detached ? "live at detach" : "leaked at exit", NULL))
        return -1;
    if (mapped_rows(r, p, run, opt))
        return -1;
    if (run->agent_bytes && !opt->stable) {
        mp_format_size(a, sizeof a, (int64_t)run->agent_bytes, opt->precision);
        if (run->engine && strcmp(run->engine, "breakpoint") == 0)
            ROW(r, "memprof's stubs", NULL, "%s mapped into the program (event ring and code), not in these counts", a);
        else
            ROW(r, "memprof's agent", NULL, "%s mapped into the program (its event ring), not in these counts", a);
    }
    if (run->has_engine_stops && !opt->stable) {
        mp_format_count(a, sizeof a, run->engine_stops);
        MP_COUNT_NOUN(c, t->alloc_calls + t->free_calls, "allocator call", "allocator calls");
        ROW(r, "engine stops", NULL, "%s for %s (the rest recorded without a stop)", a, c);
    }
    return 0;
}
