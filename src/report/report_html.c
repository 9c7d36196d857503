/* memprof: the HTML report (--format=html): one file to attach to a bug or
 * keep as a CI artifact.  No network: the style sheet, both pictures (the
 * timeline and the flame graph, inline SVG) and the flame graph's script
 * are in the page.  In order: the summary and the notes, memory over time,
 * the flame graph (--weight), the top lines, the lines holding the peak,
 * the leaks (by memcheck's kinds, as --limit-leaks counts them), and one
 * memory_profiler table per function with its source
 * (--tables of them; the text report's columns). */
#define _GNU_SOURCE
#include "memprof/report.h"
#include "format.h"
#include "pictures.h"
#include "report_html.h"
#include "report_text_views.h"
#include "report_stacks.h"
#include "report_summary.h"
#include "svg.h"
#include "profile/leak_view.h"
#include "profile/tables.h"
#include "symbols/sources.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#ifndef MEMPROF_VERSION
#define MEMPROF_VERSION "dev"
#endif

static const char style[] =
    "body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 24px auto; max-width: 1240px; "
    "color: #222; padding: 0 12px; }\n"
    "h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid "
    "#ddd; padding-bottom: 4px; } h3 { font-size: 15px; margin: 20px 0 6px; }\n"
    "code, pre, td.src { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 13px; }\n"
    "table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: right; vertical-align: top; }\n"
    "th { background: #f0f0f0; } td.l, th.l { text-align: left; }\n"
    "table.summary td:first-child { text-align: left; color: #555; }\n"
    "table.src td.src { text-align: left; white-space: pre; tab-size: 4; } table.src tr.hot { background: #fff1e6; }\n"
    "td, th { white-space: nowrap; } div.scroll { overflow-x: auto; max-width: 100%; }\n"
    "table.src tr:hover, table.lines tr:hover { background: #f4f8ff; }\n"
    "pre.view { font-size: 13px; margin: 4px 0 12px; } details { margin: 12px 0; } details > summary { cursor: "
    "pointer; color: #555; }\n"
    "section.process { border-top: 3px solid #9aa9bf; margin-top: 40px; } h2.process { background: #eef3fb; "
    "padding: 6px 8px; border: none; } ul.procs { font-family: 'DejaVu Sans Mono', Menlo, monospace; "
    "font-size: 13px; }\n"
    ".note { color: #7a4b00; } .muted { color: #777; } svg { max-width: 100%; height: auto; }\n";

static void html(FILE *out, const char *s)
{
    mp_xml_text(out, s, 0);
}

static void size_cell(FILE *out, int64_t bytes, const struct mp_report_options *opt)
{
    char buf[64];
    mp_format_size(buf, sizeof buf, bytes, opt->precision);
    fprintf(out, "<td>%s</td>", buf);
}

static void count_cell(FILE *out, uint64_t n)
{
    char buf[64];
    mp_format_count(buf, sizeof buf, n);
    fprintf(out, "<td>%s</td>", buf);
}

/* "file:line (function)", or "function (module)". */
static void line_name(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt)
{
    char buf[64];
    html(out, l->file ? mp_display_path(l->file, opt->cwd) : mp_display_function(l->function, opt->stable));
    if (l->file) {
        snprintf(buf, sizeof buf, ":%d", l->line);
        fputs(buf, out);
    }
    fputs(" (", out);
    html(out, l->file ? mp_display_function(l->function, opt->stable) : mp_display_path(l->module, opt->cwd));
    fputc(')', out);
}

static void summary_row(void *out, const char *label, const char *value, const char *hint)
{
    fprintf(out, "<tr><td>");
    html(out, label);
    fprintf(out, "</td><td class=\"l\">");
    html(out, value);
    if (hint) {
        fprintf(out, " <span class=\"muted\">(");
        html(out, hint);
        fprintf(out, ")</span>");
    }
    fprintf(out, "</td></tr>\n");
}

/* The text summary's rows (report_summary.h), as a table. */
static void summary(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                    const struct mp_report_options *opt, const char *sfx)
{
    fprintf(out, "<h2 id=\"summary%s\">Summary</h2>\n<table class=\"summary\">\n", sfx);
    mp_summary_rows(p, run, opt, summary_row, out);
    fprintf(out, "</table>\n");
}

