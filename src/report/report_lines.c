/* memprof: line mode tables, in memory_profiler's format:
 *
 *   Filename: prog.c
 *
 *   Line #    Mem usage    Increment  Occurrences   Line Contents
 *   =============================================================
 *       10     65.2 MiB      0.0 MiB           1   void touch(void)
 *
 * rows '{0:>6} {1:>12} {2:>12}  {3:>10}   {4:<}', sizes '{0:(p+4).(p)f} MiB'
 * (MiB always, as memory_profiler; exact bytes with --stable), blank cells
 * for lines that never ran. */
#include "format.h"
#include "report_lines.h"
#include "symbols/sources.h"

#include <inttypes.h>
#include <string.h>

void mp_line_format_mib(char *buf, size_t len, int64_t bytes, int precision)
{
    if (precision < 0) /* --stable: exact bytes, as in every section of a --stable report */
        mp_format_size(buf, len, bytes, precision);
    else
        snprintf(buf, len, "%*.*f MiB", precision + 4, precision, (double)bytes / (1024.0 * 1024.0));
}

void mp_line_row_values(const struct mp_lp_row *row, enum mp_lm_metric metric, uint64_t *mem, int64_t *inc)
{
    *mem = metric == MP_LM_METRIC_HEAP ? row->mem_heap : row->mem_rss;
    *inc = metric == MP_LM_METRIC_HEAP ? row->increment_heap : row->increment_rss;
}

struct mp_line_report_options mp_line_report_options_for(const struct mp_line_profile *lp,
                                                        const struct mp_line_report_options *opt)
{
    struct mp_line_report_options o = *opt;
    if (mp_line_profile_saved_metric(lp) >= 0) /* a saved report holds one metric */
        o.metric = (enum mp_lm_metric)mp_line_profile_saved_metric(lp);
    return o;
}

void mp_line_profile_load_sources(const struct mp_line_profile *lp, struct mp_sources *src)
{
    const struct mp_lm_map *map = mp_line_profile_map(lp);
    for (size_t f = 0; src && f < map->n_funcs; f++)
        if (map->funcs[f].file)
            mp_sources_load(src, map->funcs[f].file);
}

int mp_write_line_tables_text(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                              const struct mp_line_report_options *options)
{
    struct mp_line_report_options o = mp_line_report_options_for(lp, options);
    const struct mp_line_report_options *opt = &o;
    const struct mp_lm_map *map = mp_line_profile_map(lp);
    if (map->n_funcs)
        fprintf(out, "\nLine by line (--function): Mem usage is the %s after the line, Increment what the line "
                     "added, summed over its Occurrences\n",
                opt->metric == MP_LM_METRIC_HEAP ? "heap in use" : "RSS");
    for (size_t f = 0; f < map->n_funcs; f++) {
        const struct mp_lm_func *fn = &map->funcs[f];
        size_t n;
        const struct mp_lp_row *rows = mp_line_profile_rows(lp, f, &n);
        if (!n)
            continue; /* no line information (a glob matched it) */
        fprintf(out, "\nFilename: %s\n\n", mp_display_path(fn->file, opt->cwd));
        fprintf(out, "Line #    Mem usage    Increment  Occurrences   Line Contents\n");
        fprintf(out, "=============================================================\n");
        int ran = 0;
        for (size_t r = 0; r < n; r++) {
            const struct mp_lp_row *row = &rows[r];
            const char *text = mp_sources_line(src, fn->file, row->line);
            if (!text)
                text = "";
            if (!row->has_data) {
                fprintf(out, "%6d %12s %12s  %10s   %s\n", row->line, "", "", "", text);
                continue;
            }
            ran = 1;
            uint64_t mem;
            int64_t inc;
            mp_line_row_values(row, opt->metric, &mem, &inc);
            char m[64], i[64], o[32];
            mp_line_format_mib(m, sizeof m, (int64_t)mem, opt->precision);
            mp_line_format_mib(i, sizeof i, inc, opt->precision);
            mp_format_count(o, sizeof o, row->occurrences);
            fprintf(out, "%6d %12s %12s  %10s   %s\n", row->line, m, i, o, text);
        }
        if (!ran)
            fprintf(out, "(%s never ran)\n", fn->name);
    }
    return ferror(out) ? -1 : 0;
}

int mp_write_line_tables_json(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                              const struct mp_line_report_options *options)
{
    struct mp_line_report_options o = mp_line_report_options_for(lp, options);
    const struct mp_line_report_options *opt = &o;
    const struct mp_lm_map *map = mp_line_profile_map(lp);
    fprintf(out, "  \"line_tables\": [");
    size_t shown = 0;
    for (size_t f = 0; f < map->n_funcs; f++) {
        const struct mp_lm_func *fn = &map->funcs[f];
        size_t n;
        const struct mp_lp_row *rows = mp_line_profile_rows(lp, f, &n);
        if (!n)
            continue;
        fprintf(out, "%s\n    {\"file\": ", shown++ ? "," : "");
        mp_json_string(out, mp_display_path(fn->file, opt->cwd));
        fprintf(out, ", \"function\": ");
        mp_json_string(out, fn->name);
        fprintf(out, ", \"metric\": \"%s\", \"rows\": [", opt->metric == MP_LM_METRIC_HEAP ? "heap" : "rss");
        for (size_t r = 0; r < n; r++) {
            const struct mp_lp_row *row = &rows[r];
            uint64_t mem = 0;
            int64_t inc = 0;
            if (row->has_data)
                mp_line_row_values(row, opt->metric, &mem, &inc);
            fprintf(out, "%s\n      {\"line\": %d, \"mem_usage_bytes\": %" PRIu64 ", \"increment_bytes\": %" PRId64
                         ", \"occurrences\": %" PRIu64 ", \"text\": ",
                    r ? "," : "", row->line, mem, inc, row->occurrences);
            mp_json_string(out, mp_sources_line(src, fn->file, row->line));
            fputc('}', out);
        }
        fprintf(out, "]}");
    }
    fprintf(out, "%s]", shown ? "\n  " : "");
    return ferror(out) ? -1 : 0;
}
