/* memprof: the text report: the summary, the top lines, the per-function
 * tables and the notes, and the other views (report_text_views.h) in
 * between, as --show chooses. */
#define _GNU_SOURCE
#include "memprof/report.h"
#include "format.h"
#include "report_lines.h"
#include "report_text_mapped.h"
#include "report_text_views.h"
#include "report_processes.h"
#include "report_summary.h"
#include "symbols/sources.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void write_command(FILE *out, char *const *command)
{
    for (size_t i = 0; command && command[i]; i++)
        fprintf(out, "%s%s", i ? " " : "", command[i]);
}

static void write_header(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    if (run->tree_id) { /* a section of a tree report */
        mp_text_process_section_header(out, run, opt);
        return;
    }
    fprintf(out, "memprof: ");
    write_command(out, run->command);
    if (run->detached && (opt->stable || run->attached_pid <= 0))
        fprintf(out, "  (attached, then detached; it runs on)\n");
    else if (run->detached)
        fprintf(out, "  (pid %d: attached, then detached; it runs on)\n", run->attached_pid);
    else if (run->signal)
        fprintf(out, "  (killed by signal %d, %s)\n", run->signal, strsignal(run->signal));
    else
        fprintf(out, "  (exit status %d)\n", run->exit_code);
}

/* "  allocations        6 calls, 1.5 MiB": the label in 19 columns */
static void summary_row(void *out, const char *label, const char *value, const char *hint)
{
    (void)hint;
    fprintf(out, "  %-18s %s\n", label, value);
}

static void write_summary(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                          const struct mp_report_options *opt)
{
    fprintf(out, "\nSummary\n");
    mp_summary_rows(p, run, opt, summary_row, out);
}

static void write_top_lines(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                            const struct mp_report_options *opt)
{
    size_t n;
    size_t *idx = mp_lines_by_bytes(p, &n);
    if (!idx || n == 0) {
        free(idx);
        return;
    }
    size_t shown = opt->top_lines && opt->top_lines < n ? opt->top_lines : n;
    int mapped = mp_profile_totals(p)->map_calls > 0; /* then a column of its own */
    fprintf(out, mapped ? "\nTop lines by bytes allocated or mapped\n" : "\nTop lines by bytes allocated\n");
    /* memprof -p: the process runs on, so what is live is live at detach */
    int w = run->detached ? 14 : 12;
    fprintf(out, "%12s %12s ", "allocated", "calls");
    if (mapped)
        fprintf(out, "%12s ", "mapped");
    fprintf(out, "%*s   line\n", w, run->detached ? "live at detach" : "live at exit");
    for (size_t i = 0; i < shown; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        char a[64], b[64], c[64];
        mp_format_size(a, sizeof a, (int64_t)l->allocated_bytes, opt->precision);
        mp_format_count(b, sizeof b, l->alloc_calls);
        mp_format_size(c, sizeof c, (int64_t)l->live_bytes, opt->precision);
        fprintf(out, "%12s %12s ", a, b);
        if (mapped) {
            mp_format_size(a, sizeof a, (int64_t)l->mapped_bytes, opt->precision);
            fprintf(out, "%12s ", a);
        }
        fprintf(out, "%*s   ", w, c);
        mp_text_line_name(out, l, opt);
        fputc('\n', out);
    }
    if (shown < n)
        mp_text_more_lines(out, n - shown);
    free(idx);
}

/* The heap tables say what they hold (memory_profiler's headers belong to
 * line mode, where they mean what memory_profiler means); with mapped
 * memory in the profile, a "Max mapped" column (the most the line held
 * mapped at once) after Alloc calls. */
#define TABLE_COLUMNS "Line #    Allocated   Freed here          Net     Max held  Held at end  Alloc calls"
#define TABLE_MAPPED_COLUMN "   Max mapped"