/* The text report's notes, one item each. */
static int notes(FILE *out, const struct mp_profile *p, const struct mp_report_run *run, const struct mp_sources *src,
                 const struct mp_report_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return -1;
    mp_text_notes(mem, p, run, src, opt);
    if (fclose(mem) != 0) {
        free(buf);
        return -1;
    }
    int items = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "  ", 2) != 0)
            continue; /* the "Notes" title */
        fprintf(out, "%s<li>", items++ ? "" : "<ul class=\"note\">\n");
        html(out, line + 2);
        fprintf(out, "</li>\n");
    }
    if (items)
        fprintf(out, "</ul>\n");
    free(buf);
    return 0;
}

static void top_lines(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                      const struct mp_report_options *opt, const char *sfx)
{
    size_t n;
    size_t *idx = mp_lines_by_bytes(p, &n);
    int mapped = mp_profile_totals(p)->map_calls > 0; /* then a column of its own, as in the text */
    if (idx && n) {
        size_t shown = opt->top_lines && opt->top_lines < n ? opt->top_lines : n;
        fprintf(out, "<h2 id=\"top%s\">Top lines by bytes allocated%s</h2>\n<table class=\"lines\">\n<tr><th>allocated"
                     "</th><th>calls</th>%s<th>%s</th><th class=\"l\">line</th></tr>\n", sfx, mapped ? " or mapped" : "",
                mapped ? "<th>mapped</th>" : "", run->detached ? "live at detach" : "live at exit");
        for (size_t i = 0; i < shown; i++) {
            const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
            fprintf(out, "<tr>");
            size_cell(out, (int64_t)l->allocated_bytes, opt);
            count_cell(out, l->alloc_calls);
            if (mapped)
                size_cell(out, (int64_t)l->mapped_bytes, opt);
            size_cell(out, (int64_t)l->live_bytes, opt);
            fprintf(out, "<td class=\"l\">");
            line_name(out, l, opt);
            fprintf(out, "</td></tr>\n");
        }
        fprintf(out, "</table>\n");
        char more[64];
        if (shown < n)
            fprintf(out, "<p class=\"muted\">%s (--top=0 shows all)</p>\n",
                    MP_COUNT_NOUN(more, n - shown, "more line", "more lines"));
    }
    free(idx);
}

/* The leaks as the text report and --limit-leaks see them: memcheck's four
 * kinds (when the scan ran), then the lines holding the kinds --leak-kinds
 * selects, suppressed stacks left out. */
static void leaks(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_report_options *opt, const char *sfx)
{
    const struct mp_totals *t = mp_profile_totals(p);
    unsigned mask = !t->leaks_classified ? MP_LEAK_MASK_ALL
                    : opt->leak_kinds    ? opt->leak_kinds
                                         : MP_LEAK_MASK_DEFAULT;
    fprintf(out, "<h2 id=\"leaks%s\">%s</h2>\n", sfx, run->detached ? "Live at detach" : "Leaks");
    if (t->live_blocks == 0) {
        fprintf(out, "<p>%s</p>\n", run->detached ? "None." : "None: every block was freed.");
        return;
    }
    if (t->leaks_classified) {
        fprintf(out, "<p class=\"muted\">Blocks %s, by memcheck's kinds (memprof(1), LEAK KINDS).</p>\n"
                     "<table class=\"lines\">\n<tr><th>bytes</th><th>blocks</th><th>suppressed</th>"
                     "<th class=\"l\">kind</th></tr>\n", run->detached ? "live at detach" : "never freed");
        for (int k = 0; k < MP_LEAK_KINDS; k++) {
            struct mp_leak_sum sup = mp_leaks_suppressed_kind(p, k);
            fprintf(out, "<tr>");
            size_cell(out, (int64_t)t->leak_bytes[k], opt);
            count_cell(out, t->leak_blocks[k]);
            size_cell(out, (int64_t)sup.bytes, opt);
            fprintf(out, "<td class=\"l\">%s%s</td></tr>\n", mp_leak_kind_title(k),
                    mask & MP_LEAK_BIT(k) ? " (listed below)" : "");
        }
        fprintf(out, "</table>\n");
    }
    struct mp_leak_sum total = mp_leaks_total(p, mask);
    size_t n;
    struct mp_leak_line *lines = mp_leak_lines(p, mask, &n);
    if (!lines || n == 0) {
        fprintf(out, "<p>%s</p>\n", t->leaks_classified ? "No line holds blocks of the kinds listed." : "None.");
        free(lines);
        return;
    }
    size_t shown = opt->top_lines && opt->top_lines < n ? opt->top_lines : n;
    fprintf(out, "<table class=\"lines\">\n<tr><th>bytes</th><th>blocks</th><th>share</th><th class=\"l\">line"
                 "</th></tr>\n");
    for (size_t i = 0; i < shown; i++) {
        fprintf(out, "<tr>");
        size_cell(out, (int64_t)lines[i].bytes, opt);
        count_cell(out, lines[i].blocks);
        fprintf(out, "<td>%.1f%%</td><td class=\"l\">",
                total.bytes ? 100.0 * (double)lines[i].bytes / (double)total.bytes : 0.0);
        line_name(out, mp_profile_line(p, lines[i].line), opt);
        fprintf(out, "</td></tr>\n");
    }
    fprintf(out, "</table>\n");
    free(lines);
}

