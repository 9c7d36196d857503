/* memprof: valgrind massif's output format (--format=massif), for ms_print
 * and massif-visualizer.
 *
 * Snapshots come from the timeline: at most MAX_SNAPSHOTS, one per slice of
 * the run, each the sample whose interval held the most (mem_heap_B is
 * then that most: heap_max_bytes, so the graph never misses a peak).  Two
 * are detailed: the one at the peak (heap_tree=peak; its tree adds up to
 * summary.peak_heap_bytes: the stacks' bytes at the peak) and the last one
 * (what was still allocated at exit or detach).  Massif's own conventions:
 * time_unit ms, the top node "(heap allocation functions)", children by
 * size, those under 1% of the snapshot folded into "in N places, all below
 * massif's threshold (1.00%)".  Frames read "0xID: function (file:line)",
 * where ID numbers memprof's frame (a saved profile keeps no addresses).
 * mem_heap_extra_B (allocator overhead) and mem_stacks_B are not measured:
 * 0.  A report without a timeline (--stable) gets the peak and the end
 * snapshots at time 0. */
#include "memprof/report.h"
#include "format.h"
#include "report_stacks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SNAPSHOTS 100
#define THRESHOLD_PCT 1.0

struct snap {
    uint64_t time_us;
    uint64_t heap;
    int kind; /* 0 empty, 1 peak, 2 detailed (the end) */
};

static void frame_text(FILE *out, const struct mp_profile *p, const struct mp_tree_node *n,
                       const struct mp_report_options *opt)
{
    const struct mp_line_stats *l = mp_profile_line(p, n->line);
    fprintf(out, "0x%X: ", n->line + 1);
    const char *fn = mp_display_function(l->function, opt->stable);
    for (const char *s = fn; *s; s++)
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
    if (l->file)
        fprintf(out, " (%s:%d)", mp_display_path(l->file, opt->cwd), l->line);
    else
        fprintf(out, " (in %s)", mp_display_path(l->module, opt->cwd));
}

struct todo {
    uint32_t node;
    uint32_t depth;
    uint32_t below;       /* > 0: the "in N places" line for this many children */
    uint64_t below_bytes;
};

/* The tree of weight w, massif style, iteratively (stacks may be deep). */
static int write_tree(FILE *out, const struct mp_profile *p, enum mp_weight w, uint64_t total,
                      const struct mp_report_options *opt)
{
    struct mp_tree t;
    if (mp_tree_build(&t, p, w, 0, opt) != 0 || mp_tree_sort(&t, 1) != 0) {
        mp_tree_free(&t);
        return -1;
    }
    struct todo *stack = malloc((size_t)(t.n + 1) * 2 * sizeof *stack);
    if (!stack) {
        mp_tree_free(&t);
        return -1;
    }
    size_t n = 0;
    stack[n++] = (struct todo){ 0, 0, 0, 0 };
    while (n) {
        struct todo it = stack[--n];
        fprintf(out, "%*s", (int)it.depth, "");
        if (it.below) {
            fprintf(out, "n0: %" PRIu64 " in %u place%s, all below massif's threshold (%.2f%%)\n", it.below_bytes,
                    it.below, mp_plural(it.below, "", "s"), THRESHOLD_PCT);
            continue;
        }
        const struct mp_tree_node *node = &t.nodes[it.node];
        uint32_t shown = 0, below = 0;
        uint64_t below_bytes = 0;
        for (uint32_t c = node->first_child; c != UINT32_MAX; c = t.nodes[c].next_sibling) {
            if ((double)t.nodes[c].value * 100.0 >= THRESHOLD_PCT * (double)total)
                shown++;
            else
                below++, below_bytes += t.nodes[c].value;
        }
        fprintf(out, "n%u: %" PRIu64 " ", shown + (below > 0), it.node ? node->value : total);
        if (it.node == 0)
            fprintf(out, "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n");
        else {
            frame_text(out, p, node, opt);
            fputc('\n', out);
        }
        /* printed after the shown children: pushed first */
        if (below)
            stack[n++] = (struct todo){ it.node, it.depth + 1, below, below_bytes };
        size_t first = n;
        for (uint32_t c = node->first_child; c != UINT32_MAX; c = t.nodes[c].next_sibling)
            if ((double)t.nodes[c].value * 100.0 >= THRESHOLD_PCT * (double)total)
                stack[n++] = (struct todo){ c, it.depth + 1, 0, 0 };
        for (size_t a = first, b = n; a + 1 < b; a++, b--) {
            struct todo tmp = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = tmp;
        }
    }
    free(stack);
    mp_tree_free(&t);
    return 0;
}

