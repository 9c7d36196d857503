/* memprof: the text report of a process tree: a header line with the
 * command and how it ended, the table of every program image in tree order
 * (where it came from, how it ended, peak RSS, peak heap, allocations,
 * leaks, wall time, the command indented by depth), the tree's totals and
 * the images that stood out, notes about the tree, then one section per
 * image (the single-process report, mp_write_text) for the biggest ones,
 * biggest first.  Images of negligible heap (shells, wrappers: under 1% of
 * the highest peak heap) that ended by exit or exec are folded into one
 * line of the table and get no section, unless --top-processes=0 asks for
 * everything; a killed one never is.
 * --stable leaves out pids, RSS and times: images are known by number. */
#define _GNU_SOURCE
#include "memprof/report.h"
#include "format.h"
#include "report_processes.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_WIDTH 72

static void write_command(FILE *out, char *const *command, size_t max)
{
    size_t used = 0;
    for (size_t i = 0; command && command[i]; i++) {
        const char *sep = i ? " " : "";
        size_t len = strlen(command[i]) + strlen(sep);
        if (max && used + len > max) {
            size_t room = max > used + 3 ? max - used - 3 : 0;
            fprintf(out, "%s%.*s...", sep, (int)(room > strlen(sep) ? room - strlen(sep) : 0), command[i]);
            return;
        }
        fprintf(out, "%s%s", sep, command[i]);
        used += len;
    }
}

static void write_end(FILE *out, const struct mp_report_run *run)
{
    if (run->unfollowed)
        fprintf(out, "not followed");
    else if (run->let_go)
        fprintf(out, "left running");
    else if (run->execed)
        fprintf(out, "replaced by execve");
    else if (run->signal)
        fprintf(out, "killed by signal %d, %s", run->signal, strsignal(run->signal));
    else
        fprintf(out, "exit status %d", run->exit_code);
}

void mp_text_process_section_header(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    fprintf(out, "\n=== Process #%d: ", run->tree_id);
    write_command(out, run->command, 0);
    fprintf(out, "  (");
    if (!opt->stable)
        fprintf(out, "pid %d, ", run->pid);
    if (run->tree_exec_of)
        fprintf(out, "exec'd by #%d, ", run->tree_exec_of);
    else if (run->tree_parent)
        fprintf(out, "%s #%d, ", run->forked ? "forked by" : "child of", run->tree_parent);
    write_end(out, run);
    fprintf(out, ")\n");
}

static int heap_known(const struct mp_report_run *run)
{
    return !run->engine_note && !run->unfollowed;
}

/* The highest peak heap of any image whose heap is known. */
static uint64_t highest_peak_heap(const struct mp_process_tree *t)
{
    uint64_t highest = 0;
    for (size_t i = 0; i < t->n; i++)
        if (heap_known(t->procs[i].run) && mp_profile_totals(t->procs[i].profile)->peak_heap_bytes > highest)
            highest = mp_profile_totals(t->procs[i].profile)->peak_heap_bytes;
    return highest;
}

/* Under 1% of the highest: a wrapper's few kilobytes next to the program's
 * megabytes. */
#define NEGLIGIBLE_PER_CENT 1

static int negligible_below(const struct mp_process_tree *t, size_t i, uint64_t highest)
{
    return heap_known(t->procs[i].run) && highest > 0 &&
           mp_profile_totals(t->procs[i].profile)->peak_heap_bytes * 100 < highest * NEGLIGIBLE_PER_CENT;
}

int mp_process_negligible(const struct mp_process_tree *t, size_t i)
{
    return negligible_below(t, i, highest_peak_heap(t));
}

/* Left out (no section; folded out of the table too, but for the target's
 * first image, where the table starts): an image of negligible heap that
 * ended the usual way (exit or exec).  One killed by a signal (or crashed),
 * let go or detached is never hidden, however small.  Nothing is with
 * --top-processes=0. */
static int left_out(const struct mp_process_tree *t, size_t i, uint64_t highest, size_t top_processes)
{
    const struct mp_report_run *run = t->procs[i].run;
    return top_processes && !run->signal && !run->let_go && !run->detached && negligible_below(t, i, highest);
}

struct rank { size_t index; uint64_t peak; int id; };

static int by_rank(const void *a, const void *b)
{
    const struct rank *x = a, *y = b;
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

size_t mp_process_sections(const struct mp_process_tree *t, size_t top_processes, size_t *order)
{
    uint64_t highest = highest_peak_heap(t);
    struct rank *r = calloc(t->n ? t->n : 1, sizeof *r);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_report_run *run = t->procs[i].run;
        if (run->unfollowed || left_out(t, i, highest, top_processes))
            continue;
        if (!r) { /* no room to rank: the first ones, in tree order */
            if (!top_processes || n < top_processes)
                order[n++] = i;
            continue;
        }
        r[n++] = (struct rank){ i, heap_known(run) ? mp_profile_totals(t->procs[i].profile)->peak_heap_bytes : 0,
                                run->tree_id };
    }
    if (!r)
        return n;
    qsort(r, n, sizeof *r, by_rank);
    size_t k = top_processes && top_processes < n ? top_processes : n;
    for (size_t i = 0; i < k; i++)
        order[i] = r[i].index;
    free(r);
    return k;
}