static void write_table(FILE *out, const struct mp_table *t, const struct mp_sources *src,
                        const struct mp_report_options *opt, int mapped)
{
    fprintf(out, "\nFilename: %s\n\n", mp_display_path(t->file, opt->cwd));
    fprintf(out, "%s%s   Line Contents\n", TABLE_COLUMNS, mapped ? TABLE_MAPPED_COLUMN : "");
    size_t width = strlen(TABLE_COLUMNS) + (mapped ? strlen(TABLE_MAPPED_COLUMN) : 0) + strlen("   Line Contents");
    for (size_t i = 0; i < width; i++)
        fputc('=', out);
    fputc('\n', out);
    for (size_t r = 0; r < t->n_rows; r++) {
        const struct mp_table_row *row = &t->rows[r];
        const char *text = mp_sources_line(src, t->file, row->line);
        if (!text)
            text = "";
        char map[64] = "";
        if (mapped && row->has_data)
            mp_format_size(map, sizeof map, (int64_t)row->mapped_usage_bytes, opt->precision);
        if (!row->has_data) {
            fprintf(out, "%6d %12s %12s %12s %12s %12s %12s%s%s   %s\n", row->line, "", "", "", "", "", "",
                    mapped ? " " : "", mapped ? "            " : "", text);
            continue;
        }
        char alloc[64], freed[64], net[64], held[64], end[64], calls[64];
        mp_format_size(alloc, sizeof alloc, (int64_t)row->allocated_bytes, opt->precision);
        mp_format_size(freed, sizeof freed, (int64_t)row->site_freed_bytes, opt->precision);
        mp_format_size(net, sizeof net, row->net_bytes, opt->precision);
        mp_format_size(held, sizeof held, (int64_t)row->mem_usage_bytes, opt->precision);
        mp_format_size(end, sizeof end, row->increment_bytes, opt->precision);
        mp_format_count(calls, sizeof calls, row->occurrences);
        if (mapped)
            fprintf(out, "%6d %12s %12s %12s %12s %12s %12s %12s   %s\n", row->line, alloc, freed, net, held, end, calls,
                    map, text);
        else
            fprintf(out, "%6d %12s %12s %12s %12s %12s %12s   %s\n", row->line, alloc, freed, net, held, end, calls,
                    text);
    }
}

void mp_text_notes(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_sources *src, const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    int header = 0;
/* "1 free of a block", "2 frees of blocks" */
#define FREES_OF_BLOCKS(buf, k) MP_COUNT_NOUN(buf, k, "free of a block", "frees of blocks")
#define NOTE(...) do { if (!header++) fprintf(out, "\nNotes\n"); fprintf(out, "  " __VA_ARGS__); } while (0)
    char n[96];
    if (run->events_lost)
        NOTE("%s lost (their thread died while recording%s)\n",
             MP_COUNT_NOUN(n, run->events_lost, "allocator event was", "allocator events were"),
             run->engine && strcmp(run->engine, "breakpoint") == 0 ? ", or the call was still running at detach" : "");
    if (t->unknown_frees && run->attached_pid)
        NOTE("%s allocated before memprof attached %s not counted\n", FREES_OF_BLOCKS(n, t->unknown_frees),
             mp_plural(t->unknown_frees, "was", "were"));
    else if (t->unknown_frees && run->forked)
        NOTE("%s it inherited from its parent (fork) %s not counted\n", FREES_OF_BLOCKS(n, t->unknown_frees),
             mp_plural(t->unknown_frees, "was", "were"));
    else if (t->unknown_frees && run->engine && strcmp(run->engine, "breakpoint") == 0)
        NOTE("%s memprof never saw allocated %s not counted (glibc frees its per-thread cache at thread exit; "
             "breakpoints see those calls)\n", FREES_OF_BLOCKS(n, t->unknown_frees),
             mp_plural(t->unknown_frees, "was", "were"));
    else if (t->unknown_frees)
        NOTE("%s allocated before profiling started %s not counted\n", FREES_OF_BLOCKS(n, t->unknown_frees),
             mp_plural(t->unknown_frees, "was", "were"));
    if (t->reused_live_blocks)
        NOTE("%s an address memprof still saw live (a free it never saw)\n",
             MP_COUNT_NOUN(n, t->reused_live_blocks, "allocation reused", "allocations reused"));
    if (t->unsited_free_calls && (opt->show & MP_VIEW_TABLES))
        NOTE("%s called from code with no line of the program (operator delete, library code) or came "
             "without a call site: the tables' Freed column leaves %s out\n",
             MP_COUNT_NOUN(n, t->unsited_free_calls, "free was", "frees were"),
             mp_plural(t->unsited_free_calls, "it", "them"));
    if (t->truncated_stacks)
        NOTE("%s deeper than %d frames: outer callers are not charged\n",
             MP_COUNT_NOUN(n, t->truncated_stacks, "allocation had a stack", "allocations had stacks"), MP_MAX_FRAMES);
    mp_text_folded_note(out, p, &header, opt);
    for (size_t i = 0; i < run->n_warnings; i++)
        NOTE("%s\n", run->warnings[i]);
    const char *const *missing;
    /* only the tables show source text */
    size_t n_missing = src && ((opt->show & MP_VIEW_TABLES) || run->line_profile) ? mp_sources_missing(src, &missing)
                                                                                   : 0;
    for (size_t i = 0; i < n_missing; i++)
        NOTE("source file %s not found: its Line Contents column is empty\n",
             mp_display_path(missing[i], opt->cwd));
#undef NOTE
}