static void table(FILE *out, const struct mp_table *t, const struct mp_sources *src,
                  const struct mp_report_options *opt)
{
    fprintf(out, "<h3>");
    html(out, mp_display_function(t->function, opt->stable));
    fprintf(out, " <span class=\"muted\">");
    html(out, mp_display_path(t->file, opt->cwd));
    fprintf(out, "</span></h3>\n<div class=\"scroll\"><table class=\"src\">\n<tr><th>Line #</th><th>Allocated</th>"
                 "<th>Freed here</th><th>Net</th><th>Max held</th><th>Held at end</th><th>Alloc calls</th>"
                 "<th class=\"l\">Line Contents</th></tr>\n");
    for (size_t r = 0; r < t->n_rows; r++) {
        const struct mp_table_row *row = &t->rows[r];
        const char *text = mp_sources_line(src, t->file, row->line);
        fprintf(out, "<tr%s><td>%d</td>", row->has_data ? " class=\"hot\"" : "", row->line);
        if (row->has_data) {
            size_cell(out, (int64_t)row->allocated_bytes, opt);
            size_cell(out, (int64_t)row->site_freed_bytes, opt);
            size_cell(out, row->net_bytes, opt);
            size_cell(out, (int64_t)row->mem_usage_bytes, opt);
            size_cell(out, row->increment_bytes, opt);
            count_cell(out, row->occurrences);
        } else {
            fprintf(out, "<td></td><td></td><td></td><td></td><td></td><td></td>");
        }
        fprintf(out, "<td class=\"src\">");
        html(out, text ? text : "");
        fprintf(out, "</td></tr>\n");
    }
    fprintf(out, "</table></div>\n");
}

static int tables(FILE *out, const struct mp_profile *p, const struct mp_sources *src,
                  const struct mp_report_options *opt, const char *sfx)
{
    struct mp_tables tables;
    if (mp_tables_build(p, &tables) != 0)
        return -1;
    if (tables.n) {
        fprintf(out, "<h2 id=\"tables%s\">Line by line</h2>\n<p class=\"muted\">One table per function that allocated "
                     "or freed, as in the text report (see memprof(1), Tables): what each line allocated (with what "
                     "it called), freed, the net, the most it held at once, what it still held at the end, and its "
                     "allocator calls.</p>\n", sfx);
    }
    size_t shown = opt->max_tables && opt->max_tables < tables.n ? opt->max_tables : tables.n;
    char more[64];
    for (size_t i = 0; i < shown; i++)
        table(out, &tables.tables[i], src, opt);
    if (shown < tables.n)
        fprintf(out, "<p class=\"muted\">%s allocated (--tables=0 shows all)</p>\n",
                MP_COUNT_NOUN(more, tables.n - shown, "more function", "more functions"));
    mp_tables_free(&tables);
    return 0;
}

void mp_html_page_start(FILE *out, const struct mp_report_run *run)
{
    char cmd[1024];
    mp_run_command(cmd, sizeof cmd, run);
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>memprof: ");
    html(out, cmd);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>memprof report</h1>\n", style);
}