/* A table row left out: an image left out (left_out), but not the target's first (the table's root). */
static int folded_row(const struct mp_process_tree *t, size_t i, uint64_t highest,
                      const struct mp_report_options *opt)
{
    return i != 0 && left_out(t, i, highest, opt->top_processes);
}

static void write_from(char *buf, size_t len, const struct mp_report_run *run)
{
    if (run->tree_exec_of)
        snprintf(buf, len, "exec #%d", run->tree_exec_of);
    else if (run->tree_parent)
        snprintf(buf, len, "%s#%d", run->forked ? "fork " : "", run->tree_parent);
    else
        snprintf(buf, len, "-");
}

static void write_ended(char *buf, size_t len, const struct mp_report_run *run)
{
    if (run->unfollowed)
        snprintf(buf, len, "not followed");
    else if (run->let_go)
        snprintf(buf, len, "left running");
    else if (run->execed)
        snprintf(buf, len, "exec");
    else if (run->signal)
        snprintf(buf, len, "signal %d", run->signal);
    else
        snprintf(buf, len, "exit %d", run->exit_code);
}

static void write_table(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt)
{
    char n[64];
    fprintf(out, "\nProcess tree: %s\n", MP_COUNT_NOUN(n, t->n, "program image", "program images"));
    fprintf(out, "%5s  %-9s", "#", "from");
    if (!opt->stable)
        fprintf(out, " %7s", "pid");
    fprintf(out, "  %-12s", "ended");
    if (!opt->stable)
        fprintf(out, " %11s", "peak RSS");
    fprintf(out, " %11s %12s %11s", "peak heap", "allocations", "leaked");
    if (!opt->stable)
        fprintf(out, " %9s", "wall");
    fprintf(out, "   command\n");
    uint64_t highest = highest_peak_heap(t), folded_peak = 0;
    size_t folded = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_report_run *run = t->procs[i].run;
        const struct mp_totals *tot = mp_profile_totals(t->procs[i].profile);
        if (folded_row(t, i, highest, opt)) {
            folded++;
            if (tot->peak_heap_bytes > folded_peak)
                folded_peak = tot->peak_heap_bytes;
            continue;
        }
        char from[32], ended[32], a[64], b[64], c[64];
        write_from(from, sizeof from, run);
        write_ended(ended, sizeof ended, run);
        fprintf(out, "%5d  %-9s", run->tree_id, from);
        if (!opt->stable)
            fprintf(out, " %7d", run->pid);
        fprintf(out, "  %-12s", ended);
        if (!opt->stable) {
            if (run->peak_rss_bytes)
                mp_format_size(a, sizeof a, (int64_t)run->peak_rss_bytes, opt->precision);
            else
                snprintf(a, sizeof a, "-");
            fprintf(out, " %11s", a);
        }
        if (heap_known(run)) {
            mp_format_size(a, sizeof a, (int64_t)tot->peak_heap_bytes, opt->precision);
            mp_format_count(b, sizeof b, tot->alloc_calls);
            mp_format_size(c, sizeof c, (int64_t)tot->live_bytes, opt->precision);
        } else {
            snprintf(a, sizeof a, "-");
            snprintf(b, sizeof b, "-");
            snprintf(c, sizeof c, "-");
        }
        fprintf(out, " %11s %12s %11s", a, b, c);
        if (!opt->stable) {
            double wall = run->wall_seconds;
            if (run->unfollowed)
                snprintf(a, sizeof a, "-");
            else
                snprintf(a, sizeof a, "%.2fs", wall);
            fprintf(out, " %9s", a);
        }
        int depth = run->tree_depth < 10 ? run->tree_depth : 10;
        fprintf(out, "   %*s", 2 * depth, "");
        write_command(out, run->command, COMMAND_WIDTH);
        fputc('\n', out);
    }
    if (folded) {
        char n[64], peak[64];
        mp_format_size(peak, sizeof peak, (int64_t)folded_peak, opt->precision);
        fprintf(out, "  (%s not listed: shells and wrappers that ended by exit or exec, each with\n"
                     "   a peak heap under %d%% of the highest, %s at most; --top-processes=0 lists them)\n",
                MP_COUNT_NOUN(n, folded, "more image", "more images"), NEGLIGIBLE_PER_CENT, peak);
    }
}