static void write_tables(FILE *out, const struct mp_profile *p, const struct mp_sources *src,
                         const struct mp_report_options *opt)
{
    struct mp_tables tables;
    if (mp_tables_build(p, &tables) != 0)
        return;
    size_t shown = opt->max_tables && opt->max_tables < tables.n ? opt->max_tables : tables.n;
    char more[64];
    for (size_t i = 0; i < shown; i++)
        write_table(out, &tables.tables[i], src, opt, mp_profile_totals(p)->map_calls > 0);
    if (shown < tables.n)
        fprintf(out, "\n(%s allocated or freed; --tables=0 shows all)\n",
                MP_COUNT_NOUN(more, tables.n - shown, "more function", "more functions"));
    mp_tables_free(&tables);
}

struct mp_report_options mp_text_options(const struct mp_report_options *options)
{
    struct mp_report_options o = *options;
    if (o.stable)
        o.precision = MP_PRECISION_EXACT; /* a diff of two reports must see every byte */
    if (!o.show)
        o.show = MP_VIEWS_DEFAULT;
    if (o.n_callers)
        o.show |= MP_VIEW_CALLERS;
    return o;
}

int mp_write_text(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *options)
{
    struct mp_report_options o = mp_text_options(options);
    const struct mp_report_options *opt = &o;
    unsigned show = o.show;
    int heap = !run->engine_note;
    write_header(out, run, opt);
    if (show & MP_VIEW_SUMMARY)
        write_summary(out, p, run, opt);
    if (heap) {
        if (show & MP_VIEW_TOP)
            write_top_lines(out, p, run, opt);
        if (show & MP_VIEW_CALLS)
            mp_text_calls(out, p, opt);
        if (show & MP_VIEW_PEAK) {
            mp_text_peak(out, p, opt);
            mp_text_mapped_peak(out, p, opt);
        }
        if (show & MP_VIEW_LEAKS) {
            mp_text_leaks(out, p, run, opt);
            mp_text_mapped_live(out, p, run, opt);
        }
        if (show & MP_VIEW_TEMPORARY)
            mp_text_temporaries(out, p, opt);
        if (show & MP_VIEW_LARGEST)
            mp_text_largest(out, p, run, opt);
        if (show & MP_VIEW_SIZES)
            mp_text_sizes(out, p, opt);
        if (show & MP_VIEW_THREADS)
            mp_text_threads(out, p, run, opt);
        if (show & MP_VIEW_RATE)
            mp_text_rate(out, p, opt);
        if (show & MP_VIEW_TREE)
            mp_text_tree(out, p, opt);
        if (show & MP_VIEW_CALLERS)
            mp_text_callers(out, p, opt);
        if (show & MP_VIEW_RSS)
            mp_text_rss(out, p, run, opt);
    }
    if (run->line_profile) {
        struct mp_line_report_options lopt = { opt->cwd, opt->precision, (enum mp_lm_metric)opt->line_metric };
        mp_write_line_tables_text(out, run->line_profile, src, &lopt);
    }
    if (heap && (show & MP_VIEW_TABLES))
        write_tables(out, p, src, opt);
    mp_text_notes(out, p, run, src, opt);
    fflush(out);
    return ferror(out) ? -1 : 0;
}
