/* memprof: the text report's views on how the program allocates:
 * lines by allocation calls (heaptrack's "most calls to allocation
 * functions"), the largest single allocations with their stacks, the size
 * histogram, the threads, and the allocation rate over the run. */
#include "format.h"
#include "report_text_views.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_BAR_WIDTH 30
#define RATE_ROWS 10

static size_t limit(size_t n, size_t max)
{
    return max && max < n ? max : n;
}

static const char *size_str(char *buf, size_t len, uint64_t bytes, const struct mp_report_options *opt)
{
    mp_format_size(buf, len, bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, opt->precision);
    return buf;
}

/* ---- lines by calls ---- */

struct ranked {
    uint64_t calls;
    size_t rank;  /* place in the bytes order: breaks ties */
    size_t line;
};

static int cmp_by_calls(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

void mp_text_calls(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n;
    size_t *idx = mp_lines_by_bytes(p, &n); /* a deterministic order to break ties with */
    struct ranked *v = idx && n ? malloc(n * sizeof *v) : NULL;
    if (!v) {
        free(idx);
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (struct ranked){ mp_profile_line(p, idx[i])->alloc_calls, i, idx[i] };
    qsort(v, n, sizeof *v, cmp_by_calls);
    for (size_t i = 0; i < n; i++)
        idx[i] = v[i].line;
    free(v);
    size_t shown = limit(n, opt->top_lines);
    char a[64], b[64], c[64];
    fprintf(out, "\nTop lines by allocation calls\n%12s %12s %12s   %s\n", "calls", "allocated", "temporary", "line");
    for (size_t i = 0; i < shown; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        mp_format_count(a, sizeof a, l->alloc_calls);
        mp_format_count(c, sizeof c, l->temporary_calls);
        fprintf(out, "%12s %12s %12s   ", a, size_str(b, sizeof b, l->allocated_bytes, opt), c);
        mp_text_line_name(out, l, opt);
        fputc('\n', out);
    }
    if (shown < n)
        mp_text_more_lines(out, n - shown);
    free(idx);
}

/* ---- the largest allocations ---- */

void mp_text_largest(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                     const struct mp_report_options *opt)
{
    struct mp_largest v[MP_LARGEST_KEPT];
    size_t n = mp_largest_sorted(p, v);
    if (!n)
        return;
    size_t shown = limit(n, opt->top_lines);
    fprintf(out, "\nLargest allocations (single blocks by size; calls of that size from that stack)\n");
    for (size_t i = 0; i < shown; i++) {
        char a[64], b[64], c[32];
        fprintf(out, "  %s of %s (%s live at %s) from:\n", MP_COUNT_NOUN(b, v[i].calls, "call", "calls"),
                size_str(a, sizeof a, v[i].size, opt), MP_COUNT_STR(c, v[i].live_blocks),
                run->detached ? "detach" : "exit");
        mp_text_stack(out, p, mp_profile_stack(p, v[i].stack), opt);
    }
    if (shown < n)
        fprintf(out, "  (%zu more kept; --top=0 shows all %d memprof keeps)\n", n - shown, MP_LARGEST_KEPT);
}

/* ---- the size histogram ---- */

void mp_text_sizes(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_size_bucket *h = mp_profile_size_histogram(p);
    uint64_t most = 0;
    for (unsigned k = 0; k < MP_SIZE_BUCKETS; k++)
        if (h[k].calls > most)
            most = h[k].calls;
    if (!most)
        return;
    fprintf(out, "\nAllocation sizes (requested bytes in power-of-two buckets: from <= size < below)\n"
                 "%12s %12s %12s %12s\n", "from", "below", "calls", "allocated");
    for (unsigned k = 0; k < MP_SIZE_BUCKETS; k++) {
        if (!h[k].calls)
            continue;
        char from[64], below[64], calls[32], bytes[64];
        uint64_t lo = k ? (uint64_t)1 << (k - 1) : 0;
        if (k < 63)
            size_str(below, sizeof below, (uint64_t)1 << k, opt);
        else
            snprintf(below, sizeof below, "2^%u B", k);
        mp_format_count(calls, sizeof calls, h[k].calls);
        /* the bar: calls against the fullest bucket, at least one # */
        int bar = (int)((double)h[k].calls * SIZE_BAR_WIDTH / (double)most + 0.999999);
        fprintf(out, "%12s %12s %12s %12s   %.*s\n", size_str(from, sizeof from, lo, opt), below, calls,
                size_str(bytes, sizeof bytes, h[k].bytes, opt), bar, "##############################");
    }
}

/* ---- threads ---- */

void mp_text_threads(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                     const struct mp_report_options *opt)
{
    size_t n = mp_profile_thread_count(p);
    if (!n)
        return;
    const char *live = run->detached ? "live at detach" : "live at exit";
    fprintf(out, "\nThreads (numbered in the order memprof first saw them)\n");
    if (opt->stable)
        fprintf(out, "%6s %12s %12s %12s %12s %*s\n", "thread", "calls", "allocated", "at peak", "most held",
                run->detached ? 14 : 12, live);
    else
        fprintf(out, "%6s %8s %12s %12s %12s %12s %*s\n", "thread", "tid", "calls", "allocated", "at peak",
                "most held", run->detached ? 14 : 12, live);
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mp_thread_stats *t = mp_profile_thread(p, i);
        if (t->peak_bytes > mp_profile_thread(p, top)->peak_bytes)
            top = i;
        char calls[32], a[64], b[64], c[64], d[64];
        mp_format_count(calls, sizeof calls, t->alloc_calls);
        size_str(a, sizeof a, t->allocated_bytes, opt);
        size_str(b, sizeof b, t->peak_bytes, opt);
        size_str(c, sizeof c, t->max_live_bytes, opt);
        size_str(d, sizeof d, t->live_bytes, opt);
        if (opt->stable)
            fprintf(out, "%6zu %12s %12s %12s %12s %*s\n", i + 1, calls, a, b, c, run->detached ? 14 : 12, d);
        else
            fprintf(out, "%6zu %8" PRIu32 " %12s %12s %12s %12s %*s\n", i + 1, t->tid, calls, a, b, c,
                    run->detached ? 14 : 12, d);
    }
    const struct mp_totals *tot = mp_profile_totals(p);
    const struct mp_thread_stats *t = mp_profile_thread(p, top);
    if (tot->peak_heap_bytes && t->peak_bytes) {
        char a[64], b[64];
        fprintf(out, "  Thread %zu held the most when the heap reached its peak: %s of %s (%.1f%%)\n", top + 1,
                size_str(a, sizeof a, t->peak_bytes, opt), size_str(b, sizeof b, tot->peak_heap_bytes, opt),
                100.0 * (double)t->peak_bytes / (double)tot->peak_heap_bytes);
    }
}

/* ---- the allocation rate ---- */

void mp_text_rate(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    fprintf(out, "\nAllocation rate");
    if (opt->stable) {
        fprintf(out, ": left out with --stable (times vary from run to run)\n");
        return;
    }
    const struct mp_sample *s;
    size_t n = mp_profile_timeline(p, &s);
    if (n < 2) {
        fprintf(out, ": the run was too short for two RSS samples (--interval sets their period)\n");
        return;
    }
    /* from the first sample on (the program starts there), in up to
     * RATE_ROWS slices of consecutive samples */
    size_t rows = n - 1 < RATE_ROWS ? n - 1 : RATE_ROWS;
    char slices[64];
    fprintf(out, " (the run in %s between RSS samples)\n%10s %10s %12s %12s %12s %12s\n",
            MP_COUNT_NOUN(slices, rows, "slice", "slices"), "from", "to", "calls", "calls/s", "bytes/s", "heap at end");
    uint64_t t0 = mp_saved_time_ns(s[0].time_ns), calls0 = s[0].alloc_calls, bytes0 = s[0].allocated_bytes;
    for (size_t r = 0; r < rows; r++) {
        const struct mp_sample *e = &s[1 + (r + 1) * (n - 1) / rows - 1];
        uint64_t t1 = mp_saved_time_ns(e->time_ns);
        /* a saved report could say anything: no slice goes backwards */
        double dt = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
        uint64_t calls = e->alloc_calls > calls0 ? e->alloc_calls - calls0 : 0;
        uint64_t bytes = e->allocated_bytes > bytes0 ? e->allocated_bytes - bytes0 : 0;
        char c[32], cps[32], bps[64], heap[64];
        mp_format_count(c, sizeof c, calls);
        mp_format_count(cps, sizeof cps, mp_per_second(calls, dt));
        size_str(bps, sizeof bps, mp_per_second(bytes, dt), opt);
        strcat(bps, "/s");
        fprintf(out, "%9.3fs %9.3fs %12s %12s %12s %12s\n", (double)t0 / 1e9, (double)t1 / 1e9, c, cps, bps,
                size_str(heap, sizeof heap, e->heap_bytes, opt));
        t0 = t1;
        calls0 = e->alloc_calls;
        bytes0 = e->allocated_bytes;
    }
}
