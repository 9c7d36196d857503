/* memprof: the HTML report's views that it shares with the text report
 * (--show: calls, temporary, largest, sizes, threads, rate, tree, callers,
 * rss, the peak's stack, the leaks' stacks, mapped memory) and line mode's
 * memory_profiler tables (--function).  The views are the text report's
 * own sections, written into memory by the same functions and set in the
 * page as preformatted text (so both reports always say the same thing):
 * each section's first line becomes its heading.  Line mode's tables are
 * HTML tables with memory_profiler's columns. */
#define _GNU_SOURCE
#include "format.h"
#include "report_html.h"
#include "report_lines.h"
#include "report_text_mapped.h"
#include "report_text_views.h"
#include "svg.h"
#include "symbols/sources.h"

#include <stdlib.h>
#include <string.h>

static void html(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        default: fputc(s[i], out);
        }
    }
}

static void text_view(FILE *f, unsigned view, const struct mp_profile *p, const struct mp_report_run *run,
                      const struct mp_report_options *opt)
{
    switch (view) {
    case MP_VIEW_CALLS: mp_text_calls(f, p, opt); break;
    case MP_VIEW_PEAK: mp_text_peak(f, p, opt); mp_text_mapped_peak(f, p, opt); break;
    case MP_VIEW_LEAKS: mp_text_leaks(f, p, run, opt); mp_text_mapped_live(f, p, run, opt); break;
    case MP_VIEW_TEMPORARY: mp_text_temporaries(f, p, opt); break;
    case MP_VIEW_LARGEST: mp_text_largest(f, p, run, opt); break;
    case MP_VIEW_SIZES: mp_text_sizes(f, p, opt); break;
    case MP_VIEW_THREADS: mp_text_threads(f, p, run, opt); break;
    case MP_VIEW_RATE: mp_text_rate(f, p, opt); break;
    case MP_VIEW_TREE: mp_text_tree(f, p, opt); break;
    case MP_VIEW_CALLERS: mp_text_callers(f, p, opt); break;
    case MP_VIEW_RSS: mp_text_rss(f, p, run, opt); break;
    default: break;
    }
}

/* One chunk of a text section: "Title\nrows...".  The title is a heading
 * (<h2 id=...> for a section's first chunk, <h3> otherwise); the rows are
 * preformatted.  A chunk that starts indented is all rows. */
static void chunk(FILE *out, const char *s, size_t len, const char *id)
{
    const char *nl = memchr(s, '\n', len);
    size_t title = nl ? (size_t)(nl - s) : len;
    if (s[0] == ' ') { /* rows without a title (the tree's totals) */
        fputs("<div class=\"scroll\"><pre class=\"view\">", out);
        html(out, s, len);
        fputs("</pre></div>\n", out);
        return;
    }
    if (id)
        fprintf(out, "<h2 id=\"%s\">", id);
    else
        fputs("<h3>", out);
    html(out, s, title);
    fputs(id ? "</h2>\n" : "</h3>\n", out);
    if (nl && title + 1 < len) {
        fputs("<div class=\"scroll\"><pre class=\"view\">", out);
        html(out, nl + 1, len - title - 1);
        fputs("</pre></div>\n", out);
    }
}

void mp_html_text_sections(FILE *out, const char *text, size_t len, const char *id)
{
    /* the text's sections begin after a blank line */
    const char *s = text, *end = text + len;
    for (int n = 0; s < end; n++) {
        while (s < end && *s == '\n')
            s++;
        if (s >= end)
            break;
        const char *blank = memmem(s, (size_t)(end - s), "\n\n", 2);
        size_t clen = blank ? (size_t)(blank + 1 - s) : (size_t)(end - s);
        chunk(out, s, clen, n == 0 ? id : NULL);
        s += clen;
    }
}

int mp_html_text_view(FILE *out, unsigned view, const char *id, const struct mp_profile *p,
                      const struct mp_report_run *run, const struct mp_report_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return -1;
    text_view(mem, view, p, run, opt);
    if (fclose(mem) != 0) {
        free(buf);
        return -1;
    }
    mp_html_text_sections(out, buf, len, id);
    free(buf);
    return ferror(out) ? -1 : 0;
}

int mp_html_line_tables(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                        const struct mp_line_report_options *options, const char *id)
{
    struct mp_line_report_options o = mp_line_report_options_for(lp, options);
    const struct mp_line_report_options *opt = &o;
    const struct mp_lm_map *map = mp_line_profile_map(lp);
    if (!map->n_funcs)
        return 0;
    fprintf(out, "<h2 id=\"%s\">Line mode (--function)</h2>\n<p class=\"muted\">memory_profiler's table: Mem usage "
                 "is the %s after the line, Increment what the line added, summed over its Occurrences.</p>\n",
            id, opt->metric == MP_LM_METRIC_HEAP ? "heap in use" : "RSS");
    for (size_t f = 0; f < map->n_funcs; f++) {
        const struct mp_lm_func *fn = &map->funcs[f];
        size_t n;
        const struct mp_lp_row *rows = mp_line_profile_rows(lp, f, &n);
        if (!n)
            continue; /* no line information (a glob matched it) */
        fputs("<h3>", out);
        mp_xml_text(out, fn->name, 0);
        fputs(" <span class=\"muted\">", out);
        mp_xml_text(out, mp_display_path(fn->file, opt->cwd), 0);
        fputs("</span></h3>\n<div class=\"scroll\"><table class=\"src linemode\">\n<tr><th>Line #</th><th>Mem usage"
              "</th><th>Increment</th><th>Occurrences</th><th class=\"l\">Line Contents</th></tr>\n", out);
        int ran = 0;
        for (size_t r = 0; r < n; r++) {
            const struct mp_lp_row *row = &rows[r];
            const char *text = mp_sources_line(src, fn->file, row->line);
            fprintf(out, "<tr%s><td>%d</td>", row->has_data ? " class=\"hot\"" : "", row->line);
            if (row->has_data) {
                char m[64], i[64], o[32];
                uint64_t mem;
                int64_t inc;
                mp_line_row_values(row, opt->metric, &mem, &inc);
                mp_line_format_mib(m, sizeof m, (int64_t)mem, opt->precision);
                mp_line_format_mib(i, sizeof i, inc, opt->precision);
                mp_format_count(o, sizeof o, row->occurrences);
                fprintf(out, "<td>%s</td><td>%s</td><td>%s</td>", m, i, o);
                ran = 1;
            } else {
                fputs("<td></td><td></td><td></td>", out);
            }
            fputs("<td class=\"src\">", out);
            mp_xml_text(out, text ? text : "", 0);
            fputs("</td></tr>\n", out);
        }
        fputs("</table></div>\n", out);
        if (!ran) {
            fputs("<p class=\"muted\">", out);
            mp_xml_text(out, fn->name, 0);
            fputs(" never ran</p>\n", out);
        }
    }
    return ferror(out) ? -1 : 0;
}