int mp_html_page_end(FILE *out)
{
    fprintf(out, "<p class=\"muted\">Written by memprof %s. This page loads nothing from the network.</p>\n"
                 "</body>\n</html>\n", MEMPROF_VERSION);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* The views in the text report's order (report_text.c), each where --show
 * puts it; the pictures after the summary. */
int mp_html_process_body(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_sources *src, const struct mp_report_options *options, const char *sfx)
{
    struct mp_report_options o = mp_text_options(options); /* as the text report applies them */
    const struct mp_report_options *opt = &o;
    unsigned show = o.show;
    char cmd[1024], outcome[96], id[64];
    mp_run_command(cmd, sizeof cmd, run);
    mp_run_outcome(outcome, sizeof outcome, run);
    fprintf(out, "<p><code>");
    html(out, cmd);
    fprintf(out, "</code> &#8212; %s", outcome);
    if (run->engine) {
        fprintf(out, ", heap engine: ");
        html(out, run->engine);
    }
    fprintf(out, "</p>\n");
    if (show & MP_VIEW_SUMMARY)
        summary(out, p, run, opt, sfx);
    int rc = notes(out, p, run, src, opt);
    fprintf(out, "<h2 id=\"timeline%s\">Memory over time</h2>\n", sfx);
    if (opt->stable)
        fprintf(out, "<p class=\"muted\">No timeline: --stable reports leave times out.</p>\n");
    else
        rc |= mp_write_timeline_element(out, p, run, opt);
    int heap = !run->engine_note;
    if (heap) {
        snprintf(id, sizeof id, "memprof-flamegraph%s", sfx);
        fprintf(out, "<h2 id=\"flamegraph%s\">Flame graph: %s</h2>\n<p class=\"muted\">Hover a frame for its numbers, "
                     "click to zoom into it, Search to highlight frames.</p>\n",
                sfx, mp_weight_title(opt->weight));
        rc |= mp_write_flamegraph_element(out, p, run, opt, id);
        if (show & MP_VIEW_TOP)
            top_lines(out, p, run, opt, sfx);
        static const struct { unsigned view; const char *name; } views[] = {
            { MP_VIEW_CALLS, "calls" }, { MP_VIEW_PEAK, "peak" }, { MP_VIEW_LEAKS, "leaks" },
            { MP_VIEW_TEMPORARY, "temporary" }, { MP_VIEW_LARGEST, "largest" }, { MP_VIEW_SIZES, "sizes" },
            { MP_VIEW_THREADS, "threads" }, { MP_VIEW_RATE, "rate" }, { MP_VIEW_TREE, "tree" },
            { MP_VIEW_CALLERS, "callers" }, { MP_VIEW_RSS, "rss" },
        };
        for (size_t i = 0; i < sizeof views / sizeof *views; i++) {
            if (!(show & views[i].view))
                continue;
            if (views[i].view == MP_VIEW_LEAKS) {
                /* the kinds and lines as a table; the stacks as the text has them */
                leaks(out, p, run, opt, sfx);
                if (mp_profile_totals(p)->live_blocks || mp_profile_totals(p)->map_calls) {
                    fprintf(out, "<details><summary>Their stacks, as in the text report</summary>\n");
                    rc |= mp_html_text_view(out, MP_VIEW_LEAKS, NULL, p, run, opt);
                    fprintf(out, "</details>\n");
                }
                continue;
            }
            snprintf(id, sizeof id, "%s%s", views[i].name, sfx);
            rc |= mp_html_text_view(out, views[i].view, id, p, run, opt);
        }
    }
    if (run->line_profile) {
        struct mp_line_report_options lopt = { opt->cwd, opt->precision, (enum mp_lm_metric)opt->line_metric };
        snprintf(id, sizeof id, "linemode%s", sfx);
        rc |= mp_html_line_tables(out, run->line_profile, src, &lopt, id);
    }
    if (heap && (show & MP_VIEW_TABLES))
        rc |= tables(out, p, src, opt, sfx);
    return rc || ferror(out) ? -1 : 0;
}

int mp_write_html(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt)
{
    mp_html_page_start(out, run);
    int rc = mp_html_process_body(out, p, run, src, opt, "");
    return mp_html_page_end(out) || rc ? -1 : 0;
}