static void write_totals(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt)
{
    uint64_t calls = 0, bytes = 0, leaked = 0, blocks = 0;
    size_t peak_i = t->n, rss_i = t->n;
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_report_run *run = t->procs[i].run;
        if (!heap_known(run))
            continue;
        const struct mp_totals *tot = mp_profile_totals(t->procs[i].profile);
        calls += tot->alloc_calls;
        bytes += tot->allocated_bytes;
        leaked += tot->live_bytes;
        blocks += tot->live_blocks;
        if (peak_i == t->n || tot->peak_heap_bytes > mp_profile_totals(t->procs[peak_i].profile)->peak_heap_bytes)
            peak_i = i;
    }
    for (size_t i = 0; i < t->n; i++)
        if (!t->procs[i].run->unfollowed &&
            (rss_i == t->n || t->procs[i].run->peak_rss_bytes > t->procs[rss_i].run->peak_rss_bytes))
            rss_i = i;
    char a[64], b[64], c[64];
    MP_COUNT_NOUN(a, calls, "allocation call", "allocation calls");
    mp_format_size(b, sizeof b, (int64_t)bytes, opt->precision);
    fprintf(out, "\n  all images         %s, %s", a, b);
    mp_format_size(b, sizeof b, (int64_t)leaked, opt->precision);
    fprintf(out, "; leaked %s in %s\n", b, MP_COUNT_NOUN(c, blocks, "block", "blocks"));
    if (peak_i < t->n) {
        const struct mp_report_run *run = t->procs[peak_i].run;
        mp_format_size(a, sizeof a, (int64_t)mp_profile_totals(t->procs[peak_i].profile)->peak_heap_bytes,
                       opt->precision);
        fprintf(out, "  highest peak heap  %s in #%d ", a, run->tree_id);
        write_command(out, run->command, COMMAND_WIDTH);
        fputc('\n', out);
    }
    if (opt->stable)
        return;
    if (rss_i < t->n && t->procs[rss_i].run->peak_rss_bytes) {
        const struct mp_report_run *run = t->procs[rss_i].run;
        mp_format_size(a, sizeof a, (int64_t)run->peak_rss_bytes, opt->precision);
        fprintf(out, "  highest peak RSS   %s in #%d ", a, run->tree_id);
        write_command(out, run->command, COMMAND_WIDTH);
        fputc('\n', out);
    }
    if (t->total_rss_known) {
        mp_format_size(a, sizeof a, (int64_t)t->total_rss_bytes, opt->precision);
        fprintf(out, "  total RSS peak     %s at %.2f s, summed over %s alive then (sampled)\n", a,
                t->total_rss_seconds, MP_COUNT_NOUN(b, t->total_rss_processes, "process", "processes"));
    }
}

static void write_tree_notes(FILE *out, const struct mp_process_tree *t)
{
    if (!t->n_warnings && !t->events_lost)
        return;
    fprintf(out, "\nNotes on the tree\n");
    char n[64];
    if (t->events_lost)
        fprintf(out, "  %s of processes memprof could not tell %s lost (their writer died while recording)\n",
                MP_COUNT_NOUN(n, t->events_lost, "allocator event", "allocator events"),
                mp_plural(t->events_lost, "was", "were"));
    for (size_t i = 0; i < t->n_warnings; i++)
        fprintf(out, "  %s\n", t->warnings[i]);
}

void mp_text_process_tree_summary(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt)
{
    write_table(out, t, opt);
    write_totals(out, t, opt);
    write_tree_notes(out, t);
}

int mp_write_process_tree_text(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt)
{
    if (!t->n)
        return -1;
    const struct mp_report_run *first = t->procs[0].run, *last = t->procs[t->top_last].run;
    fprintf(out, "memprof: ");
    write_command(out, first->command, 0);
    fprintf(out, "  (");
    if (last->let_go || last->detached)
        fprintf(out, "left running");
    else if (last->signal)
        fprintf(out, "killed by signal %d, %s", last->signal, strsignal(last->signal));
    else
        fprintf(out, "exit status %d", last->exit_code);
    fprintf(out, ")\n");
    mp_text_process_tree_summary(out, t, opt);
    size_t *order = malloc((t->n ? t->n : 1) * sizeof *order);
    if (!order)
        return -1;
    size_t n_shown = mp_process_sections(t, opt->top_processes, order);
    int rc = 0;
    for (size_t k = 0; k < n_shown && rc == 0; k++)
        rc = mp_write_text(out, t->procs[order[k]].profile, t->procs[order[k]].run, src, opt);
    size_t followed = 0;
    for (size_t i = 0; i < t->n; i++)
        followed += !t->procs[i].run->unfollowed;
    size_t hidden = followed - n_shown;
    if (hidden) {
        char n[64], shown[32];
        fprintf(out, "\n(%s without a section: the %s shown held the highest peak heap; "
                     "--top-processes=0 shows all)\n", MP_COUNT_NOUN(n, hidden, "more image", "more images"),
                MP_COUNT_STR(shown, n_shown));
    }
    free(order);
    fflush(out);
    return rc || ferror(out) ? -1 : 0;
}