/* Up to MAX_SNAPSHOTS samples, the peak's and the last one among them. */
static size_t pick_snapshots(const struct mp_profile *p, struct snap *out)
{
    const struct mp_sample *s;
    size_t n = mp_profile_timeline(p, &s), o = 0;
    if (n == 0)
        return 0;
    size_t peak = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].heap_max_bytes > s[peak].heap_max_bytes)
            peak = i;
    uint64_t end = mp_time_us(s[n - 1].time_ns) + 1;
    size_t slices = MAX_SNAPSHOTS - 2, best = SIZE_MAX, slice = 0;
    out[o++] = (struct snap){ 0, 0, 0 }; /* massif starts at 0 too */
    for (size_t i = 0; i + 1 < n; i++) {
        size_t sl = (size_t)(mp_time_us(s[i].time_ns) * slices / end);
        if (best != SIZE_MAX && sl != slice) {
            out[o++] = (struct snap){ mp_time_us(s[best].time_ns), s[best].heap_max_bytes, 0 };
            best = SIZE_MAX;
        }
        slice = sl;
        if (i == peak) {
            if (best != SIZE_MAX && best != i)
                out[o++] = (struct snap){ mp_time_us(s[best].time_ns), s[best].heap_max_bytes, 0 };
            out[o++] = (struct snap){ mp_time_us(s[i].time_ns), s[i].heap_max_bytes, 1 };
            best = SIZE_MAX;
            slice = SIZE_MAX; /* the next sample opens a new slice */
        } else if (best == SIZE_MAX || s[i].heap_max_bytes > s[best].heap_max_bytes) {
            best = i;
        }
    }
    if (best != SIZE_MAX)
        out[o++] = (struct snap){ mp_time_us(s[best].time_ns), s[best].heap_max_bytes, 0 };
    if (peak == n - 1) /* the peak in the last interval: its snapshot, then the end's */
        out[o++] = (struct snap){ mp_time_us(s[n - 1].time_ns), s[n - 1].heap_max_bytes, 1 };
    out[o++] = (struct snap){ mp_time_us(s[n - 1].time_ns), s[n - 1].heap_bytes, 2 };
    return o;
}

int mp_write_massif(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                    const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    struct snap snaps[MAX_SNAPSHOTS + 8];
    size_t n = opt->stable ? 0 : pick_snapshots(p, snaps);
    if (n == 0) {
        snaps[n++] = (struct snap){ 0, 0, 0 };
        snaps[n++] = (struct snap){ 0, t->peak_heap_bytes, 1 };
        snaps[n++] = (struct snap){ 0, t->live_bytes, 2 };
    }
    /* The stacks' bytes at the peak add up to the peak, unless the report
     * was saved by a memprof that did not keep them per stack. */
    uint64_t peak_sum = 0;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++)
        peak_sum += mp_profile_stack(p, i)->peak_bytes;
    fprintf(out, "desc: memprof %s: requested bytes (no allocator overhead, no stacks)\n",
            run->engine ? run->engine : "");
    fprintf(out, "cmd:");
    for (size_t i = 0; run->command && run->command[i]; i++) {
        fputc(' ', out);
        for (const char *c = run->command[i]; *c; c++)
            fputc(*c == '\n' || *c == '\r' ? ' ' : *c, out);
    }
    fprintf(out, "\ntime_unit: ms\n");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct snap *s = &snaps[i];
        if (s->kind == 1)
            s->heap = t->peak_heap_bytes;
        if (s->kind == 2)
            s->heap = t->live_bytes;
        int detailed = (s->kind == 1 && peak_sum == t->peak_heap_bytes) || s->kind == 2;
        fprintf(out, "#-----------\nsnapshot=%zu\n#-----------\ntime=%" PRIu64 ".%03" PRIu64 "\nmem_heap_B=%" PRIu64
                     "\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n",
                i, s->time_us / 1000, s->time_us % 1000, s->heap,
                s->kind == 1 && detailed ? "peak" : detailed ? "detailed" : "empty");
        if (detailed)
            rc = write_tree(out, p, s->kind == 1 ? MP_WEIGHT_PEAK : MP_WEIGHT_LEAKED, s->heap, opt);
    }
    fflush(out);
    return rc || ferror(out) ? -1 : 0;
}
